// The contract between the D-Bus layer (src/dbus) and the daemon that
// implements it. The adaptors only translate: D-Bus calls become Backend
// calls, and the daemon tells the Service what changed. Nothing here knows
// about sdbus-c++, so the daemon side and fakes in tests stay plain C++.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/supervisor.h"

namespace procman::dbus {

/// Stable error names (org.procman.Error.*) with a human message.
struct Error {
  std::string name;     ///< one of the kErr* constants
  std::string message;  ///< precise, for humans: "no process named 'wbe' (did you mean 'web'?)"
};
inline constexpr const char* kErrNoSuchProcess = "org.procman.Error.NoSuchProcess";
inline constexpr const char* kErrInvalidArgs = "org.procman.Error.InvalidArgs";
inline constexpr const char* kErrAlreadyExists = "org.procman.Error.AlreadyExists";
inline constexpr const char* kErrFailed = "org.procman.Error.Failed";
inline constexpr const char* kErrAccessDenied = "org.procman.Error.AccessDenied";
inline constexpr const char* kErrInvalidConfig = "org.procman.Error.InvalidConfig";
inline constexpr const char* kErrShuttingDown = "org.procman.Error.ShuttingDown";

/// Everything a Process object shows, gathered by the daemon in one go.
struct ProcessView {
  core::UnitStatus status;
  bool transient = false;
  std::string command;
  std::string work_dir;
  std::vector<std::string> depends_on;
  std::string restart;       ///< "always", "on-failure", "no"
  std::string apply_on;      ///< "" = none
  std::string schedule;      ///< as written, "" = none
  std::string cron;          ///< as written, "" = none
  std::string next_change;   ///< local "YYYY-MM-DD HH:MM:SS", "" = nothing planned
  std::string effective_json;
  std::map<std::string, std::string> meta;
};

/// CPU and memory of a process's tree, read on demand.
struct Usage {
  uint64_t cpu_nsec = 0;
  uint64_t memory_bytes = 0;
};

enum class Op { Start, Stop, Restart };

/// How an operation ended: state reached, or an error.
struct OpResult {
  std::optional<Error> error;
  std::string state;  ///< the state reached (of the last unit when a name has instances)
};
using OpDone = std::function<void(OpResult)>;

/// Who called, from the bus credentials.
struct Caller {
  uint32_t uid = 0;
  uint32_t pid = 0;
  std::string bus_name;  ///< unique name, ":1.42"
};

/// A transient process request (RunTransient / `procmanctl run` / FIFO `run`).
struct TransientSpec {
  std::string name;                      ///< "" = derive from the command
  std::string command;                   ///< a command line; or argv:
  std::vector<std::string> argv;
  std::vector<std::string> environment;  ///< K=V, over procmand's environment
  std::string work_dir;
  bool once = false;
  std::vector<std::string> depends_on;
  std::string restart;                   ///< "" = default (always, or no with once)
  std::string stop_signal;               ///< "" = default
  std::optional<uint64_t> stop_timeout_usec;
  std::map<std::string, std::string> meta;
  bool unique = false;                   ///< rename to name.1, name.2... instead of AlreadyExists
};

struct LogLine {
  uint64_t seq = 0;  ///< increases by one per line of a process, never reused
  uint64_t realtime_usec = 0;
  bool is_stderr = false;
  std::string text;
};

struct ReloadResult {
  std::vector<std::string> added, removed, restarted, pending;
};

struct ManagerView {
  std::string version, config_path, config_uid, fifo_path, state_dir;
  std::string state;        ///< "starting", "running", "reloading", "stopping"
  std::string status_text;  ///< "12 running, 1 failed, 2 scheduled"
  uint32_t process_count = 0;
  std::map<std::string, uint32_t> counts;  ///< by state name, zero counts left out
  std::string log_target;  ///< "journal" or "console" (kept last: tests build views with aggregate init)
};

/// Implemented by the daemon. Every call happens on the event loop thread.
/// Methods returning std::optional<Error> return nullopt on success.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual ManagerView manager() = 0;
  virtual std::vector<ProcessView> processes() = 0;
  /// Every process's status, without building views: what listings need, in O(processes).
  virtual void for_each_status(const std::function<void(const core::UnitStatus&)>& fn) {
    for (const auto& v : processes()) fn(v.status);
  }
  virtual std::optional<ProcessView> process(std::string_view name) = 0;
  virtual Usage usage(std::string_view name) = 0;
  /// Resolves `name` (a process, or an id with instances) or says why not.
  virtual std::optional<Error> check_name(std::string_view name) = 0;
  /// Begins `op`; `done` is called exactly once, possibly before operate()
  /// returns (no-block, or nothing to do), else from the event loop later.
  virtual void operate(Op op, std::string_view name, bool wait, OpDone done) = 0;
  /// whom: "group" or "main".
  virtual std::optional<Error> kill(std::string_view name, std::string_view whom, int signal) = 0;
  virtual std::optional<Error> reset_failed(std::string_view name) = 0;
  /// Returns the name given, or an error.
  virtual std::variant<std::string, Error> run_transient(const TransientSpec& spec) = 0;
  /// Stops and forgets a transient process; `done` as for operate().
  virtual void remove(std::string_view name, OpDone done) = 0;
  virtual std::variant<std::vector<std::string>, Error> logs(std::string_view name,
                                                             uint32_t lines) = 0;
  /// Lines after sequence number `after` (0 = oldest kept), at most `max` (0 = all).
  virtual std::variant<std::vector<LogLine>, Error> read_logs(std::string_view name, uint64_t after,
                                                              uint32_t max) = 0;
  virtual std::variant<ReloadResult, Error> reload() = 0;
  virtual std::optional<Error> shutdown(const Caller& caller, std::string_view message) = 0;
};

}  // namespace procman::dbus
