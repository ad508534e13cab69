// The concrete Service: a connection, the Manager object, the Process objects
// (one registration serving every process path, see ProcessObjects), and the
// bookkeeping that coalesces PropertiesChanged.
//
// The flow, narrated: Service::open connects, registers the objects, asks for
// the name and hands the connection to a BusLoop. From then on the loop
// dispatches incoming calls to the adaptors and the Process vtable; the daemon
// reports changes through the Service interface, which sends the signals that
// must go out at once (ProcessStateChanged, ProcessAdded/Removed,
// InterfacesAdded/Removed, Reloaded) and marks objects dirty. After every loop
// iteration the BusLoop's post hook flushes: one PropertiesChanged per dirty
// object that still exists, and the Process registration goes if the last
// process went. A process's path is served from process_added until
// process_removed; nothing is registered or destroyed per process, so a
// removal from inside one of the process's own calls is harmless.
#include "dbus/service.h"

#include <fmt/format.h>
#include <sdbus-c++/sdbus-c++.h>

#include <set>

#include "core/state.h"
#include "dbus/bus_loop.h"
#include "dbus/manager_object.h"
#include "dbus/object_path.h"
#include "dbus/process_object.h"

namespace procman::dbus {
namespace {

const char* bus_label(const ServiceOptions& o) {
  if (!o.address.empty()) return "the bus at the given address";
  return o.bus == BusKind::System ? "the system bus" : "the session bus";
}

std::string sdbus_message(const sdbus::Error& e) {
  return e.getMessage().empty() ? e.what() : e.getMessage();
}

class ServiceImpl final : public Service {
 public:
  ServiceImpl(os::EventLoop& loop, Backend& backend, ServiceOptions opts,
              std::unique_ptr<sdbus::IConnection> conn)
      : loop_(loop),
        opts_(std::move(opts)),
        conn_(std::move(conn)),
        ctx_(backend, ObjectContext::Policy{opts_.bus == BusKind::System, opts_.admin_group}) {}

  ~ServiceImpl() override {
    // The bus loop's sources first, then the objects (they unregister from the
    // connection), then the pending replies, then the connection.
    bus_loop_.reset();
    wake_.reset();
    processes_.reset();
    manager_.reset();
  }

  /// Everything that can fail for reasons outside our control; on failure
  /// *error says why and the object must be dropped.
  bool start(std::string* error) {
    try {
      manager_ = std::make_unique<ManagerObject>(*conn_, ctx_);
      processes_ = std::make_unique<ProcessObjects>(*conn_, ctx_);
      ctx_.backend().for_each_status(
          [&](const core::UnitStatus& s) { processes_->insert(s.name); });
    } catch (const sdbus::Error& e) {
      *error = "cannot register the objects: " + sdbus_message(e);
      return false;
    } catch (const std::exception& e) {
      *error = std::string("cannot register the objects: ") + e.what();
      return false;
    }
    if (!request_name(error)) return false;
    try {
      BusLoop::Hooks hooks;
      hooks.before_rearm = [this] { flush(); };
      hooks.on_lost = [this](const std::string& why) { on_lost(why); };
      bus_loop_ = std::make_unique<BusLoop>(loop_, *conn_, std::move(hooks));
    } catch (const sdbus::Error& e) {
      *error = "cannot watch the bus connection: " + sdbus_message(e);
      return false;
    } catch (const std::exception& e) {
      *error = std::string("cannot watch the bus connection: ") + e.what();
      return false;
    }
    // Wakes the loop when something was marked dirty outside of any dispatch
    // (the post hook only runs after one); fires at once, one-shot.
    wake_ = loop_.add_timer(0, [this] { flush(); });
    wake_.set_enabled(false);
    return true;
  }

  void process_added(const std::string& name) override {
    manager_dirty_ = true;
    wake();
    ctx_.invalidate();
    if (processes_->contains(name)) {
      dirty_.insert(name);
      return;
    }
    try {
      processes_->insert(name);
    } catch (const sdbus::Error& e) {
      loop_.report(
          fmt::format("D-Bus: cannot register the object of '{}': {}", name, sdbus_message(e)));
      return;
    }
    send([&] {
      processes_->announce(name);
      manager_->emitProcessAdded(name, sdbus::ObjectPath(process_path(name)));
    });
  }

  void process_removed(const std::string& name) override {
    if (!processes_->contains(name)) return;
    manager_dirty_ = true;
    wake();
    ctx_.invalidate();
    dirty_.erase(name);
    // InterfacesRemoved lists the interfaces the path has, so it goes out while
    // the path is still served.
    send([&] {
      processes_->withdraw(name);
      manager_->emitProcessRemoved(name, sdbus::ObjectPath(process_path(name)));
    });
    processes_->erase(name);
  }

  void process_changed(const core::UnitStatus& unit, core::State from,
                       std::string_view reason) override {
    ctx_.invalidate();
    dirty_.insert(unit.name);
    manager_dirty_ = true;
    wake();
    // Exit details belong to the change an exit caused: from a state with a
    // live process to one without.
    bool by_exit = core::is_active(from) && !core::is_active(unit.state);
    int32_t exit_code = by_exit ? last_exit_code(unit) : -1;
    std::string exit_signal = by_exit ? last_exit_signal(unit) : "";
    send([&] {
      manager_->emitProcessStateChanged(
          unit.name, sdbus::ObjectPath(process_path(unit.name)),
          std::string(core::state_name(from)), std::string(core::state_name(unit.state)),
          unit.sub_state, unit.pid > 0 ? unit.pid : 0, exit_code, exit_signal, std::string(reason));
    });
  }

  void process_properties_changed(const std::string& name) override {
    ctx_.invalidate();
    dirty_.insert(name);
    wake();
  }

  void manager_changed() override {
    ctx_.invalidate();
    manager_dirty_ = true;
    wake();
  }

  void reloaded(const ReloadResult& r) override {
    ctx_.invalidate();
    manager_dirty_ = true;
    wake();
    send([&] { manager_->emitReloaded(r.added, r.removed, r.restarted, r.pending); });
  }

  bool connected() const override { return bus_loop_ && bus_loop_->connected(); }

 private:
  bool request_name(std::string* error) {
    try {
      conn_->requestName(opts_.bus_name);
      return true;
    } catch (const sdbus::Error& e) {
      // sd-bus asks without DBUS_NAME_FLAG_ALLOW_REPLACEMENT/REPLACE_EXISTING and
      // with DO_NOT_QUEUE, so a taken name fails here instead of queueing us.
      if (auto pid = owner_pid()) {
        *error = fmt::format("{} is already owned by pid {}", opts_.bus_name, *pid);
      } else {
        *error = fmt::format("cannot own the name {} on {}: {}", opts_.bus_name, bus_label(opts_),
                             sdbus_message(e));
      }
      return false;
    }
  }

  std::optional<uint32_t> owner_pid() {
    try {
      auto proxy = sdbus::createProxy(*conn_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
      uint32_t pid = 0;
      proxy->callMethod("GetConnectionUnixProcessID")
          .onInterface("org.freedesktop.DBus")
          .withArguments(opts_.bus_name)
          .storeResultsTo(pid);
      return pid;
    } catch (const sdbus::Error&) {
      return std::nullopt;  // nobody owns it, or the bus would not say
    }
  }

  void wake() {
    if (wake_) wake_.set_time(0);
  }

  // Signals go out at once; a failure means the connection is going away,
  // which the BusLoop notices on its next dispatch.
  template <typename Fn>
  void send(Fn&& fn) {
    if (!connected()) return;
    try {
      fn();
    } catch (const sdbus::Error&) {
    }
  }

  void flush() {
    if (wake_) wake_.set_enabled(false);
    ctx_.invalidate();
    if (!dirty_.empty() || manager_dirty_) {
      std::set<std::string> dirty;
      dirty.swap(dirty_);
      bool manager_dirty = manager_dirty_;
      manager_dirty_ = false;
      for (const auto& name : dirty) {
        if (!processes_->contains(name)) continue;
        send([&] { processes_->emit_properties_changed(name); });
        // One view at a time: after a start of thousands they would all be held at once.
        ctx_.invalidate();
      }
      if (manager_dirty) send([&] { manager_->emit_properties_changed(); });
      ctx_.invalidate();
    }
    processes_->collect();
  }

  void on_lost(const std::string& why) {
    dirty_.clear();
    manager_dirty_ = false;
    if (opts_.on_disconnected) opts_.on_disconnected(why);
  }

  os::EventLoop& loop_;
  ServiceOptions opts_;
  std::unique_ptr<sdbus::IConnection> conn_;
  ObjectContext ctx_;  // after conn_: holds replies that must go before it
  std::unique_ptr<ManagerObject> manager_;
  std::unique_ptr<ProcessObjects> processes_;
  std::set<std::string> dirty_;
  bool manager_dirty_ = false;
  std::unique_ptr<BusLoop> bus_loop_;
  os::EventSource wake_;
};

}  // namespace

std::unique_ptr<Service> Service::open(os::EventLoop& loop, Backend& backend,
                                       const ServiceOptions& opts, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  std::unique_ptr<sdbus::IConnection> conn;
  try {
    if (!opts.address.empty()) {
      conn = sdbus::createSessionBusConnectionWithAddress(opts.address);
    } else if (opts.bus == BusKind::System) {
      conn = sdbus::createSystemBusConnection();
    } else {
      conn = sdbus::createSessionBusConnection();
    }
  } catch (const sdbus::Error& e) {
    *error = fmt::format("cannot connect to {}: {}", bus_label(opts), sdbus_message(e));
    return nullptr;
  }
  auto service = std::make_unique<ServiceImpl>(loop, backend, opts, std::move(conn));
  if (!service->start(error)) return nullptr;
  return service;
}

}  // namespace procman::dbus
