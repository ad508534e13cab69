#include "dbus/process_object.h"

#include <fmt/format.h>

#include "core/names.h"
#include "core/state.h"
#include "dbus/object_path.h"

namespace procman::dbus {
namespace {

uint64_t usec(int64_t t) { return t > 0 ? static_cast<uint64_t>(t) : 0; }

}  // namespace

int32_t last_exit_code(const core::UnitStatus& s) {
  if (!s.last_exit || !s.last_exit->known || s.last_exit->signaled) return -1;
  return s.last_exit->code;
}

std::string last_exit_signal(const core::UnitStatus& s) {
  if (!s.last_exit || !s.last_exit->known || !s.last_exit->signaled) return "";
  return core::signal_name(s.last_exit->code);
}

ProcessObject::ProcessObject(sdbus::IConnection& conn, ObjectContext& ctx, std::string name)
    : AdaptorInterfaces(conn, process_path(name)), ctx_(ctx), name_(std::move(name)) {
  registerAdaptor();
}

ProcessObject::~ProcessObject() { unregisterAdaptor(); }

void ProcessObject::announce() { emitInterfacesAddedSignal(); }

void ProcessObject::withdraw() { emitInterfacesRemovedSignal(); }

void ProcessObject::emit_properties_changed() {
  getObject().emitPropertiesChangedSignal(org::procman::Process_adaptor::INTERFACE_NAME);
}

void ProcessObject::operate(Op op, const char* method, sdbus::Result<std::string>&& result,
                            const std::string& mode) {
  translate(ctx_, [&] {
    ctx_.authorize(getObject(), method);
    bool wait = parse_mode(mode);
    ctx_.backend().operate(op, name_, wait, ctx_.hold(std::move(result)));
  });
}

void ProcessObject::Start(sdbus::Result<std::string>&& result, std::string mode) {
  operate(Op::Start, "Start", std::move(result), mode);
}

void ProcessObject::Stop(sdbus::Result<std::string>&& result, std::string mode) {
  operate(Op::Stop, "Stop", std::move(result), mode);
}

void ProcessObject::Restart(sdbus::Result<std::string>&& result, std::string mode) {
  operate(Op::Restart, "Restart", std::move(result), mode);
}

void ProcessObject::Kill(const std::string& whom, const int32_t& signal) {
  translate(ctx_, [&] {
    ctx_.authorize(getObject(), "Kill");
    std::string w = parse_whom(whom);
    check_signal(signal);
    if (auto err = ctx_.backend().kill(name_, w, signal)) throw_error(*err);
  });
}

void ProcessObject::ResetFailed() {
  translate(ctx_, [&] {
    ctx_.authorize(getObject(), "ResetFailed");
    if (auto err = ctx_.backend().reset_failed(name_)) throw_error(*err);
  });
}

std::vector<std::string> ProcessObject::GetLogs(const uint32_t& lines) {
  return translate(ctx_, [&] {
    auto logs = ctx_.backend().logs(name_, lines);
    if (auto* err = std::get_if<Error>(&logs)) throw_error(*err);
    return std::move(std::get<std::vector<std::string>>(logs));
  });
}

template <typename Fn>
auto ProcessObject::property(Fn&& fn) -> decltype(fn(std::declval<const ProcessView&>())) {
  try {
    return fn(ctx_.view(name_));
  } catch (const sdbus::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw sdbus::Error(kErrFailed, e.what());
  }
}

std::string ProcessObject::Name() {
  return property([](const ProcessView& v) { return v.status.name; });
}
std::string ProcessObject::Id() {
  return property([](const ProcessView& v) { return v.status.id; });
}
uint32_t ProcessObject::Instance() {
  return property([](const ProcessView& v) { return uint32_t{v.status.instance}; });
}
bool ProcessObject::Transient() {
  return property([](const ProcessView& v) { return v.transient; });
}
std::string ProcessObject::State() {
  return property(
      [](const ProcessView& v) { return std::string(core::state_name(v.status.state)); });
}
std::string ProcessObject::SubState() {
  return property([](const ProcessView& v) { return v.status.sub_state; });
}
std::string ProcessObject::StatusText() {
  return property([](const ProcessView& v) { return v.status.status_text; });
}
std::string ProcessObject::NotifyStatus() {
  return property([](const ProcessView& v) { return v.status.notify_status; });
}
std::string ProcessObject::Result() {
  return property([](const ProcessView& v) { return v.status.result; });
}
std::string ProcessObject::FailureReason() {
  return property([](const ProcessView& v) { return v.status.failure_reason; });
}
uint32_t ProcessObject::MainPID() {
  return property([](const ProcessView& v) {
    return v.status.pid > 0 ? static_cast<uint32_t>(v.status.pid) : 0u;
  });
}
std::string ProcessObject::Command() {
  return property([](const ProcessView& v) { return v.command; });
}
std::string ProcessObject::WorkingDirectory() {
  return property([](const ProcessView& v) { return v.work_dir; });
}
std::vector<std::string> ProcessObject::DependsOn() {
  return property([](const ProcessView& v) { return v.depends_on; });
}
std::string ProcessObject::Restart() {
  return property([](const ProcessView& v) { return v.restart; });
}
std::string ProcessObject::AdminGoal() {
  return property(
      [](const ProcessView& v) { return std::string(core::admin_goal_name(v.status.admin)); });
}
bool ProcessObject::RestartPending() {
  return property([](const ProcessView& v) { return v.status.restart_pending; });
}
uint32_t ProcessObject::NRestarts() {
  return property([](const ProcessView& v) { return uint32_t{v.status.restarts}; });
}
int32_t ProcessObject::LastExitCode() {
  return property([](const ProcessView& v) { return last_exit_code(v.status); });
}
std::string ProcessObject::LastExitSignal() {
  return property([](const ProcessView& v) { return last_exit_signal(v.status); });
}
uint64_t ProcessObject::StartTimestamp() {
  return property([](const ProcessView& v) { return usec(v.status.start_usec); });
}
uint64_t ProcessObject::ExitTimestamp() {
  return property([](const ProcessView& v) { return usec(v.status.exit_usec); });
}
uint64_t ProcessObject::RunTimeUSec() {
  return property([](const ProcessView& v) { return usec(v.status.run_usec); });
}
std::string ProcessObject::Health() {
  return property([](const ProcessView& v) { return v.status.health; });
}
std::string ProcessObject::HealthDetail() {
  return property([](const ProcessView& v) { return v.status.health_detail; });
}
std::string ProcessObject::ApplyOn() {
  return property([](const ProcessView& v) { return v.apply_on; });
}
std::string ProcessObject::Schedule() {
  return property([](const ProcessView& v) { return v.schedule; });
}
std::string ProcessObject::Cron() {
  return property([](const ProcessView& v) { return v.cron; });
}
std::string ProcessObject::NextChange() {
  return property([](const ProcessView& v) { return v.next_change; });
}
std::string ProcessObject::EffectiveConfig() {
  return property([](const ProcessView& v) { return v.effective_json; });
}
std::map<std::string, std::string> ProcessObject::Metadata() {
  return property([](const ProcessView& v) { return v.meta; });
}

// CPU and memory are read on demand: no view, no PropertiesChanged.
uint64_t ProcessObject::CPUUsageNSec() {
  return property([&](const ProcessView&) { return ctx_.backend().usage(name_).cpu_nsec; });
}
uint64_t ProcessObject::MemoryCurrent() {
  return property([&](const ProcessView&) { return ctx_.backend().usage(name_).memory_bytes; });
}

}  // namespace procman::dbus
