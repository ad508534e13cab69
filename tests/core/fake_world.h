// Fakes for driving core::Supervisor without processes or real time: a clock
// the test moves by hand, and Effects that record every request, hand out
// pids in order and consider a process group alive until the test says not.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/supervisor.h"

namespace procman::core::testing {

using namespace std::chrono_literals;

class FakeClock : public Clock {
 public:
  MonoTime now() const override { return mono; }
  WallTime wall() const override {
    return WallTime(std::chrono::seconds(1'700'000'000)) + (mono - MonoTime{});
  }
  LocalDateTime local() const override { return local_time; }
  void advance(Duration d) { mono += d; }
  MonoTime mono = MonoTime(std::chrono::hours(1));
  LocalDateTime local_time{2026, 11, 22, 12, 0, 0};
};

/// Records what the supervisor asks for; pids are handed out in order, and a
/// process group is "alive" until the test says it died.
class FakeEffects : public Effects {
 public:
  SpawnOutcome spawn(const UnitStatus& unit, const ProcessConfig& cfg) override {
    spawned.push_back(unit.name);
    spawned_commands.push_back(unit.name + ":" + (cfg.command ? cfg.command->line : ""));
    if (fail_spawn.count(unit.name))
      return SpawnOutcome{.error = "exec \"x\": No such file or directory"};
    const int pid = next_pid++;
    alive_groups.insert(pid);
    return SpawnOutcome{.ok = true, .pid = pid, .pgid = pid, .start_time = 7};
  }
  bool run_hook(const UnitStatus& unit, HookKind kind, const Hook&, const ProcessConfig&,
                std::string*) override {
    hooks.emplace_back(unit.name, kind);
    return true;
  }
  void cancel_hook(const UnitStatus& unit, HookKind kind) override {
    cancelled.emplace_back(unit.name, kind);
  }
  void watch_main_pid(const UnitStatus& unit, const ProcessConfig&) override {
    watching.insert(unit.name);
  }
  void cancel_main_pid_watch(const UnitStatus& unit) override { watching.erase(unit.name); }
  void run_check(const UnitStatus& unit, const CheckRequest& req, const HealthCheck*,
                 const Dependency*, const ProcessConfig&) override {
    checks.emplace_back(unit.name, req);
  }
  void cancel_checks(const UnitStatus& unit) override { cancelled_checks.push_back(unit.name); }
  void signal(const UnitStatus& unit, int sig) override { signals.emplace_back(unit.name, sig); }
  void signal_main(const UnitStatus& unit, int sig) override {
    main_signals.emplace_back(unit.name, sig);
  }
  bool group_alive(const UnitStatus& unit) override { return alive_groups.count(unit.pgid) > 0; }
  void transition(const UnitStatus& unit, State from, std::string_view reason) override {
    log.push_back(unit.name + " " + std::string(state_name(unit.state)) + ": " +
                  std::string(reason));
    if (on_transition) on_transition(unit, from);
  }
  void released(const UnitStatus& unit) override { released_units.push_back(unit.name); }
  void unit_added(const UnitStatus& unit) override { added.push_back(unit.name); }
  void unit_removed(const std::string& name) override {
    removed.push_back(name);
    if (on_removed) on_removed(name);
  }

  int next_pid = 100;
  std::set<int> alive_groups;
  std::set<std::string> fail_spawn;
  std::vector<std::string> spawned;           ///< unit names, in spawn order
  std::vector<std::string> spawned_commands;  ///< "unit:command line", in spawn order
  std::vector<std::pair<std::string, HookKind>> hooks, cancelled;
  std::set<std::string> watching;
  std::vector<std::pair<std::string, int>> signals;       ///< to the group
  std::vector<std::pair<std::string, int>> main_signals;  ///< to the main pid only
  std::vector<std::string> added, removed;                ///< unit_added / unit_removed
  /// Optional listeners, e.g. core::PendingOps in the operation tests.
  std::function<void(const UnitStatus&, State)> on_transition;
  std::function<void(const std::string&)> on_removed;
  std::vector<std::string> log;
  std::vector<std::string> released_units;
  std::vector<std::pair<std::string, CheckRequest>> checks;
  std::vector<std::string> cancelled_checks;
};

inline ProcessConfig proc(const std::string& id, const std::string& cmd = "sleep 100") {
  ProcessConfig p;
  p.id = id;
  p.command = Command{cmd, CommandType::Simple, {}};
  return p;
}

}  // namespace procman::core::testing
