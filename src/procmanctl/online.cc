#include "procmanctl/online.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <sdbus-c++/sdbus-c++.h>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>

#include "core/suggest.h"
#include "manager_proxy.h"
#include "os/journal.h"
#include "process_proxy.h"
#include "procmanctl/format.h"

namespace procman::ctl {
namespace {

constexpr const char* kManagerPath = "/org/procman/Manager";
constexpr const char* kManagerIface = "org.procman.Manager";
constexpr const char* kProcessIface = "org.procman.Process";
constexpr const char* kBusDriver = "org.freedesktop.DBus";
/// Start, stop, restart and remove reply when the operation is over; a stop may take
/// stop-timeout plus the hooks' timeouts.
constexpr auto kLongCall = std::chrono::minutes(10);
/// Above this many selected processes, one GetManagedObjects beats one GetAll each.
constexpr std::size_t kPerObjectReads = 16;

/// An error already shown to the user; unwinds to the verb's exit code.
struct Reported {
  int code;
};

void say_error(std::string_view message) { fmt::print(stderr, "procmanctl: {}\n", message); }

const char* bus_label(const BusOptions& o) { return o.system ? "system" : "session"; }

bool use_color() {
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return isatty(STDOUT_FILENO) && !(no_color && *no_color) &&
         !(term && std::string_view(term) == "dumb");
}

/// Local time as the event and log lines show it.
std::string local_timestamp(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

uint64_t usec_since_epoch(std::chrono::system_clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}

/// JSON text; process output and reasons may hold invalid UTF-8, which becomes U+FFFD
/// instead of an exception.
std::string dump(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Turns sdbus errors into one message each (the "not running" one only once: a verb
/// calling for five names must not say it five times) and an exit code.
class Reporter {
 public:
  explicit Reporter(const BusOptions& o) : opts_(o) {}

  int operator()(const sdbus::Error& e) {
    const std::string& name = e.getName();
    const int code = exit_code_for_error(name);
    if (code == kExitUnreachable) {
      if (!said_unreachable_) not_running(name, e.getMessage());
      said_unreachable_ = true;
    } else if (name == "org.procman.Error.InvalidConfig") {
      // file:line:col lines, left as they are so editors can jump to them.
      fmt::print(stderr, "{}\n", e.getMessage());
    } else {
      say_error(e.getMessage().empty() ? name : e.getMessage());
    }
    return code;
  }

 private:
  void not_running(const std::string& name, const std::string& message) {
    if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
        name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
      say_error(fmt::format("procmand is not running on the {} bus ({} has no owner)",
                            bus_label(opts_), opts_.bus_name));
    } else if (name.starts_with("org.freedesktop.DBus.Error.Spawn.")) {
      say_error(fmt::format("procmand could not be started on the {} bus: {}", bus_label(opts_),
                            message));
    } else {
      say_error(fmt::format("lost the connection to the {} bus: {}", bus_label(opts_), message));
    }
  }

  const BusOptions& opts_;
  bool said_unreachable_ = false;
};

/// org.procman.Manager with its ObjectManager and Properties. Signals reach `sink` only
/// when one is given: the match rules cost a round trip each, which no other verb needs.
class ManagerProxy final
    : public sdbus::ProxyInterfaces<org::procman::Manager_proxy, sdbus::ObjectManager_proxy,
                                    sdbus::Properties_proxy> {
 public:
  using Sink = std::function<void(const Event&)>;
  ManagerProxy(sdbus::IConnection& bus, const std::string& name, Sink sink = {})
      : ProxyInterfaces(bus, name, kManagerPath), sink_(std::move(sink)) {
    if (sink_) registerProxy();
  }
  ~ManagerProxy() { unregisterProxy(); }

  sdbus::IProxy& raw() { return getProxy(); }

 private:
  void onProcessStateChanged(const std::string& name, const sdbus::ObjectPath& path,
                             const std::string& old_state, const std::string& new_state,
                             const std::string& sub_state, const int32_t& pid,
                             const int32_t& exit_code, const std::string& exit_signal,
                             const std::string& reason) override {
    emit({.kind = Event::Kind::StateChanged,
          .name = name,
          .path = path,
          .old_state = old_state,
          .new_state = new_state,
          .sub_state = sub_state,
          .pid = pid,
          .exit_code = exit_code,
          .exit_signal = exit_signal,
          .reason = reason});
  }
  void onProcessAdded(const std::string& name, const sdbus::ObjectPath& path) override {
    emit({.kind = Event::Kind::Added, .name = name, .path = path});
  }
  void onProcessRemoved(const std::string& name, const sdbus::ObjectPath& path) override {
    emit({.kind = Event::Kind::Removed, .name = name, .path = path});
  }
  void onReloaded(const std::vector<std::string>& added, const std::vector<std::string>& removed,
                  const std::vector<std::string>& restarted,
                  const std::vector<std::string>& pending) override {
    emit({.kind = Event::Kind::Reloaded, .reload = {added, removed, restarted, pending}});
  }
  void onInterfacesAdded(
      const sdbus::ObjectPath&,
      const std::map<std::string, std::map<std::string, sdbus::Variant>>&) override {}
  void onInterfacesRemoved(const sdbus::ObjectPath&, const std::vector<std::string>&) override {}
  void onPropertiesChanged(const std::string&, const std::map<std::string, sdbus::Variant>&,
                           const std::vector<std::string>&) override {}

  void emit(const Event& e) {
    if (sink_) sink_(e);
  }

  Sink sink_;
};

class ProcessProxy final
    : public sdbus::ProxyInterfaces<org::procman::Process_proxy, sdbus::Properties_proxy> {
 public:
  ProcessProxy(sdbus::IConnection& bus, const std::string& name, const std::string& path)
      : ProxyInterfaces(bus, name, path) {}
  ~ProcessProxy() { unregisterProxy(); }

 private:
  void onPropertiesChanged(const std::string&, const std::map<std::string, sdbus::Variant>&,
                           const std::vector<std::string>&) override {}
};

/// One verb's connection: the bus, the manager proxy, the error reporter.
class Session {
 public:
  explicit Session(const BusOptions& o) : opts(o), report(o), bus_(connect(o)) {
    manager_.emplace(*bus_, o.bus_name);
  }

  sdbus::IConnection& bus() { return *bus_; }
  ManagerProxy& manager() { return *manager_; }

  /// Whether someone owns the bus name, asked without starting procmand by activation.
  bool daemon_present() {
    auto driver = sdbus::createProxy(*bus_, kBusDriver, "/org/freedesktop/DBus");
    bool has = false;
    driver->callMethod("NameHasOwner")
        .onInterface(kBusDriver)
        .withArguments(opts.bus_name)
        .storeResultsTo(has);
    return has;
  }

  /// Dispatches one message, or when there is none, sleeps until the bus has one,
  /// `interrupt_fd` is readable (returns true), or `timeout_ms` passes (-1 = no limit).
  /// Callers check their condition after each call: a message may complete it.
  bool pump(int interrupt_fd, int timeout_ms) {
    if (bus_->processPendingRequest()) return false;
    const auto pd = bus_->getEventLoopPollData();
    int timeout = pd.getPollTimeout();
    if (timeout_ms >= 0 && (timeout < 0 || timeout_ms < timeout)) timeout = timeout_ms;
    pollfd fds[2] = {{pd.fd, pd.events, 0}, {interrupt_fd, POLLIN, 0}};
    const nfds_t n = interrupt_fd >= 0 ? 2 : 1;
    if (::poll(fds, n, timeout) < 0 && errno != EINTR)
      throw std::runtime_error(fmt::format("poll: {}", std::strerror(errno)));
    return n == 2 && (fds[1].revents & POLLIN) != 0;
  }

  const BusOptions& opts;
  Reporter report;

 private:
  static std::unique_ptr<sdbus::IConnection> connect(const BusOptions& o) {
    try {
      return o.system ? sdbus::createSystemBusConnection() : sdbus::createSessionBusConnection();
    } catch (const sdbus::Error& e) {
      say_error(fmt::format("cannot connect to the {} bus: {}", bus_label(o), e.getMessage()));
      throw Reported{kExitUnreachable};
    }
  }

  std::unique_ptr<sdbus::IConnection> bus_;
  std::optional<ManagerProxy> manager_;
};

/// Runs a verb's body with a session, turning errors into messages and exit codes.
int guarded(const BusOptions& o, const std::function<int(Session&)>& body) {
  std::optional<Session> s;
  try {
    s.emplace(o);
    return body(*s);
  } catch (const Reported& r) {
    return r.code;
  } catch (const sdbus::Error& e) {
    return s ? s->report(e) : Reporter(o)(e);
  } catch (const std::exception& e) {
    say_error(e.what());
    return kExitFailed;
  }
}

/// SIGINT and SIGTERM as a file descriptor for the waiting loops of `logs -f` and `events`,
/// so an interrupt ends them cleanly (exit 0) between two bus messages.
class Interrupts {
 public:
  Interrupts() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigprocmask(SIG_BLOCK, &set_, &old_);
    fd_ = signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd_ < 0) throw std::runtime_error(fmt::format("signalfd: {}", std::strerror(errno)));
  }
  ~Interrupts() {
    ::close(fd_);
    sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;
  int fd() const { return fd_; }
  /// Waits up to `ms` for an interrupt; true when one came.
  bool wait(int ms) const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0 && (p.revents & POLLIN) != 0;
  }

 private:
  sigset_t set_{}, old_{};
  int fd_ = -1;
};

Value to_value(const sdbus::Variant& v) {
  const std::string sig = v.peekValueType();
  if (sig == "b") return v.get<bool>();
  if (sig == "y") return uint64_t{v.get<uint8_t>()};
  if (sig == "n") return int64_t{v.get<int16_t>()};
  if (sig == "q") return uint64_t{v.get<uint16_t>()};
  if (sig == "i") return int64_t{v.get<int32_t>()};
  if (sig == "u") return uint64_t{v.get<uint32_t>()};
  if (sig == "x") return v.get<int64_t>();
  if (sig == "t") return v.get<uint64_t>();
  if (sig == "d") return v.get<double>();
  if (sig == "s") return v.get<std::string>();
  if (sig == "o") return std::string(v.get<sdbus::ObjectPath>());
  if (sig == "g") return std::string(v.get<sdbus::Signature>());
  if (sig == "as") return v.get<std::vector<std::string>>();
  if (sig == "ao") {
    std::vector<std::string> out;
    for (const auto& p : v.get<std::vector<sdbus::ObjectPath>>()) out.push_back(p);
    return out;
  }
  if (sig == "a{ss}") return v.get<std::map<std::string, std::string>>();
  if (sig == "a{su}") {
    std::map<std::string, uint64_t> out;
    for (const auto& [k, n] : v.get<std::map<std::string, uint32_t>>()) out[k] = n;
    return out;
  }
  return fmt::format("(value of D-Bus type {})", sig);
}

Properties to_properties(const std::map<std::string, sdbus::Variant>& in) {
  Properties out;
  for (const auto& [k, v] : in) out.emplace(k, to_value(v));
  return out;
}

using ListEntry = sdbus::Struct<std::string, std::string, std::string, std::string, int32_t,
                                uint32_t, std::string, sdbus::ObjectPath>;

/// What ListProcesses says of a process, as properties: all status needs when the
/// object cannot be read.
Properties list_properties(const ListEntry& e) {
  return {{"Name", std::get<0>(e)},
          {"Id", std::get<1>(e)},
          {"State", std::get<2>(e)},
          {"SubState", std::get<3>(e)},
          {"MainPID", uint64_t(std::max(std::get<4>(e), 0))},
          {"NRestarts", uint64_t{std::get<5>(e)}},
          {"Health", std::get<6>(e)}};
}

std::vector<ProcessName> names_of(const std::vector<ListEntry>& list) {
  std::vector<ProcessName> out;
  out.reserve(list.size());
  for (const auto& e : list) out.push_back({std::get<0>(e), std::get<1>(e)});
  return out;
}

std::string no_such_process(const std::string& name, const std::vector<ProcessName>& all) {
  std::vector<std::string> candidates;
  for (const auto& p : all) {
    candidates.push_back(p.name);
    if (p.id != p.name) candidates.push_back(p.id);
  }
  auto guess = core::closest_match(name, candidates);
  return guess ? fmt::format("no process named '{}' (did you mean '{}'?)", name, *guess)
               : fmt::format("no process named '{}'", name);
}

}  // namespace

int status(const BusOptions& bus, const std::vector<std::string>& names, bool json) {
  return guarded(bus, [&](Session& s) {
    const auto list = s.manager().ListProcesses();
    const auto all = names_of(list);
    std::vector<std::string> unknown;
    std::vector<std::size_t> chosen;
    if (names.empty()) {
      for (std::size_t i = 0; i < list.size(); ++i) chosen.push_back(i);
    } else {
      chosen = select_processes(all, names, &unknown);
    }
    for (const auto& u : unknown) say_error(no_such_process(u, all));

    std::vector<Properties> props;
    props.reserve(chosen.size());
    for (std::size_t i : chosen) props.push_back(list_properties(list[i]));
    if (chosen.size() > kPerObjectReads) {
      const auto objects = s.manager().GetManagedObjects();
      for (std::size_t k = 0; k < chosen.size(); ++k) {
        auto obj = objects.find(std::get<7>(list[chosen[k]]));
        if (obj == objects.end()) continue;
        auto iface = obj->second.find(kProcessIface);
        if (iface == obj->second.end()) continue;
        for (auto& [key, v] : to_properties(iface->second)) props[k][key] = std::move(v);
      }
    } else {
      for (std::size_t k = 0; k < chosen.size(); ++k) {
        try {
          ProcessProxy p(s.bus(), bus.bus_name, std::get<7>(list[chosen[k]]));
          for (auto& [key, v] : to_properties(p.GetAll(kProcessIface)))
            props[k][key] = std::move(v);
        } catch (const sdbus::Error& e) {
          // Removed since ListProcesses: show what the list said.
          if (e.getName() != "org.freedesktop.DBus.Error.UnknownObject") throw;
        }
      }
    }

    if (json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& p : props) arr.push_back(to_json(p));
      fmt::print("{}\n", dump(arr, 2));
    } else if (!chosen.empty() || names.empty()) {
      std::vector<StatusRow> rows;
      rows.reserve(props.size());
      for (const auto& p : props) rows.push_back(status_row(p));
      fmt::print("{}", render_status(rows, usec_since_epoch(std::chrono::system_clock::now()),
                                     use_color()));
    }
    std::fflush(stdout);
    if (!unknown.empty()) return int{kExitNoSuchProcess};
    if (!names.empty())
      for (std::size_t i : chosen)
        if (!state_is_ok(std::get<2>(list[i]))) return int{kExitNotRunning};
    return int{kExitOk};
  });
}

int show(const BusOptions& bus, const std::string& name, const std::vector<std::string>& only,
         bool json, bool value_only) {
  return guarded(bus, [&](Session& s) {
    Properties p;
    if (name.empty()) {
      p = to_properties(s.manager().GetAll(kManagerIface));
    } else {
      const sdbus::ObjectPath path = s.manager().GetProcess(name);
      ProcessProxy proc(s.bus(), bus.bus_name, path);
      p = to_properties(proc.GetAll(kProcessIface));
    }
    std::vector<std::string> keys;
    for (const auto& [k, v] : p) keys.push_back(k);
    for (const auto& k : only) {
      if (p.count(k)) continue;
      auto guess = core::closest_match(k, keys);
      say_error(guess ? fmt::format("no property '{}' (did you mean '{}'?)", k, *guess)
                      : fmt::format("no property '{}'", k));
      return int{kExitUsage};
    }
    if (json) {
      nlohmann::json j = to_json(p);
      if (!only.empty()) {
        nlohmann::json sel = nlohmann::json::object();
        for (const auto& k : only) sel[k] = j[k];
        j = std::move(sel);
      }
      fmt::print("{}\n", dump(j, 2));
    } else {
      fmt::print("{}", render_show(p, only, value_only));
    }
    return int{kExitOk};
  });
}

int act(const BusOptions& bus, Action action, const std::vector<std::string>& names,
        bool no_block) {
  return guarded(bus, [&](Session& s) {
    const char* method = "StartProcess";
    switch (action) {
      case Action::Start:
        method = "StartProcess";
        break;
      case Action::Stop:
        method = "StopProcess";
        break;
      case Action::Restart:
        method = "RestartProcess";
        break;
      case Action::Remove:
        method = "RemoveProcess";
        break;
    }
    // All at once, then wait for every reply: the daemon orders them by dependencies,
    // and `stop a b` takes the longer of the two stops, not their sum.
    int rc = kExitOk;
    std::size_t pending = names.size();
    std::vector<sdbus::PendingAsyncCall> calls;
    for (const auto& n : names) {
      auto call = s.manager().raw().createMethodCall(kManagerIface, method);
      call << n;
      if (action != Action::Remove) call << std::string(no_block ? "no-block" : "wait");
      calls.push_back(s.manager().raw().callMethod(
          call,
          [&](sdbus::MethodReply&, const sdbus::Error* err) {
            --pending;
            if (err) {
              const int code = s.report(*err);
              if (rc == kExitOk) rc = code;
            }
          },
          kLongCall));
    }
    while (pending > 0) s.pump(-1, -1);
    return rc;
  });
}

int kill(const BusOptions& bus, const std::vector<std::string>& names, int signal,
         const std::string& whom) {
  return guarded(bus, [&](Session& s) {
    int rc = kExitOk;
    for (const auto& n : names) {
      try {
        s.manager().KillProcess(n, whom, signal);
      } catch (const sdbus::Error& e) {
        const int code = s.report(e);
        if (code == kExitUnreachable) return code;
        if (rc == kExitOk) rc = code;
      }
    }
    return rc;
  });
}

int reset_failed(const BusOptions& bus, const std::vector<std::string>& names) {
  return guarded(bus, [&](Session& s) {
    std::vector<std::string> targets = names;
    if (targets.empty())
      for (const auto& e : s.manager().ListProcesses())
        if (std::get<2>(e) == "failed" || std::get<2>(e) == "start-limit-hit")
          targets.push_back(std::get<0>(e));
    int rc = kExitOk;
    for (const auto& n : targets) {
      try {
        s.manager().ResetFailed(n);
      } catch (const sdbus::Error& e) {
        const int code = s.report(e);
        if (code == kExitUnreachable) return code;
        if (rc == kExitOk) rc = code;
      }
    }
    return rc;
  });
}

int run(const BusOptions& bus, const RunRequest& req) {
  return guarded(bus, [&](Session& s) {
    std::map<std::string, sdbus::Variant> props;
    props["Argv"] = sdbus::Variant(req.argv);
    if (!req.env.empty()) props["Environment"] = sdbus::Variant(req.env);
    if (!req.work_dir.empty()) {
      std::error_code ec;
      auto abs = std::filesystem::absolute(req.work_dir, ec);
      props["WorkingDirectory"] =
          sdbus::Variant(ec ? req.work_dir : abs.lexically_normal().string());
    }
    if (!req.after.empty()) props["DependsOn"] = sdbus::Variant(req.after);
    if (!req.restart.empty()) props["Restart"] = sdbus::Variant(req.restart);
    if (req.once) props["Once"] = sdbus::Variant(true);
    if (req.unique) props["Unique"] = sdbus::Variant(true);
    const auto [assigned, path] = s.manager().RunTransient(req.name, props);
    fmt::print("started transient process '{}'\n", assigned);
    return int{kExitOk};
  });
}

int logs(const BusOptions& bus, const std::string& name, uint32_t lines, bool follow) {
  return guarded(bus, [&](Session& s) {
    // Blocked before the first read, so an early Ctrl-C still ends `-f` cleanly.
    std::optional<Interrupts> interrupts;
    if (follow) interrupts.emplace();
    const bool color = use_color();
    uint64_t last = 0;
    auto fetch = [&]() {
      std::vector<LogLine> out;
      for (const auto& l : s.manager().ReadLogs(name, last, 0))
        out.push_back({std::get<0>(l), std::get<1>(l), std::get<2>(l), std::get<3>(l)});
      return out;
    };
    auto print = [&](const std::vector<LogLine>& batch) {
      for (const auto& l : batch) fmt::print("{}\n", format_log_line(l, color));
      if (!batch.empty()) last = batch.back().seq;
      std::fflush(stdout);
    };
    if (s.manager().LogTarget() == "journal") {
      // The processes write to journald themselves: read it here, with sd-journal,
      // and follow it without polling procmand.
      std::vector<std::string> units;
      for (const auto& e : s.manager().ListProcesses())
        if (std::get<0>(e) == name || std::get<1>(e) == name) units.push_back(std::get<0>(e));
      if (units.empty()) s.manager().GetProcess(name);  // raises NoSuchProcess with a suggestion
      std::string error;
      auto reader = os::JournalReader::open(&error);
      if (!reader) {
        fmt::print(stderr, "procmanctl: {}; showing what procmand can read instead\n", error);
      } else {
        if (!reader->warning().empty()) fmt::print(stderr, "procmanctl: {}\n", reader->warning());
        for (const auto& u : units) reader->match("SYSLOG_IDENTIFIER=" + u);
        auto show = [&](const os::JournalEntry& e) {
          LogLine l{0, e.realtime_usec, e.priority >= 0 && e.priority <= 4, e.message};
          fmt::print("{}{}\n", units.size() > 1 ? e.identifier + ": " : std::string(),
                     format_log_line(l, color));
          std::fflush(stdout);
          return true;
        };
        for (const auto& e : reader->tail(lines == 0 ? 200 : lines, &error)) show(e);
        if (!error.empty()) fmt::print(stderr, "procmanctl: {}\n", error);
        if (!follow) return int{kExitOk};
        while (!interrupts->wait(0)) {
          // sd_journal_wait inside; the bound only lets Ctrl-C be noticed.
          if (reader->follow(show, 250, &error) == os::FollowEnd::kError) {
            fmt::print(stderr, "procmanctl: {}\n", error);
            return int{kExitFailed};
          }
        }
        return int{kExitOk};
      }
    }
    auto first = fetch();
    if (lines > 0 && first.size() > lines)
      first.erase(first.begin(), first.end() - static_cast<std::ptrdiff_t>(lines));
    print(first);
    if (!follow) return int{kExitOk};
    // Console mode: procmand keeps the last lines in memory; polling it is enough for a terminal.
    while (!interrupts->wait(250)) {
      auto batch = fetch();
      if (!batch.empty() && last != 0 && batch.front().seq > last + 1)
        fmt::print(stderr, "procmanctl: {} line(s) dropped (procmand keeps a limited tail)\n",
                   batch.front().seq - last - 1);
      print(batch);
    }
    return int{kExitOk};
  });
}

int events(const BusOptions& bus, bool json) {
  return guarded(bus, [&](Session& s) {
    Interrupts interrupts;
    const bool color = use_color();
    ManagerProxy watcher(s.bus(), bus.bus_name, [&](const Event& e) {
      const auto now = std::chrono::system_clock::now();
      const std::string ts = local_timestamp(now);
      if (json)
        fmt::print("{}\n", dump(event_json(ts, usec_since_epoch(now), e), -1));
      else
        fmt::print("{}\n", format_event(ts, e, color));
      std::fflush(stdout);
    });
    bool gone = false;
    auto driver = sdbus::createProxy(s.bus(), kBusDriver, "/org/freedesktop/DBus");
    driver->uponSignal("NameOwnerChanged")
        .onInterface(kBusDriver)
        .call([&](const std::string& n, const std::string&, const std::string& new_owner) {
          if (n == bus.bus_name && new_owner.empty()) gone = true;
        });
    driver->finishRegistration();
    // Subscribed first, asked second: nothing can happen unseen in between.
    if (!s.daemon_present())
      return s.report(sdbus::Error("org.freedesktop.DBus.Error.NameHasNoOwner", ""));
    try {
      for (;;) {
        if (s.pump(interrupts.fd(), -1)) return int{kExitOk};
        if (gone) {
          say_error(fmt::format("procmand went away ({} lost its owner)", bus.bus_name));
          return int{kExitFailed};
        }
      }
    } catch (const sdbus::Error& e) {
      say_error(
          fmt::format("lost the connection to the {} bus: {}", bus_label(bus), e.getMessage()));
      return int{kExitFailed};
    }
  });
}

int reload(const BusOptions& bus) {
  return guarded(bus, [&](Session& s) {
    ReloadSummary r;
    s.manager()
        .raw()
        .callMethod("Reload")
        .onInterface(kManagerIface)
        .withTimeout(kLongCall)
        .storeResultsTo(r.added, r.removed, r.restarted, r.pending);
    fmt::print("{}\n", format_reload(r));
    return int{kExitOk};
  });
}

int shutdown(const BusOptions& bus, const std::string& message) {
  return guarded(bus, [&](Session& s) {
    try {
      s.manager()
          .raw()
          .callMethod("Shutdown")
          .onInterface(kManagerIface)
          .withTimeout(kLongCall)
          .withArguments(message);
    } catch (const sdbus::Error& e) {
      // Gone before the reply reached us: that is what was asked for.
      if (e.getName() != "org.freedesktop.DBus.Error.NoReply") throw;
    }
    return int{kExitOk};
  });
}

int complete_names(const BusOptions& bus) {
  try {
    auto conn =
        bus.system ? sdbus::createSystemBusConnection() : sdbus::createSessionBusConnection();
    conn->setMethodCallTimeout(std::chrono::seconds(2));
    auto driver = sdbus::createProxy(*conn, kBusDriver, "/org/freedesktop/DBus");
    bool has = false;
    driver->callMethod("NameHasOwner")
        .onInterface(kBusDriver)
        .withArguments(bus.bus_name)
        .storeResultsTo(has);
    if (!has) return kExitOk;
    ManagerProxy manager(*conn, bus.bus_name);
    std::set<std::string> seen;
    std::string out;
    for (const auto& e : manager.ListProcesses())
      for (const auto& n : {std::get<1>(e), std::get<0>(e)})
        if (seen.insert(n).second) out += n + "\n";
    fmt::print("{}", out);
  } catch (const std::exception&) {
    // A completion helper stays quiet: no daemon, no names.
  }
  return kExitOk;
}

// ------------------------------------------------------------------ command line

namespace {

/// run's options that take a value: the word after them is not the command.
const std::set<std::string, std::less<>> kRunValueOptions = {
    "--name", "-e", "--env", "-C", "--work-dir", "--after", "--restart", "--bus-name"};

}  // namespace

std::vector<std::string> take_run_command(int& argc, char** argv) {
  int i = 1;
  while (i < argc) {
    std::string_view a = argv[i];
    if (a == "--bus-name") {
      i += 2;
    } else if (a.starts_with("-") && a != "-" && a != "--") {
      ++i;
    } else {
      break;
    }
  }
  if (i >= argc || std::string_view(argv[i]) != "run") return {};
  for (int j = i + 1; j < argc; ++j) {
    std::string_view a = argv[j];
    if (a == "--") {
      std::vector<std::string> cmd(argv + j + 1, argv + argc);
      argc = j;
      return cmd;
    }
    if (kRunValueOptions.count(a)) {
      ++j;
      continue;
    }
    if (a.starts_with("-") && a != "-") continue;
    std::vector<std::string> cmd(argv + j, argv + argc);
    argc = j;
    return cmd;
  }
  return {};
}

void add_online_commands(CLI::App& app, BusOptions& bus,
                         const std::vector<std::string>& run_command, int& rc) {
  auto* user =
      app.add_flag("--user")->description("Talk to procmand on the session bus (the default)");
  auto* system = app.add_flag("--system", bus.system, "Talk to procmand on the system bus");
  user->excludes(system);
  app.add_option("--bus-name", bus.bus_name,
                 "The bus name procmand owns (default org.procman.Manager)")
      ->envname("PROCMAN_BUS_NAME");

  // The values the verbs' options are bound to, alive until parse() returns.
  struct Args {
    std::vector<std::string> names;
    std::string name;
    std::vector<std::string> props;
    bool json = false, value = false, no_block = false, follow = false;
    std::string signal = "SIGTERM", whom = "group", message;
    uint32_t lines = 0;
    RunRequest run;
  };
  auto args = std::make_shared<Args>();
  auto& a = *args;

  auto* status_cmd = app.add_subcommand(
      "status", "Show processes: state, pid, uptime, restarts, CPU, memory, health");
  status_cmd->add_option("names", a.names, "Process names, ids or globs (default: all)");
  status_cmd->add_flag("--json", a.json, "A JSON array of every property instead of a table");
  status_cmd->callback([&bus, &rc, args] { rc = status(bus, args->names, args->json); });

  auto* show_cmd =
      app.add_subcommand("show", "Show every property of a process (or of procmand) as Key=Value");
  show_cmd->add_option("name", a.name, "The process (default: procmand itself)");
  show_cmd
      ->add_option("-p,--property", a.props, "Only this property (repeat, or separate by commas)")
      ->delimiter(',');
  show_cmd->add_flag("--value", a.value, "Print values only, without Key=");
  show_cmd->add_flag("--json", a.json, "One JSON object");
  show_cmd->callback(
      [&bus, &rc, args] { rc = show(bus, args->name, args->props, args->json, args->value); });

  struct Verb {
    const char* name;
    const char* help;
    Action action;
  };
  for (const Verb v :
       {Verb{"start", "Start processes and wait until they run", Action::Start},
        Verb{"stop", "Stop processes (whole process groups) and wait until they are gone",
             Action::Stop},
        Verb{"restart", "Stop then start processes and wait until they run", Action::Restart}}) {
    auto* cmd = app.add_subcommand(v.name, v.help);
    cmd->add_option("names", a.names, "Process names (an id means all its instances)")->required();
    cmd->add_flag("--no-block", a.no_block, "Return at once instead of waiting");
    cmd->callback([&bus, &rc, args, action = v.action] {
      rc = act(bus, action, args->names, args->no_block);
    });
  }

  auto* kill_cmd = app.add_subcommand("kill", "Send a signal to processes");
  kill_cmd->add_option("-s,--signal", a.signal, "Signal name or number (default SIGTERM)")
      ->check([](const std::string& s) {
        return parse_signal(s) ? std::string() : "unknown signal '" + s + "'";
      });
  kill_cmd
      ->add_option("--whom", a.whom,
                   "main: the main process; group: its whole process group (default)")
      ->check(CLI::IsMember({"main", "group"}));
  kill_cmd->add_option("names", a.names, "Process names")->required();
  kill_cmd->callback(
      [&bus, &rc, args] { rc = kill(bus, args->names, *parse_signal(args->signal), args->whom); });

  auto* reset_cmd = app.add_subcommand(
      "reset-failed", "Forget failures and start limits (default: of every failed process)");
  reset_cmd->add_option("names", a.names, "Process names");
  reset_cmd->callback([&bus, &rc, args] { rc = reset_failed(bus, args->names); });

  auto* remove_cmd = app.add_subcommand("remove", "Stop transient processes and forget them");
  remove_cmd->add_option("names", a.names, "Transient process names")->required();
  remove_cmd->callback([&bus, &rc, args] { rc = act(bus, Action::Remove, args->names, false); });

  auto* run_cmd = app.add_subcommand("run", "Run a command as a transient process");
  run_cmd->add_option("--name", a.run.name, "Its name (default: derived from the command)");
  run_cmd->add_flag("--once", a.run.once, "Run once: do not restart it after a clean exit");
  run_cmd->add_flag("--unique", a.run.unique, "If the name is taken, use NAME.1, NAME.2...");
  run_cmd->add_option("-e,--env", a.run.env, "Set an environment variable (K=V, repeatable)")
      ->check([](const std::string& s) {
        return s.find('=') == std::string::npos || s.front() == '='
                   ? "expected K=V, not '" + s + "'"
                   : std::string();
      });
  run_cmd->add_option("-C,--work-dir", a.run.work_dir, "Working directory");
  run_cmd->add_option("--after", a.run.after, "Start after this process runs (repeatable)");
  run_cmd->add_option("--restart", a.run.restart, "Restart policy: always, on-failure or no")
      ->check(CLI::IsMember({"always", "on-failure", "no"}));
  run_cmd->footer(
      "The command follows the options: it starts at the first word that is not one of\n"
      "them, or after --. procmanctl run [OPTIONS] [--] CMD [ARG...]");
  run_cmd->callback([&bus, &rc, args, &run_command] {
    if (run_command.empty()) {
      say_error("run: a command is required (procmanctl run [OPTIONS] -- CMD...)");
      rc = kExitUsage;
      return;
    }
    args->run.argv = run_command;
    rc = run(bus, args->run);
  });

  auto* logs_cmd = app.add_subcommand("logs", "Show the output procmand keeps of a process");
  logs_cmd->add_option("name", a.name, "Process name")->required();
  logs_cmd->add_option("-n,--lines", a.lines, "Only the last N lines (default: all kept)");
  logs_cmd->add_flag("-f,--follow", a.follow, "Keep printing new lines until interrupted");
  logs_cmd->callback([&bus, &rc, args] { rc = logs(bus, args->name, args->lines, args->follow); });

  auto* events_cmd = app.add_subcommand("events", "Print state changes and reloads as they happen");
  events_cmd->add_flag("--json", a.json, "One JSON object per line");
  events_cmd->callback([&bus, &rc, args] { rc = events(bus, args->json); });

  auto* reload_cmd = app.add_subcommand("reload", "Re-read the config file and apply the changes");
  reload_cmd->callback([&bus, &rc] { rc = reload(bus); });

  auto* shutdown_cmd = app.add_subcommand("shutdown", "Stop every process, then procmand");
  shutdown_cmd->add_option("-m,--message", a.message, "Why (procmand logs it)");
  shutdown_cmd->callback([&bus, &rc, args] { rc = shutdown(bus, args->message); });

  auto* complete_cmd = app.add_subcommand("__complete-names", "");
  complete_cmd->group("");
  complete_cmd->callback([&bus, &rc] { rc = complete_names(bus); });
}

}  // namespace procman::ctl
