// Cron expressions (herolib): 5 fields "min hour dom month dow" with lists,
// ranges, steps and names, plus @yearly @annually @monthly @weekly @daily
// @midnight @hourly.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "core/calendar.h"

namespace procman::core {

struct CronSpec {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  ///< bits 1..31
  std::bitset<13> months;         ///< bits 1..12
  std::bitset<7> days_of_week;    ///< bit 0 = Sunday, as cron counts (7 also means Sunday)
  /// Field 3 did not start with '*' (as in Vixie cron, "*/2" counts as unrestricted).
  /// With dow also restricted, a day matches when either matches; otherwise both must.
  bool dom_restricted = false;
  bool dow_restricted = false;  ///< field 5 did not start with '*'
  bool operator==(const CronSpec&) const = default;
};

/// Fields are separated by spaces or tabs; surrounding blanks are ignored. Each
/// field is a comma list of items: "*", "N", "A-B", "*/S", "A-B/S" or "A/S" (= A-max/S).
/// Months accept jan..dec, weekdays sun..sat (case-insensitive, also inside
/// ranges; "fri-sun" runs to 7); weekday 7 is Sunday. Macros are case-insensitive.
/// Errors name the field: "cron field 2 (hour): 24 is out of range 0-23".
/// *error may be null.
std::optional<CronSpec> parse_cron(std::string_view text, std::string* error);

/// The first local minute strictly after `after` that matches, searching up to
/// 5 years ahead (nullopt for an impossible spec such as "0 0 30 2 *").
/// Seconds of `after` are ignored; the result has second 0. The search jumps
/// month, day and hour at a time, so it is cheap even for sparse specs.
std::optional<LocalDateTime> cron_next(const CronSpec& spec, const LocalDateTime& after);

}  // namespace procman::core
