#include "dbus/manager_object.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "core/state.h"
#include "dbus/object_path.h"
#include "dbus/transient_spec.h"

namespace procman::dbus {
namespace {

// getgrnam_r/getpwuid_r want a caller-sized buffer; grow it until the entry fits.
template <typename Entry, typename Lookup>
bool lookup_entry(Lookup&& lookup, Entry* entry, std::vector<char>* buf) {
  buf->resize(1024);
  for (;;) {
    Entry* found = nullptr;
    int r = lookup(entry, buf->data(), buf->size(), &found);
    if (r == ERANGE && buf->size() < (1u << 20)) {
      buf->resize(buf->size() * 2);
      continue;
    }
    return r == 0 && found != nullptr;
  }
}

// sdbus-c++ 1.2 keeps a Message's sd_bus_message* in the protected member
// msg_ and has no accessor for it. A member pointer formed in a derived class
// may be applied to any Message (no cast, no UB); the class is never instantiated.
struct MessageAccess : sdbus::Message {
  static sd_bus_message* raw(const sdbus::Message& m) {
    return static_cast<sd_bus_message*>(m.*(&MessageAccess::msg_));
  }
};

// The sender's credentials of a call, each nullopt when the bus cannot tell. Read
// from the sd-bus message, as sdbus-c++'s getCreds*() read them, for the Manager's
// calls and the Process objects' alike.
class Creds {
 public:
  explicit Creds(sd_bus_message* msg) : msg_(msg) {}
  std::optional<uid_t> uid() const {
    return ask<uid_t>(SD_BUS_CREDS_UID,
                      [](sd_bus_creds* c, uid_t* out) { return sd_bus_creds_get_uid(c, out); });
  }
  std::optional<gid_t> gid() const {
    return ask<gid_t>(SD_BUS_CREDS_GID,
                      [](sd_bus_creds* c, gid_t* out) { return sd_bus_creds_get_gid(c, out); });
  }
  std::optional<std::vector<gid_t>> supplementary_gids() const {
    return ask<std::vector<gid_t>>(SD_BUS_CREDS_SUPPLEMENTARY_GIDS,
                                   [](sd_bus_creds* c, std::vector<gid_t>* out) {
                                     const gid_t* gids = nullptr;
                                     int n = sd_bus_creds_get_supplementary_gids(c, &gids);
                                     if (n > 0 && gids) out->assign(gids, gids + n);
                                     return n;
                                   });
  }

 private:
  template <typename T, typename Get>
  std::optional<T> ask(uint64_t field, Get&& get) const {
    sd_bus_creds* creds = nullptr;
    if (sd_bus_query_sender_creds(msg_, field | SD_BUS_CREDS_AUGMENT, &creds) < 0) {
      return std::nullopt;
    }
    T value{};
    int r = get(creds, &value);
    sd_bus_creds_unref(creds);
    if (r < 0) return std::nullopt;
    return value;
  }
  sd_bus_message* msg_;
};

// Root, or a member of `group_name` by primary gid, supplementary gid or the
// group's member list. Anything the bus cannot tell us counts as "no".
bool is_admin(const Creds& creds, const std::string& group_name) {
  auto uid = creds.uid();
  if (!uid) return false;
  if (*uid == 0) return true;

  struct group gr {};
  std::vector<char> gbuf;
  if (!lookup_entry<struct group>(
          [&](struct group* g, char* b, std::size_t n, struct group** out) {
            return getgrnam_r(group_name.c_str(), g, b, n, out);
          },
          &gr, &gbuf)) {
    return false;
  }
  gid_t admin_gid = gr.gr_gid;

  if (auto gid = creds.gid(); gid && *gid == admin_gid) return true;
  if (auto gids = creds.supplementary_gids();
      gids && std::find(gids->begin(), gids->end(), admin_gid) != gids->end()) {
    return true;
  }
  struct passwd pw {};
  std::vector<char> pbuf;
  if (!lookup_entry<struct passwd>(
          [&](struct passwd* p, char* b, std::size_t n, struct passwd** out) {
            return getpwuid_r(*uid, p, b, n, out);
          },
          &pw, &pbuf)) {
    return false;
  }
  for (char** m = gr.gr_mem; m && *m; ++m) {
    if (std::string_view(*m) == pw.pw_name) return true;
  }
  return false;
}

sdbus::Error to_sdbus(const Error& e) { return sdbus::Error(e.name, e.message); }

// Replies are sent from wherever the backend finishes; a connection that went
// away in the meantime has nobody to answer, which is not the backend's problem.
template <typename Send>
void send_reply(Send&& send) {
  try {
    send();
  } catch (const sdbus::Error&) {
  }
}

}  // namespace

void throw_error(const Error& e) { throw to_sdbus(e); }

bool parse_mode(const std::string& mode) {
  if (mode.empty() || mode == "wait") return true;
  if (mode == "no-block") return false;
  throw sdbus::Error(kErrInvalidArgs,
                     fmt::format("invalid mode '{}': expected 'wait' or 'no-block'", mode));
}

std::string parse_whom(const std::string& whom) {
  if (whom.empty() || whom == "group") return "group";
  if (whom == "main") return "main";
  throw sdbus::Error(kErrInvalidArgs,
                     fmt::format("invalid whom '{}': expected 'group' or 'main'", whom));
}

void check_signal(int32_t signal) {
  if (signal < 1 || signal > 64) {
    throw sdbus::Error(kErrInvalidArgs,
                       fmt::format("invalid signal {}: expected a number from 1 to 64", signal));
  }
}

// ---- ObjectContext ----

ObjectContext::ObjectContext(Backend& backend, Policy policy)
    : backend_(backend),
      policy_(std::move(policy)),
      pending_(std::make_shared<std::map<uint64_t, Reply>>()) {}

// The pending replies go unanswered: their callers get an error from the bus
// when the connection closes right after.
ObjectContext::~ObjectContext() = default;

Caller ObjectContext::caller(const sdbus::IObject& object) const {
  Caller c;
  const sdbus::Message* msg = object.getCurrentlyProcessedMessage();
  if (!msg) return c;
  try {
    c.bus_name = msg->getSender();
  } catch (const sdbus::Error&) {
  }
  try {
    c.uid = msg->getCredsUid();
  } catch (const sdbus::Error&) {
  }
  try {
    c.pid = static_cast<uint32_t>(msg->getCredsPid());
  } catch (const sdbus::Error&) {
  }
  return c;
}

sd_bus_message* sd_bus_message_of(const sdbus::Message& msg) { return MessageAccess::raw(msg); }

void ObjectContext::authorize(const sdbus::IObject& object, std::string_view method) const {
  if (!policy_.check_access) return;
  const sdbus::Message* msg = object.getCurrentlyProcessedMessage();
  authorize(msg ? sd_bus_message_of(*msg) : nullptr, method);
}

void ObjectContext::authorize(sd_bus_message* call, std::string_view method) const {
  if (!policy_.check_access) return;
  if (call && is_admin(Creds(call), policy_.admin_group)) return;
  throw access_denied(method);
}

sdbus::Error ObjectContext::access_denied(std::string_view method) const {
  return sdbus::Error(kErrAccessDenied, fmt::format("{} requires root or membership of group '{}'",
                                                    method, policy_.admin_group));
}

const ProcessView& ObjectContext::view(const std::string& name) {
  auto it = views_.find(name);
  if (it != views_.end()) return it->second;
  auto v = backend_.process(name);
  if (!v) {
    if (auto err = backend_.check_name(name)) throw_error(*err);
    throw sdbus::Error(kErrNoSuchProcess, fmt::format("no process named '{}'", name));
  }
  return views_.emplace(name, std::move(*v)).first->second;
}

const ManagerView& ObjectContext::manager_view() {
  if (!manager_view_) manager_view_ = backend_.manager();
  return *manager_view_;
}

const Usage& ObjectContext::usage(const std::string& name) {
  auto it = usages_.find(name);
  if (it != usages_.end()) return it->second;
  return usages_.emplace(name, backend_.usage(name)).first->second;
}

void ObjectContext::invalidate() {
  views_.clear();
  manager_view_.reset();
  usages_.clear();
}

OpDone ObjectContext::keep(Reply reply) {
  uint64_t id = next_id_++;
  pending_->emplace(id, std::move(reply));
  return [weak = std::weak_ptr(pending_), id](OpResult r) {
    auto pending = weak.lock();
    if (!pending) return;
    auto it = pending->find(id);
    if (it == pending->end()) return;  // done called twice: the first answer stands
    Reply answer = std::move(it->second);
    pending->erase(it);
    answer(r);
  };
}

OpDone ObjectContext::hold(sdbus::Result<std::string>&& result) {
  auto held = std::make_shared<sdbus::Result<std::string>>(std::move(result));
  return keep([held](const OpResult& r) {
    send_reply([&] {
      if (r.error) {
        held->returnError(to_sdbus(*r.error));
      } else {
        held->returnResults(r.state);
      }
    });
  });
}

OpDone ObjectContext::hold(sdbus::Result<>&& result) {
  auto held = std::make_shared<sdbus::Result<>>(std::move(result));
  return keep([held](const OpResult& r) {
    send_reply([&] {
      if (r.error) {
        held->returnError(to_sdbus(*r.error));
      } else {
        held->returnResults();
      }
    });
  });
}

OpDone ObjectContext::hold(sd_bus_message* call) {
  std::shared_ptr<sd_bus_message> held(sd_bus_message_ref(call), sd_bus_message_unref);
  return keep([held](const OpResult& r) {
    // A failure means the connection is gone: nobody to answer.
    if (r.error) {
      sd_bus_error e = SD_BUS_ERROR_NULL;
      sd_bus_error_set(&e, r.error->name.c_str(), r.error->message.c_str());
      sd_bus_reply_method_error(held.get(), &e);
      sd_bus_error_free(&e);
    } else {
      sd_bus_reply_method_return(held.get(), "s", r.state.c_str());
    }
  });
}

// ---- ManagerObject ----

ManagerObject::ManagerObject(sdbus::IConnection& conn, ObjectContext& ctx)
    : AdaptorInterfaces(conn, std::string(kManagerPath)), ctx_(ctx) {
  registerAdaptor();
}

ManagerObject::~ManagerObject() { unregisterAdaptor(); }

void ManagerObject::emit_properties_changed() {
  getObject().emitPropertiesChangedSignal(org::procman::Manager_adaptor::INTERFACE_NAME);
}

std::vector<sdbus::Struct<std::string, std::string, std::string, std::string, int32_t, uint32_t,
                          std::string, sdbus::ObjectPath>>
ManagerObject::ListProcesses() {
  return translate(ctx_, [&] {
    std::vector<sdbus::Struct<std::string, std::string, std::string, std::string, int32_t, uint32_t,
                              std::string, sdbus::ObjectPath>>
        out;
    ctx_.backend().for_each_status([&](const core::UnitStatus& s) {
      out.emplace_back(s.name, s.id, std::string(core::state_name(s.state)), s.sub_state,
                       s.pid > 0 ? s.pid : 0, s.restarts, s.health,
                       sdbus::ObjectPath(process_path(s.name)));
    });
    return out;
  });
}

sdbus::ObjectPath ManagerObject::GetProcess(const std::string& name) {
  return translate(ctx_, [&] {
    if (auto err = ctx_.backend().check_name(name)) throw_error(*err);
    if (ctx_.backend().process(name)) return sdbus::ObjectPath(process_path(name));
    // A valid name without an object of its own: an id with instances.
    std::vector<std::string> instances;
    ctx_.backend().for_each_status([&](const core::UnitStatus& s) {
      if (s.id == name) instances.push_back(s.name);
    });
    if (instances.empty()) {
      throw sdbus::Error(kErrNoSuchProcess, fmt::format("no process named '{}'", name));
    }
    throw sdbus::Error(kErrNoSuchProcess,
                       fmt::format("'{}' has instances ({}); ask for one of them", name,
                                   fmt::join(instances, ", ")));
  });
}

void ManagerObject::operate(Op op, const char* method, sdbus::Result<std::string>&& result,
                            const std::string& name, const std::string& mode) {
  translate(ctx_, [&] {
    ctx_.authorize(getObject(), method);
    bool wait = parse_mode(mode);
    if (auto err = ctx_.backend().check_name(name)) throw_error(*err);
    // From here on the reply belongs to the backend's done callback.
    ctx_.backend().operate(op, name, wait, ctx_.hold(std::move(result)));
  });
}

void ManagerObject::StartProcess(sdbus::Result<std::string>&& result, std::string name,
                                 std::string mode) {
  operate(Op::Start, "StartProcess", std::move(result), name, mode);
}

void ManagerObject::StopProcess(sdbus::Result<std::string>&& result, std::string name,
                                std::string mode) {
  operate(Op::Stop, "StopProcess", std::move(result), name, mode);
}

void ManagerObject::RestartProcess(sdbus::Result<std::string>&& result, std::string name,
                                   std::string mode) {
  operate(Op::Restart, "RestartProcess", std::move(result), name, mode);
}

void ManagerObject::KillProcess(const std::string& name, const std::string& whom,
                                const int32_t& signal) {
  translate(ctx_, [&] {
    ctx_.authorize(getObject(), "KillProcess");
    std::string w = parse_whom(whom);
    check_signal(signal);
    if (auto err = ctx_.backend().kill(name, w, signal)) throw_error(*err);
  });
}

void ManagerObject::ResetFailed(const std::string& name) {
  translate(ctx_, [&] {
    ctx_.authorize(getObject(), "ResetFailed");
    if (auto err = ctx_.backend().reset_failed(name)) throw_error(*err);
  });
}

std::tuple<std::string, sdbus::ObjectPath> ManagerObject::RunTransient(
    const std::string& name, const std::map<std::string, sdbus::Variant>& properties) {
  return translate(ctx_, [&] {
    ctx_.authorize(getObject(), "RunTransient");
    auto spec = spec_from_properties(name, properties);
    if (auto* err = std::get_if<Error>(&spec)) throw_error(*err);
    auto given = ctx_.backend().run_transient(std::get<TransientSpec>(spec));
    if (auto* err = std::get_if<Error>(&given)) throw_error(*err);
    const auto& assigned = std::get<std::string>(given);
    return std::tuple<std::string, sdbus::ObjectPath>(assigned,
                                                      sdbus::ObjectPath(process_path(assigned)));
  });
}

void ManagerObject::RemoveProcess(sdbus::Result<>&& result, std::string name) {
  translate(ctx_, [&] {
    ctx_.authorize(getObject(), "RemoveProcess");
    if (auto err = ctx_.backend().check_name(name)) throw_error(*err);
    ctx_.backend().remove(name, ctx_.hold(std::move(result)));
  });
}

std::vector<std::string> ManagerObject::GetProcessLogs(const std::string& name,
                                                       const uint32_t& lines) {
  return translate(ctx_, [&] {
    auto logs = ctx_.backend().logs(name, lines);
    if (auto* err = std::get_if<Error>(&logs)) throw_error(*err);
    return std::move(std::get<std::vector<std::string>>(logs));
  });
}

std::vector<sdbus::Struct<uint64_t, uint64_t, bool, std::string>> ManagerObject::ReadLogs(
    const std::string& name, const uint64_t& after, const uint32_t& max) {
  return translate(ctx_, [&] {
    auto lines = ctx_.backend().read_logs(name, after, max);
    if (auto* err = std::get_if<Error>(&lines)) throw_error(*err);
    std::vector<sdbus::Struct<uint64_t, uint64_t, bool, std::string>> out;
    for (auto& l : std::get<std::vector<LogLine>>(lines)) {
      out.emplace_back(l.seq, l.realtime_usec, l.is_stderr, std::move(l.text));
    }
    return out;
  });
}

std::tuple<std::vector<std::string>, std::vector<std::string>, std::vector<std::string>,
           std::vector<std::string>>
ManagerObject::Reload() {
  return translate(ctx_, [&] {
    ctx_.authorize(getObject(), "Reload");
    auto r = ctx_.backend().reload();
    if (auto* err = std::get_if<Error>(&r)) throw_error(*err);
    auto& rr = std::get<ReloadResult>(r);
    return std::make_tuple(std::move(rr.added), std::move(rr.removed), std::move(rr.restarted),
                           std::move(rr.pending));
  });
}

void ManagerObject::Shutdown(const std::string& message) {
  translate(ctx_, [&] {
    ctx_.authorize(getObject(), "Shutdown");
    if (auto err = ctx_.backend().shutdown(ctx_.caller(getObject()), message)) throw_error(*err);
  });
}

template <typename Fn>
auto ManagerObject::property(Fn&& fn) -> decltype(fn(std::declval<const ManagerView&>())) {
  try {
    return fn(ctx_.manager_view());
  } catch (const sdbus::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw sdbus::Error(kErrFailed, e.what());
  }
}

std::string ManagerObject::Version() {
  return property([](const ManagerView& m) { return m.version; });
}
std::string ManagerObject::ConfigPath() {
  return property([](const ManagerView& m) { return m.config_path; });
}
std::string ManagerObject::ConfigUid() {
  return property([](const ManagerView& m) { return m.config_uid; });
}
std::string ManagerObject::LogTarget() {
  return property([](const ManagerView& m) { return m.log_target; });
}

std::string ManagerObject::FifoPath() {
  return property([](const ManagerView& m) { return m.fifo_path; });
}
std::string ManagerObject::StateDirectory() {
  return property([](const ManagerView& m) { return m.state_dir; });
}
std::string ManagerObject::State() {
  return property([](const ManagerView& m) { return m.state; });
}
std::string ManagerObject::StatusText() {
  return property([](const ManagerView& m) { return m.status_text; });
}
uint32_t ManagerObject::ProcessCount() {
  return property([](const ManagerView& m) { return m.process_count; });
}
std::map<std::string, uint32_t> ManagerObject::Counts() {
  return property([](const ManagerView& m) { return m.counts; });
}

}  // namespace procman::dbus
