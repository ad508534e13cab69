// Reading a procman TOML file: parse with toml++, expand [[template]]s into
// their processes, then check every key strictly into the Config model, and
// finally cross-check the processes (duplicate versions, references, cycles).
// Every problem is collected with its position; nothing stops at the first.
#include "core/config_parser.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <toml++/toml.h>
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "core/command_line.h"
#include "core/suggest.h"
#include "core/template.h"

namespace procman::core {

namespace {

using Strings = std::vector<std::string>;

constexpr Duration kBeforeTimeout = std::chrono::seconds(10);
constexpr Duration kInitTimeout = std::chrono::seconds(10);
constexpr Duration kStopHookTimeout = std::chrono::seconds(5);
constexpr Duration kHealthTimeout = std::chrono::seconds(5);
constexpr Duration kInactiveTime = std::chrono::seconds(300);
constexpr int kEndOfDay = 24 * 3600;
constexpr uint64_t kInfinity = std::numeric_limits<uint64_t>::max();

const Strings kTopLevelKeys = {"uid", "file-format", "process", "template"};
// Seed 002's keys, then procman's extensions.
// clang-format off
const Strings kProcessKeys = {
    "id", "apply-on", "fake", "one-shot", "command", "depends-on", "work-dir", "before", "init",
    "stop", "health-check", "schedule", "template",
    "env", "env-file", "restart", "success-exit-codes", "restart-delay", "start-limit",
    "stop-signal", "stop-timeout", "instances", "user", "group", "nice", "ionice", "umask",
    "limits", "meta", "deadline", "cron"};
// clang-format on
// In the order of their enums (CommandType, DepCondition, RestartPolicy): an index is the value.
const Strings kCommandTypes = {"simple", "expression", "pid-file", "podman-cid"};
const Strings kConditions = {"started", "running", "completed", "completed-successfully"};
const Strings kRestartPolicies = {"always", "on-failure", "no"};

SourcePos pos_of(const toml::source_region& s) { return {s.begin.line, s.begin.column}; }

bool is_before(const toml::source_position& a, const toml::source_position& b) {
  return a.line < b.line || (a.line == b.line && a.column < b.column);
}

// A [header] or [[header]] table is reported at its '[' so the position names
// the header; every other key at the key itself.
const toml::source_region& key_region(const toml::key& k, const toml::node& value) {
  const toml::source_region& vr = value.source();
  if (vr.begin.line != 0 && is_before(vr.begin, k.source().begin)) return vr;
  return k.source();
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

/// [[name]] arrays: an empty array is fine too (`process = []`).
bool is_table_array(const toml::node& n) {
  const auto* arr = n.as_array();
  return arr != nullptr && (arr->empty() || arr->is_array_of_tables());
}

std::string shape_name(const toml::node& n) {
  return n.is_array() ? "an array of values" : type_name(n);
}

std::string suggestion(std::string_view word, const Strings& candidates) {
  if (auto m = closest_match(word, candidates)) return fmt::format(" (did you mean '{}'?)", *m);
  return "";
}

std::string one_of(const Strings& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

// Scalars as the text a user would expect in an environment or a template.
std::optional<std::string> scalar_text(const toml::node& n, bool allow_dates) {
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* f = n.as_floating_point()) return fmt::format("{}", f->get());
  if (const auto* b = n.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (!allow_dates) return std::nullopt;
  std::ostringstream out;
  if (const auto* d = n.as_date()) {
    out << *d;
  } else if (const auto* t = n.as_time()) {
    out << *t;
  } else if (const auto* dt = n.as_date_time()) {
    out << *dt;
  } else {
    return std::nullopt;
  }
  return out.str();
}

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Lexical join: "." segments and doubled slashes go, ".." stays (a symlinked
// directory makes folding it wrong).
std::string resolve_path(const std::string& dir, const std::string& path) {
  const bool absolute = !path.empty() && path.front() == '/';
  const std::string joined = absolute || dir.empty() ? path : dir + "/" + path;
  std::string out = !joined.empty() && joined.front() == '/' ? "/" : "";
  std::size_t i = 0;
  while (i <= joined.size()) {
    std::size_t j = joined.find('/', i);
    if (j == std::string::npos) j = joined.size();
    const std::string segment = joined.substr(i, j - i);
    if (!segment.empty() && segment != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out += segment;
    }
    i = j + 1;
  }
  return out.empty() ? "." : out;
}

// ---------------------------------------------------------------------------
// Diagnostics

class Diags {
 public:
  explicit Diags(std::string file) : file_(std::move(file)) {}

  void error(SourcePos pos, std::string message) {
    errors.push_back({Diagnostic::Severity::Error, file_, pos, std::move(message)});
  }
  void note(SourcePos pos, std::string message) {
    notes.push_back({Diagnostic::Severity::Note, file_, pos, std::move(message)});
  }
  const std::string& file() const { return file_; }

  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> notes;

 private:
  std::string file_;
};

/// A process whose keys came (partly) from a [[template]].
struct TemplateUse {
  std::string name;
  SourcePos pos;        ///< of its [process.template] table
  bool failed = false;  ///< expansion failed: its keys are missing, so skip "required" errors
};

/// Where messages about one table go, and how they are prefixed. A node that
/// came from a template has positions inside the rendered template; it is
/// reported at the [process.template] table that pulled it in.
class Scope {
 public:
  Scope(Diags& diags, std::string label, const TemplateUse* use)
      : diags_(diags), label_(std::move(label)), use_(use) {}

  const std::string& label() const { return label_; }

  /// "<label>: <message>" at the node.
  void error(const toml::node& at, const std::string& message) {
    raw_error(at.source(), prefixed(message));
  }
  void error_at_key(const toml::key& k, const toml::node& value, const std::string& message) {
    raw_error(key_region(k, value), prefixed(message));
  }
  void error_at(SourcePos pos, const std::string& message) { diags_.error(pos, prefixed(message)); }
  /// Without the label prefix, for messages that name the process themselves.
  void raw_error(const toml::source_region& where, const std::string& message) {
    auto [pos, suffix] = locate(where);
    diags_.error(pos, message + suffix);
  }
  void note(const toml::node& at, const std::string& message) {
    auto [pos, suffix] = locate(at.source());
    diags_.note(pos, prefixed(message) + suffix);
  }

  /// Every key of `table` must be in `allowed`; `where` is e.g. "in 'init' of process 'web'".
  void check_keys(const toml::table& table, const Strings& allowed, const std::string& where) {
    for (const auto& [k, v] : table) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
      std::string message = fmt::format("unknown key '{}'", k.str());
      if (!where.empty()) message += " " + where;
      raw_error(key_region(k, v), message + suggestion(k.str(), allowed));
    }
  }

 private:
  std::string prefixed(const std::string& message) const {
    return label_.empty() ? message : label_ + ": " + message;
  }

  std::pair<SourcePos, std::string> locate(const toml::source_region& where) const {
    if (use_ != nullptr && where.path && *where.path != diags_.file()) {
      return {use_->pos,
              fmt::format(" (from template '{}', template line {})", use_->name, where.begin.line)};
    }
    return {pos_of(where), ""};
  }

  Diags& diags_;
  std::string label_;
  const TemplateUse* use_;
};

// ---------------------------------------------------------------------------
// Typed accessors: each reports its own type error and returns nothing then.

const std::string* want_string(Scope& s, const toml::node& n, const std::string& name) {
  if (const auto* v = n.as_string()) return &v->get();
  s.error(n, fmt::format("'{}' must be a string, not {}", name, type_name(n)));
  return nullptr;
}

/// A string that is not empty or blank.
const std::string* want_text(Scope& s, const toml::node& n, const std::string& name) {
  const std::string* v = want_string(s, n, name);
  if (v != nullptr && is_blank(*v)) {
    s.error(n, fmt::format("'{}' is empty", name));
    return nullptr;
  }
  return v;
}

std::optional<bool> want_bool(Scope& s, const toml::node& n, const std::string& name) {
  if (const auto* v = n.as_boolean()) return v->get();
  s.error(n, fmt::format("'{}' must be a boolean, not {}", name, type_name(n)));
  return std::nullopt;
}

std::optional<int64_t> want_int(Scope& s, const toml::node& n, const std::string& name, int64_t min,
                                int64_t max) {
  const auto* v = n.as_integer();
  if (v == nullptr) {
    s.error(n, fmt::format("'{}' must be an integer, not {}", name, type_name(n)));
    return std::nullopt;
  }
  if (v->get() < min || v->get() > max) {
    s.error(n, fmt::format("'{}' must be between {} and {}, not {}", name, min, max, v->get()));
    return std::nullopt;
  }
  return v->get();
}

std::optional<Duration> want_duration(Scope& s, const toml::node& n, const std::string& name,
                                      bool positive) {
  const auto* v = n.as_string();
  if (v == nullptr) {
    s.error(n, fmt::format("'{}' must be a duration string such as \"5s\", not {}", name,
                           type_name(n)));
    return std::nullopt;
  }
  std::string why;
  std::optional<Duration> d = parse_duration(v->get(), &why);
  if (!d) {
    s.error(n, fmt::format("'{}': {}", name, why));
    return std::nullopt;
  }
  if (positive && *d <= Duration::zero()) {
    s.error(n, fmt::format("'{}' must be greater than 0", name));
    return std::nullopt;
  }
  return d;
}

/// One of `names` (did-you-mean otherwise); returns its index.
std::optional<std::size_t> want_choice(Scope& s, const toml::node& n, const std::string& name,
                                       const Strings& names, const std::string& what) {
  const std::string* v = want_string(s, n, name);
  if (v == nullptr) return std::nullopt;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == *v) return i;
  }
  std::string hint = suggestion(*v, names);
  if (hint.empty()) hint = " (expected " + one_of(names) + ")";
  s.error(n, fmt::format("unknown {} '{}'{}", what, *v, hint));
  return std::nullopt;
}

const toml::table* want_table(Scope& s, const toml::node& n, const std::string& name,
                              const std::string& shape) {
  if (const auto* t = n.as_table()) return t;
  s.error(n, fmt::format("'{}' must be {}, not {}", name, shape, type_name(n)));
  return nullptr;
}

// ---------------------------------------------------------------------------
// Signals, rlimits, ionice

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
        cmd.type = CommandType::Simple;  // seed 002's README spells simple this way
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

// ---------------------------------------------------------------------------
// One [[process]] table

std::string process_label(const toml::table& t, std::size_t index) {
  if (const toml::node* id = t.get("id")) {
    if (const auto* s = id->as_string(); s != nullptr && !s->get().empty()) {
      return fmt::format("process '{}'", s->get());
    }
  }
  return fmt::format("process #{}", index + 1);
}

struct Parsed {
  std::optional<ProcessConfig> process;  ///< set when it had no error
  std::optional<std::string> id;         ///< the id when valid, even if other keys failed
  bool one_shot = false;
  std::vector<Dependency> depends_on;  ///< for cross-checks, even if other keys failed
  std::optional<LocalDateTime> apply_on;
  bool apply_on_invalid = false;  ///< written but wrong: leave it out of the version check
  SourcePos apply_on_pos;
};

class ProcessParser {
 public:
  ProcessParser(Diags& diags, const std::string& config_dir, const toml::table& table,
                std::size_t index, const TemplateUse* use)
      : diags_(diags),
        config_dir_(config_dir),
        table_(table),
        scope_(diags, process_label(table, index), use),
        use_(use) {}

  Parsed run() {
    const std::size_t errors_before = diags_.errors.size();
    ProcessConfig p;
    p.pos = pos_of(table_.source());
    if (use_ != nullptr) p.template_name = use_->name;
    scope_.check_keys(table_, kProcessKeys, "in " + scope_.label());

    Parsed out;
    if (const toml::node* n = get("id")) {
      if (const std::string* id = want_string(scope_, *n, "id");
          id != nullptr && check_id(*n, *id)) {
        p.id = *id;
        out.id = *id;
      }
    } else {
      missing("id");
    }
    if (const toml::node* n = get("apply-on")) {
      p.apply_on = parse_apply_on(scope_, *n);
      out.apply_on_invalid = !p.apply_on.has_value();
      out.apply_on_pos = pos_of(n->source());
    } else {
      out.apply_on_pos = p.pos;
    }
    out.apply_on = p.apply_on;
    if (const toml::node* n = get("fake")) p.fake = want_bool(scope_, *n, "fake").value_or(false);
    if (const toml::node* n = get("one-shot")) {
      p.one_shot = want_bool(scope_, *n, "one-shot").value_or(false);
    }
    out.one_shot = p.one_shot;
    if (const toml::node* n = get("command")) {
      p.command = parse_command(scope_, *n);
    } else if (!p.fake) {
      missing("command");
    }
    if (const toml::node* n = get("depends-on")) p.depends_on = parse_depends_on(scope_, *n);
    out.depends_on = p.depends_on;
    if (const toml::node* n = get("work-dir")) {
      if (const std::string* dir = want_text(scope_, *n, "work-dir")) {
        p.work_dir = resolve_path(config_dir_, *dir);
      }
    }
    if (const toml::node* n = get("before"))
      p.before = parse_hook(scope_, *n, "before", kBeforeTimeout);
    if (const toml::node* n = get("init")) p.init = parse_hook(scope_, *n, "init", kInitTimeout);
    if (const toml::node* n = get("stop"))
      p.stop = parse_hook(scope_, *n, "stop", kStopHookTimeout);
    if (const toml::node* n = get("health-check")) {
      p.health_check = parse_health_check(scope_, *n, config_dir_);
    }
    if (const toml::node* n = get("schedule")) p.schedule = parse_schedule(scope_, *n);
    extensions(p);

    if (diags_.errors.size() == errors_before) out.process = std::move(p);
    return out;
  }

 private:
  const toml::node* get(std::string_view key) const { return table_.get(key); }

  void missing(const std::string& key) {
    if (use_ != nullptr && use_->failed) return;  // its template would have set it
    scope_.error_at(pos_of(table_.source()), fmt::format("missing required key '{}'", key));
  }

  bool check_id(const toml::node& n, const std::string& id) {
    if (id.empty()) {
      scope_.error(n, "'id' is empty");
      return false;
    }
    for (char c : id) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) {
        scope_.error(n, "'id' must not contain control characters");
        return false;
      }
    }
    if (id.find('/') != std::string::npos) {
      scope_.error(n, "'id' must not contain '/'");
      return false;
    }
    if (id.find('@') != std::string::npos) {
      scope_.error(n,
                   "'id' must not contain '@' (it is reserved for instance names such as "
                   "'web@2')");
      return false;
    }
    return true;
  }

  void extensions(ProcessConfig& p) {
    if (const toml::node* n = get("env")) p.env = parse_string_map(scope_, *n, "env", true);
    if (const toml::node* n = get("env-file")) {
      if (const std::string* f = want_text(scope_, *n, "env-file")) {
        p.env_file = resolve_path(config_dir_, *f);
      }
    }
    p.restart = p.one_shot ? RestartPolicy::No : RestartPolicy::Always;
    if (const toml::node* n = get("restart")) {
      if (auto i = want_choice(scope_, *n, "restart", kRestartPolicies, "restart policy")) {
        p.restart = static_cast<RestartPolicy>(*i);
        if (p.one_shot && p.restart == RestartPolicy::Always) {
          scope_.error(*n, "a one-shot cannot restart always; use on-failure");
        }
      }
    }
    if (const toml::node* n = get("success-exit-codes")) {
      if (const auto* arr = n->as_array()) {
        p.success_exit_codes.clear();
        if (arr->empty()) scope_.error(*n, "'success-exit-codes' is empty");
        for (const toml::node& item : *arr) {
          if (auto code = want_int(scope_, item, "success-exit-codes", 0, 255)) {
            p.success_exit_codes.push_back(static_cast<int>(*code));
          }
        }
      } else {
        scope_.error(*n, fmt::format("'success-exit-codes' must be an array of integers, not {}",
                                     type_name(*n)));
      }
    }
    if (const toml::node* n = get("restart-delay")) {
      if (auto b = parse_restart_delay(scope_, *n)) p.restart_delay = *b;
    }
    if (const toml::node* n = get("start-limit")) {
      if (auto l = parse_start_limit(scope_, *n)) p.start_limit = *l;
    }
    if (const toml::node* n = get("stop-signal")) {
      if (auto sig = parse_signal(scope_, *n)) p.stop_signal = *sig;
    }
    if (const toml::node* n = get("stop-timeout")) {
      if (auto d = want_duration(scope_, *n, "stop-timeout", true)) p.stop_timeout = *d;
    }
    if (const toml::node* n = get("instances")) {
      if (auto i = want_int(scope_, *n, "instances", 1, 10000))
        p.instances = static_cast<unsigned>(*i);
    }
    if (const toml::node* n = get("user")) {
      if (const std::string* u = want_text(scope_, *n, "user")) p.user = *u;
    }
    if (const toml::node* n = get("group")) {
      if (const std::string* g = want_text(scope_, *n, "group")) p.group = *g;
    }
    if (const toml::node* n = get("nice")) {
      if (auto v = want_int(scope_, *n, "nice", -20, 19)) p.nice = static_cast<int>(*v);
    }
    if (const toml::node* n = get("ionice")) p.ionice = parse_ionice(scope_, *n);
    if (const toml::node* n = get("umask")) p.umask = parse_umask(scope_, *n);
    if (const toml::node* n = get("limits")) p.limits = parse_limits(scope_, *n);
    if (const toml::node* n = get("meta")) p.meta = parse_string_map(scope_, *n, "meta", false);
    if (const toml::node* n = get("deadline"))
      p.deadline = want_duration(scope_, *n, "deadline", true);
    if (const toml::node* n = get("cron")) {
      if (const std::string* text = want_string(scope_, *n, "cron")) {
        std::string why;
        p.cron = parse_cron(*text, &why);
        if (!p.cron) {
          scope_.error(*n, "'cron': " + why);
        } else {
          p.cron_text = *text;
          if (!p.one_shot) scope_.error(*n, "'cron' requires one-shot = true");
        }
      }
    }
  }

  Diags& diags_;
  const std::string& config_dir_;
  const toml::table& table_;
  Scope scope_;
  const TemplateUse* use_;
};

// ---------------------------------------------------------------------------
// [[template]] expansion

struct TemplateDef {
  std::string body;
  SourcePos pos;
};

std::map<std::string, TemplateDef> collect_templates(const toml::table& doc, Diags& diags) {
  std::map<std::string, TemplateDef> out;
  const toml::node* node = doc.get("template");
  if (node == nullptr) return out;
  Scope top(diags, "", nullptr);
  if (!is_table_array(*node)) {
    top.error(*node, fmt::format("'template' must be an array of tables ([[template]] with name "
                                 "and template), not {}",
                                 shape_name(*node)));
    return out;
  }
  for (const toml::node& item : *node->as_array()) {
    const toml::table& t = *item.as_table();
    const toml::node* name = t.get("name");
    const std::string label = name != nullptr && name->is_string()
                                  ? fmt::format("template '{}'", name->as_string()->get())
                                  : std::string("[[template]]");
    Scope s(diags, label, nullptr);
    s.check_keys(t, {"name", "template"}, "in " + label);
    const toml::node* body = t.get("template");
    if (name == nullptr) s.error(item, "missing required key 'name'");
    if (body == nullptr) s.error(item, "missing required key 'template'");
    if (name == nullptr || body == nullptr) continue;
    const std::string* n = want_text(s, *name, "name");
    const std::string* b = want_string(s, *body, "template");
    if (n == nullptr || b == nullptr) continue;
    auto [it, inserted] = out.emplace(*n, TemplateDef{*b, pos_of(name->source())});
    if (!inserted) {
      s.error(*name, fmt::format("defined twice (first at line {})", it->second.pos.line));
    }
  }
  return out;
}

/// Expands one process's [process.template] in place. Returns its TemplateUse.
TemplateUse expand_process(toml::table& proc, std::size_t index,
                           const std::map<std::string, TemplateDef>& templates, Diags& diags,
                           const std::map<std::string, std::string>& env) {
  const std::string label = process_label(proc, index);
  Scope s(diags, label, nullptr);
  const toml::node& use_node = *proc.get("template");
  TemplateUse use;
  use.pos = pos_of(use_node.source());
  use.failed = true;
  const toml::table* t =
      want_table(s, use_node, "template", "a table { template = \"NAME\", variables... }");
  if (t == nullptr) return use;
  const toml::node* name_node = t->get("template");
  if (name_node == nullptr) {
    s.error(use_node, "[process.template] needs 'template' = the template's name");
    return use;
  }
  const std::string* name_text = want_text(s, *name_node, "template.template");
  if (name_text == nullptr) return use;
  const std::string name_value = *name_text;  // outlives the erase of [process.template]
  const std::string* name = &name_value;
  use.name = *name;
  auto def = templates.find(*name);
  if (def == templates.end()) {
    Strings names;
    for (const auto& [n, d] : templates) names.push_back(n);
    std::string hint = suggestion(*name, names);
    if (names.empty()) hint = " (no [[template]] is defined)";
    s.error(*name_node, fmt::format("unknown template '{}'{}", *name, hint));
    return use;
  }

  std::map<std::string, std::string> vars;
  std::map<std::string, const toml::key*> var_keys;
  bool ok = true;
  for (const auto& [k, v] : *t) {
    if (k.str() == "template") continue;
    auto text = scalar_text(v, true);
    if (!text) {
      s.error(v, fmt::format("template variable '{}' must be a string or another scalar, not {}",
                             k.str(), type_name(v)));
      ok = false;
      continue;
    }
    vars[std::string(k.str())] = *text;
    var_keys[std::string(k.str())] = &k;
  }
  if (!ok) return use;

  const std::string where = fmt::format("in template '{}' for {}", *name, label);
  TemplateError terr;
  std::optional<std::string> rendered = render_template(def->second.body, vars, env, &terr);
  if (!rendered) {
    SourcePos pos = use.pos;
    // An unused variable is best shown at its own key.
    for (const auto& [var, key] : var_keys) {
      if (terr.message == "variable '" + var + "' is not used by the template") {
        pos = pos_of(key->source());
      }
    }
    std::string message = fmt::format("{}: {}", where, terr.message);
    if (terr.line != 0) message += fmt::format(" (template line {})", terr.line);
    diags.error(pos, message);
    return use;
  }
  toml::table body;
  try {
    body = toml::parse(std::string_view(*rendered), std::string_view("<template " + *name + ">"));
  } catch (const toml::parse_error& e) {
    diags.error(use.pos, fmt::format("{}: {} (template line {})", where, e.description(),
                                     e.source().begin.line));
    return use;
  }
  proc.erase("template");
  for (auto&& [k, v] : body) {
    if (k.str() == "template") {
      diags.error(use.pos, fmt::format("{}: a template cannot use another template", where));
      ok = false;
      continue;
    }
    if (const toml::node* mine = proc.get(k.str())) {
      auto it = proc.find(k.str());
      s.error_at_key(
          it->first, *mine,
          fmt::format("key '{}' is set both by the process and by template '{}'", k.str(), *name));
      ok = false;
      continue;
    }
    proc.insert(k, std::move(v));  // a move keeps the node's source position
  }
  use.failed = !ok;
  return use;
}

struct Expanded {
  std::optional<toml::table> doc;                ///< unset on a syntax error
  std::vector<std::optional<TemplateUse>> uses;  ///< per [[process]] entry
};

Expanded parse_and_expand(std::string_view text, const std::string& path, Diags& diags,
                          const std::map<std::string, std::string>& env) {
  Expanded out;
  try {
    out.doc = toml::parse(text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    diags.error(pos_of(e.source()), std::string(e.description()));
    return out;
  }
  toml::table& doc = *out.doc;
  const auto templates = collect_templates(doc, diags);
  doc.erase("template");
  if (auto* processes = doc.get_as<toml::array>("process")) {
    for (std::size_t i = 0; i < processes->size(); ++i) {
      auto* proc = processes->get_as<toml::table>(i);
      if (proc == nullptr || proc->get("template") == nullptr) {
        out.uses.emplace_back();
        continue;
      }
      out.uses.emplace_back(expand_process(*proc, i, templates, diags, env));
      proc->erase("template");
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Whole-file checks

void check_top_level(const toml::table& doc, Diags& diags, Config& config) {
  Scope top(diags, "", nullptr);
  top.check_keys(doc, kTopLevelKeys, "");
  if (const toml::node* n = doc.get("uid")) {
    if (const std::string* uid = want_text(top, *n, "uid")) config.uid = *uid;
  } else {
    diags.error({1, 1},
                "missing required key 'uid' (a non-empty string naming this file, "
                "e.g. a UUID)");
  }
  if (const toml::node* n = doc.get("file-format")) {
    if (const std::string* format = want_string(top, *n, "file-format")) {
      if (*format == "0") {
        config.file_format = *format;
      } else {
        top.error(*n, fmt::format("unsupported file-format '{}' (the supported format is \"0\")",
                                  *format));
      }
    }
  } else {
    diags.error({1, 1}, "missing required key 'file-format' (write file-format = \"0\")");
  }
}

/// Tarjan's strongly connected components over ids; each component with more
/// than one id holds at least one cycle, reported once as its shortest cycle
/// through the component's first id in file order.
void check_cycles(const std::vector<std::string>& ids,
                  const std::vector<std::set<std::size_t>>& edges,
                  const std::map<std::pair<std::size_t, std::size_t>, SourcePos>& edge_pos,
                  Diags& diags) {
  const std::size_t n = ids.size();
  std::vector<int> index(n, -1), low(n, 0), component(n, -1);
  std::vector<bool> on_stack(n, false);
  std::vector<std::size_t> stack;
  int counter = 0, components = 0;
  std::function<void(std::size_t)> visit = [&](std::size_t v) {
    index[v] = low[v] = counter++;
    stack.push_back(v);
    on_stack[v] = true;
    for (std::size_t w : edges[v]) {
      if (index[w] < 0) {
        visit(w);
        low[v] = std::min(low[v], low[w]);
      } else if (on_stack[w]) {
        low[v] = std::min(low[v], index[w]);
      }
    }
    if (low[v] == index[v]) {
      std::size_t w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack[w] = false;
        component[w] = components;
      } while (w != v);
      ++components;
    }
  };
  for (std::size_t v = 0; v < n; ++v) {
    if (index[v] < 0) visit(v);
  }
  std::vector<std::vector<std::size_t>> members(static_cast<std::size_t>(components));
  for (std::size_t v = 0; v < n; ++v) members[static_cast<std::size_t>(component[v])].push_back(v);
  std::sort(members.begin(), members.end());  // by first member: file order
  for (const auto& m : members) {
    if (m.size() < 2) continue;
    const std::size_t start = m.front();
    const int c = component[start];
    // Breadth-first search for the shortest way back to start.
    std::vector<std::size_t> parent(n, n);
    std::vector<std::size_t> queue{start};
    std::size_t last = n;
    for (std::size_t qi = 0; qi < queue.size() && last == n; ++qi) {
      const std::size_t v = queue[qi];
      for (std::size_t w : edges[v]) {
        if (component[w] != c) continue;
        if (w == start) {
          last = v;
          break;
        }
        if (parent[w] == n) {
          parent[w] = v;
          queue.push_back(w);
        }
      }
    }
    std::vector<std::size_t> path{start};
    for (std::size_t v = last; v != start; v = parent[v]) path.insert(path.begin() + 1, v);
    std::string text;
    for (std::size_t v : path) text += ids[v] + " -> ";
    text += ids[start];
    const std::size_t next = path.size() > 1 ? path[1] : start;
    diags.error(edge_pos.at({start, next}), "dependency cycle: " + text);
  }
}

void cross_check(const std::vector<Parsed>& parsed, Diags& diags) {
  std::vector<std::string> ids;
  std::map<std::string, std::size_t> id_index;
  std::map<std::string, bool> always_one_shot;
  for (const Parsed& p : parsed) {
    if (!p.id) continue;
    if (id_index.emplace(*p.id, ids.size()).second) ids.push_back(*p.id);
    auto [it, inserted] = always_one_shot.emplace(*p.id, p.one_shot);
    if (!inserted) it->second = it->second && p.one_shot;
  }

  // Two versions of one id must differ in apply-on, or which one applies is a coin toss.
  std::map<std::pair<std::string, std::optional<LocalDateTime>>, SourcePos> versions;
  for (const Parsed& p : parsed) {
    if (!p.id || p.apply_on_invalid) continue;
    auto [it, inserted] = versions.emplace(std::make_pair(*p.id, p.apply_on), p.apply_on_pos);
    if (!inserted) {
      diags.error(p.apply_on_pos,
                  fmt::format("process '{}' is defined twice with {} (first at line {})", *p.id,
                              p.apply_on ? "the same apply-on " + format_local_datetime(*p.apply_on)
                                         : std::string("no apply-on"),
                              it->second.line));
    }
  }

  std::vector<std::set<std::size_t>> edges(ids.size());
  std::map<std::pair<std::size_t, std::size_t>, SourcePos> edge_pos;
  for (const Parsed& p : parsed) {
    for (const Dependency& dep : p.depends_on) {
      const std::string who = p.id ? fmt::format("process '{}'", *p.id) : "a process";
      if (p.id && dep.id == *p.id) {
        diags.error(dep.pos, fmt::format("process '{}' depends on itself", *p.id));
        continue;
      }
      auto target = id_index.find(dep.id);
      if (target == id_index.end()) {
        diags.error(dep.pos, fmt::format("{} depends on unknown process '{}'{}", who, dep.id,
                                         suggestion(dep.id, ids)));
        continue;
      }
      if ((dep.condition == DepCondition::Completed ||
           dep.condition == DepCondition::CompletedSuccessfully) &&
          !always_one_shot[dep.id]) {
        diags.error(dep.pos,
                    fmt::format("{} waits for '{}' to complete, but '{}' is not a one-shot (in "
                                "every version)",
                                who, dep.id, dep.id));
      }
      if (!p.id) continue;
      const std::size_t from = id_index.at(*p.id);
      edges[from].insert(target->second);
      edge_pos.emplace(std::make_pair(from, target->second), dep.pos);
    }
  }
  check_cycles(ids, edges, edge_pos, diags);
}

void sort_by_position(std::vector<Diagnostic>& v) {
  std::stable_sort(v.begin(), v.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
  });
}

}  // namespace

ParseResult parse_config(std::string_view text, const std::string& path,
                         const std::map<std::string, std::string>& env) {
  Diags diags(path);
  Config config;
  config.path = path;
  Expanded expanded = parse_and_expand(text, path, diags, env);
  if (expanded.doc) {
    const toml::table& doc = *expanded.doc;
    check_top_level(doc, diags, config);
    if (const toml::node* node = doc.get("process")) {
      const auto* arr = node->as_array();
      if (!is_table_array(*node)) {
        Scope top(diags, "", nullptr);
        top.error(*node, fmt::format("'process' must be an array of tables ([[process]]), not {}",
                                     shape_name(*node)));
      } else {
        const std::string dir = directory_of(path);
        std::vector<Parsed> parsed;
        for (std::size_t i = 0; i < arr->size(); ++i) {
          const std::optional<TemplateUse>& use = expanded.uses[i];
          ProcessParser parser(diags, dir, *arr->get_as<toml::table>(i), i, use ? &*use : nullptr);
          parsed.push_back(parser.run());
        }
        cross_check(parsed, diags);
        for (Parsed& p : parsed) {
          if (p.process) config.processes.push_back(std::move(*p.process));
        }
      }
    }
  }
  ParseResult result;
  sort_by_position(diags.errors);
  sort_by_position(diags.notes);
  result.errors = std::move(diags.errors);
  result.notes = std::move(diags.notes);
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

ExpandResult expand_config_templates(std::string_view text, const std::string& path,
                                     const std::map<std::string, std::string>& env) {
  Diags diags(path);
  Expanded expanded = parse_and_expand(text, path, diags, env);
  ExpandResult result;
  sort_by_position(diags.errors);
  result.errors = std::move(diags.errors);
  if (!result.errors.empty() || !expanded.doc) return result;
  std::ostringstream out;
  out << toml::toml_formatter(
      *expanded.doc, toml::toml_formatter::default_flags & ~toml::format_flags::indent_sub_tables);
  result.text = out.str() + "\n";
  return result;
}

}  // namespace procman::core
