// The Manager object at /org/procman/Manager (org.procman.Manager plus
// org.freedesktop.DBus.ObjectManager for the Process objects below it), and
// ObjectContext, what the Manager and Process adaptors share. The adaptors
// translate only: arguments are checked for form (modes, signals, property
// types) and handed to the Backend, whose answers become replies or
// org.procman.Error.* errors.
#pragma once

#include <sdbus-c++/sdbus-c++.h>
#include <systemd/sd-bus.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dbus/backend.h"
#include "manager_adaptor.h"

namespace procman::dbus {

/// Throws the sdbus::Error that replies with `e`.
[[noreturn]] void throw_error(const Error& e);

/// "wait" and "" -> true, "no-block" -> false; anything else throws InvalidArgs.
bool parse_mode(const std::string& mode);
/// "group" and "" -> "group", "main" -> "main"; anything else throws InvalidArgs.
std::string parse_whom(const std::string& whom);
/// Throws InvalidArgs unless 1 <= signal <= 64.
void check_signal(int32_t signal);

/// What both adaptors need: the backend, the access policy, the views read for
/// property getters, and the asynchronous calls in flight. Lives in the loop
/// thread; must be destroyed before the connection (it holds pending replies).
class ObjectContext {
 public:
  struct Policy {
    /// Methods other than the read-only ones need uid 0 or admin_group (system bus).
    bool check_access = false;
    std::string admin_group = "procman";
  };

  ObjectContext(Backend& backend, Policy policy);
  ~ObjectContext();
  ObjectContext(const ObjectContext&) = delete;
  ObjectContext& operator=(const ObjectContext&) = delete;

  Backend& backend() { return backend_; }

  /// Who sent the message `object` is processing (uid/pid 0 when the bus could
  /// not say).
  Caller caller(const sdbus::IObject& object) const;
  /// Throws org.procman.Error.AccessDenied ("Shutdown requires root or membership
  /// of group 'procman'") when the policy checks access and the sender of the
  /// message `object` is processing is neither root nor in admin_group.
  void authorize(const sdbus::IObject& object, std::string_view method) const;
  /// The same for a method call that sd-bus hands over directly (the Process
  /// objects' vtable), checked from the same credentials of `call`'s sender.
  void authorize(sd_bus_message* call, std::string_view method) const;

  /// The view of `name`, read from the backend once and then reused until
  /// invalidate(): a GetAll or PropertiesChanged reads every property, and the
  /// backend builds the whole view each time. Throws NoSuchProcess when gone.
  const ProcessView& view(const std::string& name);
  const ManagerView& manager_view();
  /// CPU and memory of `name`, read once per batch like its view: a GetAll asks twice
  /// (CPUUsageNSec, MemoryCurrent), and each answer reads /proc or the cgroup.
  const Usage& usage(const std::string& name);
  /// Forgets the views and usages. Called around every method call, whenever the daemon
  /// reports a change, and after every loop iteration, so a view never outlives
  /// one uninterrupted batch of property reads.
  void invalidate();

  /// Keeps `result` here (not in the backend) and returns the OpDone that
  /// answers it: the state on success, the error otherwise. If the context is
  /// gone by then (service closed), the OpDone does nothing.
  OpDone hold(sdbus::Result<std::string>&& result);
  OpDone hold(sdbus::Result<>&& result);
  /// The same for a method call that sd-bus hands over directly: keeps a
  /// reference on `call` and answers it with the state (signature "s") or the error.
  OpDone hold(sd_bus_message* call);
  /// Calls waiting for the backend.
  std::size_t pending() const { return pending_->size(); }

 private:
  using Reply = std::function<void(const OpResult&)>;
  OpDone keep(Reply reply);
  sdbus::Error access_denied(std::string_view method) const;

  Backend& backend_;
  Policy policy_;
  std::map<std::string, ProcessView, std::less<>> views_;
  std::optional<ManagerView> manager_view_;
  std::map<std::string, Usage, std::less<>> usages_;
  uint64_t next_id_ = 1;
  // Shared with the OpDone callbacks only weakly, so a late completion after
  // the service closed finds nothing to answer.
  std::shared_ptr<std::map<uint64_t, Reply>> pending_;
};

/// Brackets a method call: the views are invalidated before and after, and an
/// exception other than sdbus::Error becomes org.procman.Error.Failed (nothing
/// else may cross the C callbacks of sd-bus).
template <typename Fn>
auto translate(ObjectContext& ctx, Fn&& fn) -> decltype(fn()) {
  struct Guard {
    ObjectContext& c;
    ~Guard() { c.invalidate(); }
  } guard{ctx};
  ctx.invalidate();
  try {
    return fn();
  } catch (const sdbus::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw sdbus::Error(kErrFailed, e.what());
  }
}

class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::procman::Manager_adaptor, sdbus::ObjectManager_adaptor> {
 public:
  ManagerObject(sdbus::IConnection& conn, ObjectContext& ctx);
  ~ManagerObject();

  /// PropertiesChanged for every org.procman.Manager property that emits it.
  void emit_properties_changed();

 private:
  std::vector<sdbus::Struct<std::string, std::string, std::string, std::string, int32_t, uint32_t,
                            std::string, sdbus::ObjectPath>>
  ListProcesses() override;
  sdbus::ObjectPath GetProcess(const std::string& name) override;
  void StartProcess(sdbus::Result<std::string>&& result, std::string name,
                    std::string mode) override;
  void StopProcess(sdbus::Result<std::string>&& result, std::string name,
                   std::string mode) override;
  void RestartProcess(sdbus::Result<std::string>&& result, std::string name,
                      std::string mode) override;
  void KillProcess(const std::string& name, const std::string& whom,
                   const int32_t& signal) override;
  void ResetFailed(const std::string& name) override;
  std::tuple<std::string, sdbus::ObjectPath> RunTransient(
      const std::string& name, const std::map<std::string, sdbus::Variant>& properties) override;
  void RemoveProcess(sdbus::Result<>&& result, std::string name) override;
  std::vector<std::string> GetProcessLogs(const std::string& name, const uint32_t& lines) override;
  std::vector<sdbus::Struct<uint64_t, uint64_t, bool, std::string>> ReadLogs(
      const std::string& name, const uint64_t& after, const uint32_t& max) override;
  std::tuple<std::vector<std::string>, std::vector<std::string>, std::vector<std::string>,
             std::vector<std::string>>
  Reload() override;
  void Shutdown(const std::string& message) override;

  std::string Version() override;
  std::string ConfigPath() override;
  std::string ConfigUid() override;
  std::string FifoPath() override;
  std::string LogTarget() override;
  std::string StateDirectory() override;
  std::string State() override;
  std::string StatusText() override;
  uint32_t ProcessCount() override;
  std::map<std::string, uint32_t> Counts() override;

  void operate(Op op, const char* method, sdbus::Result<std::string>&& result,
               const std::string& name, const std::string& mode);
  template <typename Fn>
  auto property(Fn&& fn) -> decltype(fn(std::declval<const ManagerView&>()));

  ObjectContext& ctx_;
};

/// The sd-bus message under an sdbus-c++ 1.2 message, which has no accessor for it.
sd_bus_message* sd_bus_message_of(const sdbus::Message& msg);

}  // namespace procman::dbus
