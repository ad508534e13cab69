#include "procmanctl/format.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/names.h"

namespace procman::ctl {
namespace {

constexpr uint64_t kUsecPerSec = 1'000'000;

template <typename... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

template <typename T>
std::optional<T> get(const Properties& p, const std::string& key) {
  auto it = p.find(key);
  if (it == p.end()) return std::nullopt;
  return std::visit(
      [](const auto& v) -> std::optional<T> {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string> && std::is_same_v<V, std::string>) {
          return v;
        } else if constexpr (std::is_integral_v<T> &&
                             (std::is_same_v<V, uint64_t> || std::is_same_v<V, int64_t>)) {
          if constexpr (std::is_signed_v<V>)
            if (v < 0) return std::nullopt;
          return static_cast<T>(v);
        } else {
          return std::nullopt;
        }
      },
      it->second);
}

bool has_glob(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

}  // namespace

bool is_unreachable_error(std::string_view name) {
  return name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
         name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
         name == "org.freedesktop.DBus.Error.Disconnected" ||
         name == "org.freedesktop.DBus.Error.NoServer" ||
         name == "org.freedesktop.DBus.Error.FileNotFound" ||
         name.starts_with("org.freedesktop.DBus.Error.Spawn.");
}

ExitCode exit_code_for_error(std::string_view name) {
  if (name == "org.procman.Error.NoSuchProcess") return kExitNoSuchProcess;
  if (name == "org.procman.Error.InvalidArgs") return kExitUsage;
  if (is_unreachable_error(name)) return kExitUnreachable;
  return kExitFailed;
}

std::string format_span(uint64_t usec) {
  struct Unit {
    uint64_t secs;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}};
  uint64_t secs = usec / kUsecPerSec;
  for (std::size_t i = 0; i < std::size(kUnits); ++i) {
    if (secs < kUnits[i].secs && kUnits[i].secs != 1) continue;
    const uint64_t major = secs / kUnits[i].secs;
    std::string out = fmt::format("{}{}", major, kUnits[i].suffix);
    if (i + 1 < std::size(kUnits)) {
      const uint64_t minor = (secs % kUnits[i].secs) / kUnits[i + 1].secs;
      if (minor > 0) out += fmt::format(" {}{}", minor, kUnits[i + 1].suffix);
    }
    return out;
  }
  return "0s";
}

std::string format_cpu(uint64_t nsec) {
  if (nsec < 1'000'000'000) return fmt::format("{}ms", nsec / 1'000'000);
  if (nsec < 60'000'000'000) {
    // Tenths, rounded down, so 59.99s never shows as "60.0s".
    const uint64_t tenths = nsec / 100'000'000;
    return fmt::format("{}.{}s", tenths / 10, tenths % 10);
  }
  return format_span(nsec / 1000);
}

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{}B", bytes);
  static constexpr const char* kSuffix[] = {"K", "M", "G", "T", "P", "E"};
  std::size_t i = 0;
  uint64_t unit = 1024;
  while (i + 1 < std::size(kSuffix) && bytes / unit >= 1024) {
    unit *= 1024;
    ++i;
  }
  // One decimal, rounded down: integer arithmetic keeps 1023.99K from printing "1024.0K".
  const uint64_t whole = bytes / unit;
  const uint64_t tenth = (bytes % unit) * 10 / unit;
  return fmt::format("{}.{}{}", whole, tenth, kSuffix[i]);
}

Color state_color(std::string_view s) {
  if (s == "running" || s == "exited-ok") return Color::Green;
  if (s == "failed" || s == "start-limit-hit") return Color::Red;
  if (s == "pending" || s == "before" || s == "starting" || s == "init" || s == "backoff" ||
      s == "stopping")
    return Color::Yellow;
  return Color::None;
}

Color health_color(std::string_view h) {
  if (h == "healthy") return Color::Green;
  if (h == "unhealthy") return Color::Red;
  return Color::None;
}

std::string paint(std::string_view text, Color c, bool enabled) {
  const char* code = nullptr;
  switch (c) {
    case Color::None:
      break;
    case Color::Red:
      code = "31";
      break;
    case Color::Green:
      code = "32";
      break;
    case Color::Yellow:
      code = "33";
      break;
    case Color::Gray:
      code = "90";
      break;
    case Color::Bold:
      code = "1";
      break;
  }
  if (!enabled || code == nullptr || text.empty()) return std::string(text);
  return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
}

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b && i + 1 < text.size() && text[i + 1] == '[') {
      // CSI: parameters and intermediates up to the final byte (0x40-0x7e).
      i += 2;
      while (i < text.size() && (static_cast<unsigned char>(text[i]) < 0x40 ||
                                 static_cast<unsigned char>(text[i]) > 0x7e))
        ++i;
      continue;
    }
    if ((c & 0xc0) != 0x80) ++width;  // count lead bytes only
  }
  return width;
}

std::string render_table(const std::vector<Column>& columns,
                         const std::vector<std::vector<std::string>>& rows, bool color) {
  std::vector<std::size_t> widths;
  for (const auto& c : columns) widths.push_back(display_width(c.title));
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], display_width(r[i]));

  auto line = [&](auto cell_text) {
    std::string out;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const std::string text = cell_text(i);
      const std::size_t pad = widths[i] - display_width(text);
      const bool last = i + 1 == columns.size();
      if (i > 0) out += "  ";
      if (columns[i].right) {
        out.append(pad, ' ');
        out += text;
      } else {
        out += text;
        if (!last) out.append(pad, ' ');
      }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out =
      line([&](std::size_t i) { return paint(columns[i].title, Color::Bold, color); });
  for (const auto& r : rows)
    out += line([&](std::size_t i) { return i < r.size() ? r[i] : std::string(); });
  return out;
}

StatusRow status_row(const Properties& p) {
  StatusRow r;
  r.name = get<std::string>(p, "Name").value_or("");
  r.state = get<std::string>(p, "State").value_or("");
  r.sub_state = get<std::string>(p, "SubState").value_or("");
  r.pid = get<uint32_t>(p, "MainPID").value_or(0);
  r.start_usec = get<uint64_t>(p, "StartTimestamp").value_or(0);
  r.restarts = get<uint32_t>(p, "NRestarts").value_or(0);
  r.cpu_nsec = get<uint64_t>(p, "CPUUsageNSec").value_or(0);
  r.memory_bytes = get<uint64_t>(p, "MemoryCurrent").value_or(0);
  r.health = get<std::string>(p, "Health").value_or("");
  r.notify_status = get<std::string>(p, "NotifyStatus").value_or("");
  return r;
}

bool state_is_ok(std::string_view state) { return state == "running" || state == "exited-ok"; }

std::string render_status(const std::vector<StatusRow>& rows, uint64_t now_usec, bool color) {
  static const std::vector<Column> kColumns = {{"NAME"},         {"STATE"},          {"PID", true},
                                               {"UPTIME", true}, {"RESTARTS", true}, {"CPU", true},
                                               {"MEMORY", true}, {"HEALTH"}};
  std::vector<std::vector<std::string>> cells;
  cells.reserve(rows.size());
  for (const auto& r : rows) {
    std::string state = paint(r.state, state_color(r.state), color);
    if (!r.sub_state.empty() && !r.notify_status.empty())
      state += " (" + r.sub_state + ": " + r.notify_status + ")";
    else if (!r.sub_state.empty())
      state += " (" + r.sub_state + ")";
    else if (!r.notify_status.empty())
      state += " (" + r.notify_status + ")";
    const bool has_pid = r.pid != 0;
    const bool up = has_pid && r.start_usec != 0 && r.start_usec <= now_usec &&
                    (r.state == "starting" || r.state == "init" || r.state == "running" ||
                     r.state == "stopping");
    cells.push_back({
        r.name,
        state,
        has_pid ? std::to_string(r.pid) : "-",
        up ? format_span(now_usec - r.start_usec) : "-",
        std::to_string(r.restarts),
        has_pid ? format_cpu(r.cpu_nsec) : "-",
        has_pid ? format_bytes(r.memory_bytes) : "-",
        r.health.empty() ? "-" : paint(r.health, health_color(r.health), color),
    });
  }
  return render_table(kColumns, cells, color);
}

nlohmann::json to_json(const Value& v) {
  return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

nlohmann::json to_json(const Properties& p) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : p) out[k] = to_json(v);
  return out;
}

std::string format_value(const Value& v) {
  return std::visit(Overloaded{
                        [](bool b) -> std::string { return b ? "yes" : "no"; },
                        [](int64_t i) { return std::to_string(i); },
                        [](uint64_t u) { return std::to_string(u); },
                        [](double d) { return fmt::format("{}", d); },
                        [](const std::string& s) { return s; },
                        [](const std::vector<std::string>& l) { return join(l, " "); },
                        [](const std::map<std::string, std::string>& m) {
                          std::vector<std::string> parts;
                          for (const auto& [k, x] : m) parts.push_back(k + "=" + x);
                          return join(parts, " ");
                        },
                        [](const std::map<std::string, uint64_t>& m) {
                          std::vector<std::string> parts;
                          for (const auto& [k, x] : m) parts.push_back(k + "=" + std::to_string(x));
                          return join(parts, " ");
                        },
                    },
                    v);
}

std::string render_show(const Properties& p, const std::vector<std::string>& only,
                        bool value_only) {
  std::string out;
  auto emit = [&](const std::string& key, const Value& v) {
    if (!value_only) out += key + "=";
    out += format_value(v) + "\n";
  };
  if (only.empty()) {
    for (const auto& [k, v] : p) emit(k, v);
  } else {
    for (const auto& k : only)
      if (auto it = p.find(k); it != p.end()) emit(k, it->second);
  }
  return out;
}

std::string format_reload(const ReloadSummary& r) {
  std::vector<std::string> parts;
  auto part = [&](const char* label, const std::vector<std::string>& names) {
    if (!names.empty()) parts.push_back(fmt::format("{}: {}", label, join(names, " ")));
  };
  part("added", r.added);
  part("removed", r.removed);
  part("restarted", r.restarted);
  part("restart pending", r.pending);
  return parts.empty() ? "nothing changed" : join(parts, "; ");
}

std::string format_event(std::string_view timestamp, const Event& e, bool color) {
  switch (e.kind) {
    case Event::Kind::Added:
      return fmt::format("{} {} added", timestamp, e.name);
    case Event::Kind::Removed:
      return fmt::format("{} {} removed", timestamp, e.name);
    case Event::Kind::Reloaded:
      return fmt::format("{} reloaded: {}", timestamp, format_reload(e.reload));
    case Event::Kind::StateChanged:
      break;
  }
  std::string out = fmt::format("{} {} {} -> {}", timestamp, e.name, e.old_state,
                                paint(e.new_state, state_color(e.new_state), color));
  if (!e.sub_state.empty()) out += " (" + e.sub_state + ")";
  if (e.pid > 0) out += fmt::format(" pid {}", e.pid);
  if (e.exit_code >= 0) out += fmt::format(", exit code {}", e.exit_code);
  if (!e.exit_signal.empty()) out += ", signal " + e.exit_signal;
  // A pending unit's reason repeats its sub-state ("waiting for db"): say it once.
  if (!e.reason.empty() && e.reason != e.sub_state) out += ": " + e.reason;
  return out;
}

nlohmann::json event_json(std::string_view timestamp, uint64_t realtime_usec, const Event& e) {
  nlohmann::json j = {{"time", timestamp}, {"realtime_usec", realtime_usec}};
  switch (e.kind) {
    case Event::Kind::StateChanged:
      j["event"] = "ProcessStateChanged";
      j["name"] = e.name;
      j["path"] = e.path;
      j["old_state"] = e.old_state;
      j["new_state"] = e.new_state;
      j["sub_state"] = e.sub_state;
      j["pid"] = e.pid;
      j["exit_code"] = e.exit_code;
      j["exit_signal"] = e.exit_signal;
      j["reason"] = e.reason;
      break;
    case Event::Kind::Added:
    case Event::Kind::Removed:
      j["event"] = e.kind == Event::Kind::Added ? "ProcessAdded" : "ProcessRemoved";
      j["name"] = e.name;
      j["path"] = e.path;
      break;
    case Event::Kind::Reloaded:
      j["event"] = "Reloaded";
      j["added"] = e.reload.added;
      j["removed"] = e.reload.removed;
      j["restarted"] = e.reload.restarted;
      j["pending"] = e.reload.pending;
      break;
  }
  return j;
}

std::string format_log_line(const LogLine& l, bool color) {
  if (!l.is_stderr) return l.text;
  return color ? paint(l.text, Color::Red, true) : "[stderr] " + l.text;
}

std::optional<int> parse_signal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(text[0]))) {
    int n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > 64)
      return std::nullopt;
    return n;
  }
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view name = upper;
  if (name.starts_with("SIG")) name.remove_prefix(3);
  for (const auto& [n, number] : core::signal_table())
    if (n == name) return number;
  return std::nullopt;
}

std::vector<std::size_t> select_processes(const std::vector<ProcessName>& all,
                                          const std::vector<std::string>& patterns,
                                          std::vector<std::string>* unknown) {
  std::vector<bool> chosen(all.size(), false);
  for (const auto& pat : patterns) {
    const bool glob = has_glob(pat);
    bool any = false;
    for (std::size_t i = 0; i < all.size(); ++i) {
      const bool hit = glob ? fnmatch(pat.c_str(), all[i].name.c_str(), 0) == 0
                            : all[i].name == pat || all[i].id == pat;
      if (hit) {
        chosen[i] = true;
        any = true;
      }
    }
    if (!any && !glob && unknown) unknown->push_back(pat);
  }
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (chosen[i]) out.push_back(i);
  return out;
}

}  // namespace procman::ctl
