#include "core/state.h"

#include <array>
#include <utility>

namespace procman::core {
namespace {

constexpr std::array<std::pair<State, std::string_view>, 12> kNames{{
    {State::Invalid, "invalid"},
    {State::Pending, "pending"},
    {State::Before, "before"},
    {State::Starting, "starting"},
    {State::Init, "init"},
    {State::Running, "running"},
    {State::Stopping, "stopping"},
    {State::Stopped, "stopped"},
    {State::ExitedOk, "exited-ok"},
    {State::Failed, "failed"},
    {State::Backoff, "backoff"},
    {State::StartLimitHit, "start-limit-hit"},
}};

}  // namespace

std::string_view state_name(State s) {
  for (const auto& [state, name] : kNames)
    if (state == s) return name;
  return "invalid";
}

std::optional<State> parse_state(std::string_view name) {
  for (const auto& [state, n] : kNames)
    if (n == name && state != State::Invalid) return state;
  return std::nullopt;
}

std::string_view jleahred_name(State s) {
  switch (s) {
    case State::Pending:
      return "ShouldBeRunning";
    case State::Before:
      return "PendingBeforeCmd";
    case State::Starting:
      return "ShouldBeRunning";
    case State::Init:
      return "PendingInitCmd";
    case State::Running:
      return "Running";
    case State::Stopping:
      return "Stopping";
    case State::Stopped:
    case State::ExitedOk:
    case State::Failed:
    case State::Backoff:
      return "Stopped";
    case State::StartLimitHit:
      return "TooMuchRuns";
    case State::Invalid:
      break;
  }
  return "";
}

bool is_active(State s) {
  return s == State::Before || s == State::Starting || s == State::Init || s == State::Running ||
         s == State::Stopping;
}

bool is_started(State s) { return s == State::Init || s == State::Running; }

}  // namespace procman::core
