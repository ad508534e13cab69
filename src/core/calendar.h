// Local (wall-clock) date/time values and schedule windows. No time zone logic
// here: callers convert between absolute time and local fields (os layer / a
// fake clock), so every rule stays testable.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace procman::core {

/// A naive local date-time as jleahred/procman writes apply-on: "2024-10-01T12:00:00".
struct LocalDateTime {
  int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  auto operator<=>(const LocalDateTime&) const = default;
};

/// Accepts "YYYY-MM-DDTHH:MM:SS" (also with a space instead of T, and without
/// seconds) and TOML local date-times converted by the parser. Validates ranges.
/// Years 0001..9999; no fractional seconds and no zone offset ("Z", "+02:00").
std::optional<LocalDateTime> parse_local_datetime(std::string_view text, std::string* error);
std::string format_local_datetime(const LocalDateTime& t);  ///< "2024-10-01T12:00:00"

/// Validates fields (e.g. from a TOML local date-time) with the same rules and
/// messages as parse_local_datetime. *error may be null.
std::optional<LocalDateTime> make_local_datetime(int year, int month, int day, int hour, int minute,
                                                 int second, std::string* error);

/// 0 = Monday ... 6 = Sunday (ISO order).
int weekday_of(int year, int month, int day);
inline int weekday_of(const LocalDateTime& t) { return weekday_of(t.year, t.month, t.day); }

// Proleptic Gregorian calendar arithmetic, valid for any int year (the
// scheduler and cron step through days with these).
bool is_leap_year(int year);
int days_in_month(int year, int month);  ///< month 1..12
/// Days from 1970-01-01 to the given date (negative before it).
int64_t days_from_civil(int year, int month, int day);
struct CivilDate {
  int year = 1970, month = 1, day = 1;
  auto operator<=>(const CivilDate&) const = default;
};
/// Inverse of days_from_civil.
CivilDate civil_from_days(int64_t days);

/// Seconds from 1970-01-01T00:00:00 on the naive local calendar: every day has
/// 86400 s, there is no zone or DST. Differences between two values are wall-clock
/// differences, not elapsed time across a DST change.
int64_t local_seconds(const LocalDateTime& t);
LocalDateTime from_local_seconds(int64_t seconds);
/// `t` moved by `seconds` (may be negative) with day/month/year carries.
LocalDateTime add_seconds(const LocalDateTime& t, int64_t seconds);

/// Seconds since midnight.
struct TimeOfDay {
  int seconds = 0;
  auto operator<=>(const TimeOfDay&) const = default;
};
inline constexpr int kSecondsPerDay = 86400;
/// "HH:MM:SS" or "HH:MM"; 24:00:00 is accepted as end of day for stop-time.
/// Two digits per field; the result is 0..86400 seconds.
std::optional<TimeOfDay> parse_time_of_day(std::string_view text, std::string* error);
std::string format_time_of_day(TimeOfDay t);  ///< "HH:MM:SS", 86400 -> "24:00:00"

/// A set of weekdays, bit 0 = Monday.
struct WeekDays {
  uint8_t mask = 0x7f;
  bool has(int weekday) const { return (mask >> weekday) & 1; }
  bool operator==(const WeekDays&) const = default;
};
/// One item: "mon", "monday", a range "mon-fri" / "fri-mon" (wraps), or "all".
/// Case-insensitive, no surrounding whitespace; "mon-mon" is just Monday.
std::optional<WeekDays> parse_weekdays_item(std::string_view text, std::string* error);
/// A comma-separated list of items ("mon,wed-fri"), their union. Items may be
/// surrounded by spaces; empty items are errors.
std::optional<WeekDays> parse_weekdays_list(std::string_view text, std::string* error);
/// "mon,wed-fri" or "all"; runs of 3+ days become ranges (never wrapping), an
/// empty set is "". Every comma-separated part parses back with parse_weekdays_item.
std::string format_weekdays(WeekDays d);

/// A daily window [start, stop) on the given weekdays. stop < start is an
/// overnight window: it opens on a listed day at start and closes at stop the
/// next morning. Missing start = 00:00:00, missing stop = end of day.
/// start == stop is an empty window (never open); the config parser should reject it.
struct Schedule {
  std::optional<TimeOfDay> start;
  std::optional<TimeOfDay> stop;
  WeekDays week_days;
};

/// True when local time `t` lies inside the window.
bool schedule_contains(const Schedule& s, const LocalDateTime& t);

/// The first local second strictly after `t` at which schedule_contains changes
/// value (an open window closes or a closed one opens); nullopt when it never
/// changes (always open, or never open).
std::optional<LocalDateTime> schedule_next_change(const Schedule& s, const LocalDateTime& t);

}  // namespace procman::core
