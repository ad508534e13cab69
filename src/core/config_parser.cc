// Reading a procman TOML file: parse with toml++, expand [[template]]s into
// their processes, then check every key strictly into the Config model (each
// [[process]] and the [controller]), and finally cross-check the processes
// (duplicate versions, references, cycles). Every problem is collected with
// its position; nothing stops at the first.
#include "core/config_parser.h"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <functional>
#include <set>
#include <sstream>
#include <utility>

#include "core/config_scope.h"
#include "core/config_templates.h"
#include "core/config_values.h"

namespace procman::core {

// The parser's own parts (config_scope.h, config_values.h, config_templates.h).
using namespace config_detail;

namespace {

constexpr Duration kBeforeTimeout = std::chrono::seconds(10);
constexpr Duration kInitTimeout = std::chrono::seconds(10);
constexpr Duration kStopHookTimeout = std::chrono::seconds(5);
// Event hooks are fire-and-forget: the timeout only bounds how long one may linger.
constexpr Duration kEventHookTimeout = std::chrono::seconds(30);

const Strings kTopLevelKeys = {"uid", "file-format", "process", "template", "controller"};
// jleahred/procman's keys, then procman's extensions.
// clang-format off
const Strings kProcessKeys = {
    "id", "apply-on", "fake", "one-shot", "command", "depends-on", "work-dir", "before", "init",
    "stop", "health-check", "schedule", "template",
    "readiness-check",
    "env", "env-file", "restart", "success-exit-codes", "restart-delay", "start-limit",
    "stop-signal", "stop-timeout", "instances", "user", "group", "nice", "ionice", "umask",
    "limits", "meta", "deadline", "cron", "on-start", "on-exit", "on-failure",
    "ready", "start-timeout", "watchdog", "sockets", "start-on-demand",
    "memory-max", "cpu-weight", "tasks-max"};
const Strings kControllerKeys = {"command", "env", "work-dir", "restart-delay"};
// clang-format on
// In the order of RestartPolicy: an index is the value.
const Strings kRestartPolicies = {"always", "on-failure", "no"};
// In the order of ReadyMode.
const Strings kReadyModes = {"started", "notify"};

// ---------------------------------------------------------------------------
// One [[process]] table

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
    if (const toml::node* n = get("depends-on"))
      p.depends_on = parse_depends_on(scope_, *n, config_dir_);
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
      p.health_check = parse_health_check(scope_, *n, "health-check", config_dir_);
    }
    if (const toml::node* n = get("readiness-check")) {
      p.readiness_check = parse_health_check(scope_, *n, "readiness-check", config_dir_);
    }
    if (const toml::node* n = get("schedule")) p.schedule = parse_schedule(scope_, *n);
    extensions(p);
    if (const toml::node* n = get("on-start"))
      p.on_start = parse_hook(scope_, *n, "on-start", kEventHookTimeout);
    if (const toml::node* n = get("on-exit"))
      p.on_exit = parse_hook(scope_, *n, "on-exit", kEventHookTimeout);
    if (const toml::node* n = get("on-failure"))
      p.on_failure = parse_hook(scope_, *n, "on-failure", kEventHookTimeout);

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
    if (const toml::node* n = get("ready")) {
      if (auto i = want_choice(scope_, *n, "ready", kReadyModes, "ready mode"))
        p.ready = static_cast<ReadyMode>(*i);
    }
    if (const toml::node* n = get("start-timeout")) {
      if (auto d = want_duration(scope_, *n, "start-timeout", true)) p.start_timeout = *d;
    }
    if (const toml::node* n = get("watchdog")) p.watchdog = want_duration(scope_, *n, "watchdog", true);
    if (const toml::node* n = get("sockets")) p.sockets = parse_sockets(scope_, *n);
    if (const toml::node* n = get("start-on-demand")) {
      p.start_on_demand = want_bool(scope_, *n, "start-on-demand").value_or(false);
      if (p.start_on_demand && p.sockets.empty() && !get("sockets"))
        scope_.error(*n, "'start-on-demand' needs 'sockets' to wait on");
    }
    if (const toml::node* n = get("memory-max")) p.resources.memory_max = parse_bytes(scope_, *n, "memory-max");
    if (const toml::node* n = get("cpu-weight")) {
      if (auto v = want_int(scope_, *n, "cpu-weight", 1, 10000)) p.resources.cpu_weight = static_cast<unsigned>(*v);
    }
    if (const toml::node* n = get("tasks-max")) p.resources.tasks_max = parse_count_or_max(scope_, *n, "tasks-max");
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

/// `[controller]`: one table; `[[controller]]` (an array) is refused, since
/// procmand runs a single controller.
std::optional<ControllerConfig> parse_controller(const toml::node& node, const std::string& dir,
                                                 Diags& diags) {
  const toml::table* t = node.as_table();
  if (t == nullptr) {
    Scope top(diags, "", nullptr);
    if (is_table_array(node)) {
      top.error(node,
                "'controller' must be one table [controller], not an array of tables "
                "([[controller]]): procmand runs a single controller");
    } else {
      top.error(node,
                fmt::format("'controller' must be a table [controller] with a command, not {}",
                            shape_name(node)));
    }
    return std::nullopt;
  }
  Scope s(diags, "[controller]", nullptr);
  const std::size_t errors_before = diags.errors.size();
  ControllerConfig c;
  c.pos = pos_of(t->source());
  s.check_keys(*t, kControllerKeys, "in [controller]");
  if (const toml::node* n = t->get("command")) {
    // Only the simple form: the controller talks over its stdin and stdout, so
    // a pid-file or podman-cid launcher would have nothing to talk to.
    if (n->is_string()) {
      if (auto cmd = parse_command(s, *n)) c.command = std::move(*cmd);
    } else {
      s.error(*n, fmt::format("'command' must be a string, not {}", type_name(*n)));
    }
  } else {
    s.error_at(c.pos, "missing required key 'command'");
  }
  if (const toml::node* n = t->get("env")) c.env = parse_string_map(s, *n, "env", true);
  if (const toml::node* n = t->get("work-dir")) {
    if (const std::string* d = want_text(s, *n, "work-dir")) c.work_dir = resolve_path(dir, *d);
  }
  if (const toml::node* n = t->get("restart-delay")) {
    if (auto b = parse_restart_delay(s, *n)) c.restart_delay = *b;
  }
  if (diags.errors.size() != errors_before) return std::nullopt;
  return c;
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
      if (dep.kind != Dependency::Kind::Process) continue;  // probes name no process
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
    if (const toml::node* node = doc.get("controller")) {
      config.controller = parse_controller(*node, directory_of(path), diags);
    }
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
