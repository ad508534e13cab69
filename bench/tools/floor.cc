// bench-floor: the physical floor a supervisor is measured against (bench/benchlib.py), i.e.
// the least a supervisor can do: spawn N children and restart each one the moment it exits.
// No config, no logging, no state, no backoff; it sleeps in sigwaitinfo() between events.
//
// Usage: bench-floor N -- ARGV...
//   Runs ARGV N times (ARGV[0] looked up in PATH if it has no '/'), with every "{i}" in each
//   argument replaced by the child's index 0..N-1; stdin/stdout/stderr are inherited.
//   A child that exits is reaped and its index respawned at once.
//   SIGTERM/SIGINT: SIGKILL every child, reap them all, exit 0.
// Exit status: 0 after a stop signal, 1 when a spawn fails, 2 on bad usage.
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <charconv>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

extern char** environ;

namespace {

int usage(const char* why) {
  fprintf(stderr, "bench-floor: %s\nusage: bench-floor N -- ARGV...\n", why);
  return 2;
}

std::string substitute(std::string_view arg, std::string_view index) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = arg.find("{i}", pos)) != std::string_view::npos; pos = hit + 3) {
    out.append(arg.substr(pos, hit - pos));
    out.append(index);
  }
  out.append(arg.substr(pos));
  return out;
}

class Floor {
 public:
  Floor(size_t n, char** argv) : args_(n), argvs_(n) {
    for (size_t i = 0; i < n; ++i) {
      const std::string index = std::to_string(i);
      for (char** a = argv; *a != nullptr; ++a) args_[i].push_back(substitute(*a, index));
      for (std::string& s : args_[i]) argvs_[i].push_back(s.data());
      argvs_[i].push_back(nullptr);
    }
    children_.reserve(n);
    // Children start with a clean slate: nothing blocked (we block SIGCHLD/SIGTERM/SIGINT),
    // nothing ignored that we inherited.
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&attr_);
    posix_spawnattr_setsigmask(&attr_, &none);
    posix_spawnattr_setsigdefault(&attr_, &all);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~Floor() { posix_spawnattr_destroy(&attr_); }
  Floor(const Floor&) = delete;
  Floor& operator=(const Floor&) = delete;

  bool spawn(size_t i) {
    pid_t pid = 0;
    int err = posix_spawnp(&pid, argvs_[i][0], nullptr, &attr_, argvs_[i].data(), environ);
    if (err != 0) {
      fprintf(stderr, "bench-floor: spawn %s: %s\n", argvs_[i][0], strerror(err));
      return false;
    }
    children_.emplace(pid, i);
    return true;
  }

  // Reaps every exited child and respawns its index; false when a respawn failed.
  bool reap_and_respawn() {
    for (;;) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return true;
      auto it = children_.find(pid);
      if (it == children_.end()) continue;
      const size_t i = it->second;
      children_.erase(it);
      if (!spawn(i)) return false;
    }
  }

  void kill_all() {
    for (const auto& [pid, index] : children_) kill(pid, SIGKILL);
    while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
    }
    children_.clear();
  }

 private:
  std::vector<std::vector<std::string>> args_;  // per index, "{i}" substituted
  std::vector<std::vector<char*>> argvs_;       // per index, pointing into args_
  std::unordered_map<pid_t, size_t> children_;  // live pid -> index
  posix_spawnattr_t attr_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) return usage("expected N -- ARGV...");
  const std::string_view n_arg = argv[1];
  size_t n = 0;
  auto [ptr, ec] = std::from_chars(n_arg.data(), n_arg.data() + n_arg.size(), n);
  if (ec != std::errc() || ptr != n_arg.data() + n_arg.size() || n == 0) {
    return usage("N must be a positive number");
  }

  // An inherited SIG_IGN for SIGCHLD would make the kernel reap children behind our back.
  signal(SIGCHLD, SIG_DFL);
  sigset_t events;
  sigemptyset(&events);
  sigaddset(&events, SIGCHLD);
  sigaddset(&events, SIGTERM);
  sigaddset(&events, SIGINT);
  sigprocmask(SIG_BLOCK, &events, nullptr);

  Floor floor(n, argv + 3);
  for (size_t i = 0; i < n; ++i) {
    if (!floor.spawn(i)) {
      floor.kill_all();
      return 1;
    }
  }
  for (;;) {
    const int sig = sigwaitinfo(&events, nullptr);
    if (sig == SIGCHLD) {
      if (!floor.reap_and_respawn()) {
        floor.kill_all();
        return 1;
      }
    } else if (sig == SIGTERM || sig == SIGINT) {
      floor.kill_all();
      return 0;
    }
  }
}
