// Transient requests -> ProcessConfig, names, and their state.json form (see transient.h).
#include "core/transient.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

#include "core/command_line.h"
#include "core/names.h"
#include "core/suggest.h"

namespace procman::core {
namespace {

using nlohmann::json;

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

bool is_env_name(std::string_view key) {
  auto ok = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  };
  return !key.empty() && !(key[0] >= '0' && key[0] <= '9') &&
         std::all_of(key.begin(), key.end(), ok);
}

bool is_assignment(std::string_view word) {
  const std::size_t eq = word.find('=');
  return eq != std::string_view::npos && eq > 0 && is_env_name(word.substr(0, eq));
}

/// Characters that never mean anything to command_argv's splitting or needs_shell().
bool is_plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
}

std::string single_quoted(std::string_view word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";  // close, an escaped quote, reopen
    else
      out += c;
  }
  return out + "'";
}

/// The program a command runs: argv[0], or the first word that is not an assignment.
std::string program_of(const TransientRequest& r) {
  if (!r.argv.empty()) return r.argv.front();
  std::vector<std::string> words;
  if (auto split = split_words(r.command, nullptr)) {
    words = std::move(*split);
  } else {
    // An unparsable line is refused later; a name is still wanted for nothing.
    words.emplace_back(r.command);
  }
  for (const auto& w : words)
    if (!is_assignment(w)) return w;
  return {};
}

std::string derive_name(const TransientRequest& r) {
  std::string program = program_of(r);
  while (program.size() > 1 && program.back() == '/') program.pop_back();
  if (const auto slash = program.rfind('/'); slash != std::string::npos && program.size() > 1)
    program.erase(0, slash + 1);
  std::string name;
  for (char c : program)
    name += (is_control(c) || c == '/' || c == '@' || c == ' ' || c == '\t') ? '_' : c;
  return name.empty() || name == "_" ? "process" : name;
}

std::optional<int> parse_stop_signal(std::string_view text, std::string* error) {
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const int n = text.size() > 3 ? 1000 : std::stoi(std::string(text));
    if (n >= 1 && n <= 64) return n;
    *error = fmt::format("stop signal must be 1..64, got {}", text);
    return std::nullopt;
  }
  std::string name(text);
  for (char& c : name)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
  std::vector<std::string> names;
  for (const auto& [known, number] : signal_table()) {
    if (known == name) return number;
    names.push_back(known);
  }
  *error = fmt::format("unknown stop signal '{}'", text);
  if (auto m = closest_match(name, names)) *error += fmt::format(" (did you mean '{}'?)", *m);
  return std::nullopt;
}

std::string_view kind_name(Dependency::Kind k) {
  switch (k) {
    case Dependency::Kind::Process:
      return "process";
    case Dependency::Kind::Url:
      return "url";
    case Dependency::Kind::Tcp:
      return "tcp";
    case Dependency::Kind::Path:
      return "path";
    case Dependency::Kind::NotListening:
      return "not-listening";
    case Dependency::Kind::NotExists:
      return "not-exists";
    case Dependency::Kind::NotRunning:
      return "not-running";
  }
  return "process";
}

constexpr std::array kKinds = {Dependency::Kind::Process,      Dependency::Kind::Url,
                               Dependency::Kind::Tcp,          Dependency::Kind::Path,
                               Dependency::Kind::NotListening, Dependency::Kind::NotExists,
                               Dependency::Kind::NotRunning};
constexpr std::array kConditions = {DepCondition::Started, DepCondition::Running,
                                    DepCondition::Completed, DepCondition::CompletedSuccessfully};

std::string check_dependencies(const std::vector<Dependency>& deps) {
  for (const auto& d : deps) {
    if (d.kind == Dependency::Kind::Process) {
      if (d.id.empty()) return "a dependency names no process";
    } else if (d.target.empty()) {
      return fmt::format("a {} dependency has no target", kind_name(d.kind));
    }
    if (d.poll_interval.count() <= 0 && d.kind != Dependency::Kind::Process)
      return fmt::format("the poll interval of a {} dependency must be positive",
                         kind_name(d.kind));
    if (d.timeout.count() < 0) return "a dependency timeout cannot be negative";
  }
  return {};
}

json dependency_to_json(const Dependency& d) {
  json j{{"kind", std::string(kind_name(d.kind))}};
  if (d.kind == Dependency::Kind::Process) {
    j["id"] = d.id;
    j["condition"] = std::string(condition_name(d.condition));
  } else {
    j["target"] = d.target;
    if (d.kind == Dependency::Kind::Url) j["expect_status"] = d.expect_status;
  }
  j["poll_interval_ms"] = d.poll_interval.count();
  j["timeout_ms"] = d.timeout.count();
  j["retry"] = d.retry;
  return j;
}

std::variant<Dependency, std::string> dependency_from_json(const json& j) {
  Dependency d;
  const std::string kind = j.value("kind", "process");
  auto k = std::find_if(kKinds.begin(), kKinds.end(), [&](auto x) { return kind_name(x) == kind; });
  if (k == kKinds.end()) return fmt::format("unknown dependency kind '{}'", kind);
  d.kind = *k;
  d.id = j.value("id", "");
  const std::string cond = j.value("condition", "running");
  auto c = std::find_if(kConditions.begin(), kConditions.end(),
                        [&](auto x) { return condition_name(x) == cond; });
  if (c == kConditions.end()) return fmt::format("unknown dependency condition '{}'", cond);
  d.condition = *c;
  d.target = j.value("target", "");
  d.expect_status = j.value("expect_status", 200);
  d.poll_interval = Duration(j.value("poll_interval_ms", d.poll_interval.count()));
  d.timeout = Duration(j.value("timeout_ms", d.timeout.count()));
  d.retry = j.value("retry", true);
  return d;
}

}  // namespace

std::string NameCounter::assign(std::string_view base,
                                const std::function<bool(std::string_view)>& taken) {
  auto it = next_.find(base);
  if (it == next_.end()) it = next_.emplace(std::string(base), 0).first;
  for (;;) {
    const unsigned n = it->second++;
    std::string candidate = n == 0 ? std::string(base) : fmt::format("{}.{}", base, n);
    if (!taken(candidate)) return candidate;
  }
}

std::string process_name_problem(std::string_view name) {
  if (name.empty()) return "it is empty";
  if (std::any_of(name.begin(), name.end(), is_control))
    return "it must not contain control characters";
  if (name.find('/') != std::string_view::npos) return "it must not contain '/'";
  if (name.find('@') != std::string_view::npos)
    return "it must not contain '@' (it is reserved for instance names such as 'web@2')";
  return {};
}

std::string quote_argv(const std::vector<std::string>& argv) {
  auto join = [&](bool quote_all) {
    std::string line;
    for (const auto& w : argv) {
      if (!line.empty()) line += ' ';
      const bool plain = !w.empty() && std::all_of(w.begin(), w.end(), is_plain);
      line += plain && !quote_all ? w : single_quoted(w);
    }
    return line;
  };
  std::string line = join(false);
  // Plain words can still mean something to a shell as the first word ("if", "A=b"):
  // quoted, they are just words.
  return needs_shell(line) ? join(true) : line;
}

std::variant<ProcessConfig, std::string> make_transient(
    const TransientRequest& r, const std::function<bool(std::string_view)>& taken,
    NameCounter& counter) {
  ProcessConfig p;
  p.transient = true;

  // The command.
  const bool blank_command = r.command.find_first_not_of(" \t\n") == std::string::npos;
  if (!r.argv.empty() && !r.command.empty()) return "give a command line or an argv, not both";
  if (r.argv.empty() && blank_command) return "command is empty";
  std::string line;
  if (!r.argv.empty()) {
    if (r.argv.front().empty()) return "the program (argv[0]) is empty";
    line = quote_argv(r.argv);
  } else {
    line = r.command;
    std::string error;
    if (!command_argv(line, false, &error)) return error;
  }
  p.command = Command{line, CommandType::Simple, {}};

  // The name.
  const bool derived = r.name.empty();
  std::string name = derived ? derive_name(r) : r.name;
  if (std::string why = process_name_problem(name); !why.empty())
    return fmt::format("name '{}' is invalid: {}", name, why);
  if (taken(name)) {
    if (!r.unique && !derived) return fmt::format("a process named '{}' already exists", name);
    name = counter.assign(name, taken);
  }
  p.id = name;

  // Policy.
  p.one_shot = r.once;
  if (r.restart.empty()) {
    p.restart = r.once ? RestartPolicy::No : RestartPolicy::Always;
  } else if (r.restart == "always") {
    if (r.once) return "a one-shot cannot restart always; use on-failure";
    p.restart = RestartPolicy::Always;
  } else if (r.restart == "on-failure") {
    p.restart = RestartPolicy::OnFailure;
  } else if (r.restart == "no") {
    p.restart = RestartPolicy::No;
  } else {
    return fmt::format("restart must be always, on-failure or no, got '{}'", r.restart);
  }
  if (!r.stop_signal.empty()) {
    std::string error;
    auto sig = parse_stop_signal(r.stop_signal, &error);
    if (!sig) return error;
    p.stop_signal = *sig;
  }
  if (r.stop_timeout) {
    if (r.stop_timeout->count() <= 0)
      return fmt::format("stop timeout must be positive, got {}", format_duration(*r.stop_timeout));
    if (*r.stop_timeout > kMaxDuration)
      return fmt::format("stop timeout {} is too long", format_duration(*r.stop_timeout));
    p.stop_timeout = *r.stop_timeout;
  }

  // Environment, directory, dependencies, metadata.
  for (const auto& [key, value] : r.env) {
    if (!is_env_name(key))
      return fmt::format(
          "invalid environment variable name '{}' (use letters, digits and '_', not starting "
          "with a digit)",
          key);
  }
  p.env = r.env;
  if (!r.work_dir.empty()) {
    if (r.work_dir.front() != '/')
      return fmt::format("work dir '{}' must be an absolute path", r.work_dir);
    p.work_dir = r.work_dir;
  }
  if (std::string why = check_dependencies(r.depends); !why.empty()) return why;
  p.depends_on = r.depends;
  p.meta = r.meta;
  return p;
}

nlohmann::json transient_to_json(const TransientRequest& r) {
  json deps = json::array();
  for (const auto& d : r.depends) deps.push_back(dependency_to_json(d));
  json j{{"name", r.name}, {"once", r.once}, {"unique", r.unique}};
  if (!r.argv.empty())
    j["argv"] = r.argv;
  else
    j["command"] = r.command;
  if (!r.env.empty()) j["env"] = r.env;
  if (!r.work_dir.empty()) j["work_dir"] = r.work_dir;
  if (!r.depends.empty()) j["depends"] = deps;
  if (!r.restart.empty()) j["restart"] = r.restart;
  if (!r.stop_signal.empty()) j["stop_signal"] = r.stop_signal;
  if (r.stop_timeout) j["stop_timeout_ms"] = r.stop_timeout->count();
  if (!r.meta.empty()) j["meta"] = r.meta;
  return j;
}

std::variant<TransientRequest, std::string> transient_from_json(const nlohmann::json& j) {
  try {
    if (!j.is_object()) return "a transient process must be a JSON object";
    TransientRequest r;
    r.name = j.value("name", "");
    r.command = j.value("command", "");
    if (j.contains("argv")) r.argv = j.at("argv").get<std::vector<std::string>>();
    if (j.contains("env")) r.env = j.at("env").get<std::map<std::string, std::string>>();
    r.work_dir = j.value("work_dir", "");
    r.once = j.value("once", false);
    if (j.contains("depends")) {
      for (const auto& d : j.at("depends")) {
        auto dep = dependency_from_json(d);
        if (auto* err = std::get_if<std::string>(&dep))
          return fmt::format("transient '{}': {}", r.name, *err);
        r.depends.push_back(std::get<Dependency>(dep));
      }
    }
    r.restart = j.value("restart", "");
    r.stop_signal = j.value("stop_signal", "");
    if (j.contains("stop_timeout_ms"))
      r.stop_timeout = Duration(j.at("stop_timeout_ms").get<Duration::rep>());
    if (j.contains("meta")) r.meta = j.at("meta").get<std::map<std::string, std::string>>();
    r.unique = j.value("unique", false);
    return r;
  } catch (const json::exception& e) {
    return std::string("malformed transient process: ") + e.what();
  }
}

}  // namespace procman::core
