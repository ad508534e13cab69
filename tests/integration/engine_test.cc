// Black-box tests of procmand: the real daemon on a temporary config and state
// directory, supervising real child processes. Each test marks its children
// with a unique uid (PROCMAN_UID) so the fixture can find and kill whatever a
// failing test left behind.

// GCC 12 under -fsanitize=address reports a false -Wmaybe-uninitialized inside
// <regex> (the std::function in _StateT); -Werror would make it fatal.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "harness.h"

namespace procman::test {
namespace {

using namespace std::chrono_literals;

class Engine : public DaemonFixture {};

// ---------------------------------------------------------------- 1. spawning

TEST_F(Engine, ChildGetsProcmanEnvMergedEnvWorkDirAndPrefixedOutput) {
  dir_.write("sub/.keep", "");
  dir_.write("env.sh",
             "#!/bin/sh\n"
             "env > env.$PROCMAN_INSTANCE.out\n"
             "pwd > pwd.$PROCMAN_INSTANCE.out\n"
             "readlink /proc/$$/fd/0 > stdin.$PROCMAN_INSTANCE.out\n"
             "echo \"hello from $PROCMAN_NAME\"\n"
             "echo \"oops from $PROCMAN_NAME\" >&2\n"
             "exec sleep 1000\n",
             true);
  write_config(fmt::format(R"toml(
[[process]]
id = "envy"
command = "{}"
work-dir = "sub"
instances = 2
env = {{ FOO = "bar", OVERRIDDEN = "inner" }}
)toml",
                           dir_.file("env.sh")));
  Procmand& pm = start({"ITEST_INHERITED=yes", "OVERRIDDEN=outer", "PROCMAN_LEAK=no"});
  ASSERT_TRUE(pm.wait_for_line(child_line("envy@0", "hello from envy@0"))) << pm.output();
  ASSERT_TRUE(pm.wait_for_line(child_line("envy@1", "hello from envy@1"), 20s, false))
      << pm.output();
  // stderr is captured and prefixed the same way.
  ASSERT_TRUE(pm.wait_for_line(child_line("envy@1", "oops from envy@1"), 20s, false))
      << pm.output();

  const int pid0 = running_pid(pm, "envy@0");
  ASSERT_GT(pid0, 0);
  EXPECT_TRUE(pid_alive(pid0));
  EXPECT_EQ(getpgid(pid0), pid0) << "each child leads its own process group";

  for (int i : {0, 1}) {
    const std::string envfile = dir_.file(fmt::format("sub/env.{}.out", i));
    ASSERT_TRUE(wait_until([&] {
      return slurp(dir_.file(fmt::format("sub/stdin.{}.out", i))).size() > 0;
    })) << "work-dir 'sub' was not the child's working directory";
    const auto env = lines_of(slurp(envfile));
    auto has = [&](const std::string& kv) {
      return std::find(env.begin(), env.end(), kv) != env.end();
    };
    EXPECT_TRUE(has(fmt::format("PROCMAN_NAME=envy@{}", i)));
    EXPECT_TRUE(has("PROCMAN_ID=envy"));
    EXPECT_TRUE(has(fmt::format("PROCMAN_INSTANCE={}", i)));
    EXPECT_TRUE(has("PROCMAN_UID=" + uid_));
    EXPECT_TRUE(has("PROCMAN_CONFIG=" + config_path()));
    EXPECT_TRUE(has("FOO=bar"));
    EXPECT_TRUE(has("ITEST_INHERITED=yes")) << "procmand's environment is inherited";
    EXPECT_TRUE(has("OVERRIDDEN=inner")) << "`env` overrides the inherited environment";
    EXPECT_FALSE(has("OVERRIDDEN=outer")) << "and the inherited value is not passed as well";
    EXPECT_FALSE(has("PROCMAN_LEAK=no")) << "procmand's own PROCMAN_* variables are not passed on";
    EXPECT_EQ(slurp(dir_.file(fmt::format("sub/pwd.{}.out", i))), dir_.file("sub") + "\n");
    EXPECT_EQ(slurp(dir_.file(fmt::format("sub/stdin.{}.out", i))), "/dev/null\n");
  }
  // A shell may still be inside its `exec sleep` (its environ reads empty for that moment).
  EXPECT_TRUE(wait_until([&] { return marked().size() == 2u; })) << marked().size();
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
  EXPECT_TRUE(marked().empty());
}

TEST_F(Engine, WorkDirDefaultsToTheConfigDirectory) {
  write_config(R"toml(
[[process]]
id = "here"
command = { line = "pwd > where.out; exec sleep 1000", type = "expression" }
)toml");
  Procmand& pm = start();
  ASSERT_GT(running_pid(pm, "here"), 0) << pm.output();
  ASSERT_TRUE(wait_until([&] { return !slurp(dir_.file("where.out")).empty(); }));
  EXPECT_EQ(slurp(dir_.file("where.out")), dir_.path() + "\n");
  EXPECT_EQ(interrupt(pm), 0);
}

TEST_F(Engine, MissingBinaryIsReportedPreciselyAndBacksOff) {
  write_config(R"toml(
[[process]]
id = "ghost"
command = "/nonexistent/procman-itest-binary --flag"
restart-delay = "100ms"
)toml");
  Procmand& pm = start();
  auto first = pm.wait_for_line(transition("ghost", "backoff"));
  ASSERT_TRUE(first) << pm.output();
  EXPECT_NE(first->find("/nonexistent/procman-itest-binary"), std::string::npos) << *first;
  EXPECT_NE(first->find("No such file or directory"), std::string::npos) << *first;
  EXPECT_NE(first->find("restarting in 100ms"), std::string::npos) << *first;
  // And it keeps trying.
  ASSERT_TRUE(pm.wait_for_line(transition("ghost", "backoff"))) << pm.output();
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
}

TEST_F(Engine, SimpleCommandWithShellSyntaxRunsViaSh) {
  write_config(R"toml(
[[process]]
id = "shelly"
command = "echo a && echo b"
restart = "no"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line(child_line("shelly", "a"))) << pm.output();
  ASSERT_TRUE(pm.wait_for_line(child_line("shelly", "b"))) << pm.output();
  ASSERT_TRUE(wait_state(pm, "shelly", "exited-ok")) << pm.output();
  EXPECT_GE(line_index(pm.output(), transition("shelly", "exited-ok")), 0) << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
}

// ---------------------------------------------------------------- 2-3. stopping

TEST_F(Engine, ChildIgnoringSigtermIsKilledAfterStopTimeout) {
  write_config(R"toml(
[[process]]
id = "stubborn"
command = '''sh -c "trap '' TERM; echo ready; exec sleep 1000"'''
stop-timeout = "500ms"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line(child_line("stubborn", "ready"))) << pm.output();
  const int pid = running_pid(pm, "stubborn");
  ASSERT_GT(pid, 0);
  const auto t0 = std::chrono::steady_clock::now();
  pm.signal(SIGINT);
  ASSERT_TRUE(pm.wait_for_line(transition("stubborn", "stopping"))) << pm.output();
  EXPECT_TRUE(pid_alive(pid)) << "SIGTERM is ignored, it must still be there";
  ASSERT_TRUE(pm.wait_for_line("stubborn stopping: did not stop within 500ms, sent SIGKILL"))
      << pm.output();
  ASSERT_TRUE(pm.wait_for_line(transition("stubborn", "stopped"))) << pm.output();
  ASSERT_TRUE(pm.wait_for_line("procman \\| all processes stopped; exiting")) << pm.output();
  EXPECT_EQ(pm.wait_exit(), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 450ms);
  EXPECT_FALSE(pid_alive(pid));
  EXPECT_TRUE(marked().empty());
}

TEST_F(Engine, StopSignalIsConfigurable) {
  // Ignores TERM, dies of USR1: a clean stop without escalation.
  write_config(R"toml(
[[process]]
id = "usr"
command = '''sh -c "trap '' TERM; exec sleep 1000"'''
stop-signal = "USR1"
stop-timeout = "20s"
)toml");
  Procmand& pm = start();
  const int pid = running_pid(pm, "usr");
  ASSERT_GT(pid, 0) << pm.output();
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
  EXPECT_EQ(count_lines(pm.output(), "sent SIGKILL"), 0) << pm.output();
  EXPECT_FALSE(pid_alive(pid));
}

TEST_F(Engine, ShutdownStopsTheWholeProcessTreeIncludingOrphanedGrandchildren) {
  write_config(R"toml(
[[process]]
id = "tree"
command = { line = "(sleep 1000 & echo $! > grandchild.pid); echo forked; sleep 1000", type = "expression" }
stop-timeout = "5s"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line(child_line("tree", "forked"))) << pm.output();
  const int gc = read_int_file(dir_.file("grandchild.pid"));
  ASSERT_GT(gc, 0);
  EXPECT_TRUE(pid_alive(gc));
  ASSERT_GT(running_pid(pm, "tree"), 0);
  // sh, its sleep, the orphaned grandchild sleep
  EXPECT_TRUE(wait_until([&] { return marked().size() >= 3; })) << marked().size();
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
  EXPECT_FALSE(pid_alive(gc));
  EXPECT_TRUE(marked().empty());
}

TEST_F(Engine, RemnantsOfAProcessThatExitedAreKilledBeforeItsPolicyApplies) {
  write_config(R"toml(
[[process]]
id = "leaver"
command = { line = "(sleep 1000 & echo $! > leftover.pid); exit 0", type = "expression" }
restart = "no"
stop-timeout = "5s"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(wait_state(pm, "leaver", "exited-ok")) << pm.output();
  const int left = read_int_file(dir_.file("leftover.pid"));
  ASSERT_GT(left, 0);
  EXPECT_FALSE(pid_alive(left)) << pm.output();
  EXPECT_GE(
      line_index(pm.output(),
                 "leaver stopping: exited with code 0; stopping the rest of its process group"),
      0)
      << pm.output();
  EXPECT_TRUE(marked().empty());
  EXPECT_EQ(interrupt(pm), 0);
}

// ---------------------------------------------------------------- 4. dependencies

TEST_F(Engine, DependentStartsAfterInitAndStopsFirst) {
  write_config(R"toml(
[[process]]
id = "a"
command = "sleep 1000"
init = { command = "sleep 0.3; echo done > a-init.done" }

[[process]]
id = "b"
depends-on = ["a"]
command = { line = "cat a-init.done > b-saw; exec sleep 1000", type = "expression" }
)toml");
  Procmand& pm = start();
  ASSERT_GT(running_pid(pm, "b"), 0) << pm.output();
  const std::string out = pm.output();
  const int b_pending = line_index(out, transition("b", "pending") + ".*waiting for a");
  const int a_init = line_index(out, transition("a", "init"));
  const int a_running = line_index(out, transition("a", "running"));
  const int b_running = line_index(out, transition("b", "running"));
  EXPECT_GE(b_pending, 0) << out;
  EXPECT_GE(a_init, 0) << out;
  EXPECT_LT(a_init, a_running) << out;
  EXPECT_LT(a_running, b_running) << out;
  EXPECT_EQ(line_index(out, transition("b", "(starting|init)")), -1);
  ASSERT_TRUE(wait_until([&] { return !slurp(dir_.file("b-saw")).empty(); }));
  EXPECT_EQ(slurp(dir_.file("b-saw")), "done\n") << "b started before a's init finished";

  EXPECT_EQ(interrupt(pm), 0) << pm.output();
  const std::string all = pm.output();
  const int b_stopping = line_index(all, transition("b", "stopping"));
  const int b_stopped = line_index(all, transition("b", "stopped"));
  const int a_stopping = line_index(all, transition("a", "stopping"));
  ASSERT_GE(b_stopping, 0) << all;
  EXPECT_LT(b_stopping, a_stopping) << all;
  EXPECT_LT(b_stopped, a_stopping) << "a must wait for its dependent to be gone\n" << all;
  EXPECT_TRUE(marked().empty());
}

TEST_F(Engine, DependentStopsWhenItsDependencyFailsAndReturnsWithIt) {
  // a dies once (counter file), b depending on it must leave running and come back.
  write_config(R"toml(
[[process]]
id = "a"
command = { line = "echo x >> a.starts; if [ $(wc -l < a.starts) -lt 2 ]; then sleep 0.5; exit 1; fi; exec sleep 1000", type = "expression" }
restart-delay = "100ms"

[[process]]
id = "b"
depends-on = ["a"]
command = "sleep 1000"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line(transition("b", "running"))) << pm.output();
  ASSERT_TRUE(pm.wait_for_line(transition("b", "stopping") + ".*dependency lost")) << pm.output();
  ASSERT_TRUE(pm.wait_for_line(transition("b", "running"))) << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
}

// ---------------------------------------------------------------- 5. restart policy

TEST_F(Engine, CrashingChildHitsStartLimitAfterExactlyBurstStarts) {
  write_config(R"toml(
[[process]]
id = "crash"
command = { line = "echo x >> crash.starts; exit 3", type = "expression" }
restart-delay = "100ms"
start-limit = { burst = 3, interval = "1m" }
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line(transition("crash", "start-limit-hit"))) << pm.output();
  ASSERT_TRUE(wait_state(pm, "crash", "start-limit-hit"));
  EXPECT_EQ(lines_of(slurp(dir_.file("crash.starts"))).size(), 3u);
  const std::string out = pm.output();
  EXPECT_EQ(
      count_lines(out, transition("crash", "backoff") + " exited with code 3; restarting in 100ms"),
      3)
      << out;
  auto u = unit("crash");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->restarts, 2u);
  EXPECT_EQ(u->pid, -1);
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
  EXPECT_EQ(lines_of(slurp(dir_.file("crash.starts"))).size(), 3u);
}

TEST_F(Engine, RestartNoGivesFailed) {
  write_config(R"toml(
[[process]]
id = "once"
command = { line = "echo x >> once.starts; exit 3", type = "expression" }
restart = "no"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line(transition("once", "failed") + " exited with code 3"))
      << pm.output();
  ASSERT_TRUE(wait_state(pm, "once", "failed"));
  EXPECT_EQ(lines_of(slurp(dir_.file("once.starts"))).size(), 1u);
  EXPECT_EQ(interrupt(pm), 0);
}

TEST_F(Engine, OnFailureWithExitZeroGivesExitedOkAndNonZeroRestarts) {
  write_config(R"toml(
[[process]]
id = "good"
command = { line = "exit 0", type = "expression" }
restart = "on-failure"
restart-delay = "100ms"

[[process]]
id = "bad"
command = { line = "echo x >> bad.starts; exit 2", type = "expression" }
restart = "on-failure"
restart-delay = "100ms"
start-limit = { burst = 2, interval = "1m" }
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(wait_state(pm, "good", "exited-ok")) << pm.output();
  ASSERT_TRUE(wait_state(pm, "bad", "start-limit-hit")) << pm.output();
  EXPECT_EQ(lines_of(slurp(dir_.file("bad.starts"))).size(), 2u);
  EXPECT_EQ(count_lines(pm.output(), transition("good", "(starting|running)")), 1) << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
}

TEST_F(Engine, KilledChildIsRestartedWithANewPid) {
  write_config(R"toml(
[[process]]
id = "victim"
command = "sleep 1000"
restart-delay = "100ms"
)toml");
  Procmand& pm = start();
  const int pid = running_pid(pm, "victim");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(pm.wait_for_line(transition("victim", "running")));
  kill(pid, SIGKILL);
  ASSERT_TRUE(
      pm.wait_for_line(transition("victim", "backoff") + " killed by SIGKILL; restarting in 100ms"))
      << pm.output();
  auto line = pm.wait_for_line(transition("victim", "running") + " pid (\\d+) started");
  const int fresh = capture_int(line, "pid (\\d+) started");
  ASSERT_GT(fresh, 0) << pm.output();
  EXPECT_NE(fresh, pid);
  EXPECT_TRUE(pid_alive(fresh));
  ASSERT_TRUE(wait_until([&] {
    auto u = unit("victim");
    return u && u->pid == fresh && u->restarts == 1;
  }));
  EXPECT_EQ(interrupt(pm), 0);
}

// ---------------------------------------------------------------- 6. one-shot

TEST_F(Engine, OneShotRunsOnceAndUnblocksCompletedSuccessfullyDependents) {
  write_config(R"toml(
[[process]]
id = "migrate"
one-shot = true
command = { line = "echo ran >> migrate.count; sleep 0.2", type = "expression" }

[[process]]
id = "app"
depends-on = [{ id = "migrate", condition = "completed-successfully" }]
command = { line = "cat migrate.count > app-saw; exec sleep 1000", type = "expression" }
)toml");
  Procmand& pm = start();
  ASSERT_GT(running_pid(pm, "app"), 0) << pm.output();
  const std::string out = pm.output();
  EXPECT_LT(line_index(out, transition("migrate", "exited-ok")),
            line_index(out, transition("app", "running")))
      << out;
  ASSERT_TRUE(wait_until([&] { return !slurp(dir_.file("app-saw")).empty(); }));
  EXPECT_EQ(slurp(dir_.file("app-saw")), "ran\n");
  auto m = unit("migrate");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->state, "exited-ok");
  // Restarting the dependent does not run the one-shot again.
  kill(pid_of("app"), SIGKILL);
  ASSERT_TRUE(pm.wait_for_line(transition("app", "backoff"))) << pm.output();
  ASSERT_TRUE(pm.wait_for_line(transition("app", "running"))) << pm.output();
  EXPECT_EQ(slurp(dir_.file("migrate.count")), "ran\n");
  EXPECT_EQ(count_lines(pm.output(), transition("migrate", "running")), 1) << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
  EXPECT_EQ(slurp(dir_.file("migrate.count")), "ran\n");
}

TEST_F(Engine, FailedOneShotKeepsCompletedSuccessfullyDependentPending) {
  write_config(R"toml(
[[process]]
id = "migrate"
one-shot = true
command = { line = "exit 1", type = "expression" }

[[process]]
id = "app"
depends-on = [{ id = "migrate", condition = "completed-successfully" }]
command = "sleep 1000"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(wait_state(pm, "migrate", "failed")) << pm.output();
  ASSERT_TRUE(wait_state(pm, "app", "pending")) << pm.output();
  EXPECT_EQ(count_lines(pm.output(), transition("app", "running")), 0);
  EXPECT_TRUE(marked().empty());
  EXPECT_EQ(interrupt(pm), 0);
}

// ---------------------------------------------------------------- 7. hooks

TEST_F(Engine, HooksRunInOrderAndStopCommandRunsBeforeTheSignal) {
  write_config(R"toml(
[[process]]
id = "hooked"
command = { line = "trap 'echo term >> events; exit 0' TERM; echo main >> events; while :; do sleep 0.05; done", type = "expression" }
before = { command = "echo before >> events" }
init = { command = "while ! grep -q main events; do sleep 0.02; done; echo init >> events" }
stop = { command = "kill -0 $PROCMAN_MAIN_PID && echo stop-main-alive >> events" }
stop-timeout = "5s"
)toml");
  Procmand& pm = start();
  ASSERT_GT(running_pid(pm, "hooked"), 0) << pm.output();
  EXPECT_EQ(slurp(dir_.file("events")), "before\nmain\ninit\n");
  const std::string out = pm.output();
  EXPECT_LT(line_index(out, transition("hooked", "before")),
            line_index(out, transition("hooked", "init")));
  EXPECT_LT(line_index(out, transition("hooked", "init")),
            line_index(out, transition("hooked", "running")));
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
  EXPECT_EQ(slurp(dir_.file("events")), "before\nmain\ninit\nstop-main-alive\nterm\n")
      << pm.output();
  EXPECT_TRUE(marked().empty());
}

TEST_F(Engine, FailingBeforeBacksOffAndRetriesFromBefore) {
  write_config(R"toml(
[[process]]
id = "flaky"
before = { command = "echo before >> flaky.log; [ $(wc -l < flaky.log) -ge 3 ]" }
command = { line = "echo main >> flaky.log; exec sleep 1000", type = "expression" }
restart-delay = "100ms"
)toml");
  Procmand& pm = start();
  ASSERT_GT(running_pid(pm, "flaky"), 0) << pm.output();
  // Running means spawned: its shell may not have written its line yet.
  EXPECT_TRUE(wait_until([&] { return slurp(dir_.file("flaky.log")).ends_with("main\n"); }));
  EXPECT_EQ(slurp(dir_.file("flaky.log")), "before\nbefore\nbefore\nmain\n");
  EXPECT_EQ(count_lines(pm.output(),
                        transition("flaky", "backoff") + " before command exited with code 1"),
            2)
      << pm.output();
  EXPECT_EQ(count_lines(pm.output(), transition("flaky", "before")), 3) << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
}

TEST_F(Engine, FailingInitStopsTheMainProcessAndRetries) {
  // Each init waits until its main process has written its pid, so that a fast init
  // cannot fail (and have the main process stopped) before there is a pid to check.
  write_config(R"toml(
[[process]]
id = "initfail"
command = { line = "echo $$ >> main.pids; exec sleep 1000", type = "expression" }
init = { command = "echo i >> init.log; until [ $(cat main.pids 2>/dev/null | wc -l) -ge $(wc -l < init.log) ]; do sleep 0.01; done; [ $(wc -l < init.log) -ge 2 ]" }
restart-delay = "100ms"
stop-timeout = "5s"
)toml");
  Procmand& pm = start();
  ASSERT_GT(running_pid(pm, "initfail"), 0) << pm.output();
  EXPECT_GE(line_index(pm.output(),
                       transition("initfail", "backoff") + " init command exited with code 1"),
            0)
      << pm.output();
  const auto pids = lines_of(slurp(dir_.file("main.pids")));
  ASSERT_EQ(pids.size(), 2u);
  EXPECT_FALSE(pid_alive(std::stoi(pids[0])))
      << "the first main process must be stopped when init fails";
  EXPECT_TRUE(pid_alive(std::stoi(pids[1])));
  std::string seen;
  for (pid_t p : marked()) {
    std::ifstream f("/proc/" + std::to_string(p) + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), {});
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    seen += std::to_string(p) + ": " + cmd + "\n";
  }
  // The second main process may still be inside its `exec sleep` (environ reads empty).
  EXPECT_TRUE(wait_until([&] { return marked() == std::vector<pid_t>{std::stoi(pids[1])}; }))
      << seen << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
}

// ---------------------------------------------------------------- 8. reload

TEST_F(Engine, ReloadAddsRemovesAndRestartsOnlyOnApplyOnChange) {
  const std::string keep = R"toml(
[[process]]
id = "keep"
command = "sleep 1000"
)toml";
  write_config(keep + R"toml(
[[process]]
id = "gone"
command = "sleep 1000"

[[process]]
id = "cmd"
command = "sleep 1000"

[[process]]
id = "dated"
apply-on = 2020-01-01T00:00:00
command = "sleep 1000"
)toml");
  Procmand& pm = start();
  const int keep_pid = running_pid(pm, "keep");
  const int gone_pid = running_pid(pm, "gone");
  const int cmd_pid = running_pid(pm, "cmd");
  const int dated_pid = running_pid(pm, "dated");
  ASSERT_TRUE(keep_pid > 0 && gone_pid > 0 && cmd_pid > 0 && dated_pid > 0) << pm.output();

  write_config(keep + R"toml(
[[process]]
id = "cmd"
command = "sleep 1001"

[[process]]
id = "dated"
apply-on = 2021-01-01T00:00:00
command = "sleep 1000"

[[process]]
id = "added"
command = "sleep 1000"
)toml");
  pm.signal(SIGHUP);
  auto summary = pm.wait_for_line("procman \\| reloaded: ");
  ASSERT_TRUE(summary) << pm.output();
  EXPECT_EQ(*summary,
            "procman | reloaded: added added; removed gone; restarted dated; changed, restart "
            "pending cmd");
  const int added_pid = running_pid(pm, "added");
  EXPECT_GT(added_pid, 0) << pm.output();
  ASSERT_TRUE(wait_until([&] {
    pm.output();
    return !unit("gone");
  })) << pm.output();
  EXPECT_FALSE(pid_alive(gone_pid));
  ASSERT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("dated");
    return u && u->state == "running" && u->pid != dated_pid;
  })) << pm.output();
  EXPECT_FALSE(pid_alive(dated_pid));
  EXPECT_TRUE(pid_alive(pid_of("dated")));
  EXPECT_EQ(pid_of("cmd"), cmd_pid) << "a command change alone waits for the next restart";
  EXPECT_TRUE(pid_alive(cmd_pid));
  EXPECT_EQ(pid_of("keep"), keep_pid);
  EXPECT_TRUE(pid_alive(keep_pid));
  EXPECT_EQ(marked().size(), 4u);
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
  EXPECT_TRUE(marked().empty());
}

TEST_F(Engine, PendingCommandChangeAppliesAtTheNextRestart) {
  write_config(R"toml(
[[process]]
id = "cmd"
command = { line = "echo v1; exec sleep 1000", type = "expression" }
restart-delay = "100ms"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line(child_line("cmd", "v1"))) << pm.output();
  const int pid = running_pid(pm, "cmd");
  write_config(R"toml(
[[process]]
id = "cmd"
command = { line = "echo v2; exec sleep 1000", type = "expression" }
restart-delay = "100ms"
)toml");
  pm.signal(SIGHUP);
  ASSERT_TRUE(pm.wait_for_line("changed, restart pending cmd")) << pm.output();
  kill(pid, SIGKILL);
  ASSERT_TRUE(pm.wait_for_line(child_line("cmd", "v2"))) << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
}

TEST_F(Engine, InvalidReloadKeepsTheRunningConfiguration) {
  write_config(R"toml(
[[process]]
id = "one"
command = "sleep 1000"

[[process]]
id = "two"
command = "sleep 1000"
)toml");
  Procmand& pm = start();
  const int one = running_pid(pm, "one");
  const int two = running_pid(pm, "two");
  ASSERT_TRUE(one > 0 && two > 0) << pm.output();
  dir_.write("procman.toml", header() + "[[process]\nid = \"one\"\ncommand = \"sleep 1000\"\n");
  pm.signal(SIGHUP);
  auto err = pm.wait_for_line("procman \\| .*procman\\.toml:\\d+:\\d+: error: ");
  ASSERT_TRUE(err) << pm.output();
  EXPECT_NE(err->find(config_path()), std::string::npos) << *err;
  ASSERT_TRUE(pm.wait_for_line("keeping the running configuration")) << pm.output();
  EXPECT_EQ(count_lines(pm.output(), "procman \\| reloaded:"), 0);
  EXPECT_EQ(count_lines(pm.output(), "(stopping|stopped)"), 0) << pm.output();
  EXPECT_EQ(pid_of("one"), one);
  EXPECT_EQ(pid_of("two"), two);
  EXPECT_TRUE(pid_alive(one));
  EXPECT_TRUE(pid_alive(two));
  EXPECT_EQ(marked().size(), 2u);

  // A semantic error is refused the same way.
  write_config("[[process]]\nid = \"one\"\ncommand = \"sleep 1000\"\nrestart = \"sometimes\"\n");
  pm.signal(SIGHUP);
  ASSERT_TRUE(pm.wait_for_line("procman \\| .*procman\\.toml:\\d+:\\d+: error: .*restart"))
      << pm.output();
  ASSERT_TRUE(pm.wait_for_line("keeping the running configuration")) << pm.output();
  EXPECT_TRUE(pid_alive(two));
  EXPECT_EQ(pid_of("two"), two);
  EXPECT_EQ(interrupt(pm), 0);
}

// ---------------------------------------------------------------- 9. crash-only

TEST_F(Engine, KilledProcmandLeavesChildrenRunningAndANewOneReadoptsThem) {
  dir_.write("chatty.pl",
             "$| = 1;\n"
             "my $i = 0;\n"
             "while (1) {\n"
             "  $i++;\n"
             "  print \"tick $i\\n\";\n"
             "  open(my $f, '>', 'chatty.n.tmp') or die; print $f \"$i\\n\"; close $f;\n"
             "  rename('chatty.n.tmp', 'chatty.n');\n"
             "  select(undef, undef, undef, 0.05);\n"
             "}\n");
  write_config(fmt::format(R"toml(
[[process]]
id = "chatty"
command = "perl {}"

[[process]]
id = "steady"
command = "sleep 1000"

[[process]]
id = "victim"
command = "sleep 1000"
restart-delay = "100ms"
)toml",
                           dir_.file("chatty.pl")));
  auto first = std::make_unique<Procmand>(config_path(), state_);
  const int chatty = running_pid(*first, "chatty");
  const int steady = running_pid(*first, "steady");
  const int victim = running_pid(*first, "victim");
  ASSERT_TRUE(chatty > 0 && steady > 0 && victim > 0) << first->output();
  ASSERT_TRUE(first->wait_for_line(child_line("chatty", "tick \\d+"))) << first->output();
  auto before = marked();
  std::sort(before.begin(), before.end());
  ASSERT_EQ(before.size(), 3u);

  // A second procmand on the same uid and state directory is refused.
  {
    Procmand second(config_path(), state_);
    EXPECT_EQ(second.wait_exit(), 75) << second.output();
    EXPECT_NE(second.output().find("refusing to start a second one"), std::string::npos)
        << second.output();
  }
  EXPECT_TRUE(first->running());
  EXPECT_EQ(pid_of("chatty"), chatty);
  EXPECT_EQ(marked().size(), 3u);

  first->signal(SIGKILL);
  EXPECT_EQ(first->wait_exit(), 128 + SIGKILL);
  const int ticks_at_death = read_int_file(dir_.file("chatty.n"));
  // Nobody reads its output now: it must keep running and writing, not die of SIGPIPE.
  ASSERT_TRUE(wait_until([&] {
    return read_int_file(dir_.file("chatty.n")) >= ticks_at_death + 10;
  })) << "chatty stopped writing while procmand was down";
  EXPECT_TRUE(pid_alive(chatty));
  EXPECT_TRUE(pid_alive(steady));
  kill(victim, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return !pid_alive(victim); }));
  EXPECT_EQ(marked().size(), 2u);

  Procmand& again = start();
  ASSERT_TRUE(
      again.wait_for_line(transition("chatty", "running") +
                              fmt::format(" re-adopted pid {} after a procmand restart", chatty),
                          20s, false))
      << again.output();
  ASSERT_TRUE(
      again.wait_for_line(transition("steady", "running") +
                              fmt::format(" re-adopted pid {} after a procmand restart", steady),
                          20s, false))
      << again.output();
  // Lines written while nobody read, and new ones, come through.
  ASSERT_TRUE(again.wait_for_line(child_line("chatty", fmt::format("tick {}", ticks_at_death + 5)),
                                  20s, false))
      << again.output();
  ASSERT_TRUE(again.wait_for_line(child_line("chatty", fmt::format("tick {}", ticks_at_death + 30)),
                                  20s, false))
      << again.output();
  // The one killed meanwhile is restarted by its policy.
  ASSERT_TRUE(wait_until([&] {
    again.output();
    auto u = unit("victim");
    return u && u->state == "running" && u->pid != victim && pid_alive(u->pid);
  })) << again.output();
  EXPECT_EQ(pid_of("chatty"), chatty);
  EXPECT_EQ(pid_of("steady"), steady);
  auto after = marked();
  EXPECT_EQ(after.size(), 3u) << "no duplicates of re-adopted children";
  EXPECT_NE(std::find(after.begin(), after.end(), chatty), after.end());
  EXPECT_NE(std::find(after.begin(), after.end(), steady), after.end());

  // The new procmand stops what it re-adopted.
  EXPECT_EQ(interrupt(again), 0) << again.output();
  EXPECT_FALSE(pid_alive(chatty));
  EXPECT_FALSE(pid_alive(steady));
  EXPECT_TRUE(marked().empty());
}

/// While alive, makes the test process the subreaper of everything it starts, and
/// a lazy one: orphans of a killed procmand become our children and stay zombies
/// until reap() — what a container init that reaps late looks like to procmand.
class LazyReaper {
 public:
  LazyReaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~LazyReaper() {
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    reap();
  }
  void reap() {
    for (pid_t p : orphans) waitpid(p, nullptr, WNOHANG);
  }
  std::vector<pid_t> orphans;
};

TEST_F(Engine, ReadoptionIgnoresZombiesAndStopsReadoptedProcessesPromptly) {
  LazyReaper reaper;
  write_config(R"toml(
[[process]]
id = "steady"
command = "sleep 1000"
stop-timeout = "3s"

[[process]]
id = "victim"
command = "sleep 1000"
restart-delay = "100ms"
stop-timeout = "3s"
)toml");
  auto first = std::make_unique<Procmand>(config_path(), state_);
  const int steady = running_pid(*first, "steady");
  const int victim = running_pid(*first, "victim");
  ASSERT_TRUE(steady > 0 && victim > 0) << first->output();
  reaper.orphans = {steady, victim};
  first->signal(SIGKILL);
  ASSERT_EQ(first->wait_exit(), 128 + SIGKILL);
  // Killed while procmand is down; its (new) parent has not reaped it yet.
  kill(victim, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return !pid_alive(victim); }));

  Procmand& again = start();
  ASSERT_TRUE(again.wait_for_line(transition("steady", "running") + " re-adopted", 20s, false))
      << again.output();
  ASSERT_TRUE(wait_until([&] {
    again.output();
    auto u = unit("victim");
    return u && u->state == "running" && u->pid != victim;
  })) << again.output();
  EXPECT_EQ(count_lines(again.output(), transition("victim", "running") + " re-adopted"), 0)
      << "a zombie is not a live process to re-adopt\n"
      << again.output();

  // steady dies of SIGTERM but stays a zombie until its parent (us) reaps it:
  // procmand must not wait for the stop timeout, let alone send SIGKILL.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(interrupt(again), 0) << again.output();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 3s) << again.output();
  EXPECT_EQ(count_lines(again.output(), "sent SIGKILL"), 0) << again.output();
  EXPECT_FALSE(pid_alive(steady));
}

TEST_F(Engine, ReadoptedGroupWhoseLastMemberOutlivesTheMainIsReleasedWhenItExits) {
  // The main process dies at once on SIGTERM; a helper in its process group
  // takes 300 ms to exit. After a procmand restart none of them is procmand's
  // child, so no SIGCHLD tells it when the helper is gone.
  write_config(R"toml(
[[process]]
id = "grp"
command = { line = "sh -c 'trap \"sleep 0.3; exit 0\" TERM; echo $$ > helper.pid; while :; do sleep 0.05; done' & exec sleep 1000", type = "expression" }
stop-timeout = "5s"
)toml");
  auto first = std::make_unique<Procmand>(config_path(), state_);
  const int main_pid = running_pid(*first, "grp");
  ASSERT_GT(main_pid, 0) << first->output();
  ASSERT_TRUE(wait_until([&] { return read_int_file(dir_.file("helper.pid")) > 0; }));
  const int helper = read_int_file(dir_.file("helper.pid"));
  first->signal(SIGKILL);
  ASSERT_EQ(first->wait_exit(), 128 + SIGKILL);

  Procmand& again = start();
  ASSERT_TRUE(again.wait_for_line(transition("grp", "running") + " re-adopted", 20s, false))
      << again.output();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(interrupt(again), 0) << again.output();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_FALSE(pid_alive(main_pid));
  EXPECT_FALSE(pid_alive(helper));
  EXPECT_EQ(count_lines(again.output(), "sent SIGKILL"), 0) << again.output();
  EXPECT_LT(took, 5s)
      << "procmand noticed the end of the re-adopted group only at its stop timeout\n"
      << again.output();
}

TEST_F(Engine, SecondProcmandIsRefusedAndChangesNothing) {
  write_config(R"toml(
[[process]]
id = "solo"
command = "sleep 1000"
)toml");
  Procmand& pm = start();
  const int pid = running_pid(pm, "solo");
  ASSERT_GT(pid, 0);
  const std::string state_before = slurp(state_ + "/state.json");
  Procmand& second = start();
  EXPECT_EQ(second.wait_exit(), 75) << second.output();
  EXPECT_EQ(slurp(state_ + "/state.json"), state_before);
  EXPECT_EQ(marked().size(), 1u);
  EXPECT_TRUE(pm.running());
  EXPECT_TRUE(pid_alive(pid));
  EXPECT_EQ(interrupt(pm), 0);
}

// ---------------------------------------------------------------- 10-11. pid discovery

TEST_F(Engine, PidFileCommandSupervisesThePidItWrites) {
  write_config(R"toml(
[[process]]
id = "daemonish"
command = { line = "sleep 1000 & echo $! > {{ PROCMAN_PID_FILE }}; echo $! >> real.pids", type = "pid-file" }
restart-delay = "100ms"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("daemonish");
    return u && u->state == "running" && lines_of(slurp(dir_.file("real.pids"))).size() == 1;
  })) << pm.output();
  const int real = std::stoi(lines_of(slurp(dir_.file("real.pids")))[0]);
  EXPECT_EQ(pid_of("daemonish"), real);
  EXPECT_TRUE(pid_alive(real));
  kill(real, SIGKILL);
  ASSERT_TRUE(pm.wait_for_line(transition("daemonish", "backoff"))) << pm.output();
  ASSERT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("daemonish");
    const auto pids = lines_of(slurp(dir_.file("real.pids")));
    return u && u->state == "running" && pids.size() == 2 && u->pid == std::stoi(pids[1]);
  })) << pm.output();
  EXPECT_TRUE(pid_alive(pid_of("daemonish")));
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
  EXPECT_TRUE(marked().empty());
}

TEST_F(Engine, PodmanCidCommandSupervisesTheContainerPid) {
  dir_.write("podman-state/.keep", "");
  dir_.write(
      "bin/podman",
      fmt::format(
          "#!/bin/sh\n"
          "state={}\n"
          "case \"$1\" in\n"
          "  run)\n"
          "    cid=cid$$\n"
          "    sleep 1000 </dev/null >/dev/null 2>&1 &\n"
          "    echo $! > \"$state/$cid\"\n"
          "    echo $! >> \"$state/all\"\n"
          "    echo \"$cid\" ;;\n"
          "  inspect)\n"
          "    [ \"$3\" = '{{{{.State.Pid}}}}' ] || {{ echo \"bad format $3\" >&2; exit 2; }}\n"
          "    cat \"$state/$4\" ;;\n"
          "  *) exit 1 ;;\n"
          "esac\n",
          dir_.file("podman-state")),
      true);
  write_config(R"toml(
[[process]]
id = "box"
command = { line = "podman run -d example/image", type = "podman-cid" }
restart-delay = "100ms"
)toml");
  const char* path = std::getenv("PATH");
  Procmand& pm = start({"PATH=" + dir_.file("bin") + ":" + (path ? path : "/usr/bin:/bin")});
  const std::string all = dir_.file("podman-state/all");
  ASSERT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("box");
    return u && u->state == "running" && lines_of(slurp(all)).size() == 1;
  })) << pm.output();
  const int real = std::stoi(lines_of(slurp(all))[0]);
  EXPECT_EQ(pid_of("box"), real);
  EXPECT_TRUE(pid_alive(real));
  kill(real, SIGKILL);
  ASSERT_TRUE(pm.wait_for_line(transition("box", "backoff"))) << pm.output();
  ASSERT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("box");
    const auto pids = lines_of(slurp(all));
    return u && u->state == "running" && pids.size() == 2 && u->pid == std::stoi(pids[1]);
  })) << pm.output();
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
  EXPECT_TRUE(marked().empty());
}

// ---------------------------------------------------------------- 12. bad config

TEST_F(Engine, InvalidConfigAtStartupExits78WithFileLineColumn) {
  write_config(R"toml([[process]]
id = "a"
command = "sleep 1000"
restart = "sometimes"
)toml");
  Procmand& pm = start();
  EXPECT_EQ(pm.wait_exit(), 78) << pm.output();
  // Line 4 of the body is line 7 of the file (three header lines).
  EXPECT_GE(line_index(pm.output(), "^procman \\| " + config_path() + ":7:\\d+: error: .*restart"),
            0)
      << pm.output();
  EXPECT_TRUE(marked().empty());
}

TEST_F(Engine, TomlSyntaxErrorAtStartupExits78) {
  write_config("[[process]\nid = \"a\"\n");
  Procmand& pm = start();
  EXPECT_EQ(pm.wait_exit(), 78) << pm.output();
  EXPECT_GE(line_index(pm.output(), "^procman \\| " + config_path() + ":4:\\d+: error: "), 0)
      << pm.output();
}

TEST_F(Engine, UnreadableConfigAtStartupExits78) {
  Procmand& pm = start();  // no file written
  EXPECT_EQ(pm.wait_exit(), 78) << pm.output();
  EXPECT_NE(pm.output().find("cannot read " + config_path()), std::string::npos) << pm.output();
}

// ---------------------------------------------------------------- 13. scale

TEST_F(Engine, ThousandProcessesAllRunAndAllStop) {
  write_config(R"toml(
[[process]]
id = "many"
command = "sleep 1000"
instances = 1000
stop-timeout = "20s"
)toml");
  const auto t0 = std::chrono::steady_clock::now();
  Procmand& pm = start();
  ASSERT_TRUE(wait_until(
      [&] {
        pm.output();
        auto st = read_state(state_);
        if (!st || st->size() != 1000) return false;
        return std::all_of(st->begin(), st->end(),
                           [](const auto& kv) { return kv.second.state == "running"; });
      },
      60s))
      << pm.output().substr(0, 4000);
  EXPECT_EQ(marked().size(), 1000u);
  auto st = read_state(state_);
  for (const auto& [name, u] : *st) ASSERT_TRUE(pid_alive(u.pid)) << name;
  EXPECT_EQ(interrupt(pm), 0);
  EXPECT_TRUE(marked().empty());
  EXPECT_EQ(count_lines(pm.output(), "procman \\| many@\\d+ stopped"), 1000);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 60s);
  std::cerr << "1000 processes: up and down in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0)
                   .count()
            << " ms\n";
}

// ---------------------------------------------------------------- 14. Ctrl-C

TEST_F(Engine, SigintStopsEverythingAndExitsZero) {
  write_config(R"toml(
[[process]]
id = "one"
command = "sleep 1000"

[[process]]
id = "two"
command = { line = "sleep 1000 & sleep 1000; wait", type = "expression" }

[[process]]
id = "three"
command = "sleep 1000"
instances = 3
)toml");
  Procmand& pm = start();
  for (const char* n : {"one", "two", "three@0", "three@1", "three@2"})
    ASSERT_GT(running_pid(pm, n), 0) << n;
  EXPECT_TRUE(wait_until([&] { return marked().size() >= 7; })) << marked().size();
  pm.signal(SIGINT);
  ASSERT_TRUE(pm.wait_for_line("procman \\| SIGINT received: stopping all processes"))
      << pm.output();
  EXPECT_EQ(pm.wait_exit(), 0) << pm.output();
  EXPECT_GE(line_index(pm.output(), "procman \\| all processes stopped; exiting$"), 0);
  EXPECT_TRUE(marked().empty());
  auto st = read_state(state_);
  ASSERT_TRUE(st);
  for (const auto& [name, u] : *st) EXPECT_EQ(u.state, "stopped") << name;
}

TEST_F(Engine, SigtermStopsEverythingAndExitsZero) {
  write_config(R"toml(
[[process]]
id = "one"
command = "sleep 1000"
)toml");
  Procmand& pm = start();
  ASSERT_GT(running_pid(pm, "one"), 0);
  EXPECT_EQ(interrupt(pm, SIGTERM), 0) << pm.output();
  EXPECT_TRUE(marked().empty());
}

TEST_F(Engine, SecondSigintKillsImmediately) {
  write_config(R"toml(
[[process]]
id = "stubborn"
command = '''sh -c "trap '' TERM; echo ready; exec sleep 1000"'''
stop-timeout = "60s"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line(child_line("stubborn", "ready"))) << pm.output();
  const int pid = running_pid(pm, "stubborn");
  pm.signal(SIGINT);
  ASSERT_TRUE(pm.wait_for_line(transition("stubborn", "stopping"))) << pm.output();
  pm.signal(SIGINT);
  ASSERT_TRUE(pm.wait_for_line("SIGINT again: killing every remaining process now")) << pm.output();
  EXPECT_EQ(pm.wait_exit(20s), 0) << pm.output();
  EXPECT_FALSE(pid_alive(pid));
  EXPECT_TRUE(marked().empty());
}

}  // namespace
}  // namespace procman::test

// ---------------------------------------------------------------- time rules

namespace procman::test {
namespace {

std::string local_hms(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

TEST_F(Engine, ScheduleWindowOpensAndClosesOnTheWallClock) {
  // A window from 2s to 4s from now, in local time. Near midnight the window
  // would wrap into an overnight one that belongs to yesterday: not this test.
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  if (tm.tm_hour == 23 && tm.tm_min == 59) GTEST_SKIP() << "too close to midnight";
  write_config(fmt::format(R"toml(
[[process]]
id = "office"
command = "sleep 1000"
stop-timeout = "2s"
schedule = {{ start-time = "{}", stop-time = "{}" }}
)toml",
                           local_hms(now + 2), local_hms(now + 4)));
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line("procmand .* supervising"));
  EXPECT_FALSE(unit("office") && unit("office")->state == "running");
  // Woken by the wall-clock timer, with nothing else happening.
  ASSERT_TRUE(pm.wait_for_line(R"(office running: pid \d+ started)", 20s)) << pm.output();
  ASSERT_TRUE(pm.wait_for_line("office stopping: its schedule window closed", 20s)) << pm.output();
  ASSERT_TRUE(wait_state(pm, "office", "stopped"));
  EXPECT_TRUE(marked().empty());
  EXPECT_EQ(interrupt(pm), 0);
}

}  // namespace
}  // namespace procman::test

// ---------------------------------------------------------------- health

namespace procman::test {
namespace {

TEST_F(Engine, FailingLivenessCheckRestartsTheProcessWithoutOverlap) {
  // Healthy while the flag file is absent; the test creates it to make the check fail.
  const std::string flag = dir_.file("sick");
  write_config(fmt::format(R"toml(
[[process]]
id = "svc"
command = "sleep 1000"
restart-delay = "100ms"
stop-timeout = "2s"
health-check = {{ command = "test ! -e {}", timeout = "2s", period = "200ms", failure-threshold = 2 }}
)toml",
                           flag));
  Procmand& pm = start();
  const int first = running_pid(pm, "svc");
  ASSERT_GT(first, 0) << pm.output();
  dir_.write("sick", "");
  ASSERT_TRUE(pm.wait_for_line("svc stopping: health check failed 2 times in a row", 20s)) << pm.output();
  std::remove(flag.c_str());
  ASSERT_TRUE(pm.wait_for_line(R"(svc running: pid \d+ started)", 20s)) << pm.output();
  const int second = pid_of("svc");
  EXPECT_NE(second, first);
  EXPECT_FALSE(pid_alive(first)) << "the old process is gone before the new one starts";
  // One `sleep`: the health check's own shell, when one runs at this moment, carries the
  // marker too and is not an overlap.
  // The new one may still be inside its exec (environ reads empty for that moment).
  auto sleeps = [&] {
    std::size_t n = 0;
    for (pid_t p : marked()) {
      std::string comm;
      std::getline(std::ifstream("/proc/" + std::to_string(p) + "/comm"), comm);
      if (comm == "sleep") ++n;
    }
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return sleeps() == 1u; })) << sleeps();
  EXPECT_EQ(interrupt(pm), 0);
}

/// A loopback TCP port that was free a moment ago.
uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

TEST_F(Engine, HttpReadinessCheckGatesDependents) {
  // web only starts listening after a second; app must wait until it answers HTTP 200.
  const uint16_t port = free_port();
  write_config(fmt::format(R"toml(
[[process]]
id = "web"
command = "sh -c 'sleep 1; exec python3 -m http.server {0} --bind 127.0.0.1'"
stop-timeout = "2s"
readiness-check = {{ http = "http://127.0.0.1:{0}/", timeout = "1s", period = "200ms" }}

[[process]]
id = "app"
command = "sleep 1000"
depends-on = ["web"]
)toml",
                           port));
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line("web init: .*waiting for the readiness check", 20s)) << pm.output();
  ASSERT_TRUE(pm.wait_for_line("web running: readiness check passed: HTTP 200", 20s)) << pm.output();
  ASSERT_TRUE(pm.wait_for_line(R"(app running: pid \d+ started)", 20s)) << pm.output();
  const std::string out = pm.output();
  EXPECT_LT(line_index(out, "web running: readiness check passed"), line_index(out, "app running"));
  EXPECT_EQ(interrupt(pm), 0);
}

TEST_F(Engine, DependencyProbesGateStartAndTimeOutIntoFailed) {
  const uint16_t closed = free_port();
  write_config(fmt::format(R"toml(
[[process]]
id = "after-flag"
command = "sleep 1000"
depends-on = [{{ path = "ready.flag", poll-interval = "100ms" }}]

[[process]]
id = "never"
command = "sleep 1000"
depends-on = [{{ tcp = "127.0.0.1:{}", poll-interval = "100ms", timeout = "1s" }}]
)toml",
                           closed));
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line("after-flag pending: waiting for .*ready.flag to exist", 20s)) << pm.output();
  dir_.write("ready.flag", "");
  EXPECT_GT(running_pid(pm, "after-flag"), 0) << pm.output();
  ASSERT_TRUE(pm.wait_for_line("never failed: dependency timed out after 1s: 127.0.0.1:\\d+ to accept connections", 20s, false))
      << pm.output();
  EXPECT_GT(pid_of("after-flag"), 0) << "one failed dependent does not take procmand down";
  EXPECT_EQ(interrupt(pm), 0);
}

TEST_F(Engine, TcpAndFileReadinessChecksGateRunning) {
  const uint16_t port = free_port();
  write_config(fmt::format(R"toml(
[[process]]
id = "listener"
command = "sh -c 'sleep 1; exec python3 -c \"import socket,time; s=socket.socket(); s.bind((\\\"127.0.0.1\\\",{0})); s.listen(); time.sleep(1000)\"'"
stop-timeout = "2s"
readiness-check = {{ tcp = "127.0.0.1:{0}", timeout = "1s", period = "200ms" }}

[[process]]
id = "flagged"
command = "sleep 1000"
readiness-check = {{ file = "go.flag", period = "100ms" }}
)toml",
                           port));
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line("listener running: readiness check passed: connected to 127.0.0.1", 20s, false))
      << pm.output();
  ASSERT_TRUE(wait_state(pm, "flagged", "init"));
  EXPECT_EQ(unit("flagged")->state, "init") << "no file yet";
  dir_.write("go.flag", "");
  ASSERT_TRUE(pm.wait_for_line("flagged running: readiness check passed: .*go.flag exists", 20s, false))
      << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
}

TEST_F(Engine, FolderInactivityAndAHangingHttpEndpointBothRestartTheProcess) {
  // A listener that never accepts: an HTTP check against it hangs until its timeout.
  int hang = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(hang, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(hang, 16), 0);
  getsockname(hang, reinterpret_cast<sockaddr*>(&a), &len);
  const uint16_t hang_port = ntohs(a.sin_port);
  std::filesystem::create_directories(dir_.file("activity"));
  write_config(fmt::format(R"toml(
[[process]]
id = "quiet"
command = "sleep 1000"
restart-delay = "100ms"
stop-timeout = "2s"
health-check = {{ folder = "activity", inactive-time = "1s", period = "200ms", failure-threshold = 1 }}

[[process]]
id = "stuck"
command = "sleep 1000"
restart-delay = "100ms"
stop-timeout = "2s"
health-check = {{ http = "http://127.0.0.1:{}/health", timeout = "300ms", period = "100ms", failure-threshold = 2 }}
)toml",
                           hang_port));
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line("quiet stopping: health check failed 1 times in a row: no change in .*activity", 20s, false))
      << pm.output();
  ASSERT_TRUE(pm.wait_for_line("stuck stopping: health check failed 2 times in a row: timed out after 300ms", 20s, false))
      << pm.output();
  ASSERT_TRUE(pm.wait_for_line(R"(stuck running: pid \d+ started)", 20s)) << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
  close(hang);
}

TEST_F(Engine, EveryDependencyProbeKindLetsItsDependentStart) {
  const uint16_t web = free_port();
  const uint16_t closed = free_port();
  write_config(fmt::format(R"toml(
[[process]]
id = "web"
command = "python3 -m http.server {0} --bind 127.0.0.1"
stop-timeout = "2s"

[[process]]
id = "migrate"
command = "sh -c 'sleep 0.5'"
one-shot = true

[[process]]
id = "d-url"
command = "sleep 1000"
depends-on = [{{ url = "http://127.0.0.1:{0}/", code = 200, poll-interval = "100ms" }}]

[[process]]
id = "d-exited"
command = "sleep 1000"
depends-on = [{{ process-exited = "migrate" }}]

[[process]]
id = "d-negatives"
command = "sleep 1000"
depends-on = [
  {{ not-listening = "127.0.0.1:{1}", poll-interval = "100ms" }},
  {{ not-exists = "no-such-file", poll-interval = "100ms" }},
  {{ not-running = "no-such-program-{2}", poll-interval = "100ms" }},
]

[[process]]
id = "d-blocked"
command = "sleep 1000"
depends-on = [{{ not-exists = "block.flag", poll-interval = "100ms" }}]
)toml",
                           web, closed, getpid()));
  dir_.write("block.flag", "");
  Procmand& pm = start();
  for (const char* name : {"d-url", "d-exited", "d-negatives"})
    EXPECT_GT(running_pid(pm, name), 0) << name << "\n" << pm.output();
  const std::string out = pm.output();
  EXPECT_LT(line_index(out, "migrate exited-ok"), line_index(out, "d-exited running"));
  EXPECT_EQ(unit("d-blocked")->state, "pending");
  std::remove(dir_.file("block.flag").c_str());
  EXPECT_GT(running_pid(pm, "d-blocked"), 0) << pm.output();
  EXPECT_EQ(interrupt(pm), 0);
}

}  // namespace
}  // namespace procman::test
