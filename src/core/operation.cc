// Completion of admin operations (see operation.h).
#include "core/operation.h"

#include <algorithm>
#include <utility>

namespace procman::core {

std::string_view op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::Start:
      return "start";
    case OpKind::Stop:
      return "stop";
    case OpKind::Restart:
      return "restart";
    case OpKind::Remove:
      return "remove";
  }
  return "?";
}

namespace {

std::string retry_message(const std::string& status) {
  // The backoff status usually says when already ("...; restarting in 2s").
  if (status.find("restarting in") != std::string::npos) return "start failed: " + status;
  return "start failed: " + status + "; it will be retried";
}

}  // namespace

void PendingOps::judge(OpKind kind, Track& t, const UnitStatus& u, bool settled) {
  t.state = std::string(state_name(u.state));
  if (t.done) return;
  switch (kind) {
    case OpKind::Remove:
      return;  // only forgetting completes it
    case OpKind::Stop:
      if (!is_active(u.state)) t.finish(true, {});
      return;
    case OpKind::Restart:
      if (t.awaiting_stop_end) {
        if (u.state == State::Stopping) return;
        t.awaiting_stop_end = false;
      }
      break;
    case OpKind::Start:
      break;
  }
  switch (u.state) {
    case State::Running:
      // A one-shot is done when it has run, like `systemctl start` of a oneshot.
      if (!u.one_shot) t.finish(true, {});
      return;
    case State::ExitedOk:
      t.finish(true, {});
      return;
    case State::Failed:
      t.finish(false, "failed: " + u.status_text);
      return;
    case State::StartLimitHit:
      t.finish(false, "start limit hit: " + u.status_text);
      return;
    case State::Backoff:
      t.finish(false, retry_message(u.status_text));
      return;
    case State::Stopped:
    case State::Invalid:
      // Inside a supervisor call, stopped is often a step before starting; between calls
      // it means the supervisor decided not to start it, and waiting would be forever.
      if (settled) t.finish(false, "not started: " + u.status_text);
      return;
    case State::Pending:  // waiting for its dependencies: that is what start means
    case State::Before:
    case State::Starting:
    case State::Init:
    case State::Stopping:
      return;
  }
}

void PendingOps::judge_gone(OpKind kind, Track& t) {
  if (t.done) return;
  t.state = "removed";
  const bool ok = kind == OpKind::Remove || kind == OpKind::Stop;
  t.finish(ok, ok ? std::string() : "'" + t.unit + "' was removed");
}

bool PendingOps::complete(const Op& op) {
  return std::all_of(op.tracks.begin(), op.tracks.end(), [](const Track& t) { return t.done; });
}

OpOutcome PendingOps::outcome(const Op& op) {
  OpOutcome out;
  out.id = op.id;
  out.ok = true;
  for (const Track& t : op.tracks) {
    if (t.ok) continue;
    out.ok = false;
    if (!out.message.empty()) out.message += "; ";
    out.message += op.tracks.size() > 1 ? t.unit + ": " + t.message : t.message;
  }
  if (!op.tracks.empty()) out.state = op.tracks.back().state;
  return out;
}

uint64_t PendingOps::add(OpKind kind, std::vector<std::string> units, const UnitLookup& lookup) {
  Op op;
  op.id = next_id_++;
  op.kind = kind;
  for (auto& name : units) {
    Track t;
    t.unit = std::move(name);
    if (const UnitStatus* u = lookup(t.unit)) {
      t.state = std::string(state_name(u->state));
      // Restart: a unit still stopping has its old process; anything else is already the new
      // activation (Supervisor::restart starts a stopped unit at once).
      t.awaiting_stop_end = kind == OpKind::Restart && u->state == State::Stopping;
    }
    op.tracks.push_back(std::move(t));
  }
  ops_.push_back(std::move(op));
  for (Track& t : ops_.back().tracks) by_unit_.emplace(t.unit, std::pair(kind, &t));
  return ops_.back().id;
}

void PendingOps::unindex(const Op& op) {
  for (const Track& t : op.tracks) {
    auto [first, last] = by_unit_.equal_range(t.unit);
    for (auto it = first; it != last; ++it) {
      if (it->second.second == &t) {
        by_unit_.erase(it);
        break;
      }
    }
  }
}

void PendingOps::on_transition(const UnitStatus& unit, State /*from*/) {
  auto [first, last] = by_unit_.equal_range(unit.name);
  for (auto it = first; it != last; ++it) judge(it->second.first, *it->second.second, unit, false);
}

void PendingOps::on_removed(const std::string& unit) {
  auto [first, last] = by_unit_.equal_range(unit);
  for (auto it = first; it != last; ++it) judge_gone(it->second.first, *it->second.second);
}

std::vector<OpOutcome> PendingOps::take_ready(const UnitLookup& lookup) {
  std::vector<OpOutcome> out;
  for (Op& op : ops_) {
    for (Track& t : op.tracks) {
      if (t.done) continue;
      if (const UnitStatus* u = lookup(t.unit))
        judge(op.kind, t, *u, true);
      else
        judge_gone(op.kind, t);
    }
    if (complete(op)) {
      out.push_back(outcome(op));
      unindex(op);
    }
  }
  ops_.erase(std::remove_if(ops_.begin(), ops_.end(), complete), ops_.end());
  return out;
}

std::vector<OpOutcome> PendingOps::cancel_all(const std::string& message) {
  std::vector<OpOutcome> out;
  for (const Op& op : ops_) {
    if (complete(op)) {
      out.push_back(outcome(op));
      continue;
    }
    OpOutcome o = outcome(op);
    o.ok = false;
    o.message = message;
    out.push_back(std::move(o));
  }
  ops_.clear();
  by_unit_.clear();
  return out;
}

}  // namespace procman::core
