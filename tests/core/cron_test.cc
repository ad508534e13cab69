#include "core/cron.h"

#include <gtest/gtest.h>

#include <string>

namespace procman::core {
namespace {

LocalDateTime at(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return LocalDateTime{y, mo, d, h, mi, s};
}

CronSpec parse_ok(std::string_view text) {
  std::string error;
  const auto spec = parse_cron(text, &error);
  EXPECT_TRUE(spec.has_value()) << text << ": " << error;
  return spec.value_or(CronSpec{});
}

std::string parse_error(std::string_view text) {
  std::string error;
  const auto spec = parse_cron(text, &error);
  EXPECT_FALSE(spec.has_value()) << text;
  return error;
}

template <std::size_t N>
std::bitset<N> bits(std::initializer_list<int> values) {
  std::bitset<N> b;
  for (int v : values) b.set(static_cast<std::size_t>(v));
  return b;
}

std::optional<LocalDateTime> next(std::string_view spec, LocalDateTime after) {
  return cron_next(parse_ok(spec), after);
}

// ---- parsing ----

TEST(CronParse, StarSelectsEveryValue) {
  const CronSpec s = parse_ok("* * * * *");
  EXPECT_TRUE(s.minutes.all());
  EXPECT_TRUE(s.hours.all());
  EXPECT_EQ(s.days_of_month.count(), 31u);
  EXPECT_FALSE(s.days_of_month.test(0));
  EXPECT_EQ(s.months.count(), 12u);
  EXPECT_FALSE(s.months.test(0));
  EXPECT_TRUE(s.days_of_week.all());
  EXPECT_FALSE(s.dom_restricted);
  EXPECT_FALSE(s.dow_restricted);
}

TEST(CronParse, NumbersListsAndRanges) {
  const CronSpec s = parse_ok("5 1,13 1-3,15 6 2");
  EXPECT_EQ(s.minutes, bits<60>({5}));
  EXPECT_EQ(s.hours, bits<24>({1, 13}));
  EXPECT_EQ(s.days_of_month, bits<32>({1, 2, 3, 15}));
  EXPECT_EQ(s.months, bits<13>({6}));
  EXPECT_EQ(s.days_of_week, bits<7>({2}));
  EXPECT_TRUE(s.dom_restricted);
  EXPECT_TRUE(s.dow_restricted);
}

TEST(CronParse, Steps) {
  EXPECT_EQ(parse_ok("*/15 * * * *").minutes, bits<60>({0, 15, 30, 45}));
  EXPECT_EQ(parse_ok("10-20/5 * * * *").minutes, bits<60>({10, 15, 20}));
  EXPECT_EQ(parse_ok("5/20 * * * *").minutes, bits<60>({5, 25, 45}));
  EXPECT_EQ(parse_ok("* */6 * * *").hours, bits<24>({0, 6, 12, 18}));
  EXPECT_EQ(parse_ok("* * */10 * *").days_of_month, bits<32>({1, 11, 21, 31}));
  EXPECT_EQ(parse_ok("* * * */5 *").months, bits<13>({1, 6, 11}));
  EXPECT_EQ(parse_ok("* * * * */2").days_of_week, bits<7>({0, 2, 4, 6}));
  EXPECT_EQ(parse_ok("* * * * 1/2").days_of_week, bits<7>({1, 3, 5}));
  EXPECT_EQ(parse_ok("0-59/100 * * * *").minutes, bits<60>({0}));
  EXPECT_EQ(parse_ok("1-10/3,30 * * * *").minutes, bits<60>({1, 4, 7, 10, 30}));
}

TEST(CronParse, MonthNamesCaseInsensitive) {
  EXPECT_EQ(parse_ok("0 0 1 jan *").months, bits<13>({1}));
  EXPECT_EQ(parse_ok("0 0 1 DEC *").months, bits<13>({12}));
  EXPECT_EQ(parse_ok("0 0 1 Jan-Mar,oct *").months, bits<13>({1, 2, 3, 10}));
  EXPECT_EQ(parse_ok("0 0 1 feb-12/4 *").months, bits<13>({2, 6, 10}));
}

TEST(CronParse, WeekdayNamesCaseInsensitive) {
  EXPECT_EQ(parse_ok("0 0 * * sun").days_of_week, bits<7>({0}));
  EXPECT_EQ(parse_ok("0 0 * * MON-fri").days_of_week, bits<7>({1, 2, 3, 4, 5}));
  EXPECT_EQ(parse_ok("0 0 * * Sat,sun").days_of_week, bits<7>({0, 6}));
}

TEST(CronParse, SevenIsSunday) {
  EXPECT_EQ(parse_ok("0 0 * * 7").days_of_week, bits<7>({0}));
  EXPECT_EQ(parse_ok("0 0 * * 5-7").days_of_week, bits<7>({0, 5, 6}));
  EXPECT_EQ(parse_ok("0 0 * * fri-sun").days_of_week, bits<7>({0, 5, 6}));
  EXPECT_TRUE(parse_ok("0 0 * * 0-7").days_of_week.all());
}

TEST(CronParse, Macros) {
  EXPECT_EQ(parse_ok("@yearly"), parse_ok("0 0 1 1 *"));
  EXPECT_EQ(parse_ok("@annually"), parse_ok("0 0 1 1 *"));
  EXPECT_EQ(parse_ok("@monthly"), parse_ok("0 0 1 * *"));
  EXPECT_EQ(parse_ok("@weekly"), parse_ok("0 0 * * 0"));
  EXPECT_EQ(parse_ok("@daily"), parse_ok("0 0 * * *"));
  EXPECT_EQ(parse_ok("@midnight"), parse_ok("0 0 * * *"));
  EXPECT_EQ(parse_ok("@hourly"), parse_ok("0 * * * *"));
  EXPECT_EQ(parse_ok("@Daily"), parse_ok("0 0 * * *"));
  EXPECT_EQ(parse_ok("  @hourly "), parse_ok("0 * * * *"));
}

TEST(CronParse, RestrictionFlagsFollowVixieCron) {
  EXPECT_TRUE(parse_ok("0 0 1 * *").dom_restricted);
  EXPECT_FALSE(parse_ok("0 0 1 * *").dow_restricted);
  EXPECT_FALSE(parse_ok("0 0 * * 1").dom_restricted);
  EXPECT_TRUE(parse_ok("0 0 * * 1").dow_restricted);
  // A field starting with '*' counts as unrestricted even with a step.
  EXPECT_FALSE(parse_ok("0 0 */2 * 1").dom_restricted);
  EXPECT_FALSE(parse_ok("0 0 1 * */2").dow_restricted);
  // ...but an explicit full range is a restriction.
  EXPECT_TRUE(parse_ok("0 0 1-31 * 1").dom_restricted);
}

TEST(CronParse, ToleratesExtraBlanks) {
  EXPECT_EQ(parse_ok("  0\t0  1 *   * "), parse_ok("0 0 1 * *"));
}

TEST(CronParse, RejectsWrongFieldCount) {
  EXPECT_EQ(parse_error("* * * *"), "cron expression needs 5 fields, got 4");
  EXPECT_EQ(parse_error("* * * * * *"), "cron expression needs 5 fields, got 6");
  EXPECT_EQ(parse_error("*"), "cron expression needs 5 fields, got 1");
  EXPECT_EQ(parse_error(""), "empty cron expression");
  EXPECT_EQ(parse_error("   "), "empty cron expression");
}

TEST(CronParse, RejectsOutOfRangeValuesNamingTheField) {
  EXPECT_EQ(parse_error("60 * * * *"), "cron field 1 (minute): 60 is out of range 0-59");
  EXPECT_EQ(parse_error("0 24 * * *"), "cron field 2 (hour): 24 is out of range 0-23");
  EXPECT_EQ(parse_error("0 0 0 * *"), "cron field 3 (day-of-month): 0 is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 32 * *"), "cron field 3 (day-of-month): 32 is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 * 0 *"), "cron field 4 (month): 0 is out of range 1-12");
  EXPECT_EQ(parse_error("0 0 * 13 *"), "cron field 4 (month): 13 is out of range 1-12");
  EXPECT_EQ(parse_error("0 0 * * 8"), "cron field 5 (day-of-week): 8 is out of range 0-7");
  EXPECT_EQ(parse_error("0 1-99999999999 * * *"),
            "cron field 2 (hour): 99999999999 is out of range 0-23");
  EXPECT_EQ(parse_error("0,61 * * * *"), "cron field 1 (minute): 61 is out of range 0-59");
}

TEST(CronParse, RejectsNonNumbers) {
  EXPECT_EQ(parse_error("x * * * *"), "cron field 1 (minute): 'x' is not a number");
  EXPECT_EQ(parse_error("5x * * * *"), "cron field 1 (minute): '5x' is not a number");
  EXPECT_EQ(parse_error("0 jan * * *"), "cron field 2 (hour): 'jan' is not a number");
  EXPECT_EQ(parse_error("0 0 ? * *"), "cron field 3 (day-of-month): '?' is not a number");
  EXPECT_EQ(parse_error("0 0 1-2-3 * *"), "cron field 3 (day-of-month): '2-3' is not a number");
}

TEST(CronParse, RejectsUnknownNamesWithSuggestion) {
  EXPECT_EQ(parse_error("0 0 * janu *"),
            "cron field 4 (month): unknown month name 'janu' (did you mean 'jan'?)");
  EXPECT_EQ(parse_error("0 0 * january *"), "cron field 4 (month): unknown month name 'january'");
  EXPECT_EQ(parse_error("0 0 * * mo"),
            "cron field 5 (day-of-week): unknown weekday name 'mo' (did you mean 'mon'?)");
  EXPECT_EQ(parse_error("0 0 * * mon-xyz"),
            "cron field 5 (day-of-week): unknown weekday name 'xyz'");
  EXPECT_EQ(parse_error("0 0 * mon *"), "cron field 4 (month): unknown month name 'mon'");
}

TEST(CronParse, RejectsBadSteps) {
  EXPECT_EQ(parse_error("*/0 * * * *"), "cron field 1 (minute): step 0 is not allowed in '*/0'");
  EXPECT_EQ(parse_error("*/ * * * *"), "cron field 1 (minute): missing step after '/' in '*/'");
  EXPECT_EQ(parse_error("*/x * * * *"), "cron field 1 (minute): step 'x' is not a number");
  EXPECT_EQ(parse_error("/5 * * * *"), "cron field 1 (minute): missing range before '/' in '/5'");
}

TEST(CronParse, RejectsBadRangesAndLists) {
  EXPECT_EQ(parse_error("0 5-1 * * *"),
            "cron field 2 (hour): range '5-1' is backwards (the first value must not exceed the "
            "second)");
  EXPECT_EQ(parse_error("0 0 * dec-jan *"),
            "cron field 4 (month): range 'dec-jan' is backwards (the first value must not exceed "
            "the second)");
  EXPECT_EQ(parse_error("0 1- * * *"), "cron field 2 (hour): incomplete range '1-'");
  EXPECT_EQ(parse_error("0 -1 * * *"), "cron field 2 (hour): incomplete range '-1'");
  EXPECT_EQ(parse_error("1,,2 * * * *"), "cron field 1 (minute): empty item in list '1,,2'");
  EXPECT_EQ(parse_error("1, * * * *"), "cron field 1 (minute): empty item in list '1,'");
}

TEST(CronParse, RejectsUnknownMacros) {
  EXPECT_EQ(parse_error("@yearlyy"), "unknown cron macro '@yearlyy' (did you mean '@yearly'?)");
  EXPECT_EQ(parse_error("@often"),
            "unknown cron macro '@often' (use @yearly, @annually, @monthly, @weekly, @daily, "
            "@midnight or @hourly)");
  EXPECT_EQ(parse_error("@reboot"),
            "cron macro '@reboot' is not supported (a one-shot process starts at boot)");
  EXPECT_EQ(parse_error("@daily 0"), "cron macro '@daily' takes no fields, got '@daily 0'");
}

TEST(CronParse, ToleratesNullErrorPointer) {
  EXPECT_FALSE(parse_cron("61 * * * *", nullptr));
  EXPECT_FALSE(parse_cron("@x", nullptr));
  EXPECT_FALSE(parse_cron("* *", nullptr));
}

// ---- cron_next ----
// 2024-10-01 is a Tuesday.

TEST(CronNext, IsStrictlyAfterAndIgnoresSeconds) {
  EXPECT_EQ(next("* * * * *", at(2024, 10, 1, 12, 0, 0)), at(2024, 10, 1, 12, 1));
  EXPECT_EQ(next("* * * * *", at(2024, 10, 1, 12, 0, 30)), at(2024, 10, 1, 12, 1));
  EXPECT_EQ(next("* * * * *", at(2024, 10, 1, 12, 0, 59)), at(2024, 10, 1, 12, 1));
  EXPECT_EQ(next("30 12 * * *", at(2024, 10, 1, 12, 30, 0)), at(2024, 10, 2, 12, 30));
  EXPECT_EQ(next("30 12 * * *", at(2024, 10, 1, 12, 29, 59)), at(2024, 10, 1, 12, 30));
}

TEST(CronNext, CrossesDayMonthAndYearEnds) {
  EXPECT_EQ(next("0 0 * * *", at(2024, 12, 31, 23, 59)), at(2025, 1, 1));
  EXPECT_EQ(next("0 0 1 * *", at(2024, 1, 31, 12)), at(2024, 2, 1));
  EXPECT_EQ(next("59 23 31 12 *", at(2024, 12, 31, 23, 59)), at(2025, 12, 31, 23, 59));
  EXPECT_EQ(next("* * * * *", at(2024, 12, 31, 23, 59, 59)), at(2025, 1, 1));
  EXPECT_EQ(next("0 0 1 1 *", at(2024, 6, 1)), at(2025, 1, 1));
}

TEST(CronNext, SkipsMonthsWithoutTheDay) {
  EXPECT_EQ(next("30 23 31 * *", at(2024, 4, 1)), at(2024, 5, 31, 23, 30));
  EXPECT_EQ(next("0 0 29 * *", at(2023, 2, 1)), at(2023, 3, 29));
  EXPECT_EQ(next("0 0 29 * *", at(2024, 2, 1)), at(2024, 2, 29));

  // Every 31st of a year, chained.
  LocalDateTime t = at(2023, 12, 31, 12);
  std::vector<int> months;
  for (int i = 0; i < 7; ++i) {
    const auto n = next("0 0 31 * *", t);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->day, 31);
    months.push_back(n->month);
    t = *n;
  }
  EXPECT_EQ(months, (std::vector<int>{1, 3, 5, 7, 8, 10, 12}));
}

TEST(CronNext, FindsLeapDay) {
  EXPECT_EQ(next("0 0 29 2 *", at(2024, 2, 28, 12)), at(2024, 2, 29));
  EXPECT_EQ(next("0 0 29 2 *", at(2024, 2, 29, 0, 0)), at(2028, 2, 29));
  EXPECT_EQ(next("0 0 29 2 *", at(2024, 3, 1)), at(2028, 2, 29));
  EXPECT_EQ(next("0 0 29 2 *", at(2023, 1, 1)), at(2024, 2, 29));
}

TEST(CronNext, GivesUpAfterFiveYears) {
  EXPECT_EQ(next("0 0 30 2 *", at(2024, 1, 1)), std::nullopt);
  EXPECT_EQ(next("0 0 31 4,6,9,11 *", at(2024, 1, 1)), std::nullopt);
  // 2100 is not a leap year; the next leap day after 2096 is in 2104.
  EXPECT_EQ(next("0 0 29 2 *", at(2096, 3, 1)), std::nullopt);
}

TEST(CronNext, EitherDayFieldMatchesWhenBothAreRestricted) {
  // The 13th or any Friday.
  EXPECT_EQ(next("0 12 13 * fri", at(2024, 10, 1)), at(2024, 10, 4, 12));
  EXPECT_EQ(next("0 12 13 * fri", at(2024, 10, 4, 12)), at(2024, 10, 11, 12));
  EXPECT_EQ(next("0 12 13 * fri", at(2024, 10, 11, 12)), at(2024, 10, 13, 12));  // a Sunday
}

TEST(CronNext, BothDayFieldsMustMatchWhenOneIsStar) {
  EXPECT_EQ(next("0 12 * * fri", at(2024, 10, 1)), at(2024, 10, 4, 12));
  EXPECT_EQ(next("0 12 13 * *", at(2024, 10, 1)), at(2024, 10, 13, 12));
  // "*/2" starts with '*', so it is ANDed with the weekday: odd days that are Fridays.
  EXPECT_EQ(next("0 12 */2 * fri", at(2024, 10, 1)), at(2024, 10, 11, 12));
  EXPECT_EQ(next("0 12 */2 * fri", at(2024, 10, 11, 12)), at(2024, 10, 25, 12));
  // A weekday field starting with '*' keeps the AND too: "*/7" is Sunday only,
  // so this is "the 13th when it is a Sunday".
  EXPECT_EQ(next("0 0 13 * */7", at(2024, 10, 1)), at(2024, 10, 13));
  EXPECT_EQ(next("0 0 13 * */7", at(2024, 10, 13)), at(2025, 4, 13));
}

TEST(CronNext, Steps) {
  EXPECT_EQ(next("*/15 * * * *", at(2024, 10, 1, 12, 7)), at(2024, 10, 1, 12, 15));
  EXPECT_EQ(next("*/15 * * * *", at(2024, 10, 1, 12, 45)), at(2024, 10, 1, 13, 0));
  EXPECT_EQ(next("0 */6 * * *", at(2024, 10, 1, 19)), at(2024, 10, 2, 0));
  EXPECT_EQ(next("10-20/5 8 * * *", at(2024, 10, 1, 8, 20)), at(2024, 10, 2, 8, 10));
}

TEST(CronNext, Names) {
  // The first Monday of 2025 is January 6th.
  EXPECT_EQ(next("0 9 * jan-mar mon", at(2024, 10, 1)), at(2025, 1, 6, 9));
  EXPECT_EQ(next("0 0 * * 7", at(2024, 10, 1)), at(2024, 10, 6));
  EXPECT_EQ(next("0 0 * * sun", at(2024, 10, 1)), at(2024, 10, 6));
  EXPECT_EQ(next("0 8 * * mon-fri", at(2024, 10, 4, 8)), at(2024, 10, 7, 8));
}

TEST(CronNext, Macros) {
  EXPECT_EQ(next("@hourly", at(2024, 10, 1, 12, 0)), at(2024, 10, 1, 13, 0));
  EXPECT_EQ(next("@daily", at(2024, 10, 1, 12, 0)), at(2024, 10, 2));
  EXPECT_EQ(next("@weekly", at(2024, 10, 6, 0, 0)), at(2024, 10, 13));
  EXPECT_EQ(next("@monthly", at(2024, 10, 1, 0, 0)), at(2024, 11, 1));
  EXPECT_EQ(next("@yearly", at(2024, 10, 1)), at(2025, 1, 1));
}

TEST(CronNext, LastMinuteOfTheHourAndDay) {
  EXPECT_EQ(next("59 23 * * *", at(2024, 10, 1, 23, 58)), at(2024, 10, 1, 23, 59));
  EXPECT_EQ(next("59 * * * *", at(2024, 10, 1, 23, 59)), at(2024, 10, 2, 0, 59));
}

// Minute-by-minute reference for the Vixie rules, used only to check the
// field-by-field search. Whole days that cannot match are stepped over at once
// (the day and month tests do not depend on the time) to keep it fast.
bool reference_day_matches(const CronSpec& s, const LocalDateTime& t) {
  const bool dom = s.days_of_month.test(static_cast<std::size_t>(t.day));
  const bool dow = s.days_of_week.test(static_cast<std::size_t>((weekday_of(t) + 1) % 7));
  const bool day = (s.dom_restricted && s.dow_restricted) ? (dom || dow) : (dom && dow);
  return day && s.months.test(static_cast<std::size_t>(t.month));
}

LocalDateTime reference_next(const CronSpec& s, const LocalDateTime& after) {
  LocalDateTime t = add_seconds(after, 60 - after.second);
  while (true) {
    if (!reference_day_matches(s, t)) {
      t = add_seconds(LocalDateTime{t.year, t.month, t.day, 0, 0, 0}, 86400);
    } else if (s.hours.test(static_cast<std::size_t>(t.hour)) &&
               s.minutes.test(static_cast<std::size_t>(t.minute))) {
      return t;
    } else {
      t = add_seconds(t, 60);
    }
  }
}

TEST(CronNext, AgreesWithMinuteByMinuteReference) {
  for (const char* text : {"*/7 3-5 * * *", "0 0 13 * fri", "15 10 */3 * *", "0 12 * feb,mar sat",
                           "0 0 29,30,31 * *", "45 23 * * 0", "0 6 1,15 * mon-wed",
                           "30 2 28-31 2 *", "* * * * *", "59 23 31 12 *", "0 0 1-7 * mon"}) {
    const CronSpec spec = parse_ok(text);
    LocalDateTime t = at(2023, 11, 20, 7, 31, 12);
    for (int i = 0; i < 20; ++i) {
      const auto got = cron_next(spec, t);
      ASSERT_TRUE(got) << text;
      ASSERT_EQ(format_local_datetime(*got), format_local_datetime(reference_next(spec, t)))
          << text << " after " << format_local_datetime(t);
      t = *got;
    }
  }
}

}  // namespace
}  // namespace procman::core
