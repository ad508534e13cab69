// The supervisor's state machine, driven with a fake clock and fake effects:
// no process is forked here. Each test names the behaviour a user relies on.
#include "core/supervisor.h"

#include "fake_world.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <set>

namespace procman::core {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeEffects;
using testing::proc;

Dependency dep(const std::string& id, DepCondition c = DepCondition::Running) {
  Dependency d;
  d.id = id;
  d.condition = c;
  return d;
}

class SupervisorTest : public ::testing::Test {
 protected:
  void load(std::vector<ProcessConfig> ps) {
    cfg.uid = "u";
    cfg.processes = std::move(ps);
    sup.apply_config(cfg);
  }
  State state(const std::string& name) const { return sup.find(name)->state; }
  int pid(const std::string& name) const { return sup.find(name)->pid; }
  /// The main process of `name` exits (and its whole group with it).
  void exit_main(const std::string& name, ExitInfo e) {
    const int p = pid(name);
    fx.alive_groups.erase(sup.find(name)->pgid);
    ASSERT_TRUE(sup.on_exit(p, e));
  }
  void advance(Duration d) {
    clock.advance(d);
    sup.on_timer();
  }

  FakeClock clock;
  FakeEffects fx;
  Supervisor sup{fx, clock};
  Config cfg;
};

TEST_F(SupervisorTest, StartsAProcessWithoutHooksStraightToRunning) {
  load({proc("web")});
  sup.start();
  EXPECT_EQ(state("web"), State::Running);
  EXPECT_EQ(pid("web"), 100);
  EXPECT_EQ(fx.spawned, std::vector<std::string>{"web"});
}

TEST_F(SupervisorTest, FakeAndFutureVersionsDoNotRun) {
  auto a = proc("a");
  a.fake = true;
  auto b = proc("b");
  b.apply_on = LocalDateTime{2030, 1, 1, 0, 0, 0};
  load({a, b});
  sup.start();
  EXPECT_EQ(state("a"), State::Stopped);
  EXPECT_EQ(state("b"), State::Stopped);
  EXPECT_TRUE(fx.spawned.empty());
}

TEST_F(SupervisorTest, LatestApplyOnNotInTheFutureIsEffective) {
  auto v1 = proc("svc", "old");
  v1.apply_on = LocalDateTime{2024, 1, 1, 0, 0, 0};
  auto v2 = proc("svc", "new");
  v2.apply_on = LocalDateTime{2025, 1, 1, 0, 0, 0};
  auto v3 = proc("svc", "future");
  v3.apply_on = LocalDateTime{2099, 1, 1, 0, 0, 0};
  auto v4 = proc("svc", "rolled-back");
  v4.apply_on = LocalDateTime{2026, 1, 1, 0, 0, 0};
  v4.fake = true;
  load({v1, v2, v3, v4});
  ASSERT_NE(sup.effective_config("svc"), nullptr);
  EXPECT_EQ(sup.effective_config("svc")->command->line, "new");
}

TEST_F(SupervisorTest, BeforeHookRunsFirstAndItsSuccessSpawns) {
  auto p = proc("web");
  p.before = Hook{"prepare", 3s, {}};
  load({p});
  sup.start();
  EXPECT_EQ(state("web"), State::Before);
  EXPECT_TRUE(fx.spawned.empty());
  sup.on_hook_done("web", HookKind::Before, HookResult{.ok = true});
  EXPECT_EQ(state("web"), State::Running);
}

TEST_F(SupervisorTest, BeforeHookFailureRetriesWithBackoffStartingAgainWithBefore) {
  auto p = proc("web");
  p.before = Hook{"prepare", 3s, {}};
  load({p});
  sup.start();
  sup.on_hook_done("web", HookKind::Before, HookResult{.ok = false, .exit = {.code = 2}});
  EXPECT_EQ(state("web"), State::Backoff);
  EXPECT_TRUE(fx.spawned.empty());
  EXPECT_NE(sup.find("web")->failure_reason.find("before command exited with code 2"),
            std::string::npos);
  advance(1s);
  EXPECT_EQ(state("web"), State::Before);
  EXPECT_EQ(fx.hooks.size(), 2u);
}

TEST_F(SupervisorTest, BeforeHookTimeoutIsKilledAndCountsAsFailure) {
  auto p = proc("web");
  p.before = Hook{"hang", 3s, {}};
  load({p});
  sup.start();
  advance(3s);
  EXPECT_EQ(fx.cancelled.size(), 1u);
  EXPECT_EQ(state("web"), State::Backoff);
  EXPECT_NE(sup.find("web")->failure_reason.find("timed out after 3s"), std::string::npos);
}

TEST_F(SupervisorTest, InitHookGatesRunning) {
  auto p = proc("db");
  p.init = Hook{"wait-ready", 5s, {}};
  load({p, [] {
          auto w = proc("app");
          w.depends_on = {dep("db")};
          return w;
        }()});
  sup.start();
  EXPECT_EQ(state("db"), State::Init);
  EXPECT_EQ(state("app"), State::Pending);
  EXPECT_EQ(sup.find("app")->sub_state, "waiting for db (running)");
  sup.on_hook_done("db", HookKind::Init, HookResult{.ok = true});
  EXPECT_EQ(state("db"), State::Running);
  EXPECT_EQ(state("app"), State::Running);
}

TEST_F(SupervisorTest, InitFailureStopsTheProcessAndRetries) {
  auto p = proc("db");
  p.init = Hook{"check", 5s, {}};
  load({p});
  sup.start();
  sup.on_hook_done("db", HookKind::Init, HookResult{.ok = false, .exit = {.code = 1}});
  EXPECT_EQ(state("db"), State::Stopping);
  ASSERT_EQ(fx.signals.size(), 1u);
  EXPECT_EQ(fx.signals[0].second, SIGTERM);
  exit_main("db", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("db"), State::Backoff);
  EXPECT_NE(sup.find("db")->failure_reason.find("init command exited with code 1"),
            std::string::npos);
}

TEST_F(SupervisorTest, InitTimeoutStopsTheProcess) {
  auto p = proc("db");
  p.init = Hook{"check", 2s, {}};
  load({p});
  sup.start();
  advance(2s);
  EXPECT_EQ(state("db"), State::Stopping);
  EXPECT_EQ(fx.cancelled.size(), 1u);
}

TEST_F(SupervisorTest, SpawnFailureIsAClearErrorAndBacksOff) {
  load({proc("web")});
  fx.fail_spawn.insert("web");
  sup.start();
  EXPECT_EQ(state("web"), State::Backoff);
  EXPECT_EQ(sup.find("web")->failure_reason, "exec \"x\": No such file or directory");
}

TEST_F(SupervisorTest, SpawnFailureWithRestartNoFails) {
  auto p = proc("web");
  p.restart = RestartPolicy::No;
  load({p});
  fx.fail_spawn.insert("web");
  sup.start();
  EXPECT_EQ(state("web"), State::Failed);
}

TEST_F(SupervisorTest, CrashRestartsWithExponentialBackoff) {
  auto p = proc("web");
  p.restart_delay = Backoff{1s, 2.0, 10s, 60s};
  p.start_limit.burst = 0;  // unlimited for this test
  load({p});
  sup.start();
  const Duration expected[] = {1s, 2s, 4s, 8s, 10s, 10s};
  for (Duration d : expected) {
    exit_main("web", ExitInfo{.code = 1});
    ASSERT_EQ(state("web"), State::Backoff);
    advance(d - 1ms);
    ASSERT_EQ(state("web"), State::Backoff) << "restarted before " << d.count() << "ms";
    advance(1ms);
    ASSERT_EQ(state("web"), State::Running);
  }
  EXPECT_EQ(sup.find("web")->restarts, 6u);
}

TEST_F(SupervisorTest, BackoffResetsAfterAHealthyRun) {
  auto p = proc("web");
  p.restart_delay = Backoff{1s, 2.0, 60s, 30s};
  load({p});
  sup.start();
  exit_main("web", ExitInfo{.code = 1});
  advance(1s);
  exit_main("web", ExitInfo{.code = 1});
  advance(2s);  // second delay was 2s
  ASSERT_EQ(state("web"), State::Running);
  clock.advance(30s);  // a healthy run of reset-after
  exit_main("web", ExitInfo{.code = 1});
  advance(1s);  // back to the initial delay
  EXPECT_EQ(state("web"), State::Running);
}

TEST_F(SupervisorTest, RestartsDueTogetherFireInBoundedBatches) {
  std::vector<ProcessConfig> ps;
  for (int i = 0; i < 10; ++i) {
    auto p = proc("w" + std::to_string(i));
    p.restart_delay = Backoff{1s, 1.0, 1s, 60s};
    ps.push_back(p);
  }
  load(ps);
  sup.start();
  ASSERT_EQ(fx.spawned.size(), 10u);
  for (int i = 0; i < 10; ++i) exit_main("w" + std::to_string(i), ExitInfo{.code = 1});
  clock.advance(1s);

  sup.on_timer(4);
  EXPECT_EQ(fx.spawned.size(), 14u);
  ASSERT_TRUE(sup.next_deadline());
  EXPECT_LE(*sup.next_deadline(), clock.now()) << "the rest are still due, now";
  sup.on_timer(4);
  sup.on_timer(4);
  EXPECT_EQ(fx.spawned.size(), 20u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(state("w" + std::to_string(i)), State::Running);
  EXPECT_FALSE(sup.next_deadline() && *sup.next_deadline() <= clock.now());
}

TEST_F(SupervisorTest, OnFailurePolicyDoesNotRestartACleanExit) {
  auto p = proc("job");
  p.restart = RestartPolicy::OnFailure;
  load({p});
  sup.start();
  exit_main("job", ExitInfo{.code = 0});
  EXPECT_EQ(state("job"), State::ExitedOk);
}

TEST_F(SupervisorTest, SuccessExitCodesAreHonoured) {
  auto p = proc("job");
  p.restart = RestartPolicy::OnFailure;
  p.success_exit_codes = {0, 3};
  load({p});
  sup.start();
  exit_main("job", ExitInfo{.code = 3});
  EXPECT_EQ(state("job"), State::ExitedOk);
}

TEST_F(SupervisorTest, RestartNoLeavesAFailedProcessFailed) {
  auto p = proc("job");
  p.restart = RestartPolicy::No;
  load({p});
  sup.start();
  exit_main("job", ExitInfo{.signaled = true, .code = SIGSEGV});
  EXPECT_EQ(state("job"), State::Failed);
  EXPECT_EQ(sup.find("job")->failure_reason, "killed by SIGSEGV");
}

TEST_F(SupervisorTest, OneShotRunsOnceAndIsNotRestartedOnSuccess) {
  auto p = proc("migrate");
  p.one_shot = true;
  p.restart = RestartPolicy::No;
  load({p});
  sup.start();
  exit_main("migrate", ExitInfo{.code = 0});
  EXPECT_EQ(state("migrate"), State::ExitedOk);
  EXPECT_TRUE(sup.find("migrate")->done);
  advance(1h);
  EXPECT_EQ(fx.spawned.size(), 1u);
}

TEST_F(SupervisorTest, StartLimitHitAfterBurstAndLeavesWhenTheWindowPasses) {
  auto p = proc("crashy");
  p.restart_delay = Backoff{1s, 1.0, 1s, 1h};
  p.start_limit = StartLimit{3, 60s};
  load({p});
  sup.start();
  for (int i = 0; i < 2; ++i) {
    exit_main("crashy", ExitInfo{.code = 1});
    advance(1s);
    ASSERT_EQ(state("crashy"), State::Running);
  }
  exit_main("crashy", ExitInfo{.code = 1});
  advance(1s);
  EXPECT_EQ(state("crashy"), State::StartLimitHit);
  EXPECT_EQ(fx.spawned.size(), 3u);
  advance(56s);  // now t=59s; the first start (t=0) leaves the 60s window at t=60s
  EXPECT_EQ(state("crashy"), State::StartLimitHit);
  advance(1s);
  EXPECT_EQ(state("crashy"), State::Running);
  EXPECT_EQ(fx.spawned.size(), 4u);
}

TEST_F(SupervisorTest, ResetFailedClearsStartLimit) {
  auto p = proc("crashy");
  p.restart_delay = Backoff{1s, 1.0, 1s, 1h};
  p.start_limit = StartLimit{1, 1h};
  load({p});
  sup.start();
  exit_main("crashy", ExitInfo{.code = 1});
  advance(1s);
  ASSERT_EQ(state("crashy"), State::StartLimitHit);
  EXPECT_EQ(sup.reset_failed("crashy"), "");
  EXPECT_EQ(state("crashy"), State::Running);
}

TEST_F(SupervisorTest, StopSendsTheStopSignalThenSigkillAfterTheTimeout) {
  auto p = proc("stubborn");
  p.stop_signal = SIGINT;
  p.stop_timeout = 5s;
  load({p});
  sup.start();
  EXPECT_EQ(sup.stop("stubborn"), "");
  EXPECT_EQ(state("stubborn"), State::Stopping);
  ASSERT_EQ(fx.signals.size(), 1u);
  EXPECT_EQ(fx.signals[0].second, SIGINT);
  advance(5s);
  ASSERT_EQ(fx.signals.size(), 2u);
  EXPECT_EQ(fx.signals[1].second, SIGKILL);
  exit_main("stubborn", ExitInfo{.signaled = true, .code = SIGKILL});
  EXPECT_EQ(state("stubborn"), State::Stopped);
  EXPECT_EQ(sup.find("stubborn")->admin, AdminGoal::Stopped);
}

TEST_F(SupervisorTest, StopWaitsForTheWholeGroupNotJustTheMainPid) {
  load({proc("tree")});
  sup.start();
  sup.stop("tree");
  const int p = pid("tree");
  ASSERT_TRUE(sup.on_exit(p, ExitInfo{.signaled = true, .code = SIGTERM}));
  EXPECT_EQ(state("tree"), State::Stopping) << "a grandchild is still in the group";
  fx.alive_groups.erase(p);
  sup.on_group_change();
  EXPECT_EQ(state("tree"), State::Stopped);
}

TEST_F(SupervisorTest, StopCommandRunsBeforeTheSignal) {
  auto p = proc("svc");
  p.stop = Hook{"svc-ctl stop", 5s, {}};
  load({p});
  sup.start();
  sup.stop("svc");
  EXPECT_EQ(state("svc"), State::Stopping);
  EXPECT_EQ(sup.find("svc")->sub_state, "stop-command");
  EXPECT_TRUE(fx.signals.empty());
  exit_main("svc", ExitInfo{.code = 0});
  EXPECT_EQ(state("svc"), State::Stopping) << "the stop command's end decides";
  sup.on_hook_done("svc", HookKind::Stop, HookResult{.ok = true});
  EXPECT_EQ(state("svc"), State::Stopped);
}

TEST_F(SupervisorTest, StopCommandTimeoutFallsBackToTheSignal) {
  auto p = proc("svc");
  p.stop = Hook{"svc-ctl stop", 1s, {}};
  load({p});
  sup.start();
  sup.stop("svc");
  advance(1s);
  ASSERT_EQ(fx.signals.size(), 1u);
  EXPECT_EQ(fx.signals[0].second, SIGTERM);
}

TEST_F(SupervisorTest, ExitLeavingChildrenBehindStopsThemBeforeRestarting) {
  load({proc("forker")});
  sup.start();
  const int p = pid("forker");
  ASSERT_TRUE(sup.on_exit(p, ExitInfo{.code = 1}));  // group still alive
  EXPECT_EQ(state("forker"), State::Stopping);
  fx.alive_groups.erase(p);
  sup.on_group_change();
  EXPECT_EQ(state("forker"), State::Backoff);
  advance(1s);
  EXPECT_EQ(state("forker"), State::Running);
  EXPECT_NE(pid("forker"), p);
}

TEST_F(SupervisorTest, DependentsWaitAndStartInOrder) {
  auto web = proc("web");
  web.depends_on = {dep("db")};
  auto worker = proc("worker");
  worker.depends_on = {dep("web")};
  load({worker, web, proc("db")});
  sup.start();
  EXPECT_EQ(fx.spawned, (std::vector<std::string>{"db", "web", "worker"}));
}

TEST_F(SupervisorTest, DependentStopsWhenItsDependencyLeavesRunningAndComesBack) {
  auto app = proc("app");
  app.depends_on = {dep("db")};
  load({proc("db"), app});
  sup.start();
  ASSERT_EQ(state("app"), State::Running);
  exit_main("db", ExitInfo{.code = 1});
  EXPECT_EQ(state("db"), State::Backoff);
  EXPECT_EQ(state("app"), State::Stopping);
  exit_main("app", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("app"), State::Pending);
  advance(1s);
  EXPECT_EQ(state("db"), State::Running);
  EXPECT_EQ(state("app"), State::Running);
}

TEST_F(SupervisorTest, StartedConditionNeedsOnlySpawn) {
  auto db = proc("db");
  db.init = Hook{"slow", 10s, {}};
  auto app = proc("app");
  app.depends_on = {dep("db", DepCondition::Started)};
  load({db, app});
  sup.start();
  EXPECT_EQ(state("db"), State::Init);
  EXPECT_EQ(state("app"), State::Running);
}

TEST_F(SupervisorTest, CompletedSuccessfullyWaitsForAOneShot) {
  auto mig = proc("migrate");
  mig.one_shot = true;
  mig.restart = RestartPolicy::No;
  auto app = proc("app");
  app.depends_on = {dep("migrate", DepCondition::CompletedSuccessfully)};
  load({mig, app});
  sup.start();
  EXPECT_EQ(state("app"), State::Pending);
  exit_main("migrate", ExitInfo{.code = 0});
  EXPECT_EQ(state("app"), State::Running);
}

TEST_F(SupervisorTest, CompletedSuccessfullyDoesNotStartAfterAFailedOneShot) {
  auto mig = proc("migrate");
  mig.one_shot = true;
  mig.restart = RestartPolicy::No;
  auto app = proc("app");
  auto app2 = proc("app2");
  app.depends_on = {dep("migrate", DepCondition::CompletedSuccessfully)};
  app2.depends_on = {dep("migrate", DepCondition::Completed)};
  load({mig, app, app2});
  sup.start();
  exit_main("migrate", ExitInfo{.code = 4});
  EXPECT_EQ(state("migrate"), State::Failed);
  EXPECT_EQ(state("app"), State::Pending);
  EXPECT_EQ(state("app2"), State::Running);
}

TEST_F(SupervisorTest, ShutdownStopsInReverseDependencyOrder) {
  auto app = proc("app");
  app.depends_on = {dep("db")};
  load({proc("db"), app});
  sup.start();
  sup.shutdown();
  EXPECT_EQ(state("app"), State::Stopping);
  EXPECT_EQ(state("db"), State::Running) << "db waits for its dependent";
  exit_main("app", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("db"), State::Stopping);
  EXPECT_FALSE(sup.shutdown_complete());
  exit_main("db", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_TRUE(sup.shutdown_complete());
}

TEST_F(SupervisorTest, InstancesAreSeparateUnitsAndADependencyWaitsForAll) {
  auto w = proc("worker");
  w.instances = 3;
  auto lb = proc("lb");
  lb.depends_on = {dep("worker")};
  w.init = Hook{"ready", 5s, {}};
  load({w, lb});
  sup.start();
  EXPECT_EQ(sup.resolve("worker"), (std::vector<std::string>{"worker@0", "worker@1", "worker@2"}));
  sup.on_hook_done("worker@0", HookKind::Init, HookResult{.ok = true});
  sup.on_hook_done("worker@1", HookKind::Init, HookResult{.ok = true});
  EXPECT_EQ(state("lb"), State::Pending);
  sup.on_hook_done("worker@2", HookKind::Init, HookResult{.ok = true});
  EXPECT_EQ(state("lb"), State::Running);
  EXPECT_EQ(sup.find("worker@2")->instance, 2u);
}

TEST_F(SupervisorTest, AdminStopIsStickyAndStartUndoesIt) {
  load({proc("web")});
  sup.start();
  sup.stop("web");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  advance(1h);
  EXPECT_EQ(state("web"), State::Stopped);
  EXPECT_EQ(sup.start("web"), "");
  EXPECT_EQ(state("web"), State::Running);
}

TEST_F(SupervisorTest, AdminStopOfADependencyStopsItsDependentsFirstAndStartBringsThemBack) {
  auto app = proc("app");
  app.depends_on = {dep("db")};
  load({proc("db"), app});
  sup.start();
  ASSERT_EQ(state("app"), State::Running);
  EXPECT_EQ(sup.stop("db"), "");
  EXPECT_EQ(state("app"), State::Stopping);
  EXPECT_EQ(state("db"), State::Running) << "db waits for its dependent";
  exit_main("app", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("db"), State::Stopping);
  exit_main("db", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("db"), State::Stopped);
  EXPECT_EQ(state("app"), State::Pending);
  EXPECT_EQ(sup.start("db"), "");
  EXPECT_EQ(state("db"), State::Running);
  EXPECT_EQ(state("app"), State::Running);
}

TEST_F(SupervisorTest, RestartStopsThenStartsAgain) {
  load({proc("web")});
  sup.start();
  const int before = pid("web");
  EXPECT_EQ(sup.restart("web"), "");
  EXPECT_EQ(state("web"), State::Stopping);
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("web"), State::Running);
  EXPECT_NE(pid("web"), before);
}

TEST_F(SupervisorTest, AdminRequestsOnUnknownNamesAreErrorsWithoutSideEffects) {
  load({proc("web")});
  sup.start();
  EXPECT_EQ(sup.stop("nope"), "no process named 'nope'");
  EXPECT_EQ(sup.start("nope"), "no process named 'nope'");
  EXPECT_EQ(sup.restart("nope"), "no process named 'nope'");
  EXPECT_EQ(sup.reset_failed("nope"), "no process named 'nope'");
  EXPECT_EQ(sup.kill("nope", KillWhom::Group, SIGTERM), "no process named 'nope'");
  EXPECT_EQ(sup.remove("nope"), "no process named 'nope'");
  EXPECT_EQ(state("web"), State::Running);
  EXPECT_TRUE(fx.signals.empty());
}

TEST_F(SupervisorTest, UnknownNamesSuggestTheClosestProcess) {
  auto w = proc("worker");
  w.instances = 2;
  load({proc("web"), w});
  sup.start();
  const std::string hint = "no process named 'wbe' (did you mean 'web'?)";
  EXPECT_EQ(sup.start("wbe"), hint);
  EXPECT_EQ(sup.stop("wbe"), hint);
  EXPECT_EQ(sup.restart("wbe"), hint);
  EXPECT_EQ(sup.reset_failed("wbe"), hint);
  EXPECT_EQ(sup.kill("wbe", KillWhom::Main, SIGHUP), hint);
  EXPECT_EQ(sup.remove("wbe"), hint);
  // The id, not one of its instances.
  EXPECT_EQ(sup.stop("wroker"), "no process named 'wroker' (did you mean 'worker'?)");
  EXPECT_EQ(sup.stop("worker@7"), "no process named 'worker@7' (did you mean 'worker@0'?)");
  EXPECT_TRUE(fx.signals.empty());
}

TEST_F(SupervisorTest, PidFileCommandWaitsForThePid) {
  auto p = proc("daemonized", "start-it");
  p.command->type = CommandType::PidFile;
  load({p});
  sup.start();
  EXPECT_EQ(state("daemonized"), State::Starting);
  EXPECT_EQ(sup.find("daemonized")->sub_state, "pid-file");
  EXPECT_TRUE(fx.watching.count("daemonized"));
  ASSERT_TRUE(sup.on_exit(100, ExitInfo{.code = 0}));  // the launcher exits; still waiting
  EXPECT_EQ(state("daemonized"), State::Starting);
  sup.on_main_pid("daemonized", 555, 100, 9);
  EXPECT_EQ(state("daemonized"), State::Running);
  EXPECT_EQ(pid("daemonized"), 555);
}

TEST_F(SupervisorTest, PidFileThatNeverAppearsTimesOutInsteadOfBlockingForever) {
  auto p = proc("daemonized", "start-it");
  p.command->type = CommandType::PidFile;
  p.restart = RestartPolicy::No;
  load({p});
  sup.start();
  ASSERT_TRUE(sup.on_exit(100, ExitInfo{.code = 0}));
  fx.alive_groups.erase(100);
  advance(30s);
  EXPECT_EQ(state("daemonized"), State::Failed);
  EXPECT_NE(sup.find("daemonized")->failure_reason.find("no pid reported within 30s"),
            std::string::npos);
}

TEST_F(SupervisorTest, ReloadWithChangedApplyOnRestarts) {
  auto v1 = proc("svc", "one");
  v1.apply_on = LocalDateTime{2024, 1, 1, 0, 0, 0};
  load({v1});
  sup.start();
  const int before = pid("svc");
  auto v2 = proc("svc", "two");
  v2.apply_on = LocalDateTime{2025, 1, 1, 0, 0, 0};
  cfg.processes = {v1, v2};
  ReloadSummary s = sup.apply_config(cfg);
  EXPECT_EQ(s.restarted, std::vector<std::string>{"svc"});
  exit_main("svc", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("svc"), State::Running);
  EXPECT_NE(pid("svc"), before);
}

TEST_F(SupervisorTest, ReloadWithOnlyACommandChangeMarksRestartPending) {
  auto v1 = proc("svc", "one");
  v1.apply_on = LocalDateTime{2024, 1, 1, 0, 0, 0};
  load({v1});
  sup.start();
  auto changed = v1;
  changed.command->line = "one --verbose";
  cfg.processes = {changed};
  ReloadSummary s = sup.apply_config(cfg);
  EXPECT_EQ(s.changed_pending, std::vector<std::string>{"svc"});
  EXPECT_TRUE(sup.find("svc")->restart_pending);
  EXPECT_TRUE(fx.signals.empty());
  sup.restart("svc");
  exit_main("svc", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_FALSE(sup.find("svc")->restart_pending);
}

TEST_F(SupervisorTest, ReloadAddsAndRemovesProcesses) {
  load({proc("a"), proc("b")});
  sup.start();
  cfg.processes = {proc("a"), proc("c")};
  ReloadSummary s = sup.apply_config(cfg);
  EXPECT_EQ(s.added, std::vector<std::string>{"c"});
  EXPECT_EQ(s.removed, std::vector<std::string>{"b"});
  EXPECT_EQ(state("c"), State::Running);
  EXPECT_EQ(state("b"), State::Stopping);
  exit_main("b", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(sup.find("b"), nullptr);
}

TEST_F(SupervisorTest, RestoreAdoptsALiveProcessWithoutSpawning) {
  load({proc("web")});
  UnitStatus st;
  st.name = st.id = "web";
  st.state = State::Running;
  st.pid = 4242;
  st.pgid = 4242;
  st.restarts = 3;
  fx.alive_groups.insert(4242);
  sup.restore({RestoredUnit{st, true}});
  sup.start();
  EXPECT_EQ(state("web"), State::Running);
  EXPECT_EQ(pid("web"), 4242);
  EXPECT_TRUE(sup.find("web")->adopted);
  EXPECT_EQ(sup.find("web")->restarts, 3u);
  EXPECT_TRUE(fx.spawned.empty());
  // Its exit, unknown in status, is handled by the policy.
  exit_main("web", ExitInfo{.known = false});
  EXPECT_EQ(state("web"), State::Backoff);
}

TEST_F(SupervisorTest, RestoreKeepsTheStartLimitWindowOfAProcmandThatCrashed) {
  auto p = proc("crashy");
  p.restart_delay = Backoff{1s, 1.0, 1s, 1h};
  p.start_limit = StartLimit{2, 60s};
  load({p});
  auto usec_ago = [&](Duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               (clock.now() - d).time_since_epoch())
        .count();
  };
  UnitStatus st;
  st.name = st.id = "crashy";
  st.state = State::Running;
  st.pid = st.pgid = 4242;
  // Started twice in the last 30 s by the procmand before this one: one more start would
  // be the third within 60 s.
  st.start_limit_mono_usec = {usec_ago(30s), usec_ago(10s)};
  fx.alive_groups.insert(4242);
  sup.restore({RestoredUnit{st, true}});
  sup.start();
  exit_main("crashy", ExitInfo{.code = 1});
  advance(1s);
  EXPECT_EQ(state("crashy"), State::StartLimitHit);
  EXPECT_TRUE(fx.spawned.empty());
  // The older start leaves the window 60 s after it was made: 29 s after that exit.
  advance(28s);
  EXPECT_EQ(state("crashy"), State::StartLimitHit);
  advance(1s);
  EXPECT_EQ(state("crashy"), State::Running);
  EXPECT_EQ(fx.spawned.size(), 1u);
}

TEST_F(SupervisorTest, RestoreOfADeadProcessAppliesItsPolicy) {
  auto p = proc("job");
  p.restart = RestartPolicy::No;
  load({proc("web"), p});
  UnitStatus web;
  web.name = web.id = "web";
  web.state = State::Running;
  web.pid = 4242;
  UnitStatus job = web;
  job.name = job.id = "job";
  job.pid = 4343;
  sup.restore({RestoredUnit{web, false}, RestoredUnit{job, false}});
  sup.start();
  EXPECT_EQ(state("web"), State::Backoff);
  EXPECT_EQ(state("job"), State::Failed);
  EXPECT_TRUE(fx.spawned.empty());
}

TEST_F(SupervisorTest, RestoreKeepsACompletedOneShotCompleted) {
  auto p = proc("migrate");
  p.one_shot = true;
  p.restart = RestartPolicy::No;
  load({p});
  UnitStatus st;
  st.name = st.id = "migrate";
  st.state = State::ExitedOk;
  st.done = true;
  sup.restore({RestoredUnit{st, false}});
  sup.start();
  EXPECT_EQ(state("migrate"), State::ExitedOk);
  EXPECT_TRUE(fx.spawned.empty());
}

TEST_F(SupervisorTest, RestoreOfAProcessNoLongerConfiguredStopsIt) {
  load({proc("web")});
  UnitStatus st;
  st.name = st.id = "old";
  st.state = State::Running;
  st.pid = 777;
  st.pgid = 777;
  fx.alive_groups.insert(777);
  sup.restore({RestoredUnit{st, true}});
  sup.start();
  EXPECT_EQ(state("old"), State::Stopping);
  exit_main("old", ExitInfo{.known = false});
  EXPECT_EQ(sup.find("old"), nullptr);
}

TEST_F(SupervisorTest, CountsPerStateFollowEveryTransitionArrivalAndDeparture) {
  // The status line and the bus's counts read count_in() instead of walking every unit.
  auto expect_counts = [&](const char* when) {
    std::map<State, unsigned> walked;
    sup.for_each_status([&](const UnitStatus& u) { ++walked[u.state]; });
    for (int i = 0; i <= static_cast<int>(State::StartLimitHit); ++i) {
      const auto s = static_cast<State>(i);
      EXPECT_EQ(sup.count_in(s), walked[s]) << when << ": " << state_name(s);
    }
  };
  auto w = proc("worker");
  w.instances = 3;
  auto once = proc("migrate");
  once.one_shot = true;
  once.restart = RestartPolicy::No;
  load({w, proc("web"), once});
  expect_counts("loaded");
  UnitStatus old;
  old.name = old.id = "old";
  old.state = State::Running;
  old.pid = old.pgid = 777;
  fx.alive_groups.insert(777);
  UnitStatus done;
  done.name = done.id = "migrate";
  done.state = State::ExitedOk;
  done.done = true;
  sup.restore({RestoredUnit{old, true}, RestoredUnit{done, false}});
  expect_counts("restored");
  sup.start();
  expect_counts("started");
  EXPECT_EQ(sup.count_in(State::Running), 4u);
  exit_main("worker@1", ExitInfo{.code = 1});
  expect_counts("crashed");
  EXPECT_EQ(sup.count_in(State::Backoff), 1u);
  sup.stop("web");
  expect_counts("stopping");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  exit_main("old", ExitInfo{.known = false});
  EXPECT_EQ(sup.find("old"), nullptr);
  expect_counts("stopped and forgotten");
  auto fewer = proc("worker");
  fewer.instances = 1;
  load({fewer, proc("web")});
  expect_counts("reloaded with fewer processes");
  sup.shutdown();
  for (const auto& u : sup.status())
    if (u.pid > 0 && is_active(u.state))
      exit_main(u.name, ExitInfo{.signaled = true, .code = SIGTERM});
  expect_counts("shut down");
  EXPECT_TRUE(sup.shutdown_complete());
}

TEST_F(SupervisorTest, OutsideItsScheduleWindowAProcessDoesNotRun) {
  auto p = proc("office");
  p.schedule = Schedule{TimeOfDay{8 * 3600}, TimeOfDay{18 * 3600}, WeekDays{}};
  clock.local_time = LocalDateTime{2026, 11, 22, 20, 0, 0};
  load({p});
  sup.start();
  EXPECT_EQ(state("office"), State::Stopped);
}

// ---------------------------------------------------------------- checks

HealthCheck http_check(Duration initial_delay, Duration period, unsigned fail, unsigned ok = 1) {
  HealthCheck h;
  h.kind = HealthCheck::Kind::Http;
  h.url = "http://127.0.0.1:1/health";
  h.timeout = 1s;
  h.initial_delay = initial_delay;
  h.period = period;
  h.failure_threshold = fail;
  h.success_threshold = ok;
  return h;
}

TEST_F(SupervisorTest, SlowStarterIsNotCheckedBeforeItsInitialDelay) {
  auto p = proc("slow");
  p.health_check = http_check(30s, 10s, 3);
  load({p});
  sup.start();
  advance(29s);
  EXPECT_TRUE(fx.checks.empty());
  advance(1s);
  ASSERT_EQ(fx.checks.size(), 1u);
  EXPECT_EQ(fx.checks[0].second.role, CheckRole::Liveness);
}

TEST_F(SupervisorTest, LivenessFailuresRestartOnlyAfterTheOldGroupIsGone) {
  auto p = proc("web");
  p.health_check = http_check(0s, 5s, 3);
  load({p});
  sup.start();
  const int old_pid = pid("web");
  for (int i = 0; i < 3; ++i) {
    advance(i == 0 ? 0s : 5s);
    ASSERT_EQ(fx.checks.size(), static_cast<std::size_t>(i + 1));
    sup.on_check_done("web", fx.checks.back().second, false, "HTTP 503 (expected 200)");
  }
  EXPECT_EQ(state("web"), State::Stopping);
  EXPECT_EQ(sup.find("web")->health, "unhealthy");
  advance(1h);  // SIGKILL and beyond: still one process until its group is gone
  EXPECT_EQ(fx.spawned.size(), 1u) << "never a second copy while the first one lives";
  fx.alive_groups.erase(old_pid);
  sup.on_exit(old_pid, ExitInfo{.signaled = true, .code = SIGKILL});
  EXPECT_EQ(state("web"), State::Backoff);
  EXPECT_NE(sup.find("web")->failure_reason.find("health check failed 3 times in a row: HTTP 503"),
            std::string::npos);
  advance(1s);
  EXPECT_EQ(state("web"), State::Running);
  EXPECT_EQ(fx.spawned.size(), 2u);
}

TEST_F(SupervisorTest, ASuccessfulCheckResetsTheFailureCount) {
  auto p = proc("web");
  p.health_check = http_check(0s, 5s, 2);
  load({p});
  sup.start();
  advance(0s);
  sup.on_check_done("web", fx.checks.back().second, false, "refused");
  advance(5s);
  sup.on_check_done("web", fx.checks.back().second, true, "HTTP 200");
  advance(5s);
  sup.on_check_done("web", fx.checks.back().second, false, "refused");
  EXPECT_EQ(state("web"), State::Running);
  EXPECT_EQ(sup.find("web")->health_detail, "refused");
}

TEST_F(SupervisorTest, ReadinessGatesRunningAndDependents) {
  auto db = proc("db");
  db.readiness_check = http_check(2s, 1s, 3, 2);
  auto app = proc("app");
  app.depends_on = {dep("db")};
  load({db, app});
  sup.start();
  EXPECT_EQ(state("db"), State::Init);
  EXPECT_EQ(sup.find("db")->sub_state, "readiness");
  EXPECT_EQ(state("app"), State::Pending);
  advance(2s);
  ASSERT_EQ(fx.checks.size(), 1u);
  EXPECT_EQ(fx.checks[0].second.role, CheckRole::Readiness);
  sup.on_check_done("db", fx.checks.back().second, true, "HTTP 200");
  EXPECT_EQ(state("db"), State::Init) << "success-threshold is 2";
  advance(1s);
  sup.on_check_done("db", fx.checks.back().second, true, "HTTP 200");
  EXPECT_EQ(state("db"), State::Running);
  EXPECT_EQ(state("app"), State::Running);
}

TEST_F(SupervisorTest, AnswersOfAnEarlierRunAreIgnored) {
  auto p = proc("web");
  p.health_check = http_check(0s, 5s, 1);
  load({p});
  sup.start();
  advance(0s);
  const CheckRequest stale = fx.checks.back().second;
  sup.restart("web");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  ASSERT_EQ(state("web"), State::Running);
  sup.on_check_done("web", stale, false, "from the old process");
  EXPECT_EQ(state("web"), State::Running);
}

Dependency url_dep(Duration poll, Duration timeout, bool retry = true) {
  Dependency d;
  d.kind = Dependency::Kind::Url;
  d.target = "http://127.0.0.1:8080/health";
  d.poll_interval = poll;
  d.timeout = timeout;
  d.retry = retry;
  return d;
}

TEST_F(SupervisorTest, DependencyProbeIsPolledUntilItHolds) {
  auto app = proc("app");
  app.depends_on = {url_dep(1s, 60s)};
  load({app});
  sup.start();
  EXPECT_EQ(state("app"), State::Pending);
  EXPECT_EQ(sup.find("app")->sub_state, "waiting for http://127.0.0.1:8080/health to answer 200");
  ASSERT_EQ(fx.checks.size(), 1u);
  sup.on_check_done("app", fx.checks.back().second, false, "connection refused");
  advance(1s);
  ASSERT_EQ(fx.checks.size(), 2u);
  sup.on_check_done("app", fx.checks.back().second, true, "HTTP 200");
  EXPECT_EQ(state("app"), State::Running);
}

TEST_F(SupervisorTest, DependencyProbeTimeoutFailsTheDependentOnly) {
  auto app = proc("app");
  app.depends_on = {url_dep(1s, 5s)};
  load({app, proc("other")});
  sup.start();
  for (int i = 0; i < 6; ++i) {
    if (!fx.checks.empty())
      sup.on_check_done("app", fx.checks.back().second, false, "connection refused");
    advance(1s);
  }
  EXPECT_EQ(state("app"), State::Failed);
  EXPECT_EQ(sup.find("app")->failure_reason,
            "dependency timed out after 5s: http://127.0.0.1:8080/health to answer 200: connection "
            "refused");
  EXPECT_EQ(state("other"), State::Running) << "the rest of procman goes on";
}

TEST_F(SupervisorTest, DependencyProbeWithoutRetryFailsAtTheFirstFailure) {
  auto app = proc("app");
  app.depends_on = {url_dep(1s, 60s, false)};
  load({app});
  sup.start();
  sup.on_check_done("app", fx.checks.back().second, false, "HTTP 500 (expected 200)");
  EXPECT_EQ(state("app"), State::Failed);
  EXPECT_EQ(sup.find("app")->result, "dependency");
}

// ---------------------------------------------------------------- transients

TEST_F(SupervisorTest, ATransientStartsLikeAConfigProcess) {
  load({proc("web")});
  sup.start();
  auto job = proc("job", "sleep 5");
  job.instances = 3;  // forced to 1
  EXPECT_EQ(sup.add_transient(job), "");
  EXPECT_EQ(state("job"), State::Running);
  EXPECT_TRUE(sup.find("job")->transient);
  EXPECT_FALSE(sup.find("web")->transient);
  EXPECT_EQ(sup.resolve("job"), std::vector<std::string>{"job"});
  EXPECT_EQ(fx.spawned_commands.back(), "job:sleep 5");
  EXPECT_EQ(fx.added, (std::vector<std::string>{"web", "job"}));
  EXPECT_EQ(sup.transient_ids(), std::vector<std::string>{"job"});
  ASSERT_NE(sup.transient_config("job"), nullptr);
  EXPECT_TRUE(sup.transient_config("job")->transient);
  EXPECT_EQ(sup.transient_config("web"), nullptr);
}

TEST_F(SupervisorTest, ATransientAddedBeforeStartWaitsForStart) {
  load({proc("web")});
  EXPECT_EQ(sup.add_transient(proc("job")), "");
  EXPECT_EQ(state("job"), State::Stopped);
  EXPECT_TRUE(fx.spawned.empty());
  sup.start();
  EXPECT_EQ(state("job"), State::Running);
}

TEST_F(SupervisorTest, ATransientWaitsForItsDependencies) {
  auto db = proc("db");
  db.init = Hook{"wait-ready", 5s, {}};
  load({db});
  sup.start();
  auto app = proc("app");
  app.depends_on = {dep("db")};
  ASSERT_EQ(sup.add_transient(app), "");
  EXPECT_EQ(state("app"), State::Pending);
  // A transient may depend on another transient.
  auto worker = proc("worker");
  worker.depends_on = {dep("app")};
  ASSERT_EQ(sup.add_transient(worker), "");
  EXPECT_EQ(state("worker"), State::Pending);
  sup.on_hook_done("db", HookKind::Init, HookResult{.ok = true});
  EXPECT_EQ(state("app"), State::Running);
  EXPECT_EQ(state("worker"), State::Running);
  EXPECT_EQ(fx.spawned, (std::vector<std::string>{"db", "app", "worker"}));
}

TEST_F(SupervisorTest, ATransientOneShotRunsOnce) {
  load({});
  sup.start();
  auto job = proc("job");
  job.one_shot = true;
  job.restart = RestartPolicy::No;
  ASSERT_EQ(sup.add_transient(job), "");
  EXPECT_TRUE(sup.find("job")->one_shot);
  exit_main("job", ExitInfo{.code = 0});
  EXPECT_EQ(state("job"), State::ExitedOk);
  advance(1h);
  EXPECT_EQ(fx.spawned.size(), 1u);
}

TEST_F(SupervisorTest, AddTransientRefusesNamesInUseAndUnknownDependencies) {
  auto w = proc("worker");
  w.instances = 2;
  auto f = proc("ghost");
  f.fake = true;
  load({proc("web"), w, f});
  sup.start();
  ASSERT_EQ(sup.add_transient(proc("job")), "");
  EXPECT_EQ(sup.add_transient(proc("web")), "a process named 'web' already exists");
  EXPECT_EQ(sup.add_transient(proc("worker")), "a process named 'worker' already exists");
  EXPECT_EQ(sup.add_transient(proc("ghost")), "a process named 'ghost' already exists");
  EXPECT_EQ(sup.add_transient(proc("job")), "a process named 'job' already exists");
  EXPECT_EQ(sup.add_transient(proc("")), "name '' is invalid: it is empty");
  EXPECT_EQ(sup.add_transient(proc("worker@5")),
            "name 'worker@5' is invalid: it must not contain '@' (it is reserved for instance "
            "names such as 'web@2')");
  auto bad = proc("app");
  bad.depends_on = {dep("wbe")};
  EXPECT_EQ(sup.add_transient(bad),
            "depends-on names an unknown process 'wbe' (did you mean 'web'?)");
  bad.depends_on = {dep("app")};
  EXPECT_EQ(sup.add_transient(bad), "'app' cannot depend on itself");
  EXPECT_EQ(sup.find("app"), nullptr);
  EXPECT_EQ(sup.transient_ids(), std::vector<std::string>{"job"});
  sup.shutdown();
  EXPECT_EQ(sup.add_transient(proc("late")), "procmand is shutting down");
}

TEST_F(SupervisorTest, AddTransientRefusesADependencyCycleThroughARemovedName) {
  load({});
  sup.start();
  ASSERT_EQ(sup.add_transient(proc("a")), "");
  auto b = proc("b");
  b.depends_on = {dep("a")};
  ASSERT_EQ(sup.add_transient(b), "");
  ASSERT_EQ(sup.remove("a"), "");
  exit_main("b", ExitInfo{.signaled = true, .code = SIGTERM});  // dependents stop first
  exit_main("a", ExitInfo{.signaled = true, .code = SIGTERM});
  ASSERT_EQ(sup.find("a"), nullptr);
  EXPECT_EQ(state("b"), State::Pending);
  auto again = proc("a");
  again.depends_on = {dep("b")};
  EXPECT_EQ(sup.add_transient(again), "depending on 'b' would make a cycle: a -> b -> a");
  // Without the cycle the name is free again, and b follows it.
  EXPECT_EQ(sup.add_transient(proc("a")), "");
  EXPECT_EQ(state("b"), State::Running);
}

TEST_F(SupervisorTest, ReloadKeepsTransientsUntouched) {
  load({proc("a"), proc("b")});
  sup.start();
  ASSERT_EQ(sup.add_transient(proc("job")), "");
  const int job_pid = pid("job");
  cfg.processes = {proc("a"), proc("c")};
  ReloadSummary s = sup.apply_config(cfg);
  EXPECT_EQ(s.added, std::vector<std::string>{"c"});
  EXPECT_EQ(s.removed, std::vector<std::string>{"b"});
  EXPECT_EQ(state("job"), State::Running);
  EXPECT_EQ(pid("job"), job_pid);
  EXPECT_FALSE(sup.find("job")->removed);
  EXPECT_EQ(sup.transient_ids(), std::vector<std::string>{"job"});
  EXPECT_EQ(
      std::count(fx.signals.begin(), fx.signals.end(), std::pair<std::string, int>("job", SIGTERM)),
      0);
}

TEST_F(SupervisorTest, ATransientReAddedBeforeRestoreAdoptsItsProcess) {
  load({proc("web")});
  ASSERT_EQ(sup.add_transient(proc("job")), "");
  UnitStatus st;
  st.name = st.id = "job";
  st.state = State::Running;
  st.pid = st.pgid = 4242;
  st.restarts = 2;
  fx.alive_groups.insert(4242);
  sup.restore({RestoredUnit{st, true}});
  sup.start();
  EXPECT_EQ(state("job"), State::Running);
  EXPECT_EQ(pid("job"), 4242);
  EXPECT_TRUE(sup.find("job")->adopted);
  EXPECT_TRUE(sup.find("job")->transient);
  EXPECT_EQ(sup.find("job")->restarts, 2u);
  EXPECT_EQ(fx.spawned, std::vector<std::string>{"web"});
}

TEST_F(SupervisorTest, RemoveRefusesAConfigProcess) {
  load({proc("web")});
  sup.start();
  EXPECT_EQ(sup.remove("web"), "'web' comes from the config file; remove it there and reload");
  EXPECT_EQ(state("web"), State::Running);
  EXPECT_TRUE(fx.signals.empty());
}

TEST_F(SupervisorTest, RemoveStopsATransientAndThenForgetsIt) {
  load({});
  sup.start();
  auto job = proc("job");
  job.stop = Hook{"job-ctl stop", 5s, {}};
  job.stop_timeout = 3s;
  ASSERT_EQ(sup.add_transient(job), "");
  EXPECT_EQ(sup.remove("job"), "");
  EXPECT_EQ(state("job"), State::Stopping);
  EXPECT_EQ(sup.find("job")->sub_state, "stop-command");
  EXPECT_TRUE(sup.find("job")->removed);
  EXPECT_TRUE(sup.transient_ids().empty()) << "the definition goes at once";
  EXPECT_EQ(sup.remove("job"), "") << "removing twice is not an error";
  advance(5s);  // the stop command times out: the stop signal, then SIGKILL
  ASSERT_EQ(fx.signals.size(), 1u);
  EXPECT_EQ(fx.signals[0].second, SIGTERM);
  advance(3s);
  ASSERT_EQ(fx.signals.size(), 2u);
  EXPECT_EQ(fx.signals[1].second, SIGKILL);
  EXPECT_TRUE(fx.removed.empty());
  exit_main("job", ExitInfo{.signaled = true, .code = SIGKILL});
  EXPECT_EQ(sup.find("job"), nullptr);
  EXPECT_EQ(fx.removed, std::vector<std::string>{"job"});
  EXPECT_EQ(fx.log.back(), "job stopped: removed");
}

TEST_F(SupervisorTest, RemovingAStoppedTransientForgetsItAtOnce) {
  load({});
  sup.start();
  auto job = proc("job");
  job.restart = RestartPolicy::No;
  ASSERT_EQ(sup.add_transient(job), "");
  exit_main("job", ExitInfo{.code = 2});
  ASSERT_EQ(state("job"), State::Failed);
  EXPECT_EQ(sup.remove("job"), "");
  EXPECT_EQ(sup.find("job"), nullptr);
  EXPECT_EQ(fx.removed, std::vector<std::string>{"job"});
  EXPECT_EQ(sup.add_transient(proc("job")), "") << "the name is free again";
}

TEST_F(SupervisorTest, RemoveStopsDependentsFirst) {
  load({});
  sup.start();
  ASSERT_EQ(sup.add_transient(proc("db")), "");
  auto app = proc("app");
  app.depends_on = {dep("db")};
  ASSERT_EQ(sup.add_transient(app), "");
  ASSERT_EQ(sup.remove("db"), "");
  EXPECT_EQ(state("app"), State::Stopping);
  EXPECT_EQ(state("db"), State::Running) << "db waits for its dependent";
  exit_main("app", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("app"), State::Pending);
  EXPECT_EQ(state("db"), State::Stopping);
  exit_main("db", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(sup.find("db"), nullptr);
}

TEST_F(SupervisorTest, KillSignalsTheGroupOrTheMainPidWithoutChangingGoals) {
  load({proc("web")});
  sup.start();
  EXPECT_EQ(sup.kill("web", KillWhom::Group, SIGHUP), "");
  EXPECT_EQ(fx.signals, (std::vector<std::pair<std::string, int>>{{"web", SIGHUP}}));
  EXPECT_TRUE(fx.main_signals.empty());
  EXPECT_EQ(sup.kill("web", KillWhom::Main, SIGUSR1), "");
  EXPECT_EQ(fx.main_signals, (std::vector<std::pair<std::string, int>>{{"web", SIGUSR1}}));
  EXPECT_EQ(state("web"), State::Running);
  EXPECT_EQ(sup.find("web")->admin, AdminGoal::Auto);
  // What follows a kill is an ordinary exit: the restart policy applies.
  ASSERT_EQ(sup.kill("web", KillWhom::Group, SIGKILL), "");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGKILL});
  EXPECT_EQ(state("web"), State::Backoff);
  EXPECT_EQ(sup.kill("web", KillWhom::Group, SIGTERM), "'web' has no running process");
  EXPECT_EQ(sup.kill("web", KillWhom::Main, SIGTERM), "'web' has no running process");
}

TEST_F(SupervisorTest, KillOfAnIdWithInstancesSignalsEveryOneThatRuns) {
  auto w = proc("worker");
  w.instances = 3;
  load({w});
  sup.start();
  sup.stop("worker@1");
  exit_main("worker@1", ExitInfo{.signaled = true, .code = SIGTERM});
  fx.signals.clear();
  EXPECT_EQ(sup.kill("worker", KillWhom::Main, SIGUSR2), "");
  EXPECT_EQ(fx.main_signals, (std::vector<std::pair<std::string, int>>{{"worker@0", SIGUSR2},
                                                                       {"worker@2", SIGUSR2}}));
  EXPECT_EQ(sup.kill("worker@1", KillWhom::Group, SIGUSR2), "'worker@1' has no running process");
  EXPECT_TRUE(fx.signals.empty());
}

TEST_F(SupervisorTest, KillReachesAGroupWhoseMainPidIsGone) {
  load({proc("tree")});
  sup.start();
  sup.stop("tree");
  ASSERT_TRUE(sup.on_exit(pid("tree"), ExitInfo{.signaled = true, .code = SIGTERM}));
  ASSERT_EQ(state("tree"), State::Stopping);  // a grandchild lingers
  EXPECT_EQ(sup.kill("tree", KillWhom::Main, SIGKILL), "'tree' has no running process");
  EXPECT_EQ(sup.kill("tree", KillWhom::Group, SIGKILL), "");
  EXPECT_EQ(fx.signals.back(), (std::pair<std::string, int>("tree", SIGKILL)));
}

TEST_F(SupervisorTest, UnitsAddedAndForgottenAreAnnounced) {
  auto w = proc("worker");
  w.instances = 2;
  load({proc("a"), proc("b"), w});
  EXPECT_EQ(fx.added, (std::vector<std::string>{"a", "b", "worker@0", "worker@1"}));
  sup.start();
  fx.added.clear();
  w.instances = 3;
  cfg.processes = {proc("a"), proc("c"), w};
  sup.apply_config(cfg);
  EXPECT_EQ(fx.added, (std::vector<std::string>{"c", "worker@2"}));
  EXPECT_TRUE(fx.removed.empty()) << "b is still stopping";
  exit_main("b", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(fx.removed, std::vector<std::string>{"b"});
  // A unit that has nothing running is forgotten at once.
  sup.stop("c");
  exit_main("c", ExitInfo{.signaled = true, .code = SIGTERM});
  cfg.processes = {proc("a"), w};
  sup.apply_config(cfg);
  EXPECT_EQ(fx.removed, (std::vector<std::string>{"b", "c"}));
}

TEST(Describe, ExitsAreDescribedPrecisely) {
  EXPECT_EQ(describe_exit(ExitInfo{.code = 3}), "exited with code 3");
  EXPECT_EQ(describe_exit(ExitInfo{.signaled = true, .code = SIGKILL}), "killed by SIGKILL");
  EXPECT_EQ(describe_exit(ExitInfo{.known = false}),
            "exited while procmand was not watching (status unknown)");
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_name(99), "signal 99");
}

}  // namespace
}  // namespace procman::core

// ---------------------------------------------------------------- sd_notify (ready = "notify")

namespace procman::core {
namespace {

class NotifyTest : public SupervisorTest {
 protected:
  static NotifyEvent ready() {
    NotifyEvent e;
    e.ready = true;
    return e;
  }
  static NotifyEvent ping() {
    NotifyEvent e;
    e.watchdog_ping = true;
    return e;
  }
  ProcessConfig notify_proc(const std::string& id) {
    auto p = proc(id);
    p.ready = ReadyMode::Notify;
    p.start_timeout = 30s;
    return p;
  }
};

TEST_F(NotifyTest, ReadyOneGatesRunningAndDependents) {
  auto app = proc("app");
  app.depends_on = {dep("db")};
  load({notify_proc("db"), app});
  sup.start();
  EXPECT_EQ(state("db"), State::Init);
  EXPECT_EQ(sup.find("db")->sub_state, "notify");
  EXPECT_EQ(state("app"), State::Pending);
  NotifyEvent status;
  status.status = "loading 3/10";
  sup.on_notify("db", status);
  EXPECT_EQ(state("db"), State::Init);
  EXPECT_EQ(sup.find("db")->notify_status, "loading 3/10");
  sup.on_notify("db", ready());
  EXPECT_EQ(state("db"), State::Running);
  EXPECT_EQ(state("app"), State::Running);
}

TEST_F(NotifyTest, NoReadyWithinStartTimeoutFailsTheAttempt) {
  load({notify_proc("db")});
  sup.start();
  advance(29s);
  EXPECT_EQ(state("db"), State::Init);
  advance(1s);
  EXPECT_EQ(state("db"), State::Stopping);
  EXPECT_EQ(fx.signals.back(), std::make_pair(std::string("db"), SIGTERM));
  exit_main("db", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(state("db"), State::Backoff);
  EXPECT_NE(sup.find("db")->failure_reason.find("did not send READY=1 within 30s"),
            std::string::npos);
}

TEST_F(NotifyTest, ExtendTimeoutPushesTheStartDeadlineOut) {
  load({notify_proc("db")});
  sup.start();
  advance(20s);
  NotifyEvent extend;
  extend.extend_timeout_usec = 60'000'000;
  sup.on_notify("db", extend);
  advance(50s);  // 70 s after the start: past start-timeout, inside the extension
  EXPECT_EQ(state("db"), State::Init);
  advance(10s);
  EXPECT_EQ(state("db"), State::Stopping);
}

TEST_F(NotifyTest, ReadyBeforeTheInitCommandFinishedStillCounts) {
  auto p = notify_proc("db");
  p.init = Hook{"migrate", 10s, {}};
  load({p});
  sup.start();
  EXPECT_EQ(state("db"), State::Init);
  sup.on_notify("db", ready());
  EXPECT_EQ(state("db"), State::Init) << "the init command still runs";
  sup.on_hook_done("db", HookKind::Init, HookResult{.ok = true});
  EXPECT_EQ(state("db"), State::Running);
}

TEST_F(NotifyTest, MissedWatchdogKillsWithSigabrtAndRestarts) {
  auto p = notify_proc("db");
  p.watchdog = 2s;
  load({p});
  sup.start();
  sup.on_notify("db", ready());
  ASSERT_EQ(state("db"), State::Running);
  EXPECT_EQ(sup.find("db")->watchdog_usec, 2'000'000);
  for (int i = 0; i < 5; ++i) {
    advance(1500ms);
    sup.on_notify("db", ping());
  }
  EXPECT_EQ(state("db"), State::Running) << "pings keep it alive";
  const int first = pid("db");
  advance(2s);
  EXPECT_EQ(state("db"), State::Stopping);
  EXPECT_EQ(fx.signals.back(), std::make_pair(std::string("db"), SIGABRT));
  exit_main("db", ExitInfo{.signaled = true, .code = SIGABRT});
  EXPECT_EQ(state("db"), State::Backoff);
  EXPECT_EQ(sup.find("db")->result, "watchdog");
  EXPECT_NE(sup.find("db")->failure_reason.find("watchdog timeout"), std::string::npos);
  advance(1s);
  EXPECT_EQ(state("db"), State::Init);
  EXPECT_NE(pid("db"), first);
  EXPECT_EQ(sup.find("db")->restarts, 1u);
}

TEST_F(NotifyTest, WatchdogTriggerActsAtOnceAndWatchdogUsecChangesTheInterval) {
  auto p = proc("svc");
  p.watchdog = 10s;
  load({p});
  sup.start();
  ASSERT_EQ(state("svc"), State::Running);
  NotifyEvent longer;
  longer.watchdog_usec = 60'000'000;
  sup.on_notify("svc", longer);
  advance(30s);
  EXPECT_EQ(state("svc"), State::Running);
  NotifyEvent trigger;
  trigger.watchdog_trigger = true;
  sup.on_notify("svc", trigger);
  EXPECT_EQ(state("svc"), State::Stopping);
  EXPECT_EQ(fx.signals.back(), std::make_pair(std::string("svc"), SIGABRT));
}

TEST_F(NotifyTest, MainPidRetargetsSupervision) {
  load({notify_proc("d")});
  sup.start();
  const int launcher = pid("d");
  NotifyEvent e = ready();
  e.main_pid = std::make_pair(4242, uint64_t{77});
  sup.on_notify("d", e);
  EXPECT_EQ(state("d"), State::Running);
  EXPECT_EQ(pid("d"), 4242);
  EXPECT_EQ(sup.find("d")->pid_start_time, 77u);
  EXPECT_FALSE(sup.on_exit(launcher, ExitInfo{.code = 0}))
      << "the launcher's exit is no longer the unit's";
  EXPECT_EQ(state("d"), State::Running);
  EXPECT_EQ(sup.find_by_pid(4242)->name, "d");
  EXPECT_TRUE(sup.on_exit(4242, ExitInfo{.code = 1}));
}

TEST_F(NotifyTest, StoppingIsShownAndNotifyForAStoppedUnitIsIgnored) {
  load({notify_proc("d")});
  sup.start();
  sup.on_notify("d", ready());
  NotifyEvent stopping;
  stopping.stopping = true;
  sup.on_notify("d", stopping);
  EXPECT_EQ(state("d"), State::Running);
  EXPECT_EQ(sup.find("d")->sub_state, "stopping");
  sup.stop("d");
  exit_main("d", ExitInfo{.signaled = true, .code = SIGTERM});
  ASSERT_EQ(state("d"), State::Stopped);
  NotifyEvent late = ready();
  late.status = "late";
  sup.on_notify("d", late);
  EXPECT_EQ(state("d"), State::Stopped);
  EXPECT_EQ(sup.find("d")->notify_status, "");
}

TEST_F(NotifyTest, StartOnDemandWaitsForAConnectionAndReturnsToWaitingAfterACleanExit) {
  auto p = proc("web");
  p.sockets = {SocketConfig{"tcp:127.0.0.1:8080", "", {}}};
  p.start_on_demand = true;
  load({p});
  sup.start();
  EXPECT_TRUE(fx.spawned.empty());
  EXPECT_FALSE(is_active(state("web")));
  EXPECT_EQ(sup.activate("web"), "");
  EXPECT_EQ(state("web"), State::Running);
  exit_main("web", ExitInfo{.code = 0});
  EXPECT_EQ(state("web"), State::Stopped) << "an idle exit is not restarted";
  EXPECT_EQ(fx.spawned.size(), 1u);
  sup.activate("web");
  EXPECT_EQ(state("web"), State::Running);
  exit_main("web", ExitInfo{.code = 3});
  EXPECT_EQ(state("web"), State::Backoff) << "a crash is restarted as usual";
  EXPECT_NE(sup.activate("nope"), "");
  load({proc("plain")});
  EXPECT_NE(sup.activate("plain"), "");
}

}  // namespace
}  // namespace procman::core
