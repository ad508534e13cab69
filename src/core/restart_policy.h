// Restart decisions: whether an exit is a success, whether to restart, how
// long to wait (exponential backoff with reset), and the start limit.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "core/config.h"
#include "core/small_vec.h"

namespace procman::core {

using MonoTime = std::chrono::steady_clock::time_point;

/// How a main process ended. `known` is false when it was not our child
/// (re-adopted after a procmand restart): the kernel keeps its status from us.
struct ExitInfo {
  bool known = true;
  bool signaled = false;
  int code = 0;  ///< exit code, or signal number when signaled
};

bool exit_is_success(const ProcessConfig& cfg, const ExitInfo& e);

/// Whether the policy restarts after this exit.
bool should_restart(const ProcessConfig& cfg, bool success);

/// Delay before restart number `consecutive` (0 = first restart after a healthy run):
/// initial * multiplier^consecutive, capped at max.
Duration backoff_delay(const Backoff& b, unsigned consecutive);

/// Sliding window of start times. allow() says whether one more start fits
/// within `burst` starts per `interval`; when it does not, retry_at() is when
/// the oldest start leaves the window.
class StartLimiter {
 public:
  bool allow(const StartLimit& limit, MonoTime now);
  void record(MonoTime now) { starts_.push_back(now); }
  std::optional<MonoTime> retry_at(const StartLimit& limit) const;
  void reset() { starts_.clear(); }
  const SmallVec<MonoTime, 1>& starts() const { return starts_; }

 private:
  void prune(const StartLimit& limit, MonoTime now);
  // One start is the common case (every process that ran once); kept inline.
  SmallVec<MonoTime, 1> starts_;
};

}  // namespace procman::core
