// Naive local date-time arithmetic, time-of-day and weekday parsing, and
// schedule windows.
#include "core/calendar.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

#include "core/suggest.h"

namespace procman::core {

namespace {

constexpr std::string_view kDateTimeForm = "expected YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD HH:MM";

constexpr std::array<std::string_view, 7> kDayShort = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};
constexpr std::array<std::string_view, 7> kDayLong = {"monday", "tuesday",  "wednesday", "thursday",
                                                      "friday", "saturday", "sunday"};
constexpr std::array<std::string_view, 12> kMonthNames = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

template <typename T>
std::optional<T> fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

std::string quoted(std::string_view text) {
  std::string out = "'";
  out += text;
  out += '\'';
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `width` digits at text[pos]; advances pos on success.
std::optional<int> read_digits(std::string_view text, std::size_t& pos, std::size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    if (!is_digit(text[pos + i])) return std::nullopt;
    value = value * 10 + (text[pos + i] - '0');
  }
  pos += width;
  return value;
}

bool expect_char(std::string_view text, std::size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

// Days from 0000-03-01 to year-03-01 in the proleptic Gregorian calendar.
// Counting years from March puts the leap day at the end of the year, so a
// year's length only depends on its own number.
int64_t march_year_start(int64_t y) {
  return 365 * y + floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400);
}

// 0000-03-01 to 1970-01-01.
constexpr int64_t kEpochShift = 719468;

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::optional<int> weekday_by_name(std::string_view name) {
  const std::string lower = to_lower(name);
  for (int i = 0; i < 7; ++i) {
    if (lower == kDayShort[static_cast<std::size_t>(i)] ||
        lower == kDayLong[static_cast<std::size_t>(i)]) {
      return i;
    }
  }
  return std::nullopt;
}

std::string unknown_weekday_message(std::string_view name) {
  std::string message = "unknown weekday " + quoted(name);
  std::vector<std::string> candidates;
  for (auto d : kDayLong) candidates.emplace_back(d);
  for (auto d : kDayShort) candidates.emplace_back(d);
  candidates.emplace_back("all");
  if (auto guess = closest_match(name, candidates)) {
    message += " (did you mean " + quoted(*guess) + "?)";
  } else {
    message += " (use mon, tue, wed, thu, fri, sat, sun, a range such as mon-fri, or all)";
  }
  return message;
}

int time_of_day_seconds(const LocalDateTime& t) { return t.hour * 3600 + t.minute * 60 + t.second; }

}  // namespace

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap_year(year)) return 29;
  return kDays[static_cast<std::size_t>(month - 1)];
}

int64_t days_from_civil(int year, int month, int day) {
  const int64_t y = static_cast<int64_t>(year) - (month <= 2 ? 1 : 0);
  const int64_t months_since_march = (month + 9) % 12;
  // (153 * m + 2) / 5 is the number of days in the m months after March 1st
  // (31,30,31,30,31 repeating).
  const int64_t day_of_year = (153 * months_since_march + 2) / 5 + day - 1;
  return march_year_start(y) + day_of_year - kEpochShift;
}

CivilDate civil_from_days(int64_t days) {
  const int64_t z = days + kEpochShift;
  // 146097 days per 400 years gives a guess that is at most one year off.
  int64_t y = floor_div(z * 400, 146097);
  while (march_year_start(y + 1) <= z) ++y;
  while (march_year_start(y) > z) --y;
  const int64_t day_of_year = z - march_year_start(y);
  const int64_t m = (5 * day_of_year + 2) / 153;  // months since March
  CivilDate date;
  date.day = static_cast<int>(day_of_year - (153 * m + 2) / 5 + 1);
  date.month = static_cast<int>(m < 10 ? m + 3 : m - 9);
  date.year = static_cast<int>(y + (date.month <= 2 ? 1 : 0));
  return date;
}

int weekday_of(int year, int month, int day) {
  // 1970-01-01 was a Thursday (3 in ISO order from Monday = 0).
  return static_cast<int>(floor_mod(days_from_civil(year, month, day) + 3, 7));
}

int64_t local_seconds(const LocalDateTime& t) {
  return days_from_civil(t.year, t.month, t.day) * kSecondsPerDay + time_of_day_seconds(t);
}

LocalDateTime from_local_seconds(int64_t seconds) {
  const int64_t days = floor_div(seconds, kSecondsPerDay);
  const auto in_day = static_cast<int>(seconds - days * kSecondsPerDay);
  const CivilDate date = civil_from_days(days);
  LocalDateTime t;
  t.year = date.year;
  t.month = date.month;
  t.day = date.day;
  t.hour = in_day / 3600;
  t.minute = in_day / 60 % 60;
  t.second = in_day % 60;
  return t;
}

LocalDateTime add_seconds(const LocalDateTime& t, int64_t seconds) {
  return from_local_seconds(local_seconds(t) + seconds);
}

std::optional<LocalDateTime> make_local_datetime(int year, int month, int day, int hour, int minute,
                                                 int second, std::string* error) {
  using R = LocalDateTime;
  if (year < 1 || year > 9999) {
    return fail<R>(error, "year " + std::to_string(year) + " is out of range 1-9999");
  }
  if (month < 1 || month > 12) {
    return fail<R>(error, "month " + std::to_string(month) + " is out of range 1-12");
  }
  const int last_day = days_in_month(year, month);
  if (day < 1 || day > last_day) {
    return fail<R>(error, "day " + std::to_string(day) + " is out of range for " +
                              std::string(kMonthNames[static_cast<std::size_t>(month - 1)]) + " " +
                              std::to_string(year) + " (1-" + std::to_string(last_day) + ")");
  }
  if (hour < 0 || hour > 23) {
    return fail<R>(error, "hour " + std::to_string(hour) + " is out of range 0-23");
  }
  if (minute < 0 || minute > 59) {
    return fail<R>(error, "minute " + std::to_string(minute) + " is out of range 0-59");
  }
  if (second < 0 || second > 59) {
    return fail<R>(error, "second " + std::to_string(second) + " is out of range 0-59");
  }
  return LocalDateTime{year, month, day, hour, minute, second};
}

std::optional<LocalDateTime> parse_local_datetime(std::string_view text, std::string* error) {
  using R = LocalDateTime;
  const std::string bad_form =
      "invalid date-time " + quoted(text) + ": " + std::string(kDateTimeForm);
  if (text.empty()) return fail<R>(error, "empty date-time: " + std::string(kDateTimeForm));
  std::size_t pos = 0;
  const auto year = read_digits(text, pos, 4);
  if (!year || !expect_char(text, pos, '-')) return fail<R>(error, bad_form);
  const auto month = read_digits(text, pos, 2);
  if (!month || !expect_char(text, pos, '-')) return fail<R>(error, bad_form);
  const auto day = read_digits(text, pos, 2);
  if (!day) return fail<R>(error, bad_form);
  if (pos == text.size()) {
    return fail<R>(
        error, "date-time " + quoted(text) + " has no time of day: " + std::string(kDateTimeForm));
  }
  if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return fail<R>(error, bad_form);
  ++pos;
  const auto hour = read_digits(text, pos, 2);
  if (!hour || !expect_char(text, pos, ':')) return fail<R>(error, bad_form);
  const auto minute = read_digits(text, pos, 2);
  if (!minute) return fail<R>(error, bad_form);
  int second = 0;
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    const auto sec = read_digits(text, pos, 2);
    if (!sec) return fail<R>(error, bad_form);
    second = *sec;
  }
  if (pos < text.size()) {
    const char c = text[pos];
    if (c == '.' || c == ',') {
      return fail<R>(error, "fractional seconds are not supported in date-time " + quoted(text));
    }
    if (c == 'Z' || c == 'z' || c == '+' || c == '-') {
      return fail<R>(error, "date-time " + quoted(text) +
                                " has a time zone offset; write local time without one");
    }
    return fail<R>(error, bad_form);
  }
  std::string range_error;
  auto t = make_local_datetime(*year, *month, *day, *hour, *minute, second, &range_error);
  if (!t) return fail<R>(error, "invalid date-time " + quoted(text) + ": " + range_error);
  return t;
}

std::string format_local_datetime(const LocalDateTime& t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", t.year, t.month, t.day, t.hour,
                t.minute, t.second);
  return buf;
}

std::optional<TimeOfDay> parse_time_of_day(std::string_view text, std::string* error) {
  using R = TimeOfDay;
  const std::string bad_form =
      "invalid time of day " + quoted(text) + ": expected HH:MM:SS or HH:MM";
  if (text.empty()) return fail<R>(error, "empty time of day: expected HH:MM:SS or HH:MM");
  std::size_t pos = 0;
  const auto hour = read_digits(text, pos, 2);
  if (!hour || !expect_char(text, pos, ':')) return fail<R>(error, bad_form);
  const auto minute = read_digits(text, pos, 2);
  if (!minute) return fail<R>(error, bad_form);
  int second = 0;
  if (pos < text.size()) {
    if (!expect_char(text, pos, ':')) return fail<R>(error, bad_form);
    const auto sec = read_digits(text, pos, 2);
    if (!sec || pos != text.size()) return fail<R>(error, bad_form);
    second = *sec;
  }
  const std::string prefix = "invalid time of day " + quoted(text) + ": ";
  if (*hour == 24) {
    if (*minute != 0 || second != 0) {
      return fail<R>(error, prefix + "24:00:00 (end of day) is the only time in hour 24");
    }
    return TimeOfDay{kSecondsPerDay};
  }
  if (*hour > 23) {
    return fail<R>(error, prefix + "hour " + std::to_string(*hour) + " is out of range 0-24");
  }
  if (*minute > 59) {
    return fail<R>(error, prefix + "minute " + std::to_string(*minute) + " is out of range 0-59");
  }
  if (second > 59) {
    return fail<R>(error, prefix + "second " + std::to_string(second) + " is out of range 0-59");
  }
  return TimeOfDay{*hour * 3600 + *minute * 60 + second};
}

std::string format_time_of_day(TimeOfDay t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", t.seconds / 3600, t.seconds / 60 % 60,
                t.seconds % 60);
  return buf;
}

std::optional<WeekDays> parse_weekdays_item(std::string_view text, std::string* error) {
  using R = WeekDays;
  if (text.empty()) return fail<R>(error, "empty weekday (use e.g. mon, mon-fri or all)");
  if (to_lower(text) == "all") return WeekDays{0x7f};
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos) {
    const auto day = weekday_by_name(text);
    if (!day) return fail<R>(error, unknown_weekday_message(text));
    return WeekDays{static_cast<uint8_t>(1u << *day)};
  }
  const std::string_view first_name = text.substr(0, dash);
  const std::string_view last_name = text.substr(dash + 1);
  if (first_name.empty() || last_name.empty()) {
    return fail<R>(error, "incomplete weekday range " + quoted(text) + " (write e.g. mon-fri)");
  }
  const auto first = weekday_by_name(first_name);
  if (!first) {
    return fail<R>(error, unknown_weekday_message(first_name) + " in range " + quoted(text));
  }
  const auto last = weekday_by_name(last_name);
  if (!last) {
    return fail<R>(error, unknown_weekday_message(last_name) + " in range " + quoted(text));
  }
  // Walk forward from first to last, wrapping past Sunday (fri-mon = fri,sat,sun,mon).
  uint8_t mask = 0;
  for (int d = *first;; d = (d + 1) % 7) {
    mask = static_cast<uint8_t>(mask | (1u << d));
    if (d == *last) break;
  }
  return WeekDays{mask};
}

std::optional<WeekDays> parse_weekdays_list(std::string_view text, std::string* error) {
  uint8_t mask = 0;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = text.find(',', begin);
    std::string_view item =
        text.substr(begin, comma == std::string_view::npos ? text.npos : comma - begin);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) {
      return fail<WeekDays>(error, "empty item in weekday list " + quoted(text));
    }
    const auto days = parse_weekdays_item(item, error);
    if (!days) return std::nullopt;
    mask = static_cast<uint8_t>(mask | days->mask);
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return WeekDays{mask};
}

std::string format_weekdays(WeekDays d) {
  if ((d.mask & 0x7f) == 0x7f) return "all";
  std::string out;
  int day = 0;
  while (day < 7) {
    if (!d.has(day)) {
      ++day;
      continue;
    }
    int end = day;
    while (end + 1 < 7 && d.has(end + 1)) ++end;
    if (!out.empty()) out += ',';
    const auto name = [](int i) { return std::string(kDayShort[static_cast<std::size_t>(i)]); };
    if (end - day >= 2) {
      out += name(day) + "-" + name(end);
    } else {
      out += name(day);
      if (end != day) out += "," + name(end);
    }
    day = end + 1;
  }
  return out;
}

bool schedule_contains(const Schedule& s, const LocalDateTime& t) {
  const int start = s.start ? s.start->seconds : 0;
  const int stop = s.stop ? s.stop->seconds : kSecondsPerDay;
  const int now = time_of_day_seconds(t);
  const int today = weekday_of(t);
  if (start <= stop) return s.week_days.has(today) && start <= now && now < stop;
  // Overnight: the evening part belongs to today, the morning part to the
  // window that opened yesterday evening.
  const int yesterday = (today + 6) % 7;
  return (s.week_days.has(today) && now >= start) || (s.week_days.has(yesterday) && now < stop);
}

std::optional<LocalDateTime> schedule_next_change(const Schedule& s, const LocalDateTime& t) {
  // The window's value is constant between consecutive "interesting" instants:
  // each day's midnight, start and stop. Eight days cover every weekly pattern.
  const bool now_open = schedule_contains(s, t);
  const int start = s.start ? s.start->seconds : 0;
  const int stop = s.stop ? s.stop->seconds : kSecondsPerDay;
  const int64_t now = local_seconds(t);
  const int64_t today = days_from_civil(t.year, t.month, t.day);
  std::vector<int64_t> instants;
  for (int64_t day = today; day <= today + 8; ++day) {
    for (int offset : {0, start, stop}) {
      const int64_t at = day * kSecondsPerDay + offset;
      if (at > now) instants.push_back(at);
    }
  }
  std::sort(instants.begin(), instants.end());
  for (int64_t at : instants) {
    const LocalDateTime candidate = from_local_seconds(at);
    if (schedule_contains(s, candidate) != now_open) return candidate;
  }
  return std::nullopt;
}

}  // namespace procman::core
