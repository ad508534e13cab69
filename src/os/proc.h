// Reading process facts from /proc: identity (start time, boot id), resource
// usage, and process-group membership.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace procman::os {

/// The fields of /proc/<pid>/stat procman uses. Times are in clock ticks.
struct ProcStat {
  char state = '?';  ///< R, S, D, Z, T, ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t start_time_ticks = 0;  ///< field 22: since boot; with the pid, a process's identity
};

/// Parses the text of /proc/<pid>/stat. Fields are counted after the LAST ')', because
/// comm (field 2) may itself contain spaces and parentheses.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

/// nullopt if the process does not exist (or /proc is unreadable).
std::optional<ProcStat> read_proc_stat(pid_t pid);

/// Field 22 of /proc/<pid>/stat (clock ticks since boot). Together with the pid and
/// boot_id() it identifies a process across procmand restarts: a reused pid has a
/// different start time.
std::optional<uint64_t> process_start_time(pid_t pid);

/// CLOCK_BOOTTIME now, in nanoseconds: the clock the kernel stamps a new process with.
uint64_t boottime_ns();

/// The start time /proc/<pid>/stat will show (field 22, whole clock ticks of CLOCK_BOOTTIME)
/// for a process created between two boottime_ns() readings, if both fall in the same tick;
/// nullopt if they straddle a tick boundary, and the file has to be read after all. Spares
/// the spawn path a read of /proc/<pid>/stat, which costs as much as the rest of a start's
/// bookkeeping together.
std::optional<uint64_t> start_tick_between(uint64_t before_ns, uint64_t after_ns,
                                           long ticks_per_second);

/// /proc/sys/kernel/random/boot_id, trimmed; changes on every boot.
std::optional<std::string> boot_id();

struct ProcessUsage {
  uint64_t cpu_usec = 0;   ///< user + system time, tick resolution
  uint64_t rss_bytes = 0;  ///< resident set size
};

/// CPU time and RSS of one process (not its children); nullopt if it is gone.
std::optional<ProcessUsage> process_usage(pid_t pid);

/// Live (non-zombie) processes whose process group is `pgid`, ascending. Empty means
/// the whole group is gone: nothing is left to signal. Zombies are left out since they
/// run nothing and whoever is their parent will reap them.
std::vector<pid_t> process_group_members(pid_t pgid);

/// Every live process group at once, pgid -> members (ascending): one pass over /proc for
/// callers that need the members of many groups.
std::unordered_map<pid_t, std::vector<pid_t>> process_groups();

}  // namespace procman::os
