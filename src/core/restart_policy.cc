#include "core/restart_policy.h"

#include <algorithm>
#include <cmath>

namespace procman::core {

bool exit_is_success(const ProcessConfig& cfg, const ExitInfo& e) {
  // An exit we could not observe is not evidence of success: treating it as a
  // failure errs towards keeping services up.
  if (!e.known || e.signaled) return false;
  return std::find(cfg.success_exit_codes.begin(), cfg.success_exit_codes.end(), e.code) !=
         cfg.success_exit_codes.end();
}

bool should_restart(const ProcessConfig& cfg, bool success) {
  switch (cfg.restart) {
    case RestartPolicy::Always:
      return true;
    case RestartPolicy::OnFailure:
      return !success;
    case RestartPolicy::No:
      return false;
  }
  return false;
}

Duration backoff_delay(const Backoff& b, unsigned consecutive) {
  double ms = static_cast<double>(b.initial.count());
  const double cap = static_cast<double>(b.max.count());
  for (unsigned i = 0; i < consecutive && ms < cap; ++i) ms *= b.multiplier;
  return Duration(static_cast<Duration::rep>(std::min(ms, cap)));
}

void StartLimiter::prune(const StartLimit& limit, MonoTime now) {
  std::size_t k = 0;
  while (k < starts_.size() && now - starts_[k] >= limit.interval) ++k;
  starts_.erase(starts_.begin(), starts_.begin() + static_cast<std::ptrdiff_t>(k));
}

bool StartLimiter::allow(const StartLimit& limit, MonoTime now) {
  prune(limit, now);
  return limit.burst == 0 || starts_.size() < limit.burst;
}

std::optional<MonoTime> StartLimiter::retry_at(const StartLimit& limit) const {
  if (limit.burst == 0 || starts_.size() < limit.burst) return std::nullopt;
  // The start that must leave the window for one more to fit.
  return starts_[starts_.size() - limit.burst] + limit.interval;
}

}  // namespace procman::core
