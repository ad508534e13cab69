// The D-Bus layer against a fake Backend on a private bus, driven three ways:
// the generated proxies, busctl and gdbus. The Service runs on an EventLoop in
// its own thread (as in procmand, nothing else touches it: every interaction
// goes through LoopThread::call), so blocking client calls cannot deadlock it.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <sdbus-c++/sdbus-c++.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/state.h"
#include "core/suggest.h"
#include "dbus/backend.h"
#include "dbus/object_path.h"
#include "dbus/service.h"
#include "dbus/transient_spec.h"
#include "manager_proxy.h"
#include "os/event_loop.h"
#include "process_proxy.h"
#include "support/private_bus.h"

namespace procman::dbus {
namespace {

using namespace std::chrono_literals;
using core::State;
using test::PrivateBus;

// Generous: ASan builds on two cores.
constexpr auto kWait = std::chrono::seconds(20);

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = kWait) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// ---------------------------------------------------------------- commands

std::string shq(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct Cmd {
  int status = -1;
  std::string out;  ///< stdout and stderr
};

Cmd run(const std::string& command) {
  Cmd r;
  std::string full = "timeout 30 " + command + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// ---------------------------------------------------------------- the loop thread

/// An EventLoop running on its own thread, and a way to run code on it.
class LoopThread {
 public:
  LoopThread() {
    efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    wake_ = loop.add_io(efd_, EPOLLIN, [this](uint32_t) { drain(); });
  }
  ~LoopThread() {
    stop();
    wake_.reset();
    ::close(efd_);
  }

  void start() {
    thread_ = std::thread([this] { loop.run(); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    post([this] { loop.exit(0); });
    thread_.join();
  }
  bool running() const { return thread_.joinable(); }

  void post(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(fn));
    }
    uint64_t one = 1;
    (void)!::write(efd_, &one, sizeof one);
  }

  /// Runs fn on the loop thread and returns its result; inline when the loop
  /// is not running. A loop stuck for kWait aborts the run: nothing else would
  /// end it.
  template <typename Fn>
  auto call(Fn fn) -> decltype(fn()) {
    using R = decltype(fn());
    if (!running()) return fn();
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
    auto fut = task->get_future();
    post([task] { (*task)(); });
    if (fut.wait_for(kWait) != std::future_status::ready) {
      std::fprintf(stderr, "the event loop thread did not answer within the limit\n");
      std::abort();
    }
    return fut.get();
  }

  os::EventLoop loop;

 private:
  void drain() {
    uint64_t n = 0;
    (void)!::read(efd_, &n, sizeof n);
    std::deque<std::function<void()>> q;
    {
      std::lock_guard lock(mu_);
      q.swap(queue_);
    }
    for (auto& fn : q) fn();
  }

  int efd_ = -1;
  os::EventSource wake_;
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  std::thread thread_;
};

// ---------------------------------------------------------------- the fake backend

const char* op_name(Op op) {
  switch (op) {
    case Op::Start:
      return "start";
    case Op::Stop:
      return "stop";
    case Op::Restart:
      return "restart";
  }
  return "?";
}

ProcessView make_view(const std::string& name, State state) {
  ProcessView v;
  v.status.name = name;
  auto at = name.find('@');
  v.status.id = name.substr(0, at);
  v.status.instance =
      at == std::string::npos ? 0 : static_cast<unsigned>(std::stoul(name.substr(at + 1)));
  v.status.state = state;
  v.status.pid = state == State::Running ? 4242 : -1;
  v.command = "/usr/bin/" + v.status.id + " --serve";
  v.work_dir = "/srv";
  v.restart = "always";
  return v;
}

/// Records calls and answers from a script; operations in "wait" mode are held
/// until the test completes them (on the loop thread).
class FakeBackend final : public Backend {
 public:
  struct Held {
    std::string what;  ///< "start web", "remove job"
    OpDone done;
  };

  std::map<std::string, ProcessView, std::less<>> procs;
  ManagerView mgr;
  Usage use{111, 222};
  std::vector<std::string> calls;
  std::map<std::string, Error> fail;  ///< by method: "operate", "kill", ...
  std::vector<Held> held;
  std::vector<Caller> callers;
  std::vector<std::string> shutdown_messages;
  std::vector<TransientSpec> specs;
  int process_reads = 0;
  int usage_reads = 0;
  int manager_reads = 0;
  bool throw_in_logs = false;

  void add(const std::string& name, State state = State::Running) {
    procs[name] = make_view(name, state);
  }

  /// Completes held operation `i` (loop thread only); false if there is none,
  /// and then the caller waits for its call to time out.
  bool complete(std::size_t i, OpResult r) {
    if (i >= held.size() || !held[i].done) return false;
    auto done = std::move(held[i].done);
    done(std::move(r));
    return true;
  }

  ManagerView manager() override {
    ++manager_reads;
    return mgr;
  }
  std::vector<ProcessView> processes() override {
    std::vector<ProcessView> out;
    for (const auto& [n, v] : procs) out.push_back(v);
    return out;
  }
  std::optional<ProcessView> process(std::string_view name) override {
    ++process_reads;
    auto it = procs.find(name);
    if (it == procs.end()) return std::nullopt;
    return it->second;
  }
  Usage usage(std::string_view) override {
    ++usage_reads;
    return use;
  }
  std::optional<Error> check_name(std::string_view name) override {
    std::vector<std::string> names;
    for (const auto& [n, v] : procs) {
      if (n == name || v.status.id == name) return std::nullopt;
      names.push_back(n);
    }
    std::string msg = fmt::format("no process named '{}'", name);
    if (auto g = core::closest_match(name, names)) msg += fmt::format(" (did you mean '{}'?)", *g);
    return Error{kErrNoSuchProcess, msg};
  }
  void operate(Op op, std::string_view name, bool wait, OpDone done) override {
    calls.push_back(fmt::format("{} {} {}", op_name(op), name, wait ? "wait" : "no-block"));
    if (auto f = failure("operate")) return done(OpResult{f, "failed"});
    if (!wait) {
      auto it = procs.find(name);
      std::string state =
          it == procs.end() ? "" : std::string(core::state_name(it->second.status.state));
      return done(OpResult{std::nullopt, state});
    }
    held.push_back(Held{fmt::format("{} {}", op_name(op), name), std::move(done)});
  }
  std::optional<Error> kill(std::string_view name, std::string_view whom, int signal) override {
    calls.push_back(fmt::format("kill {} {} {}", name, whom, signal));
    return failure("kill");
  }
  std::optional<Error> reset_failed(std::string_view name) override {
    calls.push_back(fmt::format("reset_failed {}", name));
    return failure("reset_failed");
  }
  std::variant<std::string, Error> run_transient(const TransientSpec& spec) override {
    specs.push_back(spec);
    calls.push_back(fmt::format("run_transient {}", spec.name));
    if (auto f = failure("run_transient")) return *f;
    std::string name = spec.name.empty() ? "sleep" : spec.name;
    if (spec.unique && procs.count(name)) name += ".1";
    return name;
  }
  void remove(std::string_view name, OpDone done) override {
    calls.push_back(fmt::format("remove {}", name));
    if (auto f = failure("remove")) return done(OpResult{f, ""});
    held.push_back(Held{fmt::format("remove {}", name), std::move(done)});
  }
  std::variant<std::vector<std::string>, Error> logs(std::string_view name,
                                                     uint32_t lines) override {
    calls.push_back(fmt::format("logs {} {}", name, lines));
    if (throw_in_logs) throw std::runtime_error("the log buffer is on fire");
    if (auto f = failure("logs")) return *f;
    std::vector<std::string> all = {"one", "two", "three"};
    if (lines == 0 || lines >= all.size()) return all;
    return std::vector<std::string>(all.end() - lines, all.end());
  }
  std::variant<std::vector<LogLine>, Error> read_logs(std::string_view name, uint64_t after,
                                                      uint32_t max) override {
    calls.push_back(fmt::format("read_logs {} {} {}", name, after, max));
    if (auto f = failure("read_logs")) return *f;
    return std::vector<LogLine>{{after + 1, 1700000000000000, false, "out"},
                                {after + 2, 1700000000000001, true, "err"}};
  }
  std::variant<ReloadResult, Error> reload() override {
    calls.push_back("reload");
    if (auto f = failure("reload")) return *f;
    return ReloadResult{{"new"}, {"old"}, {"web"}, {"worker@0"}};
  }
  std::optional<Error> shutdown(const Caller& caller, std::string_view message) override {
    callers.push_back(caller);
    shutdown_messages.emplace_back(message);
    calls.push_back("shutdown");
    return failure("shutdown");
  }

 private:
  std::optional<Error> failure(const std::string& method) const {
    auto it = fail.find(method);
    if (it == fail.end()) return std::nullopt;
    return it->second;
  }
};

// ---------------------------------------------------------------- clients

/// Thread-safe list of what a client saw, in order.
class Recorder {
 public:
  void add(std::string e) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  bool wait_for(const std::function<bool(const std::vector<std::string>&)>& pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return pred(events_); });
  }
  bool wait_contains(const std::string& e) {
    return wait_for([&](const auto& ev) { return std::find(ev.begin(), ev.end(), e) != ev.end(); });
  }
  std::size_t count(const std::string& e) const {
    std::lock_guard lock(mu_);
    return static_cast<std::size_t>(std::count(events_.begin(), events_.end(), e));
  }
  std::size_t count_prefix(const std::string& p) const {
    std::lock_guard lock(mu_);
    return static_cast<std::size_t>(std::count_if(
        events_.begin(), events_.end(), [&](const std::string& e) { return e.rfind(p, 0) == 0; }));
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
};

std::string keys_of(const std::map<std::string, sdbus::Variant>& m) {
  std::vector<std::string> k;
  for (const auto& [key, v] : m) k.push_back(key);
  return fmt::format("{}", fmt::join(k, ","));
}

class ManagerClient final
    : public sdbus::ProxyInterfaces<org::procman::Manager_proxy, sdbus::Properties_proxy,
                                    sdbus::ObjectManager_proxy> {
 public:
  ManagerClient(sdbus::IConnection& conn, Recorder& rec)
      : ProxyInterfaces(conn, "org.procman.Manager", std::string(kManagerPath)), rec_(rec) {
    registerProxy();
  }
  ~ManagerClient() { unregisterProxy(); }

  sdbus::IProxy& proxy() { return getProxy(); }

 private:
  void onProcessStateChanged(const std::string& name, const sdbus::ObjectPath& path,
                             const std::string& old_state, const std::string& new_state,
                             const std::string& sub_state, const int32_t& pid,
                             const int32_t& exit_code, const std::string& exit_signal,
                             const std::string& reason) override {
    rec_.add(fmt::format("StateChanged {} {} {}->{} sub={} pid={} code={} sig={} reason={}", name,
                         path, old_state, new_state, sub_state, pid, exit_code, exit_signal,
                         reason));
  }
  void onProcessAdded(const std::string& name, const sdbus::ObjectPath& path) override {
    rec_.add(fmt::format("Added {} {}", name, path));
  }
  void onProcessRemoved(const std::string& name, const sdbus::ObjectPath& path) override {
    rec_.add(fmt::format("Removed {} {}", name, path));
  }
  void onReloaded(const std::vector<std::string>& added, const std::vector<std::string>& removed,
                  const std::vector<std::string>& restarted,
                  const std::vector<std::string>& pending) override {
    rec_.add(fmt::format("Reloaded {}|{}|{}|{}", fmt::join(added, ","), fmt::join(removed, ","),
                         fmt::join(restarted, ","), fmt::join(pending, ",")));
  }
  void onPropertiesChanged(const std::string& iface,
                           const std::map<std::string, sdbus::Variant>& changed,
                           const std::vector<std::string>& invalidated) override {
    rec_.add(fmt::format("PropertiesChanged {} {} {} [{}]", kManagerPath, iface, keys_of(changed),
                         fmt::join(invalidated, ",")));
  }
  void onInterfacesAdded(
      const sdbus::ObjectPath& path,
      const std::map<std::string, std::map<std::string, sdbus::Variant>>& ifaces) override {
    std::string state;
    if (auto it = ifaces.find("org.procman.Process"); it != ifaces.end()) {
      if (auto p = it->second.find("State"); p != it->second.end()) {
        state = p->second.get<std::string>();
      }
    }
    rec_.add(fmt::format("InterfacesAdded {} {} State={}", path,
                         ifaces.count("org.procman.Process"), state));
  }
  void onInterfacesRemoved(const sdbus::ObjectPath& path,
                           const std::vector<std::string>& ifaces) override {
    bool ours = std::find(ifaces.begin(), ifaces.end(), "org.procman.Process") != ifaces.end();
    rec_.add(fmt::format("InterfacesRemoved {} {}", path, ours ? 1 : 0));
  }

  Recorder& rec_;
};

class ProcessClient final
    : public sdbus::ProxyInterfaces<org::procman::Process_proxy, sdbus::Properties_proxy> {
 public:
  ProcessClient(sdbus::IConnection& conn, const std::string& name, Recorder& rec)
      : ProxyInterfaces(conn, "org.procman.Manager", process_path(name)), rec_(rec) {
    registerProxy();
  }
  ~ProcessClient() { unregisterProxy(); }

 private:
  void onPropertiesChanged(const std::string& iface,
                           const std::map<std::string, sdbus::Variant>& changed,
                           const std::vector<std::string>& invalidated) override {
    rec_.add(fmt::format("PropertiesChanged {} {} {} [{}]", getObjectPath(), iface,
                         keys_of(changed), fmt::join(invalidated, ",")));
  }

  Recorder& rec_;
};

/// Calls fn and returns the D-Bus error it raised as "name: message" ("" = none).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const sdbus::Error& e) {
    return e.getName() + ": " + e.getMessage();
  }
  return "";
}

/// A connection for calls only. It runs no event loop, so every call is a
/// plain blocking sd_bus_call, and each thread that calls gets its own:
/// sdbus-c++ 1.2.0 can leave a call unsent when several threads call through
/// one connection whose event loop runs in yet another thread.
struct CallClient {
  explicit CallClient(const std::string& address)
      : conn(sdbus::createSessionBusConnectionWithAddress(address)),
        manager(std::make_unique<ManagerClient>(*conn, ignored)) {}
  ~CallClient() {
    processes.clear();
    manager.reset();
  }
  ProcessClient& process(const std::string& name) {
    auto& p = processes[name];
    if (!p) p = std::make_unique<ProcessClient>(*conn, name, ignored);
    return *p;
  }

  std::unique_ptr<sdbus::IConnection> conn;
  Recorder ignored;  ///< nothing dispatches signals on this connection
  std::unique_ptr<ManagerClient> manager;
  std::map<std::string, std::unique_ptr<ProcessClient>> processes;
};

// ---------------------------------------------------------------- fixture

class ServiceTest : public ::testing::Test {
 protected:
  virtual PrivateBus::Options bus_options() { return {}; }
  virtual ServiceOptions service_options() { return {}; }

  void SetUp() override {
    bus_ = std::make_unique<PrivateBus>(bus_options());
    ASSERT_FALSE(bus_->address().empty()) << bus_->error();
    fake_.add("web");
    fake_.add("worker@0");
    fake_.add("worker@1", State::Failed);
    fake_.mgr = ManagerView{"0.1.0",
                            "/etc/procman.toml",
                            "cafe",
                            "/run/procman.fifo",
                            "/var/lib/procman",
                            "running",
                            "2 running, 1 failed",
                            3,
                            {{"failed", 1}, {"running", 2}},
                            "journal"};
    lt_.loop.set_error_hook([this](const std::string& e) {
      std::lock_guard lock(errors_mu_);
      loop_errors_.push_back(e);
    });
    ServiceOptions o = service_options();
    o.address = bus_->address();
    o.on_disconnected = [this](const std::string& why) {
      std::lock_guard lock(errors_mu_);
      lost_.push_back(why);
    };
    std::string error;
    service_ = Service::open(lt_.loop, fake_, o, &error);
    ASSERT_TRUE(service_) << error;
    lt_.start();
    // Signals arrive on a connection of their own whose event loop runs in a
    // thread; its proxies exist before that loop starts and nothing calls
    // through it.
    watch_conn_ = sdbus::createSessionBusConnectionWithAddress(bus_->address());
    watcher_ = std::make_unique<ManagerClient>(*watch_conn_, rec_);
    for (const char* name : {"web", "worker@0", "worker@1", "job"}) {
      watched_.push_back(std::make_unique<ProcessClient>(*watch_conn_, name, rec_));
    }
    watch_conn_->enterEventLoopAsync();
    calls_ = std::make_unique<CallClient>(bus_->address());
    manager_ = calls_->manager.get();
  }

  void TearDown() override {
    drop_clients();
    lt_.stop();
    timer_.reset();
    post_.reset();
    service_.reset();
    std::lock_guard lock(errors_mu_);
    EXPECT_TRUE(loop_errors_.empty()) << fmt::format("{}", fmt::join(loop_errors_, "\n"));
  }

  /// sdbus-c++'s event loop thread dies on a lost bus: drop it before killing one.
  void drop_clients() {
    watched_.clear();
    watcher_.reset();
    watch_conn_.reset();
    manager_ = nullptr;
    calls_.reset();
  }

  ProcessClient& process(const std::string& name) { return calls_->process(name); }
  /// A client for one more thread.
  std::unique_ptr<CallClient> another_client() {
    return std::make_unique<CallClient>(bus_->address());
  }

  std::vector<std::string> calls() {
    return lt_.call([this] { return fake_.calls; });
  }
  bool wait_for_call(const std::string& c) {
    return eventually([&] {
      auto cs = calls();
      return std::find(cs.begin(), cs.end(), c) != cs.end();
    });
  }

  Cmd busctl(const std::string& args) {
    return run("busctl --address=" + shq(bus_->address()) + " " + args);
  }
  Cmd busctl_call(const std::string& path, const std::string& iface, const std::string& args) {
    return busctl("call org.procman.Manager " + path + " " + iface + " " + args);
  }
  Cmd gdbus(const std::string& path, const std::string& method, const std::string& args = "") {
    return run("gdbus call --address " + shq(bus_->address()) +
               " --dest org.procman.Manager --object-path " + path + " --method " + method + " " +
               args);
  }

  std::unique_ptr<PrivateBus> bus_;
  FakeBackend fake_;
  LoopThread lt_;
  std::unique_ptr<Service> service_;
  Recorder rec_;  ///< every signal seen by the watchers, in order
  std::unique_ptr<sdbus::IConnection> watch_conn_;
  std::unique_ptr<ManagerClient> watcher_;
  std::vector<std::unique_ptr<ProcessClient>> watched_;
  std::unique_ptr<CallClient> calls_;
  ManagerClient* manager_ = nullptr;  ///< calls_'s
  os::EventSource timer_;             ///< a daemon timer some tests arm on the loop
  os::EventSource post_;
  std::mutex errors_mu_;
  std::vector<std::string> loop_errors_;
  std::vector<std::string> lost_;
};

const std::string kMgr = "/org/procman/Manager";
const std::string kIface = "org.procman.Manager";

// ---------------------------------------------------------------- Manager methods

TEST_F(ServiceTest, ListProcessesReturnsEveryProcessWithStatePidAndPath) {
  auto list = manager_->ListProcesses();
  ASSERT_EQ(list.size(), 3u);
  std::map<std::string, std::string> rows;
  for (const auto& r : list) {
    rows[r.get<0>()] = fmt::format("{} {} {} {} {} {} {}", r.get<1>(), r.get<2>(), r.get<3>(),
                                   r.get<4>(), r.get<5>(), r.get<6>(), r.get<7>());
  }
  EXPECT_EQ(rows["web"], "web running  4242 0  /org/procman/Manager/process/web");
  EXPECT_EQ(rows["worker@0"], "worker running  4242 0  /org/procman/Manager/process/worker_400");
  // No main process is pid 0 on the bus, not -1.
  EXPECT_EQ(rows["worker@1"], "worker failed  0 0  /org/procman/Manager/process/worker_401");
}

TEST_F(ServiceTest, GetProcessReturnsTheEscapedObjectPath) {
  EXPECT_EQ(manager_->GetProcess("worker@0"), "/org/procman/Manager/process/worker_400");
  EXPECT_EQ(manager_->GetProcess("web"), "/org/procman/Manager/process/web");
}

TEST_F(ServiceTest, GetProcessOfAnUnknownNameIsNoSuchProcessWithASuggestion) {
  EXPECT_EQ(error_of([&] { manager_->GetProcess("wbe"); }),
            "org.procman.Error.NoSuchProcess: no process named 'wbe' (did you mean 'web'?)");
}

TEST_F(ServiceTest, GetProcessOfAnIdWithInstancesNamesThem) {
  EXPECT_EQ(error_of([&] { manager_->GetProcess("worker"); }),
            "org.procman.Error.NoSuchProcess: 'worker' has instances (worker@0, worker@1); ask "
            "for one of them");
}

TEST_F(ServiceTest, StartProcessNoBlockRepliesAtOnceWithTheState) {
  EXPECT_EQ(manager_->StartProcess("web", "no-block"), "running");
  EXPECT_EQ(calls(), std::vector<std::string>{"start web no-block"});
}

TEST_F(ServiceTest, EmptyModeMeansWait) {
  std::string state;
  auto other = another_client();
  std::thread caller(
      [&] { error_of([&] { state = other->manager->StartProcess("worker@1", ""); }); });
  EXPECT_TRUE(wait_for_call("start worker@1 wait"));
  lt_.call([&] { fake_.complete(0, OpResult{std::nullopt, "running"}); });
  caller.join();
  EXPECT_EQ(state, "running");
}

TEST_F(ServiceTest, AsyncStartCompletesLaterWhileOtherCallsAreServed) {
  std::string state;
  std::string error;
  auto other = another_client();
  std::thread caller(
      [&] { error = error_of([&] { state = other->manager->StartProcess("web", "wait"); }); });
  EXPECT_TRUE(wait_for_call("start web wait"));
  // The start is pending; the service still answers.
  EXPECT_EQ(manager_->ListProcesses().size(), 3u);
  EXPECT_EQ(manager_->Version(), "0.1.0");
  EXPECT_EQ(lt_.call([&] { return fake_.held.size(); }), 1u);
  EXPECT_EQ(state, "");
  lt_.call([&] { fake_.complete(0, OpResult{std::nullopt, "running"}); });
  caller.join();
  EXPECT_EQ(error, "");
  EXPECT_EQ(state, "running");
}

TEST_F(ServiceTest, StopAndRestartAreHeldUntilTheBackendIsDone) {
  std::string stopped, restarted;
  auto c1 = another_client();
  auto c2 = another_client();
  std::thread a([&] { error_of([&] { stopped = c1->manager->StopProcess("web", "wait"); }); });
  std::thread b(
      [&] { error_of([&] { restarted = c2->manager->RestartProcess("worker@0", "wait"); }); });
  EXPECT_TRUE(eventually([&] { return lt_.call([&] { return fake_.held.size(); }) == 2; }));
  lt_.call([&] {
    for (std::size_t i = 0; i < fake_.held.size(); ++i) {
      bool stop = fake_.held[i].what == "stop web";
      fake_.complete(i, OpResult{std::nullopt, stop ? "stopped" : "running"});
    }
  });
  a.join();
  b.join();
  EXPECT_EQ(stopped, "stopped");
  EXPECT_EQ(restarted, "running");
}

TEST_F(ServiceTest, AFailedOperationRepliesFailedWithTheReason) {
  std::string error;
  auto other = another_client();
  std::thread caller(
      [&] { error = error_of([&] { other->manager->StartProcess("web", "wait"); }); });
  EXPECT_TRUE(wait_for_call("start web wait"));
  lt_.call([&] {
    fake_.complete(0,
                   OpResult{Error{kErrFailed, "web exited with code 3 while starting"}, "failed"});
  });
  caller.join();
  EXPECT_EQ(error, "org.procman.Error.Failed: web exited with code 3 while starting");
}

TEST_F(ServiceTest, AnOperationThatFailsAtOnceRepliesAtOnce) {
  fake_.fail["operate"] = Error{kErrShuttingDown, "procmand is shutting down"};
  EXPECT_EQ(error_of([&] { manager_->StartProcess("web", "wait"); }),
            "org.procman.Error.ShuttingDown: procmand is shutting down");
}

TEST_F(ServiceTest, InvalidModeIsInvalidArgsAndReachesNoBackend) {
  EXPECT_EQ(error_of([&] { manager_->StartProcess("web", "later"); }),
            "org.procman.Error.InvalidArgs: invalid mode 'later': expected 'wait' or 'no-block'");
  EXPECT_EQ(error_of([&] { manager_->StopProcess("web", "WAIT"); }),
            "org.procman.Error.InvalidArgs: invalid mode 'WAIT': expected 'wait' or 'no-block'");
  EXPECT_TRUE(calls().empty());
}

TEST_F(ServiceTest, OperatingOnAnUnknownProcessIsNoSuchProcess) {
  EXPECT_EQ(error_of([&] { manager_->RestartProcess("wbe", "no-block"); }),
            "org.procman.Error.NoSuchProcess: no process named 'wbe' (did you mean 'web'?)");
  EXPECT_TRUE(calls().empty());
}

TEST_F(ServiceTest, KillProcessPassesWhomAndSignal) {
  manager_->KillProcess("web", "main", 15);
  manager_->KillProcess("worker", "", 9);  // "" = the whole group
  manager_->KillProcess("web", "group", 64);
  EXPECT_EQ(calls(), (std::vector<std::string>{"kill web main 15", "kill worker group 9",
                                               "kill web group 64"}));
}

TEST_F(ServiceTest, KillProcessRejectsBadSignalsAndWhom) {
  EXPECT_EQ(error_of([&] { manager_->KillProcess("web", "group", 0); }),
            "org.procman.Error.InvalidArgs: invalid signal 0: expected a number from 1 to 64");
  EXPECT_EQ(error_of([&] { manager_->KillProcess("web", "group", 65); }),
            "org.procman.Error.InvalidArgs: invalid signal 65: expected a number from 1 to 64");
  EXPECT_EQ(error_of([&] { manager_->KillProcess("web", "all", 15); }),
            "org.procman.Error.InvalidArgs: invalid whom 'all': expected 'group' or 'main'");
  EXPECT_TRUE(calls().empty());
}

TEST_F(ServiceTest, BackendErrorsKeepTheirNameAndMessage) {
  fake_.fail["kill"] = Error{kErrFailed, "web has no main process"};
  fake_.fail["reset_failed"] = Error{kErrNoSuchProcess, "no process named 'x'"};
  EXPECT_EQ(error_of([&] { manager_->KillProcess("web", "main", 1); }),
            "org.procman.Error.Failed: web has no main process");
  EXPECT_EQ(error_of([&] { manager_->ResetFailed("x"); }),
            "org.procman.Error.NoSuchProcess: no process named 'x'");
}

TEST_F(ServiceTest, ResetFailedCallsTheBackend) {
  manager_->ResetFailed("worker@1");
  EXPECT_EQ(calls(), std::vector<std::string>{"reset_failed worker@1"});
}

TEST_F(ServiceTest, RunTransientPassesEveryPropertyAndRepliesWithNameAndPath) {
  std::map<std::string, sdbus::Variant> props = {
      {"Argv", sdbus::Variant(std::vector<std::string>{"sleep", "60"})},
      {"Environment", sdbus::Variant(std::vector<std::string>{"A=1", "B="})},
      {"WorkingDirectory", sdbus::Variant(std::string("/tmp"))},
      {"Once", sdbus::Variant(true)},
      {"DependsOn", sdbus::Variant(std::vector<std::string>{"web"})},
      {"Restart", sdbus::Variant(std::string("on-failure"))},
      {"StopSignal", sdbus::Variant(std::string("SIGINT"))},
      {"StopTimeoutUSec", sdbus::Variant(uint64_t{5000000})},
      {"Metadata", sdbus::Variant(std::map<std::string, std::string>{{"team", "ops"}})},
      {"Unique", sdbus::Variant(true)},
  };
  auto [name, path] = manager_->RunTransient("web", props);
  EXPECT_EQ(name, "web.1");
  EXPECT_EQ(path, "/org/procman/Manager/process/web_2e1");
  auto specs = lt_.call([&] { return fake_.specs; });
  ASSERT_EQ(specs.size(), 1u);
  const auto& s = specs[0];
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.command, "");
  EXPECT_EQ(s.argv, (std::vector<std::string>{"sleep", "60"}));
  EXPECT_EQ(s.environment, (std::vector<std::string>{"A=1", "B="}));
  EXPECT_EQ(s.work_dir, "/tmp");
  EXPECT_TRUE(s.once);
  EXPECT_EQ(s.depends_on, std::vector<std::string>{"web"});
  EXPECT_EQ(s.restart, "on-failure");
  EXPECT_EQ(s.stop_signal, "SIGINT");
  EXPECT_EQ(s.stop_timeout_usec, std::optional<uint64_t>(5000000));
  EXPECT_EQ(s.meta, (std::map<std::string, std::string>{{"team", "ops"}}));
  EXPECT_TRUE(s.unique);
}

TEST_F(ServiceTest, RunTransientRejectsBadPropertiesBeforeTheBackend) {
  EXPECT_EQ(error_of([&] {
              manager_->RunTransient("", {{"Comand", sdbus::Variant(std::string("sleep 1"))}});
            }),
            "org.procman.Error.InvalidArgs: unknown property 'Comand' (did you mean 'Command'?)");
  EXPECT_EQ(error_of([&] {
              manager_->RunTransient("", {{"Command", sdbus::Variant(std::string("sleep 1"))},
                                          {"Once", sdbus::Variant(std::string("yes"))}});
            }),
            "org.procman.Error.InvalidArgs: property 'Once' must be of type 'b', got 's'");
  EXPECT_TRUE(calls().empty());
}

TEST_F(ServiceTest, RunTransientAlreadyExistsComesFromTheBackend) {
  fake_.fail["run_transient"] = Error{kErrAlreadyExists, "a process named 'web' already exists"};
  EXPECT_EQ(error_of([&] {
              manager_->RunTransient("web", {{"Command", sdbus::Variant(std::string("true"))}});
            }),
            "org.procman.Error.AlreadyExists: a process named 'web' already exists");
}

TEST_F(ServiceTest, RemoveProcessRepliesWhenTheBackendIsDone) {
  std::string error = "not yet";
  auto other = another_client();
  std::thread caller([&] { error = error_of([&] { other->manager->RemoveProcess("web"); }); });
  EXPECT_TRUE(wait_for_call("remove web"));
  EXPECT_EQ(manager_->ProcessCount(), 3u);  // served meanwhile
  lt_.call([&] { fake_.complete(0, OpResult{std::nullopt, "stopped"}); });
  caller.join();
  EXPECT_EQ(error, "");
}

TEST_F(ServiceTest, RemoveProcessErrorsKeepTheirName) {
  fake_.fail["remove"] =
      Error{kErrInvalidArgs, "'web' comes from the config file; edit it and reload"};
  EXPECT_EQ(error_of([&] { manager_->RemoveProcess("web"); }),
            "org.procman.Error.InvalidArgs: 'web' comes from the config file; edit it and reload");
}

TEST_F(ServiceTest, GetProcessLogsAndReadLogs) {
  EXPECT_EQ(manager_->GetProcessLogs("web", 2), (std::vector<std::string>{"two", "three"}));
  auto lines = manager_->ReadLogs("web", 10, 0);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].get<0>(), 11u);
  EXPECT_EQ(lines[0].get<1>(), 1700000000000000u);
  EXPECT_FALSE(lines[0].get<2>());
  EXPECT_EQ(lines[0].get<3>(), "out");
  EXPECT_TRUE(lines[1].get<2>());
  EXPECT_EQ(calls(), (std::vector<std::string>{"logs web 2", "read_logs web 10 0"}));
}

TEST_F(ServiceTest, LogErrorsComeFromTheBackend) {
  fake_.fail["logs"] = Error{kErrNoSuchProcess, "no process named 'x'"};
  fake_.fail["read_logs"] = Error{kErrNoSuchProcess, "no process named 'y'"};
  EXPECT_EQ(error_of([&] { manager_->GetProcessLogs("x", 0); }),
            "org.procman.Error.NoSuchProcess: no process named 'x'");
  EXPECT_EQ(error_of([&] { manager_->ReadLogs("y", 0, 0); }),
            "org.procman.Error.NoSuchProcess: no process named 'y'");
}

TEST_F(ServiceTest, AnExceptionInTheBackendBecomesFailedAndTheServiceGoesOn) {
  fake_.throw_in_logs = true;
  EXPECT_EQ(error_of([&] { manager_->GetProcessLogs("web", 0); }),
            "org.procman.Error.Failed: the log buffer is on fire");
  EXPECT_EQ(manager_->ListProcesses().size(), 3u);
}

TEST_F(ServiceTest, ReloadRepliesWithTheFourLists) {
  auto [added, removed, restarted, pending] = manager_->Reload();
  EXPECT_EQ(added, std::vector<std::string>{"new"});
  EXPECT_EQ(removed, std::vector<std::string>{"old"});
  EXPECT_EQ(restarted, std::vector<std::string>{"web"});
  EXPECT_EQ(pending, std::vector<std::string>{"worker@0"});
}

TEST_F(ServiceTest, ReloadOfAnInvalidFileIsInvalidConfig) {
  fake_.fail["reload"] = Error{
      kErrInvalidConfig, "/etc/procman.toml:3:7: unknown key 'comand' (did you mean 'command'?)"};
  EXPECT_EQ(error_of([&] { manager_->Reload(); }),
            "org.procman.Error.InvalidConfig: /etc/procman.toml:3:7: unknown key 'comand' (did "
            "you mean 'command'?)");
}

TEST_F(ServiceTest, ShutdownPassesTheCallerAndTheMessage) {
  manager_->Shutdown("maintenance window");
  auto callers = lt_.call([&] { return fake_.callers; });
  ASSERT_EQ(callers.size(), 1u);
  EXPECT_EQ(callers[0].uid, ::getuid());
  EXPECT_EQ(callers[0].pid, static_cast<uint32_t>(::getpid()));
  EXPECT_EQ(callers[0].bus_name, calls_->conn->getUniqueName());
  EXPECT_EQ(lt_.call([&] { return fake_.shutdown_messages; }),
            std::vector<std::string>{"maintenance window"});
}

TEST_F(ServiceTest, ShutdownWhileShuttingDownIsShuttingDown) {
  fake_.fail["shutdown"] = Error{kErrShuttingDown, "already shutting down"};
  EXPECT_EQ(error_of([&] { manager_->Shutdown(""); }),
            "org.procman.Error.ShuttingDown: already shutting down");
}

TEST_F(ServiceTest, AnUnknownMethodIsTheStandardUnknownMethodError) {
  auto err = error_of([&] { manager_->proxy().callMethod("Frobnicate").onInterface(kIface); });
  EXPECT_EQ(err.substr(0, err.find(':')), "org.freedesktop.DBus.Error.UnknownMethod");
}

// ---------------------------------------------------------------- Process methods

TEST_F(ServiceTest, ProcessMethodsCallTheBackendWithTheObjectsName) {
  auto& w = process("worker@0");
  EXPECT_EQ(w.Start("no-block"), "running");
  EXPECT_EQ(w.Stop("no-block"), "running");
  EXPECT_EQ(w.Restart("no-block"), "running");
  w.Kill("main", 1);
  w.Kill("", 2);
  w.ResetFailed();
  EXPECT_EQ(w.GetLogs(1), std::vector<std::string>{"three"});
  EXPECT_EQ(calls(), (std::vector<std::string>{"start worker@0 no-block", "stop worker@0 no-block",
                                               "restart worker@0 no-block", "kill worker@0 main 1",
                                               "kill worker@0 group 2", "reset_failed worker@0",
                                               "logs worker@0 1"}));
}

TEST_F(ServiceTest, ProcessStartWaitsForTheBackend) {
  auto& w = process("web");
  std::string state;
  auto other = another_client();
  std::thread caller([&] { error_of([&] { state = other->process("web").Start("wait"); }); });
  EXPECT_TRUE(wait_for_call("start web wait"));
  EXPECT_EQ(w.Name(), "web");  // properties are served meanwhile
  lt_.call([&] { fake_.complete(0, OpResult{std::nullopt, "running"}); });
  caller.join();
  EXPECT_EQ(state, "running");
}

TEST_F(ServiceTest, ProcessMethodsValidateLikeTheManager) {
  auto& w = process("web");
  EXPECT_EQ(error_of([&] { w.Stop("now"); }),
            "org.procman.Error.InvalidArgs: invalid mode 'now': expected 'wait' or 'no-block'");
  EXPECT_EQ(error_of([&] { w.Kill("group", -9); }),
            "org.procman.Error.InvalidArgs: invalid signal -9: expected a number from 1 to 64");
  fake_.fail["reset_failed"] = Error{kErrFailed, "web is not failed"};
  EXPECT_EQ(error_of([&] { w.ResetFailed(); }), "org.procman.Error.Failed: web is not failed");
}

TEST_F(ServiceTest, AFailedProcessStopRepliesWithTheBackendsError) {
  std::string error = "not yet";
  auto other = another_client();
  std::thread caller([&] { error = error_of([&] { other->process("worker@0").Stop("wait"); }); });
  EXPECT_TRUE(wait_for_call("stop worker@0 wait"));
  lt_.call([&] {
    fake_.complete(0, OpResult{Error{kErrFailed, "worker@0 did not stop within 5s"}, "stopping"});
  });
  caller.join();
  EXPECT_EQ(error, "org.procman.Error.Failed: worker@0 did not stop within 5s");
}

TEST_F(ServiceTest, AProcessCallAnsweredAfterItsProcessWasRemovedStillGetsItsReply) {
  std::string state;
  auto other = another_client();
  std::thread caller([&] { error_of([&] { state = other->process("web").Stop("wait"); }); });
  EXPECT_TRUE(wait_for_call("stop web wait"));
  lt_.call([&] {
    service_->process_removed("web");
    fake_.procs.erase("web");
  });
  lt_.call([&] { fake_.complete(0, OpResult{std::nullopt, "stopped"}); });
  caller.join();
  EXPECT_EQ(state, "stopped");
}

TEST_F(ServiceTest, AProcessCompletionAfterTheServiceClosedIsIgnored) {
  std::string error = "not yet";
  auto other = another_client();
  std::thread caller([&] { error = error_of([&] { other->process("web").Restart("wait"); }); });
  EXPECT_TRUE(wait_for_call("restart web wait"));
  lt_.stop();
  service_.reset();  // the caller gets an error from the bus: we are gone
  caller.join();
  EXPECT_NE(error, "");
  EXPECT_NE(error, "not yet");
  fake_.complete(0, OpResult{std::nullopt, "running"});  // must not touch the dead service
}

// ---------------------------------------------------------------- properties

TEST_F(ServiceTest, ManagerPropertiesReadTheBackend) {
  EXPECT_EQ(manager_->Version(), "0.1.0");
  EXPECT_EQ(manager_->ConfigPath(), "/etc/procman.toml");
  EXPECT_EQ(manager_->ConfigUid(), "cafe");
  EXPECT_EQ(manager_->FifoPath(), "/run/procman.fifo");
  EXPECT_EQ(manager_->StateDirectory(), "/var/lib/procman");
  EXPECT_EQ(manager_->State(), "running");
  EXPECT_EQ(manager_->StatusText(), "2 running, 1 failed");
  EXPECT_EQ(manager_->ProcessCount(), 3u);
  EXPECT_EQ(manager_->Counts(), (std::map<std::string, uint32_t>{{"failed", 1}, {"running", 2}}));
  EXPECT_EQ(manager_->LogTarget(), "journal");
}

TEST_F(ServiceTest, ManagerGetAllReadsTheBackendOnce) {
  lt_.call([&] { fake_.manager_reads = 0; });
  auto all = manager_->GetAll(kIface);
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(all.at("StatusText").get<std::string>(), "2 running, 1 failed");
  EXPECT_EQ(lt_.call([&] { return fake_.manager_reads; }), 1);
}

TEST_F(ServiceTest, ProcessGetAllShowsEveryProperty) {
  lt_.call([&] {
    auto& v = fake_.procs["worker@1"];
    v.transient = true;
    v.depends_on = {"web"};
    v.apply_on = "2024-10-01 12:00:00";
    v.schedule = "Mon..Fri 08:00-18:00";
    v.cron = "*/5 * * * *";
    v.next_change = "2024-10-01 18:00:00";
    v.effective_json = "{\"command\":\"x\"}";
    v.meta = {{"team", "ops"}};
    auto& s = v.status;
    s.sub_state = "exit-code";
    s.status_text = "exited with code 3";
    s.failure_reason = "exited with code 3";
    s.result = "exit-code";
    s.restart_pending = true;
    s.admin = core::AdminGoal::Started;
    s.restarts = 4;
    s.last_exit = core::ExitInfo{true, false, 3};
    s.start_usec = 1000;
    s.exit_usec = 3000;
    s.run_usec = 2000;
    s.health = "unhealthy";
    s.health_detail = "HTTP 500";
  });
  auto all = process("worker@1").GetAll("org.procman.Process");
  EXPECT_EQ(all.size(), 33u);
  auto str = [&](const char* k) { return all.at(k).get<std::string>(); };
  EXPECT_EQ(str("Name"), "worker@1");
  EXPECT_EQ(str("Id"), "worker");
  EXPECT_EQ(all.at("Instance").get<uint32_t>(), 1u);
  EXPECT_TRUE(all.at("Transient").get<bool>());
  EXPECT_EQ(str("State"), "failed");
  EXPECT_EQ(str("SubState"), "exit-code");
  EXPECT_EQ(str("StatusText"), "exited with code 3");
  EXPECT_EQ(str("Result"), "exit-code");
  EXPECT_EQ(str("FailureReason"), "exited with code 3");
  EXPECT_EQ(all.at("MainPID").get<uint32_t>(), 0u);
  EXPECT_EQ(str("Command"), "/usr/bin/worker --serve");
  EXPECT_EQ(str("WorkingDirectory"), "/srv");
  EXPECT_EQ(all.at("DependsOn").get<std::vector<std::string>>(), std::vector<std::string>{"web"});
  EXPECT_EQ(str("Restart"), "always");
  EXPECT_EQ(str("AdminGoal"), "started");
  EXPECT_TRUE(all.at("RestartPending").get<bool>());
  EXPECT_EQ(all.at("NRestarts").get<uint32_t>(), 4u);
  EXPECT_EQ(all.at("LastExitCode").get<int32_t>(), 3);
  EXPECT_EQ(str("LastExitSignal"), "");
  EXPECT_EQ(all.at("StartTimestamp").get<uint64_t>(), 1000u);
  EXPECT_EQ(all.at("ExitTimestamp").get<uint64_t>(), 3000u);
  EXPECT_EQ(all.at("RunTimeUSec").get<uint64_t>(), 2000u);
  EXPECT_EQ(str("Health"), "unhealthy");
  EXPECT_EQ(str("HealthDetail"), "HTTP 500");
  EXPECT_EQ(str("ApplyOn"), "2024-10-01 12:00:00");
  EXPECT_EQ(str("Schedule"), "Mon..Fri 08:00-18:00");
  EXPECT_EQ(str("Cron"), "*/5 * * * *");
  EXPECT_EQ(str("NextChange"), "2024-10-01 18:00:00");
  EXPECT_EQ(str("EffectiveConfig"), "{\"command\":\"x\"}");
  EXPECT_EQ((all.at("Metadata").get<std::map<std::string, std::string>>()),
            (std::map<std::string, std::string>{{"team", "ops"}}));
  EXPECT_EQ(all.at("CPUUsageNSec").get<uint64_t>(), 111u);
  EXPECT_EQ(all.at("MemoryCurrent").get<uint64_t>(), 222u);
}

TEST_F(ServiceTest, ProcessGetAllReadsTheViewOnce) {
  lt_.call([&] { fake_.process_reads = 0; });
  process("web").GetAll("org.procman.Process");
  EXPECT_EQ(lt_.call([&] { return fake_.process_reads; }), 1);
}

TEST_F(ServiceTest, ProcessGetAllReadsTheUsageOnceAndAGetAfterItAfresh) {
  // CPUUsageNSec and MemoryCurrent come from one reading of /proc (or the cgroup).
  lt_.call([&] { fake_.usage_reads = 0; });
  auto& w = process("web");
  auto all = w.GetAll("org.procman.Process");
  EXPECT_EQ(all.at("MemoryCurrent").get<uint64_t>(), 222u);
  EXPECT_EQ(lt_.call([&] { return fake_.usage_reads; }), 1);
  lt_.call([&] { fake_.use.memory_bytes = 333; });
  EXPECT_EQ(w.MemoryCurrent(), 333u);
  EXPECT_EQ(lt_.call([&] { return fake_.usage_reads; }), 2);
}

TEST_F(ServiceTest, PropertyGetReadsFreshValuesAfterAChange) {
  auto& w = process("web");
  EXPECT_EQ(w.State(), "running");
  lt_.call([&] {
    fake_.procs["web"].status.state = State::Stopped;
    service_->process_properties_changed("web");
  });
  EXPECT_EQ(w.State(), "stopped");
}

TEST_F(ServiceTest, AKilledProcessReportsItsSignal) {
  lt_.call([&] { fake_.procs["web"].status.last_exit = core::ExitInfo{true, true, 9}; });
  auto& w = process("web");
  EXPECT_EQ(w.LastExitCode(), -1);
  EXPECT_EQ(w.LastExitSignal(), "SIGKILL");
  EXPECT_EQ(w.MainPID(), 4242u);
}

TEST_F(ServiceTest, APropertyOfAProcessTheBackendForgotIsNoSuchProcess) {
  lt_.call([&] { fake_.procs.erase("web"); });
  EXPECT_EQ(error_of([&] { process("web").State(); }),
            "org.procman.Error.NoSuchProcess: no process named 'web'");
}

TEST_F(ServiceTest, ConstPropertiesCannotBeSetAndNothingIsWritable) {
  auto err = error_of(
      [&] { process("web").Set("org.procman.Process", "Name", sdbus::Variant(std::string("x"))); });
  EXPECT_EQ(err.substr(0, err.find(':')), "org.freedesktop.DBus.Error.PropertyReadOnly");
}

// ---------------------------------------------------------------- signals

TEST_F(ServiceTest, ProcessStateChangedCarriesExitDetailsOnlyForAnExit) {
  lt_.call([&] {
    core::UnitStatus u = fake_.procs["worker@1"].status;
    u.last_exit = core::ExitInfo{true, false, 3};
    u.pid = -1;
    service_->process_changed(u, State::Running, "exited with code 3");
    u.state = State::Starting;
    u.pid = 77;
    service_->process_changed(u, State::Backoff, "restart delay over");
  });
  ASSERT_TRUE(rec_.wait_contains(
      "StateChanged worker@1 /org/procman/Manager/process/worker_401 running->failed sub= pid=0 "
      "code=3 sig= reason=exited with code 3"));
  ASSERT_TRUE(rec_.wait_contains(
      "StateChanged worker@1 /org/procman/Manager/process/worker_401 backoff->starting sub= "
      "pid=77 code=-1 sig= reason=restart delay over"));
}

TEST_F(ServiceTest, ProcessStateChangedNamesTheKillingSignal) {
  lt_.call([&] {
    core::UnitStatus u = fake_.procs["web"].status;
    u.state = State::Stopped;
    u.sub_state = "sigterm";
    u.last_exit = core::ExitInfo{true, true, 15};
    service_->process_changed(u, State::Stopping, "stopped by the admin");
  });
  ASSERT_TRUE(rec_.wait_contains(
      "StateChanged web /org/procman/Manager/process/web stopping->stopped sub=sigterm pid=4242 "
      "code=-1 sig=SIGTERM reason=stopped by the admin"));
}

TEST_F(ServiceTest, ProcessAddedAndRemovedAnnounceTheObject) {
  lt_.call([&] {
    fake_.add("job", State::Starting);
    service_->process_added("job");
  });
  ASSERT_TRUE(rec_.wait_contains("Added job /org/procman/Manager/process/job"));
  ASSERT_TRUE(
      rec_.wait_contains("InterfacesAdded /org/procman/Manager/process/job 1 State=starting"));
  EXPECT_EQ(process("job").Command(), "/usr/bin/job --serve");

  lt_.call([&] {
    service_->process_removed("job");
    fake_.procs.erase("job");
  });
  ASSERT_TRUE(rec_.wait_contains("Removed job /org/procman/Manager/process/job"));
  ASSERT_TRUE(rec_.wait_contains("InterfacesRemoved /org/procman/Manager/process/job 1"));
  auto err = error_of([&] { process("job").Command(); });
  EXPECT_EQ(err.substr(0, err.find(':')), "org.freedesktop.DBus.Error.UnknownObject");
}

/// The introspection XML of `path` ("error: <D-Bus error name>" when the call fails).
std::string introspect(sdbus::IConnection& conn, const std::string& path) {
  auto proxy = sdbus::createProxy(conn, "org.procman.Manager", path);
  std::string xml;
  try {
    proxy->callMethod("Introspect")
        .onInterface("org.freedesktop.DBus.Introspectable")
        .storeResultsTo(xml);
  } catch (const sdbus::Error& e) {
    return "error: " + e.getName();
  }
  return xml;
}

/// The <node name="..."/> children of an introspection, in order.
std::vector<std::string> children_of(const std::string& xml) {
  std::vector<std::string> out;
  const std::string open = "<node name=\"";
  for (auto at = xml.find(open); at != std::string::npos; at = xml.find(open, at + 1)) {
    auto begin = at + open.size();
    out.push_back(xml.substr(begin, xml.find('"', begin) - begin));
  }
  return out;
}

const std::string kProcessDir = "/org/procman/Manager/process";

TEST_F(ServiceTest, TheProcessInterfaceIsIntrospectedAsDeclared) {
  // Member order, argument names and annotations as sd-bus showed them for the
  // per-process sdbus-c++ objects: methods, then properties, each by name.
  const std::string expected = R"( <interface name="org.procman.Process">
  <method name="GetLogs">
   <arg type="u" name="lines" direction="in"/>
   <arg type="as" name="logs" direction="out"/>
  </method>
  <method name="Kill">
   <arg type="s" name="whom" direction="in"/>
   <arg type="i" name="signal" direction="in"/>
  </method>
  <method name="ResetFailed">
  </method>
  <method name="Restart">
   <arg type="s" name="mode" direction="in"/>
   <arg type="s" name="state" direction="out"/>
  </method>
  <method name="Start">
   <arg type="s" name="mode" direction="in"/>
   <arg type="s" name="state" direction="out"/>
  </method>
  <method name="Stop">
   <arg type="s" name="mode" direction="in"/>
   <arg type="s" name="state" direction="out"/>
  </method>
  <property name="AdminGoal" type="s" access="read">
  </property>
  <property name="ApplyOn" type="s" access="read">
  </property>
  <property name="CPUUsageNSec" type="t" access="read">
   <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="false"/>
  </property>
  <property name="Command" type="s" access="read">
  </property>
  <property name="Cron" type="s" access="read">
  </property>
  <property name="DependsOn" type="as" access="read">
  </property>
  <property name="EffectiveConfig" type="s" access="read">
  </property>
  <property name="ExitTimestamp" type="t" access="read">
  </property>
  <property name="FailureReason" type="s" access="read">
  </property>
  <property name="Health" type="s" access="read">
  </property>
  <property name="HealthDetail" type="s" access="read">
  </property>
  <property name="Id" type="s" access="read">
   <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
  </property>
  <property name="Instance" type="u" access="read">
   <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
  </property>
  <property name="LastExitCode" type="i" access="read">
  </property>
  <property name="LastExitSignal" type="s" access="read">
  </property>
  <property name="MainPID" type="u" access="read">
  </property>
  <property name="MemoryCurrent" type="t" access="read">
   <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="false"/>
  </property>
  <property name="Metadata" type="a{ss}" access="read">
  </property>
  <property name="NRestarts" type="u" access="read">
  </property>
  <property name="Name" type="s" access="read">
   <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
  </property>
  <property name="NextChange" type="s" access="read">
  </property>
  <property name="NotifyStatus" type="s" access="read">
  </property>
  <property name="Restart" type="s" access="read">
  </property>
  <property name="RestartPending" type="b" access="read">
  </property>
  <property name="Result" type="s" access="read">
  </property>
  <property name="RunTimeUSec" type="t" access="read">
  </property>
  <property name="Schedule" type="s" access="read">
  </property>
  <property name="StartTimestamp" type="t" access="read">
  </property>
  <property name="State" type="s" access="read">
  </property>
  <property name="StatusText" type="s" access="read">
  </property>
  <property name="SubState" type="s" access="read">
  </property>
  <property name="Transient" type="b" access="read">
   <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
  </property>
  <property name="WorkingDirectory" type="s" access="read">
  </property>
 </interface>
</node>
)";
  auto xml = introspect(*calls_->conn, "/org/procman/Manager/process/worker_400");
  auto at = xml.find(" <interface name=\"org.procman.Process\">");
  ASSERT_NE(at, std::string::npos) << xml;
  EXPECT_EQ(xml.substr(at), expected);
  // The standard interfaces come first; an ObjectManager only on the Manager.
  EXPECT_NE(xml.find("<interface name=\"org.freedesktop.DBus.Properties\">"), std::string::npos);
  EXPECT_EQ(xml.find("org.freedesktop.DBus.ObjectManager"), std::string::npos);
}

TEST_F(ServiceTest, OnlyTheCanonicalPathOfAKnownProcessIsAnObject) {
  for (const char* path : {"/org/procman/Manager/process/nope",
                           "/org/procman/Manager/process/_77eb",  // "web", spelled otherwise
                           "/org/procman/Manager/process/web/child"}) {
    auto proxy = sdbus::createProxy(*calls_->conn, "org.procman.Manager", path);
    auto err = error_of([&] {
      proxy->callMethod("Get")
          .onInterface("org.freedesktop.DBus.Properties")
          .withArguments(std::string("org.procman.Process"), std::string("State"));
    });
    EXPECT_EQ(err,
              fmt::format("org.freedesktop.DBus.Error.UnknownObject: Unknown object '{}'.", path));
    EXPECT_EQ(introspect(*calls_->conn, path), "error: org.freedesktop.DBus.Error.UnknownObject")
        << path;
  }
  EXPECT_TRUE(calls().empty());
}

TEST_F(ServiceTest, TheProcessDirectoryListsTheProcessesNewestFirstAndIsNoObject) {
  EXPECT_EQ(children_of(introspect(*calls_->conn, kProcessDir)),
            (std::vector<std::string>{"worker_401", "worker_400", "web"}));
  lt_.call([&] {
    fake_.add("job");
    service_->process_added("job");
    // Removed and added again within one iteration: it keeps its place.
    service_->process_removed("web");
    service_->process_added("web");
  });
  EXPECT_EQ(children_of(introspect(*calls_->conn, kProcessDir)),
            (std::vector<std::string>{"job", "worker_401", "worker_400", "web"}));
  EXPECT_EQ(children_of(introspect(*calls_->conn, kMgr)), std::vector<std::string>{"process"});

  auto dir = sdbus::createProxy(*calls_->conn, "org.procman.Manager", kProcessDir);
  const std::string unknown =
      "org.freedesktop.DBus.Error.UnknownObject: Unknown object '/org/procman/Manager/process'.";
  EXPECT_EQ(error_of([&] {
              dir->callMethod("Stop")
                  .onInterface("org.procman.Process")
                  .withArguments(std::string("no-block"));
            }),
            unknown);
  EXPECT_EQ(error_of([&] {
              dir->callMethod("GetAll")
                  .onInterface("org.freedesktop.DBus.Properties")
                  .withArguments(std::string("org.procman.Process"));
            }),
            unknown);
  EXPECT_EQ(
      error_of([&] {
        dir->callMethod("GetManagedObjects").onInterface("org.freedesktop.DBus.ObjectManager");
      }),
      unknown);
  EXPECT_TRUE(calls().empty());
}

TEST_F(ServiceTest, TheProcessDirectoryExistsOnlyWhileThereAreProcesses) {
  lt_.call([&] {
    for (const char* name : {"web", "worker@0", "worker@1"}) service_->process_removed(name);
    fake_.procs.clear();
  });
  // Gone once the loop has finished the iteration that removed them.
  EXPECT_TRUE(eventually([&] { return children_of(introspect(*calls_->conn, kMgr)).empty(); }));
  EXPECT_EQ(introspect(*calls_->conn, kProcessDir),
            "error: org.freedesktop.DBus.Error.UnknownObject");
  EXPECT_TRUE(manager_->GetManagedObjects().empty());
  auto r = busctl("tree org.procman.Manager");
  EXPECT_EQ(r.out.find("/org/procman/Manager/process"), std::string::npos) << r.out;

  lt_.call([&] {
    fake_.add("job");
    service_->process_added("job");
  });
  EXPECT_EQ(children_of(introspect(*calls_->conn, kMgr)), std::vector<std::string>{"process"});
  EXPECT_EQ(children_of(introspect(*calls_->conn, kProcessDir)), std::vector<std::string>{"job"});
  EXPECT_EQ(process("job").Name(), "job");
  EXPECT_EQ(manager_->GetManagedObjects().size(), 1u);
}

TEST_F(ServiceTest, ManyProcessesAreServedAndListed) {
  constexpr int kMany = 300;
  lt_.call([&] {
    for (int i = 0; i < kMany; ++i) {
      auto name = fmt::format("p{}", i);
      fake_.add(name);
      service_->process_added(name);
    }
  });
  EXPECT_EQ(manager_->GetManagedObjects().size(), kMany + 3u);
  EXPECT_EQ(children_of(introspect(*calls_->conn, kProcessDir)).size(), kMany + 3u);
  EXPECT_EQ(process("p123").Name(), "p123");
  EXPECT_EQ(process("p299").GetAll("org.procman.Process").size(), 33u);
  auto r = busctl("tree org.procman.Manager");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("/org/procman/Manager/process/p299\n"), std::string::npos) << r.out;
}

TEST_F(ServiceTest, AStringPropertyThatIsNotUtf8FailsLikeAnyUnsendableValue) {
  lt_.call([&] { fake_.procs["web"].status.status_text = "caf\xe9"; });
  EXPECT_EQ(error_of([&] { process("web").StatusText(); }),
            "org.freedesktop.DBus.Error.InvalidArgs: Failed to serialize a string value (Invalid "
            "argument)");
  EXPECT_EQ(process("web").SubState(), "");  // the others are fine
}

TEST_F(ServiceTest, GetManagedObjectsListsEveryProcessWithItsProperties) {
  auto objects = manager_->GetManagedObjects();
  ASSERT_EQ(objects.size(), 3u);
  auto& web = objects.at(sdbus::ObjectPath("/org/procman/Manager/process/web"));
  EXPECT_EQ(web.at("org.procman.Process").at("State").get<std::string>(), "running");
  EXPECT_EQ(objects.at(sdbus::ObjectPath("/org/procman/Manager/process/worker_401"))
                .at("org.procman.Process")
                .at("Name")
                .get<std::string>(),
            "worker@1");

  lt_.call([&] {
    fake_.add("job");
    service_->process_added("job");
    service_->process_removed("web");
    fake_.procs.erase("web");
  });
  objects = manager_->GetManagedObjects();
  EXPECT_EQ(objects.size(), 3u);
  EXPECT_TRUE(objects.count(sdbus::ObjectPath("/org/procman/Manager/process/job")));
  EXPECT_FALSE(objects.count(sdbus::ObjectPath("/org/procman/Manager/process/web")));
}

TEST_F(ServiceTest, RemovedAndAddedAgainInOneIterationKeepsTheObject) {
  lt_.call([&] {
    service_->process_removed("web");
    service_->process_added("web");
  });
  ASSERT_TRUE(rec_.wait_contains("Added web /org/procman/Manager/process/web"));
  EXPECT_EQ(process("web").Name(), "web");
  EXPECT_EQ(rec_.count("InterfacesRemoved /org/procman/Manager/process/web 1"), 1u);
}

TEST_F(ServiceTest, ReloadedIsEmittedWhenTheDaemonSaysSo) {
  lt_.call([&] { service_->reloaded(ReloadResult{{"a", "b"}, {}, {"web"}, {"worker@0"}}); });
  ASSERT_TRUE(rec_.wait_contains("Reloaded a,b||web|worker@0"));
}

TEST_F(ServiceTest, AStormOfChangesIsOnePropertiesChangedPerObject) {
  lt_.call([&] {
    fake_.process_reads = 0;
    auto u = fake_.procs["web"].status;
    for (int i = 0; i < 50; ++i) {
      State from = u.state;
      u.state = i % 2 ? State::Running : State::Backoff;
      fake_.procs["web"].status = u;
      service_->process_changed(u, from, "flapping");
    }
    service_->manager_changed();
    service_->process_properties_changed("web");
  });
  // Signals from one sender arrive in order, so everything the storm caused
  // comes before this marker (whose own PropertiesChanged of the Manager comes
  // after it).
  lt_.call([&] { service_->reloaded(ReloadResult{{"marker"}, {}, {}, {}}); });
  ASSERT_TRUE(rec_.wait_contains("Reloaded marker|||"));
  auto ev = rec_.events();
  ev.erase(std::find(ev.begin(), ev.end(), "Reloaded marker|||"), ev.end());
  auto count = [&](const std::string& prefix) {
    return std::count_if(ev.begin(), ev.end(),
                         [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
  };
  EXPECT_EQ(count("StateChanged web "), 50);
  EXPECT_EQ(count("PropertiesChanged /org/procman/Manager/process/web "), 1);
  EXPECT_EQ(count("PropertiesChanged /org/procman/Manager org.procman.Manager "), 1);
  EXPECT_EQ(lt_.call([&] { return fake_.process_reads; }), 1);
}

TEST_F(ServiceTest, PropertiesChangedCarriesTheChangingPropertiesOnly) {
  lt_.call([&] { service_->process_properties_changed("web"); });
  ASSERT_TRUE(rec_.wait_for([](const auto& ev) {
    return std::any_of(ev.begin(), ev.end(), [](const std::string& e) {
      return e.rfind("PropertiesChanged /org/procman/Manager/process/web", 0) == 0;
    });
  }));
  std::string ev;
  for (const auto& e : rec_.events()) {
    if (e.rfind("PropertiesChanged /org/procman/Manager/process/web", 0) == 0) ev = e;
  }
  EXPECT_EQ(ev,
            "PropertiesChanged /org/procman/Manager/process/web org.procman.Process "
            "AdminGoal,ApplyOn,Command,Cron,DependsOn,EffectiveConfig,ExitTimestamp,FailureReason,"
            "Health,HealthDetail,LastExitCode,LastExitSignal,MainPID,Metadata,NRestarts,NextChange,"
            "NotifyStatus,"
            "Restart,RestartPending,Result,RunTimeUSec,Schedule,StartTimestamp,State,StatusText,"
            "SubState,WorkingDirectory []");
}

TEST_F(ServiceTest, ManagerPropertiesChangedListsItsChangingProperties) {
  lt_.call([&] { service_->manager_changed(); });
  ASSERT_TRUE(
      rec_.wait_contains("PropertiesChanged /org/procman/Manager org.procman.Manager "
                         "ConfigUid,Counts,ProcessCount,State,StatusText []"));
}

TEST_F(ServiceTest, ChangesReportedFromADaemonTimerAreFlushed) {
  // Not from inside a bus message: a timer of the daemon's own reports the change.
  lt_.call([&] {
    timer_ =
        lt_.loop.add_timer(os::EventLoop::now_usec() + 1000, [&] { service_->manager_changed(); });
  });
  ASSERT_TRUE(
      rec_.wait_contains("PropertiesChanged /org/procman/Manager org.procman.Manager "
                         "ConfigUid,Counts,ProcessCount,State,StatusText []"));
}

TEST_F(ServiceTest, AnIdleServiceDoesNotWakeTheLoop) {
  manager_->ListProcesses();  // some traffic first, so the timer has been re-armed
  std::atomic<int> iterations{0};
  lt_.call([&] { post_ = lt_.loop.add_post([&] { ++iterations; }); });
  int before = iterations.load();
  // A measurement window, not a wait for an event: a busy loop would run
  // thousands of iterations in it.
  std::this_thread::sleep_for(300ms);
  EXPECT_LE(iterations.load() - before, 3);
  lt_.call([&] { post_.reset(); });
}

// ---------------------------------------------------------------- busctl and gdbus

TEST_F(ServiceTest, BusctlListsAndStarts) {
  auto r = busctl_call(kMgr, kIface, "GetProcess s worker@0");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "o \"/org/procman/Manager/process/worker_400\"\n");

  r = busctl_call(kMgr, kIface, "StartProcess ss web no-block");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "s \"running\"\n");

  r = busctl_call(kMgr, kIface, "ListProcesses");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("a(ssssiuso) 3 \""), std::string::npos) << r.out;
}

TEST_F(ServiceTest, BusctlTreeShowsEveryProcess) {
  auto r = busctl("tree org.procman.Manager");
  EXPECT_EQ(r.status, 0) << r.out;
  for (const char* path :
       {"/org/procman/Manager/process/web", "/org/procman/Manager/process/worker_400",
        "/org/procman/Manager/process/worker_401"}) {
    EXPECT_NE(r.out.find(path), std::string::npos) << r.out;
  }
}

TEST_F(ServiceTest, BusctlShowsOurErrorNames) {
  auto r = busctl_call(kMgr, kIface, "StartProcess ss web sometime");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("invalid mode 'sometime': expected 'wait' or 'no-block'"), std::string::npos)
      << r.out;
  r = busctl_call(kMgr, kIface, "GetProcess s nope");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("no process named 'nope'"), std::string::npos) << r.out;
  r = busctl_call(kMgr, kIface, "Frobnicate");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("Unknown method"), std::string::npos) << r.out;
}

TEST_F(ServiceTest, BusctlRunTransientWithProperties) {
  auto r = busctl_call(kMgr, kIface,
                       "RunTransient sa{sv} job 3 Command s 'sleep 60' Once b true "
                       "Environment as 2 A=1 B=2");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "so \"job\" \"/org/procman/Manager/process/job\"\n");
  auto specs = lt_.call([&] { return fake_.specs; });
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].command, "sleep 60");
  EXPECT_TRUE(specs[0].once);
  EXPECT_EQ(specs[0].environment, (std::vector<std::string>{"A=1", "B=2"}));

  r = busctl_call(kMgr, kIface, "RunTransient sa{sv} job 1 Environment as 1 NOEQUALS");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("a transient process needs Command"), std::string::npos) << r.out;
}

TEST_F(ServiceTest, BusctlReadsProcessProperties) {
  auto r = busctl(
      "get-property org.procman.Manager /org/procman/Manager/process/worker_400 "
      "org.procman.Process State MainPID");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "s \"running\"\nu 4242\n");
  r = busctl("introspect org.procman.Manager /org/procman/Manager/process/web org.procman.Process");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(".Start"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(".CPUUsageNSec"), std::string::npos) << r.out;
}

TEST_F(ServiceTest, BusctlAsyncCallIsAnsweredWhenTheBackendCompletes) {
  std::promise<Cmd> out;
  std::thread caller([&] {
    out.set_value(
        busctl_call("/org/procman/Manager/process/web", "org.procman.Process", "Restart s wait"));
  });
  EXPECT_TRUE(wait_for_call("restart web wait"));
  lt_.call([&] { fake_.complete(0, OpResult{std::nullopt, "running"}); });
  caller.join();
  auto r = out.get_future().get();
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "s \"running\"\n");
}

TEST_F(ServiceTest, GdbusCallsMethodsAndSeesErrors) {
  auto r = gdbus(kMgr, "org.procman.Manager.GetProcess", "worker@1");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "(objectpath '/org/procman/Manager/process/worker_401',)\n");

  r = gdbus(kMgr, "org.procman.Manager.KillProcess", "web main 65");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("org.procman.Error.InvalidArgs"), std::string::npos) << r.out;

  r = gdbus("/org/procman/Manager/process/web", "org.procman.Process.Stop", "no-block");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "('running',)\n");

  r = gdbus(kMgr, "org.freedesktop.DBus.Properties.Get", "org.procman.Manager ProcessCount");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "(<uint32 3>,)\n");

  r = gdbus(kMgr, "org.freedesktop.DBus.ObjectManager.GetManagedObjects");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("'/org/procman/Manager/process/worker_400': {"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- the bus itself

TEST_F(ServiceTest, ASecondOwnerOfTheNameFailsWithTheOwnersPid) {
  FakeBackend other;
  os::EventLoop loop2;
  ServiceOptions o;
  o.address = bus_->address();
  std::string error;
  auto second = Service::open(loop2, other, o, &error);
  EXPECT_FALSE(second);
  EXPECT_EQ(error, fmt::format("org.procman.Manager is already owned by pid {}", ::getpid()));
}

TEST_F(ServiceTest, AnotherBusNameCanBeServedSideBySide) {
  FakeBackend other;
  os::EventLoop loop2;
  ServiceOptions o;
  o.address = bus_->address();
  o.bus_name = "org.procman.Manager.Test2";
  std::string error;
  auto second = Service::open(loop2, other, o, &error);
  EXPECT_TRUE(second) << error;
}

TEST_F(ServiceTest, TheBusGoingAwayLeavesTheLoopRunning) {
  drop_clients();  // sdbus-c++ client loops would terminate the process
  EXPECT_TRUE(lt_.call([&] { return service_->connected(); }));
  bus_->kill_daemon();
  ASSERT_TRUE(eventually([&] { return !lt_.call([&] { return service_->connected(); }); }));
  {
    std::lock_guard lock(errors_mu_);
    EXPECT_EQ(lost_.size(), 1u);
  }
  // The daemon keeps reporting; nothing throws, and the loop still serves timers.
  std::atomic<bool> fired{false};
  lt_.call([&] {
    auto u = fake_.procs["web"].status;
    service_->process_changed(u, State::Starting, "still supervising");
    service_->process_added("late");
    service_->process_removed("web");
    service_->manager_changed();
    service_->reloaded(ReloadResult{});
    timer_ = lt_.loop.add_timer(os::EventLoop::now_usec() + 1000, [&] { fired = true; });
  });
  EXPECT_TRUE(eventually([&] { return fired.load(); }));
  {
    std::lock_guard lock(errors_mu_);
    EXPECT_EQ(lost_.size(), 1u);
  }
}

TEST_F(ServiceTest, ACompletionAfterTheServiceClosedIsIgnored) {
  std::string error = "not yet";
  auto other = another_client();
  std::thread caller(
      [&] { error = error_of([&] { other->manager->StartProcess("web", "wait"); }); });
  EXPECT_TRUE(wait_for_call("start web wait"));
  lt_.stop();
  service_.reset();  // the caller gets an error from the bus: we are gone
  caller.join();
  EXPECT_NE(error, "");
  EXPECT_NE(error, "not yet");
  fake_.complete(0, OpResult{std::nullopt, "running"});  // must not touch the dead service
}

/// Sets an environment variable for one scope (tests without threads only).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ServiceOpen, UsesDbusSessionBusAddress) {
  PrivateBus bus;
  ASSERT_FALSE(bus.address().empty()) << bus.error();
  ScopedEnv env("DBUS_SESSION_BUS_ADDRESS", bus.address());
  FakeBackend fake;
  os::EventLoop loop;
  std::string error;
  auto service = Service::open(loop, fake, ServiceOptions{}, &error);
  ASSERT_TRUE(service) << error;
  EXPECT_TRUE(service->connected());
  // Nobody runs the loop here, so no call would be answered, but the name is ours.
  auto r = run("busctl --address=" + shq(bus.address()) + " status org.procman.Manager");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(fmt::format("PID={}", ::getpid())), std::string::npos) << r.out;
}

TEST(ServiceOpen, SaysWhichBusItCouldNotReach) {
  ScopedEnv env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/procman-test-bus");
  FakeBackend fake;
  os::EventLoop loop;
  std::string error;
  EXPECT_FALSE(Service::open(loop, fake, ServiceOptions{}, &error));
  EXPECT_EQ(error.rfind("cannot connect to the session bus: ", 0), 0u) << error;
}

// ---------------------------------------------------------------- system-bus policy

class SystemPolicyTest : public ServiceTest {
 protected:
  PrivateBus::Options bus_options() override { return {.allow_other_users = true}; }
  ServiceOptions service_options() override {
    ServiceOptions o;
    o.bus = BusKind::System;
    o.admin_group = admin_group_;
    return o;
  }
  /// busctl as uid/gid nobody with the given supplementary groups.
  Cmd as_nobody(const std::string& groups, const std::string& args) {
    return run("setpriv --reuid=65534 --regid=65534 " +
               (groups.empty() ? std::string("--clear-groups") : "--groups=" + groups) +
               " busctl --address=" + shq(bus_->address()) + " " + args);
  }
  std::string admin_group_ = "procman-test-no-such-group";
};

TEST_F(SystemPolicyTest, RootMayCallEverything) {
  EXPECT_EQ(manager_->StartProcess("web", "no-block"), "running");
  manager_->Shutdown("root says so");
  EXPECT_EQ(calls(), (std::vector<std::string>{"start web no-block", "shutdown"}));
}

TEST_F(SystemPolicyTest, OthersMayOnlyReadAndGetAccessDenied) {
  auto r = as_nobody("",
                     "call org.procman.Manager /org/procman/Manager org.procman.Manager "
                     "StartProcess ss web no-block");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("StartProcess requires root or membership of group "
                       "'procman-test-no-such-group'"),
            std::string::npos)
      << r.out;
  r = as_nobody("",
                "call org.procman.Manager /org/procman/Manager/process/web "
                "org.procman.Process Kill si main 9");
  EXPECT_NE(r.out.find("Kill requires root"), std::string::npos) << r.out;
  r = as_nobody("",
                "call org.procman.Manager /org/procman/Manager org.procman.Manager Shutdown s "
                "bye");
  EXPECT_NE(r.out.find("Shutdown requires root"), std::string::npos) << r.out;
  EXPECT_TRUE(calls().empty());

  // Reading is for everyone.
  r = as_nobody("",
                "call org.procman.Manager /org/procman/Manager org.procman.Manager "
                "GetProcessLogs su web 1");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "as 1 \"three\"\n");
  r = as_nobody("",
                "call org.procman.Manager /org/procman/Manager org.procman.Manager ListProcesses");
  EXPECT_EQ(r.status, 0) << r.out;
  r = as_nobody("",
                "get-property org.procman.Manager /org/procman/Manager org.procman.Manager "
                "StatusText");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "s \"2 running, 1 failed\"\n");
  r = as_nobody("",
                "call org.procman.Manager /org/procman/Manager/process/web "
                "org.procman.Process GetLogs u 0");
  EXPECT_EQ(r.status, 0) << r.out;
}

class SystemPolicyPrimaryGroupTest : public SystemPolicyTest {
 protected:
  void SetUp() override {
    admin_group_ = "nogroup";  // gid 65534, nobody's primary group here
    SystemPolicyTest::SetUp();
  }
};

TEST_F(SystemPolicyPrimaryGroupTest, MembersOfTheAdminGroupMayCall) {
  auto r = as_nobody("",
                     "call org.procman.Manager /org/procman/Manager org.procman.Manager "
                     "StartProcess ss web no-block");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(calls(), std::vector<std::string>{"start web no-block"});
}

TEST_F(SystemPolicyPrimaryGroupTest, MembersOfTheAdminGroupMayCallProcessMethods) {
  auto r = as_nobody("",
                     "call org.procman.Manager /org/procman/Manager/process/web "
                     "org.procman.Process Start s no-block");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "s \"running\"\n");
  EXPECT_EQ(calls(), std::vector<std::string>{"start web no-block"});
}

class SystemPolicySupplementaryGroupTest : public SystemPolicyTest {
 protected:
  void SetUp() override {
    admin_group_ = "users";
    SystemPolicyTest::SetUp();
  }
};

TEST_F(SystemPolicySupplementaryGroupTest, SupplementaryMembershipCounts) {
  auto r = as_nobody("users",
                     "call org.procman.Manager /org/procman/Manager org.procman.Manager "
                     "ResetFailed s worker@1");
  EXPECT_EQ(r.status, 0) << r.out;
  r = as_nobody("",
                "call org.procman.Manager /org/procman/Manager org.procman.Manager "
                "ResetFailed s worker@1");
  EXPECT_NE(r.out.find("ResetFailed requires root or membership of group 'users'"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(calls(), std::vector<std::string>{"reset_failed worker@1"});
}

TEST_F(SystemPolicySupplementaryGroupTest, SupplementaryMembershipCountsForProcessMethods) {
  auto r = as_nobody("users",
                     "call org.procman.Manager /org/procman/Manager/process/worker_401 "
                     "org.procman.Process ResetFailed");
  EXPECT_EQ(r.status, 0) << r.out;
  r = as_nobody("",
                "call org.procman.Manager /org/procman/Manager/process/worker_401 "
                "org.procman.Process Restart s wait");
  EXPECT_NE(r.out.find("Restart requires root or membership of group 'users'"), std::string::npos)
      << r.out;
  EXPECT_EQ(calls(), std::vector<std::string>{"reset_failed worker@1"});
}

// The shipped bus policy, on a bus with the system bus's default rules.
class SystemBusPolicyFileTest : public SystemPolicyTest {
 protected:
  PrivateBus::Options bus_options() override {
    return {.system_policy_file = PROCMAN_SOURCE_DIR "/dbus/org.procman.Manager.conf"};
  }
  std::string nobody_call(const std::string& path, const std::string& iface,
                          const std::string& args) {
    return as_nobody("", "call org.procman.Manager " + path + " " + iface + " " + args).out;
  }
};

TEST_F(SystemBusPolicyFileTest, RootOwnsTheNameAndMayCallEverything) {
  EXPECT_EQ(manager_->StartProcess("web", "no-block"), "running");
  manager_->Reload();
  EXPECT_EQ(calls(), (std::vector<std::string>{"start web no-block", "reload"}));
}

TEST_F(SystemBusPolicyFileTest, OthersMayReadButTheBusRejectsTheRest) {
  const std::string proc = "/org/procman/Manager/process/web";
  for (const auto& [path, iface, args] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {kMgr, kIface, "ListProcesses"},
           {kMgr, kIface, "GetProcess s web"},
           {kMgr, kIface, "GetProcessLogs su web 0"},
           {kMgr, kIface, "ReadLogs stu web 0 0"},
           {kMgr, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"},
           {kMgr, "org.freedesktop.DBus.Properties", "GetAll s org.procman.Manager"},
           {proc, "org.freedesktop.DBus.Properties", "Get ss org.procman.Process State"},
           {proc, "org.freedesktop.DBus.Introspectable", "Introspect"},
           {proc, "org.freedesktop.DBus.Peer", "Ping"},
           {proc, "org.procman.Process", "GetLogs u 1"},
       }) {
    auto out = nobody_call(path, iface, args);
    EXPECT_EQ(out.find("Rejected"), std::string::npos) << args << ": " << out;
    EXPECT_EQ(out.find("Call failed"), std::string::npos) << args << ": " << out;
  }
  for (const auto& [path, iface, args] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {kMgr, kIface, "StartProcess ss web no-block"},
           {kMgr, kIface, "KillProcess ssi web main 9"},
           {kMgr, kIface, "RunTransient sa{sv} x 1 Command s true"},
           {kMgr, kIface, "Reload"},
           {kMgr, kIface, "Shutdown s bye"},
           {proc, "org.procman.Process", "Stop s no-block"},
           {proc, "org.procman.Process", "ResetFailed"},
           {proc, "org.freedesktop.DBus.Properties", "Set ssv org.procman.Process State s x"},
       }) {
    auto out = nobody_call(path, iface, args);
    // busctl shows the bus's refusal as "Access denied"; procmand's own would
    // say "... requires root or membership of group ...".
    EXPECT_NE(out.find("Access denied"), std::string::npos) << args << ": " << out;
    EXPECT_EQ(out.find("requires root"), std::string::npos) << args << ": " << out;
  }
  // Only the reads reached the backend.
  EXPECT_EQ(calls(), (std::vector<std::string>{"logs web 0", "read_logs web 0 0", "logs web 1"}));
}

TEST_F(SystemBusPolicyFileTest, OthersMayNotOwnTheName) {
  auto r = run("setpriv --reuid=65534 --regid=65534 --clear-groups gdbus call --address " +
               shq(bus_->address()) +
               " --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus --method "
               "org.freedesktop.DBus.RequestName org.procman.Manager 4");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("AccessDenied"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- spec_from_properties

std::string spec_error(const std::map<std::string, sdbus::Variant>& props) {
  auto r = spec_from_properties("x", props);
  if (auto* e = std::get_if<Error>(&r)) return e->name + ": " + e->message;
  return "";
}

TEST(SpecFromProperties, TakesACommandLine) {
  auto r = spec_from_properties("job", {{"Command", sdbus::Variant(std::string("sleep 5"))}});
  ASSERT_TRUE(std::holds_alternative<TransientSpec>(r));
  auto& s = std::get<TransientSpec>(r);
  EXPECT_EQ(s.name, "job");
  EXPECT_EQ(s.command, "sleep 5");
  EXPECT_FALSE(s.once);
  EXPECT_FALSE(s.stop_timeout_usec);
}

TEST(SpecFromProperties, UnknownPropertyWithoutAGuessListsTheKnownOnes) {
  EXPECT_EQ(spec_error({{"Zzzzzzzz", sdbus::Variant(true)}}),
            "org.procman.Error.InvalidArgs: unknown property 'Zzzzzzzz'; known properties: "
            "Argv, Command, DependsOn, Environment, Metadata, Once, Restart, StopSignal, "
            "StopTimeoutUSec, Unique, WorkingDirectory");
}

TEST(SpecFromProperties, WrongTypesNameBothSignatures) {
  EXPECT_EQ(spec_error({{"Argv", sdbus::Variant(std::string("sleep 5"))}}),
            "org.procman.Error.InvalidArgs: property 'Argv' must be of type 'as', got 's'");
  EXPECT_EQ(spec_error({{"Command", sdbus::Variant(std::string("x"))},
                        {"StopTimeoutUSec", sdbus::Variant(int32_t{5})}}),
            "org.procman.Error.InvalidArgs: property 'StopTimeoutUSec' must be of type 't', got "
            "'i'");
  EXPECT_EQ(spec_error({{"Command", sdbus::Variant(std::string("x"))},
                        {"Metadata", sdbus::Variant(std::vector<std::string>{})}}),
            "org.procman.Error.InvalidArgs: property 'Metadata' must be of type 'a{ss}', got 'as'");
}

TEST(SpecFromProperties, NeedsExactlyOneOfCommandAndArgv) {
  EXPECT_EQ(spec_error({}),
            "org.procman.Error.InvalidArgs: a transient process needs Command (a command line) or "
            "Argv (a list of arguments)");
  EXPECT_EQ(spec_error({{"Command", sdbus::Variant(std::string("x"))},
                        {"Argv", sdbus::Variant(std::vector<std::string>{"x"})}}),
            "org.procman.Error.InvalidArgs: give either Command (a command line) or Argv (a list "
            "of arguments), not both");
  EXPECT_EQ(spec_error({{"Command", sdbus::Variant(std::string("  "))}}),
            "org.procman.Error.InvalidArgs: property 'Command' must not be empty");
  EXPECT_EQ(spec_error({{"Argv", sdbus::Variant(std::vector<std::string>{})}}),
            "org.procman.Error.InvalidArgs: property 'Argv' must start with the program to run");
}

TEST(SpecFromProperties, EnvironmentEntriesMustBeKeyEqualsValue) {
  EXPECT_EQ(spec_error({{"Command", sdbus::Variant(std::string("x"))},
                        {"Environment", sdbus::Variant(std::vector<std::string>{"A=1", "PATH"})}}),
            "org.procman.Error.InvalidArgs: Environment entry 'PATH' is not KEY=VALUE (no '=')");
  EXPECT_EQ(spec_error({{"Command", sdbus::Variant(std::string("x"))},
                        {"Environment", sdbus::Variant(std::vector<std::string>{"=1"})}}),
            "org.procman.Error.InvalidArgs: Environment entry '=1' has an empty name");
}

TEST(SpecFromProperties, SuggestsTheClosestProperty) {
  EXPECT_EQ(spec_error({{"Enviroment", sdbus::Variant(std::vector<std::string>{})}}),
            "org.procman.Error.InvalidArgs: unknown property 'Enviroment' (did you mean "
            "'Environment'?)");
  EXPECT_EQ(spec_error({{"once", sdbus::Variant(true)}}),
            "org.procman.Error.InvalidArgs: unknown property 'once' (did you mean 'Once'?)");
}

}  // namespace
}  // namespace procman::dbus
