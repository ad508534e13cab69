// Event hooks and controller events (see event.h): derived from one reported
// transition, so a hook's environment and the controller's line always agree.
#include "core/event.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "core/names.h"

namespace procman::core {
namespace {

using ordered_json = nlohmann::ordered_json;

/// States in which the unit has (or may have) a main process of the current run.
bool holds_process(State s) {
  return s == State::Starting || s == State::Init || s == State::Running || s == State::Stopping;
}

bool fires(const UnitStatus& unit, State from, EventKind k) {
  for (EventKind e : hook_events(unit, from))
    if (e == k) return true;
  return false;
}

/// The pid the transition is about: the live main pid, or the one that just
/// ended when the transition ends a run.
int event_pid(const UnitStatus& unit, State from, int last_pid) {
  if (unit.pid > 0) return unit.pid;
  if (last_pid > 0 && fires(unit, from, EventKind::Exit)) return last_pid;
  return -1;
}

std::optional<int> exit_code(const UnitStatus& unit) {
  if (unit.last_exit && unit.last_exit->known && !unit.last_exit->signaled)
    return unit.last_exit->code;
  return std::nullopt;
}

std::optional<std::string> exit_signal(const UnitStatus& unit) {
  if (unit.last_exit && unit.last_exit->known && unit.last_exit->signaled)
    return signal_name(unit.last_exit->code);
  return std::nullopt;
}

/// Names and reasons come from config files and commands: never let a stray
/// byte that is not UTF-8 make serialising throw.
std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ordered_json names(const std::vector<std::string>& v) {
  ordered_json arr = ordered_json::array();
  for (const auto& s : v) arr.push_back(s);
  return arr;
}

}  // namespace

std::string_view event_kind_name(EventKind k) {
  switch (k) {
    case EventKind::Start:
      return "start";
    case EventKind::Exit:
      return "exit";
    case EventKind::Failure:
      return "failure";
  }
  return "?";
}

const Hook* event_hook(const ProcessConfig& cfg, EventKind k) {
  const Box<Hook>* h = nullptr;
  switch (k) {
    case EventKind::Start:
      h = &cfg.on_start;
      break;
    case EventKind::Exit:
      h = &cfg.on_exit;
      break;
    case EventKind::Failure:
      h = &cfg.on_failure;
      break;
  }
  return h != nullptr && h->has_value() ? &**h : nullptr;
}

std::vector<EventKind> hook_events(const UnitStatus& unit, State from) {
  std::vector<EventKind> out;
  const State to = unit.state;
  if (to == State::Running && from != State::Running && !unit.adopted)
    out.push_back(EventKind::Start);
  if (holds_process(from) && !holds_process(to)) out.push_back(EventKind::Exit);
  const bool failed_run = to == State::Backoff && unit.result != "success";
  if ((to == State::Failed && from != State::Failed) ||
      (to == State::StartLimitHit && from != State::StartLimitHit) || failed_run)
    out.push_back(EventKind::Failure);
  return out;
}

std::map<std::string, std::string> event_env(EventKind k, const UnitStatus& unit, State from,
                                             std::string_view reason, int last_pid) {
  const int pid = event_pid(unit, from, last_pid);
  const auto code = exit_code(unit);
  return {
      {"PROCMAN_EVENT", std::string(event_kind_name(k))},
      {"PROCMAN_NAME", unit.name},
      {"PROCMAN_ID", unit.id},
      {"PROCMAN_INSTANCE", std::to_string(unit.instance)},
      {"PROCMAN_STATE", std::string(state_name(unit.state))},
      {"PROCMAN_OLD_STATE", std::string(state_name(from))},
      {"PROCMAN_SUB_STATE", unit.sub_state},
      {"PROCMAN_PID", pid > 0 ? std::to_string(pid) : std::string()},
      {"PROCMAN_EXIT_CODE", code ? std::to_string(*code) : std::string()},
      {"PROCMAN_EXIT_SIGNAL", exit_signal(unit).value_or("")},
      {"PROCMAN_RESULT", unit.result},
      {"PROCMAN_REASON", std::string(reason)},
      {"PROCMAN_RESTARTS", std::to_string(unit.restarts)},
  };
}

std::string state_event_json(const UnitStatus& unit, State from, std::string_view reason,
                             int64_t time_usec, int last_pid) {
  const int pid = event_pid(unit, from, last_pid);
  const auto code = exit_code(unit);
  const auto sig = exit_signal(unit);
  ordered_json hooks = ordered_json::array();
  for (EventKind k : hook_events(unit, from)) hooks.push_back(event_kind_name(k));
  ordered_json j;
  j["event"] = "state";
  j["name"] = unit.name;
  j["id"] = unit.id;
  j["instance"] = unit.instance;
  j["from"] = state_name(from);
  j["to"] = state_name(unit.state);
  j["sub_state"] = unit.sub_state;
  j["pid"] = pid > 0 ? ordered_json(pid) : ordered_json(nullptr);
  j["exit_code"] = code ? ordered_json(*code) : ordered_json(nullptr);
  j["exit_signal"] = sig ? ordered_json(*sig) : ordered_json(nullptr);
  j["result"] = unit.result;
  j["reason"] = reason;
  j["restarts"] = unit.restarts;
  j["time_usec"] = time_usec;
  j["hooks"] = std::move(hooks);
  return dump(j);
}

std::string added_event_json(std::string_view name) {
  ordered_json j;
  j["event"] = "added";
  j["name"] = name;
  return dump(j);
}

std::string removed_event_json(std::string_view name) {
  ordered_json j;
  j["event"] = "removed";
  j["name"] = name;
  return dump(j);
}

std::string reloaded_event_json(const std::vector<std::string>& added,
                                const std::vector<std::string>& removed,
                                const std::vector<std::string>& restarted,
                                const std::vector<std::string>& pending) {
  ordered_json j;
  j["event"] = "reloaded";
  j["added"] = names(added);
  j["removed"] = names(removed);
  j["restarted"] = names(restarted);
  j["pending"] = names(pending);
  return dump(j);
}

std::string reply_event_json(std::string_view request_id, const std::optional<std::string>& error) {
  ordered_json j;
  j["event"] = "reply";
  j["request_id"] = request_id.empty() ? ordered_json(nullptr) : ordered_json(request_id);
  j["ok"] = !error.has_value();
  j["error"] = error ? ordered_json(*error) : ordered_json(nullptr);
  return dump(j);
}

std::string hello_event_json(std::string_view version, std::string_view config_path,
                             const std::vector<UnitStatus>& units) {
  ordered_json processes = ordered_json::array();
  for (const UnitStatus& u : units) {
    ordered_json p;
    p["name"] = u.name;
    p["state"] = state_name(u.state);
    p["pid"] = u.pid > 0 ? ordered_json(u.pid) : ordered_json(nullptr);
    processes.push_back(std::move(p));
  }
  ordered_json j;
  j["event"] = "hello";
  j["version"] = version;
  j["config"] = config_path;
  j["processes"] = std::move(processes);
  return dump(j);
}

}  // namespace procman::core
