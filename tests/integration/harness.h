// Black-box harness: runs the real procmand on a temporary config and state
// directory, collects its output, and waits for events with generous bounds
// (never a fixed sleep).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace procman::test {

using namespace std::chrono_literals;

/// A private directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& content, bool executable = false) const;

 private:
  std::string path_;
};

/// Waits until pred() holds, checking on every change of `what`'s source, at
/// most `timeout` (default 20 s, generous for ASan builds on 2 cores).
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 20s);

/// One procmand process. Its output (stdout+stderr) is read into a buffer that
/// wait_for_line() searches, but only while the test calls wait_for_line(),
/// output() or wait_exit(): there is no background reader. procmand blocks once
/// the pipe (64 KiB) is full, so a long wait on anything else (the state file,
/// /proc) should call output() in its predicate to keep the pipe drained.
class Procmand {
 public:
  /// Starts `procmand CONFIG --state-dir STATE --color never` plus extra args;
  /// with `--no-bus` unless `env` sets DBUS_SESSION_BUS_ADDRESS.
  Procmand(const std::string& config, const std::string& state_dir,
           std::vector<std::string> extra = {}, std::vector<std::string> env = {});
  ~Procmand();  ///< kill_with_children() if still running; grandchildren are the test's to clean
  Procmand(const Procmand&) = delete;
  Procmand& operator=(const Procmand&) = delete;

  pid_t pid() const { return pid_; }
  /// Waits for an output line matching `re`; returns it (or nullopt on timeout).
  /// Searches lines after the position of the previous successful match when `after_last` is set.
  std::optional<std::string> wait_for_line(const std::string& re,
                                           std::chrono::milliseconds timeout = 20s,
                                           bool after_last = true);
  /// All output so far.
  std::string output() const;
  void signal(int sig) const;
  /// Waits for procmand to exit; returns its exit code (or 128+signal), nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 30s);
  bool running() const { return pid_ > 0 && !exited_; }

 private:
  void pump(std::chrono::milliseconds budget) const;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  mutable std::string buf_;
  mutable std::size_t cursor_ = 0;
  bool exited_ = false;
  int status_ = 0;
};

/// Runs a command to completion; returns exit code and combined output.
struct RunResult {
  int code = -1;
  std::string output;
};
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
              std::chrono::milliseconds timeout = 60s);

/// Whether a pid exists (and is not a zombie).
bool pid_alive(pid_t pid);
/// SIGKILLs a procmand the test started and every child it has at that moment,
/// including one it is still spawning, then reaps it.
void kill_with_children(pid_t pid);
/// Pids whose /proc/PID/environ contains `marker` (e.g. "PROCMAN_UID=test-123").
std::vector<pid_t> pids_with_env(const std::string& marker);
/// SIGKILLs every process carrying `marker` in its environment: cleanup for
/// children a crashed test left behind. Only ever the test's own processes.
void kill_marked(const std::string& marker);

/// The state file procmand keeps, parsed: unit name -> (state, pid).
struct UnitSnapshot {
  std::string state;
  int pid = -1;
  unsigned restarts = 0;
};
std::optional<std::map<std::string, UnitSnapshot>> read_state(const std::string& state_dir);
/// Each unit's entry in state_dir/state.json as JSON text, the records appended after the
/// snapshot applied (procmand's own reader is core::parse_persisted_state; this one keeps
/// every field, for tests that look at fields the reader has no use for).
std::optional<std::map<std::string, std::string>> read_state_units(const std::string& state_dir);

}  // namespace procman::test
