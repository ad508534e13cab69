// fork + exec for supervised processes. Everything that may allocate (argv/envp
// arrays, PATH candidates, user/group lookups) happens in the parent before fork;
// the child only makes async-signal-safe system calls and reports the first
// failure to the parent as (stage, errno, index): in the ChildPlan it shares with procmand,
// or, after a plain fork(), through a CLOEXEC pipe whose EOF also says the exec happened.
//
// pidfd calls go through syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C".
//
// The child is started with clone(CLONE_VM|CLONE_VFORK), as posix_spawn does: it runs in
// procmand's memory on a stack of its own until exec, so a spawn costs the same whether
// procmand manages 10 processes or 10,000 (fork would copy the page tables of all of
// procmand's memory, and then pay a copy-on-write fault for each page either side touches).
// That is safe because the child never allocates or writes procmand's data (only the
// ChildPlan scratch space prepared for it) and procmand's thread is suspended until the
// exec. Under AddressSanitizer, whose shadow memory the child would share, it is plain fork().
#include "os/spawner.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "os/proc.h"

namespace procman::os {
namespace {

// The kernel's ioprio encoding (linux/ioprio.h), spelled out to avoid depending on
// which kernel headers are installed.
constexpr int kIoprioWhoProcess = 1;
constexpr int kIoprioClassShift = 13;
constexpr int kIoprioClassIdle = 3;

// Used when the child's environment has no PATH (systemd's default search path).
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::optional<rlim_t> g_child_nofile_soft;

/// Low descriptor numbers kept for handing descriptors to a child (reserve_spawn_slots()).
/// Each holds a reference to /dev/null while no spawn is under way.
struct Slots {
  int placeholder = -1;  ///< /dev/null, read-only: also the stdin of most children
  int null_out = -1;     ///< /dev/null, write-only: the stdout/stderr of those without output
  std::array<int, kSpawnSlots> fd{};
  int cutoff = 0;  ///< one past the highest slot
};
std::optional<Slots> g_slots;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kForkSpawn = true;  // see the top of the file
#else
constexpr bool kForkSpawn = false;
#endif

/// Where in the child setup a failure happened.
enum class Stage : int {
  kSignalMask,
  kSetpgid,
  kStdio,
  kNice,
  kIoprio,
  kNofileRestore,
  kRlimit,
  kSetgroups,
  kSetgid,
  kSetuid,
  kChdir,
  kExec,
  kCgroup,
  kJournal,
  kListenFds,
  kUnshareFds,
};

/// What the child writes to the error pipe; well under PIPE_BUF, so one atomic write.
struct ChildError {
  Stage stage;
  int err;
  int index;  ///< which stdio fd / which limit, where that matters
};

/// The ids the child switches to, resolved in the parent.
struct Credentials {
  bool change = false;      ///< call setgid/setuid at all
  bool set_groups = false;  ///< also replace the supplementary groups
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

std::string errno_text(int err) { return std::strerror(err); }

std::optional<uint32_t> parse_id(const std::string& s) {
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  // (uid_t)-1 means "unchanged" to setuid and friends, so it is never a valid id.
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() ||
      value == std::numeric_limits<uint32_t>::max()) {
    return std::nullopt;
  }
  return value;
}

std::size_t initial_buffer_size(int name) {
  long n = sysconf(name);
  return n > 0 ? static_cast<std::size_t>(n) : 4096;
}

/// getpwnam_r / getpwuid_r with a growing buffer. Returns false with *error set on a
/// lookup failure; true with *found = false when the user does not exist.
struct UserEntry {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

bool lookup_user(const std::string& spec, std::optional<UserEntry>* found, std::string* error) {
  std::optional<uint32_t> numeric = parse_id(spec);
  std::vector<char> buf(initial_buffer_size(_SC_GETPW_R_SIZE_MAX));
  for (;;) {
    struct passwd pw {};
    struct passwd* result = nullptr;
    int rc = numeric ? getpwuid_r(*numeric, &pw, buf.data(), buf.size(), &result)
                     : getpwnam_r(spec.c_str(), &pw, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    // "Not found" may come back as 0 or as ENOENT/ESRCH/EBADF/EPERM depending on NSS.
    if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM) {
      *error = fmt::format("user \"{}\": lookup failed: {}", spec, errno_text(rc));
      return false;
    }
    if (result == nullptr) {
      found->reset();
    } else {
      *found = UserEntry{pw.pw_uid, pw.pw_gid, pw.pw_name};
    }
    return true;
  }
}

std::optional<gid_t> lookup_group(const std::string& spec, std::string* error) {
  if (std::optional<uint32_t> numeric = parse_id(spec)) return *numeric;
  std::vector<char> buf(initial_buffer_size(_SC_GETGR_R_SIZE_MAX));
  for (;;) {
    struct group gr {};
    struct group* result = nullptr;
    int rc = getgrnam_r(spec.c_str(), &gr, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (1u << 24)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM) {
      *error = fmt::format("group \"{}\": lookup failed: {}", spec, errno_text(rc));
      return std::nullopt;
    }
    if (result == nullptr) {
      *error = fmt::format("group \"{}\": no such group", spec);
      return std::nullopt;
    }
    return gr.gr_gid;
  }
}

std::optional<Credentials> resolve_credentials(const SpawnRequest& req, std::string* error) {
  Credentials creds;
  if (!req.user && !req.group) return creds;

  const uid_t current_uid = geteuid();
  const gid_t current_gid = getegid();
  uid_t uid = current_uid;
  gid_t gid = current_gid;
  std::optional<UserEntry> user;
  if (req.user) {
    if (!lookup_user(*req.user, &user, error)) return std::nullopt;
    if (!user) {
      if (!parse_id(*req.user)) {
        *error = fmt::format("user \"{}\": no such user", *req.user);
        return std::nullopt;
      }
      // A bare uid without a passwd entry has no primary group to fall back on;
      // guessing one could hand out a group we did not mean to.
      if (!req.group) {
        *error =
            fmt::format("user \"{}\": no passwd entry for this uid; set group as well", *req.user);
        return std::nullopt;
      }
      uid = *parse_id(*req.user);
    } else {
      uid = user->uid;
      gid = user->gid;
    }
  }
  if (req.group) {
    std::optional<gid_t> g = lookup_group(*req.group, error);
    if (!g) return std::nullopt;
    gid = *g;
  }

  if (current_uid != 0) {
    if (uid != current_uid) {
      *error = fmt::format("user \"{}\": switching user needs root (procmand runs as uid {})",
                           *req.user, current_uid);
      return std::nullopt;
    }
    if (gid != current_gid) {
      *error = fmt::format("group \"{}\": switching group needs root (procmand runs as uid {})",
                           req.group ? *req.group : *req.user, current_uid);
      return std::nullopt;
    }
    return creds;  // already who we are asked to be: nothing to change
  }

  creds.change = true;
  creds.uid = uid;
  creds.gid = gid;
  if (req.user) {
    creds.set_groups = true;
    if (user) {
      int n = 32;
      for (int attempt = 0; attempt < 8; ++attempt) {
        creds.groups.resize(static_cast<std::size_t>(n));
        int want = n;
        if (getgrouplist(user->name.c_str(), gid, creds.groups.data(), &want) >= 0) {
          creds.groups.resize(static_cast<std::size_t>(want));
          break;
        }
        n = std::max(want, n * 2);
      }
    } else {
      creds.groups = {gid};
    }
  }
  return creds;
}

/// PATH lookup happens in the parent (execvpe would use procmand's own PATH, not the
/// child's): the child tries these candidates in order.
std::vector<std::string> exec_candidates(const SpawnRequest& req) {
  const std::string& file = req.argv[0];
  if (file.find('/') != std::string::npos) return {file};
  std::string path = kDefaultPath;
  for (const std::string& kv : req.env) {
    if (kv.rfind("PATH=", 0) == 0) {
      path = kv.substr(5);
      break;
    }
  }
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? end : end - start);
    if (dir.empty()) dir = ".";  // an empty PATH element means the working directory
    out.push_back(dir + "/" + file);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

/// A descriptor number the child can dup2() from without clobbering 0-2: callers may
/// pass 1 and 2 (console mode), even swapped.
bool above_stdio(int fd, unique_fd* holder, int* out, std::string* error) {
  if (fd > 2) {
    *out = fd;
    return true;
  }
  holder->reset(fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!*holder) {
    *error = fmt::format("dup fd {}: {}", fd, errno_text(errno));
    return false;
  }
  *out = holder->get();
  return true;
}

rlim_t to_rlim(uint64_t v) { return v == UINT64_MAX ? RLIM_INFINITY : static_cast<rlim_t>(v); }

std::string limit_value(uint64_t v) {
  return v == UINT64_MAX ? std::string("infinity") : std::to_string(v);
}

/// Everything the child needs, prepared before fork so the child never allocates.
struct ChildPlan {
  const SpawnRequest* req = nullptr;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<std::string> candidates;
  std::vector<const char*> candidate_ptrs;
  Credentials creds;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // all > 2
  int error_fd = -1;  ///< > 2: the pipe a forked child reports a failure through (kForkSpawn)
  /// Where a child sharing procmand's memory reports its failure instead: procmand reads it
  /// once the child has exited, which CLONE_VFORK waits for.
  ChildError failure{};
  bool failed = false;
  std::optional<rlim_t> nofile_soft;
  std::string listen_pid_var;  ///< "LISTEN_PID=" + room for the pid, filled in by the child
  char* listen_pid_digits = nullptr;
  std::vector<int> listen_scratch;  ///< the child's temporary copies of listen_fds
  std::vector<int> listen_fds;      ///< req.listen_fds, or their copies in the slots
  int cgroup_fd = -1;               ///< req.cgroup_procs_fd, or its copy in a slot
  /// >= 0: the child starts on procmand's own descriptor table (CLONE_FILES), and everything
  /// it needs is below this number; its first call takes a private copy of just those.
  int unshare_below = -1;
};

/// Writes `v` in decimal at `out` with a NUL; async-signal-safe.
void put_decimal(char* out, long v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  for (int i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  out[n] = '\0';
}

/// Moves `fd` to a number >= floor (close-on-exec); async-signal-safe.
int above(int fd, int floor) {
  if (fd >= floor) return fd;
  return fcntl(fd, F_DUPFD_CLOEXEC, floor);
}

[[noreturn]] void child_fail(ChildPlan& p, int error_fd, Stage stage, int err, int index = 0) {
  ChildError e{stage, err, index};
  if (error_fd < 0) {
    p.failure = e;
    p.failed = true;
    _exit(127);
  }
  ssize_t n;
  do {
    n = write(error_fd, &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  _exit(127);
}

/// Closes every fd from `first` on except `keep` (which is >= first, or -1 for none).
void close_other_fds(int first, int keep) {
  if (keep < 0) keep = first - 1;
  // close_range exists since Linux 5.9; the loop is the fallback for older kernels.
  bool ok = true;
  if (keep > first)
    ok = close_range(static_cast<unsigned>(first), static_cast<unsigned>(keep - 1), 0) == 0;
  if (ok) ok = close_range(static_cast<unsigned>(keep + 1), ~0u, 0) == 0;
  if (ok) return;
  struct rlimit rl {};
  rlim_t max = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
  if (max > (1u << 20)) max = 1u << 20;
  for (rlim_t fd = static_cast<rlim_t>(first); fd < max; ++fd) {
    if (static_cast<int>(fd) != keep) close(static_cast<int>(fd));
  }
}

/// Runs in the child: only async-signal-safe calls, no allocation.
[[noreturn]] void run_child(ChildPlan& p) {
  int efd = p.error_fd;
  const SpawnRequest& req = *p.req;

  // Before any other descriptor call, which would otherwise change procmand's table. The
  // kernel copies only the numbers below the cutoff; the thousands of procmand's own above
  // it are neither copied nor closed one by one, as they are after a fork.
  if (p.unshare_below >= 0 &&
      close_range(static_cast<unsigned>(p.unshare_below), ~0u, CLOSE_RANGE_UNSHARE) != 0)
    child_fail(p, efd, Stage::kUnshareFds, errno);

  // Into its cgroup before anything else, so nothing it starts escapes accounting.
  if (p.cgroup_fd >= 0) {
    ssize_t n;
    do {
      n = write(p.cgroup_fd, "0", 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) child_fail(p, efd, Stage::kCgroup, errno);
  }

  // Handlers and SIG_IGN would otherwise leak into the child (SIG_IGN survives exec),
  // and so would procmand's blocked signals. A value-initialized sigaction is SIG_DFL.
  struct sigaction dfl {};
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);  // EINVAL for glibc's own
  }
  sigset_t empty;
  sigemptyset(&empty);
  if (sigprocmask(SIG_SETMASK, &empty, nullptr) != 0) child_fail(p, efd, Stage::kSignalMask, errno);

  if (req.new_process_group && setpgid(0, 0) != 0) child_fail(p, efd, Stage::kSetpgid, errno);

  if (req.umask) ::umask(static_cast<mode_t>(*req.umask & 0777));

  if (req.nice && setpriority(PRIO_PROCESS, 0, *req.nice) != 0) {
    child_fail(p, efd, Stage::kNice, errno);
  }
  if (req.ionice) {
    int level = req.ionice->io_class == kIoprioClassIdle ? 0 : req.ionice->level;
    int prio = (req.ionice->io_class << kIoprioClassShift) | level;
    if (syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, prio) != 0) {
      child_fail(p, efd, Stage::kIoprio, errno);
    }
  }

  if (p.nofile_soft) {
    struct rlimit rl {};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) child_fail(p, efd, Stage::kNofileRestore, errno);
    rl.rlim_cur = std::min(*p.nofile_soft, rl.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) child_fail(p, efd, Stage::kNofileRestore, errno);
  }
  for (std::size_t i = 0; i < req.limits.size(); ++i) {
    const core::Limit& l = req.limits[i];
    struct rlimit rl {
      to_rlim(l.soft), to_rlim(l.hard)
    };
    if (setrlimit(l.resource, &rl) != 0) {
      child_fail(p, efd, Stage::kRlimit, errno, static_cast<int>(i));
    }
  }

  // Groups before gid before uid: each step needs the privileges the next drops.
  if (p.creds.change) {
    // Raw system calls: glibc's wrappers would try to change the ids of every thread of
    // the process they believe they are in, which, sharing procmand's memory, is procmand.
    if (p.creds.set_groups &&
        syscall(SYS_setgroups, p.creds.groups.size(), p.creds.groups.data()) != 0) {
      child_fail(p, efd, Stage::kSetgroups, errno);
    }
    if (syscall(SYS_setgid, p.creds.gid) != 0) child_fail(p, efd, Stage::kSetgid, errno);
    if (syscall(SYS_setuid, p.creds.uid) != 0) child_fail(p, efd, Stage::kSetuid, errno);
  }

  // After the id switch, so journald records the process's own uid and gid.
  int out_src = p.stdout_fd, err_src = p.stderr_fd;
  if (req.journal_stdout) {
    out_src = journal_stream_open_in_child(*req.journal_stdout);
    if (out_src < 0) child_fail(p, efd, Stage::kJournal, errno, 1);
  }
  if (req.journal_stderr) {
    err_src = journal_stream_open_in_child(*req.journal_stderr);
    if (err_src < 0) child_fail(p, efd, Stage::kJournal, errno, 2);
  }
  if (dup2(p.stdin_fd, 0) < 0) child_fail(p, efd, Stage::kStdio, errno, 0);
  if (dup2(out_src, 1) < 0) child_fail(p, efd, Stage::kStdio, errno, 1);
  if (dup2(err_src, 2) < 0) child_fail(p, efd, Stage::kStdio, errno, 2);

  // Socket activation: fds 3.. are the listeners. Everything that must survive
  // (the error pipe, the listeners' current numbers) first moves above them.
  const int n_listen = static_cast<int>(p.listen_fds.size());
  if (n_listen > 0) {
    const int floor = 3 + n_listen;
    if (efd >= 0) {
      efd = above(efd, floor);
      if (efd < 0) child_fail(p, p.error_fd, Stage::kListenFds, errno);
    }
    for (int i = 0; i < n_listen; ++i) {
      p.listen_scratch[static_cast<std::size_t>(i)] =
          above(p.listen_fds[static_cast<std::size_t>(i)], floor);
      if (p.listen_scratch[static_cast<std::size_t>(i)] < 0)
        child_fail(p, efd, Stage::kListenFds, errno, i);
    }
    for (int i = 0; i < n_listen; ++i)
      if (dup2(p.listen_scratch[static_cast<std::size_t>(i)], 3 + i) < 0)  // dup2 clears FD_CLOEXEC
        child_fail(p, efd, Stage::kListenFds, errno, i);
    if (p.listen_pid_digits) put_decimal(p.listen_pid_digits, static_cast<long>(getpid()));
  }

  // After the id switch, so the directory is checked with the child's own permissions.
  if (req.work_dir && chdir(req.work_dir->c_str()) != 0) child_fail(p, efd, Stage::kChdir, errno);

  close_other_fds(3 + n_listen, efd);

  // execvpe()'s rules: keep looking past missing entries and EACCES, report EACCES
  // if that was all we found, stop at any other error.
  bool saw_eacces = false;
  int err = ENOENT;
  for (const char* candidate : p.candidate_ptrs) {
    execve(candidate, p.argv.data(), p.envp.data());
    err = errno;
    if (err == EACCES) {
      saw_eacces = true;
    } else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV &&
               err != ETIMEDOUT) {
      child_fail(p, efd, Stage::kExec, err);
    }
  }
  child_fail(p, efd, Stage::kExec, saw_eacces ? EACCES : ENOENT);
}

#if !defined(__SANITIZE_ADDRESS__)
int child_entry(void* plan) { run_child(*static_cast<ChildPlan*>(plan)); }
#endif

/// Starts run_child(plan) in a new process; returns its pid (in the parent only), or -1.
/// Returns once the child has exec'd or exited unless kForkSpawn.
pid_t start_child(ChildPlan& plan) {
#if defined(__SANITIZE_ADDRESS__)
  pid_t pid = fork();
  if (pid == 0) run_child(plan);
  return pid;
#else
  constexpr std::size_t kStack = 256 * 1024;  // run_child needs a few KiB
  // CLONE_VFORK: we resume once the child has exec'd or exited, so the stack is free again
  // and the next spawn from this thread reuses it: no mmap, munmap and fresh page faults on
  // every start. Never unmapped; it costs the pages run_child has touched.
  thread_local void* stack = nullptr;
  if (stack == nullptr) {
    void* mem = mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return -1;
    stack = mem;
  }
  const int share = plan.unshare_below >= 0 ? CLONE_FILES : 0;
  return clone(child_entry, static_cast<char*>(stack) + kStack,
               CLONE_VM | CLONE_VFORK | share | SIGCHLD, &plan);
#endif
}

std::string describe_child_error(const ChildError& e, const SpawnRequest& req,
                                 const ChildPlan& plan) {
  const std::string why = errno_text(e.err);
  switch (e.stage) {
    case Stage::kSignalMask:
      return "reset signal mask: " + why;
    case Stage::kSetpgid:
      return "setpgid: " + why;
    case Stage::kStdio: {
      static const char* const names[] = {"stdin", "stdout", "stderr"};
      return fmt::format("redirect {}: {}", names[std::clamp(e.index, 0, 2)], why);
    }
    case Stage::kNice:
      return fmt::format("nice {}: {}", req.nice.value_or(0), why);
    case Stage::kIoprio:
      return fmt::format("ionice class {} level {}: {}", req.ionice ? req.ionice->io_class : 0,
                         req.ionice ? req.ionice->level : 0, why);
    case Stage::kNofileRestore:
      return fmt::format("setrlimit nofile (restoring soft limit {}): {}",
                         plan.nofile_soft.value_or(0), why);
    case Stage::kRlimit: {
      if (e.index < 0 || static_cast<std::size_t>(e.index) >= req.limits.size()) {
        return "setrlimit: " + why;
      }
      const core::Limit& l = req.limits[static_cast<std::size_t>(e.index)];
      return fmt::format("setrlimit {} soft {} hard {}: {}",
                         l.name.empty() ? std::to_string(l.resource) : l.name, limit_value(l.soft),
                         limit_value(l.hard), why);
    }
    case Stage::kSetgroups:
      return fmt::format("setgroups for user \"{}\": {}", req.user.value_or(""), why);
    case Stage::kSetgid:
      return fmt::format("setgid {}: {}", plan.creds.gid, why);
    case Stage::kSetuid:
      return fmt::format("setuid {}: {}", plan.creds.uid, why);
    case Stage::kChdir:
      return fmt::format("chdir \"{}\": {}", req.work_dir.value_or(""), why);
    case Stage::kExec:
      return fmt::format("exec \"{}\": {}", req.argv[0], why);
    case Stage::kCgroup:
      return "join the process's cgroup: " + why;
    case Stage::kJournal:
      return fmt::format("connect {} to the journal: {}", e.index == 2 ? "stderr" : "stdout", why);
    case Stage::kListenFds:
      return fmt::format("pass listening socket {}: {}", e.index, why);
    case Stage::kUnshareFds:
      return "copy the descriptor table: " + why;
  }
  return "spawn: " + why;
}

pid_t reap(pid_t pid) {
  pid_t r;
  do {
    r = waitpid(pid, nullptr, 0);
  } while (r < 0 && errno == EINTR);
  return r;
}

/// Drops the child's descriptors from the slots again: the write end of the error pipe
/// must be gone from procmand's table before it waits for EOF on the read end.
void empty_slots(std::size_t used) {
  for (std::size_t i = 0; i < used; ++i) dup3(g_slots->placeholder, g_slots->fd[i], O_CLOEXEC);
}

/// Puts a copy of each descriptor the child needs into a slot, so that the child can start on
/// procmand's own table and keep only the numbers below the slots' cutoff. Returns how many
/// slots it filled (0: the child gets a copy of the whole table, as after a fork).
std::size_t fill_slots(ChildPlan& plan) {
  if (!g_slots) return 0;
  std::array<int*, kSpawnSlots> fields{};
  std::size_t n = 0;
  auto want = [&](int& fd) {
    if (n < fields.size()) fields[n] = &fd;
    ++n;
  };
  want(plan.stdin_fd);
  want(plan.stdout_fd);
  want(plan.stderr_fd);
  if (plan.error_fd >= 0) want(plan.error_fd);
  if (plan.cgroup_fd >= 0) want(plan.cgroup_fd);
  for (int& fd : plan.listen_fds) want(fd);
  if (n > fields.size()) return 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (dup3(*fields[i], g_slots->fd[i], O_CLOEXEC) < 0) {
      empty_slots(i);
      return 0;
    }
  }
  for (std::size_t i = 0; i < n; ++i) *fields[i] = g_slots->fd[i];
  plan.unshare_below = g_slots->cutoff;
  return n;
}

}  // namespace

void set_child_nofile_soft_limit(rlim_t soft) { g_child_nofile_soft = soft; }

bool reserve_spawn_slots(std::string* error) {
  if (g_slots) return true;
  // CLOSE_RANGE_UNSHARE came with close_range itself (Linux 5.9); without it the child
  // would have to copy the whole table anyway, so there is nothing to reserve.
  if (close_range(~0u - 1, ~0u, 0) != 0) {
    *error = "close_range: " + errno_text(errno);
    return false;
  }
  Slots s;
  s.placeholder = open("/dev/null", O_RDONLY | O_CLOEXEC);
  s.null_out = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (s.placeholder < 0 || s.null_out < 0) {
    *error = "open /dev/null: " + errno_text(errno);
    if (s.placeholder >= 0) close(s.placeholder);
    if (s.null_out >= 0) close(s.null_out);
    return false;
  }
  std::size_t made = 0;
  for (int& fd : s.fd) {
    fd = fcntl(s.placeholder, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
      *error = "dup: " + errno_text(errno);
      for (std::size_t i = 0; i < made; ++i) close(s.fd[i]);
      close(s.placeholder);
      close(s.null_out);
      return false;
    }
    ++made;
    s.cutoff = std::max(s.cutoff, fd + 1);
  }
  g_slots = s;
  return true;
}

void release_spawn_slots() {
  if (!g_slots) return;
  for (int fd : g_slots->fd) close(fd);
  close(g_slots->placeholder);
  close(g_slots->null_out);
  g_slots.reset();
}

SpawnResult spawn(const SpawnRequest& req) {
  SpawnResult result;
  if (req.argv.empty()) {
    result.error = "exec: empty command line";
    return result;
  }
  if (req.argv[0].empty()) {
    result.error = "exec \"\": No such file or directory";
    return result;
  }

  ChildPlan plan;
  plan.req = &req;
  std::optional<Credentials> creds = resolve_credentials(req, &result.error);
  if (!creds) return result;
  plan.creds = std::move(*creds);
  plan.argv = c_strings(req.argv);
  plan.envp = c_strings(req.env);
  std::string listen_fds_var;
  if (!req.listen_fds.empty()) {
    listen_fds_var = "LISTEN_FDS=" + std::to_string(req.listen_fds.size());
    plan.listen_pid_var = "LISTEN_PID=" + std::string(20, '0');
    plan.listen_pid_digits = plan.listen_pid_var.data() + std::strlen("LISTEN_PID=");
    plan.listen_scratch.assign(req.listen_fds.size(), -1);
    // c_strings ends with the NULL terminator: insert before it.
    plan.envp.insert(plan.envp.end() - 1, listen_fds_var.data());
    plan.envp.insert(plan.envp.end() - 1, plan.listen_pid_var.data());
  }
  plan.candidates = exec_candidates(req);
  for (const std::string& c : plan.candidates) plan.candidate_ptrs.push_back(c.c_str());
  plan.nofile_soft = g_child_nofile_soft;

  // With slots reserved, /dev/null is already open both ways: two calls fewer per start.
  unique_fd null_in_holder, null_out_holder;
  int null_in = g_slots ? g_slots->placeholder : -1;
  int null_out = g_slots ? g_slots->null_out : -1;
  if (req.stdin_fd < 0 && null_in < 0) {
    null_in_holder.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!null_in_holder) {
      result.error = "open /dev/null: " + errno_text(errno);
      return result;
    }
    null_in = null_in_holder.get();
  }
  if ((req.stdout_fd < 0 || req.stderr_fd < 0) && null_out < 0) {
    null_out_holder.reset(open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!null_out_holder) {
      result.error = "open /dev/null: " + errno_text(errno);
      return result;
    }
    null_out = null_out_holder.get();
  }
  unique_fd in_holder, out_holder, err_holder;
  if (!above_stdio(req.stdin_fd < 0 ? null_in : req.stdin_fd, &in_holder, &plan.stdin_fd,
                   &result.error) ||
      !above_stdio(req.stdout_fd < 0 ? null_out : req.stdout_fd, &out_holder, &plan.stdout_fd,
                   &result.error) ||
      !above_stdio(req.stderr_fd < 0 ? null_out : req.stderr_fd, &err_holder, &plan.stderr_fd,
                   &result.error)) {
    return result;
  }

  unique_fd read_end, write_end, write_holder;
  if (kForkSpawn) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
      result.error = "pipe: " + errno_text(errno);
      return result;
    }
    read_end.reset(pipe_fds[0]);
    write_end.reset(pipe_fds[1]);
    if (!above_stdio(write_end.get(), &write_holder, &plan.error_fd, &result.error)) return result;
  }
  plan.cgroup_fd = req.cgroup_procs_fd;
  plan.listen_fds = req.listen_fds;
  const std::size_t slots_used = fill_slots(plan);

  // No signal handler of ours may run in the child before it resets dispositions.
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  const uint64_t before_ns = boottime_ns();
  pid_t pid = start_child(plan);
  int fork_errno = errno;
  const uint64_t after_ns = boottime_ns();
  sigprocmask(SIG_SETMASK, &old, nullptr);
  empty_slots(slots_used);
  if (pid < 0) {
    result.error = "fork: " + errno_text(fork_errno);
    return result;
  }

  ChildError report{};
  std::size_t got = 0;
  if (kForkSpawn) {
    write_end.reset();
    write_holder.reset();
    while (got < sizeof report) {
      ssize_t n = read(read_end.get(), reinterpret_cast<char*>(&report) + got, sizeof report - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF without a report: the exec succeeded and closed the pipe
      got += static_cast<std::size_t>(n);
    }
  } else if (plan.failed) {
    report = plan.failure;
    got = sizeof report;
  }

  if (got == 0) {
    if (req.want_pidfd) {
      // pidfd_open works on a zombie too, so a child that already exited is still fine.
      result.pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0u)));
      if (!result.pidfd) {
        result.error = "pidfd_open: " + errno_text(errno);
        kill(pid, SIGKILL);
        reap(pid);
        return result;
      }
    }
    result.pid = pid;
    static const long ticks_per_second = sysconf(_SC_CLK_TCK);
    // Not yet reaped, so the pid is still this child's even if it has exited.
    std::optional<uint64_t> start = start_tick_between(before_ns, after_ns, ticks_per_second);
    if (!start) start = process_start_time(pid);
    result.start_time_ticks = start.value_or(0);
    return result;
  }

  reap(pid);
  if (got < sizeof report) {
    result.error = "spawn: truncated error report from the child";
  } else {
    result.error = describe_child_error(report, req, plan);
  }
  return result;
}

bool signal_group(pid_t pgid, int sig) {
  if (pgid <= 1) {  // killpg(0/1, ...) would hit procmand's own group or everything
    errno = EINVAL;
    return false;
  }
  return killpg(pgid, sig) == 0;
}

bool signal_pidfd(int pidfd, int sig) {
  return syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0u) == 0;
}

std::optional<ExitStatus> exit_status_from_siginfo(const siginfo_t& info) {
  switch (info.si_code) {
    case CLD_EXITED:
      return ExitStatus{false, info.si_status, false};
    case CLD_KILLED:
      return ExitStatus{true, info.si_status, false};
    case CLD_DUMPED:
      return ExitStatus{true, info.si_status, true};
    default:
      return std::nullopt;
  }
}

std::optional<ExitStatus> exit_status_from_wait_status(int status) {
  if (WIFEXITED(status)) return ExitStatus{false, WEXITSTATUS(status), false};
  if (WIFSIGNALED(status)) return ExitStatus{true, WTERMSIG(status), WCOREDUMP(status) != 0};
  return std::nullopt;
}

std::string describe(const ExitStatus& status) {
  if (!status.signaled) return fmt::format("exited with code {}", status.code_or_signal);
  const char* abbrev = sigabbrev_np(status.code_or_signal);
  std::string name =
      abbrev ? std::string("SIG") + abbrev : fmt::format("signal {}", status.code_or_signal);
  return fmt::format("killed by {}{}", name, status.core_dumped ? " (core dumped)" : "");
}

}  // namespace procman::os
