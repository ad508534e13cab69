// Transient processes: what a client asks for when it runs a process at
// runtime (D-Bus RunTransient, `procmanctl run`, FIFO `run`), how that
// request becomes a ProcessConfig (names, de-duplication, validation), and
// its JSON form in state.json so transients survive a procmand restart.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"

namespace procman::core {

struct TransientRequest {
  std::string name;               ///< "" = derive from the command
  std::string command;            ///< a command line, or:
  std::vector<std::string> argv;  ///< exact argv (exactly one of command/argv)
  std::map<std::string, std::string> env;
  std::string work_dir;  ///< "" = procmand's; else absolute
  bool once = false;     ///< a one-shot
  std::vector<Dependency> depends;
  std::string restart;      ///< "" = always, or no when once; else always|on-failure|no
  std::string stop_signal;  ///< "" = SIGTERM; "SIGINT", "int", "2"
  std::optional<Duration> stop_timeout;
  std::map<std::string, std::string> meta;
  bool unique = false;  ///< rename on conflict (name.1, name.2...) instead of failing
};

/// wbbradley/procman name de-duplication: the first use of a base name keeps it, later ones
/// get name.1, name.2... from a per-base counter that only grows (a per-daemon counter, so a
/// suffix is never handed out twice), skipping names taken().
class NameCounter {
 public:
  std::string assign(std::string_view base, const std::function<bool(std::string_view)>& taken);

 private:
  std::map<std::string, unsigned, std::less<>> next_;
};

/// Why `name` cannot name a process, "" if it can. The rules of config ids: non-empty, no
/// control characters, no '/', no '@' (reserved for instance names such as 'web@2').
std::string process_name_problem(std::string_view name);

/// A command line that core::command_argv() splits back into exactly `argv`, without a shell:
/// words that need it are single-quoted ('it'\''s'), empty words become ''.
std::string quote_argv(const std::vector<std::string>& argv);

/// Builds the ProcessConfig (transient = true, one_shot = once, env, depends-on...) or a
/// precise error ("name 'a/b' is invalid: ...", "command is empty", "restart must be always,
/// on-failure or no, got 'sometimes'", "unknown stop signal 'SIGFOO'"...).
/// An empty name is derived from the basename of argv[0] / the first word of the command
/// (after VAR=value assignments), with characters a name cannot hold replaced by '_'.
/// When the derived or given name is taken: unique or derived -> counter.assign(), else the
/// error "a process named 'x' already exists". Dependencies are checked by
/// Supervisor::add_transient (it knows the ids).
std::variant<ProcessConfig, std::string> make_transient(
    const TransientRequest& r, const std::function<bool(std::string_view)>& taken,
    NameCounter& counter);

/// JSON round trip so transients survive a procmand restart (state.json).
nlohmann::json transient_to_json(const TransientRequest& r);
std::variant<TransientRequest, std::string> transient_from_json(const nlohmann::json& j);

}  // namespace procman::core
