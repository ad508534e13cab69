#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "os/proc.h"

extern char** environ;

namespace procman::test {
namespace {

std::vector<char*> to_cstrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> merged_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    std::string key = kv.substr(0, kv.find('='));
    bool overridden = false;
    for (const auto& x : extra)
      if (x.substr(0, x.find('=')) == key) overridden = true;
    if (!overridden) env.push_back(kv);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

pid_t spawn_with_pipe(const std::vector<std::string>& argv_in,
                      const std::vector<std::string>& env_in, int* out_fd) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = merged_env(env_in);
  auto cargv = to_cstrings(argv);
  auto cenv = to_cstrings(env);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    // Its own process group, so a test's signal reaches only what it means to.
    setpgid(0, 0);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  close(fds[1]);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  *out_fd = fds[0];
  return pid;
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "procman-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& content, bool executable) const {
  std::filesystem::create_directories(std::filesystem::path(file(name)).parent_path());
  std::ofstream(file(name)) << content;
  if (executable) chmod(file(name).c_str(), 0755);
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Short, growing pauses: the condition is external (processes, files), so
  // there is nothing to block on; the bound is what keeps this honest.
  std::chrono::milliseconds pause(2);
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    poll(nullptr, 0, static_cast<int>(pause.count()));
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

Procmand::Procmand(const std::string& config, const std::string& state_dir,
                   std::vector<std::string> extra, std::vector<std::string> env) {
  std::vector<std::string> argv = {PROCMAND_PATH, config,    "--state-dir",
                                   state_dir,     "--color", "never"};
  // Never the developer's own session bus: a test that wants D-Bus passes
  // the address of a private one in `env`.
  bool has_bus = false;
  for (const auto& e : env) has_bus = has_bus || e.rfind("DBUS_SESSION_BUS_ADDRESS=", 0) == 0;
  if (!has_bus) argv.push_back("--no-bus");
  argv.insert(argv.end(), extra.begin(), extra.end());
  pid_ = spawn_with_pipe(argv, env, &out_fd_);
}

Procmand::~Procmand() {
  if (pid_ > 0 && !exited_) kill_with_children(pid_);
  if (out_fd_ >= 0) close(out_fd_);
}

void Procmand::pump(std::chrono::milliseconds budget) const {
  pollfd p{out_fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(budget.count())) <= 0) return;
  char buf[65536];
  for (;;) {
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) break;
    buf_.append(buf, static_cast<std::size_t>(n));
  }
}

std::optional<std::string> Procmand::wait_for_line(const std::string& re_text,
                                                   std::chrono::milliseconds timeout,
                                                   bool after_last) {
  const std::regex re(re_text);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t from = after_last ? cursor_ : 0;
  while (true) {
    // Only complete lines are searched.
    std::size_t pos = from;
    while (true) {
      std::size_t nl = buf_.find('\n', pos);
      if (nl == std::string::npos) break;
      std::string line = buf_.substr(pos, nl - pos);
      if (std::regex_search(line, re)) {
        cursor_ = nl + 1;
        return line;
      }
      pos = nl + 1;
    }
    from = after_last ? cursor_ : 0;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    pump(std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                  std::chrono::milliseconds(100)));
  }
}

std::string Procmand::output() const {
  pump(std::chrono::milliseconds(0));
  return buf_;
}

void Procmand::signal(int sig) const {
  if (pid_ > 0 && !exited_) kill(pid_, sig);
}

std::optional<int> Procmand::wait_exit(std::chrono::milliseconds timeout) {
  if (exited_) return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  bool done = wait_until(
      [&] {
        pump(std::chrono::milliseconds(0));
        return waitpid(pid_, &status_, WNOHANG) == pid_;
      },
      timeout);
  if (!done) return std::nullopt;
  exited_ = true;
  pump(std::chrono::milliseconds(0));
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              std::chrono::milliseconds timeout) {
  int fd = -1;
  pid_t pid = spawn_with_pipe(argv, env, &fd);
  RunResult r;
  int status = 0;
  bool done = wait_until(
      [&] {
        char buf[4096];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
          r.output.append(buf, static_cast<std::size_t>(n));
        return waitpid(pid, &status, WNOHANG) == pid;
      },
      timeout);
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) r.output.append(buf, static_cast<std::size_t>(n));
  close(fd);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

namespace {

/// Every pid /proc lists right now, zombies included.
std::vector<pid_t> all_pids() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end == '\0' && pid > 0) out.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  return out;
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (pid_t pid : all_pids())
    if (auto st = os::read_proc_stat(pid); st && st->ppid == parent) out.push_back(pid);
  return out;
}

}  // namespace

bool pid_alive(pid_t pid) {
  auto st = os::read_proc_stat(pid);
  return st && st->state != 'Z';
}

void kill_with_children(pid_t pid) {
  // procmand may be between clone and exec of a child right now. That child does not
  // carry the test's marker until it execs, and a plain SIGKILL of procmand would
  // orphan it past kill_marked. Stopped, procmand starts nothing more (one blocked
  // in a vfork-style spawn stops as soon as its child has exec'd); its children, marked
  // or not yet, are then found by parent pid.
  kill(pid, SIGSTOP);
  wait_until(
      [&] {
        auto st = os::read_proc_stat(pid);
        return !st || st->state == 'T' || st->state == 'Z';
      },
      std::chrono::seconds(5));
  for (pid_t child : children_of(pid)) kill(child, SIGKILL);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

std::vector<pid_t> pids_with_env(const std::string& marker) {
  std::vector<pid_t> out;
  for (pid_t pid : all_pids()) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string env = ss.str();
    std::size_t pos = 0;
    while (pos < env.size()) {
      std::size_t nul = env.find('\0', pos);
      if (nul == std::string::npos) nul = env.size();
      if (env.compare(pos, nul - pos, marker) == 0) {
        if (pid_alive(pid)) out.push_back(pid);
        break;
      }
      pos = nul + 1;
    }
  }
  return out;
}

void kill_marked(const std::string& marker) {
  for (pid_t p : pids_with_env(marker)) kill(p, SIGKILL);
}

std::optional<std::map<std::string, std::string>> read_state_units(const std::string& state_dir) {
  std::ifstream f(state_dir + "/state.json");
  if (!f) return std::nullopt;
  try {
    std::map<std::string, std::string> out;
    std::string line;
    bool snapshot = true;
    while (std::getline(f, line)) {
      if (f.eof()) break;  // no newline: a write in progress
      if (line.empty()) continue;
      const nlohmann::json j = nlohmann::json::parse(line);
      if (snapshot) {
        for (const auto& u : j.at("units")) out[u.at("name").get<std::string>()] = u.dump();
        snapshot = false;
      } else {
        const auto& u = j.at("unit");
        out[u.at("name").get<std::string>()] = u.dump();
      }
    }
    if (snapshot) return std::nullopt;
    return out;
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<std::map<std::string, UnitSnapshot>> read_state(const std::string& state_dir) {
  auto units = read_state_units(state_dir);
  if (!units) return std::nullopt;
  std::map<std::string, UnitSnapshot> out;
  for (const auto& [name, text] : *units) {
    const nlohmann::json u = nlohmann::json::parse(text);
    out[name] =
        UnitSnapshot{u.at("state").get<std::string>(), u.value("pid", -1), u.value("restarts", 0U)};
  }
  return out;
}

}  // namespace procman::test
