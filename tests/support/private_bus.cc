#include "support/private_bus.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace procman::test {
namespace {

// Looked up before fork(): the child may only make async-signal-safe calls.
std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return "";
}

int64_t now_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

const char kConfigHead[] =
    R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=@DIR@</listen>
  <auth>EXTERNAL</auth>
)";

const char kOpenPolicy[] = R"(  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
)";

// What Debian's system.conf says by default: holes for owning names and
// calling methods must be punched by the included policy.
const char kSystemPolicy[] = R"(  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>@POLICY@</include>
</busconfig>
)";

}  // namespace

PrivateBus::PrivateBus() : PrivateBus(Options{}) {}

PrivateBus::PrivateBus(Options opts) { start(opts); }

PrivateBus::~PrivateBus() {
  stop(SIGTERM, 5000);
  std::error_code ec;
  if (!tmp_dir_.empty()) std::filesystem::remove_all(tmp_dir_, ec);
  if (!log_path_.empty()) std::filesystem::remove(log_path_, ec);
}

void PrivateBus::kill_daemon() { stop(SIGKILL, 0); }

void PrivateBus::start(const Options& opts) {
  std::string daemon = find_program("dbus-daemon");
  if (daemon.empty()) {
    error_ = "dbus-daemon not found in PATH";
    return;
  }
  std::string config_arg = "--session";
  if (opts.allow_other_users || !opts.system_policy_file.empty()) {
    char templ[] = "/tmp/procman-bus-XXXXXX";
    if (!::mkdtemp(templ)) {
      error_ = std::string("mkdtemp: ") + std::strerror(errno);
      return;
    }
    tmp_dir_ = templ;
    ::chmod(tmp_dir_.c_str(), 0755);  // other users must reach the socket
    std::string config = kConfigHead;
    config.replace(config.find("@DIR@"), 5, tmp_dir_);
    if (opts.system_policy_file.empty()) {
      config += kOpenPolicy;
    } else {
      std::string policy = kSystemPolicy;
      policy.replace(policy.find("@POLICY@"), 8, opts.system_policy_file);
      config += policy;
    }
    std::string config_path = tmp_dir_ + "/bus.conf";
    std::ofstream(config_path) << config;
    config_arg = "--config-file=" + config_path;
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) {
    error_ = std::string("pipe2: ") + std::strerror(errno);
    return;
  }
  std::string print_arg = "--print-address=" + std::to_string(fds[1]);
  std::vector<std::string> args = {daemon, config_arg, "--nofork", "--nopidfile", print_arg};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  // The daemon's output goes to a file, not the test's output (it says "Failed
  // to set fd limit" every time); it becomes error() if the daemon does not start.
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  char log_templ[] = "/tmp/procman-bus-log-XXXXXX";
  int log_fd = ::mkostemp(log_templ, O_CLOEXEC);
  if (log_fd >= 0) log_path_ = log_templ;

  pid_t pid = ::fork();
  if (pid < 0) {
    error_ = std::string("fork: ") + std::strerror(errno);
    if (devnull >= 0) ::close(devnull);
    if (log_fd >= 0) ::close(log_fd);
    ::close(fds[0]);
    ::close(fds[1]);
    return;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent is already gone
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    int out = log_fd >= 0 ? log_fd : devnull;
    if (out >= 0) {
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
    }
    ::fcntl(fds[1], F_SETFD, 0);  // the address fd must survive exec
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  ::close(fds[1]);
  if (devnull >= 0) ::close(devnull);
  if (log_fd >= 0) ::close(log_fd);

  // The daemon prints its address and a newline once it listens.
  std::string out;
  int64_t deadline = now_ms() + 10000;
  while (out.find('\n') == std::string::npos) {
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      error_ = "dbus-daemon did not print its address within 10 s";
      break;
    }
    struct pollfd p {
      fds[0], POLLIN, 0
    };
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[512];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = "dbus-daemon exited before printing its address";
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (!error_.empty()) {
    stop(SIGKILL, 0);
    if (!log_path_.empty()) {
      std::ifstream log(log_path_);
      std::string said((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      if (!said.empty()) error_ += ": " + said;
    }
    return;
  }
  address_ = out.substr(0, out.find('\n'));
}

void PrivateBus::stop(int first_signal, int grace_ms) {
  if (pid_ <= 0) return;
  ::kill(pid_, first_signal);
  int64_t deadline = now_ms() + grace_ms;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, grace_ms > 0 ? WNOHANG : 0);
    if (r == pid_ || (r < 0 && errno != EINTR)) break;
    if (r == 0) {
      if (now_ms() >= deadline) {
        ::kill(pid_, SIGKILL);
        grace_ms = 0;  // now wait without a limit: SIGKILL cannot be ignored
        continue;
      }
      struct timespec ts {
        0, 10 * 1000 * 1000
      };
      ::nanosleep(&ts, nullptr);
    }
  }
  pid_ = -1;
}

}  // namespace procman::test
