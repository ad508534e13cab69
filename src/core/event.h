// The event model shared by event hooks (on-start, on-exit, on-failure) and the
// [controller]: which hooks a state change fires, the environment a hook runs
// with, and the JSON lines the controller reads (and `procmanctl events --json`
// prints). Pure: everything is computed from what Effects::transition reports.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/state.h"
#include "core/supervisor.h"

namespace procman::core {

/// The event hooks of a process, in the order they fire within one transition.
enum class EventKind { Start, Exit, Failure };

/// "start", "exit", "failure": PROCMAN_EVENT, and the names in a state event's "hooks".
std::string_view event_kind_name(EventKind k);

/// The hook of `cfg` for `k`, or null when it has none.
const Hook* event_hook(const ProcessConfig& cfg, EventKind k);

/// Which event hooks the transition `from` -> `unit.state` fires (`unit` as
/// Effects::transition passes it), in the order start, exit, failure:
/// - start: it entered running (from another state). A process re-adopted
///   after a procmand restart (`unit.adopted`) did not start, so it is no start.
/// - exit: a run ended: it leaves starting/init/running/stopping for a state
///   without a process (stopped, exited-ok, failed, backoff, ...). That covers
///   exits on its own, stops by the admin, by a reload or at shutdown (the
///   process was killed by the stop signal: still an exit), and a run that
///   failed (init, readiness, health check, deadline). Leaving `before` is no
///   exit: the main process never ran. A main process that died while its
///   group is being cleaned up fires its exit once the group is gone.
/// - failure: it entered failed or start-limit-hit, or backoff after a run
///   that did not succeed (`unit.result` other than "success").
/// One exit per run, and a transition that keeps the state (backoff ->
/// backoff after a failed spawn, the SIGKILL escalation of stopping, a
/// skipped cron tick) fires only what the rules above say (here: failure for
/// the repeated backoff, nothing for the others).
///
/// Supervisor::restore() reports a process that died while procmand was down
/// as stopped -> running -> backoff/failed (it is not `adopted`): a daemon that
/// does not want that start should drop Start for transitions reported from
/// inside restore().
std::vector<EventKind> hook_events(const UnitStatus& unit, State from);

/// The variables an event hook gets on top of its process's environment
/// (all values are text; "" when not applicable):
///   PROCMAN_EVENT       event_kind_name(k)
///   PROCMAN_NAME        unit name (web, worker@2); PROCMAN_ID the id; PROCMAN_INSTANCE 0..N-1
///   PROCMAN_STATE       state_name(unit.state); PROCMAN_OLD_STATE state_name(from)
///   PROCMAN_SUB_STATE   unit.sub_state
///   PROCMAN_PID         the main pid the event is about (see `last_pid`), "" if none
///   PROCMAN_EXIT_CODE   "3" when the last run exited with a code, else ""
///   PROCMAN_EXIT_SIGNAL "SIGKILL" when it was killed by a signal, else ""
///   PROCMAN_RESULT      unit.result: success, exit-code, signal, unknown, start-failed,
///                       deadline, dependency ("" when it never ran)
///   PROCMAN_REASON      `reason`, as Effects::transition got it
///   PROCMAN_RESTARTS    unit.restarts
/// `last_pid`: when a run ends, the supervisor has already cleared unit.pid,
/// so the caller passes the main pid it last saw for this unit (any
/// transition with unit.pid > 0 tells it); used only when the transition
/// fires exit, ignored when <= 0.
std::map<std::string, std::string> event_env(EventKind k, const UnitStatus& unit, State from,
                                             std::string_view reason, int last_pid = -1);

/// One JSON object, without a newline, describing a state change (the
/// controller's "state" event):
///   {"event":"state","name":"web","id":"web","instance":0,"from":"running","to":"backoff",
///    "sub_state":"","pid":4242,"exit_code":1,"exit_signal":null,"result":"exit-code",
///    "reason":"exited with code 1; restarting in 1s","restarts":0,"time_usec":1700000000000000,
///    "hooks":["exit","failure"]}
/// pid, exit_code and exit_signal are null when event_env leaves PROCMAN_PID,
/// PROCMAN_EXIT_CODE and PROCMAN_EXIT_SIGNAL empty (same rules, same
/// `last_pid`); "hooks" is hook_events(unit, from), fired whether or not the
/// process has those hooks. `time_usec` is the wall-clock time of the change.
std::string state_event_json(const UnitStatus& unit, State from, std::string_view reason,
                             int64_t time_usec, int last_pid = -1);

/// {"event":"added","name":"web@2"}: a unit appeared (a reload, a transient run).
std::string added_event_json(std::string_view name);
/// {"event":"removed","name":"web@2"}: a unit is gone for good.
std::string removed_event_json(std::string_view name);
/// {"event":"reloaded","added":[..],"removed":[..],"restarted":[..],"pending":[..]}:
/// the config was reloaded (the lists of ReloadSummary; `pending` is
/// changed_pending: changed, restart pending).
std::string reloaded_event_json(const std::vector<std::string>& added,
                                const std::vector<std::string>& removed,
                                const std::vector<std::string>& restarted,
                                const std::vector<std::string>& pending);
/// {"event":"reply","request_id":"r1","ok":true,"error":null}, or
/// {"event":"reply","request_id":null,"ok":false,"error":"not JSON: ..."}:
/// the answer to one controller line. `request_id` is the command's "id" as
/// FifoRun/FifoShutdown/FifoControl::request_id keep it (text: a numeric id
/// comes back as its decimal text); "" (none, or a line that did not parse)
/// gives null. ok is !error.
std::string reply_event_json(std::string_view request_id, const std::optional<std::string>& error);

/// {"event":"hello","version":"0.1.0","config":"/etc/procman.toml",
///  "processes":[{"name":"db","state":"running","pid":17},...]}: the first line
/// the controller receives, so it knows the world before any change. `units`
/// is Supervisor::status(); a pid <= 0 is null.
std::string hello_event_json(std::string_view version, std::string_view config_path,
                             const std::vector<UnitStatus>& units);

}  // namespace procman::core
