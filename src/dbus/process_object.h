// One org.procman.Process object per process (per instance), at
// process_path(name), announced through the Manager's ObjectManager. Methods
// call the same Backend functions as the Manager's, with this object's name;
// properties read the backend's ProcessView through ObjectContext.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <string>

#include "dbus/manager_object.h"
#include "process_adaptor.h"

namespace procman::dbus {

class ProcessObject final
    : public sdbus::AdaptorInterfaces<org::procman::Process_adaptor, sdbus::ManagedObject_adaptor> {
 public:
  /// Registers the object; it is not announced until announce().
  ProcessObject(sdbus::IConnection& conn, ObjectContext& ctx, std::string name);
  ~ProcessObject();

  const std::string& name() const { return name_; }

  /// InterfacesAdded / InterfacesRemoved from the Manager's ObjectManager.
  /// withdraw() must come before the object is destroyed (sd-bus lists the
  /// interfaces of a registered object).
  void announce();
  void withdraw();
  /// PropertiesChanged for every property that emits it (all but the const
  /// ones and CPUUsageNSec/MemoryCurrent).
  void emit_properties_changed();

 private:
  void Start(sdbus::Result<std::string>&& result, std::string mode) override;
  void Stop(sdbus::Result<std::string>&& result, std::string mode) override;
  void Restart(sdbus::Result<std::string>&& result, std::string mode) override;
  void Kill(const std::string& whom, const int32_t& signal) override;
  void ResetFailed() override;
  std::vector<std::string> GetLogs(const uint32_t& lines) override;

  std::string Name() override;
  std::string Id() override;
  uint32_t Instance() override;
  bool Transient() override;
  std::string State() override;
  std::string SubState() override;
  std::string StatusText() override;
  std::string NotifyStatus() override;
  std::string Result() override;
  std::string FailureReason() override;
  uint32_t MainPID() override;
  std::string Command() override;
  std::string WorkingDirectory() override;
  std::vector<std::string> DependsOn() override;
  std::string Restart() override;
  std::string AdminGoal() override;
  bool RestartPending() override;
  uint32_t NRestarts() override;
  int32_t LastExitCode() override;
  std::string LastExitSignal() override;
  uint64_t StartTimestamp() override;
  uint64_t ExitTimestamp() override;
  uint64_t RunTimeUSec() override;
  std::string Health() override;
  std::string HealthDetail() override;
  std::string ApplyOn() override;
  std::string Schedule() override;
  std::string Cron() override;
  std::string NextChange() override;
  std::string EffectiveConfig() override;
  std::map<std::string, std::string> Metadata() override;
  uint64_t CPUUsageNSec() override;
  uint64_t MemoryCurrent() override;

  void operate(Op op, const char* method, sdbus::Result<std::string>&& result,
               const std::string& mode);
  template <typename Fn>
  auto property(Fn&& fn) -> decltype(fn(std::declval<const ProcessView&>()));

  ObjectContext& ctx_;
  std::string name_;
};

/// LastExitCode: the exit code, or -1 unless the last run exited with one.
int32_t last_exit_code(const core::UnitStatus& s);
/// LastExitSignal: "SIGKILL"..., or "" unless the last run was killed by a signal.
std::string last_exit_signal(const core::UnitStatus& s);

}  // namespace procman::dbus
