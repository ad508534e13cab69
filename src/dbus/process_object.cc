#include "dbus/process_object.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "core/names.h"
#include "core/state.h"
#include "dbus/object_path.h"

namespace procman::dbus {
namespace {

constexpr const char* kInterface = "org.procman.Process";
// Where the one registration lives: the parent of every process path.
constexpr std::string_view kProcessDir =
    kProcessPathPrefix.substr(0, kProcessPathPrefix.size() - 1);
const std::string kProcessDirString(kProcessDir);

uint64_t usec(int64_t t) { return t > 0 ? static_cast<uint64_t>(t) : 0; }

// ---- what the callbacks share

// Exceptions must not cross sd-bus's C callbacks: they become the error of
// the reply, set the way sdbus-c++ sets them (so callers see the same errors
// as from the per-object adaptors this replaces).
template <typename Fn>
int guarded(sd_bus_error* error, Fn&& fn) {
  try {
    return fn();
  } catch (const sdbus::Error& e) {
    sd_bus_error_set(error, e.getName().c_str(), e.getMessage().c_str());
  } catch (const std::exception& e) {
    sd_bus_error_set(error, kErrFailed, e.what());
  } catch (...) {
    sd_bus_error_set(error, kErrFailed, "unknown error");
  }
  return 1;
}

ObjectContext& context_of(void* userdata) {
  return static_cast<ProcessObjects*>(userdata)->context();
}

// The find callback accepted the path, so it names a process.
std::string name_at(const char* path) {
  auto name = name_from_path(path ? path : "");
  if (!name) {
    throw sdbus::Error(SD_BUS_ERROR_UNKNOWN_OBJECT,
                       fmt::format("Unknown object '{}'.", path ? path : ""));
  }
  return std::move(*name);
}

struct MessageUnref {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

// ---- serialization, failing with sdbus-c++'s errors

void check(int r, const char* what) {
  if (r < 0) throw sdbus::createError(-r, what);
}

void append(sd_bus_message* m, const std::string& v) {
  check(sd_bus_message_append_basic(m, 's', v.c_str()), "Failed to serialize a string value");
}
void append(sd_bus_message* m, bool v) {
  int i = v;
  check(sd_bus_message_append_basic(m, 'b', &i), "Failed to serialize a bool value");
}
void append(sd_bus_message* m, int32_t v) {
  check(sd_bus_message_append_basic(m, 'i', &v), "Failed to serialize a int32_t value");
}
void append(sd_bus_message* m, uint32_t v) {
  check(sd_bus_message_append_basic(m, 'u', &v), "Failed to serialize a uint32_t value");
}
void append(sd_bus_message* m, uint64_t v) {
  check(sd_bus_message_append_basic(m, 't', &v), "Failed to serialize a uint64_t value");
}
void append(sd_bus_message* m, const std::vector<std::string>& v) {
  check(sd_bus_message_open_container(m, 'a', "s"), "Failed to open a container");
  for (const auto& s : v) append(m, s);
  check(sd_bus_message_close_container(m), "Failed to close a container");
}
void append(sd_bus_message* m, const std::map<std::string, std::string>& v) {
  check(sd_bus_message_open_container(m, 'a', "{ss}"), "Failed to open a container");
  for (const auto& [key, value] : v) {
    check(sd_bus_message_open_container(m, 'e', "ss"), "Failed to open a dictionary entry");
    append(m, key);
    append(m, value);
    check(sd_bus_message_close_container(m), "Failed to close a dictionary entry");
  }
  check(sd_bus_message_close_container(m), "Failed to close a container");
}

// The D-Bus signature of what append() writes for a T.
template <typename T>
constexpr const char* kSignature = nullptr;
template <>
constexpr const char* kSignature<std::string> = "s";
template <>
constexpr const char* kSignature<bool> = "b";
template <>
constexpr const char* kSignature<int32_t> = "i";
template <>
constexpr const char* kSignature<uint32_t> = "u";
template <>
constexpr const char* kSignature<uint64_t> = "t";
template <>
constexpr const char* kSignature<std::vector<std::string>> = "as";
template <>
constexpr const char* kSignature<std::map<std::string, std::string>> = "a{ss}";

// ---- properties

// What a property is read from: the view of the process and, for CPU and memory, its
// usage (each read once per batch of reads, see ObjectContext::view).
struct Source {
  const std::string& name;
  const ProcessView& view;
  ObjectContext& ctx;
};

namespace prop {

std::string name(const Source& s) { return s.view.status.name; }
std::string id(const Source& s) { return s.view.status.id; }
uint32_t instance(const Source& s) { return uint32_t{s.view.status.instance}; }
bool transient(const Source& s) { return s.view.transient; }
std::string state(const Source& s) { return std::string(core::state_name(s.view.status.state)); }
std::string sub_state(const Source& s) { return s.view.status.sub_state; }
std::string status_text(const Source& s) { return s.view.status.status_text; }
std::string notify_status(const Source& s) { return s.view.status.notify_status; }
std::string result(const Source& s) { return s.view.status.result; }
std::string failure_reason(const Source& s) { return s.view.status.failure_reason; }
uint32_t main_pid(const Source& s) {
  return s.view.status.pid > 0 ? static_cast<uint32_t>(s.view.status.pid) : 0u;
}
std::string command(const Source& s) { return s.view.command; }
std::string working_directory(const Source& s) { return s.view.work_dir; }
std::vector<std::string> depends_on(const Source& s) { return s.view.depends_on; }
std::string restart(const Source& s) { return s.view.restart; }
std::string admin_goal(const Source& s) {
  return std::string(core::admin_goal_name(s.view.status.admin));
}
bool restart_pending(const Source& s) { return s.view.status.restart_pending; }
uint32_t n_restarts(const Source& s) { return uint32_t{s.view.status.restarts}; }
int32_t last_exit_code(const Source& s) { return dbus::last_exit_code(s.view.status); }
std::string last_exit_signal(const Source& s) { return dbus::last_exit_signal(s.view.status); }
uint64_t start_timestamp(const Source& s) { return usec(s.view.status.start_usec); }
uint64_t exit_timestamp(const Source& s) { return usec(s.view.status.exit_usec); }
uint64_t run_time_usec(const Source& s) { return usec(s.view.status.run_usec); }
std::string health(const Source& s) { return s.view.status.health; }
std::string health_detail(const Source& s) { return s.view.status.health_detail; }
std::string apply_on(const Source& s) { return s.view.apply_on; }
std::string schedule(const Source& s) { return s.view.schedule; }
std::string cron(const Source& s) { return s.view.cron; }
std::string next_change(const Source& s) { return s.view.next_change; }
std::string effective_config(const Source& s) { return s.view.effective_json; }
std::map<std::string, std::string> metadata(const Source& s) { return s.view.meta; }
// CPU and memory are read on demand (and never announced), but only of a
// process that has a view, like every other property.
uint64_t cpu_usage_nsec(const Source& s) { return s.ctx.usage(s.name).cpu_nsec; }
uint64_t memory_current(const Source& s) { return s.ctx.usage(s.name).memory_bytes; }

}  // namespace prop

template <auto Read>
int get(sd_bus* /*bus*/, const char* path, const char* /*interface*/, const char* /*property*/,
        sd_bus_message* reply, void* userdata, sd_bus_error* error) {
  return guarded(error, [&] {
    ObjectContext& ctx = context_of(userdata);
    std::string name = name_at(path);
    append(reply, Read(Source{name, ctx.view(name), ctx}));
    return 1;
  });
}

// A read-only property whose signature follows from what Read returns.
template <auto Read>
constexpr sd_bus_vtable property(const char* member, uint64_t flags) {
  using T = decltype(Read(std::declval<const Source&>()));
  static_assert(kSignature<T> != nullptr, "no D-Bus signature for this type");
  return SD_BUS_PROPERTY(member, kSignature<T>, get<Read>, 0, flags);
}

// ---- methods

template <Op op>
int operate(sd_bus_message* m, void* userdata, sd_bus_error* error) {
  static constexpr const char* kMethod = op == Op::Start  ? "Start"
                                         : op == Op::Stop ? "Stop"
                                                          : "Restart";
  return guarded(error, [&] {
    const char* mode = nullptr;
    check(sd_bus_message_read_basic(m, 's', &mode), "Failed to deserialize a string value");
    ObjectContext& ctx = context_of(userdata);
    translate(ctx, [&] {
      ctx.authorize(m, kMethod);
      bool wait = parse_mode(mode);
      // From here on the reply belongs to the backend's done callback.
      ctx.backend().operate(op, name_at(sd_bus_message_get_path(m)), wait, ctx.hold(m));
    });
    return 1;
  });
}

int kill(sd_bus_message* m, void* userdata, sd_bus_error* error) {
  return guarded(error, [&] {
    const char* whom = nullptr;
    int32_t signal = 0;
    check(sd_bus_message_read_basic(m, 's', &whom), "Failed to deserialize a string value");
    check(sd_bus_message_read_basic(m, 'i', &signal), "Failed to deserialize a int32_t value");
    ObjectContext& ctx = context_of(userdata);
    translate(ctx, [&] {
      ctx.authorize(m, "Kill");
      std::string w = parse_whom(whom);
      check_signal(signal);
      if (auto err = ctx.backend().kill(name_at(sd_bus_message_get_path(m)), w, signal)) {
        throw_error(*err);
      }
    });
    return sd_bus_reply_method_return(m, nullptr);
  });
}

int reset_failed(sd_bus_message* m, void* userdata, sd_bus_error* error) {
  return guarded(error, [&] {
    ObjectContext& ctx = context_of(userdata);
    translate(ctx, [&] {
      ctx.authorize(m, "ResetFailed");
      if (auto err = ctx.backend().reset_failed(name_at(sd_bus_message_get_path(m)))) {
        throw_error(*err);
      }
    });
    return sd_bus_reply_method_return(m, nullptr);
  });
}

int get_logs(sd_bus_message* m, void* userdata, sd_bus_error* error) {
  return guarded(error, [&] {
    uint32_t lines = 0;
    check(sd_bus_message_read_basic(m, 'u', &lines), "Failed to deserialize a uint32_t value");
    ObjectContext& ctx = context_of(userdata);
    auto logs = translate(ctx, [&] {
      auto l = ctx.backend().logs(name_at(sd_bus_message_get_path(m)), lines);
      if (auto* err = std::get_if<Error>(&l)) throw_error(*err);
      return std::move(std::get<std::vector<std::string>>(l));
    });
    sd_bus_message* raw = nullptr;
    check(sd_bus_message_new_method_return(m, &raw), "Failed to create method reply");
    MessagePtr reply(raw);
    append(reply.get(), logs);
    return sd_bus_send(nullptr, reply.get(), nullptr);
  });
}

// ---- the interface

constexpr uint64_t kUnprivileged = SD_BUS_VTABLE_UNPRIVILEGED;
constexpr uint64_t kEmitsChange = SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE;
constexpr uint64_t kConst = SD_BUS_VTABLE_PROPERTY_CONST;
constexpr uint64_t kNoSignal = 0;

// Exactly the table sdbus-c++ built from the generated adaptor for every
// object: interface flags of a default sdbus::Flags, methods and then
// properties each in name order (its std::map), methods unprivileged (the
// access policy is ours, see ObjectContext::authorize), properties that emit
// PropertiesChanged with their values unless marked const or "false" in
// dbus/org.procman.Process.xml. The order is what introspection, GetAll and
// PropertiesChanged show.
const sd_bus_vtable kVtable[] = {
    SD_BUS_VTABLE_START(kUnprivileged | kEmitsChange),
    SD_BUS_METHOD_WITH_NAMES("GetLogs", "u", SD_BUS_PARAM(lines), "as", SD_BUS_PARAM(logs),
                             get_logs, kUnprivileged),
    SD_BUS_METHOD_WITH_NAMES("Kill", "si", SD_BUS_PARAM(whom) SD_BUS_PARAM(signal), "", "", kill,
                             kUnprivileged),
    SD_BUS_METHOD_WITH_NAMES("ResetFailed", "", "", "", "", reset_failed, kUnprivileged),
    SD_BUS_METHOD_WITH_NAMES("Restart", "s", SD_BUS_PARAM(mode), "s", SD_BUS_PARAM(state),
                             operate<Op::Restart>, kUnprivileged),
    SD_BUS_METHOD_WITH_NAMES("Start", "s", SD_BUS_PARAM(mode), "s", SD_BUS_PARAM(state),
                             operate<Op::Start>, kUnprivileged),
    SD_BUS_METHOD_WITH_NAMES("Stop", "s", SD_BUS_PARAM(mode), "s", SD_BUS_PARAM(state),
                             operate<Op::Stop>, kUnprivileged),
    property<prop::admin_goal>("AdminGoal", kEmitsChange),
    property<prop::apply_on>("ApplyOn", kEmitsChange),
    property<prop::cpu_usage_nsec>("CPUUsageNSec", kNoSignal),
    property<prop::command>("Command", kEmitsChange),
    property<prop::cron>("Cron", kEmitsChange),
    property<prop::depends_on>("DependsOn", kEmitsChange),
    property<prop::effective_config>("EffectiveConfig", kEmitsChange),
    property<prop::exit_timestamp>("ExitTimestamp", kEmitsChange),
    property<prop::failure_reason>("FailureReason", kEmitsChange),
    property<prop::health>("Health", kEmitsChange),
    property<prop::health_detail>("HealthDetail", kEmitsChange),
    property<prop::id>("Id", kConst),
    property<prop::instance>("Instance", kConst),
    property<prop::last_exit_code>("LastExitCode", kEmitsChange),
    property<prop::last_exit_signal>("LastExitSignal", kEmitsChange),
    property<prop::main_pid>("MainPID", kEmitsChange),
    property<prop::memory_current>("MemoryCurrent", kNoSignal),
    property<prop::metadata>("Metadata", kEmitsChange),
    property<prop::n_restarts>("NRestarts", kEmitsChange),
    property<prop::name>("Name", kConst),
    property<prop::next_change>("NextChange", kEmitsChange),
    property<prop::notify_status>("NotifyStatus", kEmitsChange),
    property<prop::restart>("Restart", kEmitsChange),
    property<prop::restart_pending>("RestartPending", kEmitsChange),
    property<prop::result>("Result", kEmitsChange),
    property<prop::run_time_usec>("RunTimeUSec", kEmitsChange),
    property<prop::schedule>("Schedule", kEmitsChange),
    property<prop::start_timestamp>("StartTimestamp", kEmitsChange),
    property<prop::state>("State", kEmitsChange),
    property<prop::status_text>("StatusText", kEmitsChange),
    property<prop::sub_state>("SubState", kEmitsChange),
    property<prop::transient>("Transient", kConst),
    property<prop::working_directory>("WorkingDirectory", kEmitsChange),
    SD_BUS_VTABLE_END,
};

void free_strv(char** v) {
  if (!v) return;
  for (char** p = v; *p; ++p) std::free(*p);
  std::free(v);
}

}  // namespace

int32_t last_exit_code(const core::UnitStatus& s) {
  if (!s.last_exit || !s.last_exit->known || s.last_exit->signaled) return -1;
  return s.last_exit->code;
}

std::string last_exit_signal(const core::UnitStatus& s) {
  if (!s.last_exit || !s.last_exit->known || !s.last_exit->signaled) return "";
  return core::signal_name(s.last_exit->code);
}

sd_bus* sd_bus_of(sdbus::IConnection& conn) {
  auto object = sdbus::createObject(conn, std::string(kManagerPath));
  sdbus::Signal probe = object->createSignal(kInterface, "Probe");
  sd_bus_message* m = sd_bus_message_of(probe);
  sd_bus* bus = m ? sd_bus_message_get_bus(m) : nullptr;
  if (!bus) throw sdbus::Error(SD_BUS_ERROR_FAILED, "the connection has no sd-bus bus");
  return bus;  // the connection keeps it alive
}

ProcessObjects::ProcessObjects(sdbus::IConnection& conn, ObjectContext& ctx)
    : bus_(sd_bus_ref(sd_bus_of(conn))), ctx_(ctx) {}

ProcessObjects::~ProcessObjects() {
  unregister();
  sd_bus_unref(bus_);
}

void ProcessObjects::insert(const std::string& name) {
  if (contains(name)) return;
  register_on_bus();
  uint64_t serial = 0;
  if (auto it = erased_.find(name); it != erased_.end()) {
    serial = it->second;
    erased_.erase(it);
  } else {
    serial = next_serial_++;
  }
  names_.emplace(name, serial);
}

void ProcessObjects::erase(const std::string& name) {
  auto it = names_.find(name);
  if (it == names_.end()) return;
  erased_.insert_or_assign(it->first, it->second);
  names_.erase(it);
}

void ProcessObjects::collect() {
  erased_.clear();
  if (names_.empty()) unregister();
}

void ProcessObjects::register_on_bus() {
  if (vtable_slot_) return;
  const char* dir = kProcessDirString.c_str();
  int r = sd_bus_add_fallback_vtable(bus_, &vtable_slot_, dir, kInterface, kVtable,
                                     &ProcessObjects::find, this);
  if (r >= 0) {
    r = sd_bus_add_node_enumerator(bus_, &enumerator_slot_, dir, &ProcessObjects::enumerate, this);
  }
  if (r >= 0) {
    r = sd_bus_add_object(bus_, &directory_slot_, dir, &ProcessObjects::directory_call, this);
  }
  if (r < 0) {
    unregister();
    throw sdbus::createError(-r, "Failed to register object vtable");
  }
}

void ProcessObjects::unregister() {
  // sd-bus holds its own reference on a slot while it runs one of its
  // callbacks, so this is safe even then (collect() is not called from one).
  directory_slot_ = sd_bus_slot_unref(directory_slot_);
  enumerator_slot_ = sd_bus_slot_unref(enumerator_slot_);
  vtable_slot_ = sd_bus_slot_unref(vtable_slot_);
}

int ProcessObjects::find(sd_bus* /*bus*/, const char* path, const char* /*interface*/,
                         void* userdata, void** found, sd_bus_error* /*error*/) {
  try {
    auto* self = static_cast<ProcessObjects*>(userdata);
    auto name = name_from_path(path);
    if (!name || !self->contains(*name)) return 0;
    *found = self;
    return 1;
  } catch (...) {
    return -ENOMEM;  // name_from_path allocates, and nothing else can throw
  }
}

int ProcessObjects::enumerate(sd_bus* /*bus*/, const char* prefix, void* userdata, char*** nodes,
                              sd_bus_error* /*error*/) {
  *nodes = nullptr;
  // sd-bus asks with the path a call is about. Only the process directory and
  // its ancestors contain processes; a process's own path (its introspection)
  // has no children, which we answer without building every path.
  std::string_view p(prefix);
  bool contains_processes = p == "/" || p == kProcessDir ||
                            (kProcessDir.substr(0, p.size()) == p &&
                             kProcessDir.size() > p.size() && kProcessDir[p.size()] == '/');
  if (!contains_processes) return 0;
  auto* self = static_cast<ProcessObjects*>(userdata);
  char** v = static_cast<char**>(std::calloc(self->names_.size() + 1, sizeof(char*)));
  if (!v) return -ENOMEM;
  try {
    // Newest first, as sd-bus listed the nodes of per-process objects.
    std::vector<std::pair<uint64_t, const std::string*>> order;
    order.reserve(self->names_.size());
    for (const auto& [name, serial] : self->names_) order.emplace_back(serial, &name);
    std::sort(order.begin(), order.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    std::size_t i = 0;
    for (const auto& [serial, name] : order) {
      v[i] = strdup(process_path(*name).c_str());
      if (!v[i]) throw std::bad_alloc();
      ++i;
    }
  } catch (...) {
    free_strv(v);
    return -ENOMEM;
  }
  *nodes = v;
  return 0;
}

int ProcessObjects::directory_call(sd_bus_message* m, void* userdata, sd_bus_error* /*error*/) {
  // The directory is no object, only the parent of the process objects: it
  // can be introspected (for the list of children) while there are any, and
  // every other call is UnknownObject, word for word sd-bus's own.
  auto* self = static_cast<ProcessObjects*>(userdata);
  if (!self->names_.empty() &&
      sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Introspectable", "Introspect") > 0) {
    return 0;  // sd-bus answers it
  }
  // (sd-bus hands objects method calls only.)
  int r = sd_bus_reply_method_errorf(m, SD_BUS_ERROR_UNKNOWN_OBJECT, "Unknown object '%s'.",
                                     sd_bus_message_get_path(m));
  return r < 0 ? r : 1;
}

void ProcessObjects::announce(const std::string& name) {
  int r = sd_bus_emit_object_added(bus_, process_path(name).c_str());
  if (r < 0) {
    throw sdbus::createError(-r,
                             "Failed to emit InterfacesAdded signal for all registered interfaces");
  }
}

void ProcessObjects::withdraw(const std::string& name) {
  int r = sd_bus_emit_object_removed(bus_, process_path(name).c_str());
  if (r < 0) {
    throw sdbus::createError(
        -r, "Failed to emit InterfacesRemoved signal for all registered interfaces");
  }
}

void ProcessObjects::emit_properties_changed(const std::string& name) {
  int r =
      sd_bus_emit_properties_changed_strv(bus_, process_path(name).c_str(), kInterface, nullptr);
  if (r < 0) throw sdbus::createError(-r, "Failed to emit PropertiesChanged signal");
}

}  // namespace procman::dbus
