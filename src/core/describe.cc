#include "core/describe.h"

#include <fmt/format.h>

#include "core/calendar.h"
#include "core/duration.h"
#include "core/names.h"

namespace procman::core {

const char* restart_name(RestartPolicy r) {
  switch (r) {
    case RestartPolicy::Always: return "always";
    case RestartPolicy::OnFailure: return "on-failure";
    case RestartPolicy::No: return "no";
  }
  return "?";
}

std::string hook_text(const Hook& h) {
  return fmt::format("{} (timeout {})", h.command, format_duration(h.timeout));
}

std::string check_text(const HealthCheck& h) {
  using K = HealthCheck::Kind;
  const std::string timeout = format_duration(h.timeout);
  std::string out;
  switch (h.kind) {
    case K::Command:
      out = fmt::format("{} (timeout {})", h.command, timeout);
      break;
    case K::Folder:
      out = fmt::format("folder {} inactive for {}", h.folder, format_duration(h.inactive_time));
      break;
    case K::Http:
      out = fmt::format("http {} -> {} (timeout {})", h.url, h.expect_status, timeout);
      break;
    case K::Tcp: {
      const bool v6 = h.host.find(':') != std::string::npos;
      out = fmt::format("tcp {}{}{}:{} (timeout {})", v6 ? "[" : "", h.host, v6 ? "]" : "", h.port, timeout);
      break;
    }
    case K::File:
      out = fmt::format("file {} exists", h.path);
      break;
  }
  out += fmt::format("; every {}", format_duration(h.period));
  if (h.initial_delay > Duration::zero())
    out += fmt::format(" (first after {})", format_duration(h.initial_delay));
  out += fmt::format(", pass after {}, fail after {} in a row", h.success_threshold, h.failure_threshold);
  return out;
}

std::string dependency_text(const Dependency& d) {
  using K = Dependency::Kind;
  std::string what;
  switch (d.kind) {
    case K::Process:
      return fmt::format("{} ({})", d.id, condition_name(d.condition));
    case K::Url:
      what = fmt::format("url {} -> {}", d.target, d.expect_status);
      break;
    case K::Tcp:
      what = "tcp " + d.target;
      break;
    case K::Path:
      what = "path " + d.target;
      break;
    case K::NotListening:
      what = "not-listening " + d.target;
      break;
    case K::NotExists:
      what = "not-exists " + d.target;
      break;
    case K::NotRunning:
      what = "not-running /" + d.target + "/";
      break;
  }
  const std::string timeout =
      d.timeout == Duration::zero() ? "no timeout" : "timeout " + format_duration(d.timeout);
  return fmt::format("{} (poll {}, {}{})", what, format_duration(d.poll_interval), timeout,
                     d.retry ? "" : ", no retry");
}

std::string schedule_text(const Schedule& s) {
  return fmt::format("{}-{} {}", format_time_of_day(s.start.value_or(TimeOfDay{0})),
                     format_time_of_day(s.stop.value_or(TimeOfDay{24 * 3600})), format_weekdays(s.week_days));
}

nlohmann::json process_json(const ProcessConfig& p) {
  using nlohmann::json;
  json j;
  j["id"] = p.id;
  if (p.apply_on) j["apply-on"] = format_local_datetime(*p.apply_on);
  if (p.fake) j["fake"] = true;
  if (p.command) j["command"] = p.command->line;
  if (p.transient) j["transient"] = true;
  if (p.template_name) j["template"] = *p.template_name;
  if (!p.depends_on.empty()) {
    json deps = json::array();
    for (const auto& d : p.depends_on) deps.push_back(dependency_text(d));
    j["depends-on"] = deps;
  }
  if (p.work_dir) j["work-dir"] = *p.work_dir;
  auto hook = [&](const char* key, const Box<Hook>& h) {
    if (h) j[key] = {{"command", h->command}, {"timeout", format_duration(h->timeout)}};
  };
  hook("before", p.before);
  hook("init", p.init);
  hook("stop", p.stop);
  hook("on-start", p.on_start);
  hook("on-exit", p.on_exit);
  hook("on-failure", p.on_failure);
  if (p.health_check) j["health-check"] = check_text(*p.health_check);
  if (p.readiness_check) j["readiness-check"] = check_text(*p.readiness_check);
  if (p.schedule) j["schedule"] = schedule_text(*p.schedule);
  if (p.cron_text) j["cron"] = *p.cron_text;
  if (p.deadline) j["deadline"] = format_duration(*p.deadline);
  if (p.one_shot) j["one-shot"] = true;
  if (!p.env.empty()) j["env"] = p.env;
  if (p.env_file) j["env-file"] = *p.env_file;
  j["restart"] = restart_name(p.restart);
  j["restart-delay"] = {{"initial", format_duration(p.restart_delay.initial)},
                        {"multiplier", p.restart_delay.multiplier},
                        {"max", format_duration(p.restart_delay.max)},
                        {"reset-after", format_duration(p.restart_delay.reset_after)}};
  j["start-limit"] = {{"burst", p.start_limit.burst}, {"interval", format_duration(p.start_limit.interval)}};
  j["success-exit-codes"] = p.success_exit_codes;
  j["stop-signal"] = signal_name(p.stop_signal);
  j["stop-timeout"] = format_duration(p.stop_timeout);
  j["instances"] = p.instances;
  if (p.user) j["user"] = *p.user;
  if (p.group) j["group"] = *p.group;
  if (p.nice) j["nice"] = *p.nice;
  if (p.umask) j["umask"] = fmt::format("{:04o}", *p.umask);
  if (!p.meta.empty()) j["meta"] = p.meta.get();
  if (p.ready == ReadyMode::Notify) {
    j["ready"] = "notify";
    j["start-timeout"] = format_duration(p.start_timeout);
  }
  if (p.watchdog) j["watchdog"] = format_duration(*p.watchdog);
  if (!p.sockets.empty()) {
    json socks = json::array();
    for (const auto& sc : p.sockets)
      socks.push_back(sc.name.empty() ? json(sc.listen) : json{{"listen", sc.listen}, {"name", sc.name}});
    j["sockets"] = socks;
  }
  if (p.start_on_demand) j["start-on-demand"] = true;
  auto limit = [](uint64_t v) { return v == UINT64_MAX ? json("max") : json(v); };
  if (p.resources.memory_max) j["memory-max"] = limit(*p.resources.memory_max);
  if (p.resources.cpu_weight) j["cpu-weight"] = *p.resources.cpu_weight;
  if (p.resources.tasks_max) j["tasks-max"] = limit(*p.resources.tasks_max);
  return j;
}

}  // namespace procman::core
