#include "procmanctl/offline.h"

#include <fcntl.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <map>

#include "core/command_line.h"
#include "core/config_parser.h"
#include "core/describe.h"
#include "core/effective.h"
#include "core/example_config.h"
#include "core/names.h"
#include "os/files.h"
#include "os/local_time.h"

namespace procman::ctl {
namespace {


std::optional<std::string> read_or_report(const std::string& file) {
  std::string error;
  auto text = os::read_file(file, &error);
  if (!text) std::fprintf(stderr, "%s: %s\n", file.c_str(), error.c_str());
  return text;
}

const char* type_name(core::CommandType t) {
  switch (t) {
    case core::CommandType::Simple: return "simple";
    case core::CommandType::Expression: return "expression";
    case core::CommandType::PidFile: return "pid-file";
    case core::CommandType::PodmanCid: return "podman-cid";
  }
  return "?";
}

using core::check_text;
using core::dependency_text;
using core::hook_text;
using core::restart_name;

/// One version of a process, as `check` shows it.
void describe(const core::ProcessConfig& p, bool effective, const core::LocalDateTime& now) {
  std::string when = p.apply_on ? "apply-on " + core::format_local_datetime(*p.apply_on) : "no apply-on";
  std::string status = p.fake                                ? "fake"
                       : effective                           ? "effective now"
                       : (p.apply_on && *p.apply_on > now)   ? "scheduled version"
                                                             : "superseded";
  std::printf("%s (%s, %s)\n", p.id.c_str(), when.c_str(), status.c_str());
  auto row = [](const char* key, const std::string& value) { std::printf("  %-15s %s\n", key, value.c_str()); };
  if (p.command) {
    std::string shell;
    if (p.command->type == core::CommandType::Simple && core::needs_shell(p.command->line))
      shell = "  [shell syntax: runs via /bin/sh -c]";
    row("command", p.command->line + shell);
    if (p.command->type != core::CommandType::Simple) row("type", type_name(p.command->type));
  }
  if (p.template_name) row("template", *p.template_name);
  if (p.instances > 1) row("instances", fmt::format("{} ({}@0 .. {}@{})", p.instances, p.id, p.id, p.instances - 1));
  if (!p.depends_on.empty()) {
    std::string deps;
    for (const auto& d : p.depends_on) deps += (deps.empty() ? "" : ", ") + dependency_text(d);
    row("depends-on", deps);
  }
  if (p.work_dir) row("work-dir", *p.work_dir);
  if (p.before) row("before", hook_text(*p.before));
  if (p.init) row("init", hook_text(*p.init));
  if (p.stop) row("stop", hook_text(*p.stop));
  if (p.health_check) row("health-check", check_text(*p.health_check));
  if (p.readiness_check) row("readiness-check", check_text(*p.readiness_check));
  if (p.schedule) {
    const auto& s = *p.schedule;
    row("schedule", fmt::format("{}-{} {}{}", core::format_time_of_day(s.start.value_or(core::TimeOfDay{0})),
                                core::format_time_of_day(s.stop.value_or(core::TimeOfDay{24 * 3600})),
                                core::format_weekdays(s.week_days),
                                core::schedule_contains(s, now) ? " (open now)" : " (closed now)"));
  }
  if (p.cron_text) {
    std::string next;
    if (p.cron)
      if (auto n = core::cron_next(*p.cron, now)) next = " (next " + core::format_local_datetime(*n) + ")";
    row("cron", *p.cron_text + next);
  }
  if (p.deadline) row("deadline", core::format_duration(*p.deadline));
  if (p.one_shot) row("one-shot", "yes");
  row("restart", fmt::format("{}, delay {} x{} up to {}, reset after {}", restart_name(p.restart),
                             core::format_duration(p.restart_delay.initial), p.restart_delay.multiplier,
                             core::format_duration(p.restart_delay.max),
                             core::format_duration(p.restart_delay.reset_after)));
  row("start-limit", p.start_limit.burst == 0
                         ? std::string("none")
                         : fmt::format("{} starts per {}", p.start_limit.burst,
                                       core::format_duration(p.start_limit.interval)));
  if (!p.env.empty()) {
    std::string env;
    for (const auto& [k, v] : p.env) env += (env.empty() ? "" : " ") + k + "=" + v;
    row("env", env);
  }
  if (p.user || p.group) row("user", p.user.value_or("-") + ":" + p.group.value_or("-"));
  if (!p.meta.empty()) {
    std::string meta;
    for (const auto& [k, v] : p.meta) meta += (meta.empty() ? "" : " ") + k + "=" + v;
    row("meta", meta);
  }
}

}  // namespace

int check(const std::string& file) {
  auto text = read_or_report(file);
  if (!text) return 1;
  core::ParseResult r = core::parse_config(*text, file, os::current_environment());
  for (const auto& d : r.errors) std::fprintf(stderr, "%s\n", core::format_diagnostic(d).c_str());
  for (const auto& d : r.notes) std::fprintf(stderr, "%s\n", core::format_diagnostic(d).c_str());
  if (!r.config) {
    std::fprintf(stderr, "%s: %zu error(s)\n", file.c_str(), r.errors.size());
    return 1;
  }
  const core::Config& cfg = *r.config;
  const core::LocalDateTime now = os::to_local(std::chrono::system_clock::now());
  std::map<std::string, std::vector<const core::ProcessConfig*>> versions;
  for (const auto& p : cfg.processes) versions[p.id].push_back(&p);
  std::map<std::string, const core::ProcessConfig*> effective;
  for (const auto& [id, vs] : versions)
    if (const auto* e = core::effective_version(vs, now)) effective[id] = e;
  std::map<std::string, int> ids;
  for (const auto& p : cfg.processes) ids[p.id]++;
  std::printf("%s: OK (uid %s, %zu process id(s), %zu version(s))\n\n", file.c_str(), cfg.uid.c_str(), ids.size(),
              cfg.processes.size());
  for (const auto& p : cfg.processes) {
    auto it = effective.find(p.id);
    describe(p, it != effective.end() && it->second == &p, now);
  }
  return 0;
}

int expand_templates(const std::string& file) {
  auto text = read_or_report(file);
  if (!text) return 1;
  core::ExpandResult r = core::expand_config_templates(*text, file, os::current_environment());
  for (const auto& d : r.errors) std::fprintf(stderr, "%s\n", core::format_diagnostic(d).c_str());
  if (!r.text) return 1;
  std::fputs(r.text->c_str(), stdout);
  if (!r.text->empty() && r.text->back() != '\n') std::fputc('\n', stdout);
  return 0;
}

std::string new_uid() {
  sd_id128_t id;
  if (sd_id128_randomize(&id) < 0) return {};
  char s[SD_ID128_UUID_STRING_MAX];
  return sd_id128_to_uuid_string(id, s);
}

int gen_file(const std::string& file) {
  const std::string uid = new_uid();
  if (uid.empty()) {
    std::fprintf(stderr, "cannot generate a uid\n");
    return 1;
  }
  const std::string content = core::example_config(uid);
  // O_EXCL: refusing to overwrite must not race with another writer.
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) std::fprintf(stderr, "%s already exists; not overwriting it\n", file.c_str());
    else std::fprintf(stderr, "%s: %s\n", file.c_str(), std::strerror(errno));
    return 1;
  }
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), std::strerror(errno));
      ::close(fd);
      return 1;
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  std::printf("wrote %s (uid %s); check it with: procmanctl check %s\n", file.c_str(), uid.c_str(), file.c_str());
  return 0;
}

int uid() {
  const std::string id = new_uid();
  if (id.empty()) return 1;
  std::printf("%s\n", id.c_str());
  return 0;
}

}  // namespace procman::ctl
