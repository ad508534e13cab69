// The parser's shared machinery: Scope's reporting (including positions that
// came from a rendered [[template]]), the typed accessors and the TOML helpers.
#include "core/config_scope.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "core/suggest.h"

namespace procman::core::config_detail {

namespace {

bool is_before(const toml::source_position& a, const toml::source_position& b) {
  return a.line < b.line || (a.line == b.line && a.column < b.column);
}

// A [header] or [[header]] table is reported at its '[' so the position names
// the header; every other key at the key itself.
const toml::source_region& key_region(const toml::key& k, const toml::node& value) {
  const toml::source_region& vr = value.source();
  if (vr.begin.line != 0 && is_before(vr.begin, k.source().begin)) return vr;
  return k.source();
}

std::string one_of(const Strings& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

}  // namespace

SourcePos pos_of(const toml::source_region& s) { return {s.begin.line, s.begin.column}; }

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

bool is_table_array(const toml::node& n) {
  const auto* arr = n.as_array();
  return arr != nullptr && (arr->empty() || arr->is_array_of_tables());
}

std::string shape_name(const toml::node& n) {
  return n.is_array() ? "an array of values" : type_name(n);
}

std::string suggestion(std::string_view word, const Strings& candidates) {
  if (auto m = closest_match(word, candidates)) return fmt::format(" (did you mean '{}'?)", *m);
  return "";
}

// Scalars as the text a user would expect in an environment or a template.
std::optional<std::string> scalar_text(const toml::node& n, bool allow_dates) {
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* f = n.as_floating_point()) return fmt::format("{}", f->get());
  if (const auto* b = n.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (!allow_dates) return std::nullopt;
  std::ostringstream out;
  if (const auto* d = n.as_date()) {
    out << *d;
  } else if (const auto* t = n.as_time()) {
    out << *t;
  } else if (const auto* dt = n.as_date_time()) {
    out << *dt;
  } else {
    return std::nullopt;
  }
  return out.str();
}

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Lexical join: "." segments and doubled slashes go, ".." stays (a symlinked
// directory makes folding it wrong).
std::string resolve_path(const std::string& dir, const std::string& path) {
  const bool absolute = !path.empty() && path.front() == '/';
  const std::string joined = absolute || dir.empty() ? path : dir + "/" + path;
  std::string out = !joined.empty() && joined.front() == '/' ? "/" : "";
  std::size_t i = 0;
  while (i <= joined.size()) {
    std::size_t j = joined.find('/', i);
    if (j == std::string::npos) j = joined.size();
    const std::string segment = joined.substr(i, j - i);
    if (!segment.empty() && segment != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out += segment;
    }
    i = j + 1;
  }
  return out.empty() ? "." : out;
}

std::string process_label(const toml::table& t, std::size_t index) {
  if (const toml::node* id = t.get("id")) {
    if (const auto* s = id->as_string(); s != nullptr && !s->get().empty()) {
      return fmt::format("process '{}'", s->get());
    }
  }
  return fmt::format("process #{}", index + 1);
}

// ---------------------------------------------------------------------------
// Scope

void Scope::error(const toml::node& at, const std::string& message) {
  raw_error(at.source(), prefixed(message));
}

void Scope::error_at_key(const toml::key& k, const toml::node& value, const std::string& message) {
  raw_error(key_region(k, value), prefixed(message));
}

void Scope::error_at(SourcePos pos, const std::string& message) {
  diags_.error(pos, prefixed(message));
}

void Scope::raw_error(const toml::source_region& where, const std::string& message) {
  auto [pos, suffix] = locate(where);
  diags_.error(pos, message + suffix);
}

void Scope::note(const toml::node& at, const std::string& message) {
  auto [pos, suffix] = locate(at.source());
  diags_.note(pos, prefixed(message) + suffix);
}

void Scope::check_keys(const toml::table& table, const Strings& allowed, const std::string& where) {
  for (const auto& [k, v] : table) {
    if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
    std::string message = fmt::format("unknown key '{}'", k.str());
    if (!where.empty()) message += " " + where;
    raw_error(key_region(k, v), message + suggestion(k.str(), allowed));
  }
}

std::string Scope::prefixed(const std::string& message) const {
  return label_.empty() ? message : label_ + ": " + message;
}

std::pair<SourcePos, std::string> Scope::locate(const toml::source_region& where) const {
  if (use_ != nullptr && where.path && *where.path != diags_.file()) {
    return {use_->pos,
            fmt::format(" (from template '{}', template line {})", use_->name, where.begin.line)};
  }
  return {pos_of(where), ""};
}

// ---------------------------------------------------------------------------
// Typed accessors: each reports its own type error and returns nothing then.

const std::string* want_string(Scope& s, const toml::node& n, const std::string& name) {
  if (const auto* v = n.as_string()) return &v->get();
  s.error(n, fmt::format("'{}' must be a string, not {}", name, type_name(n)));
  return nullptr;
}

const std::string* want_text(Scope& s, const toml::node& n, const std::string& name) {
  const std::string* v = want_string(s, n, name);
  if (v != nullptr && is_blank(*v)) {
    s.error(n, fmt::format("'{}' is empty", name));
    return nullptr;
  }
  return v;
}

std::optional<bool> want_bool(Scope& s, const toml::node& n, const std::string& name) {
  if (const auto* v = n.as_boolean()) return v->get();
  s.error(n, fmt::format("'{}' must be a boolean, not {}", name, type_name(n)));
  return std::nullopt;
}

std::optional<int64_t> want_int(Scope& s, const toml::node& n, const std::string& name, int64_t min,
                                int64_t max) {
  const auto* v = n.as_integer();
  if (v == nullptr) {
    s.error(n, fmt::format("'{}' must be an integer, not {}", name, type_name(n)));
    return std::nullopt;
  }
  if (v->get() < min || v->get() > max) {
    s.error(n, fmt::format("'{}' must be between {} and {}, not {}", name, min, max, v->get()));
    return std::nullopt;
  }
  return v->get();
}

std::optional<Duration> want_duration(Scope& s, const toml::node& n, const std::string& name,
                                      bool positive) {
  const auto* v = n.as_string();
  if (v == nullptr) {
    s.error(n, fmt::format("'{}' must be a duration string such as \"5s\", not {}", name,
                           type_name(n)));
    return std::nullopt;
  }
  std::string why;
  std::optional<Duration> d = parse_duration(v->get(), &why);
  if (!d) {
    s.error(n, fmt::format("'{}': {}", name, why));
    return std::nullopt;
  }
  if (positive && *d <= Duration::zero()) {
    s.error(n, fmt::format("'{}' must be greater than 0", name));
    return std::nullopt;
  }
  return d;
}

std::optional<std::size_t> want_choice(Scope& s, const toml::node& n, const std::string& name,
                                       const Strings& names, const std::string& what) {
  const std::string* v = want_string(s, n, name);
  if (v == nullptr) return std::nullopt;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == *v) return i;
  }
  std::string hint = suggestion(*v, names);
  if (hint.empty()) hint = " (expected " + one_of(names) + ")";
  s.error(n, fmt::format("unknown {} '{}'{}", what, *v, hint));
  return std::nullopt;
}

const toml::table* want_table(Scope& s, const toml::node& n, const std::string& name,
                              const std::string& shape) {
  if (const auto* t = n.as_table()) return t;
  s.error(n, fmt::format("'{}' must be {}, not {}", name, shape, type_name(n)));
  return nullptr;
}

}  // namespace procman::core::config_detail
