#include "core/restart_policy.h"

#include <gtest/gtest.h>

namespace procman::core {
namespace {

using namespace std::chrono_literals;

TEST(RestartPolicy, SuccessIsAnExitCodeInTheList) {
  ProcessConfig p;
  p.success_exit_codes = {0, 42};
  EXPECT_TRUE(exit_is_success(p, ExitInfo{.code = 0}));
  EXPECT_TRUE(exit_is_success(p, ExitInfo{.code = 42}));
  EXPECT_FALSE(exit_is_success(p, ExitInfo{.code = 1}));
  EXPECT_FALSE(exit_is_success(p, ExitInfo{.signaled = true, .code = 0}));
  EXPECT_FALSE(exit_is_success(p, ExitInfo{.known = false})) << "an unseen exit is not a success";
}

TEST(RestartPolicy, PoliciesDecideRestart) {
  ProcessConfig p;
  p.restart = RestartPolicy::Always;
  EXPECT_TRUE(should_restart(p, true));
  EXPECT_TRUE(should_restart(p, false));
  p.restart = RestartPolicy::OnFailure;
  EXPECT_FALSE(should_restart(p, true));
  EXPECT_TRUE(should_restart(p, false));
  p.restart = RestartPolicy::No;
  EXPECT_FALSE(should_restart(p, true));
  EXPECT_FALSE(should_restart(p, false));
}

TEST(RestartPolicy, BackoffGrowsByTheMultiplierUpToTheCap) {
  Backoff b{500ms, 3.0, 10s, 1min};
  EXPECT_EQ(backoff_delay(b, 0), 500ms);
  EXPECT_EQ(backoff_delay(b, 1), 1500ms);
  EXPECT_EQ(backoff_delay(b, 2), 4500ms);
  EXPECT_EQ(backoff_delay(b, 3), 10s);
  EXPECT_EQ(backoff_delay(b, 1000), 10s) << "no overflow for long failure streaks";
}

TEST(RestartPolicy, ConstantDelayWithMultiplierOne) {
  Backoff b{2s, 1.0, 2s, 1min};
  EXPECT_EQ(backoff_delay(b, 0), 2s);
  EXPECT_EQ(backoff_delay(b, 9), 2s);
}

TEST(StartLimiter, AllowsBurstStartsPerInterval) {
  StartLimiter l;
  StartLimit limit{3, 10min};
  MonoTime t{};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(l.allow(limit, t));
    l.record(t);
    t += 1min;
  }
  EXPECT_FALSE(l.allow(limit, t));
  ASSERT_TRUE(l.retry_at(limit));
  EXPECT_EQ(*l.retry_at(limit), MonoTime{} + 10min);
  EXPECT_TRUE(l.allow(limit, MonoTime{} + 10min));
}

TEST(StartLimiter, BurstZeroDisablesTheLimit) {
  StartLimiter l;
  StartLimit limit{0, 1s};
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(l.allow(limit, MonoTime{}));
    l.record(MonoTime{});
  }
  EXPECT_FALSE(l.retry_at(limit));
}

}  // namespace
}  // namespace procman::core
