// The daemon's front doors: the dbus::Backend the D-Bus objects call, the
// FIFO and the controller (which speak the same JSON line protocol), event
// hooks, and the completion of operations that reply when they are done.
// Every entry point here runs on the event loop, like everything else.
#include <algorithm>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/calendar.h"
#include "core/cron.h"
#include "core/describe.h"
#include "core/event.h"
#include "core/fifo_protocol.h"
#include "core/names.h"
#include "core/suggest.h"
#include "os/local_time.h"
#include "os/proc.h"
#include "os/spawner.h"
#include "procmand/daemon.h"

namespace procman {
namespace {

int64_t realtime_now_usec() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

dbus::Error failed(std::string message) { return dbus::Error{dbus::kErrFailed, std::move(message)}; }

core::OpKind op_kind(dbus::Op op) {
  switch (op) {
    case dbus::Op::Start: return core::OpKind::Start;
    case dbus::Op::Stop: return core::OpKind::Stop;
    case dbus::Op::Restart: return core::OpKind::Restart;
  }
  return core::OpKind::Start;
}

std::string user_name(uint32_t uid) {
  if (const passwd* pw = getpwuid(uid)) return pw->pw_name;
  return std::to_string(uid);
}

}  // namespace

// ---------------------------------------------------------------- opening

bool Daemon::open_front_doors() {
  if (!opts_.no_fifo) {
    std::string error;
    if (opts_.fifo_path) fifo_path_ = *opts_.fifo_path;
    else fifo_path_ = os::fifo_path_for_config(opts_.config_path, &error).value_or("");
    // Socket activation (procman.socket, ListenFIFO=): the FIFO is already open
    // and may hold the line that started us; take it instead of making our own.
    std::vector<os::unique_fd> passed = up_.take("fifo");
    if (!passed.empty()) {
      char target[4096];
      const std::string link = fmt::format("/proc/self/fd/{}", passed.front().get());
      const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
      if (n > 0 && target[0] == '/') fifo_path_.assign(target, static_cast<std::size_t>(n));
      fifo_ = os::FifoServer::adopt(
          loop_, std::move(passed.front()), fifo_path_,
          [this](std::string_view line) { on_command_line(line, "fifo"); },
          [this](const std::string& e) { console_.warning("fifo: " + e); }, &error);
      if (fifo_) console_.notice(fmt::format("fifo {} passed by the service manager", fifo_path_));
    } else if (!fifo_path_.empty()) {
      fifo_ = os::FifoServer::create(
          loop_, fifo_path_, [this](std::string_view line) { on_command_line(line, "fifo"); },
          [this](const std::string& e) { console_.warning("fifo: " + e); }, &error);
    }
    if (!fifo_) {
      console_.warning(fmt::format("fifo: {}; scripts cannot reach procmand through it", error));
      fifo_path_.clear();
    }
  }
  if (opts_.bus != BusChoice::None) {
    dbus::ServiceOptions so;
    so.bus = opts_.bus == BusChoice::System ? dbus::BusKind::System : dbus::BusKind::Session;
    so.bus_name = opts_.bus_name;
    std::string error;
    bus_ = dbus::Service::open(loop_, *this, so, &error);
    if (!bus_) {
      // No bus at all (a bare terminal) is fine; a bus whose name another
      // procmand owns is not: procmanctl would silently talk to that one.
      if (error.find("already owned") != std::string::npos || error.find("cannot own the name") != std::string::npos) {
        console_.error(fmt::format("D-Bus: {}; give a second procmand its own --bus-name", error));
        return false;
      }
      console_.warning(fmt::format("D-Bus: {}; continuing without it", error));
    }
  }
  if (config_->controller) {
    Controller::Callbacks cb;
    cb.env = [this] {
      std::vector<std::string> env;
      for (const auto& [k, v] : base_env_) env.push_back(k + "=" + v);
      for (const auto& [k, v] : config_->controller->env) env.push_back(k + "=" + v);
      env.push_back("PROCMAN_CONFIG=" + opts_.config_path);
      env.push_back("PROCMAN_UID=" + config_->uid);
      if (!fifo_path_.empty()) env.push_back("PROCMAN_FIFO=" + fifo_path_);
      return env;
    };
    cb.hello = [this] { return core::hello_event_json(PROCMAN_VERSION, opts_.config_path, sup_->status()); };
    cb.command = [this](std::string_view line) { on_command_line(line, "controller"); };
    controller_ = std::make_unique<Controller>(loop_, console_, *config_->controller, config_dir_, std::move(cb));
    controller_->start();
  }
  return true;
}

void Daemon::close_front_doors() {
  for (auto& o : ops_.cancel_all("procmand is shutting down")) {
    if (auto it = op_done_.find(o.id); it != op_done_.end()) {
      auto done = std::move(it->second);
      op_done_.erase(it);
      done(dbus::OpResult{dbus::Error{dbus::kErrShuttingDown, o.message}, o.state});
    }
  }
  fifo_.reset();
  bus_.reset();
  controller_.reset();
}

// ---------------------------------------------------------------- events out

void Daemon::notify_front_doors(const core::UnitStatus& unit, core::State from, std::string_view reason) {
  // An exit is reported once the unit has no pid any more; events name the one that ended.
  const int last = unit.pid > 0 ? unit.pid : unit.last_pid;
  ops_.on_transition(unit, from);
  if (bus_) {
    bus_->process_changed(unit, from, reason);
    bus_->manager_changed();
  }
  if (controller_ && controller_->running())
    controller_->send(core::state_event_json(unit, from, reason, realtime_now_usec(), last));
  fire_event_hooks(unit, from, reason, last);
}

void Daemon::unit_added(const core::UnitStatus& unit) {
  console_.reserve(unit.name);
  if (bus_) {
    bus_->process_added(unit.name);
    bus_->manager_changed();
  }
  if (controller_ && controller_->running()) controller_->send(core::added_event_json(unit.name));
}

void Daemon::unit_removed(const std::string& name) {
  ops_.on_removed(name);
  drop_listeners(name);
  transients_.erase(name);
  if (bus_) {
    bus_->process_removed(name);
    bus_->manager_changed();
  }
  if (controller_ && controller_->running()) controller_->send(core::removed_event_json(name));
}

void Daemon::complete_ops() {
  if (ops_.empty()) return;
  auto lookup = [this](std::string_view n) { return sup_->find(n); };
  for (auto& o : ops_.take_ready(lookup)) {
    auto it = op_done_.find(o.id);
    if (it == op_done_.end()) continue;
    auto done = std::move(it->second);
    op_done_.erase(it);
    if (o.ok) done(dbus::OpResult{std::nullopt, o.state});
    else done(dbus::OpResult{failed(o.message), o.state});
  }
}

void Daemon::fire_event_hooks(const core::UnitStatus& unit, core::State from, std::string_view reason,
                              int last_pid) {
  const core::ProcessConfig* cfg = sup_->effective_config(unit.name);
  if (!cfg || (!cfg->on_start && !cfg->on_exit && !cfg->on_failure)) return;
  for (core::EventKind kind : core::hook_events(unit, from)) {
    const core::Box<core::Hook>& hook = kind == core::EventKind::Start  ? cfg->on_start
                                            : kind == core::EventKind::Exit ? cfg->on_exit
                                                                            : cfg->on_failure;
    if (!hook) continue;
    const std::string kind_name(core::event_kind_name(kind));
    std::string error;
    std::vector<std::string> env = build_env(unit, *cfg, &error);
    if (env.empty()) {
      console_.warning(fmt::format("{} on-{} hook not run: {}", unit.name, kind_name, error));
      continue;
    }
    for (const auto& [k, v] : core::event_env(kind, unit, from, reason, last_pid)) env.push_back(k + "=" + v);
    Io& io = io_for(unit.name);
    os::unique_fd out_fd = io.out ? io.out->open_child_end(&error) : os::unique_fd();
    os::unique_fd err_fd = io.err ? io.err->open_child_end(&error) : os::unique_fd();
    os::SpawnRequest req;
    req.want_pidfd = false;  // reaped on SIGCHLD
    req.argv = {"/bin/sh", "-c", hook->command};
    req.env = std::move(env);
    req.work_dir = work_dir_for(*cfg);
    req.stdout_fd = out_fd.get();
    req.stderr_fd = err_fd.get();
    req.user = cfg->user;
    req.group = cfg->group;
    req.umask = cfg->umask;
    os::SpawnResult r = os::spawn(req);
    if (!r.error.empty()) {
      console_.warning(fmt::format("{} on-{} hook: {}", unit.name, kind_name, r.error));
      continue;
    }
    const pid_t pid = r.pid;
    const uint64_t timeout_us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(hook->timeout).count());
    EventHook h{unit.name, kind_name, {}};
    // A hook that hangs is killed: it must never pile up or keep shutdown waiting.
    h.timeout = loop_.add_timer(os::EventLoop::now_usec() + timeout_us, [this, pid] {
      if (auto it = event_hooks_.find(pid); it != event_hooks_.end()) {
        console_.warning(fmt::format("{} on-{} hook timed out; killing it", it->second.unit, it->second.kind));
        os::signal_group(pid, SIGKILL);
      }
    });
    event_hooks_.emplace(pid, std::move(h));
  }
}

void Daemon::on_event_hook_exit(pid_t pid, const core::ExitInfo& exit) {
  auto it = event_hooks_.find(pid);
  if (it == event_hooks_.end()) return;
  if (!(exit.known && !exit.signaled && exit.code == 0))
    console_.warning(fmt::format("{} on-{} hook {}", it->second.unit, it->second.kind, core::describe_exit(exit)));
  graveyard_.push_back(std::move(it->second.timeout));
  event_hooks_.erase(it);
}

// ---------------------------------------------------------------- commands in (FIFO, controller)

void Daemon::on_command_line(std::string_view line, std::string_view source) {
  auto parsed = core::parse_fifo_line(line);
  const bool from_controller = source == "controller";
  auto reply = [&](const std::string& request_id, const std::optional<std::string>& error) {
    if (from_controller && controller_ && controller_->running())
      controller_->send(core::reply_event_json(request_id, error));
  };
  if (auto* err = std::get_if<std::string>(&parsed)) {
    console_.warning(fmt::format("{}: skipped a bad line: {}", source, *err));
    reply("", *err);
    return;
  }
  const core::FifoMessage& msg = std::get<core::FifoMessage>(parsed);
  if (const auto* run = std::get_if<core::FifoRun>(&msg)) {
    const core::UnitStatus* existing = sup_->find(run->name);
    if (existing && !sup_->transient_config(existing->id)) {
      const std::string e = fmt::format("'{}' is a process of the config file; send a start message instead", run->name);
      console_.warning(fmt::format("{}: run skipped: {}", source, e));
      reply(run->request_id, e);
      return;
    }
    core::TransientRequest req;
    req.name = run->name;
    req.command = run->run;
    req.env = run->env;
    req.depends = run->depends;
    // $VAR in dependency targets, as seed 000 does: the message's env over procmand's.
    std::map<std::string, std::string> env = base_env_;
    for (const auto& [k, v] : run->env) env[k] = v;
    if (auto e = core::expand_fifo_depends(req.depends, env)) {
      console_.warning(fmt::format("{}: run '{}' refused: {}", source, run->name, *e));
      reply(run->request_id, *e);
      return;
    }
    req.once = run->once;
    req.unique = true;  // seed 000: a repeated name becomes name.1, name.2...
    auto r = add_transient(std::move(req));
    if (auto* e = std::get_if<dbus::Error>(&r)) {
      console_.warning(fmt::format("{}: run '{}' refused: {}", source, run->name, e->message));
      reply(run->request_id, e->message);
    } else {
      console_.notice(fmt::format("{} submitted via {}", std::get<std::string>(r), source));
      reply(run->request_id, std::nullopt);
    }
    return;
  }
  if (const auto* sd = std::get_if<core::FifoShutdown>(&msg)) {
    const std::string who = sd->user.empty() ? std::string("someone") : sd->user;
    const std::string why = sd->message.empty() ? fmt::format("shutdown requested via {}", source) : sd->message;
    reply(sd->request_id, std::nullopt);
    begin_shutdown(fmt::format("shutdown via {}: {}: {}", source, who, why));
    return;
  }
  const auto& ctl = std::get<core::FifoControl>(msg);
  std::string error;
  if (auto e = unknown_name(ctl.name)) {
    error = e->message;
  } else {
    switch (ctl.kind) {
      case core::FifoControl::Kind::Start: error = sup_->start(ctl.name); break;
      case core::FifoControl::Kind::Stop: error = sup_->stop(ctl.name); break;
      case core::FifoControl::Kind::Restart: error = sup_->restart(ctl.name); break;
    }
  }
  if (!error.empty()) console_.warning(fmt::format("{}: {}", source, error));
  reply(ctl.request_id, error.empty() ? std::nullopt : std::optional<std::string>(error));
}

// ---------------------------------------------------------------- Backend: reading

std::string Daemon::status_text() const {
  // The order an admin scans in: what works, what is wrong, what waits.
  static constexpr core::State kOrder[] = {
      core::State::Running, core::State::Starting,      core::State::Init,
      core::State::Before,  core::State::Pending,       core::State::Backoff,
      core::State::Failed,  core::State::StartLimitHit, core::State::Stopping,
      core::State::Stopped, core::State::ExitedOk};
  std::string out;
  for (core::State s : kOrder) {
    const unsigned n = sup_->count_in(s);
    if (!n) continue;
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, core::state_name(s));
  }
  return out.empty() ? std::string("no processes") : out;
}

dbus::ManagerView Daemon::manager() {
  dbus::ManagerView m;
  m.version = PROCMAN_VERSION;
  m.config_path = opts_.config_path;
  m.config_uid = config_ ? config_->uid : "";
  m.fifo_path = fifo_path_;
  m.log_target = journal_ ? "journal" : "console";
  m.state_dir = state_dir_;
  m.state = daemon_state_;
  m.status_text = status_text();
  for (auto s = static_cast<int>(core::State::Pending);
       s <= static_cast<int>(core::State::StartLimitHit); ++s) {
    const unsigned n = sup_->count_in(static_cast<core::State>(s));
    m.process_count += n;
    if (n) m.counts[std::string(core::state_name(static_cast<core::State>(s)))] = n;
  }
  return m;
}

void Daemon::index_config() {
  apply_on_by_id_.clear();
  if (!config_) return;
  for (const auto& p : config_->processes)
    if (p.apply_on) apply_on_by_id_[p.id].push_back(*p.apply_on);
}

dbus::ProcessView Daemon::view_of(const core::UnitStatus& u) const {
  dbus::ProcessView v;
  v.status = u;
  // What the process says about itself (STATUS=) beats what procmand says about it,
  // as systemd's StatusText does.
  if (!u.notify_status.empty()) v.status.status_text = u.notify_status;
  const core::ProcessConfig* cfg = sup_->effective_config(u.name);
  if (!cfg) return v;
  v.transient = cfg->transient;
  if (cfg->command) v.command = cfg->command->line;
  v.work_dir = work_dir_for(*cfg);
  for (const auto& d : cfg->depends_on) v.depends_on.push_back(core::dependency_text(d));
  v.restart = core::restart_name(cfg->restart);
  if (cfg->apply_on) v.apply_on = core::format_local_datetime(*cfg->apply_on);
  if (cfg->schedule) v.schedule = core::schedule_text(*cfg->schedule);
  if (cfg->cron_text) v.cron = *cfg->cron_text;
  // The next local time something changes for this process: its window
  // opens or closes, its next cron tick, or a later version takes over.
  const core::LocalDateTime now = local();
  std::optional<core::LocalDateTime> next;
  auto consider = [&](std::optional<core::LocalDateTime> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  if (cfg->schedule) consider(core::schedule_next_change(*cfg->schedule, now));
  if (cfg->cron) consider(core::cron_next(*cfg->cron, now));
  if (auto it = apply_on_by_id_.find(u.id); it != apply_on_by_id_.end())
    for (const auto& t : it->second)
      if (t > now) consider(t);
  if (next) v.next_change = core::format_local_datetime(*next);
  v.effective_json = core::process_json(*cfg).dump();
  v.meta = cfg->meta;
  return v;
}

std::vector<dbus::ProcessView> Daemon::processes() {
  std::vector<dbus::ProcessView> out;
  for (const auto& u : sup_->status()) out.push_back(view_of(u));
  return out;
}

void Daemon::for_each_status(const std::function<void(const core::UnitStatus&)>& fn) {
  sup_->for_each_status(fn);
}

std::optional<dbus::ProcessView> Daemon::process(std::string_view name) {
  const core::UnitStatus* u = sup_->find(name);
  if (!u) return std::nullopt;
  return view_of(*u);
}

dbus::Usage Daemon::usage(std::string_view name) {
  dbus::Usage out;
  const core::UnitStatus* u = sup_->find(name);
  if (!u) return out;
  if (cgroups_) {
    // The cgroup's own accounting covers everything the process ever started,
    // including what already exited (CPU) and what left its process group.
    const auto cpu = cgroups_->cpu_usage_usec(u->name);
    const auto mem = cgroups_->memory_current(u->name);
    if (cpu) out.cpu_nsec = *cpu * 1000;
    if (mem) out.memory_bytes = *mem;
    if (cpu && mem) return out;
    if (!mem)
      for (pid_t pid : cgroups_->pids(u->name))
        if (auto pu = os::process_usage(pid)) out.memory_bytes += pu->rss_bytes;
    if (cpu) return out;
  }
  if (u->pgid <= 0) return out;
  // The whole tree of the process: every live member of its group. Finding the members
  // takes a pass over /proc, so one pass serves every call for a second (a status of all
  // asks for each process in turn); the main process itself is always counted, fresh.
  // The map holds every process group on the system: it goes when the second is over.
  const auto now = std::chrono::steady_clock::now();
  if (!groups_at_ || now - *groups_at_ > kGroupsFresh) {
    groups_ = os::process_groups();
    groups_at_ = now;
    groups_expiry_.set_time(
        os::EventLoop::now_usec() +
        std::chrono::duration_cast<std::chrono::microseconds>(kGroupsFresh).count());
  }
  std::vector<pid_t> members;
  if (auto it = groups_.find(u->pgid); it != groups_.end()) members = it->second;
  if (u->pid > 0 && std::find(members.begin(), members.end(), u->pid) == members.end())
    members.push_back(u->pid);
  for (pid_t pid : members) {
    if (auto pu = os::process_usage(pid)) {
      out.cpu_nsec += pu->cpu_usec * 1000;
      out.memory_bytes += pu->rss_bytes;
    }
  }
  return out;
}

std::optional<dbus::Error> Daemon::unknown_name(std::string_view name) const {
  if (name.empty()) return dbus::Error{dbus::kErrInvalidArgs, "a process name is required"};
  if (!sup_->resolve(name).empty()) return std::nullopt;
  std::vector<std::string> names;
  for (const auto& u : sup_->status()) {
    names.push_back(u.name);
    if (u.name != u.id) names.push_back(u.id);
  }
  std::string msg = fmt::format("no process named '{}'", name);
  if (auto m = core::closest_match(name, names)) msg += fmt::format(" (did you mean '{}'?)", *m);
  return dbus::Error{dbus::kErrNoSuchProcess, msg};
}

std::optional<dbus::Error> Daemon::check_name(std::string_view name) { return unknown_name(name); }

std::variant<std::vector<os::JournalEntry>, dbus::Error> Daemon::journal_tail(const std::vector<std::string>& units,
                                                                             std::size_t n) {
  std::string error;
  auto reader = os::JournalReader::open(&error);
  if (!reader) return dbus::Error{dbus::kErrFailed, fmt::format("output goes to the journal, which procmand {}", error)};
  for (const auto& u : units)
    if (!reader->match("SYSLOG_IDENTIFIER=" + u, &error)) return dbus::Error{dbus::kErrFailed, error};
  auto entries = reader->tail(n, &error);
  if (!error.empty()) return dbus::Error{dbus::kErrFailed, error};
  return entries;
}

std::variant<std::vector<std::string>, dbus::Error> Daemon::logs(std::string_view name, uint32_t lines) {
  if (auto e = unknown_name(name)) return *e;
  std::vector<std::string> out;
  if (journal_) {
    auto r = journal_tail(sup_->resolve(name), lines == 0 ? 200 : lines);
    if (auto* e = std::get_if<dbus::Error>(&r)) return *e;
    for (auto& entry : std::get<std::vector<os::JournalEntry>>(r)) out.push_back(std::move(entry.message));
    return out;
  }
  for (const auto& unit : sup_->resolve(name)) {
    drain_io(unit);
    auto it = io_.find(unit);
    if (it == io_.end()) continue;
    const auto& ring = it->second.ring;
    for (const auto& e : ring.last(lines == 0 ? ring.size() : lines)) out.push_back(e.line);
  }
  return out;
}

std::variant<std::vector<dbus::LogLine>, dbus::Error> Daemon::read_logs(std::string_view name, uint64_t after,
                                                                        uint32_t max) {
  if (auto e = unknown_name(name)) return *e;
  if (!sup_->find(name))
    return dbus::Error{dbus::kErrInvalidArgs,
                       fmt::format("'{}' has instances; read the logs of one of them (e.g. {}@0)", name, name)};
  std::vector<dbus::LogLine> out;
  const std::string unit(name);
  if (journal_) {
    // The journal's realtime stamp serves as the sequence number: entries come in order.
    auto r = journal_tail({unit}, max == 0 ? 1000 : max);
    if (auto* e = std::get_if<dbus::Error>(&r)) return *e;
    for (auto& entry : std::get<std::vector<os::JournalEntry>>(r))
      if (entry.realtime_usec > after)
        out.push_back(dbus::LogLine{entry.realtime_usec, entry.realtime_usec, entry.priority >= 0 && entry.priority <= 4,
                                    std::move(entry.message)});
    return out;
  }
  drain_io(unit);
  auto it = io_.find(unit);
  if (it == io_.end()) return out;
  for (const auto& e : it->second.ring.since(after, max))
    out.push_back(dbus::LogLine{e.seq, e.realtime_usec, e.is_stderr, e.line});
  return out;
}

// ---------------------------------------------------------------- Backend: acting

void Daemon::operate(dbus::Op op, std::string_view name, bool wait, dbus::OpDone done) {
  if (sup_->shutting_down()) {
    done(dbus::OpResult{dbus::Error{dbus::kErrShuttingDown, "procmand is shutting down"}, ""});
    return;
  }
  if (auto e = unknown_name(name)) {
    done(dbus::OpResult{*e, ""});
    return;
  }
  std::string error;
  switch (op) {
    case dbus::Op::Start: error = sup_->start(name); break;
    case dbus::Op::Stop: error = sup_->stop(name); break;
    case dbus::Op::Restart: error = sup_->restart(name); break;
  }
  if (!error.empty()) {
    done(dbus::OpResult{failed(error), ""});
    return;
  }
  std::vector<std::string> units = sup_->resolve(name);
  if (!wait) {
    const core::UnitStatus* last = sup_->find(units.back());
    done(dbus::OpResult{std::nullopt, last ? std::string(core::state_name(last->state)) : ""});
    return;
  }
  auto lookup = [this](std::string_view n) { return sup_->find(n); };
  const uint64_t id = ops_.add(op_kind(op), std::move(units), lookup);
  op_done_.emplace(id, std::move(done));
}

std::optional<dbus::Error> Daemon::kill(std::string_view name, std::string_view whom, int sig) {
  if (auto e = unknown_name(name)) return e;
  core::KillWhom w;
  if (whom.empty() || whom == "group") w = core::KillWhom::Group;
  else if (whom == "main") w = core::KillWhom::Main;
  else return dbus::Error{dbus::kErrInvalidArgs, fmt::format("whom must be 'group' or 'main', not '{}'", whom)};
  if (sig < 1 || sig > 64) return dbus::Error{dbus::kErrInvalidArgs, fmt::format("invalid signal number {}", sig)};
  std::string error = sup_->kill(name, w, sig);
  if (!error.empty()) return failed(error);
  console_.notice(fmt::format("{}: sent {} to its {}", name, core::signal_name(sig),
                              w == core::KillWhom::Main ? "main process" : "process group"));
  return std::nullopt;
}

std::optional<dbus::Error> Daemon::reset_failed(std::string_view name) {
  if (auto e = unknown_name(name)) return e;
  std::string error = sup_->reset_failed(name);
  if (!error.empty()) return failed(error);
  return std::nullopt;
}

std::variant<std::string, dbus::Error> Daemon::add_transient(core::TransientRequest req) {
  if (sup_->shutting_down()) return dbus::Error{dbus::kErrShuttingDown, "procmand is shutting down"};
  auto taken = [this](std::string_view n) { return !sup_->resolve(n).empty(); };
  auto made = core::make_transient(req, taken, names_);
  if (auto* e = std::get_if<std::string>(&made)) {
    const bool exists = e->find("already exists") != std::string::npos;
    return dbus::Error{exists ? dbus::kErrAlreadyExists : dbus::kErrInvalidArgs, *e};
  }
  core::ProcessConfig cfg = std::move(std::get<core::ProcessConfig>(made));
  const std::string name = cfg.id;
  req.name = name;
  // Known before the unit exists, so the state written on its first
  // transition already carries what is needed to re-create it.
  transients_[name] = req;
  std::string error = sup_->add_transient(std::move(cfg));
  if (!error.empty()) {
    transients_.erase(name);
    return dbus::Error{dbus::kErrInvalidArgs, error};
  }
  return name;
}

std::variant<std::string, dbus::Error> Daemon::run_transient(const dbus::TransientSpec& spec) {
  core::TransientRequest req;
  req.name = spec.name;
  req.command = spec.command;
  req.argv = spec.argv;
  for (const auto& kv : spec.environment) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return dbus::Error{dbus::kErrInvalidArgs, fmt::format("Environment entry '{}' is not KEY=VALUE", kv)};
    req.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  req.work_dir = spec.work_dir;
  req.once = spec.once;
  for (const auto& d : spec.depends_on) {
    core::Dependency dep;
    dep.kind = core::Dependency::Kind::Process;
    dep.id = d;
    dep.condition = core::DepCondition::Running;
    req.depends.push_back(dep);
  }
  req.restart = spec.restart;
  req.stop_signal = spec.stop_signal;
  if (spec.stop_timeout_usec)
    req.stop_timeout = std::chrono::duration_cast<core::Duration>(std::chrono::microseconds(*spec.stop_timeout_usec));
  req.meta = spec.meta;
  req.unique = spec.unique;
  auto r = add_transient(std::move(req));
  if (auto* name = std::get_if<std::string>(&r))
    console_.notice(fmt::format("{}: transient process added over D-Bus", *name));
  return r;
}

void Daemon::remove(std::string_view name, dbus::OpDone done) {
  if (auto e = unknown_name(name)) {
    done(dbus::OpResult{*e, ""});
    return;
  }
  std::vector<std::string> units = sup_->resolve(name);
  std::string error = sup_->remove(name);
  if (!error.empty()) {
    done(dbus::OpResult{failed(error), ""});
    return;
  }
  auto lookup = [this](std::string_view n) { return sup_->find(n); };
  const uint64_t id = ops_.add(core::OpKind::Remove, std::move(units), lookup);
  op_done_.emplace(id, std::move(done));
}

std::variant<dbus::ReloadResult, dbus::Error> Daemon::reload() {
  if (sup_->shutting_down()) return dbus::Error{dbus::kErrShuttingDown, "procmand is shutting down"};
  daemon_state_ = "reloading";
  up_.reloading();
  if (bus_) bus_->manager_changed();
  std::string errors;
  auto cfg = load_config(true, &errors);
  auto done = [this] {
    daemon_state_ = "running";
    up_.ready(status_text());
    if (bus_) bus_->manager_changed();
  };
  if (!cfg) {
    done();
    return dbus::Error{dbus::kErrInvalidConfig, errors};
  }
  if (cfg->uid != config_->uid) {
    done();
    const std::string e = fmt::format("reload refused: uid changed from {} to {}; restart procmand to switch",
                                      config_->uid, cfg->uid);
    console_.error(e);
    return dbus::Error{dbus::kErrInvalidConfig, e};
  }
  for (const auto& p : cfg->processes) {
    if (sup_->transient_config(p.id)) {
      done();
      const std::string e = fmt::format(
          "reload refused: {}:{}: process '{}' has the name of a running transient process; remove that first",
          opts_.config_path, p.pos.line, p.id);
      console_.error(e);
      return dbus::Error{dbus::kErrInvalidConfig, e};
    }
  }
  const bool had_controller = config_->controller.has_value();
  config_ = std::make_shared<const core::Config>(std::move(*cfg));
  index_config();
  core::ReloadSummary s = sup_->apply_config(config_);
  if (!had_controller && config_->controller)
    console_.warning("reload: a [controller] was added; it starts with the next procmand start");
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
    return out.empty() ? std::string("-") : out;
  };
  console_.notice(fmt::format("reloaded: added {}; removed {}; restarted {}; changed, restart pending {}",
                              join(s.added), join(s.removed), join(s.restarted), join(s.changed_pending)));
  dbus::ReloadResult r{s.added, s.removed, s.restarted, s.changed_pending};
  if (bus_) bus_->reloaded(r);
  if (controller_ && controller_->running())
    controller_->send(core::reloaded_event_json(s.added, s.removed, s.restarted, s.changed_pending));
  done();
  return r;
}

std::optional<dbus::Error> Daemon::shutdown(const dbus::Caller& caller, std::string_view message) {
  begin_shutdown(fmt::format("shutdown requested over D-Bus by {} (uid {}, pid {}, {}){}{}", user_name(caller.uid),
                             caller.uid, caller.pid, caller.bus_name, message.empty() ? "" : ": ", message));
  return std::nullopt;
}

void Daemon::restore_transients(const std::vector<core::TransientRequest>& transients) {
  auto taken = [this](std::string_view n) { return !sup_->resolve(n).empty(); };
  for (const auto& t : transients) {
    core::TransientRequest req = t;
    req.unique = false;  // it keeps the name it had
    auto made = core::make_transient(req, taken, names_);
    if (auto* e = std::get_if<std::string>(&made)) {
      console_.warning(fmt::format("transient process '{}' not restored: {}", t.name, *e));
      continue;
    }
    auto cfg = std::get<core::ProcessConfig>(std::move(made));
    const std::string name = cfg.id;
    transients_[name] = req;
    if (std::string e = sup_->add_transient(std::move(cfg)); !e.empty()) {
      transients_.erase(name);
      console_.warning(fmt::format("transient process '{}' not restored: {}", name, e));
    }
  }
}

}  // namespace procman
