#include "core/calendar.h"

#include <gtest/gtest.h>

#include <string>

namespace procman::core {
namespace {

constexpr int kMon = 0, kTue = 1, kWed = 2, kThu = 3, kFri = 4, kSat = 5, kSun = 6;

LocalDateTime at(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return LocalDateTime{y, mo, d, h, mi, s};
}

std::string datetime_error(std::string_view text) {
  std::string error;
  const auto t = parse_local_datetime(text, &error);
  EXPECT_FALSE(t.has_value()) << text << " parsed as " << format_local_datetime(*t);
  return error;
}

std::string time_error(std::string_view text) {
  std::string error;
  const auto t = parse_time_of_day(text, &error);
  EXPECT_FALSE(t.has_value()) << text << " parsed as " << t->seconds;
  return error;
}

std::string weekdays_error(std::string_view text) {
  std::string error;
  const auto d = parse_weekdays_item(text, &error);
  EXPECT_FALSE(d.has_value()) << text << " parsed as " << format_weekdays(*d);
  return error;
}

TimeOfDay hms(int h, int m, int s = 0) { return TimeOfDay{h * 3600 + m * 60 + s}; }

uint8_t days(std::initializer_list<int> list) {
  uint8_t mask = 0;
  for (int d : list) mask = static_cast<uint8_t>(mask | (1u << d));
  return mask;
}

// ---- local date-times ----

TEST(LocalDateTime, ParsesIsoFormWithT) {
  EXPECT_EQ(parse_local_datetime("2024-10-01T12:00:00", nullptr), at(2024, 10, 1, 12));
  EXPECT_EQ(parse_local_datetime("2024-10-01T23:59:58", nullptr), at(2024, 10, 1, 23, 59, 58));
  EXPECT_EQ(parse_local_datetime("2024-10-01t01:02:03", nullptr), at(2024, 10, 1, 1, 2, 3));
}

TEST(LocalDateTime, ParsesSpaceSeparatedForm) {
  EXPECT_EQ(parse_local_datetime("2024-10-01 12:00:00", nullptr), at(2024, 10, 1, 12));
}

TEST(LocalDateTime, ParsesFormWithoutSeconds) {
  EXPECT_EQ(parse_local_datetime("2024-10-01T12:34", nullptr), at(2024, 10, 1, 12, 34));
  EXPECT_EQ(parse_local_datetime("2024-10-01 12:34", nullptr), at(2024, 10, 1, 12, 34));
}

TEST(LocalDateTime, AcceptsLeapDayOnlyInLeapYears) {
  EXPECT_EQ(parse_local_datetime("2024-02-29T00:00:00", nullptr), at(2024, 2, 29));
  EXPECT_EQ(parse_local_datetime("2000-02-29T00:00:00", nullptr), at(2000, 2, 29));
  EXPECT_EQ(datetime_error("2023-02-29T00:00:00"),
            "invalid date-time '2023-02-29T00:00:00': day 29 is out of range for February 2023 "
            "(1-28)");
  EXPECT_EQ(datetime_error("1900-02-29T00:00:00"),
            "invalid date-time '1900-02-29T00:00:00': day 29 is out of range for February 1900 "
            "(1-28)");
}

TEST(LocalDateTime, RejectsOutOfRangeFields) {
  EXPECT_EQ(datetime_error("2024-13-01T00:00:00"),
            "invalid date-time '2024-13-01T00:00:00': month 13 is out of range 1-12");
  EXPECT_EQ(datetime_error("2024-00-01T00:00:00"),
            "invalid date-time '2024-00-01T00:00:00': month 0 is out of range 1-12");
  EXPECT_EQ(datetime_error("2024-04-31T00:00:00"),
            "invalid date-time '2024-04-31T00:00:00': day 31 is out of range for April 2024 "
            "(1-30)");
  EXPECT_EQ(datetime_error("2024-01-00T00:00:00"),
            "invalid date-time '2024-01-00T00:00:00': day 0 is out of range for January 2024 "
            "(1-31)");
  EXPECT_EQ(datetime_error("2024-01-01T24:00:00"),
            "invalid date-time '2024-01-01T24:00:00': hour 24 is out of range 0-23");
  EXPECT_EQ(datetime_error("2024-01-01T12:60:00"),
            "invalid date-time '2024-01-01T12:60:00': minute 60 is out of range 0-59");
  EXPECT_EQ(datetime_error("2024-01-01T12:00:60"),
            "invalid date-time '2024-01-01T12:00:60': second 60 is out of range 0-59");
  EXPECT_EQ(datetime_error("0000-01-01T00:00:00"),
            "invalid date-time '0000-01-01T00:00:00': year 0 is out of range 1-9999");
}

TEST(LocalDateTime, RejectsMalformedText) {
  const std::string form = ": expected YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD HH:MM";
  EXPECT_EQ(datetime_error(""), "empty date-time" + form);
  EXPECT_EQ(datetime_error("2024-10-01"), "date-time '2024-10-01' has no time of day" + form);
  for (const char* bad :
       {"24-10-01T12:00:00", "2024-1-01T12:00:00", "2024/10/01T12:00:00", "2024-10-01X12:00:00",
        "2024-10-01T1:00:00", "2024-10-01T12", "2024-10-01T12:00:0", "2024-10-01T12:00:00 ",
        "2024-10-01T12:00:00x", "2024-10-01  12:00:00", "2024-10-01T", "x"}) {
    EXPECT_EQ(datetime_error(bad), "invalid date-time '" + std::string(bad) + "'" + form);
  }
}

TEST(LocalDateTime, RejectsFractionalSecondsAndZoneOffsets) {
  EXPECT_EQ(datetime_error("2024-10-01T12:00:00.5"),
            "fractional seconds are not supported in date-time '2024-10-01T12:00:00.5'");
  EXPECT_EQ(datetime_error("2024-10-01T12:00:00Z"),
            "date-time '2024-10-01T12:00:00Z' has a time zone offset; write local time without "
            "one");
  EXPECT_EQ(datetime_error("2024-10-01T12:00+02:00"),
            "date-time '2024-10-01T12:00+02:00' has a time zone offset; write local time without "
            "one");
  EXPECT_EQ(datetime_error("2024-10-01T12:00:00-05:00"),
            "date-time '2024-10-01T12:00:00-05:00' has a time zone offset; write local time "
            "without one");
}

TEST(LocalDateTime, MakeValidatesFieldsLikeParse) {
  EXPECT_EQ(make_local_datetime(2024, 2, 29, 23, 59, 59, nullptr), at(2024, 2, 29, 23, 59, 59));
  std::string error;
  EXPECT_FALSE(make_local_datetime(2023, 2, 29, 0, 0, 0, &error));
  EXPECT_EQ(error, "day 29 is out of range for February 2023 (1-28)");
  EXPECT_FALSE(make_local_datetime(2023, 1, 1, -1, 0, 0, &error));
  EXPECT_EQ(error, "hour -1 is out of range 0-23");
  EXPECT_FALSE(make_local_datetime(10000, 1, 1, 0, 0, 0, &error));
  EXPECT_EQ(error, "year 10000 is out of range 1-9999");
}

TEST(LocalDateTime, FormatsWithZeroPadding) {
  EXPECT_EQ(format_local_datetime(at(2024, 10, 1, 12)), "2024-10-01T12:00:00");
  EXPECT_EQ(format_local_datetime(at(5, 1, 2, 3, 4, 5)), "0005-01-02T03:04:05");
}

TEST(LocalDateTime, FormatThenParseRoundTrips) {
  const LocalDateTime t = at(1999, 12, 31, 23, 59, 59);
  EXPECT_EQ(parse_local_datetime(format_local_datetime(t), nullptr), t);
}

TEST(LocalDateTime, OrdersChronologically) {
  EXPECT_LT(at(2024, 1, 31, 23, 59, 59), at(2024, 2, 1));
  EXPECT_LT(at(2023, 12, 31), at(2024, 1, 1));
  EXPECT_LT(at(2024, 1, 1, 0, 0, 1), at(2024, 1, 1, 0, 1, 0));
}

// ---- calendar arithmetic ----

TEST(Calendar, KnowsLeapYears) {
  EXPECT_TRUE(is_leap_year(2024));
  EXPECT_TRUE(is_leap_year(2000));
  EXPECT_FALSE(is_leap_year(1900));
  EXPECT_FALSE(is_leap_year(2100));
  EXPECT_FALSE(is_leap_year(2023));
}

TEST(Calendar, KnowsMonthLengths) {
  EXPECT_EQ(days_in_month(2023, 1), 31);
  EXPECT_EQ(days_in_month(2023, 2), 28);
  EXPECT_EQ(days_in_month(2024, 2), 29);
  EXPECT_EQ(days_in_month(2023, 4), 30);
  EXPECT_EQ(days_in_month(2023, 12), 31);
}

TEST(Calendar, WeekdayOfKnownDates) {
  EXPECT_EQ(weekday_of(1970, 1, 1), kThu);
  EXPECT_EQ(weekday_of(2024, 10, 1), kTue);
  EXPECT_EQ(weekday_of(2000, 2, 29), kTue);
  EXPECT_EQ(weekday_of(2024, 2, 29), kThu);
  EXPECT_EQ(weekday_of(1900, 1, 1), kMon);
  EXPECT_EQ(weekday_of(2100, 12, 31), kFri);
  EXPECT_EQ(weekday_of(1, 1, 1), kMon);
  EXPECT_EQ(weekday_of(9999, 12, 31), kFri);
  EXPECT_EQ(weekday_of(1600, 3, 1), kWed);
  EXPECT_EQ(weekday_of(2023, 10, 1), kSun);
  EXPECT_EQ(weekday_of(at(2024, 10, 5, 13)), kSat);
}

TEST(Calendar, DaysFromCivilOfKnownDates) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2024, 10, 1), 19997);
  EXPECT_EQ(days_from_civil(2000, 2, 29), 11016);
  EXPECT_EQ(days_from_civil(1900, 1, 1), -25567);
  EXPECT_EQ(days_from_civil(1, 1, 1), -719162);
  EXPECT_EQ(days_from_civil(9999, 12, 31), 2932896);
}

TEST(Calendar, CivilFromDaysInvertsEveryDayFrom1599To2401) {
  // Walk the calendar one day at a time and compare with the closed forms.
  CivilDate date{1599, 1, 1};
  int64_t n = days_from_civil(1599, 1, 1);
  int weekday = weekday_of(1599, 1, 1);
  while (date.year <= 2401) {
    ASSERT_EQ(days_from_civil(date.year, date.month, date.day), n)
        << date.year << "-" << date.month << "-" << date.day;
    ASSERT_EQ(civil_from_days(n), date) << n;
    ASSERT_EQ(weekday_of(date.year, date.month, date.day), weekday) << n;
    ++n;
    weekday = (weekday + 1) % 7;
    if (++date.day > days_in_month(date.year, date.month)) {
      date.day = 1;
      if (++date.month > 12) {
        date.month = 1;
        ++date.year;
      }
    }
  }
}

TEST(Calendar, LocalSecondsRoundTrip) {
  EXPECT_EQ(local_seconds(at(1970, 1, 1)), 0);
  EXPECT_EQ(local_seconds(at(1970, 1, 2, 0, 0, 1)), 86401);
  EXPECT_EQ(local_seconds(at(1969, 12, 31, 23, 59, 59)), -1);
  EXPECT_EQ(from_local_seconds(-1), at(1969, 12, 31, 23, 59, 59));
  const LocalDateTime t = at(2024, 2, 29, 13, 14, 15);
  EXPECT_EQ(from_local_seconds(local_seconds(t)), t);
}

TEST(Calendar, AddSecondsCarriesAcrossDaysMonthsAndYears) {
  EXPECT_EQ(add_seconds(at(2024, 10, 1, 23, 59, 59), 1), at(2024, 10, 2));
  EXPECT_EQ(add_seconds(at(2024, 1, 31, 12), 86400), at(2024, 2, 1, 12));
  EXPECT_EQ(add_seconds(at(2024, 2, 28, 12), 86400), at(2024, 2, 29, 12));
  EXPECT_EQ(add_seconds(at(2023, 2, 28, 12), 86400), at(2023, 3, 1, 12));
  EXPECT_EQ(add_seconds(at(2023, 12, 31, 23, 59, 30), 45), at(2024, 1, 1, 0, 0, 15));
  EXPECT_EQ(add_seconds(at(2024, 1, 1), -1), at(2023, 12, 31, 23, 59, 59));
  EXPECT_EQ(add_seconds(at(2024, 3, 1), -86400), at(2024, 2, 29));
  EXPECT_EQ(add_seconds(at(2024, 3, 1, 5), 0), at(2024, 3, 1, 5));
}

// ---- time of day ----

TEST(TimeOfDay, ParsesBothForms) {
  EXPECT_EQ(parse_time_of_day("08:00:00", nullptr), hms(8, 0));
  EXPECT_EQ(parse_time_of_day("08:30", nullptr), hms(8, 30));
  EXPECT_EQ(parse_time_of_day("00:00:00", nullptr), hms(0, 0));
  EXPECT_EQ(parse_time_of_day("23:59:59", nullptr), hms(23, 59, 59));
}

TEST(TimeOfDay, AcceptsEndOfDay) {
  EXPECT_EQ(parse_time_of_day("24:00:00", nullptr), TimeOfDay{86400});
  EXPECT_EQ(parse_time_of_day("24:00", nullptr), TimeOfDay{86400});
}

TEST(TimeOfDay, RejectsOutOfRangeFields) {
  EXPECT_EQ(time_error("24:00:01"),
            "invalid time of day '24:00:01': 24:00:00 (end of day) is the only time in hour 24");
  EXPECT_EQ(time_error("24:30"),
            "invalid time of day '24:30': 24:00:00 (end of day) is the only time in hour 24");
  EXPECT_EQ(time_error("25:00"), "invalid time of day '25:00': hour 25 is out of range 0-24");
  EXPECT_EQ(time_error("12:60"), "invalid time of day '12:60': minute 60 is out of range 0-59");
  EXPECT_EQ(time_error("12:00:60"),
            "invalid time of day '12:00:60': second 60 is out of range 0-59");
}

TEST(TimeOfDay, RejectsMalformedText) {
  EXPECT_EQ(time_error(""), "empty time of day: expected HH:MM:SS or HH:MM");
  for (const char* bad : {"8:00", "08", "08:0", "08:00:0", "08:00:00:00", "08-00", " 08:00",
                          "08:00 ", "0800", "ab:cd", "08:00:00.5", "08:00:"}) {
    EXPECT_EQ(time_error(bad),
              "invalid time of day '" + std::string(bad) + "': expected HH:MM:SS or HH:MM");
  }
}

TEST(TimeOfDay, Formats) {
  EXPECT_EQ(format_time_of_day(hms(8, 5, 3)), "08:05:03");
  EXPECT_EQ(format_time_of_day(TimeOfDay{0}), "00:00:00");
  EXPECT_EQ(format_time_of_day(TimeOfDay{86400}), "24:00:00");
}

// ---- weekdays ----

TEST(WeekDays, ParsesShortAndLongNamesCaseInsensitively) {
  const std::pair<const char*, int> cases[] = {
      {"mon", kMon},      {"tue", kTue},       {"wed", kWed},      {"thu", kThu},
      {"fri", kFri},      {"sat", kSat},       {"sun", kSun},      {"monday", kMon},
      {"tuesday", kTue},  {"wednesday", kWed}, {"thursday", kThu}, {"friday", kFri},
      {"saturday", kSat}, {"sunday", kSun},    {"MON", kMon},      {"Friday", kFri},
      {"sUn", kSun}};
  for (const auto& [text, day] : cases) {
    const auto parsed = parse_weekdays_item(text, nullptr);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(parsed->mask, days({day})) << text;
  }
}

TEST(WeekDays, ParsesAll) {
  EXPECT_EQ(parse_weekdays_item("all", nullptr), WeekDays{0x7f});
  EXPECT_EQ(parse_weekdays_item("ALL", nullptr), WeekDays{0x7f});
}

TEST(WeekDays, ParsesRanges) {
  EXPECT_EQ(parse_weekdays_item("mon-fri", nullptr)->mask, days({kMon, kTue, kWed, kThu, kFri}));
  EXPECT_EQ(parse_weekdays_item("monday-wednesday", nullptr)->mask, days({kMon, kTue, kWed}));
  EXPECT_EQ(parse_weekdays_item("Sat-SUNDAY", nullptr)->mask, days({kSat, kSun}));
  EXPECT_EQ(parse_weekdays_item("mon-sun", nullptr)->mask, 0x7f);
  EXPECT_EQ(parse_weekdays_item("wed-wed", nullptr)->mask, days({kWed}));
}

TEST(WeekDays, RangesWrapPastSunday) {
  EXPECT_EQ(parse_weekdays_item("fri-mon", nullptr)->mask, days({kFri, kSat, kSun, kMon}));
  EXPECT_EQ(parse_weekdays_item("sun-tue", nullptr)->mask, days({kSun, kMon, kTue}));
  EXPECT_EQ(parse_weekdays_item("tue-mon", nullptr)->mask, 0x7f);
}

TEST(WeekDays, RejectsUnknownNamesWithSuggestion) {
  EXPECT_EQ(weekdays_error("mnday"), "unknown weekday 'mnday' (did you mean 'monday'?)");
  EXPECT_EQ(weekdays_error("thur"), "unknown weekday 'thur' (did you mean 'thu'?)");
  EXPECT_EQ(weekdays_error("weekend"),
            "unknown weekday 'weekend' (use mon, tue, wed, thu, fri, sat, sun, a range such as "
            "mon-fri, or all)");
  EXPECT_EQ(weekdays_error("mon-frx"),
            "unknown weekday 'frx' (did you mean 'fri'?) in range 'mon-frx'");
  EXPECT_EQ(weekdays_error("xyz-fri"),
            "unknown weekday 'xyz' (use mon, tue, wed, thu, fri, sat, sun, a range such as "
            "mon-fri, or all) in range 'xyz-fri'");
}

TEST(WeekDays, RejectsEmptyAndIncompleteItems) {
  EXPECT_EQ(weekdays_error(""), "empty weekday (use e.g. mon, mon-fri or all)");
  EXPECT_EQ(weekdays_error("mon-"), "incomplete weekday range 'mon-' (write e.g. mon-fri)");
  EXPECT_EQ(weekdays_error("-fri"), "incomplete weekday range '-fri' (write e.g. mon-fri)");
  EXPECT_EQ(weekdays_error(" mon"), "unknown weekday ' mon' (did you mean 'mon'?)");
  EXPECT_FALSE(parse_weekdays_item("mon,tue", nullptr));
  EXPECT_FALSE(parse_weekdays_item("mon-tue-wed", nullptr));
}

TEST(WeekDays, ParsesCommaLists) {
  EXPECT_EQ(parse_weekdays_list("mon,wed-fri", nullptr)->mask, days({kMon, kWed, kThu, kFri}));
  EXPECT_EQ(parse_weekdays_list("sat, sun", nullptr)->mask, days({kSat, kSun}));
  EXPECT_EQ(parse_weekdays_list("mon", nullptr)->mask, days({kMon}));
  std::string error;
  EXPECT_FALSE(parse_weekdays_list("mon,,tue", &error));
  EXPECT_EQ(error, "empty item in weekday list 'mon,,tue'");
  EXPECT_FALSE(parse_weekdays_list("mon,blah", &error));
  EXPECT_EQ(error,
            "unknown weekday 'blah' (use mon, tue, wed, thu, fri, sat, sun, a range such as "
            "mon-fri, or all)");
}

TEST(WeekDays, Formats) {
  EXPECT_EQ(format_weekdays(WeekDays{0x7f}), "all");
  EXPECT_EQ(format_weekdays(WeekDays{days({kMon, kWed, kThu, kFri})}), "mon,wed-fri");
  EXPECT_EQ(format_weekdays(WeekDays{days({kMon, kTue})}), "mon,tue");
  EXPECT_EQ(format_weekdays(WeekDays{days({kSun})}), "sun");
  EXPECT_EQ(format_weekdays(WeekDays{days({kMon, kTue, kWed, kThu, kFri})}), "mon-fri");
  EXPECT_EQ(format_weekdays(WeekDays{days({kMon, kFri, kSat, kSun})}), "mon,fri-sun");
  EXPECT_EQ(format_weekdays(WeekDays{0}), "");
}

TEST(WeekDays, FormatParsesBack) {
  for (int mask = 0; mask < 128; ++mask) {
    const WeekDays d{static_cast<uint8_t>(mask)};
    const std::string text = format_weekdays(d);
    if (mask == 0) continue;
    const auto back = parse_weekdays_list(text, nullptr);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(back->mask, mask) << text;
  }
}

// ---- schedules ----
// 2024-10-03 is a Thursday, 10-04 Friday, 10-05 Saturday, 10-06 Sunday, 10-07 Monday.

Schedule window(std::optional<TimeOfDay> start, std::optional<TimeOfDay> stop, uint8_t mask) {
  return Schedule{start, stop, WeekDays{mask}};
}

TEST(Schedule, DayWindowIsHalfOpen) {
  const Schedule s = window(hms(8, 0), hms(18, 0), 0x7f);
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 4, 7, 59, 59)));
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 4, 8, 0, 0)));
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 4, 12, 0, 0)));
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 4, 17, 59, 59)));
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 4, 18, 0, 0)));
}

TEST(Schedule, DayWindowOnlyOnListedDays) {
  const Schedule s = window(hms(8, 0), hms(18, 0), days({kMon, kTue, kWed, kThu, kFri}));
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 4, 12)));   // Friday
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 5, 12)));  // Saturday
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 6, 12)));  // Sunday
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 7, 12)));   // Monday
}

TEST(Schedule, MissingStartAndStopMeanWholeDay) {
  const Schedule all_day = window(std::nullopt, std::nullopt, days({kFri}));
  EXPECT_FALSE(schedule_contains(all_day, at(2024, 10, 3, 23, 59, 59)));
  EXPECT_TRUE(schedule_contains(all_day, at(2024, 10, 4, 0, 0, 0)));
  EXPECT_TRUE(schedule_contains(all_day, at(2024, 10, 4, 23, 59, 59)));
  EXPECT_FALSE(schedule_contains(all_day, at(2024, 10, 5, 0, 0, 0)));

  const Schedule from_nine = window(hms(9, 0), std::nullopt, 0x7f);
  EXPECT_FALSE(schedule_contains(from_nine, at(2024, 10, 4, 8, 59, 59)));
  EXPECT_TRUE(schedule_contains(from_nine, at(2024, 10, 4, 23, 59, 59)));

  const Schedule until_five = window(std::nullopt, hms(17, 0), 0x7f);
  EXPECT_TRUE(schedule_contains(until_five, at(2024, 10, 4, 0, 0, 0)));
  EXPECT_FALSE(schedule_contains(until_five, at(2024, 10, 4, 17, 0, 0)));
}

TEST(Schedule, DefaultScheduleIsAlwaysOpen) {
  const Schedule s;
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 4, 0, 0, 0)));
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 6, 23, 59, 59)));
}

TEST(Schedule, EndOfDayStopIncludesLastSecond) {
  const Schedule s = window(hms(22, 0), TimeOfDay{86400}, days({kFri}));
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 4, 23, 59, 59)));
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 5, 0, 0, 0)));
}

TEST(Schedule, EqualStartAndStopIsNeverOpen) {
  const Schedule s = window(hms(8, 0), hms(8, 0), 0x7f);
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 4, 8, 0, 0)));
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 4, 20, 0, 0)));
}

TEST(Schedule, EmptyWeekDaysIsNeverOpen) {
  const Schedule s = window(std::nullopt, std::nullopt, 0);
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 4, 12)));
}

TEST(Schedule, OvernightWindowOpensOnListedDayAndClosesNextMorning) {
  const Schedule s = window(hms(22, 0), hms(6, 0), days({kFri}));
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 4, 21, 59, 59)));  // Fri before start
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 4, 22, 0, 0)));     // Fri at start
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 4, 23, 59, 59)));   // Fri before midnight
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 5, 0, 0, 0)));      // Sat midnight
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 5, 3, 0, 0)));      // Sat 03:00
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 5, 5, 59, 59)));    // Sat before stop
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 5, 6, 0, 0)));     // Sat at stop
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 5, 22, 0, 0)));    // Sat is not listed
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 6, 3, 0, 0)));     // Sun morning
}

TEST(Schedule, OvernightMorningBelongsToThePreviousDay) {
  const Schedule fri_only = window(hms(22, 0), hms(6, 0), days({kFri}));
  EXPECT_FALSE(schedule_contains(fri_only, at(2024, 10, 4, 3, 0, 0)));  // Fri 03:00

  const Schedule thu_fri = window(hms(22, 0), hms(6, 0), days({kThu, kFri}));
  EXPECT_TRUE(schedule_contains(thu_fri, at(2024, 10, 4, 3, 0, 0)));    // opened Thu 22:00
  EXPECT_FALSE(schedule_contains(thu_fri, at(2024, 10, 4, 12, 0, 0)));  // Fri midday
}

TEST(Schedule, OvernightWindowWrapsFromSundayToMonday) {
  const Schedule s = window(hms(20, 0), hms(2, 0), days({kSun}));
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 6, 20, 0, 0)));
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 7, 1, 59, 59)));
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 7, 2, 0, 0)));
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 6, 1, 0, 0)));  // Sat was not listed
}

TEST(Schedule, OvernightWindowAcrossMonthAndYearEnd) {
  const Schedule s = window(hms(23, 0), hms(1, 0), 0x7f);
  EXPECT_TRUE(schedule_contains(s, at(2024, 12, 31, 23, 30)));
  EXPECT_TRUE(schedule_contains(s, at(2025, 1, 1, 0, 30)));
  EXPECT_FALSE(schedule_contains(s, at(2025, 1, 1, 1, 0)));
}

TEST(Schedule, OvernightWindowWithMidnightStop) {
  // stop 00:00 < start: the window ends exactly at midnight.
  const Schedule s = window(hms(22, 0), hms(0, 0), days({kFri}));
  EXPECT_TRUE(schedule_contains(s, at(2024, 10, 4, 23, 59, 59)));
  EXPECT_FALSE(schedule_contains(s, at(2024, 10, 5, 0, 0, 0)));
}

TEST(Schedule, NextChangeOfDayWindow) {
  const Schedule s = window(hms(8, 0), hms(18, 0), days({kMon, kTue, kWed, kThu, kFri}));
  EXPECT_EQ(schedule_next_change(s, at(2024, 10, 4, 7, 0)), at(2024, 10, 4, 8, 0));
  EXPECT_EQ(schedule_next_change(s, at(2024, 10, 4, 8, 0)), at(2024, 10, 4, 18, 0));
  EXPECT_EQ(schedule_next_change(s, at(2024, 10, 4, 18, 0)), at(2024, 10, 7, 8, 0));
  EXPECT_EQ(schedule_next_change(s, at(2024, 10, 5, 12, 0)), at(2024, 10, 7, 8, 0));
}

TEST(Schedule, NextChangeOfOvernightWindow) {
  const Schedule s = window(hms(22, 0), hms(6, 0), days({kFri}));
  EXPECT_EQ(schedule_next_change(s, at(2024, 10, 4, 3, 0)), at(2024, 10, 4, 22, 0));
  EXPECT_EQ(schedule_next_change(s, at(2024, 10, 4, 23, 0)), at(2024, 10, 5, 6, 0));
  EXPECT_EQ(schedule_next_change(s, at(2024, 10, 5, 6, 0)), at(2024, 10, 11, 22, 0));

  const Schedule nightly = window(hms(22, 0), hms(6, 0), 0x7f);
  // Open across midnight: the next change is the morning close, not midnight.
  EXPECT_EQ(schedule_next_change(nightly, at(2024, 10, 4, 23, 0)), at(2024, 10, 5, 6, 0));
}

TEST(Schedule, NextChangeOfWholeDaysSkipsMidnightsInsideARun) {
  const Schedule s = window(std::nullopt, std::nullopt, days({kFri, kSat}));
  EXPECT_EQ(schedule_next_change(s, at(2024, 10, 3, 12, 0)), at(2024, 10, 4, 0, 0));
  EXPECT_EQ(schedule_next_change(s, at(2024, 10, 4, 12, 0)), at(2024, 10, 6, 0, 0));
}

TEST(Schedule, NextChangeIsNulloptWhenNothingChanges) {
  EXPECT_EQ(schedule_next_change(Schedule{}, at(2024, 10, 4, 12)), std::nullopt);
  EXPECT_EQ(schedule_next_change(window(hms(8, 0), hms(8, 0), 0x7f), at(2024, 10, 4, 12)),
            std::nullopt);
  EXPECT_EQ(schedule_next_change(window(std::nullopt, std::nullopt, 0), at(2024, 10, 4, 12)),
            std::nullopt);
}

TEST(Schedule, NextChangeAgreesWithContainsAtEverySecondBoundary) {
  // Walk a fortnight in 30-minute steps: just before each reported change the
  // value is unchanged, and at the change it flips.
  const Schedule schedules[] = {
      window(hms(22, 0), hms(6, 0), days({kFri, kSun})),
      window(hms(8, 15), hms(17, 45), days({kMon, kWed})),
      window(std::nullopt, hms(12, 0), days({kSat})),
  };
  for (const Schedule& s : schedules) {
    for (int64_t step = 0; step < 14 * 48; ++step) {
      const LocalDateTime t = add_seconds(at(2024, 10, 1), step * 1800);
      const auto change = schedule_next_change(s, t);
      ASSERT_TRUE(change) << format_local_datetime(t);
      ASSERT_GT(*change, t);
      EXPECT_EQ(schedule_contains(s, add_seconds(*change, -1)), schedule_contains(s, t));
      EXPECT_NE(schedule_contains(s, *change), schedule_contains(s, t));
    }
  }
}

}  // namespace
}  // namespace procman::core
