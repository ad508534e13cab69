// Parsers of individual [[process]] values (see config_values.h). Each checks
// its value strictly and reports every problem through its Scope.
#include "core/config_values.h"

#include "core/notify.h"
#include "core/socket_spec.h"
#include "core/targets.h"

#include "core/names.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <limits>
#include <regex>
#include <set>
#include <string_view>
#include <utility>

#include "core/command_line.h"

namespace procman::core::config_detail {

namespace {

constexpr Duration kHealthTimeout = std::chrono::seconds(5);
constexpr Duration kInactiveTime = std::chrono::seconds(300);
constexpr int kEndOfDay = 24 * 3600;
constexpr uint64_t kInfinity = std::numeric_limits<uint64_t>::max();

// In the order of their enums (CommandType, DepCondition): an index is the value.
const Strings kCommandTypes = {"simple", "expression", "pid-file", "podman-cid"};
const Strings kConditions = {"started", "running", "completed", "completed-successfully"};

}  // namespace

std::optional<int> parse_signal(Scope& s, const toml::node& n) {
  if (n.is_integer()) {
    auto v = want_int(s, n, "stop-signal", 1, 64);
    if (!v) return std::nullopt;
    return static_cast<int>(*v);
  }
  const auto* str = n.as_string();
  if (str == nullptr) {
    s.error(n, fmt::format("'stop-signal' must be a signal name such as \"TERM\" or a number, "
                           "not {}",
                           type_name(n)));
    return std::nullopt;
  }
  std::string name = str->get();
  for (char& c : name) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
  Strings names;
  for (const auto& [known, number] : signal_table()) {
    if (known == name) return number;
    names.push_back(known);
  }
  s.error(n, fmt::format("unknown signal '{}'{}", str->get(), suggestion(name, names)));
  return std::nullopt;
}

namespace {

const std::vector<std::pair<std::string, int>>& rlimit_table() {
  static const std::vector<std::pair<std::string, int>> table = {
      {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
      {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
      {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
      {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
      {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
      {"stack", RLIMIT_STACK},
  };
  return table;
}

std::optional<uint64_t> limit_value(Scope& s, const toml::node& n, const std::string& name) {
  if (const auto* i = n.as_integer()) {
    if (i->get() < 0) {
      s.error(n, fmt::format("'{}' must be >= 0, not {}", name, i->get()));
      return std::nullopt;
    }
    return static_cast<uint64_t>(i->get());
  }
  if (const auto* str = n.as_string()) {
    if (str->get() == "infinity" || str->get() == "unlimited") return kInfinity;
    s.error(n, fmt::format("'{}' must be an integer or \"infinity\", not '{}'", name, str->get()));
    return std::nullopt;
  }
  s.error(n, fmt::format("'{}' must be an integer, \"infinity\" or [soft, hard], not {}", name,
                         type_name(n)));
  return std::nullopt;
}

}  // namespace

std::vector<Limit> parse_limits(Scope& s, const toml::node& n) {
  std::vector<Limit> out;
  const toml::table* t = want_table(s, n, "limits", "a table such as { nofile = 4096 }");
  if (t == nullptr) return out;
  Strings names;
  for (const auto& [name, number] : rlimit_table()) names.push_back(name);
  for (const auto& [k, v] : *t) {
    const std::string key(k.str());
    auto it = std::find_if(rlimit_table().begin(), rlimit_table().end(),
                           [&](const auto& e) { return e.first == key; });
    if (it == rlimit_table().end()) {
      s.error_at_key(k, v, fmt::format("unknown limit 'limits.{}'{}", key, suggestion(key, names)));
      continue;
    }
    const std::string full = "limits." + key;
    Limit limit{it->second, key, 0, 0};
    if (const auto* pair = v.as_array()) {
      if (pair->size() != 2) {
        s.error(v, fmt::format("'{}' must be [soft, hard], not {} values", full, pair->size()));
        continue;
      }
      auto soft = limit_value(s, *pair->get(0), full + " (soft)");
      auto hard = limit_value(s, *pair->get(1), full + " (hard)");
      if (!soft || !hard) continue;
      if (*soft > *hard) {
        s.error(v, fmt::format("'{}': the soft limit must not exceed the hard limit", full));
        continue;
      }
      limit.soft = *soft;
      limit.hard = *hard;
    } else {
      auto both = limit_value(s, v, full);
      if (!both) continue;
      limit.soft = limit.hard = *both;
    }
    out.push_back(std::move(limit));
  }
  return out;
}

std::optional<IoNice> parse_ionice(Scope& s, const toml::node& n) {
  if (n.is_integer()) {
    auto level = want_int(s, n, "ionice", 0, 7);
    if (!level) return std::nullopt;
    return IoNice{2, static_cast<int>(*level)};
  }
  const auto* str = n.as_string();
  if (str == nullptr) {
    s.error(n, fmt::format("'ionice' must be a string such as \"best-effort:4\" or a level 0..7, "
                           "not {}",
                           type_name(n)));
    return std::nullopt;
  }
  const std::string& text = str->get();
  const std::size_t colon = text.find(':');
  const std::string cls = text.substr(0, colon);
  IoNice out;
  if (cls == "idle") {
    out.io_class = 3;
  } else if (cls == "best-effort") {
    out.io_class = 2;
  } else if (cls == "realtime") {
    out.io_class = 1;
  } else {
    std::string hint = suggestion(cls, {"idle", "best-effort", "realtime"});
    if (hint.empty()) hint = " (expected idle, best-effort[:N] or realtime[:N])";
    s.error(n, fmt::format("unknown ionice class '{}'{}", cls, hint));
    return std::nullopt;
  }
  if (colon != std::string::npos) {
    const std::string level = text.substr(colon + 1);
    if (out.io_class == 3) {
      s.error(n, "'ionice' class idle takes no level");
      return std::nullopt;
    }
    if (level.size() != 1 || level[0] < '0' || level[0] > '7') {
      s.error(n, fmt::format("'ionice' level must be 0..7, not '{}'", level));
      return std::nullopt;
    }
    out.level = level[0] - '0';
  }
  return out;
}

std::optional<unsigned> parse_umask(Scope& s, const toml::node& n) {
  unsigned value = 0;
  if (const auto* i = n.as_integer()) {
    // A decimal 22 would silently mean 0o026: insist on the octal spelling.
    if (i->get() != 0 &&
        (i->flags() & toml::value_flags::format_as_octal) == toml::value_flags::none) {
      s.error(n, fmt::format("'umask' must be an octal integer such as 0o022 or a string such "
                             "as \"022\", not the decimal integer {}",
                             i->get()));
      return std::nullopt;
    }
    if (i->get() < 0 || i->get() > 0777) {
      s.error(n, fmt::format("'umask' must be at most 0o777, not 0o{:o}", i->get()));
      return std::nullopt;
    }
    value = static_cast<unsigned>(i->get());
  } else if (const auto* str = n.as_string()) {
    const std::string& text = str->get();
    if (text.empty() || text.size() > 4 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; })) {
      s.error(n, fmt::format("'umask' must be octal digits such as \"022\", not '{}'", text));
      return std::nullopt;
    }
    value = static_cast<unsigned>(std::stoul(text, nullptr, 8));
    if (value > 0777) {
      s.error(n, fmt::format("'umask' must be at most 0777, not '{}'", text));
      return std::nullopt;
    }
  } else {
    s.error(n, fmt::format("'umask' must be a string such as \"022\" or an octal integer, not {}",
                           type_name(n)));
    return std::nullopt;
  }
  return value;
}

// ---------------------------------------------------------------------------
// Commands, hooks, health checks, schedules

std::optional<Command> parse_command(Scope& s, const toml::node& n) {
  Command cmd;
  cmd.pos = pos_of(n.source());
  const toml::node* line_node = &n;
  if (const auto* t = n.as_table()) {
    s.check_keys(*t, {"line", "type"}, "in 'command' of " + s.label());
    line_node = t->get("line");
    if (line_node == nullptr) {
      s.error(n, "'command' table needs a 'line'");
      return std::nullopt;
    }
    if (const toml::node* type = t->get("type")) {
      const auto* name = type->as_string();
      if (name != nullptr && name->get() == "normal") {
        cmd.type = CommandType::Simple;  // jleahred/procman's README spells simple this way
      } else if (auto i = want_choice(s, *type, "command.type", kCommandTypes, "command type")) {
        cmd.type = static_cast<CommandType>(*i);
      } else {
        return std::nullopt;
      }
    }
  } else if (!n.is_string()) {
    s.error(n, fmt::format("'command' must be a string or a table {{ line, type }}, not {}",
                           type_name(n)));
    return std::nullopt;
  }
  const std::string* line = want_text(s, *line_node, n.is_table() ? "command.line" : "command");
  if (line == nullptr) return std::nullopt;
  cmd.line = *line;
  if (cmd.type == CommandType::Simple) {
    std::string why;
    if (!split_words(cmd.line, &why)) {
      s.error(*line_node, "'command': " + why);
      return std::nullopt;
    }
    if (needs_shell(cmd.line)) {
      s.note(*line_node, "command contains shell syntax, it runs via /bin/sh -c");
    }
  }
  return cmd;
}

std::optional<Hook> parse_hook(Scope& s, const toml::node& n, const std::string& name,
                               Duration default_timeout) {
  Hook hook;
  hook.pos = pos_of(n.source());
  hook.timeout = default_timeout;
  if (n.is_string()) {
    const std::string* cmd = want_text(s, n, name);
    if (cmd == nullptr) return std::nullopt;
    hook.command = *cmd;
    return hook;
  }
  const toml::table* t = want_table(s, n, name, "a string or a table { command, timeout }");
  if (t == nullptr) return std::nullopt;
  s.check_keys(*t, {"command", "timeout"}, fmt::format("in '{}' of {}", name, s.label()));
  bool ok = true;
  if (const toml::node* c = t->get("command")) {
    const std::string* cmd = want_text(s, *c, name + ".command");
    if (cmd != nullptr) hook.command = *cmd;
    ok = cmd != nullptr;
  } else {
    s.error(n, fmt::format("'{}' needs a 'command'", name));
    ok = false;
  }
  if (const toml::node* timeout = t->get("timeout")) {
    auto d = want_duration(s, *timeout, name + ".timeout", true);
    if (d) hook.timeout = *d;
    ok = ok && d.has_value();
  }
  if (!ok) return std::nullopt;
  return hook;
}

namespace {

/// One kind of health check: its key and the options that belong to it.
struct CheckKind {
  std::string key;
  HealthCheck::Kind kind;
  std::string noun;  ///< "a command check"
  Strings keys;      ///< the kind key and its own options
};

const std::vector<CheckKind>& check_kinds() {
  static const std::vector<CheckKind> kinds = {
      {"command", HealthCheck::Kind::Command, "a command check", {"command", "timeout"}},
      {"folder", HealthCheck::Kind::Folder, "a folder check", {"folder", "inactive-time"}},
      {"http", HealthCheck::Kind::Http, "an http check", {"http", "status", "timeout"}},
      {"tcp", HealthCheck::Kind::Tcp, "a tcp check", {"tcp", "timeout"}},
      {"file", HealthCheck::Kind::File, "a file check", {"file"}},
  };
  return kinds;
}

// Options that belong to some kinds only; the rest apply to every kind.
const Strings kCheckKindOptions = {"timeout", "inactive-time", "status"};
// clang-format off
const Strings kCheckKeys = {
    "command", "timeout", "folder", "inactive-time", "http", "status", "tcp", "file",
    "initial-delay", "period", "success-threshold", "failure-threshold"};
// clang-format on
constexpr int64_t kMaxThreshold = 1'000'000;

bool contains(const Strings& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

/// A key outside `allowed` (reported by check_keys) may well be a misspelt
/// kind key, so "needs a kind" would only add noise.
bool has_unknown_key(const toml::table& t, const Strings& allowed) {
  return std::any_of(t.begin(), t.end(), [&](const auto& kv) {
    return !contains(allowed, std::string(kv.first.str()));
  });
}

/// "a", "a or b", "a, b or c" (`last` between the last two).
std::string join(const Strings& items, const std::string& last) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " " + last + " " : ", ";
    out += items[i];
  }
  return out;
}

Strings quoted(const Strings& items) {
  Strings out;
  for (const auto& i : items) out.push_back("'" + i + "'");
  return out;
}

/// The kinds `option` belongs to, as "a command, http or tcp check".
std::string kinds_taking(const std::string& option) {
  Strings names;
  std::string article;
  for (const CheckKind& k : check_kinds()) {
    if (!contains(k.keys, option)) continue;
    if (article.empty()) article = k.noun.substr(0, k.noun.find(' '));
    names.push_back(k.key);
  }
  return article + " " + join(names, "or") + " check";
}

/// initial-delay, period and the thresholds, which every kind takes.
bool parse_check_schedule(Scope& s, const toml::table& t, const std::string& name,
                          HealthCheck& hc) {
  bool ok = true;
  if (const toml::node* v = t.get("initial-delay")) {
    auto d = want_duration(s, *v, name + ".initial-delay", false);
    if (d) hc.initial_delay = *d;
    ok = d.has_value();
  }
  if (const toml::node* v = t.get("period")) {
    auto d = want_duration(s, *v, name + ".period", true);
    if (d) hc.period = *d;
    ok = ok && d.has_value();
  }
  if (const toml::node* v = t.get("success-threshold")) {
    auto i = want_int(s, *v, name + ".success-threshold", 1, kMaxThreshold);
    if (i) hc.success_threshold = static_cast<unsigned>(*i);
    ok = ok && i.has_value();
  }
  if (const toml::node* v = t.get("failure-threshold")) {
    auto i = want_int(s, *v, name + ".failure-threshold", 1, kMaxThreshold);
    if (i) hc.failure_threshold = static_cast<unsigned>(*i);
    ok = ok && i.has_value();
  }
  return ok;
}

}  // namespace

std::optional<HealthCheck> parse_health_check(Scope& s, const toml::node& n,
                                              const std::string& name,
                                              const std::string& config_dir) {
  HealthCheck hc;
  hc.pos = pos_of(n.source());
  hc.timeout = kHealthTimeout;
  hc.inactive_time = kInactiveTime;
  if (n.is_string()) {
    const std::string* cmd = want_text(s, n, name);
    if (cmd == nullptr) return std::nullopt;
    hc.command = *cmd;
    return hc;
  }
  const toml::table* t = want_table(
      s, n, name, "a command string or a table with one of command, folder, http, tcp or file");
  if (t == nullptr) return std::nullopt;
  s.check_keys(*t, kCheckKeys, fmt::format("in '{}' of {}", name, s.label()));

  std::vector<const CheckKind*> present;
  for (const CheckKind& k : check_kinds()) {
    if (t->get(k.key) != nullptr) present.push_back(&k);
  }
  if (present.size() > 1) {
    Strings parts;
    for (const CheckKind* k : present) {
      std::string keys;
      for (const auto& key : k->keys) keys += (keys.empty() ? "" : ", ") + key;
      parts.push_back(fmt::format("{} ({})", k->noun, keys));
    }
    std::string text = parts[0] + " with " + parts[1];
    for (std::size_t i = 2; i < parts.size(); ++i) {
      text += (i + 1 == parts.size() ? " and " : ", ") + parts[i];
    }
    s.error(n, fmt::format("'{}' mixes {}; use one", name, text));
    return std::nullopt;
  }
  if (present.empty()) {
    if (has_unknown_key(*t, kCheckKeys)) return std::nullopt;
    // Options of one kind only name what is missing; otherwise list every kind.
    std::vector<const CheckKind*> fitting;
    bool has_option = false;
    for (const CheckKind& k : check_kinds()) {
      bool fits = true;
      for (const std::string& option : kCheckKindOptions) {
        if (t->get(option) == nullptr) continue;
        has_option = true;
        fits = fits && contains(k.keys, option);
      }
      if (fits) fitting.push_back(&k);
    }
    if (has_option && fitting.size() == 1) {
      const std::string& noun = fitting[0]->noun;
      s.error(n, fmt::format("'{}' needs {} '{}'", name, noun.substr(0, noun.find(' ')),
                             fitting[0]->key));
    } else {
      Strings keys;
      for (const CheckKind& k : check_kinds()) keys.push_back(k.key);
      s.error(n, fmt::format("'{}' needs one of {}", name, join(quoted(keys), "or")));
    }
    return std::nullopt;
  }

  const CheckKind& kind = *present[0];
  hc.kind = kind.kind;
  bool ok = true;
  for (const auto& [k, v] : *t) {
    const std::string key(k.str());
    if (!contains(kCheckKindOptions, key) || contains(kind.keys, key)) continue;
    s.error_at_key(k, v,
                   fmt::format("'{}.{}' does not apply to {} (only to {})", name, key, kind.noun,
                               kinds_taking(key)));
    ok = false;
  }

  const std::string full = name + "." + kind.key;
  const toml::node& value = *t->get(kind.key);
  const std::string* text = want_text(s, value, full);
  if (text == nullptr) {
    ok = false;
  } else {
    switch (kind.kind) {
      case HealthCheck::Kind::Command:
        hc.command = *text;
        break;
      case HealthCheck::Kind::Folder:
        hc.folder = resolve_path(config_dir, *text);
        break;
      case HealthCheck::Kind::Http:
        if (std::string why = url_problem(*text); !why.empty()) {
          s.error(value, fmt::format("'{}' {}", full, why));
          ok = false;
        }
        hc.url = *text;
        break;
      case HealthCheck::Kind::Tcp:
        if (std::string why = split_host_port(*text, &hc.host, &hc.port); !why.empty()) {
          s.error(value, fmt::format("'{}': {}", full, why));
          ok = false;
        }
        break;
      case HealthCheck::Kind::File:
        hc.path = resolve_path(config_dir, *text);
        break;
    }
  }
  if (const toml::node* v = t->get("status"); v != nullptr && contains(kind.keys, "status")) {
    auto code = want_int(s, *v, name + ".status", 100, 599);
    if (code) hc.expect_status = static_cast<int>(*code);
    ok = ok && code.has_value();
  }
  if (const toml::node* v = t->get("timeout"); v != nullptr && contains(kind.keys, "timeout")) {
    auto d = want_duration(s, *v, name + ".timeout", true);
    if (d) hc.timeout = *d;
    ok = ok && d.has_value();
  }
  if (const toml::node* v = t->get("inactive-time");
      v != nullptr && contains(kind.keys, "inactive-time")) {
    auto d = want_duration(s, *v, name + ".inactive-time", true);
    if (d) hc.inactive_time = *d;
    ok = ok && d.has_value();
  }
  ok = parse_check_schedule(s, *t, name, hc) && ok;
  if (!ok) return std::nullopt;
  return hc;
}

namespace {

std::optional<TimeOfDay> time_value(Scope& s, const toml::node& n, const std::string& name) {
  if (const auto* t = n.as_time()) {
    const toml::time& v = t->get();
    return TimeOfDay{v.hour * 3600 + v.minute * 60 + v.second};
  }
  const std::string* text = n.as_string() != nullptr ? &n.as_string()->get() : nullptr;
  if (text == nullptr) {
    s.error(n, fmt::format("'{}' must be a time string such as \"08:00:00\", not {}", name,
                           type_name(n)));
    return std::nullopt;
  }
  std::string why;
  auto t = parse_time_of_day(*text, &why);
  if (!t) s.error(n, fmt::format("'{}': {}", name, why));
  return t;
}

}  // namespace

std::optional<Schedule> parse_schedule(Scope& s, const toml::node& n) {
  const toml::table* t =
      want_table(s, n, "schedule", "a table { start-time, stop-time, week-days }");
  if (t == nullptr) return std::nullopt;
  s.check_keys(*t, {"start-time", "stop-time", "week-days"}, "in 'schedule' of " + s.label());
  Schedule out;
  bool ok = true;
  const toml::node* start = t->get("start-time");
  const toml::node* stop = t->get("stop-time");
  if (start != nullptr) {
    out.start = time_value(s, *start, "schedule.start-time");
    if (out.start && out.start->seconds >= kEndOfDay) {
      s.error(*start, "'schedule.start-time' must be before 24:00:00");
      out.start.reset();
    }
    ok = ok && out.start.has_value();
  }
  if (stop != nullptr) {
    out.stop = time_value(s, *stop, "schedule.stop-time");
    ok = ok && out.stop.has_value();
  }
  if (const toml::node* days = t->get("week-days")) {
    std::vector<const toml::node*> items;
    if (const auto* arr = days->as_array()) {
      if (arr->empty()) {
        s.error(*days, "'schedule.week-days' is empty: the process would never run");
        ok = false;
      }
      for (const toml::node& item : *arr) items.push_back(&item);
    } else if (days->is_string()) {
      items.push_back(days);
    } else {
      s.error(*days, fmt::format("'schedule.week-days' must be a string such as \"mon-fri\" or an "
                                 "array of days, not {}",
                                 type_name(*days)));
      ok = false;
    }
    out.week_days.mask = 0;
    for (const toml::node* item : items) {
      const std::string* text = want_string(s, *item, "schedule.week-days");
      if (text == nullptr) {
        ok = false;
        continue;
      }
      std::string why;
      auto d = parse_weekdays_list(*text, &why);
      if (!d) {
        s.error(*item, "'schedule.week-days': " + why);
        ok = false;
        continue;
      }
      out.week_days.mask = static_cast<uint8_t>(out.week_days.mask | d->mask);
    }
  }
  if (!ok) return std::nullopt;
  const int from = out.start ? out.start->seconds : 0;
  const int to = out.stop ? out.stop->seconds : kEndOfDay;
  if (from == to) {
    s.error(stop != nullptr ? *stop : n,
            fmt::format("'schedule' window is empty: start-time and stop-time are both {}",
                        format_time_of_day(TimeOfDay{from})));
    return std::nullopt;
  }
  return out;
}

std::optional<LocalDateTime> parse_apply_on(Scope& s, const toml::node& n) {
  if (const auto* dt = n.as_date_time()) {
    const toml::date_time& v = dt->get();
    if (v.offset) {
      s.error(n,
              "'apply-on' must be a local date-time without a UTC offset, such as "
              "2024-10-01T12:00:00");
      return std::nullopt;
    }
    return LocalDateTime{v.date.year, v.date.month,  v.date.day,
                         v.time.hour, v.time.minute, v.time.second};
  }
  const auto* str = n.as_string();
  if (str == nullptr) {
    s.error(n, fmt::format("'apply-on' must be a date-time such as \"2024-10-01T12:00:00\", not {}",
                           type_name(n)));
    return std::nullopt;
  }
  std::string why;
  auto t = parse_local_datetime(str->get(), &why);
  if (!t) s.error(n, "'apply-on': " + why);
  return t;
}

namespace {

/// The key that picks the kind of a depends-on table.
struct DepKind {
  std::string key;
  Dependency::Kind kind;
};

const std::vector<DepKind>& dep_kinds() {
  static const std::vector<DepKind> kinds = {
      {"id", Dependency::Kind::Process},
      {"process-exited", Dependency::Kind::Process},
      {"url", Dependency::Kind::Url},
      {"tcp", Dependency::Kind::Tcp},
      {"path", Dependency::Kind::Path},
      {"not-listening", Dependency::Kind::NotListening},
      {"not-exists", Dependency::Kind::NotExists},
      {"not-running", Dependency::Kind::NotRunning},
  };
  return kinds;
}

// clang-format off
const Strings kDepKeys = {
    "id", "condition", "process-exited", "url", "code", "tcp", "path", "not-listening",
    "not-exists", "not-running", "poll-interval", "timeout", "retry"};
// clang-format on
const Strings kProbeOptions = {"poll-interval", "timeout", "retry"};
const Strings kProbeKeys = {"url", "tcp", "path", "not-listening", "not-exists", "not-running"};

/// Why `key` may not appear in a depends-on table of kind `kind_key`, or "".
std::string misplaced_dep_option(const std::string& key, const std::string& kind_key) {
  if (key == "condition" && kind_key != "id") {
    return kind_key == "process-exited"
               ? "'depends-on.condition' does not apply to process-exited (it always waits for "
                 "completed-successfully)"
               : fmt::format(
                     "'depends-on.condition' does not apply to a {} probe (only to an "
                     "'id' entry)",
                     kind_key);
  }
  if (key == "code" && kind_key != "url") {
    return fmt::format("'depends-on.code' does not apply to {} (only to a url probe)",
                       kind_key == "id" ? "an 'id' entry" : "a " + kind_key + " entry");
  }
  if (contains(kProbeOptions, key) && !contains(kProbeKeys, kind_key)) {
    return fmt::format("'depends-on.{}' does not apply to {} (only to the probes {})", key,
                       kind_key == "id" ? "an 'id' entry" : "a " + kind_key + " entry",
                       join(kProbeKeys, "and"));
  }
  return "";
}

/// The probe value of `dep` (kind key `key`) into dep.target; false after reporting.
bool parse_probe_target(Scope& s, const toml::node& value, const std::string& key,
                        const std::string& config_dir, Dependency& dep) {
  const std::string full = "depends-on." + key;
  const std::string* text = want_text(s, value, full);
  if (text == nullptr) return false;
  switch (dep.kind) {
    case Dependency::Kind::Url:
      if (std::string why = url_problem(*text); !why.empty()) {
        s.error(value, fmt::format("'{}' {}", full, why));
        return false;
      }
      dep.target = *text;
      return true;
    case Dependency::Kind::Tcp:
    case Dependency::Kind::NotListening: {
      std::string host;
      uint16_t port = 0;
      if (std::string why = split_host_port(*text, &host, &port); !why.empty()) {
        s.error(value, fmt::format("'{}': {}", full, why));
        return false;
      }
      dep.target = *text;
      return true;
    }
    case Dependency::Kind::Path:
    case Dependency::Kind::NotExists:
      dep.target = resolve_path(config_dir, *text);
      return true;
    case Dependency::Kind::NotRunning:
      try {
        std::regex check(*text, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        s.error(value, fmt::format("'{}' is not a valid regex: {}", full, e.what()));
        return false;
      }
      dep.target = *text;
      return true;
    case Dependency::Kind::Process:
      break;
  }
  return false;
}

/// A depends-on table; nullopt after reporting.
std::optional<Dependency> parse_dep_table(Scope& s, const toml::node& item, const toml::table& t,
                                          const std::string& config_dir) {
  s.check_keys(t, kDepKeys, "in 'depends-on' of " + s.label());
  std::vector<const DepKind*> present;
  for (const DepKind& k : dep_kinds()) {
    if (t.get(k.key) != nullptr) present.push_back(&k);
  }
  if (present.size() > 1) {
    Strings keys;
    for (const DepKind* k : present) keys.push_back(k->key);
    s.error(item, fmt::format("'depends-on' entry mixes {}; use one kind per entry",
                              join(quoted(keys), "and")));
    return std::nullopt;
  }
  if (present.empty()) {
    if (has_unknown_key(t, kDepKeys)) return std::nullopt;
    Strings probes = {"process-exited"};
    probes.insert(probes.end(), kProbeKeys.begin(), kProbeKeys.end());
    s.error(item, fmt::format("'depends-on' entry needs an 'id' or one of {}",
                              join(quoted(probes), "or")));
    return std::nullopt;
  }
  const DepKind& kind = *present[0];
  Dependency dep;
  dep.pos = pos_of(item.source());
  dep.kind = kind.kind;
  bool ok = true;
  for (const auto& [k, v] : t) {
    if (std::string why = misplaced_dep_option(std::string(k.str()), kind.key); !why.empty()) {
      s.error_at_key(k, v, why);
      ok = false;
    }
  }
  const toml::node& value = *t.get(kind.key);
  if (kind.key == "id") {
    if (const std::string* id = want_text(s, value, "depends-on")) {
      dep.id = *id;
    } else {
      ok = false;
    }
    if (const toml::node* c = t.get("condition")) {
      auto i = want_choice(s, *c, "depends-on.condition", kConditions, "dependency condition");
      if (i) dep.condition = static_cast<DepCondition>(*i);
      ok = ok && i.has_value();
    }
  } else if (kind.key == "process-exited") {
    if (const std::string* id = want_text(s, value, "depends-on.process-exited")) {
      dep.id = *id;
      dep.condition = DepCondition::CompletedSuccessfully;
    } else {
      ok = false;
    }
  } else {
    ok = parse_probe_target(s, value, kind.key, config_dir, dep) && ok;
    if (const toml::node* v = t.get("code"); v != nullptr && kind.key == "url") {
      auto code = want_int(s, *v, "depends-on.code", 100, 599);
      if (code) dep.expect_status = static_cast<int>(*code);
      ok = ok && code.has_value();
    }
    if (const toml::node* v = t.get("poll-interval")) {
      auto d = want_duration(s, *v, "depends-on.poll-interval", true);
      if (d) dep.poll_interval = *d;
      ok = ok && d.has_value();
    }
    if (const toml::node* v = t.get("timeout")) {
      auto d = want_duration(s, *v, "depends-on.timeout", false);
      if (d) dep.timeout = *d;
      ok = ok && d.has_value();
    }
    if (const toml::node* v = t.get("retry")) {
      auto r = want_bool(s, *v, "depends-on.retry");
      if (r) dep.retry = *r;
      ok = ok && r.has_value();
    }
  }
  if (!ok) return std::nullopt;
  return dep;
}

/// What makes two entries the same, as "depends on X twice" names it.
std::string dep_identity(const Dependency& d) {
  if (d.kind == Dependency::Kind::Process) return "'" + d.id + "'";
  for (const DepKind& k : dep_kinds()) {
    if (k.kind == d.kind) return fmt::format("{} '{}'", k.key, d.target);
  }
  return "'" + d.target + "'";
}

}  // namespace

std::vector<Dependency> parse_depends_on(Scope& s, const toml::node& n,
                                         const std::string& config_dir) {
  std::vector<Dependency> out;
  const auto* arr = n.as_array();
  if (arr == nullptr) {
    s.error(n, fmt::format("'depends-on' must be an array of ids, not {}", type_name(n)));
    return out;
  }
  std::set<std::string> seen;
  for (const toml::node& item : *arr) {
    std::optional<Dependency> dep;
    if (const auto* t = item.as_table()) {
      dep = parse_dep_table(s, item, *t, config_dir);
    } else if (item.is_string()) {
      if (const std::string* id = want_text(s, item, "depends-on")) {
        dep.emplace();
        dep->pos = pos_of(item.source());
        dep->id = *id;
      }
    } else {
      s.error(item, fmt::format("'depends-on' items must be ids (strings) or tables such as "
                                "{{ id, condition }} or {{ url }}, not {}",
                                type_name(item)));
    }
    if (!dep) continue;
    const std::string identity = dep_identity(*dep);
    if (!seen.insert(identity).second) {
      s.error(item, fmt::format("depends on {} twice", identity));
      continue;
    }
    out.push_back(std::move(*dep));
  }
  return out;
}

std::map<std::string, std::string> parse_string_map(Scope& s, const toml::node& n,
                                                    const std::string& name, bool env_names) {
  std::map<std::string, std::string> out;
  const toml::table* t = want_table(s, n, name, "a table of key = value");
  if (t == nullptr) return out;
  for (const auto& [k, v] : *t) {
    const std::string key(k.str());
    if (env_names) {
      const bool valid = !key.empty() && !(key[0] >= '0' && key[0] <= '9') &&
                         std::all_of(key.begin(), key.end(), [](char c) {
                           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                  (c >= '0' && c <= '9') || c == '_';
                         });
      if (!valid) {
        s.error_at_key(k, v,
                       fmt::format("invalid environment variable name '{}' (use letters, digits "
                                   "and '_', not starting with a digit)",
                                   key));
        continue;
      }
    }
    auto text = scalar_text(v, !env_names);
    if (!text) {
      s.error(v, fmt::format("'{}.{}' must be a string, number or boolean, not {}", name, key,
                             type_name(v)));
      continue;
    }
    out[key] = std::move(*text);
  }
  return out;
}

std::optional<Backoff> parse_restart_delay(Scope& s, const toml::node& n) {
  Backoff b;
  if (n.is_string()) {
    auto d = want_duration(s, n, "restart-delay", false);
    if (!d) return std::nullopt;
    b.initial = b.max = *d;
    b.multiplier = 1.0;
    return b;
  }
  const toml::table* t =
      want_table(s, n, "restart-delay",
                 "a duration string or a table { initial, multiplier, max, reset-after }");
  if (t == nullptr) return std::nullopt;
  s.check_keys(*t, {"initial", "multiplier", "max", "reset-after"},
               "in 'restart-delay' of " + s.label());
  bool ok = true;
  if (const toml::node* v = t->get("initial")) {
    auto d = want_duration(s, *v, "restart-delay.initial", false);
    if (d) b.initial = *d;
    ok = ok && d.has_value();
  }
  if (const toml::node* v = t->get("multiplier")) {
    std::optional<double> m;
    if (const auto* f = v->as_floating_point()) m = f->get();
    if (const auto* i = v->as_integer()) m = static_cast<double>(i->get());
    if (!m) {
      s.error(*v,
              fmt::format("'restart-delay.multiplier' must be a number, not {}", type_name(*v)));
      ok = false;
    } else if (!(*m >= 1.0) || *m > 1000.0) {
      s.error(*v,
              fmt::format("'restart-delay.multiplier' must be between 1.0 and 1000, not {}", *m));
      ok = false;
    } else {
      b.multiplier = *m;
    }
  }
  const toml::node* max = t->get("max");
  if (max != nullptr) {
    auto d = want_duration(s, *max, "restart-delay.max", false);
    if (d) b.max = *d;
    ok = ok && d.has_value();
  } else {
    b.max = std::max(b.max, b.initial);  // a long initial delay alone is not an error
  }
  if (const toml::node* v = t->get("reset-after")) {
    auto d = want_duration(s, *v, "restart-delay.reset-after", false);
    if (d) b.reset_after = *d;
    ok = ok && d.has_value();
  }
  if (!ok) return std::nullopt;
  if (b.max < b.initial) {
    s.error(*max, fmt::format("'restart-delay.max' ({}) must not be less than 'initial' ({})",
                              format_duration(b.max), format_duration(b.initial)));
    return std::nullopt;
  }
  return b;
}

std::optional<StartLimit> parse_start_limit(Scope& s, const toml::node& n) {
  const toml::table* t = want_table(s, n, "start-limit", "a table { burst, interval }");
  if (t == nullptr) return std::nullopt;
  s.check_keys(*t, {"burst", "interval"}, "in 'start-limit' of " + s.label());
  StartLimit out;
  bool ok = true;
  if (const toml::node* v = t->get("burst")) {
    auto burst = want_int(s, *v, "start-limit.burst", 0, 1'000'000);
    if (burst) out.burst = static_cast<unsigned>(*burst);
    ok = burst.has_value();
  }
  if (const toml::node* v = t->get("interval")) {
    auto d = want_duration(s, *v, "start-limit.interval", true);
    if (d) out.interval = *d;
    ok = ok && d.has_value();
  }
  if (!ok) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------
// Resources and sockets

namespace {

bool is_unlimited_word(std::string_view v) {
  return v == "max" || v == "infinity" || v == "unlimited";
}

}  // namespace

std::optional<uint64_t> parse_bytes(Scope& s, const toml::node& n, const std::string& name) {
  constexpr uint64_t kMin = 4096;
  if (const auto* i = n.as_integer()) {
    if (i->get() < static_cast<int64_t>(kMin)) {
      s.error(n, fmt::format("'{}' must be at least {} bytes, not {}", name, kMin, i->get()));
      return std::nullopt;
    }
    return static_cast<uint64_t>(i->get());
  }
  const std::string* text = want_string(s, n, name);
  if (!text) return std::nullopt;
  if (is_unlimited_word(*text)) return kInfinity;
  const std::string shape = fmt::format(
      "'{}' must be bytes (an integer, or a number with K, M, G or T such as \"512M\") "
      "or \"max\", not \"{}\"",
      name, *text);
  std::size_t digits = 0;
  while (digits < text->size() && std::isdigit(static_cast<unsigned char>((*text)[digits])))
    ++digits;
  if (digits == 0 || digits > 15) {
    s.error(n, shape);
    return std::nullopt;
  }
  uint64_t value = std::stoull(text->substr(0, digits));
  std::string_view suffix = std::string_view(*text).substr(digits);
  if (suffix.size() == 2 && (suffix[1] == 'B' || suffix[1] == 'b')) suffix.remove_suffix(1);
  int shift = 0;
  if (suffix.empty() || suffix == "B" || suffix == "b")
    shift = 0;
  else if (suffix == "K" || suffix == "k")
    shift = 10;
  else if (suffix == "M" || suffix == "m")
    shift = 20;
  else if (suffix == "G" || suffix == "g")
    shift = 30;
  else if (suffix == "T" || suffix == "t")
    shift = 40;
  else {
    s.error(n, shape);
    return std::nullopt;
  }
  if (shift && value > (kInfinity >> shift)) {
    s.error(n, fmt::format("'{}' is too large: \"{}\"", name, *text));
    return std::nullopt;
  }
  value <<= shift;
  if (value < kMin) {
    s.error(n, fmt::format("'{}' must be at least {} bytes, not \"{}\"", name, kMin, *text));
    return std::nullopt;
  }
  return value;
}

std::optional<uint64_t> parse_count_or_max(Scope& s, const toml::node& n, const std::string& name) {
  if (const auto* str = n.as_string()) {
    if (is_unlimited_word(str->get())) return kInfinity;
    s.error(n,
            fmt::format("'{}' must be an integer >= 1 or \"max\", not \"{}\"", name, str->get()));
    return std::nullopt;
  }
  auto v = want_int(s, n, name, 1, std::numeric_limits<int64_t>::max());
  if (!v) return std::nullopt;
  return static_cast<uint64_t>(*v);
}

std::vector<SocketConfig> parse_sockets(Scope& s, const toml::node& n) {
  std::vector<SocketConfig> out;
  const auto* arr = n.as_array();
  if (!arr) {
    s.error(n,
            fmt::format(
                "'sockets' must be an array of socket specs such as \"tcp:127.0.0.1:8080\", not {}",
                type_name(n)));
    return out;
  }
  for (const toml::node& item : *arr) {
    SocketConfig sc;
    sc.pos = pos_of(item.source());
    const toml::node* listen_node = &item;
    if (const auto* t = item.as_table()) {
      s.check_keys(*t, {"listen", "name"}, "sockets");
      listen_node = t->get("listen");
      if (!listen_node) {
        s.error(item,
                "a socket table needs 'listen' (e.g. { listen = \"tcp:127.0.0.1:8080\", name = "
                "\"http\" })");
        continue;
      }
      if (const toml::node* nm = t->get("name")) {
        const std::string* name = want_text(s, *nm, "sockets.name");
        if (!name) continue;
        if (auto why = fdname_problem(*name)) {
          s.error(*nm, fmt::format("socket name {}", *why));
          continue;
        }
        sc.name = *name;
      }
    }
    const std::string* listen = want_text(s, *listen_node, "sockets");
    if (!listen) continue;
    sc.listen = *listen;
    // %t and %h are only known where procmand runs; a typical expansion is
    // enough to check the shape here, procmand re-checks the real one at start.
    SocketExpand typical;
    typical.runtime_dir = "/run/user/1000";
    typical.home = "/home/user";
    typical.state_dir = "/home/user/.local/state";
    auto spec = parse_socket_spec(sc.listen, typical);
    if (const auto* why = std::get_if<std::string>(&spec)) {
      s.error(*listen_node, fmt::format("socket \"{}\": {}", sc.listen, *why));
      continue;
    }
    bool dup = false;
    for (const auto& other : out) {
      if (other.listen == sc.listen) {
        s.error(*listen_node, fmt::format("socket \"{}\" is listed twice", sc.listen));
        dup = true;
      } else if (!sc.name.empty() && other.name == sc.name) {
        s.error(*listen_node, fmt::format("socket name \"{}\" is used twice", sc.name));
        dup = true;
      }
    }
    if (!dup) out.push_back(std::move(sc));
  }
  return out;
}

}  // namespace procman::core::config_detail
