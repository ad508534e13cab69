#include "core/notify.h"

#include <fmt/format.h>
#include <charconv>
#include <limits>
#include <system_error>

namespace procman::core {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr int kMaxErrno = 4095;                            // the kernel's MAX_ERRNO

/// Length of the valid UTF-8 sequence at the start of `s` and its code point;
/// 0 when the first byte does not start one (overlong forms, surrogates and
/// values above U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view s, char32_t* cp) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  std::size_t len = 0;
  char32_t value = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, value = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, value = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, value = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (std::size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i) & 0x3F);
  }
  if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  *cp = value;
  return len;
}

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp < 0xA0); }

template <typename T>
std::optional<T> parse_decimal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

/// STATUS= value made printable and bounded; notes what was changed.
std::string clean_status(std::string_view value, std::vector<std::string>& problems) {
  std::string out;
  out.reserve(std::min(value.size(), kMaxNotifyStatus));
  bool replaced = false;
  bool cut = false;
  for (std::size_t i = 0; i < value.size();) {
    char32_t cp = 0;
    std::size_t len = utf8_sequence(value.substr(i), &cp);
    std::string_view piece;
    if (len == 0 || is_control(cp)) {
      piece = kReplacement;
      replaced = true;
      len = len == 0 ? 1 : len;
    } else {
      piece = value.substr(i, len);
    }
    if (out.size() + piece.size() > kMaxNotifyStatus) {
      cut = true;
      break;
    }
    out.append(piece);
    i += len;
  }
  if (replaced) {
    problems.push_back(
        "STATUS= contains control characters or invalid UTF-8; they were replaced with U+FFFD");
  }
  if (cut) {
    problems.push_back(
        fmt::format("STATUS= is {} bytes long; it was cut to {} bytes", value.size(), out.size()));
  }
  return out;
}

std::string escape_name(std::string_view name) {
  std::string quoted = quote_untrusted(name);
  return quoted.substr(1, quoted.size() - 2);
}

class Parser {
 public:
  explicit Parser(NotifyMessage& m) : m_(m) {}

  void line(std::string_view line) {
    if (line.find('\0') != std::string_view::npos) {
      problem(fmt::format("line {} contains a NUL byte; ignored", quote_untrusted(line)));
      return;
    }
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      problem(fmt::format("line {} is not a KEY=VALUE assignment; ignored", quote_untrusted(line)));
      return;
    }
    if (eq == 0) {
      problem(fmt::format("line {} has an empty key; ignored", quote_untrusted(line)));
      return;
    }
    const std::string_view key = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    if (key == "READY") {
      flag(key, value, m_.ready);
    } else if (key == "RELOADING") {
      flag(key, value, m_.reloading);
    } else if (key == "STOPPING") {
      flag(key, value, m_.stopping);
    } else if (key == "FDSTORE") {
      flag(key, value, m_.fdstore);
    } else if (key == "FDSTOREREMOVE") {
      flag(key, value, m_.fdstore_remove);
    } else if (key == "BARRIER") {
      flag(key, value, m_.barrier);
    } else if (key == "WATCHDOG") {
      if (value == "1") {
        m_.watchdog_ping = true;
      } else if (value == "trigger") {
        m_.watchdog_trigger = true;
      } else {
        problem(fmt::format("WATCHDOG={} is not valid; expected WATCHDOG=1 or WATCHDOG=trigger",
                            quote_untrusted(value)));
      }
    } else if (key == "STATUS") {
      m_.status = clean_status(value, m_.problems);
    } else if (key == "MAINPID") {
      auto pid = parse_decimal<int>(value);
      if (pid && *pid > 0) {
        m_.main_pid = *pid;
      } else {
        problem(fmt::format("MAINPID={} is not a pid", quote_untrusted(value)));
      }
    } else if (key == "WATCHDOG_USEC") {
      usec(key, value, m_.watchdog_usec);
    } else if (key == "EXTEND_TIMEOUT_USEC") {
      usec(key, value, m_.extend_timeout_usec);
    } else if (key == "MONOTONIC_USEC") {
      usec(key, value, m_.monotonic_usec);
    } else if (key == "ERRNO") {
      auto err = parse_decimal<int>(value);
      if (err && *err <= kMaxErrno) {
        m_.errno_value = *err;
      } else {
        problem(fmt::format("ERRNO={} is not an errno number (0-{})", quote_untrusted(value),
                            kMaxErrno));
      }
    } else if (key == "FDNAME") {
      if (auto why = fdname_problem(value)) {
        problem(fmt::format("FDNAME= is not a valid fd name: {}", *why));
      } else {
        m_.fdname = std::string(value);
      }
    } else {
      m_.unknown.push_back(escape_name(key));
    }
  }

 private:
  void problem(std::string text) { m_.problems.push_back(std::move(text)); }

  void flag(std::string_view key, std::string_view value, bool& field) {
    if (value == "1") {
      field = true;
    } else {
      problem(fmt::format("{}={} is not valid; expected {}=1", key, quote_untrusted(value), key));
    }
  }

  void usec(std::string_view key, std::string_view value, std::optional<uint64_t>& field) {
    if (auto v = parse_decimal<uint64_t>(value)) {
      field = *v;
    } else {
      problem(fmt::format("{}={} is not a number of microseconds", key, quote_untrusted(value)));
    }
  }

  NotifyMessage& m_;
};

}  // namespace

std::string quote_untrusted(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char32_t cp = 0;
      const std::size_t len = c >= 0x80 ? utf8_sequence(text.substr(i), &cp) : 0;
      if (len > 0 && !is_control(cp)) {
        out.append(text.substr(i, len));
        i += len;
        continue;
      }
      out += fmt::format("\\x{:02x}", c);
    }
    ++i;
  }
  out += '"';
  return out;
}

std::optional<std::string> fdname_problem(std::string_view name) {
  if (name.empty()) return std::string("the name is empty");
  if (name.size() > 255) {
    return fmt::format("{} is {} bytes long; at most 255 are allowed", quote_untrusted(name),
                       name.size());
  }
  for (char c : name) {
    if (c == ':') return fmt::format("{} contains ':'", quote_untrusted(name));
    if (c < 0x21 || c > 0x7E) {
      return fmt::format("{} contains characters other than printable ASCII",
                         quote_untrusted(name));
    }
  }
  return std::nullopt;
}

NotifyMessage parse_notify(std::string_view datagram) {
  NotifyMessage message;
  Parser parser(message);
  while (!datagram.empty()) {
    const std::size_t nl = datagram.find('\n');
    const std::string_view line = datagram.substr(0, nl);
    if (!line.empty()) parser.line(line);
    if (nl == std::string_view::npos) break;
    datagram.remove_prefix(nl + 1);
  }
  return message;
}

std::string notify_summary(const NotifyMessage& m) {
  std::vector<std::string> parts;
  if (m.ready) parts.emplace_back("READY=1");
  if (m.reloading) parts.emplace_back("RELOADING=1");
  if (m.stopping) parts.emplace_back("STOPPING=1");
  if (m.watchdog_ping) parts.emplace_back("WATCHDOG=1");
  if (m.watchdog_trigger) parts.emplace_back("WATCHDOG=trigger");
  if (m.fdstore) parts.emplace_back("FDSTORE=1");
  if (m.fdstore_remove) parts.emplace_back("FDSTOREREMOVE=1");
  if (m.barrier) parts.emplace_back("BARRIER=1");
  if (m.status) parts.push_back("STATUS=" + quote_untrusted(*m.status));
  if (m.main_pid) parts.push_back(fmt::format("MAINPID={}", *m.main_pid));
  if (m.watchdog_usec) parts.push_back(fmt::format("WATCHDOG_USEC={}", *m.watchdog_usec));
  if (m.extend_timeout_usec) {
    parts.push_back(fmt::format("EXTEND_TIMEOUT_USEC={}", *m.extend_timeout_usec));
  }
  if (m.monotonic_usec) parts.push_back(fmt::format("MONOTONIC_USEC={}", *m.monotonic_usec));
  if (m.errno_value) parts.push_back(fmt::format("ERRNO={}", *m.errno_value));
  if (m.fdname) parts.push_back("FDNAME=" + quote_untrusted(*m.fdname));
  if (!m.unknown.empty()) parts.push_back(fmt::format("unknown=[{}]", fmt::join(m.unknown, ",")));
  if (!m.problems.empty()) parts.push_back(fmt::format("problems={}", m.problems.size()));
  if (parts.empty()) return "(empty)";
  return fmt::format("{}", fmt::join(parts, " "));
}

}  // namespace procman::core
