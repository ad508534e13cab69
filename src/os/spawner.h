// Starting supervised processes (fork + exec with credentials, limits and
// stdio set up in the child), signalling them, and decoding how they ended.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "os/journal.h"
#include "os/unique_fd.h"

namespace procman::os {

/// Everything needed to start one process. Nothing is inherited implicitly: the
/// environment is exactly `env`, the signal mask is empty, all signal dispositions
/// are default, and only fds 0-2 survive exec.
struct SpawnRequest {
  std::vector<std::string> argv;  ///< argv[0] is looked up in PATH from `env` unless it has a '/'
  std::vector<std::string> env;   ///< the complete environment, "KEY=VALUE" each
  std::optional<std::string> work_dir;
  int stdin_fd = -1;                 ///< borrowed; -1 means /dev/null
  int stdout_fd = -1;                ///< borrowed; -1 means /dev/null
  int stderr_fd = -1;                ///< borrowed; -1 means /dev/null
  std::optional<std::string> user;   ///< name or number
  std::optional<std::string> group;  ///< name or number
  std::optional<int> nice;
  std::optional<core::IoNice> ionice;
  std::optional<unsigned> umask;
  std::vector<core::Limit> limits;
  bool new_process_group =
      true;  ///< the child leads its own group, so the whole tree can be signalled
  /// Socket activation: these (borrowed) descriptors become fds 3, 4, ... in the
  /// child, and LISTEN_FDS / LISTEN_PID (the child's own pid) are added to its
  /// environment; the caller adds LISTEN_FDNAMES.
  std::vector<int> listen_fds;
  /// A cgroup's cgroup.procs opened for writing (borrowed): the child moves itself
  /// there first thing, so everything it ever forks is accounted and killed with it.
  int cgroup_procs_fd = -1;
  /// When set, stdout / stderr go to journald: the child connects the stream itself
  /// so journald records its own pid (_PID), not procmand's. Borrowed.
  const JournalStreamTarget* journal_stdout = nullptr;
  const JournalStreamTarget* journal_stderr = nullptr;
  /// Open SpawnResult::pidfd. procmand's own children do without: their ends come with
  /// SIGCHLD, and a pidfd per start would be two more system calls.
  bool want_pidfd = true;
};

/// The outcome of spawn(). On success `error` is empty, `pid` > 0 and `pidfd` is open
/// (if the request wanted one);
/// the child has already exec'd. On failure `pid` is -1 and any child is already reaped.
struct SpawnResult {
  pid_t pid = -1;
  unique_fd pidfd;
  /// The child's start time as /proc/<pid>/stat gives it (clock ticks since boot), which with
  /// the pid identifies it after a procmand restart; 0 if it could not be had.
  uint64_t start_time_ticks = 0;
  std::string error;  ///< e.g. `exec "nosuchbinary": No such file or directory`
};

/// Starts a process. Blocks only until the child has exec'd (or failed to), which
/// is what lets it report exec and setup errors synchronously. A started child is the
/// caller's to reap (waitid on the pid, or via the pidfd); a failed one is reaped here.
SpawnResult spawn(const SpawnRequest& request);

/// The RLIMIT_NOFILE soft limit children get: procmand may raise its own soft
/// limit, and many programs (anything using select()) break if they inherit it. Call it
/// with the original soft limit when raising ours; a configured `nofile` limit still wins.
void set_child_nofile_soft_limit(rlim_t soft);

/// How many descriptors reserve_spawn_slots() keeps: a child that needs more (stdio, the
/// error pipe, its cgroup and its listening sockets) is started on a copy of the whole table.
inline constexpr std::size_t kSpawnSlots = 16;

/// Keeps kSpawnSlots low descriptor numbers for spawn(), so that a child starts on the
/// caller's own descriptor table and takes a private copy of only those numbers. Without
/// them every spawn copies the whole table into the child, which closes it again: with
/// thousands of output FIFOs open, most of the cost of a spawn. Call it early, while low
/// numbers are free; false + *error if the kernel cannot do it (spawn() still works).
bool reserve_spawn_slots(std::string* error);
/// Gives the numbers back (tests).
void release_spawn_slots();

/// killpg(); false with errno set on failure (ESRCH once the group is gone).
bool signal_group(pid_t pgid, int sig);

/// pidfd_send_signal(); false with errno set on failure. Race-free against pid reuse.
bool signal_pidfd(int pidfd, int sig);

/// How a process ended.
struct ExitStatus {
  bool signaled = false;   ///< killed by a signal (code_or_signal is the signal number)
  int code_or_signal = 0;  ///< exit code when !signaled
  bool core_dumped = false;
  bool operator==(const ExitStatus&) const = default;
};

/// From waitid()'s siginfo_t; nullopt unless si_code is CLD_EXITED, CLD_KILLED or CLD_DUMPED
/// (stopped/continued/trapped are not an end).
std::optional<ExitStatus> exit_status_from_siginfo(const siginfo_t& info);

/// From waitpid()'s status word; nullopt unless the process exited or was killed.
std::optional<ExitStatus> exit_status_from_wait_status(int status);

/// "exited with code 3", "killed by SIGKILL", "killed by SIGABRT (core dumped)".
std::string describe(const ExitStatus& status);

}  // namespace procman::os
