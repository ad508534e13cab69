// Parsers of individual [[process]] values (see config_values.h). Each checks
// its value strictly and reports every problem through its Scope.
#include "core/config_values.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <limits>
#include <set>
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

const std::vector<std::pair<std::string, int>>& signal_table() {
  static const std::vector<std::pair<std::string, int>> table = {
      {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
      {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
      {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
      {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
      {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
      {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
      {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
      {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
      {"SYS", SIGSYS},
  };
  return table;
}

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
  for (const auto& [signal_name, number] : signal_table()) {
    if (signal_name == name) return number;
    names.push_back(signal_name);
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

std::optional<HealthCheck> parse_health_check(Scope& s, const toml::node& n,
                                              const std::string& config_dir) {
  HealthCheck hc;
  hc.pos = pos_of(n.source());
  hc.timeout = kHealthTimeout;
  hc.inactive_time = kInactiveTime;
  if (n.is_string()) {
    const std::string* cmd = want_text(s, n, "health-check");
    if (cmd == nullptr) return std::nullopt;
    hc.command = *cmd;
    return hc;
  }
  const toml::table* t =
      want_table(s, n, "health-check",
                 "a string, a table { command, timeout } or a table { folder, inactive-time }");
  if (t == nullptr) return std::nullopt;
  s.check_keys(*t, {"command", "timeout", "folder", "inactive-time"},
               "in 'health-check' of " + s.label());
  const toml::node* command = t->get("command");
  const toml::node* timeout = t->get("timeout");
  const toml::node* folder = t->get("folder");
  const toml::node* inactive = t->get("inactive-time");
  if ((command != nullptr || timeout != nullptr) && (folder != nullptr || inactive != nullptr)) {
    s.error(n,
            "'health-check' mixes a command check (command, timeout) with a folder check "
            "(folder, inactive-time); use one");
    return std::nullopt;
  }
  bool ok = true;
  if (folder != nullptr || inactive != nullptr) {
    hc.kind = HealthCheck::Kind::Folder;
    if (folder == nullptr) {
      s.error(n, "'health-check' needs a 'folder'");
      ok = false;
    } else if (const std::string* f = want_text(s, *folder, "health-check.folder")) {
      hc.folder = resolve_path(config_dir, *f);
    } else {
      ok = false;
    }
    if (inactive != nullptr) {
      auto d = want_duration(s, *inactive, "health-check.inactive-time", true);
      if (d) hc.inactive_time = *d;
      ok = ok && d.has_value();
    }
  } else {
    if (command == nullptr) {
      s.error(n, "'health-check' needs a 'command' or a 'folder'");
      return std::nullopt;
    }
    const std::string* cmd = want_text(s, *command, "health-check.command");
    if (cmd != nullptr) hc.command = *cmd;
    ok = cmd != nullptr;
    if (timeout != nullptr) {
      auto d = want_duration(s, *timeout, "health-check.timeout", true);
      if (d) hc.timeout = *d;
      ok = ok && d.has_value();
    }
  }
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

std::vector<Dependency> parse_depends_on(Scope& s, const toml::node& n) {
  std::vector<Dependency> out;
  const auto* arr = n.as_array();
  if (arr == nullptr) {
    s.error(n, fmt::format("'depends-on' must be an array of ids, not {}", type_name(n)));
    return out;
  }
  std::set<std::string> seen;
  for (const toml::node& item : *arr) {
    Dependency dep;
    dep.pos = pos_of(item.source());
    const toml::node* id_node = &item;
    if (const auto* t = item.as_table()) {
      s.check_keys(*t, {"id", "condition"}, "in 'depends-on' of " + s.label());
      id_node = t->get("id");
      if (id_node == nullptr) {
        s.error(item, "'depends-on' entry needs an 'id'");
        continue;
      }
      if (const toml::node* c = t->get("condition")) {
        auto i = want_choice(s, *c, "depends-on.condition", kConditions, "dependency condition");
        if (!i) continue;
        dep.condition = static_cast<DepCondition>(*i);
      }
    } else if (!item.is_string()) {
      s.error(item, fmt::format("'depends-on' items must be ids (strings) or tables "
                                "{{ id, condition }}, not {}",
                                type_name(item)));
      continue;
    }
    const std::string* id = want_text(s, *id_node, "depends-on");
    if (id == nullptr) continue;
    dep.id = *id;
    if (!seen.insert(dep.id).second) {
      s.error(item, fmt::format("depends on '{}' twice", dep.id));
      continue;
    }
    out.push_back(std::move(dep));
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

}  // namespace procman::core::config_detail
