// The states a supervised process goes through. docs/state-machine.md has the
// diagram and the transition table; supervisor.cc implements it.
#pragma once

#include <optional>
#include <string_view>

namespace procman::core {

enum class State {
  Invalid,        ///< never a live value; what parsing an unknown name yields
  Pending,        ///< wants to run, waiting for its dependencies
  Before,         ///< running the `before` command
  Starting,       ///< spawned; waiting for the real pid (pid-file, podman-cid) if needed
  Init,           ///< main process up, running the `init` command (not yet ready)
  Running,        ///< up and ready: dependents waiting on `running` may start
  Stopping,       ///< stop command / stop signal sent, waiting for the whole group to go
  Stopped,        ///< not running and not meant to be now (never started, stopped, inactive)
  ExitedOk,       ///< exited with a success code and is not to be restarted (one-shots)
  Failed,         ///< gave up: exited/failed and the restart policy says no more
  Backoff,        ///< waiting out the restart delay before the next attempt
  StartLimitHit,  ///< too many starts within start-limit.interval (jleahred/procman TooMuchRuns)
};

std::string_view state_name(State s);  ///< "pending", "exited-ok", "start-limit-hit", ...
std::optional<State> parse_state(std::string_view name);
std::string_view jleahred_name(State s);  ///< the jleahred/procman state this corresponds to

/// Has a live main process or hook that belongs to the current activation.
bool is_active(State s);
/// Counts as "up" for a `started` dependency.
bool is_started(State s);

}  // namespace procman::core
