// The systemd contract, black-box through the real procmand (no systemd
// needed): downwards, what its children get (NOTIFY_SOCKET with READY=1,
// STATUS=, MAINPID=, WATCHDOG=1; LISTEN_FDS socket activation, start on
// demand); upwards, what procmand tells the manager that runs it (READY=1,
// STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1) and the FIFO that manager may
// pass it (LISTEN_FDS, FileDescriptorName=fifo). The "manager" here is the
// test itself: a datagram socket it binds, and a fork/exec it does.

// GCC 12 under -fsanitize=address reports a false -Wmaybe-uninitialized inside
// <regex> (the std::function in _StateT); -Werror would make it fatal.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"
#include "harness.h"
#include "support/private_bus.h"

extern char** environ;

namespace procman::test {
namespace {

// ---------------------------------------------------------------- helpers

/// The environment a process was started with (/proc/PID/environ), KEY -> value.
std::map<std::string, std::string> environ_of(pid_t pid) {
  // A process reported running has exec'd, but the kernel may still be finishing the exec
  // (it refuses /proc/PID/environ until then): retry an empty read, within bounds.
  std::string all;
  for (int i = 0; i < 5000 && all.empty(); ++i) {
    if (i > 0) usleep(1000);
    const std::string dir = "/proc/" + std::to_string(pid);
    std::ifstream f(dir + "/environ", std::ios::binary);
    if (!f) {
      if (::access(dir.c_str(), F_OK) != 0) break;  // gone
      continue;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    all = ss.str();
  }
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos < all.size()) {
    std::size_t nul = all.find('\0', pos);
    if (nul == std::string::npos) nul = all.size();
    const std::string kv = all.substr(pos, nul - pos);
    const std::size_t eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
    pos = nul + 1;
  }
  return out;
}

/// The parent pid of `pid` from /proc, -1 if it is gone.
pid_t parent_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return -1;
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(stat.substr(paren + 2));
  std::string state;
  int ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

/// A TCP port on 127.0.0.1 nobody listens on right now (the kernel's pick).
int free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/// One request to a line server: connect, read until EOF. `error` is the errno
/// of the step that failed (ECONNREFUSED from connect() is what socket
/// activation promises never to give), 0 on success.
struct Reply {
  int error = 0;
  std::string step;  ///< "connect", "recv", ...
  std::string text;
};

Reply ask(int port, std::chrono::seconds timeout = std::chrono::seconds(10)) {
  Reply r;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = errno;
    r.step = "socket";
    return r;
  }
  // Bounds both connect() (a full backlog) and recv() (a server not yet back).
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count());
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    r.error = errno;
    r.step = "connect";
    close(fd);
    return r;
  }
  char buf[256];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      r.error = errno;
      r.step = "recv";
      break;
    }
    r.text.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return r;
}

std::string describe(const Reply& r) {
  return r.error ? r.step + ": " + std::strerror(r.error)
                 : "reply " + nlohmann::json(r.text).dump();
}

/// A datagram socket bound at a file path: the test playing service manager
/// (what systemd offers a Type=notify service as $NOTIFY_SOCKET).
class ManagerSocket {
 public:
  explicit ManagerSocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~ManagerSocket() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  ManagerSocket(const ManagerSocket&) = delete;
  ManagerSocket& operator=(const ManagerSocket&) = delete;

  bool ok() const { return fd_ >= 0; }

  /// Every datagram received so far (drains the socket without waiting).
  const std::vector<std::string>& received() {
    char buf[8192];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) break;
      got_.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return got_;
  }

  /// Waits for a datagram, after index `from`, that has the line `line`
  /// (e.g. "READY=1"); returns its index or -1. Keeps procmand's output
  /// drained meanwhile.
  int wait_for(const std::string& line, std::size_t from, Procmand& pm,
               std::chrono::milliseconds timeout = 20s) {
    int found = -1;
    wait_until(
        [&] {
          pm.output();
          const auto& all = received();
          for (std::size_t i = from; i < all.size(); ++i)
            if (has_line(all[i], line)) {
              found = static_cast<int>(i);
              return true;
            }
          return false;
        },
        timeout);
    return found;
  }

  static bool has_line(const std::string& datagram, const std::string& line) {
    for (const auto& l : lines_of(datagram))
      if (l == line) return true;
    return false;
  }
  /// The value of KEY= in a datagram, nullopt without one.
  static std::optional<std::string> value(const std::string& datagram, const std::string& key) {
    for (const auto& l : lines_of(datagram))
      if (l.rfind(key + "=", 0) == 0) return l.substr(key.size() + 1);
    return std::nullopt;
  }

  std::string dump() {
    std::string out;
    for (const auto& d : received()) out += nlohmann::json(d).dump() + "\n";
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> got_;
};

/// procmand started the way systemd starts a socket-activated service: the
/// passed descriptor is fd 3 and $LISTEN_PID names procmand itself, which only
/// the forked child knows, so it is written in there (without allocating).
class ActivatedProcmand {
 public:
  ActivatedProcmand(std::vector<std::string> argv, const std::vector<std::string>& extra_env,
                    int passed_fd) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string kv(*e);
      const std::string key = kv.substr(0, kv.find('='));
      if (key == "LISTEN_FDS" || key == "LISTEN_PID" || key == "LISTEN_FDNAMES" ||
          key == "NOTIFY_SOCKET")
        continue;
      env.push_back(kv);
    }
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    env.push_back("LISTEN_FDS=1");
    env.push_back("LISTEN_PID=" + std::string(20, ' '));
    char* listen_pid = env.back().data() + std::strlen("LISTEN_PID=");
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      char digits[20];
      int n = 0;
      for (pid_t p = getpid(); p > 0; p /= 10) digits[n++] = static_cast<char>('0' + p % 10);
      for (int i = 0; i < n; ++i) listen_pid[i] = digits[n - 1 - i];
      listen_pid[n] = '\0';
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      const int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      if (passed_fd == 3) {
        fcntl(3, F_SETFD, 0);
      } else {
        dup2(passed_fd, 3);
      }
      setpgid(0, 0);
      execve(cargv[0], cargv.data(), cenv.data());
      _exit(127);
    }
    close(fds[1]);
    out_fd_ = fds[0];
    fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  }
  ~ActivatedProcmand() {
    if (pid_ > 0 && !exited_) kill_with_children(pid_);
    if (out_fd_ >= 0) close(out_fd_);
  }
  ActivatedProcmand(const ActivatedProcmand&) = delete;
  ActivatedProcmand& operator=(const ActivatedProcmand&) = delete;

  pid_t pid() const { return pid_; }

  std::string output() {
    char buf[65536];
    for (;;) {
      const ssize_t n = read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      buf_.append(buf, static_cast<std::size_t>(n));
    }
    return buf_;
  }

  /// Waits for an output line matching `re` (anywhere in the output so far).
  bool wait_for_line(const std::string& re, std::chrono::milliseconds timeout = 20s) {
    return wait_until([&] { return line_index(output(), re) >= 0; }, timeout);
  }

  std::optional<int> terminate(std::chrono::milliseconds timeout = 30s) {
    kill(pid_, SIGTERM);
    int status = 0;
    const bool done = wait_until(
        [&] {
          output();
          return waitpid(pid_, &status, WNOHANG) == pid_;
        },
        timeout);
    if (!done) return std::nullopt;
    exited_ = true;
    output();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buf_;
  bool exited_ = false;
};

// ---------------------------------------------------------------- fixture

class SystemdContract : public DaemonFixture {
 protected:
  /// The unit's whole entry in state.json (state, sub_state, result,
  /// failure_reason, restarts, ...); null when there is none.
  nlohmann::json raw(const std::string& name) const {
    auto units = read_state_units(state_);
    if (!units) return nullptr;
    auto it = units->find(name);
    return it == units->end() ? nullptr : nlohmann::json::parse(it->second);
  }

  /// Waits for state.json to show `name` in `state` with sub-state `sub`.
  bool wait_sub_state(Procmand& pm, const std::string& name, const std::string& state,
                      const std::string& sub) const {
    return wait_until([&] {
      pm.output();
      const auto u = raw(name);
      return u.is_object() && u.value("state", "") == state && u.value("sub_state", "") == sub;
    });
  }

  /// Waits for `name` to run under a pid other than `old`; returns it (-1 on timeout).
  int wait_new_pid(Procmand& pm, const std::string& name, int old) const {
    int pid = -1;
    wait_until([&] {
      pm.output();
      auto u = unit(name);
      if (u && u->state == "running" && u->pid > 0 && u->pid != old) pid = u->pid;
      return pid > 0;
    });
    return pid;
  }

  /// Waits for an on-demand process to be down again after its `runs`-th run
  /// ended cleanly: no pid, not restarting, waiting for the next connection.
  bool wait_idle(Procmand& pm, const std::string& name, int runs) const {
    return wait_until([&] {
      const std::string out = pm.output();
      const auto u = raw(name);
      if (!u.is_object() || count_lines(out, transition(name, "running")) != runs) return false;
      const std::string state = u.value("state", "");
      const auto exit = u.value("last_exit", nlohmann::json::object());
      return (state == "stopped" || state == "exited-ok") && u.value("pid", 0) == -1 &&
             exit.value("known", false) && !exit.value("signaled", true) &&
             exit.value("code", -1) == 0;
    });
  }

  std::string notify_path() const { return state_ + "/notify"; }
};

// ---------------------------------------------------------------- 1. ready = "notify"

TEST_F(SystemdContract, NotifyProcessIsInitUntilReadyThenRunningWithItsStatusAndGatesDependents) {
  PrivateBus bus;
  ASSERT_FALSE(bus.address().empty()) << bus.error();
  const std::vector<std::string> bus_env = {"DBUS_SESSION_BUS_ADDRESS=" + bus.address()};
  // It says READY=1 when the test lets it (a file appears), not after a guessed
  // delay. systemd-notify is a child of a's shell: a descendant of a.
  write_config(fmt::format(R"toml(
[[process]]
id = "a"
command = {{ line = "while [ ! -e {} ]; do sleep 0.05; done; /bin/systemd-notify --ready --status=warm; exec sleep 1000", type = "expression" }}
ready = "notify"

[[process]]
id = "b"
command = "sleep 1000"
depends-on = ["a"]
)toml",
                           dir_.file("go")));
  Procmand& pm = start(bus_env);
  ASSERT_TRUE(wait_sub_state(pm, "a", "init", "notify")) << raw("a").dump() << "\n" << pm.output();
  const int a_pid = pid_of("a");
  ASSERT_GT(a_pid, 0);
  // a cannot speak before the test lets it: b is held back, whatever the timing.
  EXPECT_TRUE(wait_state(pm, "b", "pending")) << raw("b").dump();
  EXPECT_EQ(pid_of("b"), -1) << "b must not start before a sent READY=1";
  EXPECT_EQ(raw("a").value("state", ""), "init") << "nothing was sent yet";

  const auto a_env = environ_of(a_pid);
  ASSERT_TRUE(a_env.count("NOTIFY_SOCKET")) << "a has ready = \"notify\"";
  EXPECT_EQ(a_env.at("NOTIFY_SOCKET"), notify_path());
  EXPECT_FALSE(a_env.count("WATCHDOG_USEC")) << "a has no watchdog";

  dir_.write("go", "");
  ASSERT_TRUE(pm.wait_for_line(transition("a", "running"))) << pm.output();
  EXPECT_EQ(pid_of("a"), a_pid) << "the same run, now ready";
  const int b_pid = running_pid(pm, "b");
  ASSERT_GT(b_pid, 0) << pm.output();
  EXPECT_LT(line_index(pm.output(), transition("a", "running")),
            line_index(pm.output(), transition("b", "running")));

  // STATUS= is the process's status text, on the bus and in procmanctl.
  RunResult show = run({PROCMANCTL_PATH, "show", "--json", "a"}, bus_env);
  ASSERT_EQ(show.code, 0) << show.output;
  const auto props = nlohmann::json::parse(show.output, nullptr, false);
  ASSERT_TRUE(props.is_object()) << show.output;
  EXPECT_EQ(props.value("StatusText", ""), "warm") << show.output;
  EXPECT_EQ(props.value("State", ""), "running") << show.output;

  // A process with neither ready = "notify" nor a watchdog gets no NOTIFY_SOCKET.
  const auto b_env = environ_of(b_pid);
  ASSERT_TRUE(b_env.count("PROCMAN_NAME")) << "b's environment was not readable";
  EXPECT_FALSE(b_env.count("NOTIFY_SOCKET"));
  EXPECT_FALSE(b_env.count("WATCHDOG_USEC"));
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
}

// ---------------------------------------------------------------- 2. start-timeout

TEST_F(SystemdContract, NotifyProcessThatNeverSaysReadyFailsAfterStartTimeout) {
  write_config(R"toml(
[[process]]
id = "mute"
command = "sleep 1000"
ready = "notify"
start-timeout = "1s"
restart = "no"
)toml");
  Procmand& pm = start();
  ASSERT_TRUE(wait_sub_state(pm, "mute", "init", "notify")) << pm.output();
  const int pid = pid_of("mute");
  ASSERT_GT(pid, 0);
  auto line = pm.wait_for_line(transition("mute", "failed"));
  ASSERT_TRUE(line) << pm.output();
  EXPECT_NE(line->find("did not send READY=1 within 1s"), std::string::npos) << *line;
  ASSERT_TRUE(wait_state(pm, "mute", "failed"));
  const auto u = raw("mute");
  EXPECT_EQ(u.value("failure_reason", ""), "did not send READY=1 within 1s") << u.dump();
  EXPECT_EQ(u.value("result", ""), "start-failed") << u.dump();
  EXPECT_TRUE(wait_until([&] { return !pid_alive(pid); })) << "the attempt's process is stopped";
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
}

// ---------------------------------------------------------------- 3. watchdog

TEST_F(SystemdContract, MissedWatchdogRestartsTheProcessWithResultWatchdog) {
  write_config(R"toml(
[[process]]
id = "dog"
# The shell stays (no exec) to say which signal ended the hang.
command = { line = "trap 'echo caught SIGABRT; exit 1' ABRT; /bin/systemd-notify --ready; for i in 1 2 3; do /bin/systemd-notify WATCHDOG=1; sleep 0.1; done; sleep 1000 & wait", type = "expression" }
ready = "notify"
watchdog = "1s"
restart = "always"
restart-delay = "100ms"
)toml");
  Procmand& pm = start();
  const int first = running_pid(pm, "dog");
  ASSERT_GT(first, 0) << pm.output();
  const auto env = environ_of(first);
  EXPECT_EQ(env.count("WATCHDOG_USEC") ? env.at("WATCHDOG_USEC") : "(unset)", "1000000");
  EXPECT_EQ(env.count("NOTIFY_SOCKET") ? env.at("NOTIFY_SOCKET") : "(unset)", notify_path());

  // It hangs (sleep 1000) after its pings: the watchdog takes it down and it comes back.
  auto down = pm.wait_for_line(transition("dog", "backoff"));
  ASSERT_TRUE(down) << pm.output();
  EXPECT_NE(down->find("watchdog timeout: no WATCHDOG=1 within 1s"), std::string::npos) << *down;
  const int second = wait_new_pid(pm, "dog", first);
  ASSERT_GT(second, 0) << pm.output();
  EXPECT_FALSE(pid_alive(first));
  const auto u = raw("dog");
  EXPECT_GE(u.value("restarts", 0), 1) << u.dump();
  EXPECT_EQ(u.value("result", ""), "watchdog") << u.dump();
  EXPECT_NE(u.value("failure_reason", "").find("watchdog"), std::string::npos) << u.dump();
  EXPECT_GE(line_index(pm.output(), transition("dog", "stopping") + ".*watchdog timeout"), 0)
      << pm.output();
  // The hang is ended with SIGABRT (a core dump shows where it hung), not the stop signal.
  EXPECT_TRUE(pm.wait_for_line(child_line("dog", "caught SIGABRT"), 20s, false)) << pm.output();
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
}

// ---------------------------------------------------------------- 4. MAINPID=

TEST_F(SystemdContract, MainPidMovesSupervisionToTheNamedProcessAfterTheShellExits) {
  write_config(R"toml(
[[process]]
id = "forker"
command = { line = "sleep 1000 & echo \"child $!\"; /bin/systemd-notify --ready MAINPID=$!; exit 0", type = "expression" }
ready = "notify"
restart = "always"
restart-delay = "100ms"
)toml");
  Procmand& pm = start();
  const int child =
      capture_int(pm.wait_for_line(child_line("forker", "child [0-9]+")), "child ([0-9]+)");
  ASSERT_GT(child, 0) << pm.output();
  ASSERT_TRUE(pm.wait_for_line(transition("forker", "running"), 20s, false)) << pm.output();
  // The shell exits once systemd-notify returned; the sleep is then orphaned to
  // procmand (a child subreaper).
  ASSERT_TRUE(wait_until([&] {
    pm.output();
    return parent_of(child) == pm.pid();
  })) << "the shell did not exit; parent of "
      << child << " is " << parent_of(child);
  // Still running, as the sleep; the shell's exit 0 meant nothing.
  auto u = unit("forker");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->state, "running");
  EXPECT_EQ(u->pid, child);
  EXPECT_EQ(u->restarts, 0u);
  EXPECT_EQ(count_lines(pm.output(), transition("forker", "(backoff|exited-ok|failed|stopped)")), 0)
      << pm.output();

  // Its death is the unit's death: restarted under the always policy.
  ASSERT_EQ(kill(child, SIGKILL), 0);
  auto down = pm.wait_for_line(transition("forker", "backoff"));
  ASSERT_TRUE(down) << pm.output();
  // By now procmand is the sleep's parent (child subreaper): it reaps it and knows how it died.
  EXPECT_NE(down->find("killed by SIGKILL"), std::string::npos)
      << "the MAINPID process was procmand's own (re-parented) child, yet its end is reported "
         "without its exit status: "
      << *down;
  const int next = wait_new_pid(pm, "forker", child);
  ASSERT_GT(next, 0) << pm.output();
  EXPECT_GE(unit("forker")->restarts, 1u);
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
}

// ---------------------------------------------------------------- 5. foreign senders

TEST_F(SystemdContract, NotifyFromAProcessOutsideTheUnitsTreeIsIgnoredWithAWarning) {
  write_config(fmt::format(R"toml(
[[process]]
id = "n"
command = {{ line = "while [ ! -e {} ]; do sleep 0.05; done; /bin/systemd-notify --ready; exec sleep 1000", type = "expression" }}
ready = "notify"
)toml",
                           dir_.file("go")));
  Procmand& pm = start();
  ASSERT_TRUE(wait_sub_state(pm, "n", "init", "notify")) << pm.output();
  const auto env = environ_of(pid_of("n"));
  ASSERT_TRUE(env.count("NOTIFY_SOCKET"));
  const std::string path = env.at("NOTIFY_SOCKET");

  // The test process is in no unit's tree; the kernel tells procmand our pid.
  {
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    const std::string msg = "READY=1\nSTATUS=forged\nMAINPID=" + std::to_string(getpid());
    const ssize_t sent =
        sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    const int err = errno;
    close(fd);
    ASSERT_EQ(sent, static_cast<ssize_t>(msg.size())) << std::strerror(err);
  }
  ASSERT_TRUE(pm.wait_for_line(fmt::format("notify: message from pid {} ignored", getpid())))
      << pm.output();
  // And systemd-notify run by the test (its parent is the test, not a's tree).
  RunResult r = run({"/bin/systemd-notify", "--ready"}, {"NOTIFY_SOCKET=" + path});
  ASSERT_TRUE(pm.wait_for_line(
      "notify: message from pid [0-9]+ ignored: it belongs to no supervised process"))
      << r.output << "\n"
      << pm.output();
  // Both were handled (logged) already: the unit is still waiting.
  auto u = raw("n");
  EXPECT_EQ(u.value("state", ""), "init") << u.dump();
  EXPECT_EQ(u.value("sub_state", ""), "notify") << u.dump();
  EXPECT_EQ(count_lines(pm.output(), transition("n", "running")), 0) << pm.output();

  // The socket itself works: a's own READY=1 is taken.
  dir_.write("go", "");
  EXPECT_TRUE(pm.wait_for_line(transition("n", "running"))) << pm.output();
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
}

// ---------------------------------------------------------------- 6. sockets

constexpr const char* kLoopServer =
    "import socket\n"
    "s = socket.socket(fileno=3)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    c.sendall(b'ok\\n')\n"
    "    c.close()\n";

TEST_F(SystemdContract, SocketsAreInheritedAndNoConnectionIsRefusedWhileTheServerRestarts) {
  const int port = free_tcp_port();
  ASSERT_GT(port, 0);
  dir_.write("server.py", kLoopServer);
  write_config(fmt::format(R"toml(
[[process]]
id = "srv"
command = "/usr/bin/python3 server.py"
sockets = ["tcp:127.0.0.1:{}"]
restart = "always"
restart-delay = "0s"
start-limit = {{ burst = 0 }}
)toml",
                           port));
  Procmand& pm = start();
  int pid = running_pid(pm, "srv");
  ASSERT_GT(pid, 0) << pm.output();
  const auto env = environ_of(pid);
  EXPECT_EQ(env.count("LISTEN_FDS") ? env.at("LISTEN_FDS") : "(unset)", "1");
  EXPECT_EQ(env.count("LISTEN_PID") ? env.at("LISTEN_PID") : "(unset)", std::to_string(pid));
  EXPECT_EQ(env.count("LISTEN_FDNAMES") ? env.at("LISTEN_FDNAMES") : "(unset)",
            fmt::format("tcp-{}", port));

  // A client asking over and over, while the server is killed three times.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0};
  std::mutex mu;
  std::vector<std::string> other;  // anything else that went wrong
  std::thread client([&] {
    while (!stop) {
      const Reply r = ask(port);
      if (r.error == 0 && r.text == "ok\n") {
        ++ok;
      } else if (r.step == "connect" && r.error == ECONNREFUSED) {
        ++refused;
      } else {
        std::lock_guard lock(mu);
        other.push_back(describe(r));
      }
    }
  });
  auto ok_after = [&](int n) {
    const int base = ok;
    return wait_until([&] {
      pm.output();
      return ok >= base + n || refused > 0;
    });
  };
  EXPECT_TRUE(ok_after(3)) << "no answers at all";
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    const int next = wait_new_pid(pm, "srv", pid);
    EXPECT_GT(next, 0) << "round " << round << "\n" << pm.output();
    if (next <= 0) break;
    pid = next;
    EXPECT_TRUE(ok_after(3)) << "no answers after restart " << round + 1;
  }
  stop = true;
  client.join();
  EXPECT_EQ(refused.load(), 0) << "a client was refused while the server restarted";
  EXPECT_GE(unit("srv")->restarts, 3u);
  // A connection the server had accepted when SIGKILL came is cut; that is the
  // server's death, not a refusal. Anything else is a failure.
  for (const auto& o : other)
    EXPECT_TRUE(o == "recv: Connection reset by peer" || o == "reply \"\"") << o;
  std::cout << "[          ] " << ok.load() << " answers, " << other.size() << " cut by a kill\n";
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
}

// ---------------------------------------------------------------- 7. start-on-demand

constexpr const char* kOneShotServer =
    "import socket\n"
    "s = socket.socket(fileno=3)\n"
    "c, _ = s.accept()\n"
    "c.sendall(b'ok\\n')\n"
    "c.close()\n";

TEST_F(SystemdContract, StartOnDemandStartsAtTheFirstConnectionAndWaitsAgainAfterACleanExit) {
  const int port = free_tcp_port();
  ASSERT_GT(port, 0);
  dir_.write("server.py", kOneShotServer);
  write_config(fmt::format(R"toml(
[[process]]
id = "lazy"
command = "/usr/bin/python3 server.py"
sockets = ["tcp:127.0.0.1:{}"]
start-on-demand = true
)toml",
                           port));
  Procmand& pm = start();
  ASSERT_TRUE(pm.wait_for_line("supervising")) << pm.output();
  ASSERT_TRUE(wait_until([&] {
    pm.output();
    return raw("lazy").is_object();
  }));
  // The state is written after procmand's start decisions: nothing was started.
  auto u = raw("lazy");
  EXPECT_EQ(u.value("state", ""), "stopped") << u.dump();
  EXPECT_EQ(u.value("pid", 0), -1) << u.dump();
  EXPECT_TRUE(marked().empty());
  EXPECT_EQ(count_lines(pm.output(), transition("lazy", "running")), 0) << pm.output();

  // The first client starts it and is answered by it.
  Reply first = ask(port);
  EXPECT_EQ(describe(first), describe(Reply{0, "", "ok\n"}));
  EXPECT_GE(line_index(pm.output(), "lazy: connection on its socket, starting it"), 0)
      << pm.output();
  // It serves one connection and exits 0: an idle exit, not restarted.
  ASSERT_TRUE(wait_idle(pm, "lazy", 1)) << raw("lazy").dump() << "\n" << pm.output();
  u = raw("lazy");
  EXPECT_EQ(u.value("restarts", 99), 0) << u.dump();
  EXPECT_EQ(count_lines(pm.output(), transition("lazy", "backoff")), 0) << pm.output();
  EXPECT_TRUE(wait_until([&] { return marked().empty(); }));
  EXPECT_EQ(count_lines(pm.output(), transition("lazy", "running")), 1) << pm.output();

  // The next connection starts it again.
  Reply second = ask(port);
  EXPECT_EQ(describe(second), describe(Reply{0, "", "ok\n"}))
      << "a connection after an idle exit must start the process again; state: "
      << raw("lazy").dump() << "\n"
      << pm.output();
  ASSERT_TRUE(wait_idle(pm, "lazy", 2)) << raw("lazy").dump() << "\n" << pm.output();
  EXPECT_EQ(raw("lazy").value("restarts", 99), 0) << "an activation is not a restart";
  EXPECT_EQ(count_lines(pm.output(), "lazy: connection on its socket, starting it"), 2)
      << pm.output();
  EXPECT_EQ(interrupt(pm), 0) << pm.output();
}

// ---------------------------------------------------------------- 8. upwards

TEST_F(SystemdContract, ProcmandNotifiesItsManagerReadyWatchdogReloadingAndStopping) {
  ManagerSocket manager(dir_.file("manager.sock"));
  ASSERT_TRUE(manager.ok()) << std::strerror(errno);
  const std::vector<std::string> env = {"NOTIFY_SOCKET=" + dir_.file("manager.sock"),
                                        "WATCHDOG_USEC=2000000"};

  // A file that does not load: exit 78 and not a word to the manager.
  write_config("[[process]]\nid = \"svc\"\ncommand = 42\n");
  {
    Procmand& bad = start(env);
    EXPECT_EQ(bad.wait_exit(), 78) << bad.output();
    EXPECT_TRUE(manager.received().empty()) << manager.dump();
  }
  daemons_.clear();

  write_config("[[process]]\nid = \"svc\"\ncommand = \"sleep 1000\"\n");
  Procmand& pm = start(env);
  const int ready = manager.wait_for("READY=1", 0, pm);
  ASSERT_GE(ready, 0) << manager.dump() << pm.output();
  // Before it, at most the watchdog's first ping (sd-event sends one when it is enabled).
  for (int i = 0; i < ready; ++i)
    EXPECT_EQ(manager.received()[static_cast<std::size_t>(i)], "WATCHDOG=1") << manager.dump();
  const std::string first = manager.received()[static_cast<std::size_t>(ready)];
  // It is sent once the file is loaded and its processes started.
  EXPECT_GE(line_index(pm.output(), "supervising 1 process\\(es\\)"), 0) << pm.output();
  const auto status = ManagerSocket::value(first, "STATUS");
  ASSERT_TRUE(status) << first;
  EXPECT_TRUE(std::regex_search(*status, std::regex("^1 (running|starting)$"))) << *status;
  {
    // procmand's own variables are not passed on to its children.
    const auto svc_env = environ_of(running_pid(pm, "svc"));
    ASSERT_TRUE(svc_env.count("PROCMAN_NAME")) << "svc's environment was not readable";
    EXPECT_FALSE(svc_env.count("NOTIFY_SOCKET"));
    EXPECT_FALSE(svc_env.count("WATCHDOG_USEC"));
  }

  // WATCHDOG_USEC=2s: pings from the loop (at half the interval).
  const int ping = manager.wait_for("WATCHDOG=1", static_cast<std::size_t>(ready), pm);
  ASSERT_GE(ping, 0) << manager.dump();
  EXPECT_GE(manager.wait_for("WATCHDOG=1", static_cast<std::size_t>(ping) + 1, pm), 0)
      << manager.dump();

  // SIGHUP: RELOADING=1 with MONOTONIC_USEC=, then READY=1.
  std::size_t mark = manager.received().size();
  pm.signal(SIGHUP);
  const int reloading = manager.wait_for("RELOADING=1", mark, pm);
  ASSERT_GE(reloading, 0) << manager.dump() << pm.output();
  const std::string r = manager.received()[static_cast<std::size_t>(reloading)];
  const auto mono = ManagerSocket::value(r, "MONOTONIC_USEC");
  ASSERT_TRUE(mono) << r;
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long now_usec = static_cast<long long>(now.tv_sec) * 1000000LL + now.tv_nsec / 1000;
  const long long sent_usec = std::stoll(*mono);
  EXPECT_LE(sent_usec, now_usec) << "MONOTONIC_USEC is CLOCK_MONOTONIC";
  EXPECT_GT(sent_usec, now_usec - 60LL * 1000000LL) << "MONOTONIC_USEC is CLOCK_MONOTONIC";
  const int reloaded = manager.wait_for("READY=1", static_cast<std::size_t>(reloading) + 1, pm);
  EXPECT_GE(reloaded, 0) << manager.dump() << pm.output();
  EXPECT_TRUE(pm.wait_for_line("reloaded: ")) << pm.output();

  // A reload that keeps the old file (the new one is invalid) also ends with READY=1.
  write_config("[[process]]\nid = \"svc\"\ncommand = 42\n");
  mark = manager.received().size();
  pm.signal(SIGHUP);
  const int reloading2 = manager.wait_for("RELOADING=1", mark, pm);
  ASSERT_GE(reloading2, 0) << manager.dump();
  EXPECT_GE(manager.wait_for("READY=1", static_cast<std::size_t>(reloading2) + 1, pm), 0)
      << manager.dump();

  // SIGTERM: STOPPING=1, then a clean exit.
  mark = manager.received().size();
  pm.signal(SIGTERM);
  EXPECT_GE(manager.wait_for("STOPPING=1", mark, pm), 0) << manager.dump() << pm.output();
  EXPECT_EQ(pm.wait_exit(), 0) << pm.output();
}

TEST_F(SystemdContract, AFifoPassedByTheServiceManagerIsServedIncludingTheLineThatStartedIt) {
  write_config("[[process]]\nid = \"base\"\ncommand = \"sleep 1000\"\n");
  const std::string fifo = dir_.file("procman.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // What systemd's ListenFIFO= holds open.
  const int held = open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(held, 0);
  struct stat before {};
  ASSERT_EQ(stat(fifo.c_str(), &before), 0);
  // A script writes its line before procmand runs (this is what starts it).
  {
    const int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(w, 0) << std::strerror(errno);
    const std::string line = R"({"type":"run","name":"early","run":"sleep 1000"})"
                             "\n";
    ASSERT_EQ(write(w, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    close(w);
  }
  ActivatedProcmand pm({PROCMAND_PATH, config_path(), "--state-dir", state_, "--color", "never",
                        "--no-bus", "--fifo", fifo},
                       {"LISTEN_FDNAMES=fifo"}, held);
  close(held);
  ASSERT_GT(pm.pid(), 0);
  EXPECT_TRUE(pm.wait_for_line("fifo " + fifo + " passed by the service manager")) << pm.output();
  EXPECT_TRUE(pm.wait_for_line("procman \\| early submitted via fifo")) << pm.output();
  EXPECT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("early");
    return u && u->state == "running" && u->pid > 0;
  })) << pm.output();
  EXPECT_EQ(line_index(pm.output(), "closing descriptors passed by the service manager"), -1)
      << pm.output();
  {
    // $LISTEN_* described procmand's descriptors, not its children's.
    const auto early_env = environ_of(pid_of("early"));
    ASSERT_TRUE(early_env.count("PROCMAN_NAME")) << "early's environment was not readable";
    EXPECT_FALSE(early_env.count("LISTEN_FDS"));
    EXPECT_FALSE(early_env.count("LISTEN_PID"));
    EXPECT_FALSE(early_env.count("LISTEN_FDNAMES"));
  }

  // It keeps serving that FIFO, the very same one.
  RunResult r = run({"/bin/sh", "-c", "printf '%s\\n' \"$1\" > \"$2\"", "sh",
                     R"({"type":"run","name":"later","run":"sleep 1000"})", fifo});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("later");
    return u && u->state == "running";
  })) << pm.output();
  struct stat after {};
  ASSERT_EQ(stat(fifo.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "procmand made a FIFO of its own";
  EXPECT_TRUE(S_ISFIFO(after.st_mode));

  EXPECT_EQ(pm.terminate(), 0) << pm.output();
  EXPECT_TRUE(std::filesystem::exists(fifo))
      << "the FIFO belongs to the service manager; procmand leaves it";
}

}  // namespace
}  // namespace procman::test
