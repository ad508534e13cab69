// org.procman.Manager end to end: the real procmand on a private dbus-daemon,
// driven the three ways users drive it — the generated proxies (what a C++
// desktop component would use), `procmanctl`, and `busctl`/`gdbus`.
#include <signal.h>
#include <unistd.h>

#include <sdbus-c++/sdbus-c++.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>

#include "fixture.h"
#include "manager_proxy.h"
#include "process_proxy.h"
#include "support/private_bus.h"

namespace procman::test {
namespace {

constexpr const char* kName = "org.procman.Manager";
constexpr const char* kPath = "/org/procman/Manager";

struct StateChange {
  std::string name, old_state, new_state, sub_state, exit_signal, reason;
  int pid = 0, exit_code = 0;
};

/// A client with the generated Manager proxy and the ObjectManager proxy,
/// recording every signal it receives (its connection runs its own thread).
class ManagerClient final
    : public sdbus::ProxyInterfaces<org::procman::Manager_proxy, sdbus::ObjectManager_proxy> {
 public:
  ManagerClient(sdbus::IConnection& c) : ProxyInterfaces(c, kName, kPath) { registerProxy(); }
  ~ManagerClient() { unregisterProxy(); }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<StateChange> changes;
  std::vector<std::string> added, removed, ifaces_added, ifaces_removed;
  std::vector<std::vector<std::string>> reloads;

  /// Waits (bounded) until pred() holds over the recorded signals.
  bool wait(const std::function<bool()>& pred, std::chrono::milliseconds t = 20s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, t, pred);
  }
  bool saw(const std::string& name, const std::string& state) {
    return wait([&] {
      for (const auto& c : changes)
        if (c.name == name && c.new_state == state) return true;
      return false;
    });
  }

 private:
  void onProcessStateChanged(const std::string& name, const sdbus::ObjectPath&, const std::string& old_state,
                             const std::string& new_state, const std::string& sub_state, const int32_t& pid,
                             const int32_t& exit_code, const std::string& exit_signal,
                             const std::string& reason) override {
    std::lock_guard lock(mu);
    changes.push_back({name, old_state, new_state, sub_state, exit_signal, reason, pid, exit_code});
    cv.notify_all();
  }
  void onProcessAdded(const std::string& name, const sdbus::ObjectPath&) override {
    std::lock_guard lock(mu);
    added.push_back(name);
    cv.notify_all();
  }
  void onProcessRemoved(const std::string& name, const sdbus::ObjectPath&) override {
    std::lock_guard lock(mu);
    removed.push_back(name);
    cv.notify_all();
  }
  void onReloaded(const std::vector<std::string>& a, const std::vector<std::string>& r,
                  const std::vector<std::string>& s, const std::vector<std::string>& p) override {
    std::lock_guard lock(mu);
    std::vector<std::string> all;
    for (const auto* v : {&a, &r, &s, &p})
      for (const auto& x : *v) all.push_back(x);
    reloads.push_back(all);
    cv.notify_all();
  }
  void onInterfacesAdded(const sdbus::ObjectPath& path,
                         const std::map<std::string, std::map<std::string, sdbus::Variant>>&) override {
    std::lock_guard lock(mu);
    ifaces_added.push_back(path);
    cv.notify_all();
  }
  void onInterfacesRemoved(const sdbus::ObjectPath& path, const std::vector<std::string>&) override {
    std::lock_guard lock(mu);
    ifaces_removed.push_back(path);
    cv.notify_all();
  }
};

class ProcessClient final : public sdbus::ProxyInterfaces<org::procman::Process_proxy, sdbus::Properties_proxy> {
 public:
  ProcessClient(sdbus::IConnection& c, const std::string& path) : ProxyInterfaces(c, kName, path) {
    registerProxy();
  }
  ~ProcessClient() { unregisterProxy(); }
  std::mutex mu;
  std::vector<std::string> changed;  ///< property names seen in PropertiesChanged

 private:
  void onPropertiesChanged(const std::string&, const std::map<std::string, sdbus::Variant>& props,
                           const std::vector<std::string>&) override {
    std::lock_guard lock(mu);
    for (const auto& [k, v] : props) changed.push_back(k);
  }
};

std::string error_name_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const sdbus::Error& e) {
    return e.getName() + ": " + e.getMessage();
  }
  return "no error";
}

class Bus : public DaemonFixture {
 protected:
  void SetUp() override {
    DaemonFixture::SetUp();
    ASSERT_FALSE(bus_.address().empty()) << bus_.error();
  }
  void TearDown() override {
    clients_.clear();
    manager_.reset();
    watcher_.reset();
    if (conn_) conn_->leaveEventLoop();
    conn_.reset();
    calls_conn_.reset();
    DaemonFixture::TearDown();
  }

  std::vector<std::string> bus_env() const { return {"DBUS_SESSION_BUS_ADDRESS=" + bus_.address()}; }

  Procmand& start_on_bus(std::vector<std::string> extra = {}) {
    Procmand& pm = start_with(std::move(extra), bus_env());
    EXPECT_TRUE(pm.wait_for_line("supervising"));
    return pm;
  }

  /// Calls go through a connection without an event loop (plain blocking
  /// calls): sdbus-c++ 1.2.0 can leave a call unsent when it is made on a
  /// connection whose event loop runs in another thread. Signals are received
  /// on a separate watcher connection that has the loop.
  ManagerClient& client() {
    if (!calls_conn_) calls_conn_ = sdbus::createSessionBusConnectionWithAddress(bus_.address());
    if (!manager_) manager_ = std::make_unique<ManagerClient>(*calls_conn_);
    return *manager_;
  }
  ManagerClient& watcher() {
    if (!conn_) {
      conn_ = sdbus::createSessionBusConnectionWithAddress(bus_.address());
      conn_->enterEventLoopAsync();
    }
    if (!watcher_) watcher_ = std::make_unique<ManagerClient>(*conn_);
    return *watcher_;
  }
  ProcessClient& process(const std::string& name) {
    const std::string path = client().GetProcess(name);
    clients_.push_back(std::make_unique<ProcessClient>(*calls_conn_, path));
    return *clients_.back();
  }
  ProcessClient& watch_process(const std::string& name) {
    const std::string path = client().GetProcess(name);
    watcher();
    clients_.push_back(std::make_unique<ProcessClient>(*conn_, path));
    return *clients_.back();
  }

  RunResult ctl(std::vector<std::string> args) const {
    args.insert(args.begin(), PROCMANCTL_PATH);
    return run(args, bus_env());
  }
  RunResult busctl(std::vector<std::string> args) const {
    args.insert(args.begin(), {"/usr/bin/busctl", "--address=" + bus_.address()});
    return run(args);
  }
  RunResult gdbus(std::vector<std::string> args) const {
    std::vector<std::string> argv = {"/usr/bin/gdbus", args[0], "--address", bus_.address()};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return run(argv);
  }

  PrivateBus bus_;
  std::unique_ptr<sdbus::IConnection> conn_, calls_conn_;
  std::unique_ptr<ManagerClient> manager_, watcher_;
  std::vector<std::unique_ptr<ProcessClient>> clients_;
};

const char* kTwoServices = R"toml(
[[process]]
id = "web"
command = "sleep 1000"
meta = { team = "edge" }

[[process]]
id = "worker"
command = "sleep 1000"
instances = 2
depends-on = ["web"]
)toml";

// ---------------------------------------------------------------- the proxy

TEST_F(Bus, ListProcessesAndGetProcessDescribeEveryProcess) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  ASSERT_GT(running_pid(pm, "worker@1"), 0);
  auto list = client().ListProcesses();
  std::map<std::string, std::tuple<std::string, int, std::string>> by_name;
  for (const auto& p : list) by_name[p.get<0>()] = {p.get<2>(), p.get<4>(), p.get<7>()};
  ASSERT_EQ(by_name.size(), 3u);
  EXPECT_EQ(std::get<0>(by_name["web"]), "running");
  EXPECT_EQ(std::get<1>(by_name["web"]), pid_of("web"));
  EXPECT_EQ(std::get<2>(by_name["worker@0"]), "/org/procman/Manager/process/worker_400");
  EXPECT_EQ(std::string(client().GetProcess("worker@1")), "/org/procman/Manager/process/worker_401");
  EXPECT_EQ(error_name_of([&] { client().GetProcess("wbe"); }),
            "org.procman.Error.NoSuchProcess: no process named 'wbe' (did you mean 'web'?)");
  // ObjectManager: one object per process, all properties in one call.
  auto objects = client().GetManagedObjects();
  ASSERT_EQ(objects.size(), 3u);
  auto& web = objects[sdbus::ObjectPath("/org/procman/Manager/process/web")]["org.procman.Process"];
  EXPECT_EQ(web["State"].get<std::string>(), "running");
  using Meta = std::map<std::string, std::string>;
  EXPECT_EQ(web["Metadata"].get<Meta>().at("team"), "edge");
}

TEST_F(Bus, ProcessObjectsExposeWhatAUserAsksAbout) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  const int pid = running_pid(pm, "web");
  ASSERT_GT(pid, 0);
  ProcessClient& web = process("web");
  auto props = web.GetAll("org.procman.Process");
  EXPECT_EQ(props["Name"].get<std::string>(), "web");
  EXPECT_EQ(props["State"].get<std::string>(), "running");
  EXPECT_EQ(props["MainPID"].get<uint32_t>(), static_cast<uint32_t>(pid));
  EXPECT_EQ(props["Command"].get<std::string>(), "sleep 1000");
  EXPECT_EQ(props["Restart"].get<std::string>(), "always");
  EXPECT_EQ(props["Transient"].get<bool>(), false);
  EXPECT_GT(props["StartTimestamp"].get<uint64_t>(), 1'600'000'000'000'000u);  // µs since the epoch
  EXPECT_GT(props["MemoryCurrent"].get<uint64_t>(), 0u);
  EXPECT_EQ(props["LastExitCode"].get<int32_t>(), -1);
  auto effective = nlohmann::json::parse(props["EffectiveConfig"].get<std::string>());
  EXPECT_EQ(effective["command"], "sleep 1000");
  ProcessClient& worker = process("worker@0");
  EXPECT_EQ(worker.Get("org.procman.Process", "DependsOn").get<std::vector<std::string>>(),
            std::vector<std::string>{"web (running)"});
  EXPECT_EQ(worker.Get("org.procman.Process", "Instance").get<uint32_t>(), 0u);
}

TEST_F(Bus, StopAndStartReplyOnlyOnceTheyAreDone) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  const int pid = running_pid(pm, "web");
  ASSERT_GT(pid, 0);
  // Stopping web stops its dependents first; the reply comes when web is gone.
  EXPECT_EQ(client().StopProcess("web", "wait"), "stopped");
  EXPECT_FALSE(pid_alive(pid));
  EXPECT_EQ(client().StartProcess("web", ""), "running");
  EXPECT_GT(pid_of("web"), 0);
  const int before = pid_of("web");
  EXPECT_EQ(client().RestartProcess("web", "wait"), "running");
  EXPECT_NE(pid_of("web"), before);
  EXPECT_FALSE(pid_alive(before));
  pm.output();
}

TEST_F(Bus, StartWaitsForReadinessWhileOtherCallsAreServed) {
  const std::string flag = dir_.file("ready");
  write_config(fmt::format(R"toml(
[[process]]
id = "slow"
command = "sleep 1000"
readiness-check = {{ file = "{}", period = "100ms" }}
)toml",
                           flag));
  Procmand& pm = start_on_bus();
  ASSERT_TRUE(wait_state(pm, "slow", "init") || wait_state(pm, "slow", "starting"));
  // A second connection makes the blocking call; this one keeps asking.
  auto other = sdbus::createSessionBusConnectionWithAddress(bus_.address());
  ASSERT_EQ(client().StopProcess("slow", "wait"), "stopped");
  auto reply = std::async(std::launch::async, [&] {
    ManagerClient m(*other);
    return m.StartProcess("slow", "wait");
  });
  EXPECT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("slow");
    return u && u->pid > 0;
  }));
  // Not ready: the reply cannot have been sent, and the daemon still answers others.
  EXPECT_NE(reply.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(client().ListProcesses().size(), 1u);
  dir_.write("ready", "");
  ASSERT_EQ(reply.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(reply.get(), "running");
}

TEST_F(Bus, NoBlockRepliesAtOnce) {
  write_config(R"toml(
[[process]]
id = "stubborn"
command = "sh -c 'trap \"\" TERM; while :; do sleep 1; done'"
stop-timeout = "60s"
)toml");
  Procmand& pm = start_on_bus();
  ASSERT_GT(running_pid(pm, "stubborn"), 0);
  EXPECT_EQ(client().StopProcess("stubborn", "no-block"), "stopping");
  client().KillProcess("stubborn", "group", SIGKILL);
  EXPECT_TRUE(wait_state(pm, "stubborn", "stopped"));
}

TEST_F(Bus, AFailedStartRepliesWithTheReason) {
  write_config(R"toml(
[[process]]
id = "broken"
command = "/nonexistent/binary"
restart = "no"
)toml");
  Procmand& pm = start_on_bus();
  ASSERT_TRUE(wait_state(pm, "broken", "failed"));
  const std::string err = error_name_of([&] { client().StartProcess("broken", "wait"); });
  EXPECT_EQ(err.rfind("org.procman.Error.Failed: ", 0), 0u) << err;
  EXPECT_NE(err.find("No such file or directory"), std::string::npos) << err;
}

TEST_F(Bus, InvalidArgumentsGetPreciseErrors) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  ASSERT_GT(running_pid(pm, "web"), 0);
  EXPECT_EQ(error_name_of([&] { client().StartProcess("web", "sometimes"); }).rfind("org.procman.Error.InvalidArgs", 0),
            0u);
  EXPECT_EQ(error_name_of([&] { client().KillProcess("web", "group", 0); }).rfind("org.procman.Error.InvalidArgs", 0),
            0u);
  EXPECT_EQ(error_name_of([&] { client().KillProcess("web", "everyone", 15); }).rfind("org.procman.Error.InvalidArgs", 0),
            0u);
  EXPECT_EQ(error_name_of([&] { client().StopProcess("nope", "wait"); }).rfind("org.procman.Error.NoSuchProcess", 0),
            0u);
  // Nothing running was touched by any of it.
  EXPECT_EQ(unit("web")->state, "running");
}

TEST_F(Bus, KillSendsTheSignalToTheGroupOrTheMainProcess) {
  const std::string out = dir_.file("usr1");
  // The main shell traps USR1 before it starts the child; the child says when its trap is set.
  dir_.write("trapper.sh",
             "#!/bin/sh\n"
             "trap 'echo main >> " + out + "' USR1\n"
             "sh -c 'trap \"echo child >> " + out + "\" USR1; echo ready > " + dir_.file("ready") +
                 "; while :; do sleep 0.1; done' &\n"
             "while :; do sleep 0.1; done\n",
             true);
  write_config("[[process]]\nid = \"trapper\"\ncommand = \"" + dir_.file("trapper.sh") + "\"\n");
  Procmand& pm = start_on_bus();
  ASSERT_GT(running_pid(pm, "trapper"), 0);
  ASSERT_TRUE(wait_until([&] { return slurp(dir_.file("ready")) == "ready\n"; }));
  client().KillProcess("trapper", "main", SIGUSR1);
  EXPECT_TRUE(wait_until([&] { return slurp(out).find("main") != std::string::npos; }));
  EXPECT_EQ(slurp(out).find("child"), std::string::npos);
  client().KillProcess("trapper", "group", SIGUSR1);
  EXPECT_TRUE(wait_until([&] { return slurp(out).find("child") != std::string::npos; }));
  pm.output();
}

TEST_F(Bus, ResetFailedClearsAStartLimit) {
  write_config(R"toml(
[[process]]
id = "flappy"
command = "false"
restart-delay = { initial = "10ms" }
start-limit = { burst = 2, interval = "1h" }
)toml");
  Procmand& pm = start_on_bus();
  ASSERT_TRUE(wait_state(pm, "flappy", "start-limit-hit"));
  client().ResetFailed("flappy");
  EXPECT_TRUE(wait_until([&] {
    pm.output();
    auto u = unit("flappy");
    return u && u->state != "start-limit-hit";
  }));
}

TEST_F(Bus, RunTransientAddsAProcessAndRemoveForgetsIt) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  ASSERT_GT(running_pid(pm, "web"), 0);
  ManagerClient& m = client();
  ManagerClient& w = watcher();
  std::map<std::string, sdbus::Variant> props;
  props["Argv"] = sdbus::Variant(std::vector<std::string>{"sh", "-c", "echo \"$GREETING\"; exec sleep 1000"});
  props["Environment"] = sdbus::Variant(std::vector<std::string>{"GREETING=hello there"});
  props["DependsOn"] = sdbus::Variant(std::vector<std::string>{"web"});
  auto [name, path] = m.RunTransient("helper", props);
  EXPECT_EQ(name, "helper");
  EXPECT_EQ(std::string(path), "/org/procman/Manager/process/helper");
  EXPECT_TRUE(w.wait([&] { return std::count(w.added.begin(), w.added.end(), "helper") == 1; }));
  EXPECT_TRUE(w.wait([&] {
    return std::count(w.ifaces_added.begin(), w.ifaces_added.end(), "/org/procman/Manager/process/helper") == 1;
  }));
  EXPECT_TRUE(pm.wait_for_line(child_line("helper", "hello there")));
  const int pid = running_pid(pm, "helper");
  ASSERT_GT(pid, 0);
  ProcessClient& h = process("helper");
  EXPECT_TRUE(h.Get("org.procman.Process", "Transient").get<bool>());
  // Same name again: refused, unless Unique asks for a fresh name.
  EXPECT_EQ(error_name_of([&] { m.RunTransient("helper", props); }).rfind("org.procman.Error.AlreadyExists", 0), 0u);
  props["Unique"] = sdbus::Variant(true);
  EXPECT_EQ(std::get<0>(m.RunTransient("helper", props)), "helper.1");
  // Bad properties: nothing is added.
  std::map<std::string, sdbus::Variant> bad;
  bad["Comand"] = sdbus::Variant(std::string("true"));
  const std::string e = error_name_of([&] { m.RunTransient("x", bad); });
  EXPECT_EQ(e.rfind("org.procman.Error.InvalidArgs", 0), 0u) << e;
  EXPECT_NE(e.find("Command"), std::string::npos) << e;
  // A config process is removed by editing the file.
  EXPECT_EQ(error_name_of([&] { m.RemoveProcess("web"); }).rfind("org.procman.Error.Failed", 0), 0u);
  m.RemoveProcess("helper");  // replies once it is gone
  EXPECT_FALSE(pid_alive(pid));
  EXPECT_TRUE(w.wait([&] { return std::count(w.removed.begin(), w.removed.end(), "helper") == 1; }));
  EXPECT_TRUE(w.wait([&] {
    return std::count(w.ifaces_removed.begin(), w.ifaces_removed.end(), "/org/procman/Manager/process/helper") == 1;
  }));
  EXPECT_EQ(error_name_of([&] { m.GetProcess("helper"); }).rfind("org.procman.Error.NoSuchProcess", 0), 0u);
}

TEST_F(Bus, LogsComeFromTheRingBuffer) {
  write_config(R"toml(
[[process]]
id = "talker"
command = "sh -c 'for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2; exec sleep 1000'"
)toml");
  Procmand& pm = start_on_bus();
  ASSERT_TRUE(pm.wait_for_line(child_line("talker", "oops")));
  EXPECT_EQ(client().GetProcessLogs("talker", 2), (std::vector<std::string>{"line5", "oops"}));
  ProcessClient& t = process("talker");
  EXPECT_EQ(t.GetLogs(0).size(), 6u);
  auto lines = client().ReadLogs("talker", 0, 0);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[5].get<3>(), "oops");
  EXPECT_TRUE(lines[5].get<2>());   // stderr
  EXPECT_FALSE(lines[0].get<2>());
  auto rest = client().ReadLogs("talker", lines[3].get<0>(), 0);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].get<3>(), "line5");
}

TEST_F(Bus, SignalsCarryWhatANotifierNeeds) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  const int pid = running_pid(pm, "web");
  ASSERT_GT(pid, 0);
  ManagerClient& m = watcher();
  ProcessClient& web = watch_process("web");
  client().StopProcess("web", "wait");
  ASSERT_TRUE(m.saw("web", "stopped"));
  {
    std::lock_guard lock(m.mu);
    int found = 0;
    for (const auto& c : m.changes) {
      if (c.name == "web" && c.new_state == "stopping") {
        ++found;
        EXPECT_EQ(c.old_state, "running");
        EXPECT_EQ(c.pid, pid);
      }
      if (c.name == "web" && c.new_state == "stopped") {
        ++found;
        EXPECT_EQ(c.old_state, "stopping");
        EXPECT_EQ(c.exit_signal, "SIGTERM");
        EXPECT_EQ(c.exit_code, -1);
        EXPECT_EQ(c.pid, 0) << "no main process any more";
      }
    }
    EXPECT_EQ(found, 2);
  }
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(web.mu);
    return std::count(web.changed.begin(), web.changed.end(), "State") > 0;
  }));
}

TEST_F(Bus, ReloadAppliesTheFileOrExplainsWhyNot) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  ASSERT_GT(running_pid(pm, "web"), 0);
  ManagerClient& m = client();
  ManagerClient& w = watcher();
  write_config(std::string(kTwoServices) + "\n[[process]]\nid = \"extra\"\ncommand = \"sleep 1000\"\n");
  auto [added, removed, restarted, pending] = m.Reload();
  EXPECT_EQ(added, std::vector<std::string>{"extra"});
  EXPECT_TRUE(w.wait([&] { return !w.reloads.empty(); }));
  EXPECT_GT(running_pid(pm, "extra"), 0);
  write_config("[[process]]\nid = \"web\"\ncommand = \"sleep 1000\"\nbogus = 1\n");
  const std::string e = error_name_of([&] { m.Reload(); });
  EXPECT_EQ(e.rfind("org.procman.Error.InvalidConfig", 0), 0u) << e;
  EXPECT_NE(e.find("procman.toml:7:1"), std::string::npos) << e;
  EXPECT_EQ(unit("extra")->state, "running");
}

TEST_F(Bus, ManagerPropertiesDescribeTheDaemon) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus({"--fifo", dir_.file("ctl.fifo")});
  ASSERT_GT(running_pid(pm, "worker@1"), 0);
  ManagerClient& m = client();
  EXPECT_EQ(m.Version(), "0.1.0");
  EXPECT_EQ(m.ConfigPath(), config_path());
  EXPECT_EQ(m.FifoPath(), dir_.file("ctl.fifo"));
  EXPECT_EQ(m.State(), "running");
  EXPECT_EQ(m.ProcessCount(), 3u);
  EXPECT_EQ(m.Counts().at("running"), 3u);
  EXPECT_EQ(m.StatusText(), "3 running");
  EXPECT_EQ(m.ConfigUid(), uid_);
}

TEST_F(Bus, ShutdownLogsTheCallerAndStopsEverything) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  const int pid = running_pid(pm, "web");
  ASSERT_GT(pid, 0);
  client().Shutdown("maintenance window");
  EXPECT_TRUE(pm.wait_for_line("shutdown requested over D-Bus by .* \\(uid " + std::to_string(getuid()) +
                               ", pid " + std::to_string(getpid()) + ", :.*\\): maintenance window"));
  EXPECT_EQ(pm.wait_exit(), 0);
  EXPECT_FALSE(pid_alive(pid));
}

TEST_F(Bus, ASecondProcmandCannotTakeTheNameAndSaysWhoHasIt) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  ASSERT_GT(running_pid(pm, "web"), 0);
  TempDir other;
  other.write("procman.toml", "uid = \"other-" + uid_ + "\"\nfile-format = \"0\"\n[[process]]\nid = \"x\"\ncommand = \"sleep 1000\"\n");
  Procmand second(other.file("procman.toml"), other.file("state"), {}, bus_env());
  EXPECT_TRUE(second.wait_for_line("org.procman.Manager is already owned by pid " + std::to_string(pm.pid())));
  EXPECT_EQ(second.wait_exit(), 1);
}

// ---------------------------------------------------------------- busctl and gdbus

TEST_F(Bus, BusctlAndGdbusSeeTheTreeCallMethodsAndReadProperties) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  const int pid = running_pid(pm, "web");
  ASSERT_GT(pid, 0);
  RunResult tree = busctl({"tree", kName});
  EXPECT_EQ(tree.code, 0) << tree.output;
  EXPECT_NE(tree.output.find("/org/procman/Manager/process/worker_400"), std::string::npos) << tree.output;
  RunResult get = busctl({"get-property", kName, "/org/procman/Manager/process/web", "org.procman.Process", "MainPID"});
  EXPECT_EQ(get.output, "u " + std::to_string(pid) + "\n");
  RunResult stop = busctl({"call", kName, kPath, "org.procman.Manager", "StopProcess", "ss", "web", "wait"});
  EXPECT_EQ(stop.output, "s \"stopped\"\n");
  RunResult missing = busctl({"call", kName, kPath, "org.procman.Manager", "StartProcess", "ss", "nope", ""});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.output.find("no process named 'nope'"), std::string::npos) << missing.output;
  // The standard error for a method that does not exist (procnanny's "No such method").
  RunResult fizzle = gdbus({"call", "--dest", kName, "--object-path", kPath, "--method", "org.procman.Manager.Fizzle"});
  EXPECT_NE(fizzle.code, 0);
  EXPECT_NE(fizzle.output.find("org.freedesktop.DBus.Error.UnknownMethod"), std::string::npos) << fizzle.output;
  RunResult start = gdbus({"call", "--dest", kName, "--object-path", "/org/procman/Manager/process/web", "--method",
                           "org.procman.Process.Start", "wait"});
  EXPECT_EQ(start.output, "('running',)\n") << start.output;
  RunResult intro = gdbus({"introspect", "--dest", kName, "--object-path", kPath});
  EXPECT_NE(intro.output.find("org.freedesktop.DBus.ObjectManager"), std::string::npos);
  EXPECT_NE(intro.output.find("ProcessStateChanged"), std::string::npos);
}

// ---------------------------------------------------------------- procmanctl

TEST_F(Bus, ProcmanctlStatusShowsATableAndJson) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  const int pid = running_pid(pm, "worker@1");
  ASSERT_GT(pid, 0);
  RunResult st = ctl({"status"});
  EXPECT_EQ(st.code, 0) << st.output;
  EXPECT_NE(st.output.find("NAME"), std::string::npos);
  EXPECT_TRUE(std::regex_search(st.output, std::regex("worker@1 +running +" + std::to_string(pid)))) << st.output;
  RunResult js = ctl({"status", "--json", "web"});
  ASSERT_EQ(js.code, 0) << js.output;
  auto j = nlohmann::json::parse(js.output);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["Name"], "web");
  EXPECT_EQ(j[0]["State"], "running");
  EXPECT_EQ(ctl({"status", "nope"}).code, 4);
  ctl({"stop", "web"});
  EXPECT_EQ(ctl({"status", "web"}).code, 3);
}

TEST_F(Bus, ProcmanctlVerbsDriveTheDaemon) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  ASSERT_GT(running_pid(pm, "web"), 0);
  RunResult show = ctl({"show", "web"});
  EXPECT_NE(show.output.find("State=running"), std::string::npos) << show.output;
  EXPECT_EQ(ctl({"stop", "worker"}).code, 0);  // both instances
  EXPECT_EQ(unit("worker@0")->state, "stopped");
  EXPECT_EQ(unit("worker@1")->state, "stopped");
  EXPECT_EQ(ctl({"start", "worker"}).code, 0);
  EXPECT_EQ(unit("worker@1")->state, "running");
  const int before = pid_of("web");
  EXPECT_EQ(ctl({"restart", "web"}).code, 0);
  EXPECT_NE(pid_of("web"), before);
  RunResult r = ctl({"run", "--name", "adhoc", "--", "sh", "-c", "echo adhoc-out; exec sleep 1000"});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("adhoc"), std::string::npos);
  EXPECT_TRUE(pm.wait_for_line(child_line("adhoc", "adhoc-out")));
  RunResult logs = ctl({"logs", "adhoc", "-n", "5"});
  EXPECT_NE(logs.output.find("adhoc-out"), std::string::npos) << logs.output;
  EXPECT_EQ(ctl({"kill", "-s", "KILL", "adhoc"}).code, 0);
  EXPECT_EQ(ctl({"remove", "adhoc"}).code, 0);
  EXPECT_FALSE(unit("adhoc").has_value());
  RunResult missing = ctl({"start", "nope"});
  EXPECT_EQ(missing.code, 4);
  EXPECT_NE(missing.output.find("no process named 'nope'"), std::string::npos);
  write_config(std::string(kTwoServices) + "\n[[process]]\nid = \"more\"\ncommand = \"sleep 1000\"\n");
  RunResult reload = ctl({"reload"});
  EXPECT_EQ(reload.code, 0) << reload.output;
  EXPECT_NE(reload.output.find("more"), std::string::npos) << reload.output;
  EXPECT_EQ(ctl({"shutdown", "--message", "done"}).code, 0);
  EXPECT_EQ(pm.wait_exit(), 0);
}

TEST_F(Bus, ProcmanctlEventsFollowsStateChanges) {
  write_config(kTwoServices);
  Procmand& pm = start_on_bus();
  ASSERT_GT(running_pid(pm, "worker@1"), 0);
  // events runs until interrupted: read its output through a pipe while it runs.
  const std::string out = dir_.file("events.out");
  RunResult bg = run({"/bin/sh", "-c", fmt::format("exec {} events --json > {} 2>&1 & echo $!", PROCMANCTL_PATH, out)},
                     bus_env());
  const pid_t events_pid = std::stoi(bg.output);
  // It subscribes before it prints anything; a first stop/start pair may race
  // that, so repeat until a change is seen.
  EXPECT_TRUE(wait_until([&] {
    ctl({"restart", "web", "--no-block"});
    return slurp(out).find("\"web\"") != std::string::npos;
  }));
  kill(events_pid, SIGINT);
  EXPECT_TRUE(wait_until([&] { return !pid_alive(events_pid); }));
  auto first = nlohmann::json::parse(lines_of(slurp(out)).at(0));
  EXPECT_TRUE(first.contains("name"));
  EXPECT_TRUE(first.contains("new_state") || first.contains("to")) << first.dump();
  pm.output();
}

TEST_F(Bus, ProcmanctlSaysSoWhenNoDaemonIsThere) {
  RunResult r = ctl({"status"});
  EXPECT_EQ(r.code, 5) << r.output;
  EXPECT_NE(r.output.find("procmand is not running"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace procman::test
