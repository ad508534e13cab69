// When an admin operation (start, stop, restart, remove) is complete, so the
// front doors can answer "done" or "failed: why" instead of "requested".
// Pure bookkeeping over the supervisor's transitions: the daemon feeds it
// every transition and removal, and asks for what completed after each event.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/supervisor.h"

namespace procman::core {

enum class OpKind { Start, Stop, Restart, Remove };
std::string_view op_kind_name(OpKind k);  ///< "start", "stop", "restart", "remove"

struct OpOutcome {
  uint64_t id = 0;
  bool ok = false;
  std::string state;    ///< final state name of the last unit; "removed" once it was forgotten
  std::string message;  ///< "" when ok; else the failures, "worker@1: ..." with several units
};

using UnitLookup = std::function<const UnitStatus*(std::string_view)>;

/// Per unit:
/// - Start succeeds at running (readiness passed; for a one-shot, only once it exited) or
///   exited-ok; fails at failed, start-limit-hit or backoff ("start failed: <status>; it
///   will be retried"), and at stopped when the supervisor, between two calls, left it
///   stopped: it decided not to start it ("not started: <reason>"). Pending (waiting for
///   dependencies) keeps waiting.
/// - Stop succeeds once the unit has no process (any state but before, starting, init,
///   running, stopping).
/// - Restart waits for the unit to leave stopping (the old process is gone), then as Start.
/// - Remove succeeds when the unit is forgotten.
/// A unit forgotten under a Start or Restart fails it; under a Stop it counts as stopped.
/// Several units: done when all are; ok only if all are.
class PendingOps {
 public:
  PendingOps() = default;
  // Not copyable: by_unit_ points into ops_.
  PendingOps(const PendingOps&) = delete;
  PendingOps& operator=(const PendingOps&) = delete;
  PendingOps(PendingOps&&) = default;
  PendingOps& operator=(PendingOps&&) = default;

  /// Tracks an operation already requested from the Supervisor on `units` (resolved names).
  /// Returns its id (never 0). An operation already satisfied by the units' current state
  /// completes at the next take_ready().
  uint64_t add(OpKind kind, std::vector<std::string> units, const UnitLookup& lookup);
  /// Feed every transition (Effects::transition).
  void on_transition(const UnitStatus& unit, State from);
  /// Feed every forgotten unit (Effects::unit_removed).
  void on_removed(const std::string& unit);
  /// Outcomes completed since the last call, in the order the operations were added. Call it
  /// between Supervisor calls (after each event), never from inside an Effects callback: a
  /// stopped unit is judged final here, while inside a call it may be about to start.
  std::vector<OpOutcome> take_ready(const UnitLookup& lookup);
  /// Completes everything left with ok=false and this message (shutdown); operations that
  /// had completed but were not taken yet keep their outcome.
  std::vector<OpOutcome> cancel_all(const std::string& message);
  bool empty() const { return ops_.empty(); }

 private:
  struct Track {
    std::string unit;
    bool done = false;
    bool ok = false;
    bool awaiting_stop_end = false;  ///< Restart: the old process is still stopping
    std::string state;               ///< last seen
    std::string message;
    void finish(bool success, std::string why) {
      done = true;
      ok = success;
      message = std::move(why);
    }
  };
  struct Op {
    uint64_t id = 0;
    OpKind kind = OpKind::Start;
    std::vector<Track> tracks;
  };
  static void judge(OpKind kind, Track& t, const UnitStatus& u, bool settled);
  static void judge_gone(OpKind kind, Track& t);
  static bool complete(const Op& op);
  static OpOutcome outcome(const Op& op);

  /// Drops `op`'s tracks from by_unit_.
  void unindex(const Op& op);

  std::vector<Op> ops_;
  /// Each unfinished operation's tracks by unit name, so that a transition finds the few that
  /// follow its unit without walking all of them: a `stop` of 1,000 processes is 1,000
  /// operations, each fed about three transitions. The Tracks live in their Op's vector,
  /// which moving the Op (ops_ growing) does not reallocate.
  std::multimap<std::string, std::pair<OpKind, Track*>, std::less<>> by_unit_;
  uint64_t next_id_ = 1;
};

}  // namespace procman::core
