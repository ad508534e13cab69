// org.procman.Process for every process (per instance) through ONE sd-bus
// registration instead of one object per process: a fallback vtable at the
// process directory (kProcessPathPrefix without its slash) whose find callback
// accepts exactly the paths of the names held here, so any other path is the
// usual UnknownObject; a node enumerator listing those paths (introspection,
// `busctl tree`, the Manager's ObjectManager.GetManagedObjects); and a handler
// on the directory itself, which is no object. The vtable is static; per
// process only its name is kept. Methods call the same Backend functions as
// the Manager's; properties read the backend's ProcessView through
// ObjectContext.
//
// The bus sees exactly what it saw when every process had an sdbus-c++ object
// of its own: the same interface table, the directory present only while there
// are processes (and then answering nothing but Introspect), children listed
// newest first (the order sd-bus kept its nodes in).
#pragma once

#include <sdbus-c++/IConnection.h>
#include <systemd/sd-bus.h>

#include <cstdint>
#include <map>
#include <string>

#include "dbus/manager_object.h"

namespace procman::dbus {

class ProcessObjects {
 public:
  /// Serves no process yet: nothing is registered until the first insert().
  /// `conn` (whose sd_bus is taken with sd_bus_of(), so this throws
  /// sdbus::Error like it) and `ctx` must outlive this object.
  ProcessObjects(sdbus::IConnection& conn, ObjectContext& ctx);
  ~ProcessObjects();  ///< unregisters
  ProcessObjects(const ProcessObjects&) = delete;
  ProcessObjects& operator=(const ProcessObjects&) = delete;

  bool contains(const std::string& name) const { return names_.count(name) != 0; }
  /// Serves process_path(name) from now on; no signal is sent. The first
  /// process registers on the bus, which can fail: throws sdbus::Error.
  void insert(const std::string& name);
  /// Stops serving process_path(name) (its calls are UnknownObject from now
  /// on). The registration outlives the last process until collect(), so this
  /// is safe from inside any call.
  void erase(const std::string& name);
  /// Once per loop iteration, outside any call: unregisters if no process is left.
  void collect();

  /// InterfacesAdded / InterfacesRemoved from the Manager's ObjectManager, with
  /// every interface of the object (what sd_bus_emit_object_added/removed list).
  /// `name` must be served while they are sent. Throw sdbus::Error on failure.
  void announce(const std::string& name);
  void withdraw(const std::string& name);
  /// PropertiesChanged for every property that emits it (all but the const
  /// ones and CPUUsageNSec/MemoryCurrent). Throws sdbus::Error on failure.
  void emit_properties_changed(const std::string& name);

  /// For the vtable's callbacks.
  ObjectContext& context() { return ctx_; }

 private:
  void register_on_bus();
  void unregister();
  static int find(sd_bus* bus, const char* path, const char* interface, void* userdata,
                  void** found, sd_bus_error* error);
  static int enumerate(sd_bus* bus, const char* prefix, void* userdata, char*** nodes,
                       sd_bus_error* error);
  static int directory_call(sd_bus_message* m, void* userdata, sd_bus_error* error);

  sd_bus* bus_ = nullptr;  ///< a reference of our own
  ObjectContext& ctx_;
  sd_bus_slot* vtable_slot_ = nullptr;  ///< null while unregistered
  sd_bus_slot* enumerator_slot_ = nullptr;
  sd_bus_slot* directory_slot_ = nullptr;
  /// Name -> when it appeared (enumeration lists the newest first).
  std::map<std::string, uint64_t, std::less<>> names_;
  /// Erased since the last collect(): added again in between, a name keeps its place.
  std::map<std::string, uint64_t, std::less<>> erased_;
  uint64_t next_serial_ = 0;
};

/// The sd_bus under an sdbus-c++ 1.2 connection, which has no accessor for it:
/// read from a (never sent) signal message the connection creates.
/// Throws sdbus::Error when the message cannot be created.
sd_bus* sd_bus_of(sdbus::IConnection& conn);

/// LastExitCode: the exit code, or -1 unless the last run exited with one.
int32_t last_exit_code(const core::UnitStatus& s);
/// LastExitSignal: "SIGKILL"..., or "" unless the last run was killed by a signal.
std::string last_exit_signal(const core::UnitStatus& s);

}  // namespace procman::dbus
