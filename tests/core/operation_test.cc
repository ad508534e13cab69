// When admin operations complete, driven by the real Supervisor in a fake
// world: every transition and removal is fed to PendingOps as the daemon does.
#include "core/operation.h"

#include "fake_world.h"

#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace procman::core {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeEffects;
using testing::proc;

class OperationTest : public ::testing::Test {
 protected:
  OperationTest() {
    fx.on_transition = [this](const UnitStatus& u, State from) { ops.on_transition(u, from); };
    fx.on_removed = [this](const std::string& name) { ops.on_removed(name); };
  }
  void load(std::vector<ProcessConfig> ps) {
    cfg.uid = "u";
    cfg.processes = std::move(ps);
    sup.apply_config(cfg);
    sup.start();
  }
  /// Asks the supervisor, then tracks the operation, as the daemon does.
  uint64_t request(OpKind kind, const std::string& name) {
    const std::vector<std::string> units = sup.resolve(name);
    std::string err;
    switch (kind) {
      case OpKind::Start:
        err = sup.start(name);
        break;
      case OpKind::Stop:
        err = sup.stop(name);
        break;
      case OpKind::Restart:
        err = sup.restart(name);
        break;
      case OpKind::Remove:
        err = sup.remove(name);
        break;
    }
    EXPECT_EQ(err, "");
    return ops.add(kind, units, lookup);
  }
  std::vector<OpOutcome> ready() { return ops.take_ready(lookup); }
  /// The single outcome ready now.
  OpOutcome one() {
    auto out = ready();
    EXPECT_EQ(out.size(), 1u);
    return out.empty() ? OpOutcome{} : out.front();
  }
  void exit_main(const std::string& name, ExitInfo e) {
    const UnitStatus* u = sup.find(name);
    ASSERT_NE(u, nullptr);
    const int pid = u->pid;
    fx.alive_groups.erase(u->pgid);
    ASSERT_TRUE(sup.on_exit(pid, e));
  }
  void stopped_by_admin(const std::string& name) {
    sup.stop(name);
    exit_main(name, ExitInfo{.signaled = true, .code = SIGTERM});
    ASSERT_EQ(sup.find(name)->state, State::Stopped);
  }

  FakeClock clock;
  FakeEffects fx;
  Supervisor sup{fx, clock};
  PendingOps ops;
  Config cfg;
  UnitLookup lookup = [this](std::string_view n) { return sup.find(n); };
};

ProcessConfig with_init(ProcessConfig p) {
  p.init = Hook{"wait-ready", 5s, {}};
  return p;
}

TEST_F(OperationTest, StartCompletesWhenTheProcessIsRunning) {
  load({with_init(proc("web"))});
  sup.on_hook_done("web", HookKind::Init, HookResult{.ok = true});
  stopped_by_admin("web");
  const uint64_t id = request(OpKind::Start, "web");
  EXPECT_NE(id, 0u);
  EXPECT_TRUE(ready().empty()) << "still running its init command";
  EXPECT_FALSE(ops.empty());
  sup.on_hook_done("web", HookKind::Init, HookResult{.ok = true});
  OpOutcome o = one();
  EXPECT_EQ(o.id, id);
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "running");
  EXPECT_EQ(o.message, "");
  EXPECT_TRUE(ops.empty());
  EXPECT_TRUE(ready().empty()) << "an outcome is handed out once";
}

TEST_F(OperationTest, StartOfAProcessAlreadyRunningCompletesAtOnce) {
  load({proc("web")});
  request(OpKind::Start, "web");
  EXPECT_TRUE(one().ok);
}

TEST_F(OperationTest, StartThatCannotExecFailsWithTheReason) {
  auto p = proc("web");
  p.restart = RestartPolicy::No;
  load({p});
  stopped_by_admin("web");
  fx.fail_spawn.insert("web");
  request(OpKind::Start, "web");
  OpOutcome o = one();
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.state, "failed");
  EXPECT_EQ(o.message, "failed: exec \"x\": No such file or directory");
}

TEST_F(OperationTest, StartThatWillBeRetriedFailsNowAndSaysSo) {
  load({proc("web")});
  stopped_by_admin("web");
  fx.fail_spawn.insert("web");
  request(OpKind::Start, "web");
  OpOutcome o = one();
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.state, "backoff");
  EXPECT_EQ(o.message, "start failed: exec \"x\": No such file or directory; restarting in 1s");
}

TEST_F(OperationTest, StartThatHitsTheStartLimitFails) {
  auto p = proc("web");
  p.start_limit = StartLimit{1, 1h};
  load({p});
  stopped_by_admin("web");
  request(OpKind::Start, "web");
  OpOutcome o = one();
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.state, "start-limit-hit");
  EXPECT_EQ(o.message.rfind("start limit hit: started 1 times within 1h", 0), 0u) << o.message;
}

TEST_F(OperationTest, StopCompletesOnceTheGroupIsGone) {
  auto p = proc("web");
  p.stop_timeout = 2s;
  load({p});
  request(OpKind::Stop, "web");
  EXPECT_TRUE(ready().empty());
  clock.advance(2s);
  sup.on_timer();  // SIGKILL
  EXPECT_TRUE(ready().empty());
  exit_main("web", ExitInfo{.signaled = true, .code = SIGKILL});
  OpOutcome o = one();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "stopped");
}

TEST_F(OperationTest, StopOfSomethingNotRunningCompletesAtOnce) {
  auto p = proc("web");
  p.restart = RestartPolicy::No;
  load({p});
  exit_main("web", ExitInfo{.code = 1});
  ASSERT_EQ(sup.find("web")->state, State::Failed);
  request(OpKind::Stop, "web");
  OpOutcome o = one();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "failed");
}

TEST_F(OperationTest, RestartWaitsForTheNewProcessNotTheOldOne) {
  load({with_init(proc("web"))});
  sup.on_hook_done("web", HookKind::Init, HookResult{.ok = true});
  ASSERT_EQ(sup.find("web")->state, State::Running);
  request(OpKind::Restart, "web");
  EXPECT_TRUE(ready().empty()) << "the old process is stopping";
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  EXPECT_EQ(sup.find("web")->state, State::Init);
  EXPECT_TRUE(ready().empty()) << "the new one is not ready yet";
  sup.on_hook_done("web", HookKind::Init, HookResult{.ok = true});
  OpOutcome o = one();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "running");
}

TEST_F(OperationTest, RestartOfAFailedProcessCompletesWithItsNewStart) {
  auto p = proc("web");
  p.restart = RestartPolicy::No;
  load({p});
  exit_main("web", ExitInfo{.code = 1});
  request(OpKind::Restart, "web");
  OpOutcome o = one();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "running");
}

TEST_F(OperationTest, RestartWhoseNewStartFailsFails) {
  auto p = proc("web");
  p.restart = RestartPolicy::No;
  load({p});
  request(OpKind::Restart, "web");
  fx.fail_spawn.insert("web");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  OpOutcome o = one();
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.message, "failed: exec \"x\": No such file or directory");
}

TEST_F(OperationTest, StartOfAOneShotCompletesWhenItHasRun) {
  auto job = proc("migrate");
  job.one_shot = true;
  job.restart = RestartPolicy::No;
  load({job});
  exit_main("migrate", ExitInfo{.code = 0});
  request(OpKind::Start, "migrate");
  ASSERT_EQ(sup.find("migrate")->state, State::Running);
  EXPECT_TRUE(ready().empty()) << "a one-shot is started once it has run";
  exit_main("migrate", ExitInfo{.code = 0});
  OpOutcome o = one();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "exited-ok");
  request(OpKind::Start, "migrate");
  exit_main("migrate", ExitInfo{.code = 3});
  o = one();
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.message, "failed: exited with code 3");
}

TEST_F(OperationTest, StartWaitsForDependenciesThenSucceeds) {
  auto app = proc("app");
  Dependency d;
  d.id = "db";
  app.depends_on = {d};
  load({with_init(proc("db")), app});
  ASSERT_EQ(sup.find("app")->state, State::Pending);
  request(OpKind::Start, "app");
  EXPECT_TRUE(ready().empty()) << "waiting for db is part of starting";
  clock.advance(4s);
  sup.on_timer();
  EXPECT_TRUE(ready().empty());
  sup.on_hook_done("db", HookKind::Init, HookResult{.ok = true});
  OpOutcome o = one();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "running");
}

TEST_F(OperationTest, AStartOvertakenByAStopDoesNotWaitForever) {
  load({with_init(proc("web"))});
  stopped_by_admin("web");
  request(OpKind::Start, "web");
  EXPECT_TRUE(ready().empty());
  sup.stop("web");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  OpOutcome o = one();
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.state, "stopped");
  EXPECT_EQ(o.message, "not started: killed by SIGTERM");
}

TEST_F(OperationTest, ASuccessIsNotUndoneByALaterCrashBeforeItWasTaken) {
  load({with_init(proc("web"))});
  stopped_by_admin("web");
  request(OpKind::Start, "web");
  sup.on_hook_done("web", HookKind::Init, HookResult{.ok = true});
  exit_main("web", ExitInfo{.code = 1});
  ASSERT_EQ(sup.find("web")->state, State::Backoff);
  OpOutcome o = one();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "backoff") << "the state is the latest seen";
}

TEST_F(OperationTest, ManyOperationsEachSeeTheirOwnUnitsTransitionsWhileOthersComplete) {
  // 30 starts, each of a unit that reaches running and crashes before the outcome is taken:
  // only the transition fed at the time says it started. They complete in an order unrelated
  // to the one they were added in, so finished operations leave from the middle of the list.
  std::vector<ProcessConfig> ps;
  for (int i = 0; i < 30; ++i) ps.push_back(with_init(proc("p" + std::to_string(i))));
  load(ps);
  std::map<std::string, uint64_t> start_of;
  for (int i = 0; i < 30; ++i) {
    const std::string n = "p" + std::to_string(i);
    stopped_by_admin(n);
    start_of[n] = request(OpKind::Start, n);
  }
  const uint64_t second = ops.add(OpKind::Start, {"p7"}, lookup);  // another caller waits too
  EXPECT_TRUE(ready().empty());
  for (int k = 0; k < 30; ++k) {
    const std::string n = "p" + std::to_string(k * 7 % 30);
    sup.on_hook_done(n, HookKind::Init, HookResult{.ok = true});
    exit_main(n, ExitInfo{.code = 1});
    ASSERT_EQ(sup.find(n)->state, State::Backoff);
    std::set<uint64_t> ids;
    for (const OpOutcome& o : ready()) {
      ids.insert(o.id);
      EXPECT_TRUE(o.ok) << n << ": " << o.message;
    }
    std::set<uint64_t> want{start_of[n]};
    if (n == "p7") want.insert(second);
    EXPECT_EQ(ids, want) << n;
  }
  EXPECT_TRUE(ops.empty());
}

TEST_F(OperationTest, RemoveCompletesWhenTheUnitIsForgotten) {
  load({});
  ASSERT_EQ(sup.add_transient(proc("job")), "");
  request(OpKind::Remove, "job");
  EXPECT_TRUE(ready().empty()) << "still stopping";
  exit_main("job", ExitInfo{.signaled = true, .code = SIGTERM});
  OpOutcome o = one();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "removed");
}

TEST_F(OperationTest, RemoveOfAStoppedTransientCompletesAtOnce) {
  load({});
  auto job = proc("job");
  job.restart = RestartPolicy::No;
  ASSERT_EQ(sup.add_transient(job), "");
  exit_main("job", ExitInfo{.code = 0});
  request(OpKind::Remove, "job");  // forgotten inside remove(), before add()
  OpOutcome o = one();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.state, "removed");
}

TEST_F(OperationTest, AStartWhoseUnitIsRemovedFails) {
  load({with_init(proc("db"))});
  auto app = proc("app");
  Dependency d;
  d.id = "db";
  app.depends_on = {d};
  ASSERT_EQ(sup.add_transient(app), "");
  request(OpKind::Start, "app");
  EXPECT_EQ(sup.remove("app"), "");
  OpOutcome o = one();
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.message, "'app' was removed");
}

TEST_F(OperationTest, SeveralInstancesCompleteTogetherAndNameTheirFailures) {
  auto w = with_init(proc("worker"));
  w.instances = 3;
  w.restart = RestartPolicy::No;
  load({w});
  for (const char* n : {"worker@0", "worker@1", "worker@2"}) stopped_by_admin(n);
  fx.fail_spawn.insert("worker@1");
  request(OpKind::Start, "worker");
  EXPECT_TRUE(ready().empty());
  sup.on_hook_done("worker@0", HookKind::Init, HookResult{.ok = true});
  EXPECT_TRUE(ready().empty()) << "worker@2 is not there yet";
  sup.on_hook_done("worker@2", HookKind::Init, HookResult{.ok = true});
  OpOutcome o = one();
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.state, "running");
  EXPECT_EQ(o.message, "worker@1: failed: exec \"x\": No such file or directory");
}

TEST_F(OperationTest, OutcomesComeInTheOrderOperationsWereAdded) {
  load({proc("a"), proc("b")});
  const uint64_t stop_a = request(OpKind::Stop, "a");
  const uint64_t start_b = request(OpKind::Start, "b");
  auto out = ready();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, start_b);
  exit_main("a", ExitInfo{.signaled = true, .code = SIGTERM});
  out = ready();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, stop_a);
}

TEST_F(OperationTest, CancelAllCompletesWhatIsLeft) {
  load({with_init(proc("web")), proc("other")});
  const uint64_t start = request(OpKind::Start, "web");
  const uint64_t stop = request(OpKind::Stop, "other");
  exit_main("other", ExitInfo{.signaled = true, .code = SIGTERM});
  auto out = ops.cancel_all("procmand is shutting down");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].id, start);
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[0].message, "procmand is shutting down");
  EXPECT_EQ(out[0].state, "init");
  EXPECT_EQ(out[1].id, stop);
  EXPECT_TRUE(out[1].ok) << "it had completed";
  EXPECT_TRUE(ops.empty());
}

TEST(OpKind, HasNames) {
  EXPECT_EQ(op_kind_name(OpKind::Start), "start");
  EXPECT_EQ(op_kind_name(OpKind::Remove), "remove");
}

}  // namespace
}  // namespace procman::core
