// The FIFO front door, black-box: shell scripts and `procmanctl fifo` talk to
// the real procmand through its FIFO (docs/fifo-protocol.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "fixture.h"

namespace procman::test {
namespace {

class Fifo : public DaemonFixture {
 protected:
  std::string fifo() const { return dir_.file("ctl.fifo"); }

  Procmand& start_listening(std::vector<std::string> env = {}) {
    Procmand& pm = start_with({"--fifo", fifo()}, std::move(env));
    EXPECT_TRUE(pm.wait_for_line("supervising .*fifo " + fifo()));
    return pm;
  }

  /// Writes one line the way a shell script does (`printf '%s\n' ... > fifo`).
  void send(const std::string& line) const {
    RunResult r = run({"/bin/sh", "-c", "printf '%s\\n' \"$1\" > \"$2\"", "sh", line, fifo()});
    ASSERT_EQ(r.code, 0) << r.output;
  }

  RunResult ctl(std::vector<std::string> args) const {
    args.insert(args.begin(), PROCMANCTL_PATH);
    return run(args);
  }
};

TEST_F(Fifo, RunStartsATransientProcessWithItsEnvironmentMergedOverProcmands) {
  write_config("[[process]]\nid = \"base\"\ncommand = \"sleep 1000\"\n");
  Procmand& pm = start_listening({"FROM_DAEMON=daemon", "SHARED=daemon"});
  send(R"({"type":"run","name":"job","run":"sh -c 'echo $FROM_DAEMON $SHARED $EXTRA; exec sleep 1000'",)"
       R"("env":{"SHARED":"message","EXTRA":"x"}})");
  EXPECT_TRUE(pm.wait_for_line("procman \\| job submitted via fifo"));
  EXPECT_TRUE(pm.wait_for_line(child_line("job", "daemon message x")));
  EXPECT_GT(running_pid(pm, "job"), 0);
}

TEST_F(Fifo, ARepeatedNameBecomesNameDotOneThenDotTwo) {
  write_config("[[process]]\nid = \"base\"\ncommand = \"sleep 1000\"\n");
  Procmand& pm = start_listening();
  for (int i = 0; i < 3; ++i) send(R"({"type":"run","name":"w","run":"sleep 1000"})");
  EXPECT_TRUE(pm.wait_for_line("procman \\| w submitted via fifo"));
  EXPECT_TRUE(pm.wait_for_line("procman \\| w\\.1 submitted via fifo"));
  EXPECT_TRUE(pm.wait_for_line("procman \\| w\\.2 submitted via fifo"));
  EXPECT_GT(running_pid(pm, "w"), 0);
  EXPECT_GT(running_pid(pm, "w.1"), 0);
  EXPECT_GT(running_pid(pm, "w.2"), 0);
}

TEST_F(Fifo, RunHonoursDependsAndWaitsForThem) {
  write_config("[[process]]\nid = \"base\"\ncommand = \"sleep 1000\"\n");
  Procmand& pm = start_listening();
  const std::string flag = dir_.file("flag");
  send(fmt::format(R"({{"type":"run","name":"gated","run":"sleep 1000","depends":[{{"path":"{}","poll_interval":0.1}}]}})",
                   flag));
  EXPECT_TRUE(pm.wait_for_line("procman \\| gated submitted via fifo"));
  EXPECT_TRUE(wait_state(pm, "gated", "pending"));
  dir_.write("flag", "");
  EXPECT_GT(running_pid(pm, "gated"), 0);
}

TEST_F(Fifo, OnceRunsAOneShot) {
  write_config("[[process]]\nid = \"base\"\ncommand = \"sleep 1000\"\n");
  Procmand& pm = start_listening();
  send(R"({"type":"run","name":"task","run":"true","once":true})");
  EXPECT_TRUE(wait_state(pm, "task", "exited-ok"));
}

TEST_F(Fifo, BadLinesAreLoggedWithTheReasonAndNothingRunningIsAffected) {
  write_config("[[process]]\nid = \"base\"\ncommand = \"sleep 1000\"\n");
  Procmand& pm = start_listening();
  const int pid = running_pid(pm, "base");
  ASSERT_GT(pid, 0);
  send("this is not json");
  EXPECT_TRUE(pm.wait_for_line("fifo: skipped a bad line: not JSON"));
  send(R"({"type":"fizzle"})");
  EXPECT_TRUE(pm.wait_for_line("fifo: skipped a bad line: unknown message type \"fizzle\""));
  send(R"({"type":"run","name":"x"})");
  EXPECT_TRUE(pm.wait_for_line("fifo: skipped a bad line: missing field \"run\""));
  send(R"({"type":"run","name":"x","run":"true","once":"yes"})");
  EXPECT_TRUE(pm.wait_for_line("fifo: skipped a bad line: field \"once\": expected a boolean"));
  send(R"({"type":"stop","name":"nosuch"})");
  EXPECT_TRUE(pm.wait_for_line("fifo: no process named 'nosuch'"));
  // A line longer than 64 KiB is discarded without being buffered whole.
  {
    std::string big = R"({"type":"run","name":"big","run":")" + std::string(70000, 'a') + "\"}";
    int fd = open(fifo().c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    big += "\n";
    std::size_t off = 0;
    while (off < big.size()) {
      ssize_t n = write(fd, big.data() + off, big.size() - off);
      ASSERT_GT(n, 0);
      off += static_cast<std::size_t>(n);
    }
    close(fd);
  }
  EXPECT_TRUE(pm.wait_for_line("fifo: line longer than 65536 bytes"));
  // Reading goes on, and the running process never noticed.
  send(R"({"type":"run","name":"after","run":"sleep 1000"})");
  EXPECT_TRUE(pm.wait_for_line("procman \\| after submitted via fifo"));
  EXPECT_EQ(pid_of("base"), pid);
  EXPECT_TRUE(pid_alive(pid));
  EXPECT_FALSE(unit("big").has_value());
}

TEST_F(Fifo, StartStopAndRestartByName) {
  write_config("[[process]]\nid = \"svc\"\ncommand = \"sleep 1000\"\n");
  Procmand& pm = start_listening();
  const int first = running_pid(pm, "svc");
  ASSERT_GT(first, 0);
  send(R"({"type":"restart","name":"svc"})");
  EXPECT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("svc");
    return u && u->state == "running" && u->pid != first;
  }));
  send(R"({"type":"stop","name":"svc"})");
  EXPECT_TRUE(wait_state(pm, "svc", "stopped"));
  send(R"({"type":"start","name":"svc"})");
  EXPECT_GT(running_pid(pm, "svc"), 0);
}

TEST_F(Fifo, ShutdownLogsWhoAndWhyThenStopsEverything) {
  write_config("[[process]]\nid = \"svc\"\ncommand = \"sleep 1000\"\n");
  Procmand& pm = start_listening();
  const int pid = running_pid(pm, "svc");
  ASSERT_GT(pid, 0);
  send(R"({"type":"shutdown","user":"alice","message":"deploy done"})");
  EXPECT_TRUE(pm.wait_for_line("shutdown via fifo: alice: deploy done"));
  EXPECT_EQ(pm.wait_exit(), 0);
  EXPECT_FALSE(pid_alive(pid));
  EXPECT_FALSE(std::filesystem::exists(fifo())) << "procmand removes the FIFO it made";
}

TEST_F(Fifo, ProcmanctlFifoClientRunsAndShutsDown) {
  write_config("[[process]]\nid = \"base\"\ncommand = \"sleep 1000\"\n");
  Procmand& pm = start_listening();
  RunResult r = ctl({"fifo", "run", "--fifo", fifo(), "--name", "tool", "-e", "GREETING=hi", "--", "sh", "-c",
                     "echo $GREETING; exec sleep 1000"});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(pm.wait_for_line(child_line("tool", "hi")));
  r = ctl({"fifo", "stop", "--fifo", fifo(), "tool"});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(wait_state(pm, "tool", "stopped"));
  r = ctl({"fifo", "shutdown", "--fifo", fifo(), "--message", "bye"});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(pm.wait_for_line(": bye$"));
  EXPECT_EQ(pm.wait_exit(), 0);
}

TEST_F(Fifo, ClientFailsAtOnceWhenNoProcmandListens) {
  // No FIFO at all.
  RunResult r = ctl({"fifo", "run", "--fifo", fifo(), "--", "true"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("no procmand is listening on " + fifo()), std::string::npos) << r.output;
  // A FIFO left behind by a procmand that was killed: nobody reads it.
  ASSERT_EQ(mkfifo(fifo().c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  r = ctl({"fifo", "shutdown", "--fifo", fifo()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("no procmand is listening"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s) << "it must not block";
}

TEST_F(Fifo, UnsafePathsAreRefusedAndProcmandRunsWithoutTheFifo) {
  write_config("[[process]]\nid = \"svc\"\ncommand = \"sleep 1000\"\n");
  // A symlink planted where the FIFO goes.
  dir_.write("elsewhere", "");
  ASSERT_EQ(symlink(dir_.file("elsewhere").c_str(), fifo().c_str()), 0);
  {
    Procmand& pm = start_with({"--fifo", fifo()});
    EXPECT_TRUE(pm.wait_for_line("fifo: .*symlink"));
    EXPECT_GT(running_pid(pm, "svc"), 0);
    EXPECT_EQ(interrupt(pm), 0);
  }
  unlink(fifo().c_str());
  // Not a FIFO.
  dir_.write("ctl.fifo", "regular");
  {
    Procmand& pm = start_with({"--fifo", fifo()});
    EXPECT_TRUE(pm.wait_for_line("fifo: .*not a FIFO"));
    EXPECT_EQ(interrupt(pm), 0);
  }
  unlink(fifo().c_str());
  // Someone else's FIFO.
  ASSERT_EQ(mkfifo(fifo().c_str(), 0600), 0);
  ASSERT_EQ(chown(fifo().c_str(), 65534, 65534), 0);
  {
    Procmand& pm = start_with({"--fifo", fifo()});
    EXPECT_TRUE(pm.wait_for_line("fifo: .*owned by"));
    EXPECT_EQ(interrupt(pm), 0);
  }
}

TEST_F(Fifo, DefaultPathIsDerivedFromTheConfigLikeSeedZero) {
  write_config("[[process]]\nid = \"svc\"\ncommand = \"sleep 1000\"\n");
  const std::string tmp = dir_.file("tmp");
  std::filesystem::create_directories(tmp);
  RunResult where = run({PROCMANCTL_PATH, "fifo-path", config_path()}, {"TMPDIR=" + tmp, "XDG_RUNTIME_DIR="});
  ASSERT_EQ(where.code, 0) << where.output;
  const std::string path = where.output.substr(0, where.output.find('\n'));
  EXPECT_EQ(path.rfind(tmp + "/procman-", 0), 0u) << path;
  Procmand& pm = start({"TMPDIR=" + tmp, "XDG_RUNTIME_DIR="});
  EXPECT_TRUE(pm.wait_for_line("supervising .*fifo " + path));
  RunResult r = run({PROCMANCTL_PATH, "fifo", "run", "-c", config_path(), "--name", "extra", "--", "sleep", "1000"},
                    {"TMPDIR=" + tmp, "XDG_RUNTIME_DIR="});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_GT(running_pid(pm, "extra"), 0);
}

TEST_F(Fifo, TransientProcessesSurviveAProcmandCrash) {
  write_config("[[process]]\nid = \"base\"\ncommand = \"sleep 1000\"\n");
  int pid = -1;
  {
    Procmand& pm = start_listening();
    send(R"({"type":"run","name":"job","run":"sleep 1000"})");
    pid = running_pid(pm, "job");
    ASSERT_GT(pid, 0);
    pm.signal(SIGKILL);
    pm.wait_exit();
  }
  daemons_.clear();
  Procmand& again = start_with({"--fifo", fifo()});
  EXPECT_TRUE(again.wait_for_line("job .*re-adopted pid " + std::to_string(pid)));
  EXPECT_EQ(pid_of("job"), pid);
  EXPECT_EQ(interrupt(again), 0);
  EXPECT_FALSE(pid_alive(pid));
}

// ---------------------------------------------------------------- events

class Events : public DaemonFixture {};

TEST_F(Events, HooksRunWithTheEventInTheirEnvironment) {
  const std::string log = dir_.file("hooks.log");
  write_config(fmt::format(R"toml(
[[process]]
id = "job"
command = "sh -c 'sleep 0.2; exit 3'"
restart = "no"
on-start = "echo start $PROCMAN_NAME $PROCMAN_STATE >> {0}"
on-exit = "echo exit $PROCMAN_NAME code=$PROCMAN_EXIT_CODE pid=$PROCMAN_PID >> {0}"
on-failure = "echo failure $PROCMAN_NAME $PROCMAN_STATE >> {0}"
)toml",
                           log));
  Procmand& pm = start();
  ASSERT_TRUE(wait_state(pm, "job", "failed"));
  EXPECT_TRUE(wait_until([&] {
    pm.output();
    return count_lines(slurp(log), ".") == 3;
  })) << slurp(log);
  const std::string text = slurp(log);
  EXPECT_GE(line_index(text, "^start job running$"), 0) << text;
  EXPECT_GE(line_index(text, "^exit job code=3 pid=[0-9]+$"), 0) << text;
  EXPECT_GE(line_index(text, "^failure job failed$"), 0) << text;
}

TEST_F(Events, AControllerSeesEveryEventAndDrivesProcmandThroughItsStdout) {
  const std::string events = dir_.file("events.log");
  dir_.write("controller.sh",
             "#!/bin/sh\n"
             "while IFS= read -r line; do\n"
             "  printf '%s\\n' \"$line\" >> " + events + "\n"
             "  case \"$line\" in\n"
             "    *'\"event\":\"hello\"'*)\n"
             "      echo 'this is garbage'\n"
             "      printf '%s\\n' '{\"type\":\"run\",\"name\":\"fromctl\",\"run\":\"sleep 1000\",\"id\":\"r1\"}';;\n"
             "  esac\n"
             "done\n",
             true);
  write_config(fmt::format(R"toml(
[controller]
command = "{}"
restart-delay = {{ initial = "100ms" }}

[[process]]
id = "base"
command = "sleep 1000"
)toml",
                           dir_.file("controller.sh")));
  Procmand& pm = start();
  // Garbage is logged and skipped; the command after it is carried out.
  EXPECT_TRUE(pm.wait_for_line("controller: skipped a bad line: not JSON", 20s, false));
  EXPECT_GT(running_pid(pm, "fromctl"), 0);
  EXPECT_TRUE(wait_until([&] {
    pm.output();
    const std::string t = slurp(events);
    return t.find("\"event\":\"reply\"") != std::string::npos &&
           t.find("\"name\":\"fromctl\"") != std::string::npos && t.find("\"to\":\"running\"") != std::string::npos;
  })) << slurp(events);
  EXPECT_GE(line_index(slurp(events), "^\\{\"event\":\"hello\""), 0);
  // It is supervised: killed, it comes back and says hello again.
  auto ctl_pid = capture_int(pm.wait_for_line("controller started \\(pid ([0-9]+)\\)", 20s, false), "pid ([0-9]+)");
  ASSERT_GT(ctl_pid, 0);
  kill(ctl_pid, SIGKILL);
  EXPECT_TRUE(pm.wait_for_line("controller killed by SIGKILL; restarting"));
  EXPECT_TRUE(wait_until([&] {
    pm.output();
    return count_lines(slurp(events), "\"event\":\"hello\"") == 2;
  }));
  EXPECT_EQ(interrupt(pm), 0);
  EXPECT_TRUE(pm.wait_for_line("controller stopped", 20s, false));
}

}  // namespace
}  // namespace procman::test
