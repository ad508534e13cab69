#include "core/persist.h"

#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

namespace procman::core {
namespace {

using nlohmann::json;

json unit_to_json(const UnitStatus& u) {
  json j{
      {"name", u.name},
      {"id", u.id},
      {"instance", u.instance},
      {"state", std::string(state_name(u.state))},
      {"sub_state", u.sub_state},
      {"status_text", u.status_text},
      {"failure_reason", u.failure_reason},
      {"pid", u.pid},
      {"pgid", u.pgid},
      {"pid_start_time", u.pid_start_time},
      {"admin", std::string(admin_goal_name(u.admin))},
      {"done", u.done},
      {"restarts", u.restarts},
      {"consecutive_failures", u.consecutive_failures},
      {"start_usec", u.start_usec},
      {"exit_usec", u.exit_usec},
      {"run_usec", u.run_usec},
      {"start_limit_mono_usec", u.start_limit_mono_usec},
  };
  if (u.apply_on) j["apply_on"] = format_local_datetime(*u.apply_on);
  if (!u.result.empty()) j["result"] = u.result;
  if (u.transient) j["transient"] = true;
  if (u.last_tick) j["last_tick"] = format_local_datetime(*u.last_tick);
  if (u.ticks_skipped) j["ticks_skipped"] = u.ticks_skipped;
  if (u.last_exit)
    j["last_exit"] = {{"known", u.last_exit->known},
                      {"signaled", u.last_exit->signaled},
                      {"code", u.last_exit->code}};
  return j;
}

UnitStatus unit_from_json(const json& j) {
  UnitStatus u;
  u.name = j.at("name").get<std::string>();
  u.id = j.at("id").get<std::string>();
  u.instance = j.value("instance", 0U);
  u.state = parse_state(j.at("state").get<std::string>()).value_or(State::Stopped);
  u.sub_state = j.value("sub_state", "");
  u.status_text = j.value("status_text", "");
  u.failure_reason = j.value("failure_reason", "");
  u.pid = j.value("pid", -1);
  u.pgid = j.value("pgid", -1);
  u.pid_start_time = j.value("pid_start_time", uint64_t{0});
  const std::string admin = j.value("admin", "auto");
  u.admin = admin == "started"   ? AdminGoal::Started
            : admin == "stopped" ? AdminGoal::Stopped
                                 : AdminGoal::Auto;
  u.done = j.value("done", false);
  u.restarts = j.value("restarts", 0U);
  u.consecutive_failures = j.value("consecutive_failures", 0U);
  u.start_usec = j.value("start_usec", int64_t{0});
  u.exit_usec = j.value("exit_usec", int64_t{0});
  u.run_usec = j.value("run_usec", int64_t{0});
  if (j.contains("start_limit_mono_usec"))
    u.start_limit_mono_usec = j.at("start_limit_mono_usec").get<std::vector<int64_t>>();
  if (j.contains("apply_on")) {
    std::string err;
    u.apply_on = parse_local_datetime(j.at("apply_on").get<std::string>(), &err);
  }
  u.result = j.value("result", "");
  u.transient = j.value("transient", false);
  u.ticks_skipped = j.value("ticks_skipped", 0U);
  if (j.contains("last_tick")) {
    std::string err;
    u.last_tick = parse_local_datetime(j.at("last_tick").get<std::string>(), &err);
  }
  if (j.contains("last_exit")) {
    const json& e = j.at("last_exit");
    u.last_exit = ExitInfo{.known = e.value("known", true),
                           .signaled = e.value("signaled", false),
                           .code = e.value("code", 0)};
  }
  return u;
}

}  // namespace

std::string serialize_state(const PersistedState& s) {
  // One unit's DOM at a time: the peak is the output text, not a DOM of every unit (which
  // malloc would keep around after the snapshot).
  json transients = json::array();
  for (const auto& t : s.transients) transients.push_back(transient_to_json(t));
  const json head{{"version", s.version},         {"uid", s.uid},
                  {"config_path", s.config_path}, {"boot_id", s.boot_id},
                  {"daemon_pid", s.daemon_pid},   {"written_usec", s.written_usec},
                  {"transients", transients}};
  std::string out = head.dump();
  out.pop_back();  // the closing '}'
  out += ",\"units\":[";
  bool first = true;
  for (const auto& u : s.units) {
    if (!first) out += ',';
    first = false;
    out += unit_to_json(u).dump();
  }
  out += "]}\n";
  return out;
}

std::string serialize_unit_record(const UnitStatus& u) {
  return json{{"unit", unit_to_json(u)}}.dump() + "\n";
}

std::optional<PersistedState> parse_persisted_state(std::string_view text, std::string* error) {
  try {
    // The snapshot is the first JSON value; operator>> stops right after it.
    std::istringstream in{std::string(text)};
    json j;
    in >> j;
    const auto end = in.tellg();
    std::string_view records =
        end < 0 ? std::string_view{} : text.substr(static_cast<std::size_t>(end));
    // The rest of the snapshot's own line.
    if (const auto nl = records.find('\n');
        nl != std::string_view::npos &&
        records.substr(0, nl).find_first_not_of(" \t\r") == std::string_view::npos)
      records.remove_prefix(nl + 1);
    PersistedState s;
    s.version = j.at("version").get<int>();
    if (s.version != 1) {
      *error = "unsupported state file version " + std::to_string(s.version);
      return std::nullopt;
    }
    s.uid = j.at("uid").get<std::string>();
    s.config_path = j.value("config_path", "");
    s.boot_id = j.value("boot_id", "");
    s.daemon_pid = j.value("daemon_pid", 0);
    s.written_usec = j.value("written_usec", int64_t{0});
    for (const auto& u : j.at("units")) s.units.push_back(unit_from_json(u));
    if (j.contains("transients")) {
      for (const auto& t : j.at("transients")) {
        auto r = transient_from_json(t);
        if (auto* why = std::get_if<std::string>(&r)) {
          *error = "state file: " + *why;
          return std::nullopt;
        }
        s.transients.push_back(std::move(std::get<TransientRequest>(r)));
      }
    }
    std::unordered_map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < s.units.size(); ++i) index.emplace(s.units[i].name, i);
    std::size_t pos = 0;
    int line = 1;
    while (pos < records.size()) {
      const std::size_t nl = records.find('\n', pos);
      if (nl == std::string_view::npos) break;  // cut short by a crash: never acknowledged
      const std::string_view rec = records.substr(pos, nl - pos);
      pos = nl + 1;
      ++line;
      if (rec.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      json r;
      try {
        r = json::parse(rec);
      } catch (const json::exception& e) {
        *error = "malformed record " + std::to_string(line - 1) + " of the state file: " + e.what();
        return std::nullopt;
      }
      if (!r.is_object() || !r.contains("unit")) {
        *error = "record " + std::to_string(line - 1) + " of the state file is not a unit record";
        return std::nullopt;
      }
      UnitStatus u = unit_from_json(r.at("unit"));
      if (auto it = index.find(u.name); it != index.end()) {
        s.units[it->second] = std::move(u);
      } else {
        index.emplace(u.name, s.units.size());
        s.units.push_back(std::move(u));
      }
    }
    return s;
  } catch (const json::exception& e) {
    *error = std::string("malformed state file: ") + e.what();
    return std::nullopt;
  }
}

}  // namespace procman::core
