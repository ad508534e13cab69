// The supervisor's logic: one Unit per (process id, instance), driven through
// the states of state.h by events (exits, hook results, timers, admin
// requests, reloads). Pure: everything it needs from the world goes through
// Effects and Clock, so tests run it without forking.
//
// The loop, narrated: every event updates the unit it concerns and queues it
// (and the units related to it by dependencies) for reconcile(). reconcile()
// compares what a unit wants (wants_up: config active, admin goal, shutdown)
// and whether its dependencies are met with its state, and starts or stops it.
// Timers are deadlines the daemon arms one sd-event timer for (next_deadline).
//
// Transient processes (add_transient) are units like the others whose single
// version lives here instead of in the Config; reloads keep them and remove()
// stops and forgets them.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/box.h"
#include "core/config.h"
#include "core/names.h"
#include "core/restart_policy.h"
#include "core/small_vec.h"
#include "core/sparse.h"
#include "core/state.h"

namespace procman::core {

using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime now() const = 0;         ///< CLOCK_MONOTONIC
  virtual WallTime wall() const = 0;        ///< CLOCK_REALTIME
  virtual LocalDateTime local() const = 0;  ///< wall() in local time (TZ)
};

enum class HookKind { Before, Init, Stop };
std::string_view hook_name(HookKind k);

struct HookResult {
  bool ok = false;
  ExitInfo exit;
  std::string error;  ///< set when the hook could not be spawned
};

struct SpawnOutcome {
  bool ok = false;
  int pid = -1;
  int pgid = -1;
  uint64_t start_time = 0;  ///< /proc start time, part of the identity used for re-adoption
  std::string error;        ///< precise reason when !ok ("exec \"x\": No such file or directory")
};

/// Which periodic check an attempt belongs to.
enum class CheckRole { Liveness, Readiness, Dependency };
std::string_view check_role_name(CheckRole r);

/// One attempt of a check. `token` tells a late answer from a current one:
/// results whose token is no longer current are ignored.
struct CheckRequest {
  CheckRole role = CheckRole::Liveness;
  std::size_t dep_index = 0;  ///< Dependency: index in depends-on
  uint64_t token = 0;
};

/// What the admin asked for, on top of the config.
enum class AdminGoal { Auto, Started, Stopped };
std::string_view admin_goal_name(AdminGoal g);

/// Why a unit is stopping, and what follows once its process group is gone.
enum class AfterStop {
  Stay,           ///< -> stopped
  Restart,        ///< -> start again (admin restart, apply-on change)
  Reconcile,      ///< -> pending/stopped as reconcile decides (dependency left)
  ExitPolicy,     ///< main exited on its own; remnants were killed; now apply the restart policy
  AttemptFailed,  ///< init failed or start timed out: count as a failed attempt
  Remove,         ///< removed from the config: forget the unit
};

/// A read-only view of a unit for status displays, D-Bus and persistence.
/// One is kept per managed process, so the fields are grouped by size, and what most
/// processes never set (a failure, a health verdict, a cron tick) costs a pointer.
struct UnitStatus {
  std::string name;  ///< id, or id@N with instances
  std::string id;
  std::string sub_state;       ///< detail: "waiting for web", "sigterm", "pid-file"...
  std::string status_text;     ///< the last transition's reason, human readable
  RareString failure_reason;   ///< why it last failed, empty if it did not
  /// How the last run ended: "success", "exit-code", "signal", "unknown" (not our
  /// child), "start-failed" or "deadline" (ran longer than `deadline`); empty = never ran.
  RareString result;
  /// Liveness: "" (no check or not checked yet), "healthy", "unhealthy".
  RareString health;
  RareString health_detail;  ///< what the last check said
  /// The last STATUS= it sent to its notify socket (cleared at each start).
  RareString notify_status;
  Box<LocalDateTime> apply_on;                 ///< of the version running / last run
  Box<LocalDateTime> last_tick;                ///< cron: the latest tick already handled
  std::vector<int64_t> start_limit_mono_usec;  ///< starts inside the start-limit window
  std::optional<ExitInfo> last_exit;
  uint64_t pid_start_time = 0;
  int64_t start_usec = 0;  ///< realtime µs of the last start, 0 = never
  int64_t exit_usec = 0;   ///< realtime µs of the last exit, 0 = never
  int64_t run_usec = 0;    ///< duration of the last completed run
  /// The watchdog interval in force (config `watchdog`, or WATCHDOG_USEC= it sent); 0 = none.
  int64_t watchdog_usec = 0;
  unsigned instance = 0;
  State state = State::Stopped;
  int pid = -1;
  int pgid = -1;
  /// The latest main pid, kept after it exits so that exit events name the pid that ended.
  int last_pid = -1;
  unsigned restarts = 0;  ///< automatic restarts so far
  unsigned consecutive_failures = 0;
  unsigned ticks_skipped = 0;  ///< cron: ticks that found the previous run still going
  AdminGoal admin = AdminGoal::Auto;
  bool adopted = false;
  bool restart_pending = false;  ///< config changed without an apply-on change
  bool removed = false;          ///< gone from the config, stopping before it is forgotten
  bool done = false;             ///< one-shot finished for this activation
  bool transient = false;        ///< added at runtime (add_transient), not from the config file
  bool one_shot = false;         ///< of its versions (they all agree; the parser checks)
};

class Effects {
 public:
  virtual ~Effects() = default;
  /// Spawn the main command of `cfg` for this unit, in its own process group.
  virtual SpawnOutcome spawn(const UnitStatus& unit, const ProcessConfig& cfg) = 0;
  /// Start a hook; its result arrives through Supervisor::on_hook_done. false + error if it could
  /// not even be spawned (then no on_hook_done follows).
  virtual bool run_hook(const UnitStatus& unit, HookKind kind, const Hook& hook,
                        const ProcessConfig& cfg, std::string* error) = 0;
  /// Kill a running hook's process group; no on_hook_done follows.
  virtual void cancel_hook(const UnitStatus& unit, HookKind kind) = 0;
  /// For pid-file / podman-cid: find the real pid; report through on_main_pid / on_main_pid_failed.
  virtual void watch_main_pid(const UnitStatus& unit, const ProcessConfig& cfg) = 0;
  virtual void cancel_main_pid_watch(const UnitStatus& unit) = 0;
  /// Start one attempt of a health/readiness check (`check`) or of a
  /// dependency probe (`dep`); exactly one of the two is set. The answer comes
  /// later through Supervisor::on_check_done, never from inside this call;
  /// the effect enforces the attempt's timeout and answers "timed out".
  virtual void run_check(const UnitStatus& unit, const CheckRequest& req, const HealthCheck* check,
                         const Dependency* dep, const ProcessConfig& cfg) = 0;
  /// Abandon every attempt in flight for this unit (its answers are ignored anyway).
  virtual void cancel_checks(const UnitStatus& unit) = 0;
  /// Send `sig` to the unit's whole process group (and its main pid if outside it).
  virtual void signal(const UnitStatus& unit, int sig) = 0;
  /// Send `sig` to the unit's main pid only (an admin kill with whom = main).
  virtual void signal_main(const UnitStatus& unit, int sig) = 0;
  /// Whether any process of this group still exists.
  virtual bool group_alive(const UnitStatus& unit) = 0;
  /// A state change happened (for logs, events, D-Bus). `reason` is human readable.
  virtual void transition(const UnitStatus& unit, State from, std::string_view reason) = 0;
  /// The unit has no process any more (its I/O can be released).
  virtual void released(const UnitStatus& unit) = 0;
  /// A unit was created (first apply_config, a reload, add_transient, restore of a process the
  /// config no longer has). Called once the supervisor's view is consistent, so find() and
  /// effective_config() already answer for it, and before any of its transitions.
  virtual void unit_added(const UnitStatus& /*unit*/) {}
  /// A unit was forgotten: find(name) answers nullptr from now on.
  virtual void unit_removed(const std::string& /*name*/) {}
  /// Something shown about the unit changed without a state transition (its
  /// STATUS=, a new main pid): for D-Bus PropertiesChanged.
  virtual void details_changed(const UnitStatus& /*unit*/) {}
};

/// What a process told its notify socket (see core/notify.h for the parsing);
/// the daemon has already checked that the sender belongs to the unit's tree.
struct NotifyEvent {
  bool ready = false;
  bool stopping = false;
  bool watchdog_ping = false;
  bool watchdog_trigger = false;
  std::optional<std::string> status;
  std::optional<uint64_t> watchdog_usec;
  std::optional<uint64_t> extend_timeout_usec;
  /// MAINPID=: the new main pid and its /proc start time (0 if unknown).
  std::optional<std::pair<int, uint64_t>> main_pid;
};

/// Who an admin kill signals: the whole process group, or only the main pid.
enum class KillWhom { Group, Main };

/// How a persisted unit looked when the previous procmand wrote it.
struct RestoredUnit {
  UnitStatus status;
  bool alive = false;  ///< its pid exists with the same start time (checked by the daemon)
};

struct ReloadSummary {
  std::vector<std::string> added, removed, restarted, changed_pending;
};

class Supervisor {
 public:
  Supervisor(Effects& fx, const Clock& clock);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  /// Sets the config. The first call creates the units; later calls are reloads.
  ReloadSummary apply_config(const Config& cfg);
  /// Same, sharing `cfg`: units point into it instead of copying their version.
  ReloadSummary apply_config(std::shared_ptr<const Config> cfg);
  /// Takes over what a previous procmand left (call after the first apply_config, before start).
  void restore(const std::vector<RestoredUnit>& units);
  /// Begins supervising: queues every unit for reconcile.
  void start();

  // Events from the daemon.
  /// A main process exited. Returns false if no unit owns that pid.
  bool on_exit(int pid, const ExitInfo& exit);
  void on_hook_done(const std::string& unit, HookKind kind, const HookResult& result);
  void on_main_pid(const std::string& unit, int pid, int pgid, uint64_t start_time);
  void on_main_pid_failed(const std::string& unit, const std::string& reason);
  void on_check_done(const std::string& unit, const CheckRequest& req, bool ok,
                     const std::string& detail);
  /// A sd_notify datagram for this unit (READY=1, STATUS=, MAINPID=, WATCHDOG=...).
  void on_notify(const std::string& unit, const NotifyEvent& ev);
  /// start-on-demand: a connection arrived on one of its sockets, so it is wanted
  /// (until it exits cleanly). Error text for a unit that does not start on demand.
  std::string activate(std::string_view name);
  /// Some process died: units waiting for the rest of their group re-check it.
  void on_group_change();
  /// Deadlines due at clock.now() fire, at most `max_fired` of them; the rest stay due
  /// (next_deadline() is then in the past). Many processes whose restart delays end
  /// together would otherwise all spawn in one call, while D-Bus callers wait.
  void on_timer(std::size_t max_fired = SIZE_MAX);
  std::optional<MonoTime> next_deadline() const;

  /// The wall clock reached a point where the config may apply differently (or
  /// jumped): versions whose apply-on came take over, schedule windows open and
  /// close, cron ticks fire. The daemon calls it at next_time_change() and
  /// whenever the clock is set. Re-evaluating state from the local time (not
  /// counting elapsed time) is what makes clock jumps and DST safe.
  void on_time_change();
  /// The next local time at which on_time_change() has something to do.
  std::optional<LocalDateTime> next_time_change() const;

  // Admin requests. Empty string on success, else a precise error.
  std::string start(std::string_view name);
  std::string stop(std::string_view name);
  std::string restart(std::string_view name);
  std::string reset_failed(std::string_view name);
  /// Sends `sig` without changing any goal: what follows is an ordinary exit (the restart
  /// policy applies). A name with instances means all of them; an error only if none of
  /// them has a process ("'web' has no running process").
  std::string kill(std::string_view name, KillWhom whom, int sig);

  /// Adds a process at runtime. cfg.transient is set and instances forced to 1. Refused if
  /// the id is used by any unit (config or transient, even one still being removed), is not a
  /// valid id, or a Process dependency names an unknown id, itself, or closes a cycle.
  /// Otherwise it is reconciled like a config process (starts once its dependencies allow).
  /// Reloads keep it. Before start(), call it after the first apply_config and before
  /// restore(), so a restored transient finds its unit.
  std::string add_transient(ProcessConfig cfg);
  /// Stops a transient process (stop command, stop signal and SIGKILL escalation as usual,
  /// dependents first) and then forgets it; at once if it has no process. Its definition
  /// is gone immediately (transient_ids() no longer lists it). Config processes are refused.
  /// Removing one that is already being removed is not an error.
  std::string remove(std::string_view name);
  /// Ids of the transient processes defined now (not those being removed), sorted.
  std::vector<std::string> transient_ids() const;
  const ProcessConfig* transient_config(std::string_view id) const;

  /// Stop everything in reverse dependency order.
  void shutdown();
  bool shutting_down() const { return shutting_down_; }
  /// True once shutdown() was called and no unit has a process left.
  bool shutdown_complete() const;

  std::vector<UnitStatus> status() const;
  /// Each unit's status in name order, without copies (status() also fills the start times).
  void for_each_status(const std::function<void(const UnitStatus&)>& fn) const;
  /// How many units are in state `s` now, without walking them (the status line and the
  /// bus's counts are refreshed after every event).
  unsigned count_in(State s) const { return counts_[static_cast<std::size_t>(s)]; }
  const UnitStatus* find(std::string_view name) const;
  /// The unit whose main (or launcher) process has this pid.
  const UnitStatus* find_by_pid(int pid) const;
  /// The unit names for a name: itself, or every instance of an id.
  std::vector<std::string> resolve(std::string_view name) const;
  /// The version of `name` that applies now (latest non-fake apply-on <= now).
  const ProcessConfig* effective_config(std::string_view name) const;

  /// Whether the persisted state is behind: some units changed (dirty_units()), or the set of
  /// units itself did (dirty_all(): a reload, a restore, a transient added or removed).
  bool dirty() const { return dirty_all_ || !dirty_units_.empty(); }
  bool dirty_all() const { return dirty_all_; }
  const std::set<std::string, std::less<>>& dirty_units() const { return dirty_units_; }
  void clear_dirty() {
    dirty_all_ = false;
    dirty_units_.clear();
  }

 private:
  struct Unit;
  enum TimerSlot {
    kStateTimer,
    kDeadlineTimer,
    kLivenessTimer,
    kReadinessTimer,
    kProbeTimer,
    kWatchdogTimer,
    kSlotCount
  };
  static_assert(kSlotCount == 6, "Unit::timer_at lists one kUnarmed per slot");

  Unit* find_unit(std::string_view name) const;
  /// An owner of *p without copying it (aliasing config_ or a transient's pointer).
  std::shared_ptr<const ProcessConfig> share(const ProcessConfig* p) const;
  /// The units `name` stands for, or "no process named 'x'" with a suggestion.
  std::string resolve_units(std::string_view name, std::vector<Unit*>& out) const;
  Unit& create_unit(const std::string& id, unsigned instance, unsigned instances);
  void refresh_flags(Unit& u);
  std::string check_transient(const ProcessConfig& cfg) const;
  std::string dependency_cycle(const std::string& from, const std::string& to) const;
  bool has_process(const Unit& u, KillWhom whom) const;
  std::string_view removal_reason(const Unit& u) const;
  const ProcessConfig* effective(const Unit& u) const;
  bool wants_up(const Unit& u) const;
  bool dep_satisfied(const Dependency& d) const;
  /// The first dependency that keeps it from running, "" if none. Probe
  /// dependencies gate starting only (`for_start`); a running process is not
  /// stopped when a probe stops holding.
  std::string unmet_dependency(const Unit& u, bool for_start = false) const;
  void start_check(Unit& u, CheckRole role, std::size_t dep_index = 0);
  void probe_dependencies(Unit& u);
  void stop_checks(Unit& u);
  void became_ready(Unit& u, std::string reason);
  void watchdog_expired(Unit& u, std::string reason);
  std::string inactive_reason(const Unit& u) const;
  bool dependents_active(const Unit& u) const;

  void enqueue(Unit& u);
  void enqueue_related(Unit& u);
  void drain();
  void reconcile(Unit& u);

  void set_state(Unit& u, State s, std::string reason, std::string sub = {});
  /// Tells the effects about a transition (or news within one state).
  void announce(Unit& u, State from, std::string_view reason);
  void arm(Unit& u, TimerSlot slot, MonoTime at);
  void disarm(Unit& u, TimerSlot slot);
  /// Marks what the state file must record again: one unit, or everything.
  void touch(const Unit& u);
  void touch_all() { dirty_all_ = true; }
  void fire(Unit& u, TimerSlot slot);

  void begin_start(Unit& u);
  void spawn_main(Unit& u);
  void main_known(Unit& u);
  void begin_stop(Unit& u, AfterStop then, std::string reason);
  void send_stop_signal(Unit& u);
  void finish_stop(Unit& u);
  void main_exited(Unit& u, const ExitInfo& exit);
  void apply_exit_policy(Unit& u);
  void attempt_failed(Unit& u, std::string reason);
  void schedule_restart(Unit& u, std::string reason);
  void record_exit(Unit& u, const ExitInfo& exit);
  void forget(Unit& u);
  void rebuild_graph();
  void note_window(Unit& u);
  void check_cron(Unit& u, const ProcessConfig& eff, const LocalDateTime& now);

  Effects& fx_;
  const Clock& clock_;
  std::map<std::string, std::unique_ptr<Unit>, std::less<>> units_;
  /// Units per state, kept by set_state and wherever a unit comes or goes.
  std::array<unsigned, static_cast<std::size_t>(State::StartLimitHit) + 1> counts_{};
  void count(State s, int delta) {
    counts_[static_cast<std::size_t>(s)] += static_cast<unsigned>(delta);
  }
  /// What is known of one id: its versions in the config (none once it left the config or
  /// was removed) and its units (none before they are created). No entry has neither.
  /// One map rather than two, and lists of one kept inline: most ids have one version
  /// and one instance, and this is bookkeeping paid per managed process.
  struct IdInfo {
    SmallVec<const ProcessConfig*, 1> versions;
    SmallVec<Unit*, 1> instances;
  };
  std::map<std::string, IdInfo, std::less<>> ids_;
  const IdInfo* find_id(std::string_view id) const {
    auto it = ids_.find(id);
    return it == ids_.end() ? nullptr : &it->second;
  }
  bool has_versions(std::string_view id) const {
    const IdInfo* e = find_id(id);
    return e && !e->versions.empty();
  }
  /// Whether any version has an apply-on, a schedule or a cron: without one, no time of day
  /// changes anything, and next_time_change() need not look at every unit after each event.
  bool time_rules_ = false;
  void note_time_rules();
  std::map<std::string, std::vector<Unit*>, std::less<>> dependents_;  ///< by id depended on
  std::map<int, Unit*> by_pid_;
  std::set<std::tuple<MonoTime, Unit*, int>> timers_;
  std::vector<Unit*> queue_;
  /// Units whose main process has exited while they stop, waiting for the rest of their
  /// group (the group may remain): all on_group_change() looks at after each death, where it
  /// used to walk every unit (a million steps when 1,000 stop at once).
  std::set<Unit*, std::less<>> main_gone_;  ///< transparent: looked up by const Unit* too
  void set_main_gone(Unit& u, bool gone);
  bool main_gone(const Unit& u) const { return main_gone_.contains(&u); }
  std::shared_ptr<const Config> config_;
  std::map<std::string, std::shared_ptr<const ProcessConfig>, std::less<>> transients_;  ///< by id
  bool started_ = false;
  bool shutting_down_ = false;
  bool draining_ = false;
  bool dirty_all_ = true;
  std::set<std::string, std::less<>> dirty_units_;
};

/// "exited with code 3", "killed by SIGKILL", "exited (status unknown: not our child)".
std::string describe_exit(const ExitInfo& e);

}  // namespace procman::core
