// Tests for os/spawner: real processes, every one of them reaped.
#include "os/spawner.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace procman::os {

// Readable gtest failure messages (found by ADL; internal linkage keeps it per test file).
[[maybe_unused]] static void PrintTo(const ExitStatus& s, std::ostream* os) { *os << describe(s); }

namespace {

constexpr int kTimeoutMs = 20'000;

struct Pipe {
  unique_fd read;
  unique_fd write;
};

Pipe make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2: " << errno;
  return Pipe{unique_fd(fds[0]), unique_fd(fds[1])};
}

/// Everything written to `fd` until every writer has closed it (bounded).
std::string read_until_eof(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, kTimeoutMs);
    if (r == 0) {
      ADD_FAILURE() << "timed out waiting for output; got so far: " << out;
      return out;
    }
    if (r < 0 && errno == EINTR) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

/// One line from `fd` (bounded), without the '\n'.
std::string read_line(int fd) {
  std::string out;
  char c;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kTimeoutMs) <= 0) {
      ADD_FAILURE() << "timed out waiting for a line";
      return out;
    }
    if (read(fd, &c, 1) != 1 || c == '\n') return out;
    out += c;
  }
}

/// Waits (bounded) for the child behind `pidfd` to exit and reaps it.
std::optional<ExitStatus> wait_exit(pid_t pid, int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  if (poll(&p, 1, kTimeoutMs) != 1) {
    ADD_FAILURE() << "process " << pid << " did not exit in time";
    kill(pid, SIGKILL);
  }
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) != 0) return std::nullopt;
  return exit_status_from_siginfo(info);
}

struct Ran {
  std::string out;
  std::optional<ExitStatus> status;
  std::string error;
};

SpawnRequest sh_request(const std::string& script) {
  SpawnRequest req;
  req.argv = {"/bin/sh", "-c", script};
  req.env = {"PATH=/usr/bin:/bin"};
  return req;
}

/// Spawns `req` with stdout and stderr on a pipe, collects the output and reaps it.
Ran run(SpawnRequest req) {
  Pipe pipe = make_pipe();
  req.stdout_fd = pipe.write.get();
  req.stderr_fd = pipe.write.get();
  SpawnResult r = spawn(req);
  pipe.write.reset();
  Ran result;
  result.error = r.error;
  if (!r.error.empty()) return result;
  result.out = read_until_eof(pipe.read.get());
  result.status = wait_exit(r.pid, r.pidfd.get());
  return result;
}

Ran run_sh(const std::string& script) { return run(sh_request(script)); }

/// Our own unreaped children, from /proc (so a leaked zombie is visible).
std::string our_children() {
  std::ifstream f("/proc/self/task/" + std::to_string(gettid()) + "/children");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string status_field(pid_t pid, const std::string& name) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string v = line.substr(name.size() + 1);
      return v.substr(v.find_first_not_of(" \t"));
    }
  }
  return "";
}

/// A running `sleep` for tests that inspect a live child; kill and reap it with finish().
struct Sleeper {
  SpawnResult r;
  explicit Sleeper(SpawnRequest req) {
    req.argv = {"sleep", "1000"};
    req.env = {"PATH=/usr/bin:/bin"};
    r = spawn(req);
    EXPECT_EQ(r.error, "");
  }
  ExitStatus finish() {
    EXPECT_TRUE(signal_pidfd(r.pidfd.get(), SIGKILL));
    return wait_exit(r.pid, r.pidfd.get()).value_or(ExitStatus{});
  }
};

TEST(Spawner, PassesArgvAndEnvironmentExactly) {
  SpawnRequest req = sh_request(R"(printf '[%s]' "$0" "$@"; printf '{%s}{%s}' "$FOO" "$BAR")");
  req.argv.insert(req.argv.end(), {"zero", "a b", "c'd", "\"e\"", ""});
  req.env = {"FOO=bar  baz", "BAR=x=y"};
  Ran r = run(req);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.out, "[zero][a b][c'd][\"e\"][]{bar  baz}{x=y}");
  EXPECT_EQ(r.status, (ExitStatus{false, 0, false}));
}

TEST(Spawner, EnvironmentIsNotInheritedFromProcmand) {
  setenv("PROCMAN_TEST_LEAK", "leaked", 1);
  Ran r = run_sh("printf '%s' \"${PROCMAN_TEST_LEAK-unset}\"");
  unsetenv("PROCMAN_TEST_LEAK");
  EXPECT_EQ(r.out, "unset");
}

TEST(Spawner, LooksUpProgramInPathOfTheChildEnvironment) {
  SpawnRequest req = sh_request("echo found");
  req.argv[0] = "sh";
  req.env = {"PATH=/nonexistent:/usr/bin:/bin"};
  EXPECT_EQ(run(req).out, "found\n");

  req.env = {"PATH=/nonexistent"};
  EXPECT_EQ(run(req).error, "exec \"sh\": No such file or directory");
}

TEST(Spawner, UsesDefaultPathWhenTheEnvironmentHasNone) {
  SpawnRequest req = sh_request("echo found");
  req.argv[0] = "sh";
  req.env = {};
  Ran r = run(req);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "found\n");
}

TEST(Spawner, ReportsExecFailureAndLeavesNoZombie) {
  const std::string before = our_children();
  SpawnRequest req;
  req.argv = {"nosuchbinary"};
  req.env = {"PATH=/usr/bin:/bin"};
  SpawnResult r = spawn(req);
  EXPECT_EQ(r.error, "exec \"nosuchbinary\": No such file or directory");
  EXPECT_EQ(r.pid, -1);
  EXPECT_FALSE(r.pidfd);
  EXPECT_EQ(our_children(), before);
}

TEST(Spawner, WithoutAPidfdTheChildIsStillStartedAndOursToReap) {
  // What procmand asks for: its children's ends come with SIGCHLD.
  Pipe pipe = make_pipe();
  SpawnRequest req = sh_request("echo started; exit 4");
  req.want_pidfd = false;
  req.stdout_fd = pipe.write.get();
  SpawnResult r = spawn(req);
  pipe.write.reset();
  ASSERT_EQ(r.error, "");
  ASSERT_GT(r.pid, 0);
  EXPECT_FALSE(r.pidfd);
  EXPECT_EQ(read_until_eof(pipe.read.get()), "started\n");
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(r.pid), &info, WEXITED), 0);
  EXPECT_EQ(exit_status_from_siginfo(info), (ExitStatus{false, 4, false}));
}

TEST(Spawner, ReportsPermissionDeniedForNonExecutableFile) {
  std::string path = std::filesystem::temp_directory_path() / "procman-spawner-noexec";
  std::ofstream(path) << "#!/bin/sh\necho hi\n";
  SpawnRequest req;
  req.argv = {path};
  EXPECT_EQ(spawn(req).error, "exec \"" + path + "\": Permission denied");
  std::filesystem::remove(path);
}

TEST(Spawner, AppliesWorkDir) {
  std::string dir = std::filesystem::canonical(std::filesystem::temp_directory_path());
  SpawnRequest req = sh_request("pwd -P");
  req.work_dir = dir;
  EXPECT_EQ(run(req).out, dir + "\n");
}

TEST(Spawner, ReportsBadWorkDir) {
  SpawnRequest req = sh_request("true");
  req.work_dir = "/nope/x";
  Ran r = run(req);
  EXPECT_EQ(r.error, "chdir \"/nope/x\": No such file or directory");
}

TEST(Spawner, StdinIsDevNullAndStdoutStderrGoWhereAsked) {
  Ran r = run_sh("readlink /proc/self/fd/0; echo to-stderr >&2");
  EXPECT_EQ(r.out, "/dev/null\nto-stderr\n");
}

TEST(Spawner, StdinCanBeAPipeTheParentWrites) {
  Pipe in = make_pipe();
  SpawnRequest req = sh_request("read line; echo \"got $line\"");
  req.stdin_fd = in.read.get();
  Pipe out = make_pipe();
  req.stdout_fd = out.write.get();
  SpawnResult r = spawn(req);
  ASSERT_EQ(r.error, "");
  in.read.reset();
  out.write.reset();
  const std::string msg = "hello controller\n";
  ASSERT_EQ(::write(in.write.get(), msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
  in.write.reset();
  EXPECT_EQ(read_until_eof(out.read.get()), "got hello controller\n");
  wait_exit(r.pid, r.pidfd.get());
}

TEST(Spawner, MissingStdoutAndStderrGoToDevNull) {
  Sleeper s(SpawnRequest{});
  std::string fd = "/proc/" + std::to_string(s.r.pid) + "/fd/";
  EXPECT_EQ(std::filesystem::read_symlink(fd + "1"), "/dev/null");
  EXPECT_EQ(std::filesystem::read_symlink(fd + "2"), "/dev/null");
  s.finish();
}

TEST(Spawner, AppliesUmaskNiceAndRlimits) {
  SpawnRequest req = sh_request("umask; nice; ulimit -n; ulimit -Hn; ulimit -c");
  req.umask = 027;
  req.nice = 5;
  req.limits = {core::Limit{RLIMIT_NOFILE, "nofile", 100, 200},
                core::Limit{RLIMIT_CORE, "core", UINT64_MAX, UINT64_MAX}};
  Ran r = run(req);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.out, "0027\n5\n100\n200\nunlimited\n");
}

TEST(Spawner, ReportsRlimitFailureByName) {
  SpawnRequest req = sh_request("true");
  req.limits = {core::Limit{RLIMIT_NOFILE, "nofile", 300, 200}};
  EXPECT_EQ(run(req).error, "setrlimit nofile soft 300 hard 200: Invalid argument");
}

TEST(Spawner, RestoresNofileSoftLimitProcmandRaised) {
  struct rlimit ours {};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &ours), 0);
  ASSERT_GE(ours.rlim_max, 123u);
  set_child_nofile_soft_limit(123);
  Ran plain = run_sh("ulimit -n");
  SpawnRequest req = sh_request("ulimit -n");
  req.limits = {core::Limit{RLIMIT_NOFILE, "nofile", 77, ours.rlim_max}};
  Ran explicit_limit = run(req);
  set_child_nofile_soft_limit(ours.rlim_cur);
  EXPECT_EQ(plain.out, "123\n");
  EXPECT_EQ(explicit_limit.out, "77\n");  // a configured limit wins
}

TEST(Spawner, AppliesIoNice) {
  SpawnRequest req;
  req.ionice = core::IoNice{2, 7};
  Sleeper s(req);
  long prio = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, s.r.pid);
  EXPECT_EQ(prio, (2 << 13) | 7);
  s.finish();
}

TEST(Spawner, ChildLeadsItsOwnProcessGroup) {
  Sleeper s(SpawnRequest{});
  EXPECT_EQ(getpgid(s.r.pid), s.r.pid);
  s.finish();
}

TEST(Spawner, ChildStaysInOurGroupWhenAsked) {
  SpawnRequest req;
  req.new_process_group = false;
  Sleeper s(req);
  EXPECT_EQ(getpgid(s.r.pid), getpgid(0));
  s.finish();
}

TEST(Spawner, ChildSignalMaskIsEmptyAndDispositionsDefault) {
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(sigprocmask(SIG_BLOCK, &term, &old), 0);
  struct sigaction ignore {
  }, old_pipe{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old_pipe), 0);

  Sleeper s(SpawnRequest{});
  std::string blocked = status_field(s.r.pid, "SigBlk");
  std::string ignored = status_field(s.r.pid, "SigIgn");

  sigaction(SIGPIPE, &old_pipe, nullptr);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  EXPECT_EQ(blocked, "0000000000000000");
  EXPECT_EQ(ignored, "0000000000000000");
  // And SIGTERM, blocked here, really reaches it.
  ASSERT_TRUE(signal_pidfd(s.r.pidfd.get(), SIGTERM));
  EXPECT_EQ(wait_exit(s.r.pid, s.r.pidfd.get()), (ExitStatus{true, SIGTERM, false}));
}

/// fd number -> what it refers to, for a process's whole descriptor table.
std::map<std::string, std::string> fd_table(const std::string& pid) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + pid + "/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec) out[e.path().filename()] = target;
  }
  return out;
}

/// A child's table once it is `want`, or as it is when the bound runs out. spawn() returns
/// as soon as the exec is done, while the new program's loader may still hold a library open
/// for a moment; a descriptor leaked from us stays and fails the comparison.
std::map<std::string, std::string> child_fd_table(pid_t pid,
                                                  const std::map<std::string, std::string>& want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  auto table = fd_table(std::to_string(pid));
  while (table != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    table = fd_table(std::to_string(pid));
  }
  return table;
}

TEST(Spawner, OnlyStdioFdsAreInherited) {
  unique_fd leak(open("/dev/null", O_RDONLY));  // deliberately without O_CLOEXEC
  ASSERT_TRUE(leak);
  Sleeper s(SpawnRequest{});
  const std::map<std::string, std::string> want{
      {"0", "/dev/null"}, {"1", "/dev/null"}, {"2", "/dev/null"}};
  EXPECT_EQ(child_fd_table(s.r.pid, want), want);
  s.finish();
}

/// Every spawn in these tests goes through the reserved slots, as procmand's do.
class SpawnSlots : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(reserve_spawn_slots(&error)) << error;
  }
  void TearDown() override { release_spawn_slots(); }
};

std::string fd_target(int fd) {
  return std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd));
}

TEST_F(SpawnSlots, ChildGetsOnlyStdioAndItsListenersOutOfAThousandDescriptors) {
  // Procmand's situation: many descriptors of its own, some without close-on-exec.
  std::vector<unique_fd> mine;
  for (int i = 0; i < 1000; ++i)
    mine.emplace_back(open("/dev/null", i % 2 ? O_RDONLY : O_RDONLY | O_CLOEXEC));
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  unique_fd a(sv[0]), b(sv[1]);
  Pipe out = make_pipe();
  SpawnRequest req;
  req.stdout_fd = out.write.get();
  req.stderr_fd = out.write.get();
  req.listen_fds = {b.get(), a.get()};
  Sleeper s(req);
  const std::map<std::string, std::string> want{{"0", "/dev/null"},
                                                {"1", fd_target(out.write.get())},
                                                {"2", fd_target(out.write.get())},
                                                {"3", fd_target(b.get())},
                                                {"4", fd_target(a.get())}};
  EXPECT_EQ(child_fd_table(s.r.pid, want), want);
  s.finish();
}

TEST_F(SpawnSlots, OurTableIsTheSameAfterASpawnAndTheChildsPipeEnds) {
  const auto before = fd_table("self");
  Ran r = run_sh("echo out; echo err >&2");  // returns only once every writer closed the pipe
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "out\nerr\n");
  auto after = fd_table("self");
  EXPECT_EQ(after, before);
}

TEST_F(SpawnSlots, ExecAndSetupFailuresAreStillReported) {
  const std::string before = our_children();
  SpawnRequest req;
  req.argv = {"nosuchbinary"};
  req.env = {"PATH=/usr/bin:/bin"};
  EXPECT_EQ(spawn(req).error, "exec \"nosuchbinary\": No such file or directory");
  SpawnRequest bad = sh_request("true");
  bad.work_dir = "/nope/x";
  EXPECT_EQ(run(bad).error, "chdir \"/nope/x\": No such file or directory");
  EXPECT_EQ(our_children(), before);
}

TEST_F(SpawnSlots, AFailureAfterTheListenersMovedIsReportedAndLeavesNothingBehind) {
  // The child has moved its listeners to 3, 4 when chdir fails: its report must still reach
  // us, and neither a zombie nor a descriptor of ours may be left.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  unique_fd a(sv[0]), b(sv[1]);
  const std::string children = our_children();
  const auto table = fd_table("self");
  SpawnRequest req = sh_request("true");
  req.listen_fds = {b.get(), a.get()};
  req.work_dir = "/nope/x";
  SpawnResult r = spawn(req);
  EXPECT_EQ(r.error, "chdir \"/nope/x\": No such file or directory");
  EXPECT_EQ(r.pid, -1);
  EXPECT_EQ(our_children(), children);
  EXPECT_EQ(fd_table("self"), table);
}

TEST_F(SpawnSlots, SwappedStdioAndMoreListenersThanSlotsStillWork) {
  // Console mode passes procmand's own 1 and 2; more listeners than slots take the path
  // that copies the whole table.
  std::vector<unique_fd> socks;
  SpawnRequest req;
  for (std::size_t i = 0; i < kSpawnSlots + 4; ++i) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    socks.emplace_back(sv[0]);
    socks.emplace_back(sv[1]);
    req.listen_fds.push_back(sv[1]);
  }
  Pipe out = make_pipe();
  unique_fd saved1(fcntl(1, F_DUPFD_CLOEXEC, 3)), saved2(fcntl(2, F_DUPFD_CLOEXEC, 3));
  ASSERT_TRUE(saved1 && saved2);
  ASSERT_EQ(dup2(out.write.get(), 2), 2);  // the child's stdout is our 2, its stderr our 1
  req.stdout_fd = 2;
  req.stderr_fd = 1;
  Sleeper s(req);
  ASSERT_EQ(dup2(saved1.get(), 1), 1);
  ASSERT_EQ(dup2(saved2.get(), 2), 2);
  std::map<std::string, std::string> want{
      {"0", "/dev/null"}, {"1", fd_target(out.write.get())}, {"2", fd_target(1)}};
  for (std::size_t i = 0; i < req.listen_fds.size(); ++i)
    want[std::to_string(3 + i)] = fd_target(req.listen_fds[i]);
  EXPECT_EQ(child_fd_table(s.r.pid, want), want);
  s.finish();
}

TEST(Spawner, ReportsExitCode) {
  EXPECT_EQ(run_sh("exit 3").status, (ExitStatus{false, 3, false}));
}

TEST(Spawner, ReportsUnknownUserAndGroup) {
  SpawnRequest req = sh_request("true");
  req.user = "nobodyxyz";
  EXPECT_EQ(spawn(req).error, "user \"nobodyxyz\": no such user");
  req.user.reset();
  req.group = "nogroupxyz";
  EXPECT_EQ(spawn(req).error, "group \"nogroupxyz\": no such group");
}

TEST(Spawner, UnknownNumericUserNeedsAGroup) {
  SpawnRequest req = sh_request("true");
  req.user = "4000000";
  EXPECT_EQ(spawn(req).error, "user \"4000000\": no passwd entry for this uid; set group as well");
}

TEST(Spawner, SwitchesUserAndGroupsWhenRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  if (!getpwnam("nobody")) GTEST_SKIP() << "no user nobody";
  SpawnRequest req = sh_request("id -u; id -g; id -G");
  req.user = "nobody";
  req.work_dir = "/";
  Ran r = run(req);
  ASSERT_EQ(r.error, "");
  const std::string gid = std::to_string(getpwnam("nobody")->pw_gid);
  EXPECT_EQ(r.out, std::to_string(getpwnam("nobody")->pw_uid) + "\n" + gid + "\n" + gid + "\n");

  req.group = "0";  // an explicit group replaces the primary one
  r = run(req);
  EXPECT_EQ(r.out.substr(r.out.find('\n') + 1, 2), "0\n");
}

TEST(Spawner, RefusesAnotherUserWhenNotRoot) {
  // Ran the check from a forked helper that dropped to nobody (when we are root).
  Pipe pipe = make_pipe();
  pid_t helper = fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    if (geteuid() == 0 &&
        (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
      _exit(2);
    }
    SpawnRequest req;
    req.argv = {"/bin/true"};
    req.user = "root";
    std::string err = spawn(req).error;
    req.user = std::to_string(geteuid());  // ourselves: fine, nothing to switch
    SpawnResult same = spawn(req);
    if (same.pid > 0) waitpid(same.pid, nullptr, 0);
    std::string ok = same.error;
    std::string msg = err + "|" + ok;
    if (write(pipe.write.get(), msg.data(), msg.size()) < 0) _exit(3);
    _exit(0);
  }
  pipe.write.reset();
  std::string msg = read_until_eof(pipe.read.get());
  int status = 0;
  ASSERT_EQ(waitpid(helper, &status, 0), helper);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const std::string uid = geteuid() == 0 ? "65534" : std::to_string(geteuid());
  EXPECT_EQ(msg, "user \"root\": switching user needs root (procmand runs as uid " + uid + ")|");
}

TEST(Spawner, SignalGroupKillsTheWholeTreeIncludingGrandchildren) {
  // Become a subreaper so the orphaned grandchild is reparented to us and we can
  // observe (and reap) its death.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  Pipe pipe = make_pipe();
  SpawnRequest req = sh_request("sleep 1000 & echo $!; wait");
  req.stdout_fd = pipe.write.get();
  SpawnResult r = spawn(req);
  pipe.write.reset();
  ASSERT_EQ(r.error, "");
  pid_t grandchild = std::atoi(read_line(pipe.read.get()).c_str());
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(getpgid(grandchild), r.pid);

  EXPECT_TRUE(signal_group(r.pid, SIGKILL));
  EXPECT_EQ(wait_exit(r.pid, r.pidfd.get()), (ExitStatus{true, SIGKILL, false}));
  unique_fd gpidfd(static_cast<int>(syscall(SYS_pidfd_open, grandchild, 0)));
  if (gpidfd) {
    EXPECT_EQ(wait_exit(grandchild, gpidfd.get()), (ExitStatus{true, SIGKILL, false}));
  } else {
    int status = 0;
    EXPECT_EQ(waitpid(grandchild, &status, 0), grandchild);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);

  errno = 0;
  EXPECT_FALSE(signal_group(r.pid, SIGKILL));
  EXPECT_EQ(errno, ESRCH);
}

TEST(Spawner, SignalGroupRefusesOurOwnAndEveryGroup) {
  EXPECT_FALSE(signal_group(0, 0));
  EXPECT_EQ(errno, EINVAL);
  EXPECT_FALSE(signal_group(1, 0));
}

TEST(Spawner, SignalPidfdDeliversTheSignal) {
  Sleeper s(SpawnRequest{});
  ASSERT_TRUE(signal_pidfd(s.r.pidfd.get(), SIGINT));
  EXPECT_EQ(wait_exit(s.r.pid, s.r.pidfd.get()), (ExitStatus{true, SIGINT, false}));
  // Reaped: the pidfd now refers to no process.
  EXPECT_FALSE(signal_pidfd(s.r.pidfd.get(), 0));
  EXPECT_EQ(errno, ESRCH);
}

TEST(ExitStatus, FromSiginfo) {
  siginfo_t info{};
  info.si_code = CLD_EXITED;
  info.si_status = 4;
  EXPECT_EQ(exit_status_from_siginfo(info), (ExitStatus{false, 4, false}));
  info.si_code = CLD_KILLED;
  info.si_status = SIGKILL;
  EXPECT_EQ(exit_status_from_siginfo(info), (ExitStatus{true, SIGKILL, false}));
  info.si_code = CLD_DUMPED;
  info.si_status = SIGABRT;
  EXPECT_EQ(exit_status_from_siginfo(info), (ExitStatus{true, SIGABRT, true}));
  info.si_code = CLD_STOPPED;
  EXPECT_EQ(exit_status_from_siginfo(info), std::nullopt);
}

TEST(ExitStatus, FromWaitStatus) {
  EXPECT_EQ(exit_status_from_wait_status(3 << 8), (ExitStatus{false, 3, false}));
  EXPECT_EQ(exit_status_from_wait_status(SIGTERM), (ExitStatus{true, SIGTERM, false}));
  EXPECT_EQ(exit_status_from_wait_status(SIGSEGV | 0x80), (ExitStatus{true, SIGSEGV, true}));
  EXPECT_EQ(exit_status_from_wait_status(0x137f), std::nullopt);  // stopped by SIGSTOP
}

TEST(ExitStatus, DescribesItself) {
  EXPECT_EQ(describe({false, 3, false}), "exited with code 3");
  EXPECT_EQ(describe({true, SIGKILL, false}), "killed by SIGKILL");
  EXPECT_EQ(describe({true, SIGABRT, true}), "killed by SIGABRT (core dumped)");
}

}  // namespace
}  // namespace procman::os
