// The systemd contract procmand gives its children: the notify socket
// (READY=1, STATUS=, MAINPID=, WATCHDOG=1, ...). Who may speak for a process is
// decided here: its main pid, anything in its cgroup, or a descendant of its
// main pid or member of its process group when there are no cgroups.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "core/notify.h"
#include "core/socket_spec.h"
#include "os/files.h"
#include "os/listen.h"
#include "os/proc.h"
#include "procmand/daemon.h"

namespace procman {

void Daemon::open_notify_socket() {
  // One socket for every child: the sender's pid (SCM_CREDENTIALS) says who it is.
  notify_path_ = state_dir_ + "/notify";
  std::string error;
  notify_ = os::NotifySocket::bind(notify_path_, &error);
  if (!notify_) {
    console_.warning(
        fmt::format("notify socket: {}; processes with ready = \"notify\" or a watchdog "
                    "cannot report to procmand",
                    error));
    notify_path_.clear();
    return;
  }
  notify_src_ = loop_.add_io(notify_->fd(), EPOLLIN, [this](uint32_t) { on_notify_readable(); });
}

std::string Daemon::unit_of_sender(pid_t pid) const {
  if (pid <= 0) return {};
  if (const core::UnitStatus* u = sup_->find_by_pid(pid)) return u->name;
  if (cgroups_) {
    if (auto unit = cgroups_->unit_of_pid(pid)) return sup_->find(*unit) ? *unit : std::string();
    return {};
  }
  // No cgroups: its process group, or an ancestor that is a unit's main pid.
  pid_t p = pid;
  for (int depth = 0; depth < 64 && p > 1; ++depth) {
    auto st = os::read_proc_stat(p);
    if (!st) return {};
    if (depth == 0) {
      // The group leader is the unit's main process as long as it lives; else look further.
      if (const core::UnitStatus* u = sup_->find_by_pid(st->pgrp))
        if (u->pgid == st->pgrp && core::is_active(u->state)) return u->name;
      std::string owner;
      sup_->for_each_status([&](const core::UnitStatus& u) {
        if (owner.empty() && u.pgid > 1 && u.pgid == st->pgrp && core::is_active(u.state))
          owner = u.name;
      });
      if (!owner.empty()) return owner;
    }
    if (const core::UnitStatus* u = sup_->find_by_pid(st->ppid)) return u->name;
    p = st->ppid;
  }
  return {};
}

void Daemon::on_notify_readable() {
  for (int budget = 0; budget < 256;
       ++budget) {  // bounded: one chatty child cannot starve the loop
    std::string error;
    std::optional<os::NotifyDatagram> d = notify_->receive(&error);
    if (!d) {
      if (!error.empty()) console_.warning("notify socket: " + error);
      return;
    }
    const std::string unit = unit_of_sender(d->pid);
    if (unit.empty()) {
      console_.warning(fmt::format(
          "notify: message from pid {} ignored: it belongs to no supervised process", d->pid));
      continue;
    }
    if (d->truncated) {
      console_.warning(fmt::format("{}: notify message longer than {} bytes ignored", unit,
                                   core::kMaxNotifyDatagram));
      continue;
    }
    core::NotifyMessage m = core::parse_notify(d->text);
    for (const auto& p : m.problems) console_.warning(fmt::format("{}: notify: {}", unit, p));
    if (m.fdstore)
      console_.warning(
          fmt::format("{}: notify: FDSTORE=1 is not supported; descriptors closed", unit));
    core::NotifyEvent ev;
    ev.ready = m.ready;
    ev.stopping = m.stopping;
    ev.watchdog_ping = m.watchdog_ping;
    ev.watchdog_trigger = m.watchdog_trigger;
    ev.status = m.status;
    ev.watchdog_usec = m.watchdog_usec;
    ev.extend_timeout_usec = m.extend_timeout_usec;
    if (m.main_pid) {
      // Only a process of its own tree may become its main pid.
      if (unit_of_sender(*m.main_pid) != unit && !(cgroups_ == nullptr && *m.main_pid == d->pid)) {
        console_.warning(
            fmt::format("{}: notify: MAINPID={} refused: that process is not part of {}", unit,
                        *m.main_pid, unit));
      } else if (auto start = os::process_start_time(*m.main_pid)) {
        ev.main_pid = std::make_pair(*m.main_pid, *start);
      } else {
        console_.warning(
            fmt::format("{}: notify: MAINPID={} refused: no such process", unit, *m.main_pid));
      }
    }
    sup_->on_notify(unit, ev);
    if (ev.main_pid) {
      const core::UnitStatus* u = sup_->find(unit);
      if (u && u->pid == ev.main_pid->first) watch_main_pid_change(ev.main_pid->first);
    }
  }
}

void Daemon::watch_main_pid_change(pid_t pid) {
  // Our own child (or an orphan we reaped as subreaper) is seen through SIGCHLD,
  // with its exit status; anything else through a pidfd.
  auto st = os::read_proc_stat(pid);
  if (st && st->ppid == getpid()) return;
  watch_pid(pid);
}

namespace {

/// Whether systemd delegated our cgroup to us (Delegate=yes): it marks such a
/// cgroup with the xattr trusted.delegate (system manager) or user.delegate
/// (user manager). Writable alone is not enough: under a user manager every
/// unit's cgroup belongs to the user, and sub-cgroups in a cgroup systemd
/// manages itself would fight with it.
bool cgroup_delegated(std::string* why) {
  std::string error;
  auto mountinfo = os::read_file("/proc/self/mountinfo", &error);
  auto self = os::read_file("/proc/self/cgroup", &error);
  std::optional<std::string> mount = mountinfo ? os::parse_cgroup2_mount(*mountinfo) : std::nullopt;
  std::optional<std::string> own = self ? os::parse_own_cgroup(*self) : std::nullopt;
  if (!mount || !own) {
    *why = "no cgroup v2 hierarchy";
    return false;
  }
  const std::string dir = *mount + *own;
  char value[8] = {};
  for (const char* name : {"trusted.delegate", "user.delegate"}) {
    const ssize_t n = getxattr(dir.c_str(), name, value, sizeof value - 1);
    if (n > 0 && value[0] == '1') return true;
  }
  // Older managers (the user manager of systemd 252) mark nothing; what a
  // delegated service's cgroup does show is that it is ours: a .service whose main
  // process we are ($INVOCATION_ID), in a cgroup owned by our own (non-root) user.
  struct stat st {};
  const bool service = own->size() > 8 && own->compare(own->size() - 8, 8, ".service") == 0;
  if (std::getenv("INVOCATION_ID") && service && geteuid() != 0 && stat(dir.c_str(), &st) == 0 &&
      st.st_uid == geteuid())
    return true;
  *why = fmt::format(
      "our cgroup {} is not delegated to us (run procmand from a unit with Delegate=yes)", *own);
  return false;
}

}  // namespace

void Daemon::open_cgroups() {
  if (opts_.cgroups == CgroupChoice::No) return;
  std::string why;
  if (opts_.cgroups == CgroupChoice::Auto && !cgroup_delegated(&why)) {
    cgroup_note_ = why;
    return;
  }
  auto tree = os::CgroupTree::open();
  if (auto* error = std::get_if<std::string>(&tree)) {
    cgroup_note_ = *error;
    console_.warning(
        fmt::format("cgroups: {}; whole-tree stop uses process groups instead", *error));
    return;
  }
  cgroups_ = std::make_unique<os::CgroupTree>(std::move(std::get<os::CgroupTree>(tree)));
  for (const auto& w : cgroups_->warnings()) console_.warning("cgroups: " + w);
  console_.notice(
      fmt::format("cgroups: one per process below {} (controllers: {})", cgroups_->path(),
                  cgroups_->enabled_controllers().empty()
                      ? std::string("none")
                      : fmt::format("{}", fmt::join(cgroups_->enabled_controllers(), ", "))));
}

std::optional<os::UnitCgroup> Daemon::unit_cgroup(const core::UnitStatus& unit,
                                                  const core::ProcessConfig& cfg) {
  if (!cgroups_) {
    if (!cfg.resources.empty())
      console_.warning(
          fmt::format("{}: memory-max, cpu-weight and tasks-max ignored: {}", unit.name,
                      cgroup_note_.empty() ? std::string("cgroups are off") : cgroup_note_));
    return std::nullopt;
  }
  auto cg = cgroups_->ensure(unit.name);
  if (auto* error = std::get_if<std::string>(&cg)) {
    console_.warning(fmt::format(
        "{}: no cgroup of its own ({}); stopping it uses its process group", unit.name, *error));
    return std::nullopt;
  }
  os::CgroupLimits limits;
  limits.memory_max = cfg.resources.memory_max;
  limits.cpu_weight = cfg.resources.cpu_weight;
  limits.tasks_max = cfg.resources.tasks_max;
  for (const auto& w : cgroups_->apply_limits(unit.name, limits))
    console_.warning(fmt::format("{}: {}", unit.name, w));
  return std::move(std::get<os::UnitCgroup>(cg));
}

// ---------------------------------------------------------------- sockets

namespace {

std::string store_name(const std::string& unit, std::size_t index) {
  // FDNAME= may not hold ':'; unit names never contain '/'.
  return fmt::format("sock/{}/{}", unit, index);
}

}  // namespace

core::SocketExpand Daemon::socket_expand() const {
  core::SocketExpand ex;
  auto env = [this](const char* k) -> std::string {
    auto it = base_env_.find(k);
    return it == base_env_.end() ? std::string() : it->second;
  };
  const bool system = opts_.bus == BusChoice::System;
  ex.runtime_dir = !env("XDG_RUNTIME_DIR").empty() ? env("XDG_RUNTIME_DIR") : system ? "/run" : "";
  ex.home = env("HOME");
  ex.state_dir = !env("XDG_STATE_HOME").empty() ? env("XDG_STATE_HOME")
                 : system                       ? "/var/lib"
                 : ex.home.empty()              ? ""
                                                : ex.home + "/.local/state";
  return ex;
}

bool Daemon::ensure_listeners(const core::UnitStatus& unit, const core::ProcessConfig& cfg,
                              std::string* error) {
  std::vector<Listener>& have = listeners_[unit.name];
  std::vector<Listener> next;
  const core::SocketExpand ex = socket_expand();
  for (std::size_t i = 0; i < cfg.sockets.size(); ++i) {
    auto parsed = core::parse_socket_spec(cfg.sockets[i].listen, ex);
    if (auto* why = std::get_if<std::string>(&parsed)) {
      *error = fmt::format("socket \"{}\": {}", cfg.sockets[i].listen, *why);
      return false;
    }
    core::SocketSpec spec = std::get<core::SocketSpec>(parsed);
    if (!cfg.sockets[i].name.empty()) spec.name = cfg.sockets[i].name;
    Listener l;
    l.spec = spec;
    // The same socket as before (kept across restarts of the child: no connection is refused).
    for (auto& old : have)
      if (old.fd && core::same_endpoint(old.spec, spec)) {
        l.fd = std::move(old.fd);
        l.watch = std::move(old.watch);  // may be the source whose callback runs now
      }
    // Handed back by systemd's fd store after a procmand restart.
    if (!l.fd)
      for (auto& fd : up_.take(store_name(unit.name, i)))
        if (!l.fd && os::listener_matches(fd.get(), spec)) l.fd = std::move(fd);
    // Still held by the re-adopted child (no fd store): take a duplicate of its fd 3+i.
    if (!l.fd && unit.adopted && unit.pid > 0) {
      const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, unit.pid, 0));
      if (pidfd >= 0) {
        const int fd = static_cast<int>(
            ::syscall(SYS_pidfd_getfd, pidfd, os::kFirstListenFd + static_cast<int>(i), 0));
        if (fd >= 0) {
          os::unique_fd got(fd);
          if (os::listener_matches(fd, spec)) l.fd = std::move(got);
        }
        ::close(pidfd);
      }
    }
    if (!l.fd) {
      auto opened = os::open_listener(spec);
      if (auto* why = std::get_if<std::string>(&opened)) {
        *error = *why;
        return false;
      }
      l.fd = std::move(std::get<os::unique_fd>(opened));
    }
    // Under systemd the fd store keeps it open across a crash or restart of procmand.
    if (up_.managed()) up_.store_fd(store_name(unit.name, i), l.fd.get());
    next.push_back(std::move(l));
  }
  for (std::size_t i = next.size(); i < have.size(); ++i)
    if (up_.managed()) up_.forget_fd(store_name(unit.name, i));
  for (auto& old : have) graveyard_.push_back(std::move(old.watch));
  have = std::move(next);
  if (have.empty()) listeners_.erase(unit.name);
  return true;
}

void Daemon::arm_on_demand(const core::UnitStatus& unit) {
  auto it = listeners_.find(unit.name);
  if (it == listeners_.end()) return;
  const core::ProcessConfig* cfg = sup_->effective_config(unit.name);
  // Watch the sockets only while the process is down: once it runs, it accepts.
  const bool watch = cfg && cfg->start_on_demand && !core::is_active(unit.state) &&
                     unit.state != core::State::Backoff && unit.state != core::State::Pending;
  for (auto& l : it->second) {
    if (!watch) {
      if (l.watch) l.watch.set_enabled(false);
      continue;
    }
    if (!l.watch) {
      const std::string name = unit.name;
      l.watch = loop_.add_io(l.fd.get(), EPOLLIN, [this, name](uint32_t) {
        // Level-triggered: quiet every socket of it until it is down again.
        if (auto li = listeners_.find(name); li != listeners_.end())
          for (auto& x : li->second) x.watch.set_enabled(false);
        console_.notice(fmt::format("{}: connection on its socket, starting it", name));
        if (std::string e = sup_->activate(name); !e.empty())
          console_.warning(fmt::format("{}: {}", name, e));
      });
    } else {
      l.watch.set_enabled(true);
    }
  }
}

void Daemon::drop_listeners(const std::string& unit) {
  auto it = listeners_.find(unit);
  if (it == listeners_.end()) return;
  for (std::size_t i = 0; i < it->second.size(); ++i) {
    if (up_.managed()) up_.forget_fd(store_name(unit, i));
    graveyard_.push_back(std::move(it->second[i].watch));
  }
  listeners_.erase(it);
}

void Daemon::details_changed(const core::UnitStatus& unit) {
  if (bus_) bus_->process_properties_changed(unit.name);
}

}  // namespace procman
