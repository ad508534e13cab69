// procmand's presence on D-Bus: owns org.procman.Manager, serves the Manager
// object (with org.freedesktop.DBus.ObjectManager) and a Process object per
// process, and turns what the daemon reports into signals and
// PropertiesChanged. The bus connection is driven by the daemon's sd-event
// loop; nothing blocks and no thread is started.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/supervisor.h"
#include "dbus/backend.h"
#include "os/event_loop.h"

namespace procman::dbus {

enum class BusKind { Session, System };

struct ServiceOptions {
  BusKind bus = BusKind::Session;
  std::string bus_name = "org.procman.Manager";
  /// System bus: methods (not property reads) require uid 0 or membership of
  /// this group, checked from the caller's credentials (on top of the bus policy).
  std::string admin_group = "procman";
  /// Connect to this address instead of the standard bus of `bus` (tests use a
  /// private bus); `bus` still decides the access checks. "" = the standard bus
  /// (DBUS_SESSION_BUS_ADDRESS / DBUS_SYSTEM_BUS_ADDRESS are honoured).
  std::string address;
  /// Called once, from the loop, when the bus connection is lost, with why.
  /// The Service stays usable (its calls do nothing) and connected() is false.
  std::function<void(const std::string& why)> on_disconnected;
};

class Service {
 public:
  /// Connects, registers the objects for backend.processes() and requests the
  /// name. nullptr + *error ("cannot connect to the session bus: ...", "the
  /// name org.procman.Manager is already owned") when that fails.
  static std::unique_ptr<Service> open(os::EventLoop& loop, Backend& backend,
                                       const ServiceOptions& opts, std::string* error);
  virtual ~Service() = default;

  /// A process object appears (InterfacesAdded + ProcessAdded) / goes away.
  virtual void process_added(const std::string& name) = 0;
  virtual void process_removed(const std::string& name) = 0;
  /// A state change: ProcessStateChanged now, PropertiesChanged for the
  /// object (coalesced: at most one per object per loop iteration).
  virtual void process_changed(const core::UnitStatus& unit, core::State from,
                               std::string_view reason) = 0;
  /// Properties other than the state changed (health, restart-pending...).
  virtual void process_properties_changed(const std::string& name) = 0;
  /// Manager properties (State, StatusText, Counts...) may have changed; coalesced.
  virtual void manager_changed() = 0;
  virtual void reloaded(const ReloadResult& r) = 0;
  /// False once the bus connection was lost (the daemon keeps supervising).
  virtual bool connected() const = 0;
};

}  // namespace procman::dbus
