// procmanctl's verbs that talk to a running procmand over D-Bus
// (org.procman.Manager at /org/procman/Manager, one org.procman.Process object
// per process). One function per verb, each returning procmanctl's exit code
// (ExitCode in format.h) after printing what the verb prints; errors go to
// stderr as "procmanctl: <message>".
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace procman::ctl {

/// Where procmand is: which bus, which name.
struct BusOptions {
  bool system = false;  ///< the system bus; else the session (user) bus
  std::string bus_name = "org.procman.Manager";
};

/// Adds --user / --system / --bus-name (also $PROCMAN_BUS_NAME) to `app`, and one
/// subcommand per verb below plus the hidden `__complete-names`; the verb that runs stores
/// its exit code in `rc`. `run_command` holds the command split off by
/// take_run_command(); it must outlive app.parse().
void add_online_commands(CLI::App& app, BusOptions& bus,
                         const std::vector<std::string>& run_command, int& rc);

/// `procmanctl [GLOBAL] run [OPTIONS] [--] CMD...`: the command starts at the first word
/// after `run` that is not one of run's options (or after `--`), and is taken out of argv
/// here (argc shrinks) so option parsing never sees it. Empty when the verb is not `run`
/// or no command was given.
std::vector<std::string> take_run_command(int& argc, char** argv);

/// NAME STATE PID UPTIME RESTARTS CPU MEMORY HEALTH of every process, or those `names`
/// select (a name, an id = all its instances, or a glob); `json`: an array of objects with
/// every property. 4 when a name matches nothing, else 3 when a named process is neither
/// running nor exited-ok, else 0.
int status(const BusOptions& bus, const std::vector<std::string>& names, bool json);

/// Every property of process `name` (of the manager when `name` is empty) as Key=Value
/// lines, or one JSON object; only `props` when given (2 for a property that does not
/// exist); `value_only` prints values alone.
int show(const BusOptions& bus, const std::string& name, const std::vector<std::string>& props,
         bool json, bool value_only);

enum class Action { Start, Stop, Restart, Remove };
/// StartProcess / StopProcess / RestartProcess (mode "wait", or "no-block") or
/// RemoveProcess for every name at once, waiting up to 10 minutes for the replies. Prints
/// nothing on success.
int act(const BusOptions& bus, Action action, const std::vector<std::string>& names, bool no_block);

/// KillProcess: `signal` (a number) to the main process or the whole group.
int kill(const BusOptions& bus, const std::vector<std::string>& names, int signal,
         const std::string& whom);

/// ResetFailed for each name; with no names, for every process that is failed or
/// start-limit-hit.
int reset_failed(const BusOptions& bus, const std::vector<std::string>& names);

/// What `run` asks RunTransient for.
struct RunRequest {
  std::string name;  ///< "" = derived from the command by procmand
  std::vector<std::string> argv;
  std::vector<std::string> env;  ///< K=V
  std::string work_dir;          ///< made absolute here: procmand's cwd is not ours
  std::vector<std::string> after;
  std::string restart;  ///< "" = procmand's default
  bool once = false;
  bool unique = false;
};
/// RunTransient; prints "started transient process 'NAME'".
int run(const BusOptions& bus, const RunRequest& req);

/// The kept output lines of `name` (the last `lines`, 0 = all), stderr lines marked;
/// `follow` then polls ReadLogs every 250 ms until SIGINT/SIGTERM (exit 0).
int logs(const BusOptions& bus, const std::string& name, uint32_t lines, bool follow);

/// One line (or JSON object) per Manager signal until SIGINT/SIGTERM (0) or until procmand
/// or the bus goes away (1).
int events(const BusOptions& bus, bool json);

/// Reload; prints format_reload()'s summary. An invalid config's diagnostics are printed
/// as procmand sent them (exit 1).
int reload(const BusOptions& bus);

/// Shutdown with `message` (logged by procmand). Returns once procmand has accepted it.
int shutdown(const BusOptions& bus, const std::string& message);

/// For shell completion: process names (and ids of instanced processes), one per line.
/// Prints nothing and returns 0 when procmand is not there; never starts it through bus
/// activation.
int complete_names(const BusOptions& bus);

}  // namespace procman::ctl
