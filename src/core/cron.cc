// Parsing cron expressions and finding their next firing time.
#include "core/cron.h"

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/suggest.h"

namespace procman::core {

namespace {

struct FieldInfo {
  const char* name;
  int min;
  int max;
  const std::string_view* names;  // names[i] means min + i; null when the field has none
  std::size_t name_count;
};

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"sun", "mon", "tue", "wed",
                                                           "thu", "fri", "sat"};

constexpr std::array<FieldInfo, 5> kFields = {{
    {"minute", 0, 59, nullptr, 0},
    {"hour", 0, 23, nullptr, 0},
    {"day-of-month", 1, 31, nullptr, 0},
    {"month", 1, 12, kMonthNames.data(), kMonthNames.size()},
    {"day-of-week", 0, 7, kWeekdayNames.data(), kWeekdayNames.size()},
}};

constexpr int kDayOfWeekField = 4;

struct Macro {
  std::string_view name;
  std::string_view expansion;
};
constexpr std::array<Macro, 7> kMacros = {{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string quoted(std::string_view text) {
  std::string out = "'";
  out += text;
  out += '\'';
  return out;
}

std::vector<std::string_view> split_blanks(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i])) ++i;
    const std::size_t begin = i;
    while (i < text.size() && !is_blank(text[i])) ++i;
    if (i > begin) parts.push_back(text.substr(begin, i - begin));
  }
  return parts;
}

// Parses one field; bit v of the result is set when value v is selected.
class FieldParser {
 public:
  FieldParser(int index, std::string* error)
      : index_(index), info_(kFields[index]), error_(error) {}

  std::optional<uint64_t> parse(std::string_view field) {
    uint64_t bits = 0;
    std::size_t begin = 0;
    while (true) {
      const std::size_t comma = field.find(',', begin);
      const std::string_view item =
          field.substr(begin, comma == std::string_view::npos ? field.npos : comma - begin);
      if (item.empty()) return fail("empty item in list " + quoted(field));
      const auto item_bits = parse_item(item);
      if (!item_bits) return std::nullopt;
      bits |= *item_bits;
      if (comma == std::string_view::npos) break;
      begin = comma + 1;
    }
    return bits;
  }

 private:
  std::optional<uint64_t> fail(const std::string& message) {
    if (error_ != nullptr) {
      *error_ = "cron field " + std::to_string(index_ + 1) + " (" + info_.name + "): " + message;
    }
    return std::nullopt;
  }

  // A number or (for month and weekday) a name, within the field's range.
  std::optional<int> parse_value(std::string_view text) {
    if (text.empty()) {
      fail("missing value");
      return std::nullopt;
    }
    if (is_digit(text[0])) {
      int value = 0;
      for (char c : text) {
        if (!is_digit(c)) {
          fail(quoted(text) + " is not a number");
          return std::nullopt;
        }
        value = value > 1000 ? value : value * 10 + (c - '0');  // saturate: only range matters
      }
      if (value < info_.min || value > info_.max) {
        fail(std::string(text) + " is out of range " + std::to_string(info_.min) + "-" +
             std::to_string(info_.max));
        return std::nullopt;
      }
      return value;
    }
    if (info_.names != nullptr) {
      const std::string lower = to_lower(text);
      std::vector<std::string> candidates;
      for (std::size_t i = 0; i < info_.name_count; ++i) {
        if (info_.names[i] == lower) return info_.min + static_cast<int>(i);
        candidates.emplace_back(info_.names[i]);
      }
      std::string message = "unknown ";
      message += index_ == kDayOfWeekField ? "weekday" : "month";
      message += " name " + quoted(text);
      if (auto guess = closest_match(text, candidates)) {
        message += " (did you mean " + quoted(*guess) + "?)";
      }
      fail(message);
      return std::nullopt;
    }
    fail(quoted(text) + " is not a number");
    return std::nullopt;
  }

  // "*", "A-B" or "A"; a lone A followed by a step runs to the end of the field.
  std::optional<std::pair<int, int>> parse_range(std::string_view base, bool has_step) {
    // In day-of-week, 7 only repeats Sunday: open-ended forms stop at 6.
    const int open_max = index_ == kDayOfWeekField ? 6 : info_.max;
    if (base == "*") return std::pair{info_.min, open_max};
    const std::size_t dash = base.find('-');
    if (dash == std::string_view::npos) {
      const auto value = parse_value(base);
      if (!value) return std::nullopt;
      return std::pair{*value, has_step ? open_max : *value};
    }
    const std::string_view a = base.substr(0, dash);
    const std::string_view b = base.substr(dash + 1);
    if (a.empty() || b.empty()) {
      fail("incomplete range " + quoted(base));
      return std::nullopt;
    }
    const auto lo = parse_value(a);
    if (!lo) return std::nullopt;
    auto hi = parse_value(b);
    if (!hi) return std::nullopt;
    // "fri-sun": Sunday closes a weekday range as 7.
    if (index_ == kDayOfWeekField && *hi == 0 && *lo > 0) hi = 7;
    if (*lo > *hi) {
      fail("range " + quoted(base) + " is backwards (the first value must not exceed the second)");
      return std::nullopt;
    }
    return std::pair{*lo, *hi};
  }

  std::optional<uint64_t> parse_item(std::string_view item) {
    std::string_view base = item;
    int step = 1;
    bool has_step = false;
    if (const std::size_t slash = item.find('/'); slash != std::string_view::npos) {
      base = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      if (step_text.empty()) return fail("missing step after '/' in " + quoted(item));
      int value = 0;
      for (char c : step_text) {
        if (!is_digit(c)) return fail("step " + quoted(step_text) + " is not a number");
        value = value > 1000 ? value : value * 10 + (c - '0');
      }
      if (value == 0) return fail("step 0 is not allowed in " + quoted(item));
      step = value;
      has_step = true;
      if (base.empty()) return fail("missing range before '/' in " + quoted(item));
    }
    const auto range = parse_range(base, has_step);
    if (!range) return std::nullopt;
    const auto [first, last] = *range;
    uint64_t bits = 0;
    for (int v = first; v <= last; v += step) bits |= uint64_t{1} << v;
    return bits;
  }

  int index_;
  const FieldInfo& info_;
  std::string* error_;
};

std::optional<CronSpec> parse_fields(std::string_view text, std::string* error) {
  const std::vector<std::string_view> fields = split_blanks(text);
  if (fields.size() != 5) {
    if (error != nullptr) {
      *error = "cron expression needs 5 fields, got " + std::to_string(fields.size());
    }
    return std::nullopt;
  }
  std::array<uint64_t, 5> bits{};
  for (int i = 0; i < 5; ++i) {
    FieldParser parser(i, error);
    const auto field_bits = parser.parse(fields[static_cast<std::size_t>(i)]);
    if (!field_bits) return std::nullopt;
    bits[static_cast<std::size_t>(i)] = *field_bits;
  }
  CronSpec spec;
  spec.minutes = std::bitset<60>(bits[0]);
  spec.hours = std::bitset<24>(bits[1]);
  spec.days_of_month = std::bitset<32>(bits[2]);
  spec.months = std::bitset<13>(bits[3]);
  // Weekday 7 is another name for Sunday (bit 0).
  spec.days_of_week = std::bitset<7>((bits[4] | (bits[4] >> 7)) & 0x7f);
  spec.dom_restricted = fields[2].front() != '*';
  spec.dow_restricted = fields[4].front() != '*';
  return spec;
}

bool day_matches(const CronSpec& spec, int year, int month, int day) {
  const bool dom = spec.days_of_month.test(static_cast<std::size_t>(day));
  // weekday_of counts from Monday = 0; cron counts from Sunday = 0.
  const auto sunday_based = static_cast<std::size_t>((weekday_of(year, month, day) + 1) % 7);
  const bool dow = spec.days_of_week.test(sunday_based);
  if (spec.dom_restricted && spec.dow_restricted) return dom || dow;
  return dom && dow;
}

}  // namespace

std::optional<CronSpec> parse_cron(std::string_view text, std::string* error) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  if (text.empty()) {
    if (error != nullptr) *error = "empty cron expression";
    return std::nullopt;
  }
  if (text.front() != '@') return parse_fields(text, error);

  const std::vector<std::string_view> parts = split_blanks(text);
  const std::string name = to_lower(parts.front());
  for (const Macro& macro : kMacros) {
    if (macro.name != name) continue;
    if (parts.size() > 1) {
      if (error != nullptr) {
        *error = "cron macro " + quoted(parts.front()) + " takes no fields, got " + quoted(text);
      }
      return std::nullopt;
    }
    return parse_fields(macro.expansion, error);
  }
  if (error != nullptr) {
    if (name == "@reboot") {
      *error = "cron macro '@reboot' is not supported (a one-shot process starts at boot)";
    } else {
      std::vector<std::string> names;
      for (const Macro& macro : kMacros) names.emplace_back(macro.name);
      *error = "unknown cron macro " + quoted(parts.front());
      if (auto guess = closest_match(name, names)) {
        *error += " (did you mean " + quoted(*guess) + "?)";
      } else {
        *error += " (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)";
      }
    }
  }
  return std::nullopt;
}

std::optional<LocalDateTime> cron_next(const CronSpec& spec, const LocalDateTime& after) {
  LocalDateTime t = after;
  t.second = 0;
  t = add_seconds(t, 60);
  const int last_year = after.year + 5;
  while (t.year <= last_year) {
    if (!spec.months.test(static_cast<std::size_t>(t.month))) {
      // First minute of the next month.
      t = LocalDateTime{
          t.month == 12 ? t.year + 1 : t.year, t.month == 12 ? 1 : t.month + 1, 1, 0, 0, 0};
      continue;
    }
    if (!day_matches(spec, t.year, t.month, t.day)) {
      t = add_seconds(LocalDateTime{t.year, t.month, t.day, 0, 0, 0}, kSecondsPerDay);
      continue;
    }
    if (!spec.hours.test(static_cast<std::size_t>(t.hour))) {
      t = add_seconds(LocalDateTime{t.year, t.month, t.day, t.hour, 0, 0}, 3600);
      continue;
    }
    int minute = t.minute;
    while (minute < 60 && !spec.minutes.test(static_cast<std::size_t>(minute))) ++minute;
    if (minute == 60) {
      t = add_seconds(LocalDateTime{t.year, t.month, t.day, t.hour, 0, 0}, 3600);
      continue;
    }
    t.minute = minute;
    return t;
  }
  return std::nullopt;
}

}  // namespace procman::core
