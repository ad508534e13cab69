// The cgroup v2 subtree procmand manages: finding our own (delegated) cgroup,
// moving procmand into a leaf of it, one cgroup per supervised unit, whole-tree
// kill, usage and limits, and mapping a pid back to its unit.
//
// Why a delegated subtree rather than a transient systemd scope per process:
// - it is synchronous: creating a unit's cgroup is one mkdir, with no D-Bus round trip
//   per spawn (a cold start of 5,000 processes would otherwise wait on 5,000 calls);
// - it works the same for the user and the system instance, and with no systemd at all
//   in a container that was given a writable cgroup;
// - it survives a procmand crash: the cgroups stay, and the next procmand finds its
//   children in them (existing_units(), unit_of_pid());
// - cgroup.kill (and, before 5.14, signalling every member) stops a whole tree even
//   after double forks and setsid(), which a process group cannot do.
//
// Layout, below our own cgroup `<own>` (procman.service, run with Delegate=yes):
//   <own>/supervisor   procmand itself. cgroup v2 forbids processes in a cgroup whose
//                      children have controllers enabled, so <own> must stay empty.
//   <own>/p-<name>     one per unit: "p-" + the unit name with bytes outside
//                      [A-Za-z0-9_.@-] written %XX. The prefix keeps unit directories
//                      apart from the interface files (cgroup.*, memory.*, pids.*...)
//                      and from "supervisor"; the escaping is reversible, so a restarted
//                      procmand recovers unit names from directory names.
//
// Without a writable cgroup v2 (no systemd, no Delegate=yes, cgroup v1 only, or running
// in the root cgroup) open() says why, and procmand falls back to process groups and
// /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "os/unique_fd.h"

namespace procman::os {

/// One cgroup2 entry of /proc/self/mountinfo (octal escapes such as \040 decoded).
struct Cgroup2Mount {
  std::string mount_point;  ///< e.g. "/sys/fs/cgroup" or "/sys/fs/cgroup/unified"
  std::string root;         ///< the cgroup shown at the mount point; "/" unless bind-mounted
};

/// The cgroup2 mount in the text of /proc/self/mountinfo, preferring one that shows the
/// whole hierarchy (root "/"); nullopt on a cgroup v1-only system.
std::optional<Cgroup2Mount> find_cgroup2_mount(std::string_view mountinfo);
/// find_cgroup2_mount()'s mount point.
std::optional<std::string> parse_cgroup2_mount(std::string_view mountinfo);

/// The path of the "0::" line of /proc/<pid>/cgroup (e.g. "/user.slice/.../procman.service");
/// nullopt if there is none (cgroup v1 only).
std::optional<std::string> parse_own_cgroup(std::string_view proc_self_cgroup);

/// The directory name of a unit's cgroup: "p-" + the name with bytes outside
/// [A-Za-z0-9_.@-] as %XX (uppercase hex). nullopt with `error` set for an empty name or
/// one whose escaped form exceeds NAME_MAX (255 bytes).
std::optional<std::string> unit_cgroup_name(std::string_view unit, std::string* error = nullptr);

/// The inverse of unit_cgroup_name(). nullopt for anything unit_cgroup_name() does not
/// produce ("supervisor", "p-", "p-a%2e", "p-a b", "x-web"), so two directories never
/// claim the same unit and foreign directories are never adopted.
std::optional<std::string> unit_from_cgroup_name(std::string_view dir_name);

/// The unit whose cgroup holds `cgroup_path` (as /proc/<pid>/cgroup shows it), given our
/// own cgroup `tree_path`: "/s/procman.service/p-web" and anything nested below it give
/// "web"; our own cgroup, the supervisor leaf and paths outside the tree give nullopt.
std::optional<std::string> unit_from_cgroup_path(std::string_view tree_path,
                                                 std::string_view cgroup_path);

/// How open() finds and takes over our cgroup. The defaults are what procmand uses; the
/// overrides exist for tests (a fake root in a temporary directory, a temporary cgroup).
struct CgroupOptions {
  std::string mount_root;  ///< cgroup2 mount point; "" = from /proc/self/mountinfo
  std::string own_cgroup;  ///< our cgroup path, e.g. "/a.slice/x.service"; "" = /proc/self/cgroup
  pid_t move_pid = 0;      ///< moved into the supervisor leaf; 0 = getpid(), -1 = nobody
  bool use_cgroup_kill = true;  ///< false: kill() signals every pid, as before kernel 5.14
};

/// A unit's cgroup, as ensure() returns it. The descriptors stay valid even if the
/// directory is removed later (writes then fail with ENODEV/ENOENT).
struct UnitCgroup {
  std::string path;    ///< the cgroup path, as /proc/<pid>/cgroup shows it
  std::string dir;     ///< its directory in the file system
  unique_fd procs_fd;  ///< its cgroup.procs, O_WRONLY|O_CLOEXEC: for join_in_child()
  unique_fd dir_fd;    ///< the directory, O_RDONLY|O_DIRECTORY|O_CLOEXEC: for clone3()'s
                       ///< CLONE_INTO_CGROUP

  /// Moves the calling process into the cgroup by writing "0" to `procs_fd`. One write():
  /// async-signal-safe, for a forked child before exec. Call it before dropping
  /// privileges or changing namespaces: the kernel checks the writer's permission on
  /// the source cgroup too. False (errno set) on failure.
  static bool join_in_child(int procs_fd) noexcept;
};

/// Resource limits for a unit; nullopt means "no limit" (memory.max and pids.max "max",
/// cpu.weight back to its default 100).
struct CgroupLimits {
  std::optional<uint64_t> memory_max;  ///< bytes
  std::optional<unsigned> cpu_weight;  ///< 1..10000
  std::optional<uint64_t> tasks_max;
};

/// procmand's delegated cgroup subtree. Move-only. Every unit-taking function accepts a
/// unit name (not a directory name) and treats an unacceptable name like an absent
/// cgroup. Failures are values (nullopt, false, a message), never exceptions other than
/// std::bad_alloc; nothing blocks beyond cgroupfs reads and writes.
class CgroupTree {
 public:
  /// Takes over our cgroup: checks it is a non-root cgroup writable by our effective uid
  /// (i.e. delegated), creates <own>/supervisor if missing (a restarted procmand reuses
  /// it), moves `move_pid` and then any other process still in <own> into it, and
  /// enables memory, cpu and pids in <own>/cgroup.subtree_control where
  /// <own>/cgroup.controllers offers them (failures become warnings()). On failure, the
  /// reason, worded for one log line, e.g. "cgroup v2 is not mounted (cgroup v1 only)".
  /// For root the writability check proves little (root may write anywhere): a system
  /// instance relies on Delegate=yes being set, as the unit file does.
  static std::variant<CgroupTree, std::string> open(const CgroupOptions& options = {});

  CgroupTree(CgroupTree&&) noexcept = default;
  CgroupTree& operator=(CgroupTree&&) noexcept = default;
  CgroupTree(const CgroupTree&) = delete;
  CgroupTree& operator=(const CgroupTree&) = delete;
  ~CgroupTree() = default;

  /// Our cgroup, as /proc/self/cgroup shows it (before we moved into the leaf).
  const std::string& path() const { return path_; }
  /// Our cgroup's directory in the file system.
  const std::string& dir() const { return dir_; }
  /// The leaf procmand lives in: path() + "/supervisor".
  std::string supervisor_path() const { return path_ + "/" + kSupervisorLeaf; }
  /// Controllers our parent delegated to us (our cgroup.controllers).
  const std::set<std::string>& available_controllers() const { return available_; }
  /// Controllers enabled for the unit cgroups (present in our cgroup.subtree_control).
  const std::set<std::string>& enabled_controllers() const { return enabled_; }
  /// Non-fatal problems met by open(), e.g. a controller that could not be enabled.
  const std::vector<std::string>& warnings() const { return warnings_; }

  /// The unit's cgroup path (as /proc/<pid>/cgroup shows it); "" for an unacceptable name.
  std::string unit_path(std::string_view unit) const;
  /// The unit's cgroup directory; "" for an unacceptable name.
  std::string unit_dir(std::string_view unit) const;
  /// The unit's cgroup.events: watch it with inotify (IN_MODIFY) to learn, without
  /// polling, when "populated" changes, i.e. when the last process of the tree is gone.
  std::string events_file(std::string_view unit) const;

  /// Creates the unit's cgroup, or reuses the one a previous procmand left, and opens its
  /// descriptors. On failure, "what: path: reason".
  std::variant<UnitCgroup, std::string> ensure(std::string_view unit) const;

  /// Every process in the unit's cgroup and the cgroups nested in it, ascending; empty if
  /// there are none or the cgroup does not exist. Zombies are not members.
  std::vector<pid_t> pids(std::string_view unit) const;
  /// cgroup.events says "populated 1": some process of the tree is alive. False for an
  /// absent cgroup.
  bool populated(std::string_view unit) const;
  /// Signals the unit's whole tree. SIGKILL goes through cgroup.kill where the kernel
  /// has it (5.14+; atomic, forks cannot escape). Otherwise every member is signalled
  /// once, through a pidfd after checking it is still in the tree (a recycled pid is
  /// never hit), and the members are listed again until a pass finds no new one, at
  /// most 32 passes (after that, error "new processes kept appearing"). True also when
  /// the cgroup is absent or empty. Not waiting: watch events_file() for the end.
  bool kill(std::string_view unit, int sig, std::string* error = nullptr) const;
  /// Removes the unit's cgroup and any nested in it. True if it is gone afterwards
  /// (absent already counts); false if processes remain (EBUSY) or on other errors.
  bool remove(std::string_view unit, std::string* error = nullptr) const;
  /// Units that have a cgroup below ours, sorted: after a restart, the ones to re-adopt
  /// (check populated()/pids()) or remove(). Foreign directories are ignored.
  std::vector<std::string> existing_units() const;

  /// cpu.stat usage_usec (present without the cpu controller); nullopt if unreadable.
  std::optional<uint64_t> cpu_usage_usec(std::string_view unit) const;
  /// memory.current; nullopt unless the memory controller is enabled for units.
  std::optional<uint64_t> memory_current(std::string_view unit) const;

  /// Writes memory.max, cpu.weight and pids.max for the unit (unset limits are reset, so
  /// a reused cgroup does not keep an old limit). Returns one precise warning per limit
  /// that could not apply, e.g. "memory-max ignored: the memory controller is not
  /// delegated to /user.slice/.../procman.service"; empty when everything applied.
  std::vector<std::string> apply_limits(std::string_view unit, const CgroupLimits& limits) const;

  /// The unit whose tree holds `pid` (from /proc/<pid>/cgroup); nullopt if the process is
  /// gone or lives outside our unit cgroups (procmand's own leaf included). A zombie
  /// still names the cgroup it died in, even once that cgroup is unpopulated.
  std::optional<std::string> unit_of_pid(pid_t pid) const;

  static constexpr const char* kSupervisorLeaf = "supervisor";

 private:
  CgroupTree() = default;

  std::string path_;
  std::string dir_;
  std::set<std::string> available_;
  std::set<std::string> enabled_;
  std::vector<std::string> warnings_;
  bool use_cgroup_kill_ = true;
};

}  // namespace procman::os
