// The configuration model: what a procman TOML file says, after template
// expansion and validation. Pure data; parsing lives in config_parser.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/box.h"
#include "core/calendar.h"
#include "core/cron.h"
#include "core/diagnostic.h"
#include "core/duration.h"
#include "core/small_vec.h"
#include "core/sparse.h"

namespace procman::core {

/// How `command` is turned into a running process (jleahred/procman `type`).
enum class CommandType {
  Simple,      ///< argv split shell-style and exec'd; falls back to /bin/sh -c when it holds shell
               ///< syntax
  Expression,  ///< always /bin/sh -c
  PidFile,     ///< /bin/sh -c; the supervised pid is read from $PROCMAN_PID_FILE
  PodmanCid,   ///< /bin/sh -c prints a container id; the pid comes from `podman inspect`
};

struct Command {
  std::string line;
  CommandType type = CommandType::Simple;
  SourcePos pos;
};

/// before / init / stop: a shell command with a timeout.
struct Hook {
  std::string command;
  Duration timeout{};  ///< defaults: before 10s, init 10s, stop 5s (jleahred/procman)
  SourcePos pos;
};

/// A periodic check of a running process (process-compose probe semantics).
/// `health-check` is the liveness check (jleahred/procman: failing means the
/// process is restarted per its policy); `readiness-check` gates "running".
struct HealthCheck {
  enum class Kind {
    Command,  ///< /bin/sh -c command, healthy when it exits 0 within timeout
    Folder,   ///< healthy while some entry of `folder` changed within inactive_time
    Http,     ///< GET url answers expect_status within timeout
    Tcp,      ///< host:port accepts a connection within timeout
    File,     ///< `path` exists
  };
  Kind kind = Kind::Command;
  std::string command;       ///< Command
  Duration timeout{};        ///< per attempt (Command, Http, Tcp); default 5s
  std::string folder;        ///< Folder
  Duration inactive_time{};  ///< Folder, default 300s
  std::string url;           ///< Http
  int expect_status = 200;   ///< Http
  std::string host;          ///< Tcp
  uint16_t port = 0;         ///< Tcp
  std::string path;          ///< File
  Duration initial_delay{};  ///< before the first attempt, counted from the start (default 0)
  Duration period = std::chrono::seconds(10);  ///< between attempts
  unsigned success_threshold = 1;              ///< consecutive successes to count as healthy/ready
  unsigned failure_threshold = 3;              ///< consecutive failures to count as unhealthy
  SourcePos pos;
};

enum class RestartPolicy { Always, OnFailure, No };

/// Exponential backoff between restarts: initial * multiplier^n, capped at max,
/// and n goes back to 0 once the process has run for reset_after.
struct Backoff {
  Duration initial = std::chrono::seconds(1);
  double multiplier = 2.0;
  Duration max = std::chrono::minutes(1);
  Duration reset_after = std::chrono::minutes(1);
};

/// At most `burst` starts within `interval`; jleahred/procman's TooMuchRuns (5 in 10 min).
struct StartLimit {
  unsigned burst = 5;
  Duration interval = std::chrono::minutes(10);
};

/// What a dependency has to reach before the dependent may start.
enum class DepCondition {
  Started,                ///< spawned (state init or running)
  Running,                ///< running: init done / ready (the default, jleahred/procman)
  Completed,              ///< a one-shot that exited, whatever its status
  CompletedSuccessfully,  ///< a one-shot that exited with a success code
};

/// What a dependent waits for: another process (by id and condition), or an
/// external condition polled until it holds (the wbbradley/procman kinds).
struct Dependency {
  enum class Kind {
    Process,       ///< id + condition (process_exited = completed-successfully)
    Url,           ///< GET target answers expect_status
    Tcp,           ///< target "host:port" accepts a connection
    Path,          ///< target exists
    NotListening,  ///< target "host:port" refuses connections
    NotExists,     ///< target does not exist
    NotRunning,    ///< no process's command line matches target (a regex)
  };
  Kind kind = Kind::Process;
  std::string id;  ///< Process
  DepCondition condition = DepCondition::Running;
  std::string target;       ///< the url, host:port, path or pattern of the other kinds
  int expect_status = 200;  ///< Url
  Duration poll_interval = std::chrono::seconds(1);
  Duration timeout = std::chrono::seconds(60);  ///< then the dependent fails; 0 = wait forever
  bool retry = true;  ///< false: the first failed check fails the dependent
  SourcePos pos;
};

struct IoNice {
  int io_class = 2;  ///< 1 realtime, 2 best-effort, 3 idle (ioprio classes)
  int level = 4;     ///< 0..7, ignored for idle
};

/// An rlimit by its RLIMIT_* number; soft/hard UINT64_MAX means infinity.
struct Limit {
  int resource = 0;
  std::string name;  ///< the config key, e.g. "nofile"
  uint64_t soft = 0;
  uint64_t hard = 0;
};

/// When a started process counts as running (before its readiness check, if any).
enum class ReadyMode {
  Started,  ///< as soon as it runs (and its init command, if any, succeeded)
  Notify,   ///< when it sends READY=1 to $NOTIFY_SOCKET (systemd's Type=notify)
};

/// One listening socket procmand opens for a process (`sockets = [...]`) and
/// passes as LISTEN_FDS; `listen` is the spec as written ("tcp:127.0.0.1:8080",
/// "unix:%t/app.sock"), checked by core/socket_spec.h.
struct SocketConfig {
  std::string listen;
  std::string name;  ///< for LISTEN_FDNAMES; empty = derived from the spec
  SourcePos pos;
};

/// cgroup limits (applied where the controllers are delegated to procmand).
struct ResourceLimits {
  Box<uint64_t> memory_max;  ///< bytes; UINT64_MAX = "max"
  Box<unsigned> cpu_weight;  ///< 1..10000 (100 = the default share)
  Box<uint64_t> tasks_max;   ///< UINT64_MAX = "max"
  bool empty() const { return !memory_max && !cpu_weight && !tasks_max; }
  bool operator==(const ResourceLimits&) const = default;
};

/// One version of one [[process]]. The daemon keeps one per version in the file, so the
/// layout is part of the per-process footprint: the parts most processes leave unset are
/// Boxes (a pointer while unset) and the scalars are packed at the end.
struct ProcessConfig {
  std::string id;
  std::optional<Command> command;  ///< required unless fake
  std::vector<Dependency> depends_on;
  std::map<std::string, std::string> env;
  // Most processes set none of these three: each is a pointer until set.
  Sparse<std::map<std::string, std::string>> meta;
  Sparse<std::vector<Limit>> limits;
  Sparse<std::vector<SocketConfig>> sockets;
  Backoff restart_delay;
  StartLimit start_limit;

  /// When this version starts to apply; nullopt = since forever (required in
  /// jleahred/procman, optional here). Versions of one id have distinct apply_on.
  Box<LocalDateTime> apply_on;
  Box<Schedule> schedule;
  Box<std::string> work_dir;
  Box<Hook> before;
  Box<Hook> init;
  Box<Hook> stop;
  Box<HealthCheck> health_check;     ///< liveness
  Box<HealthCheck> readiness_check;  ///< gates `running` (and dependents)
  Box<std::string> env_file;
  Box<std::string> user;
  Box<std::string> group;
  Box<IoNice> ionice;
  Box<Duration> deadline;
  Box<CronSpec> cron;
  Box<std::string> cron_text;      ///< as written, for display
  Box<std::string> template_name;  ///< set when expanded from a [[template]]

  /// Event hooks: fire-and-forget shell commands run with the event in their
  /// environment (PROCMAN_NAME, PROCMAN_EVENT, PROCMAN_EXIT_CODE...). Unlike
  /// before/init/stop they never gate or fail the process.
  Box<Hook> on_start;    ///< it reached running
  Box<Hook> on_exit;     ///< its main process exited, for any reason
  Box<Hook> on_failure;  ///< it failed (exit policy says failure, start failed, limit hit)

  // The systemd contract for children.
  /// WATCHDOG=1 must arrive at least this often once it runs, or it is killed
  /// (SIGABRT, then SIGKILL after stop-timeout) and its restart policy applies.
  Box<Duration> watchdog;
  ResourceLimits resources;

  Duration stop_timeout = std::chrono::seconds(10);
  /// How long a `ready = "notify"` process may take to send READY=1 (systemd's
  /// TimeoutStartSec; EXTEND_TIMEOUT_USEC= pushes it out).
  Duration start_timeout = std::chrono::seconds(90);
  SmallVec<int, 2> success_exit_codes{0};
  std::optional<int> nice;
  std::optional<unsigned> umask;
  SourcePos pos;         ///< where its [[process]] table starts
  int stop_signal = 15;  ///< SIGTERM
  unsigned instances = 1;
  RestartPolicy restart = RestartPolicy::Always;  ///< resolved: one-shots default to No
  ReadyMode ready = ReadyMode::Started;
  bool fake = false;
  bool one_shot = false;
  /// Start only when the first connection arrives on one of `sockets`.
  bool start_on_demand = false;
  /// Added at runtime (D-Bus RunTransient, `procmanctl run`, FIFO `run`), not
  /// read from the file: a reload keeps it, `remove` forgets it.
  bool transient = false;
};

/// `[controller]`: a program procmand starts and supervises that receives
/// every event on stdin as one JSON line and sends commands on stdout in the
/// FIFO protocol (docs/fifo-protocol.md).
struct ControllerConfig {
  Command command;
  std::map<std::string, std::string> env;
  std::optional<std::string> work_dir;
  Backoff restart_delay;  ///< between restarts when it dies
  SourcePos pos;
};

struct Config {
  std::string path;  ///< the file it was read from
  std::string uid;
  std::string file_format;
  std::vector<ProcessConfig> processes;  ///< every version of every id, file order
  std::optional<ControllerConfig> controller;
};

}  // namespace procman::core
