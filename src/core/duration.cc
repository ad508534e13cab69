// Parsing and printing config-file durations ("1h30m", "500ms").
#include "core/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace procman::core {

namespace {

struct Unit {
  std::string_view name;
  int64_t millis;
};

// Largest first: format_duration relies on this order.
constexpr std::array<Unit, 5> kUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

constexpr std::string_view kUnitHint = " (use ms, s, m, h or d)";

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::optional<Duration> fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

std::string quoted(std::string_view text) {
  std::string out = "'";
  out += text;
  out += '\'';
  return out;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text, std::string* error) {
  const std::string in_text = " in duration " + quoted(text);
  if (text.empty()) return fail(error, "empty duration (write e.g. 500ms, 3s or 1h30m)");
  if (text == "0") return Duration::zero();
  if (text.front() == '-')
    return fail(error, "negative duration " + quoted(text) + " is not allowed");
  for (char c : text) {
    if (is_space(c)) return fail(error, "whitespace is not allowed" + in_text);
  }

  const int64_t max_ms = kMaxDuration.count();
  int64_t total = 0;
  std::array<bool, kUnits.size()> seen{};
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t number_start = i;
    int64_t value = 0;
    bool too_big = false;
    while (i < text.size() && is_digit(text[i])) {
      const int digit = text[i] - '0';
      if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) {
        too_big = true;
      } else {
        value = value * 10 + digit;
      }
      ++i;
    }
    const std::string_view number = text.substr(number_start, i - number_start);
    if (number.empty()) {
      if (is_letter(text[i])) {
        std::size_t end = i;
        while (end < text.size() && is_letter(text[end])) ++end;
        return fail(error,
                    "missing number before unit " + quoted(text.substr(i, end - i)) + in_text);
      }
      return fail(error, "unexpected character " + quoted(text.substr(i, 1)) + in_text);
    }
    if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
      return fail(error, "fractions are not allowed" + in_text + " (write e.g. 1s500ms)");
    }
    const std::size_t unit_start = i;
    while (i < text.size() && is_letter(text[i])) ++i;
    const std::string_view unit_name = text.substr(unit_start, i - unit_start);
    if (unit_name.empty()) {
      if (i == text.size()) {
        return fail(error,
                    "missing unit after " + quoted(number) + in_text + std::string(kUnitHint));
      }
      return fail(error, "unexpected character " + quoted(text.substr(i, 1)) + in_text);
    }
    std::size_t unit_index = kUnits.size();
    for (std::size_t u = 0; u < kUnits.size(); ++u) {
      if (kUnits[u].name == unit_name) unit_index = u;
    }
    if (unit_index == kUnits.size()) {
      return fail(error, "unknown unit " + quoted(unit_name) + in_text + std::string(kUnitHint));
    }
    if (seen[unit_index]) {
      return fail(error, "unit " + quoted(unit_name) + " appears twice" + in_text);
    }
    seen[unit_index] = true;
    const int64_t factor = kUnits[unit_index].millis;
    if (too_big || value > (max_ms - total) / factor) {
      return fail(error, "duration " + quoted(text) + " is too large (the maximum is " +
                             format_duration(kMaxDuration) + ")");
    }
    total += value * factor;
  }
  return Duration(total);
}

std::string format_duration(Duration d) {
  std::string out;
  int64_t count = d.count();
  uint64_t rest = 0;
  if (count < 0) {
    out += '-';
    // Negate in unsigned arithmetic so that the minimum value does not overflow.
    rest = 0 - static_cast<uint64_t>(count);
  } else {
    rest = static_cast<uint64_t>(count);
  }
  if (rest == 0) return out + "0s";
  for (const Unit& unit : kUnits) {
    const auto factor = static_cast<uint64_t>(unit.millis);
    if (rest >= factor) {
      out += std::to_string(rest / factor);
      out += unit.name;
      rest %= factor;
    }
  }
  return out;
}

}  // namespace procman::core
