// Durations as written in config files: "500ms", "3s", "10m", "1h", "1h30m".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace procman::core {

using Duration = std::chrono::milliseconds;

/// The largest duration parse_duration accepts (36500d, about a century). Larger values are
/// rejected so that adding any configured duration to a nanosecond clock cannot overflow.
inline constexpr Duration kMaxDuration = std::chrono::hours(24 * 36500);

/// Parses a sequence of <integer><unit> groups (units: ms, s, m, h, d), e.g. "1m30s".
/// A bare "0" is accepted; groups may come in any order but each unit at most once. No sign,
/// whitespace or fractions. Returns nullopt and sets *error (when non-null) on failure.
std::optional<Duration> parse_duration(std::string_view text, std::string* error);

/// The shortest exact spelling: 90000ms -> "1m30s", 1500ms -> "1s500ms", 0 -> "0s".
/// Largest units first, zero groups omitted; negative values get a leading '-'.
/// parse_duration(format_duration(d)) == d for every 0 <= d <= kMaxDuration.
std::string format_duration(Duration d);

}  // namespace procman::core
