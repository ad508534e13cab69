#include "core/supervisor.h"

#include "core/effective.h"
#include "core/suggest.h"
#include "core/transient.h"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>

namespace procman::core {
namespace {

constexpr Duration kPidWatchTimeout = std::chrono::seconds(30);

int64_t to_usec(WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
int64_t mono_usec(MonoTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
MonoTime from_mono_usec(int64_t us) { return MonoTime(std::chrono::microseconds(us)); }

std::string unit_name(const std::string& id, unsigned instance, unsigned instances) {
  return instances > 1 ? fmt::format("{}@{}", id, instance) : id;
}

bool needs_live_dependency(DepCondition c) {
  return c == DepCondition::Started || c == DepCondition::Running;
}

/// Two versions are "the same" for reload purposes when every field that
/// shapes the running process is equal; apply-on changes are handled apart.
bool same_process_spec(const ProcessConfig& a, const ProcessConfig& b) {
  auto cmd = [](const std::optional<Command>& c) {
    return c ? std::pair(c->line, c->type) : std::pair(std::string(), CommandType::Simple);
  };
  auto hook = [](const Box<Hook>& h) {
    return h ? std::pair(h->command, h->timeout) : std::pair(std::string(), Duration{});
  };
  return cmd(a.command) == cmd(b.command) && a.work_dir == b.work_dir &&
         hook(a.before) == hook(b.before) && hook(a.init) == hook(b.init) &&
         hook(a.stop) == hook(b.stop) && a.env == b.env && a.env_file == b.env_file &&
         a.user == b.user && a.group == b.group && a.nice == b.nice && a.umask == b.umask &&
         a.stop_signal == b.stop_signal && a.one_shot == b.one_shot &&
         a.limits.size() == b.limits.size() &&
         std::equal(a.limits.begin(), a.limits.end(), b.limits.begin(),
                    [](const Limit& x, const Limit& y) {
                      return x.resource == y.resource && x.soft == y.soft && x.hard == y.hard;
                    }) &&
         (a.ionice.has_value() == b.ionice.has_value()) &&
         (!a.ionice ||
          (a.ionice->io_class == b.ionice->io_class && a.ionice->level == b.ionice->level));
}

}  // namespace

std::string_view hook_name(HookKind k) {
  switch (k) {
    case HookKind::Before:
      return "before";
    case HookKind::Init:
      return "init";
    case HookKind::Stop:
      return "stop";
  }
  return "?";
}

std::string_view check_role_name(CheckRole r) {
  switch (r) {
    case CheckRole::Liveness:
      return "health check";
    case CheckRole::Readiness:
      return "readiness check";
    case CheckRole::Dependency:
      return "dependency check";
  }
  return "check";
}

std::string_view admin_goal_name(AdminGoal g) {
  switch (g) {
    case AdminGoal::Auto:
      return "auto";
    case AdminGoal::Started:
      return "started";
    case AdminGoal::Stopped:
      return "stopped";
  }
  return "auto";
}

std::string describe_exit(const ExitInfo& e) {
  if (!e.known) return "exited while procmand was not watching (status unknown)";
  if (e.signaled) return "killed by " + signal_name(e.code);
  return fmt::format("exited with code {}", e.code);
}

constexpr MonoTime kUnarmed = MonoTime::min();

// One per managed process: fields are grouped by size so that none is padding.
struct Supervisor::Unit {
  UnitStatus st;
  /// The version being run (or last run): a copy, so a reload never changes
  /// what a live process was started with.
  std::shared_ptr<const ProcessConfig> running;
  RareString pending_failure;  ///< reason kept for AfterStop::AttemptFailed
  StartLimiter limiter;
  /// When each timer slot fires; kUnarmed if it is not armed (an optional would double it).
  std::array<MonoTime, kSlotCount> timer_at{kUnarmed, kUnarmed, kUnarmed,
                                            kUnarmed, kUnarmed, kUnarmed};
  MonoTime probing_since{};  ///< first probe of this wait, for dependency timeouts
  MonoTime started_at{};
  MonoTime running_since{};
  // Checks. check_token changes whenever attempts in flight become stale.
  uint64_t check_token = 1;
  SmallVec<char, 8> dep_ok;              ///< per depends-on entry: the probe held
  SmallVec<char, 8> dep_in_flight;       ///< per depends-on entry
  std::optional<ExitInfo> pending_exit;  ///< exit kept while remnants of the group are killed
  unsigned instances = 1;
  AfterStop after_stop = AfterStop::Stay;
  int wrapper_pid = -1;  ///< pid-file / podman-cid: the launching shell
  unsigned live_failures = 0;
  unsigned ready_successes = 0;
  bool sent_kill = false;
  bool wait_over = false;     ///< Backoff / StartLimitHit: the timer fired
  bool from_backoff = false;  ///< the next start is an automatic restart
  bool in_window = false;     ///< the schedule window was open at the last look
  bool tick_due = false;      ///< cron: a tick fired and its run has not ended
  bool deadline_hit = false;  ///< stopping because it ran past `deadline`
  bool watchdog_hit = false;  ///< stopping because WATCHDOG=1 stopped coming
  bool notify_ready = false;  ///< READY=1 arrived during this start
  bool activated = false;     ///< start-on-demand: a connection came; wanted until a clean exit
  bool ready_passed = false;
  bool live_in_flight = false;
  bool ready_in_flight = false;
  bool queued = false;
};

Supervisor::Supervisor(Effects& fx, const Clock& clock) : fx_(fx), clock_(clock) {}
Supervisor::~Supervisor() = default;

// ---------------------------------------------------------------- config

ReloadSummary Supervisor::apply_config(const Config& cfg) {
  return apply_config(std::make_shared<const Config>(cfg));
}

std::shared_ptr<const ProcessConfig> Supervisor::share(const ProcessConfig* p) const {
  if (p->transient)
    if (auto it = transients_.find(p->id); it != transients_.end() && it->second.get() == p)
      return it->second;
  if (config_ && !config_->processes.empty()) {
    std::less<const ProcessConfig*> lt;
    const ProcessConfig* b = config_->processes.data();
    if (!lt(p, b) && lt(p, b + config_->processes.size()))
      return std::shared_ptr<const ProcessConfig>(config_, p);
  }
  return std::make_shared<const ProcessConfig>(*p);
}

ReloadSummary Supervisor::apply_config(std::shared_ptr<const Config> cfg) {
  ReloadSummary summary;
  std::shared_ptr<const Config> fresh = std::move(cfg);
  // A reload: what runs keeps its own copy, so the old config can go.
  for (auto& [name, u] : units_)
    if (u->running) u->running = std::make_shared<const ProcessConfig>(*u->running);
  // Filled with the versions only; rebuild_graph() adds the units once it replaces ids_.
  std::map<std::string, IdInfo, std::less<>> ids;
  // Transients are not in the file and survive reloads. The daemon refuses a file that
  // reuses a transient's id; should one get here anyway, the running transient wins.
  for (const auto& p : fresh->processes)
    if (!transients_.count(p.id)) ids[p.id].versions.push_back(&p);
  for (const auto& [id, p] : transients_) ids[id].versions.push_back(p.get());

  const LocalDateTime now = clock_.local();

  std::set<std::string> wanted_names;
  std::vector<std::string> created;
  for (const auto& [id, info] : ids) {
    const auto& vs = info.versions;
    unsigned instances = 1;
    if (const auto* eff = effective_version(vs, now))
      instances = eff->instances;
    else
      instances = vs.back()->instances;
    for (unsigned i = 0; i < instances; ++i) {
      std::string name = unit_name(id, i, instances);
      wanted_names.insert(name);
      auto it = units_.find(name);
      if (it == units_.end()) {
        create_unit(id, i, instances);
        created.push_back(name);
        if (started_) summary.added.push_back(name);
        continue;
      }
      Unit& u = *it->second;
      u.instances = instances;
      if (u.st.removed) {
        u.st.removed = false;  // came back before it was forgotten
        if (u.after_stop == AfterStop::Remove) u.after_stop = AfterStop::Reconcile;
      }
      if (!started_ || !u.running) continue;
      const ProcessConfig* eff = effective_version(vs, now);
      if (!eff) continue;  // nothing applies now: reconcile stops it
      const bool live = is_active(u.st.state);
      if (eff->apply_on != u.running->apply_on) {
        // jleahred/procman: only a change of the effective apply-on restarts a process.
        if (live) {
          summary.restarted.push_back(name);
          begin_stop(u, AfterStop::Restart, "the effective apply-on changed");
        }
      } else if (!same_process_spec(*eff, *u.running)) {
        if (live) {
          u.st.restart_pending = true;
          summary.changed_pending.push_back(name);
        }
      }
    }
  }
  for (auto& [name, u] : units_) {
    if (wanted_names.count(name) || u->st.removed) continue;
    u->st.removed = true;
    summary.removed.push_back(name);
  }

  ids_ = std::move(ids);
  note_time_rules();
  config_ = std::move(fresh);
  rebuild_graph();
  // Forget removed units that have nothing running; the rest stop first.
  std::vector<Unit*> gone;
  for (auto& [name, u] : units_)
    if (u->st.removed && !is_active(u->st.state)) gone.push_back(u.get());
  for (Unit* u : gone) forget(*u);
  for (auto& [name, u] : units_) refresh_flags(*u);
  for (const auto& name : created)
    if (const Unit* u = find_unit(name)) fx_.unit_added(u->st);
  for (auto& [name, u] : units_) enqueue(*u);
  touch_all();
  if (started_) drain();
  return summary;
}

Supervisor::Unit& Supervisor::create_unit(const std::string& id, unsigned instance,
                                          unsigned instances) {
  auto u = std::make_unique<Unit>();
  u->st.name = unit_name(id, instance, instances);
  u->st.id = id;
  u->st.instance = instance;
  u->instances = instances;
  Unit& ref = *u;
  units_.emplace(ref.st.name, std::move(u));
  count(ref.st.state, +1);
  return ref;
}

void Supervisor::refresh_flags(Unit& u) {
  const IdInfo* e = find_id(u.st.id);
  if (!e || e->versions.empty()) return;
  u.st.one_shot = e->versions.back()->one_shot;
  u.st.transient = e->versions.back()->transient;
}

void Supervisor::rebuild_graph() {
  for (auto it = ids_.begin(); it != ids_.end();) {
    it->second.instances.clear();
    it = it->second.versions.empty() ? ids_.erase(it) : std::next(it);
  }
  dependents_.clear();
  for (auto& [name, u] : units_) ids_[u->st.id].instances.push_back(u.get());
  for (auto& [name, u] : units_) {
    std::set<std::string> seen;
    const IdInfo* e = find_id(u->st.id);
    for (const auto* v : e->versions)
      for (const auto& d : v->depends_on)
        if (d.kind == Dependency::Kind::Process && seen.insert(d.id).second)
          dependents_[d.id].push_back(u.get());
  }
}

void Supervisor::touch(const Unit& u) {
  if (!dirty_all_) dirty_units_.insert(u.st.name);
}

void Supervisor::set_main_gone(Unit& u, bool gone) {
  if (gone)
    main_gone_.insert(&u);
  else
    main_gone_.erase(&u);
}

void Supervisor::forget(Unit& u) {
  main_gone_.erase(&u);
  stop_checks(u);
  for (int slot = 0; slot < kSlotCount; ++slot) disarm(u, static_cast<TimerSlot>(slot));
  if (u.st.pid > 0) by_pid_.erase(u.st.pid);
  if (u.wrapper_pid > 0) by_pid_.erase(u.wrapper_pid);
  queue_.erase(std::remove(queue_.begin(), queue_.end(), &u), queue_.end());
  std::string name = u.st.name;
  count(u.st.state, -1);
  units_.erase(name);
  rebuild_graph();
  touch_all();
  fx_.unit_removed(name);
}

const ProcessConfig* Supervisor::effective(const Unit& u) const {
  const IdInfo* e = find_id(u.st.id);
  if (!e || u.st.removed) return nullptr;
  return effective_version(e->versions, clock_.local());
}

const ProcessConfig* Supervisor::effective_config(std::string_view name) const {
  const Unit* u = find_unit(name);
  return u ? effective(*u) : nullptr;
}

// ---------------------------------------------------------------- restore

void Supervisor::restore(const std::vector<RestoredUnit>& restored) {
  const MonoTime now = clock_.now();
  for (const auto& r : restored) {
    Unit* u = find_unit(r.status.name);
    const bool had_process = is_active(r.status.state) && r.status.pid > 0;
    if (!u) {
      if (!had_process || !r.alive) continue;
      // A process the new config no longer has: take it over only to stop it.
      auto fresh = std::make_unique<Unit>();
      fresh->st = r.status;
      fresh->st.removed = true;
      u = fresh.get();
      units_.emplace(u->st.name, std::move(fresh));
      count(u->st.state, +1);
      rebuild_graph();
      fx_.unit_added(u->st);
    }
    // History survives a procmand restart; the live part is re-checked.
    UnitStatus& st = u->st;
    st.admin = r.status.admin;
    st.done = r.status.done;
    st.restarts = r.status.restarts;
    st.consecutive_failures = r.status.consecutive_failures;
    st.last_exit = r.status.last_exit;
    st.start_usec = r.status.start_usec;
    st.exit_usec = r.status.exit_usec;
    st.run_usec = r.status.run_usec;
    st.failure_reason = r.status.failure_reason;
    st.apply_on = r.status.apply_on;
    st.result = r.status.result;
    st.last_tick = r.status.last_tick;
    st.ticks_skipped = r.status.ticks_skipped;
    u->limiter.reset();
    for (int64_t us : r.status.start_limit_mono_usec) u->limiter.record(from_mono_usec(us));

    // The version it was started from, if the config still has it.
    if (const IdInfo* e = find_id(st.id)) {
      for (const auto* v : e->versions)
        if (!v->fake && v->apply_on == r.status.apply_on)
          u->running = share(v);
      if (!u->running)
        if (const ProcessConfig* eff = effective(*u))
          u->running = share(eff);
    }
    if (!u->running) {
      ProcessConfig defaults;  // only to stop it: the default stop signal and timeout apply
      defaults.id = st.id;
      u->running = std::make_shared<ProcessConfig>(defaults);
    }

    if (had_process && r.alive) {
      st.pid = r.status.pid;
      st.pgid = r.status.pgid;
      st.pid_start_time = r.status.pid_start_time;
      st.adopted = true;
      by_pid_[st.pid] = u;
      // The start time is unknown in monotonic terms; count the run from now.
      u->started_at = now;
      u->running_since = now;
      if (r.status.state == State::Stopping || st.removed) {
        set_state(*u, State::Running, "re-adopted after a procmand restart");
        begin_stop(*u, st.removed ? AfterStop::Remove : AfterStop::Stay,
                   st.removed ? "no longer in the config" : "was stopping when procmand stopped");
      } else {
        // A notify process restored mid-start may have sent READY=1 while
        // nobody listened: it counts as running. Its watchdog starts over.
        if (u->running->watchdog) {
          st.watchdog_usec =
              std::chrono::duration_cast<std::chrono::microseconds>(*u->running->watchdog).count();
          arm(*u, kWatchdogTimer, now + *u->running->watchdog);
        }
        set_state(*u, State::Running,
                  fmt::format("re-adopted pid {} after a procmand restart", st.pid));
      }
      continue;
    }
    if (had_process) {
      // It died while nobody watched: its policy decides, like any exit.
      st.pid = r.status.pid;
      u->started_at = now;
      u->running_since = now;
      set_state(*u, State::Running, "was running when procmand stopped");
      main_exited(*u, ExitInfo{.known = false});
      continue;
    }
    switch (r.status.state) {
      case State::ExitedOk:
      case State::Failed:
      case State::StartLimitHit:
        // Carried over as it was, not a new event: no transition is reported.
        count(st.state, -1);
        st.state = r.status.state;
        count(st.state, +1);
        st.status_text = r.status.status_text;
        if (r.status.state == State::StartLimitHit && u->running)
          if (auto at = u->limiter.retry_at(u->running->start_limit)) arm(*u, kStateTimer, *at);
        break;
      default:
        break;  // pending, backoff, stopped...: reconcile decides afresh
    }
  }
  touch_all();
}

// ---------------------------------------------------------------- queries

Supervisor::Unit* Supervisor::find_unit(std::string_view name) const {
  auto it = units_.find(name);
  return it == units_.end() ? nullptr : it->second.get();
}

const UnitStatus* Supervisor::find(std::string_view name) const {
  const Unit* u = find_unit(name);
  return u ? &u->st : nullptr;
}

const UnitStatus* Supervisor::find_by_pid(int pid) const {
  auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : &it->second->st;
}

std::vector<std::string> Supervisor::resolve(std::string_view name) const {
  if (find_unit(name)) return {std::string(name)};
  std::vector<std::string> out;
  if (const IdInfo* e = find_id(name))
    for (const Unit* u : e->instances) out.push_back(u->st.name);
  return out;
}

void Supervisor::for_each_status(const std::function<void(const UnitStatus&)>& fn) const {
  for (const auto& [name, u] : units_) fn(u->st);
}

std::vector<UnitStatus> Supervisor::status() const {
  std::vector<UnitStatus> out;
  out.reserve(units_.size());
  for (const auto& [name, u] : units_) {
    out.push_back(u->st);
    out.back().start_limit_mono_usec.clear();
    for (MonoTime t : u->limiter.starts()) out.back().start_limit_mono_usec.push_back(mono_usec(t));
  }
  return out;
}

bool Supervisor::wants_up(const Unit& u) const {
  if (shutting_down_ || u.st.removed) return false;
  if (u.st.admin == AdminGoal::Stopped) return false;
  const ProcessConfig* eff = effective(u);
  if (!eff) return false;
  if (eff->one_shot && u.st.done) return false;
  if (u.st.admin == AdminGoal::Started) return true;
  if (eff->start_on_demand && !u.activated) return false;
  // Schedules and cron ticks decide activity at runtime (see docs/config.md);
  // a schedule window closed now means not wanted now.
  if (eff->schedule && !schedule_contains(*eff->schedule, clock_.local())) return false;
  if (eff->cron) return u.tick_due;  // cron one-shots run when a tick is due
  return true;
}

std::string Supervisor::inactive_reason(const Unit& u) const {
  const ProcessConfig* eff = effective(u);
  if (!eff) return "no version of it applies now";
  if (eff->start_on_demand && !u.activated) return "waiting for a connection on its sockets";
  if (eff->schedule && !schedule_contains(*eff->schedule, clock_.local()))
    return "its schedule window closed";
  if (eff->cron) return "its cron run is over";
  return "configuration no longer active";
}

bool Supervisor::dep_satisfied(const Dependency& d) const {
  const IdInfo* e = find_id(d.id);
  if (!e || e->instances.empty()) return false;
  for (const Unit* t : e->instances) {
    const State s = t->st.state;
    switch (d.condition) {
      case DepCondition::Started:
        if (!wants_up(*t) || !is_started(s)) return false;
        break;
      case DepCondition::Running:
        if (!wants_up(*t) || s != State::Running) return false;
        break;
      case DepCondition::Completed:
        if (s != State::ExitedOk && s != State::Failed) return false;
        break;
      case DepCondition::CompletedSuccessfully:
        if (s != State::ExitedOk) return false;
        break;
    }
  }
  return true;
}

static std::string describe_dependency(const Dependency& d) {
  switch (d.kind) {
    case Dependency::Kind::Process:
      return fmt::format("{} ({})", d.id, condition_name(d.condition));
    case Dependency::Kind::Url:
      return fmt::format("{} to answer {}", d.target, d.expect_status);
    case Dependency::Kind::Tcp:
      return fmt::format("{} to accept connections", d.target);
    case Dependency::Kind::Path:
      return fmt::format("{} to exist", d.target);
    case Dependency::Kind::NotListening:
      return fmt::format("{} to stop listening", d.target);
    case Dependency::Kind::NotExists:
      return fmt::format("{} to disappear", d.target);
    case Dependency::Kind::NotRunning:
      return fmt::format("no process matching '{}'", d.target);
  }
  return "?";
}

std::string Supervisor::unmet_dependency(const Unit& u, bool for_start) const {
  const ProcessConfig* eff = effective(u);
  if (!eff) return {};
  for (std::size_t i = 0; i < eff->depends_on.size(); ++i) {
    const Dependency& d = eff->depends_on[i];
    if (d.kind == Dependency::Kind::Process) {
      if (!dep_satisfied(d)) return "waiting for " + describe_dependency(d);
    } else if (for_start && (i >= u.dep_ok.size() || !u.dep_ok[i])) {
      return "waiting for " + describe_dependency(d);
    }
  }
  return {};
}

bool Supervisor::dependents_active(const Unit& u) const {
  auto it = dependents_.find(u.st.id);
  if (it == dependents_.end()) return false;
  for (const Unit* d : it->second) {
    if (!is_active(d->st.state)) continue;
    const ProcessConfig* cfg = d->running ? d->running.get() : effective(*d);
    if (!cfg) continue;
    for (const auto& dep : cfg->depends_on)
      if (dep.kind == Dependency::Kind::Process && dep.id == u.st.id &&
          needs_live_dependency(dep.condition))
        return true;
  }
  return false;
}

bool Supervisor::shutdown_complete() const {
  if (!shutting_down_) return false;
  for (const auto& [name, u] : units_)
    if (is_active(u->st.state)) return false;
  return true;
}

// ---------------------------------------------------------------- the loop

void Supervisor::start() {
  started_ = true;
  const LocalDateTime now = clock_.local();
  for (auto& [name, u] : units_) {
    // Where we are now is the baseline: a window that is already open does
    // not re-arm a one-shot that ran in it, and past cron ticks do not fire.
    note_window(*u);
    if (const ProcessConfig* eff = effective(*u); eff && eff->cron && !u->st.last_tick)
      u->st.last_tick = now;
    enqueue(*u);
  }
  drain();
}

// ---------------------------------------------------------------- time

void Supervisor::note_window(Unit& u) {
  const ProcessConfig* eff = effective(u);
  u.in_window = eff && (!eff->schedule || schedule_contains(*eff->schedule, clock_.local()));
}

void Supervisor::check_cron(Unit& u, const ProcessConfig& eff, const LocalDateTime& now) {
  if (!u.st.last_tick) u.st.last_tick = now;
  auto due = cron_next(*eff.cron, *u.st.last_tick);
  if (!due || *due > now) return;
  // Several ticks may be due at once (procmand was down, the clock jumped
  // forward): they make one run, not a burst.
  for (auto next = cron_next(*eff.cron, *due); next && *next <= now;
       next = cron_next(*eff.cron, *due))
    due = next;
  u.st.last_tick = *due;
  touch(u);
  if (is_active(u.st.state)) {
    ++u.st.ticks_skipped;
    u.st.status_text = fmt::format("cron tick at {} skipped: the previous run is still going",
                                   format_local_datetime(*due));
    announce(u, u.st.state, u.st.status_text);
    return;
  }
  u.tick_due = true;
  u.st.done = false;
  if (u.st.state == State::ExitedOk || u.st.state == State::Failed)
    set_state(u, State::Stopped, fmt::format("cron tick at {}", format_local_datetime(*due)));
}

void Supervisor::on_time_change() {
  const LocalDateTime now = clock_.local();
  std::vector<Unit*> all;
  for (auto& [name, u] : units_) all.push_back(u.get());
  for (Unit* u : all) {
    const ProcessConfig* eff = effective(*u);
    // A version whose apply-on has come takes over: the old one is stopped,
    // and confirmed gone, before the new one starts.
    if (eff && u->running && is_active(u->st.state) && u->st.state != State::Stopping &&
        eff->apply_on != u->running->apply_on) {
      begin_stop(*u, AfterStop::Restart,
                 eff->apply_on ? "the version applying from " +
                                     format_local_datetime(*eff->apply_on) + " takes over"
                               : "another version takes over");
    }
    const bool was_in = u->in_window;
    note_window(*u);
    // A one-shot runs at most once per window: a window that opens re-arms it.
    if (eff && eff->one_shot && !eff->cron && u->in_window && !was_in) {
      u->st.done = false;
      if (u->st.state == State::ExitedOk || u->st.state == State::Failed)
        set_state(*u, State::Stopped, "its schedule window opened");
    }
    if (eff && eff->cron) check_cron(*u, *eff, now);
    enqueue(*u);
  }
  drain();
}

void Supervisor::note_time_rules() {
  time_rules_ = false;
  for (const auto& [id, info] : ids_)
    for (const ProcessConfig* v : info.versions)
      if (v->apply_on || v->schedule || v->cron) time_rules_ = true;
}

std::optional<LocalDateTime> Supervisor::next_time_change() const {
  if (!time_rules_) return std::nullopt;
  const LocalDateTime now = clock_.local();
  std::optional<LocalDateTime> best;
  auto consider = [&](const std::optional<LocalDateTime>& t) {
    if (t && (!best || *t < *best)) best = t;
  };
  for (const auto& [id, info] : ids_)
    for (const ProcessConfig* v : info.versions)
      if (!v->fake && v->apply_on && *v->apply_on > now) consider(v->apply_on);
  for (const auto& [name, u] : units_) {
    const ProcessConfig* eff = effective(*u);
    if (!eff) continue;
    if (eff->schedule) consider(schedule_next_change(*eff->schedule, now));
    if (eff->cron)
      consider(cron_next(*eff->cron,
                         u->st.last_tick && *u->st.last_tick > now ? *u->st.last_tick : now));
  }
  return best;
}

void Supervisor::enqueue(Unit& u) {
  if (u.queued) return;
  u.queued = true;
  queue_.push_back(&u);
}

void Supervisor::enqueue_related(Unit& u) {
  if (auto it = dependents_.find(u.st.id); it != dependents_.end())
    for (Unit* d : it->second) enqueue(*d);
  // Its dependencies may be waiting for it to stop (reverse-order stop).
  if (u.running)
    for (const auto& dep : u.running->depends_on)
      if (const IdInfo* e = find_id(dep.id))
        for (Unit* t : e->instances) enqueue(*t);
}

void Supervisor::drain() {
  if (!started_ || draining_) return;
  draining_ = true;
  while (!queue_.empty()) {
    Unit* u = queue_.front();
    queue_.erase(queue_.begin());
    u->queued = false;
    reconcile(*u);
  }
  draining_ = false;
}

void Supervisor::reconcile(Unit& u) {
  const bool up = wants_up(u);
  switch (u.st.state) {
    case State::Invalid:
    case State::Stopped:
    case State::Pending: {
      if (!up) {
        stop_checks(u);
        if (u.st.state != State::Stopped) set_state(u, State::Stopped, "no longer wanted");
        if (u.st.removed) forget(u);
        return;
      }
      std::string unmet = unmet_dependency(u, true);
      if (unmet.empty()) {
        begin_start(u);
        return;
      }
      if (u.st.state != State::Pending || u.st.sub_state != unmet)
        set_state(u, State::Pending, unmet, unmet);
      if (u.timer_at[kProbeTimer] == kUnarmed) probe_dependencies(u);
      return;
    }
    case State::ExitedOk:
    case State::Failed:
      // Terminal until an admin start, reset-failed or a new activation.
      if (u.st.removed) forget(u);
      return;
    case State::Backoff:
    case State::StartLimitHit: {
      if (!up) {
        disarm(u, kStateTimer);
        u.wait_over = false;
        set_state(u, State::Stopped, "no longer wanted");
        if (u.st.removed) forget(u);
        return;
      }
      if (!u.wait_over) return;
      u.wait_over = false;
      u.from_backoff = u.st.state == State::Backoff;
      std::string unmet = unmet_dependency(u, true);
      if (unmet.empty()) {
        begin_start(u);
      } else {
        set_state(u, State::Pending, unmet, unmet);
        enqueue(u);  // the pending branch starts the probes
      }
      return;
    }
    case State::Before:
    case State::Starting:
    case State::Init:
    case State::Running: {
      if (!up) {
        // Reverse dependency order: dependents go first.
        if (dependents_active(u)) return;
        std::string why = shutting_down_                     ? "procmand is shutting down"
                          : u.st.removed                     ? std::string(removal_reason(u))
                          : u.st.admin == AdminGoal::Stopped ? "stop requested"
                                                             : inactive_reason(u);
        begin_stop(u, u.st.removed ? AfterStop::Remove : AfterStop::Stay, why);
        return;
      }
      std::string unmet = unmet_dependency(u);
      if (!unmet.empty()) {
        // jleahred/procman: dependents stop when a dependency leaves running.
        begin_stop(u, AfterStop::Reconcile, "dependency lost: " + unmet.substr(12));
      }
      return;
    }
    case State::Stopping:
      return;
  }
}

void Supervisor::set_state(Unit& u, State s, std::string reason, std::string sub) {
  const State from = u.st.state;
  u.st.state = s;
  count(from, -1);
  count(s, +1);
  u.st.sub_state = std::move(sub);
  u.st.status_text = reason;
  if (s == State::ExitedOk || s == State::Failed) u.tick_due = false;  // the tick's run is over
  touch(u);
  // A repeated backoff (a start that failed before leaving backoff) and the SIGKILL
  // escalation of a stop are news too, though the state name stays the same.
  if (from != s || s == State::Pending || s == State::Backoff || s == State::Stopping)
    announce(u, from, reason);
  enqueue_related(u);
}

void Supervisor::announce(Unit& u, State from, std::string_view reason) {
  if (u.st.pid > 0) u.st.last_pid = u.st.pid;
  fx_.transition(u.st, from, reason);
}

// ---------------------------------------------------------------- timers

void Supervisor::arm(Unit& u, TimerSlot slot, MonoTime at) {
  disarm(u, slot);
  u.timer_at[slot] = at;
  timers_.emplace(at, &u, slot);
}

void Supervisor::disarm(Unit& u, TimerSlot slot) {
  if (u.timer_at[slot] == kUnarmed) return;
  timers_.erase(std::make_tuple(u.timer_at[slot], &u, static_cast<int>(slot)));
  u.timer_at[slot] = kUnarmed;
}

std::optional<MonoTime> Supervisor::next_deadline() const {
  if (timers_.empty()) return std::nullopt;
  return std::get<0>(*timers_.begin());
}

void Supervisor::on_timer(std::size_t max_fired) {
  const MonoTime now = clock_.now();
  for (std::size_t fired = 0;
       fired < max_fired && !timers_.empty() && std::get<0>(*timers_.begin()) <= now; ++fired) {
    auto [at, u, slot] = *timers_.begin();
    timers_.erase(timers_.begin());
    u->timer_at[slot] = kUnarmed;
    fire(*u, static_cast<TimerSlot>(slot));
  }
  drain();
}

void Supervisor::fire(Unit& u, TimerSlot slot) {
  if (slot == kLivenessTimer) {
    if ((u.st.state == State::Running || u.st.state == State::Init) && !u.live_in_flight)
      start_check(u, CheckRole::Liveness);
    return;
  }
  if (slot == kReadinessTimer) {
    if (u.st.state == State::Init && u.st.sub_state == "readiness" && !u.ready_in_flight)
      start_check(u, CheckRole::Readiness);
    return;
  }
  if (slot == kProbeTimer) {
    if (u.st.state == State::Pending) probe_dependencies(u);
    return;
  }
  if (slot == kWatchdogTimer) {
    if (u.st.state != State::Running && u.st.state != State::Init) return;
    watchdog_expired(u, fmt::format("watchdog timeout: no WATCHDOG=1 within {}",
                                    format_duration(std::chrono::duration_cast<Duration>(
                                        std::chrono::microseconds(u.st.watchdog_usec)))));
    return;
  }
  if (slot == kDeadlineTimer) {
    if (!is_active(u.st.state) || u.st.state == State::Stopping) return;
    u.deadline_hit = true;
    u.pending_failure = fmt::format("deadline exceeded: still running after {}",
                                    format_duration(*u.running->deadline));
    begin_stop(u, AfterStop::AttemptFailed, u.pending_failure);
    return;
  }
  const ProcessConfig& cfg = *u.running;
  switch (u.st.state) {
    case State::Backoff:
    case State::StartLimitHit:
      // The wait is over: reconcile starts it if it is still wanted.
      u.wait_over = true;
      enqueue(u);
      break;
    case State::Before:
      fx_.cancel_hook(u.st, HookKind::Before);
      attempt_failed(u, fmt::format("before command timed out after {}",
                                    format_duration(cfg.before->timeout)));
      break;
    case State::Init:
      if (u.st.sub_state == "notify") {
        u.pending_failure =
            fmt::format("did not send READY=1 within {}", format_duration(cfg.start_timeout));
        begin_stop(u, AfterStop::AttemptFailed, u.pending_failure);
        break;
      }
      // begin_stop cancels the init command.
      u.pending_failure =
          fmt::format("init command timed out after {}", format_duration(cfg.init->timeout));
      begin_stop(u, AfterStop::AttemptFailed, u.pending_failure);
      break;
    case State::Starting:
      fx_.cancel_main_pid_watch(u.st);
      u.pending_failure =
          fmt::format("no pid reported within {}", format_duration(kPidWatchTimeout));
      begin_stop(u, AfterStop::AttemptFailed, u.pending_failure);
      break;
    case State::Stopping:
      if (u.st.sub_state == "stop-command") {
        fx_.cancel_hook(u.st, HookKind::Stop);
        send_stop_signal(u);
      } else if (!u.sent_kill) {
        u.sent_kill = true;
        fx_.signal(u.st, SIGKILL);
        set_state(
            u, State::Stopping,
            fmt::format("did not stop within {}, sent SIGKILL", format_duration(cfg.stop_timeout)),
            "sigkill");
        arm(u, kStateTimer, clock_.now() + cfg.stop_timeout);
      } else if (!fx_.group_alive(u.st) || main_gone(u)) {
        // SIGKILL cannot be ignored; what is left is unkillable (D state) or gone.
        finish_stop(u);
      } else {
        arm(u, kStateTimer, clock_.now() + cfg.stop_timeout);
      }
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- starting

void Supervisor::begin_start(Unit& u) {
  const ProcessConfig* eff = effective(u);
  if (!eff) return;
  const MonoTime now = clock_.now();
  const bool restarting = u.from_backoff;
  u.from_backoff = false;
  if (!u.limiter.allow(eff->start_limit, now)) {
    u.running = share(eff);
    if (auto at = u.limiter.retry_at(eff->start_limit)) arm(u, kStateTimer, *at);
    set_state(u, State::StartLimitHit,
              fmt::format("started {} times within {}; waiting before the next start",
                          eff->start_limit.burst, format_duration(eff->start_limit.interval)));
    return;
  }
  u.limiter.record(now);
  if (restarting) ++u.st.restarts;
  u.running = share(eff);
  u.st.apply_on = eff->apply_on;
  u.st.one_shot = eff->one_shot;
  u.st.restart_pending = false;
  u.st.adopted = false;
  u.st.last_exit.reset();
  u.pending_exit.reset();
  u.pending_failure.clear();
  set_main_gone(u, false);
  u.sent_kill = false;
  u.notify_ready = false;
  u.watchdog_hit = false;
  u.st.notify_status.clear();
  u.st.watchdog_usec =
      eff->watchdog ? std::chrono::duration_cast<std::chrono::microseconds>(*eff->watchdog).count()
                    : 0;
  u.started_at = now;
  u.running_since = MonoTime{};
  stop_checks(u);
  u.live_failures = 0;
  u.ready_successes = 0;
  u.ready_passed = false;
  u.st.health.clear();
  u.st.health_detail.clear();
  std::fill(u.dep_ok.begin(), u.dep_ok.end(), 0);
  u.probing_since = MonoTime{};
  u.st.start_usec = to_usec(clock_.wall());
  if (eff->before) {
    set_state(u, State::Before, "running the before command");
    std::string error;
    if (!fx_.run_hook(u.st, HookKind::Before, *eff->before, *eff, &error)) {
      attempt_failed(u, "before command: " + error);
      return;
    }
    arm(u, kStateTimer, now + eff->before->timeout);
    return;
  }
  spawn_main(u);
}

void Supervisor::spawn_main(Unit& u) {
  const ProcessConfig& cfg = *u.running;
  SpawnOutcome out = fx_.spawn(u.st, cfg);
  if (!out.ok) {
    attempt_failed(u, out.error);
    return;
  }
  const bool indirect = cfg.command && (cfg.command->type == CommandType::PidFile ||
                                        cfg.command->type == CommandType::PodmanCid);
  u.st.pgid = out.pgid;
  if (indirect) {
    u.wrapper_pid = out.pid;
    by_pid_[out.pid] = &u;
    u.st.pid = -1;
    set_state(u, State::Starting,
              fmt::format("started launcher pid {}, waiting for the process pid", out.pid),
              cfg.command->type == CommandType::PidFile ? "pid-file" : "podman-cid");
    fx_.watch_main_pid(u.st, cfg);
    arm(u, kStateTimer, clock_.now() + kPidWatchTimeout);
    return;
  }
  u.st.pid = out.pid;
  u.st.pid_start_time = out.start_time;
  by_pid_[out.pid] = &u;
  main_known(u);
}

void Supervisor::main_known(Unit& u) {
  const ProcessConfig& cfg = *u.running;
  disarm(u, kStateTimer);
  // The maximum run time counts from the start, hooks included.
  if (cfg.deadline) arm(u, kDeadlineTimer, u.started_at + *cfg.deadline);
  // A slow starter is never judged before its initial delay.
  if (cfg.health_check) arm(u, kLivenessTimer, u.started_at + cfg.health_check->initial_delay);
  if (cfg.init) {
    set_state(u, State::Init, fmt::format("pid {} started, running the init command", u.st.pid));
    std::string error;
    if (!fx_.run_hook(u.st, HookKind::Init, *cfg.init, cfg, &error)) {
      u.pending_failure = "init command: " + error;
      begin_stop(u, AfterStop::AttemptFailed, u.pending_failure);
      return;
    }
    arm(u, kStateTimer, clock_.now() + cfg.init->timeout);
    return;
  }
  became_ready(u, fmt::format("pid {} started", u.st.pid));
}

void Supervisor::became_ready(Unit& u, std::string reason) {
  const ProcessConfig& cfg = *u.running;
  if (cfg.ready == ReadyMode::Notify && !u.notify_ready) {
    // Not running (and dependents keep waiting) until it says READY=1.
    set_state(u, State::Init, reason + ", waiting for READY=1", "notify");
    arm(u, kStateTimer, clock_.now() + cfg.start_timeout);
    return;
  }
  if (cfg.readiness_check && !u.ready_passed) {
    // Not running (and dependents keep waiting) until the readiness check passes.
    set_state(u, State::Init, reason + ", waiting for the readiness check", "readiness");
    const MonoTime first = u.started_at + cfg.readiness_check->initial_delay;
    arm(u, kReadinessTimer, std::max(first, clock_.now()));
    return;
  }
  u.running_since = clock_.now();
  if (u.st.watchdog_usec > 0)
    arm(u, kWatchdogTimer, clock_.now() + std::chrono::microseconds(u.st.watchdog_usec));
  set_state(u, State::Running, std::move(reason));
}

void Supervisor::start_check(Unit& u, CheckRole role, std::size_t dep_index) {
  const ProcessConfig& cfg = u.running ? *u.running : *effective(u);
  CheckRequest req{role, dep_index, u.check_token};
  const HealthCheck* check = nullptr;
  const Dependency* dep = nullptr;
  switch (role) {
    case CheckRole::Liveness:
      check = &*cfg.health_check;
      u.live_in_flight = true;
      break;
    case CheckRole::Readiness:
      check = &*cfg.readiness_check;
      u.ready_in_flight = true;
      break;
    case CheckRole::Dependency:
      dep = &cfg.depends_on[dep_index];
      u.dep_in_flight[dep_index] = 1;
      break;
  }
  fx_.run_check(u.st, req, check, dep, cfg);
}

void Supervisor::probe_dependencies(Unit& u) {
  const ProcessConfig* eff = effective(u);
  if (!eff) return;
  const auto& deps = eff->depends_on;
  u.dep_ok.resize(deps.size(), 0);
  u.dep_in_flight.resize(deps.size(), 0);
  const MonoTime now = clock_.now();
  if (u.probing_since == MonoTime{}) {
    // A new wait: probe what applies now, and time it from now.
    u.probing_since = now;
    u.running = share(eff);
  }
  std::optional<Duration> next;
  for (std::size_t i = 0; i < deps.size(); ++i) {
    if (deps[i].kind == Dependency::Kind::Process || u.dep_ok[i]) continue;
    if (!u.dep_in_flight[i]) start_check(u, CheckRole::Dependency, i);
    if (!next || deps[i].poll_interval < *next) next = deps[i].poll_interval;
  }
  if (next) arm(u, kProbeTimer, now + *next);
}

void Supervisor::stop_checks(Unit& u) {
  ++u.check_token;  // whatever is in flight answers too late
  disarm(u, kLivenessTimer);
  disarm(u, kReadinessTimer);
  disarm(u, kProbeTimer);
  const bool any =
      u.live_in_flight || u.ready_in_flight ||
      std::any_of(u.dep_in_flight.begin(), u.dep_in_flight.end(), [](char c) { return c; });
  u.live_in_flight = u.ready_in_flight = false;
  std::fill(u.dep_in_flight.begin(), u.dep_in_flight.end(), 0);
  if (any) fx_.cancel_checks(u.st);
}

void Supervisor::on_check_done(const std::string& name, const CheckRequest& req, bool ok,
                               const std::string& detail) {
  Unit* u = find_unit(name);
  if (!u || req.token != u->check_token || !u->running) return;
  const ProcessConfig& cfg = *u->running;
  const MonoTime now = clock_.now();
  switch (req.role) {
    case CheckRole::Liveness: {
      u->live_in_flight = false;
      if ((u->st.state != State::Running && u->st.state != State::Init) || !cfg.health_check) break;
      const HealthCheck& hc = *cfg.health_check;
      u->st.health_detail = detail;
      touch(*u);
      if (ok) {
        u->live_failures = 0;
        u->st.health = "healthy";
      } else if (++u->live_failures >= hc.failure_threshold) {
        u->st.health = "unhealthy";
        // Stopped, and its whole group confirmed gone, before the policy restarts it.
        u->pending_failure =
            fmt::format("health check failed {} times in a row: {}", u->live_failures, detail);
        begin_stop(*u, AfterStop::AttemptFailed, u->pending_failure);
        break;
      }
      arm(*u, kLivenessTimer, now + hc.period);
      break;
    }
    case CheckRole::Readiness: {
      u->ready_in_flight = false;
      if (u->st.state != State::Init || u->st.sub_state != "readiness" || !cfg.readiness_check)
        break;
      const HealthCheck& rc = *cfg.readiness_check;
      if (ok && ++u->ready_successes >= rc.success_threshold) {
        u->ready_passed = true;
        became_ready(*u, "readiness check passed: " + detail);
        break;
      }
      if (!ok) {
        u->ready_successes = 0;
        u->st.status_text = "not ready yet: " + detail;
        touch(*u);
      }
      arm(*u, kReadinessTimer, now + rc.period);
      break;
    }
    case CheckRole::Dependency: {
      if (req.dep_index >= u->dep_in_flight.size()) break;
      u->dep_in_flight[req.dep_index] = 0;
      if (u->st.state != State::Pending || req.dep_index >= cfg.depends_on.size()) break;
      const Dependency& d = cfg.depends_on[req.dep_index];
      if (ok) {
        u->dep_ok[req.dep_index] = 1;
        enqueue(*u);
        break;
      }
      const bool timed_out = d.timeout.count() > 0 && now - u->probing_since >= d.timeout;
      if (!d.retry || timed_out) {
        stop_checks(*u);
        u->st.failure_reason =
            !d.retry ? fmt::format("dependency check failed (retry = false): {}: {}",
                                   describe_dependency(d), detail)
                     : fmt::format("dependency timed out after {}: {}: {}",
                                   format_duration(d.timeout), describe_dependency(d), detail);
        u->st.result = "dependency";
        set_state(*u, State::Failed, u->st.failure_reason);
      }
      break;
    }
  }
  drain();
}

void Supervisor::on_main_pid(const std::string& name, int pid, int pgid, uint64_t start_time) {
  Unit* u = find_unit(name);
  if (!u || u->st.state != State::Starting) return;
  u->st.pid = pid;
  u->st.pgid = pgid;
  u->st.pid_start_time = start_time;
  by_pid_[pid] = u;
  main_known(*u);
  drain();
}

void Supervisor::on_main_pid_failed(const std::string& name, const std::string& reason) {
  Unit* u = find_unit(name);
  if (!u || u->st.state != State::Starting) return;
  disarm(*u, kStateTimer);
  u->pending_failure = reason;
  begin_stop(*u, AfterStop::AttemptFailed, reason);
  drain();
}

void Supervisor::on_hook_done(const std::string& name, HookKind kind, const HookResult& r) {
  Unit* u = find_unit(name);
  if (!u) return;
  const std::string what = r.error.empty() ? describe_exit(r.exit) : r.error;
  switch (kind) {
    case HookKind::Before:
      if (u->st.state != State::Before) break;
      disarm(*u, kStateTimer);
      if (r.ok)
        spawn_main(*u);
      else
        attempt_failed(*u, "before command " + what);
      break;
    case HookKind::Init:
      if (u->st.state != State::Init) break;
      disarm(*u, kStateTimer);
      if (r.ok) {
        became_ready(*u, "init command succeeded");
      } else {
        u->pending_failure = "init command " + what;
        begin_stop(*u, AfterStop::AttemptFailed, u->pending_failure);
      }
      break;
    case HookKind::Stop:
      if (u->st.state != State::Stopping || u->st.sub_state != "stop-command") break;
      disarm(*u, kStateTimer);
      if (main_gone(*u) && !fx_.group_alive(u->st))
        finish_stop(*u);
      else
        send_stop_signal(*u);
      break;
  }
  drain();
}

// ---------------------------------------------------------------- stopping

void Supervisor::begin_stop(Unit& u, AfterStop then, std::string reason) {
  stop_checks(u);
  const State s = u.st.state;
  if (s == State::Stopping) {
    // A later, stronger reason wins (removal and shutdown beat a restart).
    if (then == AfterStop::Remove || then == AfterStop::Stay) u.after_stop = then;
    return;
  }
  u.after_stop = then;
  disarm(u, kStateTimer);
  switch (s) {
    case State::Before:
      fx_.cancel_hook(u.st, HookKind::Before);
      finish_stop(u);
      return;
    case State::Init:
      fx_.cancel_hook(u.st, HookKind::Init);
      break;
    case State::Starting:
      fx_.cancel_main_pid_watch(u.st);
      break;
    case State::Running:
      break;
    default:
      finish_stop(u);
      return;
  }
  const ProcessConfig& cfg = *u.running;
  u.sent_kill = false;
  if (u.st.pid <= 0 && u.wrapper_pid <= 0 && !fx_.group_alive(u.st)) {
    // Nothing of it is left (a launcher that already exited): nothing to signal.
    finish_stop(u);
    return;
  }
  if (cfg.stop && !main_gone(u) && !u.watchdog_hit) {
    set_state(u, State::Stopping, reason.empty() ? "running the stop command" : reason,
              "stop-command");
    std::string error;
    if (fx_.run_hook(u.st, HookKind::Stop, *cfg.stop, cfg, &error)) {
      arm(u, kStateTimer, clock_.now() + cfg.stop->timeout);
      return;
    }
  }
  set_state(u, State::Stopping, reason, "");
  send_stop_signal(u);
}

void Supervisor::send_stop_signal(Unit& u) {
  const ProcessConfig& cfg = *u.running;
  // A hung process gets SIGABRT (systemd's WatchdogSignal): it dumps core where
  // core dumps are enabled, which is what one wants to debug a hang.
  const int sig = u.watchdog_hit ? SIGABRT : cfg.stop_signal;
  fx_.signal(u.st, sig);
  u.st.sub_state = "signal";
  u.st.status_text = fmt::format("{}sent {}, waiting up to {}",
                                 u.watchdog_hit ? u.pending_failure.get() + "; " : "",
                                 signal_name(sig), format_duration(cfg.stop_timeout));
  touch(u);
  arm(u, kStateTimer, clock_.now() + cfg.stop_timeout);
}

void Supervisor::finish_stop(Unit& u) {
  stop_checks(u);
  disarm(u, kStateTimer);
  disarm(u, kDeadlineTimer);
  disarm(u, kWatchdogTimer);
  if (u.st.pid > 0) by_pid_.erase(u.st.pid);
  if (u.wrapper_pid > 0) by_pid_.erase(u.wrapper_pid);
  const bool had_process = u.st.pid > 0 || u.wrapper_pid > 0;
  u.st.pid = -1;
  u.wrapper_pid = -1;
  set_main_gone(u, false);
  if (had_process) fx_.released(u.st);
  const AfterStop then = u.after_stop;
  u.after_stop = AfterStop::Stay;
  switch (then) {
    case AfterStop::Stay:
      set_state(u, State::Stopped, u.st.last_exit ? describe_exit(*u.st.last_exit) : "stopped");
      break;
    case AfterStop::Restart:
      set_state(u, State::Stopped, "stopped for restart");
      begin_start(u);
      break;
    case AfterStop::Reconcile:
      set_state(u, State::Stopped, u.st.last_exit ? describe_exit(*u.st.last_exit) : "stopped");
      break;
    case AfterStop::ExitPolicy:
      apply_exit_policy(u);
      break;
    case AfterStop::AttemptFailed:
      attempt_failed(u, u.pending_failure.empty() ? "start failed" : u.pending_failure);
      break;
    case AfterStop::Remove:
      set_state(u, State::Stopped, std::string(removal_reason(u)));
      forget(u);
      return;
  }
  enqueue(u);
}

// ---------------------------------------------------------------- exits

bool Supervisor::on_exit(int pid, const ExitInfo& exit) {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) {
    on_group_change();
    return false;
  }
  Unit& u = *it->second;
  if (pid == u.wrapper_pid && pid != u.st.pid) {
    // The launcher of a pid-file / podman-cid command. Success means "wait
    // for the pid"; failure before a pid was known fails the attempt.
    by_pid_.erase(pid);
    u.wrapper_pid = -1;
    if (u.st.state == State::Stopping && u.st.pid <= 0) {
      // Stopped before the real pid was known: the launcher was all there was.
      set_main_gone(u, true);
      if (u.st.sub_state != "stop-command" && !fx_.group_alive(u.st)) finish_stop(u);
    } else if (u.st.state == State::Starting && !exit_is_success(*u.running, exit) &&
               u.running->command->type == CommandType::PidFile) {
      fx_.cancel_main_pid_watch(u.st);
      disarm(u, kStateTimer);
      u.pending_failure = "launcher " + describe_exit(exit) + " before writing the pid file";
      begin_stop(u, AfterStop::AttemptFailed, u.pending_failure);
    }
    drain();
    return true;
  }
  main_exited(u, exit);
  on_group_change();
  drain();
  return true;
}

void Supervisor::record_exit(Unit& u, const ExitInfo& exit) {
  u.st.last_exit = exit;
  u.st.result = !exit.known ? "unknown" : exit.signaled ? "signal" : "exit-code";
  if (u.running && exit_is_success(*u.running, exit)) u.st.result = "success";
  u.st.exit_usec = to_usec(clock_.wall());
  u.st.run_usec =
      std::chrono::duration_cast<std::chrono::microseconds>(clock_.now() - u.started_at).count();
  touch(u);
}

void Supervisor::main_exited(Unit& u, const ExitInfo& exit) {
  by_pid_.erase(u.st.pid);
  record_exit(u, exit);
  if (u.st.state == State::Stopping) {
    set_main_gone(u, true);
    if (u.st.sub_state == "stop-command") return;  // the stop command's end decides
    if (!fx_.group_alive(u.st)) finish_stop(u);
    return;
  }
  // It ended on its own. Whatever it left in its group goes too before any
  // restart, so a new start never overlaps the old one.
  disarm(u, kStateTimer);
  disarm(u, kDeadlineTimer);
  disarm(u, kWatchdogTimer);
  stop_checks(u);
  if (u.st.state == State::Init) fx_.cancel_hook(u.st, HookKind::Init);
  if (u.st.state == State::Starting) fx_.cancel_main_pid_watch(u.st);
  u.pending_exit = exit;
  if (u.st.pgid > 0 && fx_.group_alive(u.st)) {
    set_main_gone(u, true);
    u.after_stop = AfterStop::ExitPolicy;
    set_state(u, State::Stopping, describe_exit(exit) + "; stopping the rest of its process group");
    send_stop_signal(u);
    return;
  }
  if (u.wrapper_pid > 0) by_pid_.erase(u.wrapper_pid);
  u.wrapper_pid = -1;
  fx_.released(u.st);
  u.st.pid = -1;
  apply_exit_policy(u);
}

void Supervisor::apply_exit_policy(Unit& u) {
  const ExitInfo exit = u.pending_exit.value_or(ExitInfo{.known = false});
  u.pending_exit.reset();
  const ProcessConfig& cfg = *u.running;
  const bool success = exit_is_success(cfg, exit);
  std::string what = describe_exit(exit);
  // An on-demand process that ends cleanly (idle exit) waits for the next connection.
  if (success && cfg.start_on_demand && !cfg.one_shot) {
    u.activated = false;
    u.st.consecutive_failures = 0;
    u.st.failure_reason.clear();
    set_state(u, State::Stopped, what + "; waiting for a connection on its sockets");
    return;
  }
  if (success && cfg.one_shot) {
    u.st.done = true;
    if (u.st.admin == AdminGoal::Started) u.st.admin = AdminGoal::Auto;
    u.st.consecutive_failures = 0;
    u.st.failure_reason.clear();
    set_state(u, State::ExitedOk, what);
    return;
  }
  if (!success) u.st.failure_reason = what;
  if (should_restart(cfg, success) && wants_up(u)) {
    schedule_restart(u, what);
    return;
  }
  if (success) {
    u.st.consecutive_failures = 0;
    set_state(u, State::ExitedOk, what);
  } else {
    set_state(u, State::Failed, what);
  }
}

void Supervisor::attempt_failed(Unit& u, std::string reason) {
  u.st.failure_reason = reason;
  u.st.result = u.deadline_hit ? "deadline" : u.watchdog_hit ? "watchdog" : "start-failed";
  u.deadline_hit = false;
  u.watchdog_hit = false;
  if (u.st.pid > 0) by_pid_.erase(u.st.pid);
  u.st.pid = -1;
  const ProcessConfig& cfg = *u.running;
  if (should_restart(cfg, false) && wants_up(u)) {
    schedule_restart(u, reason);
    return;
  }
  set_state(u, State::Failed, reason);
}

void Supervisor::schedule_restart(Unit& u, std::string reason) {
  const ProcessConfig& cfg = *u.running;
  const MonoTime now = clock_.now();
  // A run that stayed up for reset-after was healthy: start the backoff over.
  if (u.running_since != MonoTime{} && now - u.running_since >= cfg.restart_delay.reset_after)
    u.st.consecutive_failures = 0;
  u.running_since = MonoTime{};
  const Duration delay = backoff_delay(cfg.restart_delay, u.st.consecutive_failures);
  ++u.st.consecutive_failures;
  arm(u, kStateTimer, now + delay);
  set_state(u, State::Backoff, fmt::format("{}; restarting in {}", reason, format_duration(delay)));
}

void Supervisor::on_notify(const std::string& name, const NotifyEvent& ev) {
  Unit* u = find_unit(name);
  if (!u || !u->running || !is_active(u->st.state)) return;
  const MonoTime now = clock_.now();
  bool details = false;
  if (ev.status && *ev.status != u->st.notify_status) {
    u->st.notify_status = *ev.status;
    details = true;
  }
  if (ev.main_pid && ev.main_pid->first > 0 && ev.main_pid->first != u->st.pid) {
    // MAINPID=: supervision follows the process it names (a daemon that forked
    // its real server off). The old main pid's exit means nothing from now on.
    if (u->st.pid > 0) by_pid_.erase(u->st.pid);
    u->st.pid = ev.main_pid->first;
    u->st.pid_start_time = ev.main_pid->second;
    by_pid_[u->st.pid] = u;
    details = true;
  }
  if (ev.watchdog_usec) {
    u->st.watchdog_usec = static_cast<int64_t>(*ev.watchdog_usec);
    if (u->st.watchdog_usec > 0 && u->st.state == State::Running)
      arm(*u, kWatchdogTimer, now + std::chrono::microseconds(u->st.watchdog_usec));
    else
      disarm(*u, kWatchdogTimer);
    details = true;
  }
  if (ev.watchdog_ping && u->st.watchdog_usec > 0 && u->st.state == State::Running)
    arm(*u, kWatchdogTimer, now + std::chrono::microseconds(u->st.watchdog_usec));
  if (ev.extend_timeout_usec && u->timer_at[kStateTimer] != kUnarmed &&
      ((u->st.state == State::Init && u->st.sub_state == "notify") ||
       u->st.state == State::Stopping)) {
    const MonoTime at = now + std::chrono::microseconds(*ev.extend_timeout_usec);
    if (at > u->timer_at[kStateTimer]) arm(*u, kStateTimer, at);
  }
  if (ev.stopping && u->st.state == State::Running && u->st.sub_state != "stopping") {
    // It is going away on its own: say so, keep supervising (its exit is an exit).
    u->st.sub_state = "stopping";
    details = true;
  }
  if (ev.ready && !u->notify_ready) {
    u->notify_ready = true;
    if (u->st.state == State::Init && u->st.sub_state == "notify") {
      disarm(*u, kStateTimer);
      became_ready(*u, "sent READY=1");
      details = false;  // the transition reports it
    }
  }
  if (ev.watchdog_trigger && (u->st.state == State::Running || u->st.state == State::Init)) {
    watchdog_expired(*u, "watchdog triggered by the process (WATCHDOG=trigger)");
    details = false;
  }
  if (details) {
    touch(*u);
    fx_.details_changed(u->st);
  }
  drain();
}

std::string Supervisor::activate(std::string_view name) {
  Unit* u = find_unit(name);
  if (!u) return fmt::format("no process named '{}'", name);
  const ProcessConfig* eff = effective(*u);
  if (!eff || !eff->start_on_demand) return fmt::format("'{}' does not start on demand", name);
  if (!u->activated) {
    u->activated = true;
    enqueue(*u);
  }
  drain();
  return {};
}

void Supervisor::watchdog_expired(Unit& u, std::string reason) {
  disarm(u, kWatchdogTimer);
  u.watchdog_hit = true;
  u.pending_failure = std::move(reason);
  begin_stop(u, AfterStop::AttemptFailed, u.pending_failure);
}

void Supervisor::on_group_change() {
  if (count_in(State::Stopping) == 0) {  // the common case: a process died, none is stopping
    drain();
    return;
  }
  std::vector<Unit*> ready;
  for (Unit* u : main_gone_)
    if (u->st.state == State::Stopping && u->st.sub_state != "stop-command" &&
        !fx_.group_alive(u->st))
      ready.push_back(u);
  // In name order, as the units are kept: what they announce comes out the same every time.
  std::sort(ready.begin(), ready.end(),
            [](const Unit* a, const Unit* b) { return a->st.name < b->st.name; });
  for (Unit* u : ready) finish_stop(*u);
  drain();
}

// ---------------------------------------------------------------- admin

std::string Supervisor::resolve_units(std::string_view name, std::vector<Unit*>& out) const {
  out.clear();
  for (const auto& n : resolve(name)) out.push_back(find_unit(n));
  if (!out.empty()) return {};
  // Ids first: "wroker" should suggest "worker", not "worker@0".
  std::vector<std::string> candidates;
  for (const auto& [id, info] : ids_)
    if (!info.instances.empty()) candidates.push_back(id);
  for (const auto& [n, u] : units_)
    if (n != u->st.id) candidates.push_back(n);
  std::string msg = fmt::format("no process named '{}'", name);
  if (auto m = closest_match(name, candidates)) msg += fmt::format(" (did you mean '{}'?)", *m);
  return msg;
}

std::string Supervisor::start(std::string_view name) {
  std::vector<Unit*> units;
  if (std::string err = resolve_units(name, units); !err.empty()) return err;
  for (const Unit* u : units)
    if (!effective(*u))
      return fmt::format("'{}' has no version that applies now (fake, or apply-on in the future)",
                         u->st.name);
  if (shutting_down_) return "procmand is shutting down";
  for (Unit* u : units) {
    u->st.admin = AdminGoal::Started;
    u->st.done = false;
    const State s = u->st.state;
    if (s == State::Failed || s == State::ExitedOk || s == State::StartLimitHit ||
        s == State::Backoff) {
      disarm(*u, kStateTimer);
      if (s == State::StartLimitHit) u->limiter.reset();
      set_state(*u, State::Stopped, "start requested");
    }
    enqueue(*u);
  }
  drain();
  return {};
}

std::string Supervisor::stop(std::string_view name) {
  std::vector<Unit*> units;
  if (std::string err = resolve_units(name, units); !err.empty()) return err;
  for (Unit* u : units) {
    u->st.admin = AdminGoal::Stopped;
    touch(*u);
    enqueue(*u);
    // Its dependents lose their dependency and stop first (reverse order).
    enqueue_related(*u);
  }
  drain();
  return {};
}

std::string Supervisor::restart(std::string_view name) {
  std::vector<Unit*> units;
  if (std::string err = resolve_units(name, units); !err.empty()) return err;
  for (const Unit* u : units)
    if (!effective(*u))
      return fmt::format("'{}' has no version that applies now (fake, or apply-on in the future)",
                         u->st.name);
  if (shutting_down_) return "procmand is shutting down";
  for (Unit* u : units) {
    u->st.admin = AdminGoal::Started;
    u->st.done = false;
    const State s = u->st.state;
    if (is_active(s) && s != State::Stopping) {
      begin_stop(*u, AfterStop::Restart, "restart requested");
    } else if (s == State::Stopping) {
      u->after_stop = AfterStop::Restart;
    } else {
      disarm(*u, kStateTimer);
      if (s == State::StartLimitHit) u->limiter.reset();
      if (s != State::Stopped) set_state(*u, State::Stopped, "restart requested");
      enqueue(*u);
    }
  }
  drain();
  return {};
}

std::string Supervisor::reset_failed(std::string_view name) {
  std::vector<Unit*> units;
  if (std::string err = resolve_units(name, units); !err.empty()) return err;
  for (Unit* u : units) {
    u->st.consecutive_failures = 0;
    u->st.failure_reason.clear();
    u->limiter.reset();
    if (u->st.state == State::Failed || u->st.state == State::StartLimitHit) {
      disarm(*u, kStateTimer);
      set_state(*u, State::Stopped, "failure state reset");
    }
    touch(*u);
    enqueue(*u);
  }
  drain();
  return {};
}

bool Supervisor::has_process(const Unit& u, KillWhom whom) const {
  const State s = u.st.state;
  // Before: only the before command runs, and the pgid is the previous run's.
  if (!is_active(s) || s == State::Before) return false;
  if (whom == KillWhom::Main) return u.st.pid > 0 && by_pid_.count(u.st.pid) > 0;
  return u.st.pid > 0 || u.wrapper_pid > 0 || fx_.group_alive(u.st);
}

std::string Supervisor::kill(std::string_view name, KillWhom whom, int sig) {
  std::vector<Unit*> units;
  if (std::string err = resolve_units(name, units); !err.empty()) return err;
  std::vector<Unit*> targets;
  for (Unit* u : units)
    if (has_process(*u, whom)) targets.push_back(u);
  if (targets.empty()) return fmt::format("'{}' has no running process", name);
  for (Unit* u : targets) {
    if (whom == KillWhom::Main)
      fx_.signal_main(u->st, sig);
    else
      fx_.signal(u->st, sig);
  }
  return {};
}

// ---------------------------------------------------------------- transients

std::string_view Supervisor::removal_reason(const Unit& u) const {
  return u.st.transient ? "removed" : "removed from the config";
}

/// The dependency path from `from` to `to` through Process dependencies ("a -> b -> c"), or
/// "" when `to` cannot be reached.
std::string Supervisor::dependency_cycle(const std::string& from, const std::string& to) const {
  std::vector<std::string> path;
  std::set<std::string> seen;
  std::function<bool(const std::string&)> visit = [&](const std::string& id) {
    path.push_back(id);
    if (id == to) return true;
    if (seen.insert(id).second)
      if (const IdInfo* e = find_id(id))
        for (const ProcessConfig* v : e->versions)
          for (const auto& d : v->depends_on)
            if (d.kind == Dependency::Kind::Process && visit(d.id)) return true;
    path.pop_back();
    return false;
  };
  if (!visit(from)) return {};
  std::string out;
  for (const auto& id : path) out += (out.empty() ? "" : " -> ") + id;
  return out;
}

std::string Supervisor::check_transient(const ProcessConfig& cfg) const {
  if (std::string why = process_name_problem(cfg.id); !why.empty())
    return fmt::format("name '{}' is invalid: {}", cfg.id, why);
  if (find_unit(cfg.id) || find_id(cfg.id))
    return fmt::format("a process named '{}' already exists", cfg.id);
  if (!cfg.command) return fmt::format("'{}' has no command", cfg.id);
  std::vector<std::string> ids;
  for (const auto& [id, info] : ids_)
    if (!info.versions.empty()) ids.push_back(id);
  for (const auto& d : cfg.depends_on) {
    if (d.kind != Dependency::Kind::Process) continue;
    if (d.id == cfg.id) return fmt::format("'{}' cannot depend on itself", cfg.id);
    if (!has_versions(d.id)) {
      std::string msg = fmt::format("depends-on names an unknown process '{}'", d.id);
      if (auto m = closest_match(d.id, ids)) msg += fmt::format(" (did you mean '{}'?)", *m);
      return msg;
    }
    // Possible only through a transient that depends on a removed one of this name.
    if (std::string cycle = dependency_cycle(d.id, cfg.id); !cycle.empty())
      return fmt::format("depending on '{}' would make a cycle: {} -> {}", d.id, cfg.id, cycle);
  }
  return {};
}

std::string Supervisor::add_transient(ProcessConfig cfg) {
  cfg.transient = true;
  cfg.instances = 1;
  if (shutting_down_) return "procmand is shutting down";
  if (std::string err = check_transient(cfg); !err.empty()) return err;
  const std::string id = cfg.id;
  auto owned = std::make_shared<const ProcessConfig>(std::move(cfg));
  ids_[id].versions = {owned.get()};
  note_time_rules();
  transients_.emplace(id, std::move(owned));
  Unit& u = create_unit(id, 0, 1);
  rebuild_graph();
  refresh_flags(u);
  if (started_) note_window(u);
  fx_.unit_added(u.st);
  touch_all();
  enqueue(u);
  drain();
  return {};
}

std::string Supervisor::remove(std::string_view name) {
  std::vector<Unit*> units;
  if (std::string err = resolve_units(name, units); !err.empty()) return err;
  Unit& u = *units.front();
  if (!u.st.transient)
    return fmt::format("'{}' comes from the config file; remove it there and reload", name);
  if (u.st.removed) return {};
  // The definition goes now; the unit stays until its process group is gone.
  transients_.erase(u.st.id);
  if (auto it = ids_.find(u.st.id); it != ids_.end()) it->second.versions.clear();
  u.st.removed = true;
  rebuild_graph();
  touch_all();
  enqueue(u);
  enqueue_related(u);  // dependents stop first
  drain();
  return {};
}

std::vector<std::string> Supervisor::transient_ids() const {
  std::vector<std::string> out;
  for (const auto& [id, p] : transients_) out.push_back(id);
  return out;
}

const ProcessConfig* Supervisor::transient_config(std::string_view id) const {
  auto it = transients_.find(id);
  return it == transients_.end() ? nullptr : it->second.get();
}

void Supervisor::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  for (auto& [name, u] : units_) enqueue(*u);
  drain();
}

}  // namespace procman::core
