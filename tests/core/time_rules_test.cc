// The supervisor's time rules with a fake clock: apply-on handover, schedule
// windows (overnight too), one-shots once per window, cron ticks, deadlines,
// clock jumps and DST. The local time is moved by hand and on_time_change()
// is called as the daemon does at next_time_change() or when the clock is set.
#include <gtest/gtest.h>

#include <csignal>
#include <set>

#include "core/supervisor.h"
#include "fake_world.h"

namespace procman::core {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeEffects;
using testing::proc;

class TimeRules : public ::testing::Test {
 protected:
  // Friday 2026-11-20 12:00 local: the tests count their days from it.
  void SetUp() override { clock.local_time = {2026, 11, 20, 12, 0, 0}; }
  void load(std::vector<ProcessConfig> ps) {
    cfg.uid = "u";
    cfg.processes = std::move(ps);
    sup.apply_config(cfg);
    sup.start();
  }
  void at(LocalDateTime t) {
    clock.local_time = t;
    sup.on_time_change();
  }
  State state(const std::string& n) const { return sup.find(n)->state; }
  void exit_main(const std::string& n, ExitInfo e = {}) {
    const int pid = sup.find(n)->pid;
    fx.alive_groups.erase(sup.find(n)->pgid);
    ASSERT_TRUE(sup.on_exit(pid, e));
  }
  FakeClock clock;
  FakeEffects fx;
  Supervisor sup{fx, clock};
  Config cfg;
};

TEST_F(TimeRules, NewVersionTakesOverAtItsApplyOnAfterTheOldOneStopped) {
  auto v1 = proc("svc", "v1");
  v1.apply_on = LocalDateTime{2024, 1, 1, 0, 0, 0};
  auto v2 = proc("svc", "v2");
  v2.apply_on = LocalDateTime{2026, 11, 20, 13, 0, 0};
  load({v1, v2});
  EXPECT_EQ(fx.spawned_commands, std::vector<std::string>{"svc:v1"});
  ASSERT_TRUE(sup.next_time_change());
  EXPECT_EQ(*sup.next_time_change(), (LocalDateTime{2026, 11, 20, 13, 0, 0}));
  at({2026, 11, 20, 12, 59, 59});
  EXPECT_EQ(state("svc"), State::Running);
  at({2026, 11, 20, 13, 0, 0});
  EXPECT_EQ(state("svc"), State::Stopping);
  EXPECT_EQ(fx.spawned.size(), 1u) << "the new version waits until the old one is gone";
  exit_main("svc", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("svc"), State::Running);
  EXPECT_EQ(fx.spawned_commands.back(), "svc:v2");
  EXPECT_EQ(sup.find("svc")->apply_on, v2.apply_on);
}

TEST_F(TimeRules, AFakeNewVersionIsARollbackAndChangesNothing) {
  auto v1 = proc("svc", "v1");
  v1.apply_on = LocalDateTime{2024, 1, 1, 0, 0, 0};
  auto v2 = proc("svc", "v2");
  v2.apply_on = LocalDateTime{2026, 11, 20, 13, 0, 0};
  v2.fake = true;
  load({v1, v2});
  EXPECT_FALSE(sup.next_time_change());
  at({2026, 11, 20, 14, 0, 0});
  EXPECT_EQ(state("svc"), State::Running);
  EXPECT_EQ(fx.spawned_commands, std::vector<std::string>{"svc:v1"});
}

TEST_F(TimeRules, ScheduleWindowStartsAndStopsOnTime) {
  auto p = proc("office");
  p.schedule = Schedule{TimeOfDay{8 * 3600}, TimeOfDay{18 * 3600}, WeekDays{}};
  clock.local_time = {2026, 11, 20, 7, 0, 0};
  load({p});
  EXPECT_EQ(state("office"), State::Stopped);
  EXPECT_EQ(*sup.next_time_change(), (LocalDateTime{2026, 11, 20, 8, 0, 0}));
  at({2026, 11, 20, 8, 0, 0});
  EXPECT_EQ(state("office"), State::Running);
  EXPECT_EQ(*sup.next_time_change(), (LocalDateTime{2026, 11, 20, 18, 0, 0}));
  at({2026, 11, 20, 18, 0, 0});
  EXPECT_EQ(state("office"), State::Stopping);
  EXPECT_EQ(fx.log.back(), "office stopping: its schedule window closed");
}

TEST_F(TimeRules, OvernightWindowBelongsToTheDayItOpens) {
  auto p = proc("night");
  WeekDays fri;
  fri.mask = 1 << 4;  // Friday only
  p.schedule = Schedule{TimeOfDay{22 * 3600}, TimeOfDay{6 * 3600}, fri};
  clock.local_time = {2026, 11, 20, 21, 0, 0};  // Friday
  load({p});
  EXPECT_EQ(state("night"), State::Stopped);
  at({2026, 11, 20, 22, 0, 0});
  EXPECT_EQ(state("night"), State::Running);
  at({2026, 11, 21, 5, 59, 59});  // Saturday morning, still Friday's window
  EXPECT_EQ(state("night"), State::Running);
  at({2026, 11, 21, 6, 0, 0});
  EXPECT_EQ(state("night"), State::Stopping);
  exit_main("night", ExitInfo{.signaled = true, .code = SIGTERM});
  at({2026, 11, 21, 22, 0, 0});  // Saturday evening: not a listed day
  EXPECT_EQ(state("night"), State::Stopped);
}

TEST_F(TimeRules, OneShotRunsAtMostOncePerWindow) {
  auto p = proc("backup");
  p.one_shot = true;
  p.restart = RestartPolicy::No;
  p.schedule = Schedule{TimeOfDay{8 * 3600}, TimeOfDay{18 * 3600}, WeekDays{}};
  clock.local_time = {2026, 11, 20, 7, 0, 0};
  load({p});
  at({2026, 11, 20, 8, 0, 0});
  EXPECT_EQ(state("backup"), State::Running);
  exit_main("backup");
  EXPECT_EQ(state("backup"), State::ExitedOk);
  at({2026, 11, 20, 12, 0, 0});
  EXPECT_EQ(state("backup"), State::ExitedOk);
  EXPECT_EQ(fx.spawned.size(), 1u);
  at({2026, 11, 20, 18, 0, 0});
  at({2026, 11, 21, 8, 0, 0});  // the next window
  EXPECT_EQ(state("backup"), State::Running);
  EXPECT_EQ(fx.spawned.size(), 2u);
}

TEST_F(TimeRules, OneShotStillRunningWhenItsWindowClosesIsStopped) {
  auto p = proc("batch");
  p.one_shot = true;
  p.restart = RestartPolicy::No;
  p.schedule = Schedule{TimeOfDay{8 * 3600}, TimeOfDay{9 * 3600}, WeekDays{}};
  clock.local_time = {2026, 11, 20, 8, 30, 0};
  load({p});
  EXPECT_EQ(state("batch"), State::Running);
  at({2026, 11, 20, 9, 0, 0});
  EXPECT_EQ(state("batch"), State::Stopping);
  ASSERT_FALSE(fx.signals.empty());
  EXPECT_EQ(fx.signals.back().second, SIGTERM);
}

TEST_F(TimeRules, AlreadyOpenWindowAtStartupDoesNotReRunACompletedOneShot) {
  auto p = proc("backup");
  p.one_shot = true;
  p.restart = RestartPolicy::No;
  p.schedule = Schedule{TimeOfDay{8 * 3600}, TimeOfDay{18 * 3600}, WeekDays{}};
  cfg.uid = "u";
  cfg.processes = {p};
  sup.apply_config(cfg);
  UnitStatus st;
  st.name = st.id = "backup";
  st.state = State::ExitedOk;
  st.done = true;
  sup.restore({RestoredUnit{st, false}});
  sup.start();
  sup.on_time_change();
  EXPECT_EQ(state("backup"), State::ExitedOk);
  EXPECT_TRUE(fx.spawned.empty());
}

ProcessConfig cron_job(const std::string& expr) {
  auto p = proc("job");
  p.one_shot = true;
  p.restart = RestartPolicy::No;
  std::string err;
  p.cron = parse_cron(expr, &err);
  EXPECT_TRUE(p.cron) << err;
  return p;
}

TEST_F(TimeRules, CronJobRunsAtEachTickAndNotBefore) {
  load({cron_job("*/5 * * * *")});
  EXPECT_EQ(state("job"), State::Stopped) << "a past tick does not fire at startup";
  EXPECT_EQ(*sup.next_time_change(), (LocalDateTime{2026, 11, 20, 12, 5, 0}));
  at({2026, 11, 20, 12, 4, 59});
  EXPECT_TRUE(fx.spawned.empty());
  at({2026, 11, 20, 12, 5, 0});
  EXPECT_EQ(state("job"), State::Running);
  exit_main("job");
  EXPECT_EQ(state("job"), State::ExitedOk);
  EXPECT_EQ(*sup.next_time_change(), (LocalDateTime{2026, 11, 20, 12, 10, 0}));
  at({2026, 11, 20, 12, 10, 0});
  EXPECT_EQ(state("job"), State::Running);
  EXPECT_EQ(fx.spawned.size(), 2u);
}

TEST_F(TimeRules, CronTickWhileThePreviousRunGoesIsSkippedAndRecorded) {
  load({cron_job("* * * * *")});
  at({2026, 11, 20, 12, 1, 0});
  ASSERT_EQ(state("job"), State::Running);
  at({2026, 11, 20, 12, 2, 0});
  EXPECT_EQ(fx.spawned.size(), 1u);
  EXPECT_EQ(sup.find("job")->ticks_skipped, 1u);
  EXPECT_NE(sup.find("job")->status_text.find("skipped"), std::string::npos);
  EXPECT_EQ(state("job"), State::Running) << "the running one is left alone";
}

TEST_F(TimeRules, ClockJumpForwardOverManyTicksRunsOnce) {
  load({cron_job("*/5 * * * *")});
  at({2026, 11, 20, 15, 0, 0});  // three hours later in one step
  EXPECT_EQ(fx.spawned.size(), 1u);
  EXPECT_EQ(sup.find("job")->last_tick, (LocalDateTime{2026, 11, 20, 15, 0, 0}));
}

TEST_F(TimeRules, ClockJumpBackwardDoesNotRunATickTwice) {
  load({cron_job("*/5 * * * *")});
  at({2026, 11, 20, 12, 5, 0});
  exit_main("job");
  at({2026, 11, 20, 12, 1, 0});  // the clock is set back
  at({2026, 11, 20, 12, 5, 0});  // 12:05 comes again
  EXPECT_EQ(fx.spawned.size(), 1u);
  at({2026, 11, 20, 12, 10, 0});
  EXPECT_EQ(fx.spawned.size(), 2u);
}

TEST_F(TimeRules, DstFallBackRepeatsAnHourWithoutARerun) {
  // Local time 02:30 happens twice on the night clocks go back.
  clock.local_time = {2026, 10, 25, 1, 0, 0};
  load({cron_job("30 2 * * *")});
  at({2026, 10, 25, 2, 30, 0});
  exit_main("job");
  at({2026, 10, 25, 2, 0, 0});   // clocks go back one hour
  at({2026, 10, 25, 2, 30, 0});  // the second 02:30
  EXPECT_EQ(fx.spawned.size(), 1u);
}

TEST_F(TimeRules, DstSpringForwardRunsASkippedTickLateNotNever) {
  // 02:30 does not exist on the night clocks go forward: it runs at 03:00.
  clock.local_time = {2026, 3, 29, 1, 0, 0};
  load({cron_job("30 2 * * *")});
  at({2026, 3, 29, 1, 59, 59});
  at({2026, 3, 29, 3, 0, 0});
  EXPECT_EQ(fx.spawned.size(), 1u);
}

TEST_F(TimeRules, DeadlineStopsALongRunAndMarksTheResult) {
  auto p = proc("report");
  p.one_shot = true;
  p.restart = RestartPolicy::No;
  p.deadline = 10s;
  load({p});
  clock.mono += 9s;
  sup.on_timer();
  EXPECT_EQ(state("report"), State::Running);
  clock.mono += 1s;
  sup.on_timer();
  EXPECT_EQ(state("report"), State::Stopping);
  exit_main("report", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("report"), State::Failed);
  EXPECT_EQ(sup.find("report")->result, "deadline");
  EXPECT_EQ(sup.find("report")->failure_reason, "deadline exceeded: still running after 10s");
}

TEST_F(TimeRules, DeadlineOfAServiceCountsAsAFailureAndRestarts) {
  auto p = proc("svc");
  p.deadline = 1h;
  load({p});
  clock.mono += 1h;
  sup.on_timer();
  exit_main("svc", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("svc"), State::Backoff);
  EXPECT_EQ(sup.find("svc")->result, "deadline");
}

TEST_F(TimeRules, ResultRecordsHowTheLastRunEnded) {
  auto p = proc("a");
  p.restart = RestartPolicy::No;
  load({p});
  exit_main("a", ExitInfo{.code = 0});
  EXPECT_EQ(sup.find("a")->result, "success");
}

}  // namespace
}  // namespace procman::core
