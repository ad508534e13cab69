#include "procmand/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <malloc.h>

#include "core/command_line.h"
#include "core/config_parser.h"
#include "core/fifo_path.h"
#include "core/persist.h"
#include "os/local_time.h"
#include "os/proc.h"
#include "os/spawner.h"

namespace procman {
namespace {

constexpr const char* kPidFilePlaceholder = "{{ PROCMAN_PID_FILE }}";
constexpr std::size_t kTimersPerIteration = 1;

/// Variables that describe procmand's own place under systemd; a child that
/// inherited them would talk to systemd as if it were procmand.
bool inherited_var_is_ours(std::string_view key) {
  return key == "NOTIFY_SOCKET" || key == "LISTEN_FDS" || key == "LISTEN_PID" ||
         key == "LISTEN_FDNAMES" || key == "WATCHDOG_PID" || key == "WATCHDOG_USEC" ||
         key == "INVOCATION_ID" || key == "MANAGERPID" || key == "RUNTIME_DIRECTORY" ||
         key == "STATE_DIRECTORY" || key == "JOURNAL_STREAM" || key.rfind("PROCMAN_", 0) == 0;
}

std::string dirname_of(const std::string& path) {
  auto pos = path.rfind('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

core::ExitInfo to_exit_info(const os::ExitStatus& st) {
  return core::ExitInfo{.known = true, .signaled = st.signaled, .code = st.code_or_signal};
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
  return s.substr(i);
}

/// Reads what a pipe holds without blocking.
std::string read_available(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  return out;
}

int64_t realtime_usec() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// auto: the journal when our stdout already goes to journald ($JOURNAL_STREAM
/// names the device:inode of that stream, which is how systemd tells a service).
bool use_journal(LogTarget target) {
  if (target == LogTarget::Console) return false;
  if (!os::journal_available()) return false;
  if (target == LogTarget::Journal) return true;
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  struct stat st {};
  if (fstat(STDOUT_FILENO, &st) != 0) return false;
  return fmt::format("{}:{}", st.st_dev, st.st_ino) == stream;
}

}  // namespace

Daemon::Daemon(DaemonOptions opts, Console& console) : opts_(std::move(opts)), console_(console) {
  config_dir_ = dirname_of(opts_.config_path);
  base_env_ = os::current_environment();
  journal_ = use_journal(opts_.log_target);
  console_.set_journal(journal_);
  loop_.set_error_hook([this](const std::string& what) { console_.error("internal error: " + what); });
}

Daemon::~Daemon() = default;

// ---------------------------------------------------------------- Clock

core::MonoTime Daemon::now() const { return std::chrono::steady_clock::now(); }
core::WallTime Daemon::wall() const { return std::chrono::system_clock::now(); }
core::LocalDateTime Daemon::local() const { return os::to_local(wall()); }

// ---------------------------------------------------------------- startup

std::optional<core::Config> Daemon::load_config(bool reload, std::string* errors) {
  std::string error;
  auto text = os::read_file(opts_.config_path, &error);
  if (!text) {
    const std::string e = fmt::format("cannot read {}: {}", opts_.config_path, error);
    console_.error(e);
    if (errors) *errors = e;
    return std::nullopt;
  }
  core::ParseResult r = core::parse_config(*text, opts_.config_path, base_env_);
  for (const auto& d : r.errors) {
    const std::string e = core::format_diagnostic(d);
    console_.error(e);
    if (errors) *errors += (errors->empty() ? "" : "\n") + e;
  }
  if (!r.config) {
    console_.error(fmt::format("{}: {} error(s){}", opts_.config_path, r.errors.size(),
                               reload ? "; keeping the running configuration" : ""));
    return std::nullopt;
  }
  return std::move(r.config);
}

bool Daemon::setup_state_dir(const std::string& uid) {
  if (opts_.state_dir) {
    state_dir_ = *opts_.state_dir;
  } else {
    auto env = [this](const char* k) {
      auto it = base_env_.find(k);
      return it == base_env_.end() ? std::string() : it->second;
    };
    const std::string base = core::state_directory_base(
        {env("RUNTIME_DIRECTORY"), env("XDG_RUNTIME_DIR"), env("XDG_STATE_HOME"), env("HOME")});
    state_dir_ = base + "/" + os::escape_filename(uid);
  }
  io_dir_ = state_dir_ + "/io";
  pid_dir_ = state_dir_ + "/pid";
  state_file_ = state_dir_ + "/state.json";
  std::string error;
  for (const auto* dir : {&state_dir_, &io_dir_, &pid_dir_}) {
    if (!os::make_dirs(*dir, 0700, &error)) {
      console_.error(fmt::format("state directory {}: {}", *dir, error));
      return false;
    }
  }
  lock_ = os::FileLock::acquire(state_dir_ + "/lock", &error);
  if (!lock_) {
    console_.error(fmt::format("another procmand is supervising uid {} ({}); refusing to start a "
                               "second one",
                               uid, error));
    return false;
  }
  return true;
}

int Daemon::run() {
  if (auto c = load_config(false)) config_ = std::make_shared<const core::Config>(std::move(*c));
  if (!config_) return kExitConfig;
  index_config();
  if (!setup_state_dir(config_->uid)) return lock_ ? kExitFailure : kExitLocked;
  boot_id_ = os::boot_id().value_or("");

  // While the low numbers are still free: see os::reserve_spawn_slots.
  if (std::string error; !os::reserve_spawn_slots(&error))
    console_.warning(fmt::format("each spawn copies the whole descriptor table: {}", error));
  // Many children means many FIFOs: take the hard limit for ourselves, and
  // give children the soft limit we were started with.
  struct rlimit nofile {};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    os::set_child_nofile_soft_limit(nofile.rlim_cur);
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  // Orphans of our children (double forks, pid-file targets) come back to us,
  // so we see their exits and can stop whole trees.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::signal(SIGPIPE, SIG_IGN);
  os::block_signals({SIGCHLD, SIGTERM, SIGINT, SIGHUP});
  sigchld_ = loop_.add_signal(
      SIGCHLD, [this](const signalfd_siginfo& si) { on_sigchld(static_cast<pid_t>(si.ssi_pid)); });
  sigterm_ = loop_.add_signal(SIGTERM, [this](const signalfd_siginfo&) { on_shutdown_signal(SIGTERM); });
  sigint_ = loop_.add_signal(SIGINT, [this](const signalfd_siginfo&) { on_shutdown_signal(SIGINT); });
  sighup_ = loop_.add_signal(SIGHUP, [this](const signalfd_siginfo&) { on_reload(); });
  // One due deadline per loop iteration: when a hundred restart delays end at once, the
  // spawns are spread over iterations and a D-Bus or FIFO request waits for one spawn
  // instead of all of them (storm benchmark, 100 children: API p99 88 ms with all at once,
  // 16 ms with 16 per iteration, 2 ms with one, for 1.8% -> 3.2% CPU). after_event()
  // re-arms the timer in the past for the rest, so they fire on the following iterations,
  // after whatever else was pending.
  timer_ = loop_.add_timer(0, [this] { sup_->on_timer(kTimersPerIteration); });
  timer_.set_enabled(false);
  // Time rules (apply-on, schedule windows, cron) wake procmand on the wall
  // clock, exactly when the next one is due.
  wall_timer_ = loop_.add_timer(0, [this] { sup_->on_time_change(); }, CLOCK_REALTIME);
  wall_timer_.set_enabled(false);
  watch_clock_changes();
  pid_inotify_ = loop_.add_inotify(pid_dir_, IN_CLOSE_WRITE | IN_MOVED_TO, [this](const inotify_event& ev) {
    if (ev.len > 0) on_pid_file(ev.name);
  });
  prober_ = std::make_unique<os::Prober>(loop_);
  open_notify_socket();
  open_cgroups();
  // Checks answered without waiting (files, folders, /proc) are still answered
  // from the loop, never from inside the supervisor's own call.
  deliver_ = loop_.add_timer(0, [this] {
    auto batch = std::move(immediate_);
    immediate_.clear();
    for (auto& [id, r] : batch) finish_check(id, r.ok, r.detail);
  });
  deliver_.set_enabled(false);
  // Every dispatch ends here: re-arm the one timer, persist, notice the end.
  post_ = loop_.add_post([this] { after_event(); });
  sweep_ = loop_.add_defer([this] { sweep(); }, SD_EVENT_PRIORITY_NORMAL + 1);
  // A burst (many processes changing state at once: a start, a stop, a reload) leaves the
  // heap full of freed blocks: state records, bus messages queued until dbus-daemon took
  // them, property views. glibc keeps them resident, and with thousands of processes that
  // was a third of procmand's memory. Once the loop has nothing else to do, give them back.
  trim_ = loop_.add_defer([] { malloc_trim(0); }, SD_EVENT_PRIORITY_IDLE);
  groups_expiry_ = loop_.add_timer(0, [this] {
    std::unordered_map<pid_t, std::vector<pid_t>>().swap(groups_);
    groups_at_.reset();
  });
  groups_expiry_.set_enabled(false);
  up_.enable_watchdog(loop_.get());

  sup_ = std::make_unique<core::Supervisor>(*this, *this);
  sup_->apply_config(config_);
  for (const auto& u : sup_->status()) console_.reserve(u.name);
  restore_state();
  if (!open_front_doors()) return kExitFailure;
  console_.notice(fmt::format("procmand {} supervising {} process(es) from {} (state in {}{}{})",
                              PROCMAN_VERSION, sup_->status().size(), opts_.config_path, state_dir_,
                              fifo_path_.empty() ? "" : ", fifo ", fifo_path_));
  sup_->start();
  daemon_state_ = "running";
  if (bus_) bus_->manager_changed();
  // Listening sockets exist from the start (and re-adopted children keep theirs,
  // taken back from the fd store or from the child itself).
  for (const auto& u : sup_->status()) {
    const core::ProcessConfig* cfg = sup_->effective_config(u.name);
    std::string error;
    if (cfg && !cfg->sockets.empty()) {
      if (!ensure_listeners(u, *cfg, &error)) console_.warning(fmt::format("{}: {}", u.name, error));
      arm_on_demand(u);
    }
  }
  for (const auto& name : up_.untaken())
    console_.warning(fmt::format("closing descriptors passed by the service manager under an unknown name \"{}\"", name));
  for (const auto& name : up_.untaken()) up_.take(name);
  // Ready means: config loaded, state restored, bus name owned, FIFO open.
  up_.ready(status_text());
  after_event();
  int r = loop_.run();
  persist();
  close_front_doors();
  if (r < 0) {
    console_.error(fmt::format("event loop failed: {}", std::strerror(-r)));
    return kExitFailure;
  }
  return exit_code_;
}

void Daemon::restore_state() {
  std::string error;
  auto text = os::read_file(state_file_, &error);
  if (!text) return;  // first start
  auto st = core::parse_persisted_state(*text, &error);
  if (!st) {
    console_.warning(fmt::format("ignoring {}: {}", state_file_, error));
    return;
  }
  restore_transients(st->transients);
  const bool same_boot = !boot_id_.empty() && st->boot_id == boot_id_;
  std::vector<core::RestoredUnit> restored;
  for (auto& u : st->units) {
    core::RestoredUnit r;
    r.status = u;
    if (!same_boot) {
      // After a reboot no pid is ours and monotonic times are meaningless.
      r.status.pid = -1;
      r.status.start_limit_mono_usec.clear();
      if (core::is_active(r.status.state)) r.status.state = core::State::Stopped;
    } else if (u.pid > 0 && core::is_active(u.state)) {
      // A zombie keeps its start time but runs nothing: it is not there to re-adopt.
      auto ps = os::read_proc_stat(u.pid);
      r.alive = ps && ps->state != 'Z' && ps->state != 'X' && ps->start_time_ticks == u.pid_start_time;
    }
    restored.push_back(std::move(r));
  }
  sup_->restore(restored);
  for (const auto& r : restored) {
    if (!r.alive) continue;
    console_.reserve(r.status.name);
    const core::UnitStatus* live = sup_->find(r.status.name);
    if (live && live->pid == r.status.pid) {
      io_for(live->name);  // resume reading the output it kept writing
      watch_adopted(*live);
    }
  }
}

void Daemon::watch_adopted(const core::UnitStatus& unit) { watch_pid(unit.pid); }

void Daemon::watch_pid(pid_t pid) {
  if (adopted_.count(pid)) return;
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    // Gone between the check and now: report the exit right away.
    sup_->on_exit(pid, core::ExitInfo{.known = false});
    return;
  }
  Adopted a;
  a.pidfd = os::unique_fd(fd);
  a.source = loop_.add_io(fd, EPOLLIN, [this, pid](uint32_t) {
    core::ExitInfo exit{.known = false};
    if (auto it = adopted_.find(pid); it != adopted_.end()) {
      // It may have become our child since (re-parented to us, the subreaper, when
      // its parent exited): then we can reap it and know how it ended.
      siginfo_t info{};
      if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(it->second.pidfd.get()), &info,
                 WEXITED | WNOHANG) == 0 && info.si_pid == pid)
        if (auto st = os::exit_status_from_siginfo(info)) exit = to_exit_info(*st);
      it->second.source.set_enabled(false);
      retire(std::move(it->second));
      adopted_.erase(it);
    }
    if (const core::UnitStatus* u = sup_->find_by_pid(pid)) drain_io(u->name);
    sup_->on_exit(pid, exit);
  });
  adopted_.emplace(pid, std::move(a));
}

void Daemon::retire(Adopted a) {
  a.source.set_enabled(false);
  graveyard_.push_back(std::move(a.source));
  retired_fds_.push_back(std::move(a.pidfd));
}

void Daemon::after_event() {
  // Sources retired inside their own callbacks are released here, outside them.
  graveyard_.clear();
  retired_fds_.clear();
  if (!sup_) return;
  // Under a constant stream of events (a log flood) the sweep's source never gets its turn.
  if (sweep_due_ && loop_.iteration() - sweep_due_since_ >= 4) sweep();
  if (auto at = sup_->next_deadline()) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(at->time_since_epoch()).count();
    timer_.set_time(static_cast<uint64_t>(std::max<int64_t>(us, 1)));
  } else {
    timer_.set_enabled(false);
  }
  arm_wall_timer();
  // State first, replies second: whoever was waiting for an operation finds
  // state.json already saying so.
  if (sup_->dirty()) persist();
  complete_ops();
  if (up_.managed() && daemon_state_ == "running") up_.status(status_text());
  if (sup_->shutdown_complete()) {
    // The controller goes last (it may want to see every process stop), and
    // event hooks fired by the final stops get to finish (bounded by their timeout).
    if (controller_ && controller_->running()) {
      controller_->stop();
      return;
    }
    if (!event_hooks_.empty()) return;
    if (exiting_) return;
    exiting_ = true;
    console_.notice("all processes stopped; exiting");
    loop_.exit(exit_code_);
  }
}

void Daemon::arm_wall_timer() {
  auto next = sup_->next_time_change();
  auto at = next ? os::from_local(*next) : std::nullopt;
  if (!at) {
    wall_timer_.set_enabled(false);
    return;
  }
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(at->time_since_epoch()).count();
  wall_timer_.set_time(static_cast<uint64_t>(std::max<int64_t>(us, 1)));
}

void Daemon::watch_clock_changes() {
  int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    console_.warning(fmt::format("timerfd: {}; clock changes are noticed at the next timer only",
                                 std::strerror(errno)));
    return;
  }
  clock_change_fd_ = os::unique_fd(fd);
  auto arm = [fd] {
    // A far-future absolute expiry that never comes; only its cancellation matters.
    itimerspec its{};
    its.it_value.tv_sec = std::numeric_limits<time_t>::max() / 2;
    timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, nullptr);
  };
  arm();
  clock_change_ = loop_.add_io(fd, EPOLLIN, [this, fd, arm](uint32_t) {
    uint64_t ticks;
    if (::read(fd, &ticks, sizeof ticks) < 0 && errno == ECANCELED) {
      console_.notice("the system clock was set; re-evaluating schedules");
      sup_->on_time_change();
    }
    arm();
  });
}

void Daemon::persist() {
  if (!sup_ || state_file_.empty()) return;
  if (!sup_->dirty_all() && state_fd_ &&
      state_appended_bytes_ < std::max<std::size_t>(64 * 1024, 2 * state_snapshot_bytes_)) {
    std::string records;
    bool all_found = true;
    if (sup_->dirty_units().size() >= kBurstUnits) trim_.trigger();
    for (const auto& name : sup_->dirty_units()) {
      const core::UnitStatus* u = sup_->find(name);
      if (!u) {
        all_found = false;
        break;
      }
      records += core::serialize_unit_record(*u);
    }
    // One write(2) of whole lines on an O_APPEND fd: a crash leaves at most a torn last
    // line, which the reader ignores.
    if (all_found && os::write_all(state_fd_.get(), records)) {
      state_appended_bytes_ += records.size();
      sup_->clear_dirty();
      return;
    }
  }
  core::PersistedState st;
  st.uid = config_->uid;
  st.config_path = opts_.config_path;
  st.boot_id = boot_id_;
  st.daemon_pid = static_cast<int>(getpid());
  st.written_usec = realtime_usec();
  st.units = sup_->status();
  // Only what the supervisor still defines: a transient being removed is not brought back.
  for (const auto& id : sup_->transient_ids())
    if (auto it = transients_.find(id); it != transients_.end()) st.transients.push_back(it->second);
  std::string error;
  const std::string text = core::serialize_state(st);
  // No fsync: the state only matters to a procmand started again on this boot (boot_id), and
  // a crash of procmand does not lose what the kernel already has.
  state_fd_.reset();
  if (!os::write_file_atomic(state_file_, text, &error, os::Durability::Process)) {
    console_.warning(fmt::format("cannot save state to {}: {}", state_file_, error));
  } else {
    state_snapshot_bytes_ = text.size();
    state_appended_bytes_ = 0;
    // Building the snapshot is procmand's memory peak; give what it freed back to the system
    // instead of keeping it for a peak that comes again only at the next snapshot.
    trim_.trigger();
    state_fd_.reset(::open(state_file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
  }
  sup_->clear_dirty();
}

// ---------------------------------------------------------------- signals

void Daemon::on_shutdown_signal(int sig) {
  if (sup_->shutting_down()) {
    if (force_requested_) return;
    force_requested_ = true;
    console_.warning(fmt::format("{} again: killing every remaining process now", core::signal_name(sig)));
    for (const auto& u : sup_->status())
      if (core::is_active(u.state)) signal(u, SIGKILL);
    for (const auto& [pid, h] : hooks_) os::signal_group(pid, SIGKILL);
    for (const auto& [pid, h] : event_hooks_) os::signal_group(pid, SIGKILL);
    if (controller_ && controller_->running()) os::signal_group(controller_->pid(), SIGKILL);
    return;
  }
  begin_shutdown(fmt::format("{} received: stopping all processes (again to kill them now)",
                             core::signal_name(sig)));
}

void Daemon::begin_shutdown(const std::string& why) {
  if (sup_->shutting_down()) return;
  console_.notice(why);
  daemon_state_ = "stopping";
  up_.stopping("stopping all processes");
  if (bus_) bus_->manager_changed();
  sup_->shutdown();
}

void Daemon::on_reload() {
  console_.notice(fmt::format("SIGHUP: reloading {}", opts_.config_path));
  reload();  // logs what changed, or why nothing did
}

void Daemon::on_sigchld(pid_t named) {
  // The child the signal names first, by pid: the kernel finds it directly, where P_ALL walks
  // the list of every child, thousands of them here.
  if (named > 0) reap_one(P_PID, static_cast<id_t>(named));
  sup_->on_group_change();
  // SIGCHLD does not queue: children that ended while it was pending are found by a sweep.
  // It waits until nothing of normal priority is pending, so that a restart this exit
  // scheduled is spawned first; after_event() runs it anyway if that takes a few rounds.
  if (!sweep_due_) {
    sweep_due_ = true;
    sweep_due_since_ = loop_.iteration();
    sweep_.trigger();
  }
}

void Daemon::sweep() {
  sweep_due_ = false;
  sweep_.set_enabled(false);
  bool any = false;
  while (reap_one(P_ALL, 0)) any = true;
  if (any) sup_->on_group_change();
}

bool Daemon::reap_one(idtype_t type, id_t id) {
  siginfo_t si{};
  if (waitid(type, id, &si, WEXITED | WNOHANG) < 0) return false;  // ECHILD: none left
  if (si.si_pid == 0) return false;                                 // none has ended
  if (auto st = os::exit_status_from_siginfo(si)) on_reaped(si.si_pid, to_exit_info(*st));
  return true;
}

void Daemon::on_reaped(pid_t pid, const core::ExitInfo& exit) {
  if (event_hooks_.count(pid)) {
    on_event_hook_exit(pid, exit);
    return;
  }
  if (controller_ && controller_->on_reaped(pid, exit)) return;
  if (auto c = check_pids_.find(pid); c != check_pids_.end()) {
    const uint64_t id = c->second;
    check_pids_.erase(c);
    const bool ok = exit.known && !exit.signaled && exit.code == 0;
    finish_check(id, ok, ok ? "command exited with code 0" : "command " + core::describe_exit(exit));
    return;
  }
  if (auto h = hooks_.find(pid); h != hooks_.end()) {
    Hook hook = h->second;
    hooks_.erase(h);
    drain_io(hook.unit);
    core::HookResult r;
    r.exit = exit;
    r.ok = exit.known && !exit.signaled && exit.code == 0;
    sup_->on_hook_done(hook.unit, hook.kind, r);
    return;
  }
  if (auto p = podman_pids_.find(pid); p != podman_pids_.end()) {
    std::string unit = p->second;
    podman_pids_.erase(p);
    if (auto w = podman_.find(unit); w != podman_.end()) {
      if (w->second.inspect_pid == pid) on_podman_inspect_exit(w->second, exit);
      else on_podman_launcher_exit(w->second, exit);
    }
  }
  if (const core::UnitStatus* u = sup_->find_by_pid(pid)) drain_io(u->name);
  sup_->on_exit(pid, exit);
}

// ---------------------------------------------------------------- spawning

std::vector<std::string> Daemon::build_env(const core::UnitStatus& unit, const core::ProcessConfig& cfg,
                                           std::string* error) const {
  // What this process sets itself, over what procmand inherited. Usually a handful of
  // variables against dozens inherited: those are merged in from base_env_, which is sorted
  // too, instead of being copied into a map of their own for every start.
  std::map<std::string, std::string, std::less<>> own;
  if (cfg.env_file) {
    auto file_env = os::read_env_file(*cfg.env_file, error);
    if (!file_env) {
      *error = "env-file: " + *error;
      return {};
    }
    for (auto& [k, v] : *file_env) own[k] = v;
  }
  for (const auto& [k, v] : cfg.env) own[k] = v;
  own["PROCMAN_NAME"] = unit.name;
  own["PROCMAN_ID"] = unit.id;
  own["PROCMAN_INSTANCE"] = std::to_string(unit.instance);
  own["PROCMAN_UID"] = config_->uid;
  own["PROCMAN_CONFIG"] = opts_.config_path;
  if (!notify_path_.empty() && (cfg.ready == core::ReadyMode::Notify || cfg.watchdog)) {
    own["NOTIFY_SOCKET"] = notify_path_;
    if (cfg.watchdog)
      own["WATCHDOG_USEC"] = std::to_string(
          std::chrono::duration_cast<std::chrono::microseconds>(*cfg.watchdog).count());
  }
  std::vector<std::string> out;
  out.reserve(base_env_.size() + own.size());
  auto put = [&out](const std::string& k, const std::string& v) {
    std::string& kv = out.emplace_back();
    kv.reserve(k.size() + 1 + v.size());
    kv.append(k).append(1, '=').append(v);
  };
  auto inherited = base_env_.begin();
  auto set = own.begin();
  while (inherited != base_env_.end() || set != own.end()) {
    if (set == own.end() || (inherited != base_env_.end() && inherited->first < set->first)) {
      if (!inherited_var_is_ours(inherited->first)) put(inherited->first, inherited->second);
      ++inherited;
      continue;
    }
    if (inherited != base_env_.end() && inherited->first == set->first) ++inherited;
    put(set->first, set->second);
    ++set;
  }
  return out;
}

std::string Daemon::work_dir_for(const core::ProcessConfig& cfg) const {
  return cfg.work_dir ? *cfg.work_dir : config_dir_;
}

std::string Daemon::pid_file_path(const std::string& unit) const {
  return pid_dir_ + "/" + os::escape_filename(unit) + ".pid";
}

core::SpawnOutcome Daemon::spawn(const core::UnitStatus& unit, const core::ProcessConfig& cfg) {
  core::SpawnOutcome out;
  if (!cfg.command) {
    out.error = "no command";
    return out;
  }
  if (cfg.ready == core::ReadyMode::Notify && notify_path_.empty()) {
    out.error = "ready = \"notify\" needs procmand's notify socket, which could not be opened (see procmand's log)";
    return out;
  }
  std::string error;
  std::optional<os::JournalStreamTarget> journal_out, journal_err;
  os::unique_fd out_fd, err_fd;
  if (journal_) {
    // The child connects to journald itself: its entries carry its own _PID, and
    // its output does not pass through (or depend on) procmand.
    if (!journal_targets(unit.name, journal_out, journal_err, &error)) {
      out.error = error;
      return out;
    }
  } else {
    Io& io = io_for(unit.name);
    out_fd = io.out ? io.out->open_child_end(&error) : os::unique_fd();
    err_fd = io.err ? io.err->open_child_end(&error) : os::unique_fd();
  }

  std::string line = cfg.command->line;
  std::vector<std::string> env = build_env(unit, cfg, &error);
  if (env.empty()) {
    out.error = error;
    return out;
  }
  const core::CommandType type = cfg.command->type;
  if (type == core::CommandType::PidFile) {
    const std::string path = pid_file_path(unit.name);
    ::unlink(path.c_str());
    for (std::size_t pos; (pos = line.find(kPidFilePlaceholder)) != std::string::npos;)
      line.replace(pos, std::strlen(kPidFilePlaceholder), path);
    env.push_back("PROCMAN_PID_FILE=" + path);
  }
  auto argv = core::command_argv(line, type != core::CommandType::Simple, &error);
  if (!argv) {
    out.error = error;
    return out;
  }
  os::SpawnRequest req;
  req.want_pidfd = false;  // reaped on SIGCHLD
  req.argv = std::move(*argv);
  req.env = std::move(env);
  req.work_dir = work_dir_for(cfg);
  req.stdout_fd = out_fd.get();
  req.stderr_fd = err_fd.get();
  if (journal_out) req.journal_stdout = &*journal_out;
  if (journal_err) req.journal_stderr = &*journal_err;
  std::optional<os::UnitCgroup> cgroup = unit_cgroup(unit, cfg);
  if (cgroup) req.cgroup_procs_fd = cgroup->procs_fd.get();
  if (!cfg.sockets.empty()) {
    if (!ensure_listeners(unit, cfg, &error)) {
      out.error = error;
      return out;
    }
    std::vector<core::SocketSpec> specs;
    for (const auto& l : listeners_[unit.name]) {
      req.listen_fds.push_back(l.fd.get());
      specs.push_back(l.spec);
    }
    req.env.push_back("LISTEN_FDNAMES=" + core::listen_fdnames(specs));
  } else {
    drop_listeners(unit.name);
  }
  req.user = cfg.user;
  req.group = cfg.group;
  req.nice = cfg.nice;
  req.ionice = cfg.ionice;
  req.umask = cfg.umask;
  req.limits = cfg.limits;

  os::unique_fd capture_read, capture_write;
  if (type == core::CommandType::PodmanCid) {
    // `podman run -d` prints the container id on stdout: capture it.
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
      out.error = fmt::format("pipe: {}", std::strerror(errno));
      return out;
    }
    capture_read = os::unique_fd(fds[0]);
    capture_write = os::unique_fd(fds[1]);
    req.stdout_fd = capture_write.get();
    req.journal_stdout = nullptr;
  }
  os::SpawnResult r = os::spawn(req);
  capture_write.reset();  // the launcher holds the only write end now
  if (!r.error.empty()) {
    out.error = r.error;
    return out;
  }
  out.ok = true;
  out.pid = r.pid;
  out.pgid = r.pid;
  out.start_time = r.start_time_ticks;
  if (type == core::CommandType::PodmanCid) {
    PodmanWatch w;
    w.unit = unit.name;
    w.capture = std::move(capture_read);
    podman_[unit.name] = std::move(w);
    podman_pids_[r.pid] = unit.name;
  }
  return out;
}

bool Daemon::run_hook(const core::UnitStatus& unit, core::HookKind kind, const core::Hook& hook,
                      const core::ProcessConfig& cfg, std::string* error) {
  Io& io = io_for(unit.name);
  std::string err;
  os::unique_fd out_fd = io.out ? io.out->open_child_end(&err) : os::unique_fd();
  os::unique_fd err_fd = io.err ? io.err->open_child_end(&err) : os::unique_fd();
  std::optional<os::JournalStreamTarget> journal_out, journal_err;
  if (journal_ && !journal_targets(unit.name, journal_out, journal_err, error)) return false;
  std::vector<std::string> env = build_env(unit, cfg, error);
  if (env.empty()) return false;
  env.push_back(fmt::format("PROCMAN_HOOK={}", core::hook_name(kind)));
  if (unit.pid > 0) env.push_back(fmt::format("PROCMAN_MAIN_PID={}", unit.pid));
  os::SpawnRequest req;
  req.want_pidfd = false;  // reaped on SIGCHLD
  req.argv = {"/bin/sh", "-c", hook.command};
  req.env = std::move(env);
  req.work_dir = work_dir_for(cfg);
  req.stdout_fd = out_fd.get();
  req.stderr_fd = err_fd.get();
  if (journal_out) req.journal_stdout = &*journal_out;
  if (journal_err) req.journal_stderr = &*journal_err;
  req.user = cfg.user;
  req.group = cfg.group;
  req.umask = cfg.umask;
  os::SpawnResult r = os::spawn(req);
  if (!r.error.empty()) {
    *error = r.error;
    return false;
  }
  hooks_[r.pid] = Hook{unit.name, kind};
  return true;
}

void Daemon::cancel_hook(const core::UnitStatus& unit, core::HookKind kind) {
  for (auto it = hooks_.begin(); it != hooks_.end(); ++it) {
    if (it->second.unit == unit.name && it->second.kind == kind) {
      os::signal_group(it->first, SIGKILL);
      hooks_.erase(it);  // reaped later by on_sigchld, and ignored
      return;
    }
  }
}

// ---------------------------------------------------------------- pid discovery

void Daemon::watch_main_pid(const core::UnitStatus& unit, const core::ProcessConfig& cfg) {
  if (cfg.command && cfg.command->type == core::CommandType::PidFile) {
    const std::string file = os::escape_filename(unit.name) + ".pid";
    pid_watch_[file] = unit.name;
    // The file may already be there if the launcher was quick.
    if (::access((pid_dir_ + "/" + file).c_str(), F_OK) == 0) on_pid_file(file);
  }
  // podman-cid is driven by the launcher's exit (on_podman_launcher_exit).
}

void Daemon::cancel_main_pid_watch(const core::UnitStatus& unit) {
  for (auto it = pid_watch_.begin(); it != pid_watch_.end();) {
    if (it->second == unit.name) it = pid_watch_.erase(it);
    else ++it;
  }
  if (auto w = podman_.find(unit.name); w != podman_.end()) {
    if (w->second.inspect_pid > 0) {
      os::signal_group(w->second.inspect_pid, SIGKILL);
      podman_pids_.erase(w->second.inspect_pid);
    }
    podman_.erase(w);
  }
}

void Daemon::on_pid_file(const std::string& filename) {
  auto it = pid_watch_.find(filename);
  if (it == pid_watch_.end()) return;
  const std::string unit = it->second;
  const std::string path = pid_dir_ + "/" + filename;
  std::string error;
  auto text = os::read_file(path, &error);
  if (!text) return;  // not complete yet; a later event brings it
  std::string t = trim(*text);
  if (t.empty()) return;
  pid_watch_.erase(it);
  char* end = nullptr;
  long pid = std::strtol(t.c_str(), &end, 10);
  if (*end != '\0' || pid <= 0 || pid > 4194304) {
    sup_->on_main_pid_failed(unit, fmt::format("pid file {} holds \"{}\", not a pid", path, t));
    return;
  }
  ::unlink(path.c_str());
  auto start = os::process_start_time(static_cast<pid_t>(pid));
  if (!start) {
    sup_->on_main_pid_failed(unit, fmt::format("pid {} from the pid file does not exist", pid));
    return;
  }
  const pid_t pgid = getpgid(static_cast<pid_t>(pid));
  sup_->on_main_pid(unit, static_cast<int>(pid), pgid > 0 ? pgid : static_cast<int>(pid), *start);
}

void Daemon::on_podman_launcher_exit(PodmanWatch& w, const core::ExitInfo& exit) {
  const std::string unit = w.unit;
  std::string cid = trim(read_available(w.capture.get()));
  w.capture.reset();
  if (!exit.known || exit.signaled || exit.code != 0) {
    podman_.erase(unit);
    sup_->on_main_pid_failed(unit, "podman launcher " + core::describe_exit(exit));
    return;
  }
  if (auto nl = cid.rfind('\n'); nl != std::string::npos) cid = cid.substr(nl + 1);
  if (cid.empty()) {
    podman_.erase(unit);
    sup_->on_main_pid_failed(unit, "podman launcher printed no container id");
    return;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
    podman_.erase(unit);
    sup_->on_main_pid_failed(unit, fmt::format("pipe: {}", std::strerror(errno)));
    return;
  }
  w.inspect_capture = os::unique_fd(fds[0]);
  os::unique_fd write_end(fds[1]);
  os::SpawnRequest req;
  req.want_pidfd = false;  // reaped on SIGCHLD
  req.argv = {"podman", "inspect", "--format", "{{.State.Pid}}", cid};
  for (const auto& [k, v] : base_env_) req.env.push_back(k + "=" + v);
  req.stdout_fd = write_end.get();
  os::SpawnResult r = os::spawn(req);
  if (!r.error.empty()) {
    podman_.erase(unit);
    sup_->on_main_pid_failed(unit, "podman inspect: " + r.error);
    return;
  }
  w.inspect_pid = r.pid;
  podman_pids_[r.pid] = unit;
}

void Daemon::on_podman_inspect_exit(PodmanWatch& w, const core::ExitInfo& exit) {
  const std::string unit = w.unit;
  std::string text = trim(read_available(w.inspect_capture.get()));
  podman_.erase(unit);
  if (!exit.known || exit.signaled || exit.code != 0) {
    sup_->on_main_pid_failed(unit, "podman inspect " + core::describe_exit(exit));
    return;
  }
  char* end = nullptr;
  long pid = std::strtol(text.c_str(), &end, 10);
  auto start = pid > 0 && *end == '\0' ? os::process_start_time(static_cast<pid_t>(pid)) : std::nullopt;
  if (!start) {
    sup_->on_main_pid_failed(unit, fmt::format("podman inspect gave \"{}\", not a live pid", text));
    return;
  }
  const pid_t pgid = getpgid(static_cast<pid_t>(pid));
  sup_->on_main_pid(unit, static_cast<int>(pid), pgid > 0 ? pgid : static_cast<int>(pid), *start);
}

// ---------------------------------------------------------------- checks

namespace {

/// "host:port" or "[v6]:port".
bool split_host_port(const std::string& target, std::string& host, uint16_t& port) {
  auto colon = target.rfind(':');
  if (colon == std::string::npos || colon + 1 >= target.size()) return false;
  host = target.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  long p = std::strtol(target.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || p < 1 || p > 65535 || host.empty()) return false;
  port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace

void Daemon::deliver_later(uint64_t attempt, os::ProbeResult r) {
  immediate_.emplace_back(attempt, std::move(r));
  deliver_.set_time(1);  // in the past: the next loop iteration
}

void Daemon::finish_check(uint64_t attempt, bool ok, const std::string& detail) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;  // cancelled
  CheckAttempt a = std::move(it->second);
  attempts_.erase(it);
  if (a.timeout) {
    a.timeout.set_enabled(false);
    graveyard_.push_back(std::move(a.timeout));
  }
  if (a.pid > 0) check_pids_.erase(a.pid);
  if (a.invert) ok = !ok;
  sup_->on_check_done(a.unit, a.req, ok, detail);
}

void Daemon::run_check(const core::UnitStatus& unit, const core::CheckRequest& req,
                       const core::HealthCheck* check, const core::Dependency* dep,
                       const core::ProcessConfig& cfg) {
  const uint64_t id = next_attempt_++;
  CheckAttempt& a = attempts_[id];
  a.unit = unit.name;
  a.req = req;
  auto on_probe = [this, id](const os::ProbeResult& r) { finish_check(id, r.ok, r.detail); };
  using HK = core::HealthCheck::Kind;
  using DK = core::Dependency::Kind;
  std::string host;
  uint16_t port = 0;
  if (check) {
    switch (check->kind) {
      case HK::Command: {
        Io& io = io_for(unit.name);
        std::string err;
        os::unique_fd out_fd = io.out ? io.out->open_child_end(&err) : os::unique_fd();
        os::unique_fd err_fd = io.err ? io.err->open_child_end(&err) : os::unique_fd();
        os::SpawnRequest sr;
        sr.want_pidfd = false;  // reaped on SIGCHLD
        sr.argv = {"/bin/sh", "-c", check->command};
        sr.env = build_env(unit, cfg, &err);
        sr.env.push_back(fmt::format("PROCMAN_CHECK={}", core::check_role_name(req.role)));
        if (unit.pid > 0) sr.env.push_back(fmt::format("PROCMAN_MAIN_PID={}", unit.pid));
        sr.work_dir = work_dir_for(cfg);
        sr.stdout_fd = out_fd.get();
        sr.stderr_fd = err_fd.get();
        sr.user = cfg.user;
        sr.group = cfg.group;
        os::SpawnResult r = os::spawn(sr);
        if (!r.error.empty()) {
          deliver_later(id, {false, "cannot run the check: " + r.error});
          return;
        }
        a.pid = r.pid;
        check_pids_[r.pid] = id;
        const auto deadline = os::EventLoop::now_usec() +
                              static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(check->timeout).count());
        const pid_t pid = r.pid;
        const std::string text = "command timed out after " + core::format_duration(check->timeout);
        a.timeout = loop_.add_timer(deadline, [this, id, pid, text] {
          os::signal_group(pid, SIGKILL);  // reaped later, and ignored
          check_pids_.erase(pid);
          finish_check(id, false, text);
        });
        return;
      }
      case HK::Folder:
        deliver_later(id, os::check_folder_active(check->folder, check->inactive_time, wall()));
        return;
      case HK::File:
        deliver_later(id, os::check_file_exists(check->path));
        return;
      case HK::Http:
        a.probe = prober_->http_get(check->url, check->expect_status, check->timeout, on_probe);
        return;
      case HK::Tcp:
        a.probe = prober_->tcp_connect(check->host, check->port, check->timeout, on_probe);
        return;
    }
  }
  if (dep) {
    // One attempt never outlasts the poll interval by much, and never hangs.
    const auto attempt_timeout = std::clamp<core::Duration>(dep->poll_interval, std::chrono::seconds(1),
                                                            std::chrono::seconds(10));
    switch (dep->kind) {
      case DK::Url:
        a.probe = prober_->http_get(dep->target, dep->expect_status, attempt_timeout, on_probe);
        return;
      case DK::Tcp:
      case DK::NotListening:
        if (!split_host_port(dep->target, host, port)) {
          deliver_later(id, {false, "not a host:port: " + dep->target});
          return;
        }
        a.invert = dep->kind == DK::NotListening;
        a.probe = prober_->tcp_connect(host, port, attempt_timeout, on_probe);
        return;
      case DK::Path:
        deliver_later(id, os::check_file_exists(dep->target));
        return;
      case DK::NotExists:
        deliver_later(id, os::check_not_exists(dep->target));
        return;
      case DK::NotRunning:
        deliver_later(id, os::check_not_running(dep->target));
        return;
      case DK::Process:
        break;
    }
  }
  attempts_.erase(id);
}

void Daemon::cancel_checks(const core::UnitStatus& unit) {
  for (auto it = attempts_.begin(); it != attempts_.end();) {
    if (it->second.unit != unit.name) {
      ++it;
      continue;
    }
    CheckAttempt& a = it->second;
    if (a.probe) prober_->cancel(*a.probe);
    if (a.pid > 0) {
      os::signal_group(a.pid, SIGKILL);
      check_pids_.erase(a.pid);
    }
    if (a.timeout) {
      a.timeout.set_enabled(false);
      graveyard_.push_back(std::move(a.timeout));
    }
    it = attempts_.erase(it);
  }
}

// ---------------------------------------------------------------- signals to children

namespace {

/// A stopped (SIGSTOP) process would never act on SIGTERM, so most signals are
/// followed by SIGCONT; not those that stop or continue it themselves
/// (`procmanctl kill -s STOP` must hold).
bool needs_sigcont(int sig) {
  return sig != SIGKILL && sig != SIGCONT && sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU;
}

}  // namespace

bool Daemon::journal_targets(const std::string& unit, std::optional<os::JournalStreamTarget>& out,
                             std::optional<os::JournalStreamTarget>& err, std::string* error) const {
  // stdout at info, stderr at warning: journalctl -p warning shows what went to stderr.
  out = os::journal_stream_target(unit, LOG_INFO, error);
  if (out) err = os::journal_stream_target(unit, LOG_WARNING, error);
  return err.has_value();
}

void Daemon::signal(const core::UnitStatus& unit, int sig) {
  // The cgroup holds everything it ever started, double-forked daemons and
  // processes that changed their process group included.
  if (cgroups_) {
    std::string error;
    if (!cgroups_->kill(unit.name, sig, &error)) console_.warning(fmt::format("{}: cgroup kill: {}", unit.name, error));
    if (needs_sigcont(sig)) cgroups_->kill(unit.name, SIGCONT);
  }
  if (unit.pgid > 0) {
    os::signal_group(unit.pgid, sig);
    if (needs_sigcont(sig)) os::signal_group(unit.pgid, SIGCONT);
  }
  if (unit.pid > 0 && getpgid(unit.pid) != unit.pgid) {
    if (auto a = adopted_.find(unit.pid); a != adopted_.end()) os::signal_pidfd(a->second.pidfd.get(), sig);
    else ::kill(unit.pid, sig);
  }
}

bool Daemon::group_alive(const core::UnitStatus& unit) {
  if (cgroups_) {
    const std::vector<pid_t> members = cgroups_->pids(unit.name);
    if (!members.empty()) {
      // Our children's ends come with SIGCHLD; the others' (re-adopted trees) through pidfds.
      for (pid_t m : members) {
        auto st = os::read_proc_stat(m);
        if (st && st->ppid != getpid()) watch_member(m);
      }
      return true;
    }
  }
  if (unit.pgid <= 0) return false;
  // kill(-pgid, 0) asks the kernel whether any member is left, without a /proc scan.
  if (::kill(-unit.pgid, 0) != 0 && errno != EPERM) return false;
  // Our own children (and orphans re-parented to us) are reaped as soon as
  // they exit, so that answer is exact for them. An adopted group is not ours
  // to reap: its zombies linger until their parent reaps them, so ask /proc
  // for members that are still alive.
  if (!unit.adopted) return true;
  const std::vector<pid_t> members = os::process_group_members(unit.pgid);
  // Their deaths raise no SIGCHLD here either: watch each with a pidfd so the
  // unit learns the moment its group is empty, instead of at a timeout.
  for (pid_t m : members) watch_member(m);
  return !members.empty();
}

void Daemon::watch_member(pid_t pid) {
  if (member_watch_.count(pid)) return;
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return;  // already gone
  Adopted w;
  w.pidfd = os::unique_fd(fd);
  w.source = loop_.add_io(fd, EPOLLIN, [this, pid](uint32_t) {
    if (auto it = member_watch_.find(pid); it != member_watch_.end()) {
      retire(std::move(it->second));
      member_watch_.erase(it);
    }
    sup_->on_group_change();
  });
  member_watch_.emplace(pid, std::move(w));
}

namespace {

/// The MESSAGE_ID and priority of a transition worth finding in the journal.
std::pair<std::string_view, int> journal_kind(const core::UnitStatus& u, core::State from, std::string_view reason) {
  using core::State;
  switch (u.state) {
    case State::Running:
      if (from != State::Running) return {os::msgid::kStarted, LOG_INFO};
      break;
    case State::Failed:
      return {os::msgid::kFailed, LOG_ERR};
    case State::StartLimitHit:
      return {os::msgid::kStartLimitHit, LOG_ERR};
    case State::Stopping:
      if (reason.rfind("deadline exceeded", 0) == 0) return {os::msgid::kDeadlineExceeded, LOG_WARNING};
      if (reason.rfind("watchdog", 0) == 0) return {os::msgid::kWatchdogTimeout, LOG_WARNING};
      break;
    case State::Backoff:
    case State::ExitedOk:
      if (u.last_exit) return {os::msgid::kExited, u.state == State::Backoff ? LOG_WARNING : LOG_INFO};
      break;
    case State::Stopped:
      if (from == State::Stopping) return {os::msgid::kStopped, LOG_INFO};
      break;
    default:
      break;
  }
  return {{}, LOG_INFO};
}

}  // namespace

void Daemon::transition(const core::UnitStatus& unit, core::State from, std::string_view reason) {
  const std::string text = reason.empty() ? fmt::format("{} {}", unit.name, core::state_name(unit.state))
                                          : fmt::format("{} {}: {}", unit.name, core::state_name(unit.state), reason);
  if (console_.journal()) {
    auto [id, priority] = journal_kind(unit, from, reason);
    std::vector<os::JournalField> f{{std::string(os::field::kProcess), unit.name},
                                    {"PROCMAN_EVENT", std::string(core::state_name(unit.state))},
                                    {"PROCMAN_FROM", std::string(core::state_name(from))}};
    if (!id.empty()) f.push_back({std::string(os::field::kMessageId), std::string(id)});
    if (unit.pid > 0) f.push_back({std::string(os::field::kPid), std::to_string(unit.pid)});
    if (!reason.empty()) f.push_back({std::string(os::field::kReason), std::string(reason)});
    if (!unit.result.empty()) f.push_back({std::string(os::field::kResult), unit.result});
    if (unit.restarts) f.push_back({std::string(os::field::kRestarts), std::to_string(unit.restarts)});
    if (unit.last_exit && unit.last_exit->known) {
      if (unit.last_exit->signaled)
        f.push_back({std::string(os::field::kExitSignal), std::string(core::signal_name(unit.last_exit->code))});
      else
        f.push_back({std::string(os::field::kExitCode), std::to_string(unit.last_exit->code)});
    }
    console_.event(priority, text, f);
  } else {
    console_.notice(text);
  }
  if (!listeners_.empty()) arm_on_demand(unit);
  notify_front_doors(unit, from, reason);
}

void Daemon::signal_main(const core::UnitStatus& unit, int sig) {
  if (unit.pid <= 0) return;
  if (auto a = adopted_.find(unit.pid); a != adopted_.end()) os::signal_pidfd(a->second.pidfd.get(), sig);
  else ::kill(unit.pid, sig);
}

void Daemon::released(const core::UnitStatus& unit) {
  drain_io(unit.name);
  // An empty cgroup goes; one still holding something (a stop that gave up) stays for the next start.
  if (cgroups_ && !cgroups_->populated(unit.name)) cgroups_->remove(unit.name);
  if (auto a = adopted_.find(unit.pid); a != adopted_.end()) {
    retire(std::move(a->second));
    adopted_.erase(a);
  }
  if (unit.removed) {
    if (auto it = io_.find(unit.name); it != io_.end()) {
      for (bool is_err : {false, true}) {
        auto& fifo = is_err ? it->second.err : it->second.out;
        if (!fifo) continue;
        outputs_->remove(fifo->fd());
        os::OutputFifo::remove(output_path(unit.name, is_err));
      }
      io_.erase(it);
    }
  }
}

// ---------------------------------------------------------------- output

Daemon::Io& Daemon::io_for(const std::string& unit) {
  auto it = io_.find(unit);
  if (it != io_.end()) return it->second;
  if (!outputs_) {
    outputs_.emplace(loop_, [this](uint64_t tag) {
      read_output(*reinterpret_cast<Io*>(tag & ~uint64_t{1}), (tag & 1) != 0);
    });
  }
  auto slot = io_.try_emplace(unit).first;
  Io& io = slot->second;
  io.unit = &slot->first;
  std::string error;
  for (bool is_err : {false, true}) {
    const std::string path = output_path(unit, is_err);
    auto fifo = os::OutputFifo::attach_or_create(path, &error);
    if (fifo && !outputs_->add(fifo->fd(), output_tag(io, is_err), &error)) fifo.reset();
    if (!fifo) {
      console_.warning(fmt::format("{}: no output capture ({}); output goes to /dev/null", unit, error));
      continue;
    }
    (is_err ? io.err : io.out) = std::move(fifo);
  }
  return io;
}

std::string Daemon::output_path(const std::string& unit, bool is_stderr) const {
  return io_dir_ + "/" + os::escape_filename(unit) + (is_stderr ? ".err" : ".out");
}

uint64_t Daemon::output_tag(const Io& io, bool is_stderr) {
  static_assert(alignof(Io) > 1, "the low bit of an Io's address carries the stream");
  return reinterpret_cast<uintptr_t>(&io) | (is_stderr ? 1 : 0);
}

void Daemon::read_output(Io& io, bool is_stderr) {
  auto& fifo = is_stderr ? io.err : io.out;
  if (!fifo) return;
  const std::string& unit = *io.unit;
  std::string buf, error;
  if (!fifo->drain(buf, &error)) {
    console_.warning(fmt::format("{}: reading output: {}", unit, error));
    return;
  }
  if (buf.empty()) return;
  const uint64_t now_us = static_cast<uint64_t>(realtime_usec());
  auto& splitter = is_stderr ? io.err_split : io.out_split;
  splitter.feed(buf, [&](std::string_view line) {
    console_.line(unit, line);
    io.ring.push(line, is_stderr, now_us);
  });
  console_.flush();
}

void Daemon::drain_io(const std::string& unit) {
  auto it = io_.find(unit);
  if (it == io_.end()) return;
  read_output(it->second, false);
  read_output(it->second, true);
}

}  // namespace procman
