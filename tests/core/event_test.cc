// Event hooks and controller events: which hooks each real transition of the
// supervisor fires (driven with the fake world, as the daemon sees them
// through Effects::transition), the hook environment, and the exact JSON lines.
#include "core/event.h"

#include "fake_world.h"

#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <string>
#include <vector>

namespace procman::core {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeEffects;
using testing::proc;
using Env = std::map<std::string, std::string>;

// ---------------------------------------------------------------------------
// Pure functions on hand-made statuses

UnitStatus unit(State s, int pid = -1) {
  UnitStatus u;
  u.name = u.id = "web";
  u.state = s;
  u.pid = pid;
  return u;
}

std::vector<std::string> kinds(const std::vector<EventKind>& v) {
  std::vector<std::string> out;
  for (EventKind k : v) out.emplace_back(event_kind_name(k));
  return out;
}

using Names = std::vector<std::string>;

TEST(EventKind, NamesAreTheHookSuffixes) {
  EXPECT_EQ(event_kind_name(EventKind::Start), "start");
  EXPECT_EQ(event_kind_name(EventKind::Exit), "exit");
  EXPECT_EQ(event_kind_name(EventKind::Failure), "failure");
}

TEST(EventKind, EventHookFindsTheMatchingHook) {
  ProcessConfig p = proc("web");
  EXPECT_EQ(event_hook(p, EventKind::Start), nullptr);
  p.on_exit = Hook{"log-exit", 30s, {}};
  p.on_failure = Hook{"page", 5s, {}};
  EXPECT_EQ(event_hook(p, EventKind::Start), nullptr);
  ASSERT_NE(event_hook(p, EventKind::Exit), nullptr);
  EXPECT_EQ(event_hook(p, EventKind::Exit)->command, "log-exit");
  ASSERT_NE(event_hook(p, EventKind::Failure), nullptr);
  EXPECT_EQ(event_hook(p, EventKind::Failure)->command, "page");
}

TEST(HookEvents, EnteringRunningIsAStart) {
  EXPECT_EQ(kinds(hook_events(unit(State::Running, 10), State::Stopped)), Names{"start"});
  EXPECT_EQ(kinds(hook_events(unit(State::Running, 10), State::Init)), Names{"start"});
  EXPECT_EQ(kinds(hook_events(unit(State::Running, 10), State::Backoff)), Names{"start"});
  EXPECT_EQ(kinds(hook_events(unit(State::Running, 10), State::Starting)), Names{"start"});
  // A status-only report (a skipped cron tick) keeps the state: no new start.
  EXPECT_TRUE(hook_events(unit(State::Running, 10), State::Running).empty());
}

TEST(HookEvents, AReadoptedProcessDidNotStart) {
  UnitStatus u = unit(State::Running, 4242);
  u.adopted = true;
  EXPECT_TRUE(hook_events(u, State::Stopped).empty());
}

TEST(HookEvents, StatesOnTheWayUpAndDownFireNothing) {
  EXPECT_TRUE(hook_events(unit(State::Pending), State::Stopped).empty());
  EXPECT_TRUE(hook_events(unit(State::Before), State::Pending).empty());
  EXPECT_TRUE(hook_events(unit(State::Starting), State::Before).empty());
  EXPECT_TRUE(hook_events(unit(State::Init, 10), State::Starting).empty());
  EXPECT_TRUE(hook_events(unit(State::Stopping, 10), State::Running).empty());
  EXPECT_TRUE(hook_events(unit(State::Stopping, 10), State::Stopping).empty());  // SIGKILL
  EXPECT_TRUE(hook_events(unit(State::Stopped), State::Failed).empty());         // start requested
  EXPECT_TRUE(hook_events(unit(State::Stopped), State::Backoff).empty());
}

TEST(HookEvents, LeavingAProcessStateForOneWithoutIsAnExit) {
  for (State from : {State::Starting, State::Init, State::Running, State::Stopping}) {
    UnitStatus stopped = unit(State::Stopped);
    EXPECT_EQ(kinds(hook_events(stopped, from)), Names{"exit"}) << state_name(from);
    UnitStatus ok = unit(State::ExitedOk);
    ok.result = "success";
    EXPECT_EQ(kinds(hook_events(ok, from)), Names{"exit"}) << state_name(from);
  }
  // The before command is not the process: its end is no exit.
  EXPECT_TRUE(hook_events(unit(State::Stopped), State::Before).empty());
}

TEST(HookEvents, AFailedRunIsAnExitAndAFailure) {
  UnitStatus failed = unit(State::Failed);
  failed.result = "exit-code";
  EXPECT_EQ(kinds(hook_events(failed, State::Running)), (Names{"exit", "failure"}));
  UnitStatus backoff = unit(State::Backoff);
  backoff.result = "signal";
  EXPECT_EQ(kinds(hook_events(backoff, State::Stopping)), (Names{"exit", "failure"}));
}

TEST(HookEvents, BackoffAfterASuccessIsOnlyAnExit) {
  UnitStatus u = unit(State::Backoff);
  u.result = "success";
  EXPECT_EQ(kinds(hook_events(u, State::Running)), Names{"exit"});
}

TEST(HookEvents, FailuresWithoutAProcessAreOnlyFailures) {
  UnitStatus spawn_failed = unit(State::Backoff);
  spawn_failed.result = "start-failed";
  EXPECT_EQ(kinds(hook_events(spawn_failed, State::Stopped)), Names{"failure"});
  EXPECT_EQ(kinds(hook_events(spawn_failed, State::Before)), Names{"failure"});
  // Backoff again: the restart failed before leaving backoff.
  EXPECT_EQ(kinds(hook_events(spawn_failed, State::Backoff)), Names{"failure"});
  UnitStatus dep = unit(State::Failed);
  dep.result = "dependency";
  EXPECT_EQ(kinds(hook_events(dep, State::Pending)), Names{"failure"});
  UnitStatus limit = unit(State::StartLimitHit);
  limit.result = "exit-code";
  EXPECT_EQ(kinds(hook_events(limit, State::Backoff)), Names{"failure"});
  EXPECT_EQ(kinds(hook_events(limit, State::Stopped)), Names{"failure"});
}

TEST(EventEnv, HasEveryVariableForAnExitByCode) {
  UnitStatus u = unit(State::Backoff);
  u.name = "worker@2";
  u.id = "worker";
  u.instance = 2;
  u.last_exit = ExitInfo{.code = 3};
  u.result = "exit-code";
  u.restarts = 4;
  const Env env =
      event_env(EventKind::Exit, u, State::Running, "exited with code 3; restarting in 2s", 321);
  EXPECT_EQ(env, (Env{
                     {"PROCMAN_EVENT", "exit"},
                     {"PROCMAN_NAME", "worker@2"},
                     {"PROCMAN_ID", "worker"},
                     {"PROCMAN_INSTANCE", "2"},
                     {"PROCMAN_STATE", "backoff"},
                     {"PROCMAN_OLD_STATE", "running"},
                     {"PROCMAN_SUB_STATE", ""},
                     {"PROCMAN_PID", "321"},
                     {"PROCMAN_EXIT_CODE", "3"},
                     {"PROCMAN_EXIT_SIGNAL", ""},
                     {"PROCMAN_RESULT", "exit-code"},
                     {"PROCMAN_REASON", "exited with code 3; restarting in 2s"},
                     {"PROCMAN_RESTARTS", "4"},
                 }));
}

TEST(EventEnv, SignalDeathNamesTheSignal) {
  UnitStatus u = unit(State::Stopped);
  u.last_exit = ExitInfo{.signaled = true, .code = SIGKILL};
  u.result = "signal";
  const Env env = event_env(EventKind::Exit, u, State::Stopping, "killed by SIGKILL");
  EXPECT_EQ(env.at("PROCMAN_EXIT_SIGNAL"), "SIGKILL");
  EXPECT_EQ(env.at("PROCMAN_EXIT_CODE"), "");
  EXPECT_EQ(env.at("PROCMAN_PID"), "") << "no last_pid given";
}

TEST(EventEnv, AnUnobservedExitHasNeitherCodeNorSignal) {
  UnitStatus u = unit(State::Backoff);
  u.last_exit = ExitInfo{.known = false};
  u.result = "unknown";
  const Env env = event_env(EventKind::Failure, u, State::Running, "exited", 77);
  EXPECT_EQ(env.at("PROCMAN_EXIT_CODE"), "");
  EXPECT_EQ(env.at("PROCMAN_EXIT_SIGNAL"), "");
  EXPECT_EQ(env.at("PROCMAN_RESULT"), "unknown");
  EXPECT_EQ(env.at("PROCMAN_PID"), "77") << "the failure is about the same process";
}

TEST(EventEnv, PidIsTheLiveOneAndLastPidOnlyForAnExit) {
  EXPECT_EQ(event_env(EventKind::Start, unit(State::Running, 55), State::Stopped, "", 9)
                .at("PROCMAN_PID"),
            "55");
  // A failure with no process (the spawn failed) is about no pid, whatever came before.
  UnitStatus u = unit(State::Backoff);
  u.result = "start-failed";
  EXPECT_EQ(event_env(EventKind::Failure, u, State::Stopped, "exec failed", 9).at("PROCMAN_PID"),
            "");
}

TEST(EventJson, StateEventHasEveryFieldInOrder) {
  UnitStatus u = unit(State::Backoff);
  u.last_exit = ExitInfo{.code = 1};
  u.result = "exit-code";
  u.restarts = 2;
  EXPECT_EQ(state_event_json(u, State::Running, "exited with code 1; restarting in 1s",
                             1700000000123456, 4242),
            R"({"event":"state","name":"web","id":"web","instance":0,"from":"running",)"
            R"("to":"backoff","sub_state":"","pid":4242,"exit_code":1,"exit_signal":null,)"
            R"("result":"exit-code","reason":"exited with code 1; restarting in 1s",)"
            R"("restarts":2,"time_usec":1700000000123456,"hooks":["exit","failure"]})");
}

TEST(EventJson, StateEventWithoutProcessOrExitUsesNulls) {
  UnitStatus u = unit(State::Pending);
  u.sub_state = "waiting for db (running)";
  EXPECT_EQ(state_event_json(u, State::Stopped, "waiting for db (running)", 5),
            R"({"event":"state","name":"web","id":"web","instance":0,"from":"stopped",)"
            R"j("to":"pending","sub_state":"waiting for db (running)","pid":null,)j"
            R"("exit_code":null,"exit_signal":null,"result":"",)"
            R"j("reason":"waiting for db (running)","restarts":0,"time_usec":5,"hooks":[]})j");
}

TEST(EventJson, StateEventOfAStopNamesTheSignal) {
  UnitStatus u = unit(State::Stopped);
  u.last_exit = ExitInfo{.signaled = true, .code = SIGTERM};
  u.result = "signal";
  const std::string j = state_event_json(u, State::Stopping, "killed by SIGTERM", 1, 99);
  EXPECT_NE(j.find(R"("pid":99,"exit_code":null,"exit_signal":"SIGTERM","result":"signal")"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find(R"("hooks":["exit"])"), std::string::npos) << j;
}

TEST(EventJson, TextIsEscapedAndInvalidUtf8NeverThrows) {
  UnitStatus u = unit(State::Running, 7);
  u.name = u.id = "we\"b\\";
  const std::string j = state_event_json(u, State::Init, "line1\nline2 \xff", 1);
  EXPECT_NE(j.find(R"("name":"we\"b\\")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("reason":"line1\nline2 )"), std::string::npos) << j;
  EXPECT_EQ(j.find('\n'), std::string::npos) << "one line";
  EXPECT_EQ(added_event_json("a\xfe"), "{\"event\":\"added\",\"name\":\"a\xEF\xBF\xBD\"}");
}

TEST(EventJson, AddedAndRemoved) {
  EXPECT_EQ(added_event_json("worker@2"), R"({"event":"added","name":"worker@2"})");
  EXPECT_EQ(removed_event_json("job.1"), R"({"event":"removed","name":"job.1"})");
}

TEST(EventJson, Reloaded) {
  EXPECT_EQ(reloaded_event_json({"c", "worker@2"}, {"b"}, {}, {"web"}),
            R"({"event":"reloaded","added":["c","worker@2"],"removed":["b"],"restarted":[],)"
            R"("pending":["web"]})");
}

TEST(EventJson, Replies) {
  EXPECT_EQ(reply_event_json("r1", std::nullopt),
            R"({"event":"reply","request_id":"r1","ok":true,"error":null})");
  EXPECT_EQ(reply_event_json("", std::string("no process named 'x'")),
            R"({"event":"reply","request_id":null,"ok":false,"error":"no process named 'x'"})");
  EXPECT_EQ(reply_event_json("7", std::string("")),
            R"({"event":"reply","request_id":"7","ok":false,"error":""})");
}

TEST(EventJson, HelloListsEveryProcess) {
  UnitStatus db = unit(State::Running, 17);
  db.name = db.id = "db";
  UnitStatus web = unit(State::Pending);
  EXPECT_EQ(hello_event_json("0.1.0", "/etc/procman.toml", {db, web}),
            R"({"event":"hello","version":"0.1.0","config":"/etc/procman.toml","processes":[)"
            R"({"name":"db","state":"running","pid":17},{"name":"web","state":"pending",)"
            R"("pid":null}]})");
  EXPECT_EQ(hello_event_json("0.1.0", "p.toml", {}),
            R"({"event":"hello","version":"0.1.0","config":"p.toml","processes":[]})");
}

// ---------------------------------------------------------------------------
// Real transitions of the supervisor

/// What the daemon does with each transition: name the live pid or the one that
/// ended (UnitStatus::last_pid), and compute the hooks and their environment.
class RecordingEffects : public FakeEffects {
 public:
  struct Fired {
    std::string name;
    EventKind kind;
    Env env;
  };

  void transition(const UnitStatus& u, State from, std::string_view reason) override {
    FakeEffects::transition(u, from, reason);
    const int last = u.pid > 0 ? u.pid : u.last_pid;
    for (EventKind k : hook_events(u, from))
      fired.push_back({u.name, k, event_env(k, u, from, reason, last)});
    json.push_back(state_event_json(u, from, reason, 1, last));
  }

  /// "web:start", "web:exit"... in order.
  Names summary() const {
    Names out;
    for (const Fired& f : fired) out.push_back(f.name + ":" + std::string(event_kind_name(f.kind)));
    return out;
  }

  std::vector<Fired> fired;
  std::vector<std::string> json;
};

class EventFromSupervisor : public ::testing::Test {
 protected:
  void load(std::vector<ProcessConfig> ps) {
    cfg.uid = "u";
    cfg.processes = std::move(ps);
    sup.apply_config(cfg);
  }
  State state(const std::string& name) const { return sup.find(name)->state; }
  int pid(const std::string& name) const { return sup.find(name)->pid; }
  void exit_main(const std::string& name, ExitInfo e) {
    const int p = pid(name);
    fx.alive_groups.erase(sup.find(name)->pgid);
    ASSERT_TRUE(sup.on_exit(p, e));
  }
  void advance(Duration d) {
    clock.advance(d);
    sup.on_timer();
  }
  const RecordingEffects::Fired& last() const { return fx.fired.back(); }

  FakeClock clock;
  RecordingEffects fx;
  Supervisor sup{fx, clock};
  Config cfg;
};

TEST_F(EventFromSupervisor, ACrashFiresExitAndFailureThenTheRestartFiresStart) {
  load({proc("web")});
  sup.start();
  EXPECT_EQ(fx.summary(), Names{"web:start"});
  EXPECT_EQ(fx.fired[0].env.at("PROCMAN_PID"), "100");
  EXPECT_EQ(fx.fired[0].env.at("PROCMAN_OLD_STATE"), "stopped");
  EXPECT_EQ(fx.fired[0].env.at("PROCMAN_EXIT_CODE"), "");

  exit_main("web", ExitInfo{.code = 1});
  ASSERT_EQ(state("web"), State::Backoff);
  EXPECT_EQ(fx.summary(), (Names{"web:start", "web:exit", "web:failure"}));
  for (std::size_t i : {1u, 2u}) {
    const Env& env = fx.fired[i].env;
    EXPECT_EQ(env.at("PROCMAN_PID"), "100");
    EXPECT_EQ(env.at("PROCMAN_EXIT_CODE"), "1");
    EXPECT_EQ(env.at("PROCMAN_RESULT"), "exit-code");
    EXPECT_EQ(env.at("PROCMAN_STATE"), "backoff");
    EXPECT_EQ(env.at("PROCMAN_OLD_STATE"), "running");
    EXPECT_EQ(env.at("PROCMAN_REASON"), "exited with code 1; restarting in 1s");
  }
  EXPECT_EQ(fx.fired[1].env.at("PROCMAN_EVENT"), "exit");
  EXPECT_EQ(fx.fired[2].env.at("PROCMAN_EVENT"), "failure");

  advance(1s);
  ASSERT_EQ(state("web"), State::Running);
  EXPECT_EQ(fx.summary().back(), "web:start");
  EXPECT_EQ(last().env.at("PROCMAN_RESTARTS"), "1");
  EXPECT_EQ(last().env.at("PROCMAN_PID"), "101");
  EXPECT_EQ(last().env.at("PROCMAN_EXIT_CODE"), "") << "a new run has no exit yet";
}

TEST_F(EventFromSupervisor, ACleanExitThatIsRestartedIsNoFailure) {
  load({proc("web")});
  sup.start();
  exit_main("web", ExitInfo{.code = 0});
  ASSERT_EQ(state("web"), State::Backoff);
  EXPECT_EQ(fx.summary(), (Names{"web:start", "web:exit"}));
  EXPECT_EQ(last().env.at("PROCMAN_RESULT"), "success");
  EXPECT_EQ(last().env.at("PROCMAN_EXIT_CODE"), "0");
}

TEST_F(EventFromSupervisor, AnAdminStopIsAnExitWithTheSignal) {
  load({proc("web")});
  sup.start();
  ASSERT_EQ(sup.stop("web"), "");
  ASSERT_EQ(state("web"), State::Stopping);
  EXPECT_EQ(fx.summary(), Names{"web:start"}) << "stopping is not yet an exit";
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  ASSERT_EQ(state("web"), State::Stopped);
  EXPECT_EQ(fx.summary(), (Names{"web:start", "web:exit"}));
  EXPECT_EQ(last().env.at("PROCMAN_EXIT_SIGNAL"), "SIGTERM");
  EXPECT_EQ(last().env.at("PROCMAN_EXIT_CODE"), "");
  EXPECT_EQ(last().env.at("PROCMAN_OLD_STATE"), "stopping");
  EXPECT_EQ(last().env.at("PROCMAN_PID"), "100");
  EXPECT_EQ(fx.json.back(),
            R"({"event":"state","name":"web","id":"web","instance":0,"from":"stopping",)"
            R"("to":"stopped","sub_state":"","pid":100,"exit_code":null,"exit_signal":"SIGTERM",)"
            R"("result":"signal","reason":"killed by SIGTERM","restarts":0,"time_usec":1,)"
            R"("hooks":["exit"]})");
}

TEST_F(EventFromSupervisor, AStopEscalatedToSigkillIsOneExit) {
  auto p = proc("stubborn");
  p.stop_timeout = 5s;
  load({p});
  sup.start();
  sup.stop("stubborn");
  advance(5s);
  ASSERT_EQ(fx.signals.back().second, SIGKILL);
  EXPECT_EQ(fx.summary(), Names{"stubborn:start"});
  exit_main("stubborn", ExitInfo{.signaled = true, .code = SIGKILL});
  EXPECT_EQ(fx.summary(), (Names{"stubborn:start", "stubborn:exit"}));
  EXPECT_EQ(last().env.at("PROCMAN_EXIT_SIGNAL"), "SIGKILL");
}

TEST_F(EventFromSupervisor, ShutdownFiresAnExitPerProcessAndNoFailure) {
  auto app = proc("app");
  app.depends_on = {Dependency{.id = "db"}};
  load({proc("db"), app});
  sup.start();
  sup.shutdown();
  exit_main("app", ExitInfo{.signaled = true, .code = SIGTERM});
  exit_main("db", ExitInfo{.signaled = true, .code = SIGTERM});
  ASSERT_TRUE(sup.shutdown_complete());
  EXPECT_EQ(fx.summary(), (Names{"db:start", "app:start", "app:exit", "db:exit"}));
}

TEST_F(EventFromSupervisor, AOneShotThatSucceedsOnlyExits) {
  auto p = proc("migrate");
  p.one_shot = true;
  p.restart = RestartPolicy::No;
  load({p});
  sup.start();
  exit_main("migrate", ExitInfo{.code = 0});
  ASSERT_EQ(state("migrate"), State::ExitedOk);
  EXPECT_EQ(fx.summary(), (Names{"migrate:start", "migrate:exit"}));
}

TEST_F(EventFromSupervisor, AFailureThatIsNotRestartedEndsFailed) {
  auto p = proc("job");
  p.restart = RestartPolicy::No;
  load({p});
  sup.start();
  exit_main("job", ExitInfo{.code = 2});
  ASSERT_EQ(state("job"), State::Failed);
  EXPECT_EQ(fx.summary(), (Names{"job:start", "job:exit", "job:failure"}));
  EXPECT_EQ(last().env.at("PROCMAN_STATE"), "failed");
  EXPECT_EQ(last().env.at("PROCMAN_EXIT_CODE"), "2");
}

TEST_F(EventFromSupervisor, ASpawnFailureIsAFailureWithoutStartOrExit) {
  load({proc("web")});
  fx.fail_spawn.insert("web");
  sup.start();
  ASSERT_EQ(state("web"), State::Backoff);
  EXPECT_EQ(fx.summary(), Names{"web:failure"});
  EXPECT_EQ(last().env.at("PROCMAN_RESULT"), "start-failed");
  EXPECT_EQ(last().env.at("PROCMAN_PID"), "");
  EXPECT_EQ(last().env.at("PROCMAN_REASON"),
            "exec \"x\": No such file or directory; restarting in 1s");
  // The retry fails as well: backoff -> backoff is a failure again.
  advance(1s);
  ASSERT_EQ(state("web"), State::Backoff);
  EXPECT_EQ(fx.summary(), (Names{"web:failure", "web:failure"}));
}

TEST_F(EventFromSupervisor, AFailedBeforeCommandIsAFailureOnly) {
  auto p = proc("web");
  p.before = Hook{"prepare", 3s, {}};
  p.restart = RestartPolicy::No;
  load({p});
  sup.start();
  sup.on_hook_done("web", HookKind::Before, HookResult{.ok = false, .exit = {.code = 2}});
  ASSERT_EQ(state("web"), State::Failed);
  EXPECT_EQ(fx.summary(), Names{"web:failure"});
}

TEST_F(EventFromSupervisor, InitAndReadinessStartOnlyOnceRunning) {
  auto db = proc("db");
  db.init = Hook{"wait-ready", 5s, {}};
  load({db});
  sup.start();
  ASSERT_EQ(state("db"), State::Init);
  EXPECT_TRUE(fx.fired.empty());
  sup.on_hook_done("db", HookKind::Init, HookResult{.ok = true});
  ASSERT_EQ(state("db"), State::Running);
  EXPECT_EQ(fx.summary(), Names{"db:start"});
  EXPECT_EQ(last().env.at("PROCMAN_OLD_STATE"), "init");
}

TEST_F(EventFromSupervisor, AFailedInitIsAnExitAndAFailure) {
  auto p = proc("db");
  p.init = Hook{"check", 5s, {}};
  load({p});
  sup.start();
  sup.on_hook_done("db", HookKind::Init, HookResult{.ok = false, .exit = {.code = 1}});
  exit_main("db", ExitInfo{.signaled = true, .code = SIGTERM});
  ASSERT_EQ(state("db"), State::Backoff);
  EXPECT_EQ(fx.summary(), (Names{"db:exit", "db:failure"})) << "it never was running";
  EXPECT_EQ(last().env.at("PROCMAN_RESULT"), "start-failed");
  EXPECT_EQ(last().env.at("PROCMAN_EXIT_SIGNAL"), "SIGTERM");
  EXPECT_EQ(last().env.at("PROCMAN_PID"), "100");
}

TEST_F(EventFromSupervisor, AnExitLeavingChildrenFiresOnceTheGroupIsGone) {
  load({proc("forker")});
  sup.start();
  const int p = pid("forker");
  ASSERT_TRUE(sup.on_exit(p, ExitInfo{.code = 1}));
  ASSERT_EQ(state("forker"), State::Stopping);
  EXPECT_EQ(fx.summary(), Names{"forker:start"});
  fx.alive_groups.erase(p);
  sup.on_group_change();
  ASSERT_EQ(state("forker"), State::Backoff);
  EXPECT_EQ(fx.summary(), (Names{"forker:start", "forker:exit", "forker:failure"}));
  EXPECT_EQ(last().env.at("PROCMAN_EXIT_CODE"), "1");
  EXPECT_EQ(last().env.at("PROCMAN_PID"), std::to_string(p));
}

TEST_F(EventFromSupervisor, AnAdminRestartIsAnExitThenAStart) {
  load({proc("web")});
  sup.start();
  ASSERT_EQ(sup.restart("web"), "");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  ASSERT_EQ(state("web"), State::Running);
  EXPECT_EQ(fx.summary(), (Names{"web:start", "web:exit", "web:start"}));
  EXPECT_EQ(last().env.at("PROCMAN_PID"), "101");
}

TEST_F(EventFromSupervisor, HittingTheStartLimitIsAFailure) {
  auto p = proc("crashy");
  p.restart_delay = Backoff{1s, 1.0, 1s, 1h};
  p.start_limit = StartLimit{1, 1h};
  load({p});
  sup.start();
  exit_main("crashy", ExitInfo{.code = 1});
  advance(1s);
  ASSERT_EQ(state("crashy"), State::StartLimitHit);
  EXPECT_EQ(fx.summary(),
            (Names{"crashy:start", "crashy:exit", "crashy:failure", "crashy:failure"}));
  EXPECT_EQ(last().env.at("PROCMAN_STATE"), "start-limit-hit");
  EXPECT_EQ(last().env.at("PROCMAN_OLD_STATE"), "backoff");
}

TEST_F(EventFromSupervisor, AKillIsAnOrdinaryExit) {
  load({proc("web")});
  sup.start();
  ASSERT_EQ(sup.kill("web", KillWhom::Group, SIGKILL), "");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGKILL});
  ASSERT_EQ(state("web"), State::Backoff);
  EXPECT_EQ(fx.summary(), (Names{"web:start", "web:exit", "web:failure"}));
  EXPECT_EQ(last().env.at("PROCMAN_EXIT_SIGNAL"), "SIGKILL");
}

TEST_F(EventFromSupervisor, APidFileProcessStartsWhenItsPidIsKnown) {
  auto p = proc("daemonized", "start-it");
  p.command->type = CommandType::PidFile;
  load({p});
  sup.start();
  ASSERT_TRUE(sup.on_exit(100, ExitInfo{.code = 0}));  // the launcher
  EXPECT_TRUE(fx.fired.empty());
  sup.on_main_pid("daemonized", 555, 100, 9);
  EXPECT_EQ(fx.summary(), Names{"daemonized:start"});
  EXPECT_EQ(last().env.at("PROCMAN_PID"), "555");
  fx.alive_groups.erase(100);
  ASSERT_TRUE(sup.on_exit(555, ExitInfo{.code = 4}));
  EXPECT_EQ(fx.summary(), (Names{"daemonized:start", "daemonized:exit", "daemonized:failure"}));
  EXPECT_EQ(last().env.at("PROCMAN_PID"), "555");
}

TEST_F(EventFromSupervisor, AReadoptedProcessDoesNotStartButItsExitCounts) {
  load({proc("web")});
  UnitStatus st;
  st.name = st.id = "web";
  st.state = State::Running;
  st.pid = 4242;
  st.pgid = 4242;
  fx.alive_groups.insert(4242);
  sup.restore({RestoredUnit{st, true}});
  sup.start();
  ASSERT_EQ(state("web"), State::Running);
  EXPECT_TRUE(fx.fired.empty());
  exit_main("web", ExitInfo{.known = false});
  EXPECT_EQ(fx.summary(), (Names{"web:exit", "web:failure"}));
  EXPECT_EQ(last().env.at("PROCMAN_RESULT"), "unknown");
  EXPECT_EQ(last().env.at("PROCMAN_PID"), "4242");
}

TEST_F(EventFromSupervisor, EveryRunEndsInExactlyOneExit) {
  auto p = proc("web");
  p.restart_delay = Backoff{1s, 1.0, 1s, 1h};
  p.start_limit.burst = 0;
  load({p});
  sup.start();
  exit_main("web", ExitInfo{.code = 1});
  advance(1s);
  exit_main("web", ExitInfo{.code = 0});
  advance(1s);
  sup.restart("web");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  sup.stop("web");
  exit_main("web", ExitInfo{.signaled = true, .code = SIGTERM});
  ASSERT_EQ(state("web"), State::Stopped);
  int starts = 0, exits = 0;
  for (const auto& f : fx.fired) {
    starts += f.kind == EventKind::Start;
    exits += f.kind == EventKind::Exit;
  }
  EXPECT_EQ(fx.spawned.size(), 4u);
  EXPECT_EQ(starts, 4);
  EXPECT_EQ(exits, 4);
}

}  // namespace
}  // namespace procman::core
