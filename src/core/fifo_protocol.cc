#include "core/fifo_protocol.h"
#include "core/targets.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/names.h"

namespace procman::core {
namespace {

using nlohmann::json;
using Error = std::string;

const char* const kTypes = "run, shutdown, start, stop, restart";

/// "a string", "an object"... for "expected X, got Y".
std::string kind_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    case json::value_t::binary:
    case json::value_t::discarded:
      break;
  }
  return "something else";
}

std::string type_error(const std::string& field, const char* expected, const json& got) {
  return fmt::format("field \"{}\": expected {}, got {}", field, expected, kind_of(got));
}

/// The field's value, or null when absent or null (null counts as absent).
const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

bool has_control(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

/// An optional string field into *out; the error, or "".
Error optional_string(const json& obj, const char* key, const std::string& name, std::string* out) {
  const json* v = field(obj, key);
  if (v == nullptr) return "";
  if (!v->is_string()) return type_error(name, "a string", *v);
  *out = v->get<std::string>();
  return "";
}

/// A required, non-blank string field (a name or a command).
Error required_string(const json& obj, const char* key, const std::string& name, std::string* out) {
  if (field(obj, key) == nullptr) return fmt::format("missing field \"{}\"", name);
  if (Error e = optional_string(obj, key, name, out); !e.empty()) return e;
  if (blank(*out)) return fmt::format("field \"{}\" must not be blank", name);
  return "";
}

Error process_name(const json& obj, const char* key, const std::string& name, std::string* out) {
  if (Error e = required_string(obj, key, name, out); !e.empty()) return e;
  if (has_control(*out))
    return fmt::format("field \"{}\" must not contain control characters", name);
  return "";
}

Error optional_bool(const json& obj, const char* key, const std::string& name, bool* out) {
  const json* v = field(obj, key);
  if (v == nullptr) return "";
  if (!v->is_boolean()) return type_error(name, "a boolean", *v);
  *out = v->get<bool>();
  return "";
}

// ------------------------------------------------------------- target checks

/// The kind keys of a depends entry, in the seed's order, then procman's.
struct DepKey {
  const char* key;
  Dependency::Kind kind;
};
constexpr DepKey kDepKeys[] = {
    {"url", Dependency::Kind::Url},
    {"tcp", Dependency::Kind::Tcp},
    {"path", Dependency::Kind::Path},
    {"process_exited", Dependency::Kind::Process},
    {"not_listening", Dependency::Kind::NotListening},
    {"not_exists", Dependency::Kind::NotExists},
    {"not_running", Dependency::Kind::NotRunning},
    {"process", Dependency::Kind::Process},
};
const char* const kDepKeyList =
    "\"url\", \"tcp\", \"path\", \"process_exited\", \"not_listening\", \"not_exists\", "
    "\"not_running\" or \"process\"";

/// The key a probe's target travels under (the seed's spelling).
const char* probe_key(Dependency::Kind kind) {
  for (const DepKey& k : kDepKeys) {
    if (k.kind == kind) return k.key;
  }
  return "?";
}

/// Why the (expanded) target of probe `d` is unusable, or "".
std::string target_problem(const Dependency& d) {
  switch (d.kind) {
    case Dependency::Kind::Url:
      return url_problem(d.target);
    case Dependency::Kind::Tcp:
    case Dependency::Kind::NotListening:
      {
        std::string host;
        uint16_t port = 0;
        return split_host_port(d.target, &host, &port);
      }
    case Dependency::Kind::NotRunning:
      return regex_problem(d.target);
    case Dependency::Kind::Path:
    case Dependency::Kind::NotExists:
    case Dependency::Kind::Process:
      break;
  }
  return "";
}

// ------------------------------------------------------------- depends

Error parse_probe_options(const json& obj, const std::string& at, Dependency& dep) {
  if (const json* v = field(obj, "poll_interval")) {
    const std::string name = at + ".poll_interval";
    if (!v->is_number()) return type_error(name, "a number of seconds", *v);
    const double seconds = v->get<double>();
    const double max = std::chrono::duration<double>(kMaxDuration).count();
    if (!std::isfinite(seconds) || seconds < 0.001 || seconds > max) {
      return fmt::format("field \"{}\" must be between 0.001 and {} seconds, not {}", name, max,
                         v->dump());
    }
    dep.poll_interval = Duration(std::llround(seconds * 1000.0));
  }
  if (const json* v = field(obj, "timeout_seconds")) {
    const std::string name = at + ".timeout_seconds";
    if (!v->is_number_integer()) return type_error(name, "an integer number of seconds", *v);
    const auto max = std::chrono::duration_cast<std::chrono::seconds>(kMaxDuration).count();
    if (v->is_number_unsigned() ? v->get<uint64_t>() > static_cast<uint64_t>(max)
                                : v->get<int64_t>() < 0) {
      return fmt::format("field \"{}\" must be between 0 and {}, not {}", name, max, v->dump());
    }
    dep.timeout = std::chrono::seconds(v->get<int64_t>());
  }
  if (Error e = optional_bool(obj, "retry", at + ".retry", &dep.retry); !e.empty()) return e;
  return "";
}

std::variant<Dependency, Error> parse_dependency(const json& item, const std::string& at) {
  Dependency dep;
  if (item.is_string()) {
    dep.id = item.get<std::string>();
    if (blank(dep.id)) return fmt::format("field \"{}\" must not be blank", at);
    return dep;
  }
  if (!item.is_object()) return type_error(at, "an object or a process name", item);
  if (field(item, "file_contains") != nullptr) {
    return fmt::format(
        "field \"{}.file_contains\": file_contains dependencies are not supported by procman "
        "(use one of {})",
        at, kDepKeyList);
  }
  const DepKey* kind = nullptr;
  for (const DepKey& k : kDepKeys) {
    if (field(item, k.key) == nullptr) continue;
    if (kind != nullptr) {
      return fmt::format("field \"{}\" mixes \"{}\" and \"{}\"; use one kind per entry", at,
                         kind->key, k.key);
    }
    kind = &k;
  }
  if (kind == nullptr) return fmt::format("field \"{}\" needs one of {}", at, kDepKeyList);
  dep.kind = kind->kind;
  const std::string key = kind->key;
  const std::string name = at + "." + key;
  if (dep.kind == Dependency::Kind::Process) {
    if (Error e = required_string(item, kind->key, name, &dep.id); !e.empty()) return e;
    if (key == "process_exited") {
      dep.condition = DepCondition::CompletedSuccessfully;
    } else if (const json* c = field(item, "condition")) {
      const std::string cname = at + ".condition";
      if (!c->is_string()) return type_error(cname, "a string", *c);
      const std::string text = c->get<std::string>();
      bool found = false;
      for (DepCondition cond : {DepCondition::Started, DepCondition::Running,
                                DepCondition::Completed, DepCondition::CompletedSuccessfully}) {
        if (condition_name(cond) == text) {
          dep.condition = cond;
          found = true;
        }
      }
      if (!found) {
        return fmt::format(
            "field \"{}\": unknown condition \"{}\" (expected started, running, completed, "
            "completed-successfully)",
            cname, text);
      }
    }
    if (Error e = optional_bool(item, "retry", at + ".retry", &dep.retry); !e.empty()) return e;
    return dep;
  }
  if (Error e = required_string(item, kind->key, name, &dep.target); !e.empty()) return e;
  if (dep.kind == Dependency::Kind::Url) {
    if (const json* v = field(item, "code")) {
      if (!v->is_number_integer()) return type_error(at + ".code", "an integer", *v);
      const int64_t code =
          v->is_number_unsigned() && v->get<uint64_t>() > 1000 ? 1000 : v->get<int64_t>();
      if (code < 100 || code > 599) {
        return fmt::format("field \"{}.code\" must be an HTTP status 100..599, not {}", at,
                           v->dump());
      }
      dep.expect_status = static_cast<int>(code);
    }
  }
  // A target naming $VARs is checked once expand_fifo_depends() has filled them in.
  if (dep.target.find('$') == std::string::npos) {
    if (std::string why = target_problem(dep); !why.empty()) {
      return fmt::format("field \"{}\": {}", name, why);
    }
  }
  if (Error e = parse_probe_options(item, at, dep); !e.empty()) return e;
  return dep;
}

// ------------------------------------------------------------- messages

Error parse_env(const json& obj, std::map<std::string, std::string>* env) {
  const json* v = field(obj, "env");
  if (v == nullptr) return "";
  if (!v->is_object()) return type_error("env", "an object of strings", *v);
  for (const auto& [key, value] : v->items()) {
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos) {
      return fmt::format("field \"env\": \"{}\" is not a valid variable name", key);
    }
    if (!value.is_string()) return type_error("env." + key, "a string", value);
    (*env)[key] = value.get<std::string>();
  }
  return "";
}

std::variant<FifoMessage, Error> parse_run(const json& obj) {
  FifoRun run;
  if (Error e = process_name(obj, "name", "name", &run.name); !e.empty()) return e;
  if (Error e = required_string(obj, "run", "run", &run.run); !e.empty()) return e;
  if (Error e = parse_env(obj, &run.env); !e.empty()) return e;
  if (const json* deps = field(obj, "depends")) {
    if (!deps->is_array()) return type_error("depends", "an array", *deps);
    for (std::size_t i = 0; i < deps->size(); ++i) {
      auto dep = parse_dependency((*deps)[i], fmt::format("depends[{}]", i));
      if (auto* e = std::get_if<Error>(&dep)) return *e;
      run.depends.push_back(std::get<Dependency>(std::move(dep)));
    }
  }
  if (Error e = optional_bool(obj, "once", "once", &run.once); !e.empty()) return e;
  return FifoMessage(std::move(run));
}

std::variant<FifoMessage, Error> parse_shutdown(const json& obj) {
  FifoShutdown s;
  if (Error e = optional_string(obj, "user", "user", &s.user); !e.empty()) return e;
  if (Error e = optional_string(obj, "message", "message", &s.message); !e.empty()) return e;
  return FifoMessage(std::move(s));
}

std::variant<FifoMessage, Error> parse_control(const json& obj, FifoControl::Kind kind) {
  FifoControl c;
  c.kind = kind;
  if (Error e = process_name(obj, "name", "name", &c.name); !e.empty()) return e;
  return FifoMessage(std::move(c));
}

/// nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 3: X" -> "X".
std::string parse_error_text(const json::parse_error& e) {
  std::string what = e.what();
  const std::size_t column = what.find(", column ");
  const std::size_t colon =
      column == std::string::npos ? what.find("parse error: ") : what.find(": ", column);
  if (colon != std::string::npos) {
    what = what.substr(colon + 2);
  } else if (const std::size_t bracket = what.find("] "); bracket != std::string::npos) {
    what = what.substr(bracket + 2);
  }
  return what;
}

// ------------------------------------------------------------- expansion

/// $VAR, ${VAR} and $$ as the seed's expand_env_vars; a lone '$' stays.
/// The expansion, or nullopt with *error set.
std::optional<std::string> expand_vars(const std::string& text,
                                       const std::map<std::string, std::string>& env,
                                       Error* error) {
  std::string out;
  out.reserve(text.size());
  // ASCII only, whatever the locale, as the seed's is_ascii_alphabetic().
  auto is_start = [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  auto is_name = [&](char c) { return is_start(c) || (c >= '0' && c <= '9'); };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char next = text[i + 1];
    std::string name;
    std::string spelled;
    if (next == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (next == '{') {
      const std::size_t close = text.find('}', i + 2);
      if (close == std::string::npos) {
        *error = fmt::format("unterminated ${{ in '{}'", text);
        return std::nullopt;
      }
      name = text.substr(i + 2, close - i - 2);
      spelled = "${" + name + "}";
      i = close;
    } else if (is_start(next)) {
      std::size_t end = i + 1;
      while (end < text.size() && is_name(text[end])) ++end;
      name = text.substr(i + 1, end - i - 1);
      spelled = "$" + name;
      i = end - 1;
    } else {
      out += '$';
      continue;
    }
    auto it = env.find(name);
    if (it == env.end()) {
      *error = "undefined environment variable " + spelled;
      return std::nullopt;
    }
    out += it->second;
  }
  return out;
}

// ------------------------------------------------------------- printing

using ojson = nlohmann::ordered_json;

ojson dependency_json(const Dependency& d) {
  ojson j;
  if (d.kind == Dependency::Kind::Process) {
    if (d.condition == DepCondition::CompletedSuccessfully) {
      j["process_exited"] = d.id;
    } else {
      j["process"] = d.id;
      if (d.condition != DepCondition::Running) j["condition"] = condition_name(d.condition);
    }
    if (!d.retry) j["retry"] = false;
    return j;
  }
  const Dependency defaults;
  j[probe_key(d.kind)] = d.target;
  if (d.kind == Dependency::Kind::Url) j["code"] = d.expect_status;
  if (d.poll_interval != defaults.poll_interval) {
    j["poll_interval"] = std::chrono::duration<double>(d.poll_interval).count();
  }
  if (d.timeout != defaults.timeout) {
    j["timeout_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(d.timeout).count();
  }
  if (!d.retry) j["retry"] = false;
  return j;
}

}  // namespace

std::variant<FifoMessage, std::string> parse_fifo_line(std::string_view line) {
  if (line.size() > kMaxFifoLine) {
    return fmt::format("line is longer than {} bytes", kMaxFifoLine);
  }
  json obj;
  try {
    obj = json::parse(line.begin(), line.end());
  } catch (const json::parse_error& e) {
    // nlohmann counts the end of input as one more byte; a line that ends too early is
    // reported at its last byte.
    const std::size_t byte = std::min<std::size_t>(e.byte, std::max<std::size_t>(line.size(), 1));
    return fmt::format("not JSON: {} at byte {}", parse_error_text(e), byte);
  }
  if (!obj.is_object()) return fmt::format("expected a JSON object, got {}", kind_of(obj));
  std::string request_id;
  if (const json* id = field(obj, "id")) {
    if (id->is_string()) {
      request_id = id->get<std::string>();
    } else if (id->is_number()) {
      request_id = id->dump();
    } else {
      return type_error("id", "a string or a number", *id);
    }
  }
  const json* type = field(obj, "type");
  if (type == nullptr) return std::string("missing field \"type\"");
  if (!type->is_string()) return type_error("type", "a string", *type);
  const std::string t = type->get<std::string>();
  std::variant<FifoMessage, Error> result;
  if (t == "run") {
    result = parse_run(obj);
  } else if (t == "shutdown") {
    result = parse_shutdown(obj);
  } else if (t == "start") {
    result = parse_control(obj, FifoControl::Kind::Start);
  } else if (t == "stop") {
    result = parse_control(obj, FifoControl::Kind::Stop);
  } else if (t == "restart") {
    result = parse_control(obj, FifoControl::Kind::Restart);
  } else {
    return fmt::format("unknown message type \"{}\" (expected {})", t, kTypes);
  }
  if (auto* m = std::get_if<FifoMessage>(&result)) {
    std::visit([&](auto& msg) { msg.request_id = request_id; }, *m);
  }
  return result;
}

std::string_view fifo_message_type(const FifoMessage& m) {
  if (std::holds_alternative<FifoRun>(m)) return "run";
  if (std::holds_alternative<FifoShutdown>(m)) return "shutdown";
  switch (std::get<FifoControl>(m).kind) {
    case FifoControl::Kind::Start:
      return "start";
    case FifoControl::Kind::Stop:
      return "stop";
    case FifoControl::Kind::Restart:
      return "restart";
  }
  return "start";
}

std::string fifo_line(const FifoMessage& m) {
  ojson j;
  j["type"] = fifo_message_type(m);
  if (const auto* run = std::get_if<FifoRun>(&m)) {
    j["name"] = run->name;
    j["run"] = run->run;
    if (!run->env.empty()) j["env"] = run->env;
    if (!run->depends.empty()) {
      ojson deps = ojson::array();
      for (const Dependency& d : run->depends) deps.push_back(dependency_json(d));
      j["depends"] = std::move(deps);
    }
    if (run->once) j["once"] = true;
    if (!run->request_id.empty()) j["id"] = run->request_id;
  } else if (const auto* s = std::get_if<FifoShutdown>(&m)) {
    if (!s->user.empty()) j["user"] = s->user;
    if (!s->message.empty()) j["message"] = s->message;
    if (!s->request_id.empty()) j["id"] = s->request_id;
  } else {
    const auto& c = std::get<FifoControl>(m);
    j["name"] = c.name;
    if (!c.request_id.empty()) j["id"] = c.request_id;
  }
  // Invalid UTF-8 becomes U+FFFD rather than throwing: the line must still be one line.
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
}

std::optional<std::string> expand_fifo_depends(std::vector<Dependency>& depends,
                                               const std::map<std::string, std::string>& env) {
  for (std::size_t i = 0; i < depends.size(); ++i) {
    Dependency& d = depends[i];
    if (d.kind == Dependency::Kind::Process) continue;
    const std::string name = fmt::format("depends[{}].{}", i, probe_key(d.kind));
    Error error;
    std::optional<std::string> expanded = expand_vars(d.target, env, &error);
    if (!expanded) return fmt::format("field \"{}\": {}", name, error);
    d.target = std::move(*expanded);
    if (std::string why = target_problem(d); !why.empty()) {
      return fmt::format("field \"{}\": {}", name, why);
    }
  }
  return std::nullopt;
}

}  // namespace procman::core
