// The fixture and helpers the black-box procmand tests share: a temporary
// config and state directory, procmand instances, and cleanup of every child
// a test started (each test marks its children with a unique PROCMAN_UID).

// GCC 12 under -fsanitize=address reports a false -Wmaybe-uninitialized inside
// <regex> (the std::function in _StateT); -Werror would make it fatal.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace procman::test {

using namespace std::chrono_literals;

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

/// Index of the first line of `text` matching `re`, or -1.
inline int line_index(const std::string& text, const std::string& re) {
  const std::regex r(re);
  const auto lines = lines_of(text);
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (std::regex_search(lines[i], r)) return static_cast<int>(i);
  return -1;
}

inline int count_lines(const std::string& text, const std::string& re) {
  const std::regex r(re);
  int n = 0;
  for (const auto& line : lines_of(text))
    if (std::regex_search(line, r)) ++n;
  return n;
}

/// The first capture group of `re` in `line`, as a number (-1 if none).
inline int capture_int(const std::optional<std::string>& line, const std::string& re) {
  if (!line) return -1;
  std::smatch m;
  if (!std::regex_search(*line, m, std::regex(re)) || m.size() < 2) return -1;
  return std::stoi(m[1].str());
}

inline int read_int_file(const std::string& path) {
  std::string t = slurp(path);
  try {
    return std::stoi(t);
  } catch (...) {
    return -1;
  }
}

/// A transition line procmand prints: "procman | <unit> <state>[: reason]".
inline std::string transition(const std::string& unit, const std::string& state) {
  return "procman \\| " + unit + " " + state + "(:|$)";
}

/// A line of a child's output: "<name right-aligned> | <text>".
inline std::string child_line(const std::string& unit, const std::string& text) {
  return "^ *" + unit + " \\| " + text + "$";
}

class DaemonFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    uid_ = fmt::format("itest-{}-{}", info->name(), getpid());
    marker_ = "PROCMAN_UID=" + uid_;
    state_ = dir_.file("state");
  }

  void TearDown() override {
    // procmand first (SIGKILL), so nothing restarts what we kill next.
    daemons_.clear();
    wait_until(
        [&] {
          kill_marked(marker_);
          return pids_with_env(marker_).empty();
        },
        10s);
  }

  std::string header() const { return fmt::format("uid = \"{}\"\nfile-format = \"0\"\n\n", uid_); }
  void write_config(const std::string& body) const { dir_.write("procman.toml", header() + body); }
  std::string config_path() const { return dir_.file("procman.toml"); }

  Procmand& start(std::vector<std::string> env = {}) { return start_with({}, std::move(env)); }
  Procmand& start_with(std::vector<std::string> extra, std::vector<std::string> env = {}) {
    daemons_.push_back(std::make_unique<Procmand>(config_path(), state_, std::move(extra), std::move(env)));
    return *daemons_.back();
  }

  std::vector<pid_t> marked() const { return pids_with_env(marker_); }

  /// The pid the state file gives for `name`, -1 if none.
  int pid_of(const std::string& name) const {
    auto u = unit(name);
    return u ? u->pid : -1;
  }

  std::optional<UnitSnapshot> unit(const std::string& name) const {
    auto st = read_state(state_);
    if (!st) return std::nullopt;
    auto it = st->find(name);
    if (it == st->end()) return std::nullopt;
    return it->second;
  }

  /// Waits for the state file to show `name` in `state`; keeps procmand's
  /// output pipe drained meanwhile so it never blocks writing to it.
  bool wait_state(Procmand& pm, const std::string& name, const std::string& state,
                  std::chrono::milliseconds timeout = 20s) const {
    return wait_until(
        [&] {
          pm.output();
          auto u = unit(name);
          return u && u->state == state;
        },
        timeout);
  }

  /// The pid of a unit once it is running (state file), or -1.
  int running_pid(Procmand& pm, const std::string& name) const {
    if (!wait_state(pm, name, "running")) return -1;
    auto u = unit(name);
    return u ? u->pid : -1;
  }

  /// SIGINT, then a clean exit; returns the exit code (or -1 on timeout).
  int interrupt(Procmand& pm, int sig = SIGINT) const {
    pm.signal(sig);
    return pm.wait_exit(30s).value_or(-1);
  }

  TempDir dir_;
  std::string uid_, marker_, state_;
  std::vector<std::unique_ptr<Procmand>> daemons_;
};

}  // namespace procman::test
