#include "core/socket_spec.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>
#include <optional>

#include "core/notify.h"

namespace procman::core {
namespace {

constexpr std::size_t kMaxUnixPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr std::size_t kMaxFdName = 255;

using Result = std::variant<SocketSpec, std::string>;

/// Expands %t %h %S %% in `in`; nullopt and *error on an unknown or unset one.
std::optional<std::string> expand_specifiers(std::string_view in, const SocketExpand& ex,
                                             std::string* error) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 1 == in.size()) {
      *error = "ends in a lone '%'; write %% for a literal percent sign";
      return std::nullopt;
    }
    const char c = in[++i];
    const std::string* value = nullptr;
    const char* what = nullptr;
    switch (c) {
      case '%':
        out += '%';
        continue;
      case 't':
        value = &ex.runtime_dir, what = "the runtime directory";
        break;
      case 'h':
        value = &ex.home, what = "the home directory";
        break;
      case 'S':
        value = &ex.state_dir, what = "the state directory";
        break;
      default:
        *error = fmt::format(
            "unknown specifier {}; known are %t (runtime directory), %h (home), %S (state "
            "directory) and %%",
            quote_untrusted(in.substr(i - 1, 2)));
        return std::nullopt;
    }
    if (value->empty()) {
      *error = fmt::format("%{} is used but {} is not known", c, what);
      return std::nullopt;
    }
    out += *value;
  }
  return out;
}

std::optional<uint16_t> parse_port(std::string_view text, std::string* error) {
  if (text.empty()) {
    *error = "the port is missing";
    return std::nullopt;
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      *error =
          fmt::format("port {} is not a number (service names are not resolved; write e.g. 8080)",
                      quote_untrusted(text));
      return std::nullopt;
    }
  }
  const std::size_t first = text.find_first_not_of('0');
  const std::string_view digits =
      first == std::string_view::npos ? std::string_view() : text.substr(first);
  const unsigned long value =
      digits.empty() || digits.size() > 5 ? 0 : std::stoul(std::string(digits));
  if (value == 0 || value > 65535) {
    *error = fmt::format("port {} is out of range 1-65535", text);
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

std::optional<std::string> normalize_ipv4(std::string_view host, std::string* error) {
  in_addr addr{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &addr) != 1) {
    if (host == "localhost") {
      *error =
          "host \"localhost\" is not a numeric address; use 127.0.0.1 or [::1] (host names are "
          "not resolved)";
    } else {
      *error = fmt::format(
          "host {} is not a numeric IPv4 address (IPv6 goes in brackets, e.g. [::1]; host names "
          "are not resolved, use e.g. 127.0.0.1)",
          quote_untrusted(host));
    }
    return std::nullopt;
  }
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &addr, buf, sizeof buf);
  return std::string(buf);
}

std::optional<std::string> normalize_ipv6(std::string_view host, std::string* error) {
  in6_addr addr{};
  if (host.find('%') != std::string_view::npos) {
    *error = fmt::format("IPv6 address {} has a scope (zone) id; those are not supported",
                         quote_untrusted(host));
    return std::nullopt;
  }
  if (inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1) {
    *error = fmt::format("{} is not a numeric IPv6 address", quote_untrusted(host));
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &addr, buf, sizeof buf);
  return std::string(buf);
}

Result parse_inet(SocketSpec spec, std::string_view rest) {
  const std::string_view type = socket_kind_name(spec.kind);
  std::string error;
  std::string_view host;
  std::string_view port;
  bool ipv6 = false;
  if (rest.empty()) {
    return fmt::format("the address is missing; expected e.g. {}:8080 or {}:127.0.0.1:8080", type,
                       type);
  }
  if (rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return fmt::format("{} has no closing ']'", quote_untrusted(rest));
    }
    host = rest.substr(1, close - 1);
    ipv6 = true;
    const std::string_view after = rest.substr(close + 1);
    if (after.empty() || after.front() != ':') {
      return fmt::format("expected :PORT after {}, e.g. {}:[::1]:8080",
                         quote_untrusted(rest.substr(0, close + 1)), type);
    }
    port = after.substr(1);
  } else {
    const std::size_t colon = rest.find(':');
    if (colon == std::string_view::npos) {
      if (rest.find_first_not_of("0123456789") != std::string_view::npos) {
        return fmt::format("{} has no port; expected {}:HOST:PORT or {}:PORT",
                           quote_untrusted(rest), type, type);
      }
      port = rest;
    } else if (rest.find(':', colon + 1) != std::string_view::npos) {
      return fmt::format(
          "IPv6 addresses go in brackets with the port after them, e.g. {}:[::1]:8080", type);
    } else {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      if (host.empty()) {
        return fmt::format("the host is empty; write {}:{} to listen on all addresses", type, port);
      }
    }
  }
  auto port_value = parse_port(port, &error);
  if (!port_value) return error;
  spec.port = *port_value;
  if (ipv6) {
    if (host.empty()) return std::string("the IPv6 address in [] is empty; use [::] or [::1]");
    auto normalized = normalize_ipv6(host, &error);
    if (!normalized) return error;
    spec.host = *normalized;
  } else if (!host.empty()) {
    auto normalized = normalize_ipv4(host, &error);
    if (!normalized) return error;
    spec.host = *normalized;
  }
  return spec;
}

Result parse_unix(SocketSpec spec, std::string_view rest, const SocketExpand& ex) {
  if (rest.empty()) {
    return std::string("the path is missing; expected e.g. unix:%t/app.sock or unix:@name");
  }
  std::string error;
  if (rest.front() == '@') {
    auto name = expand_specifiers(rest.substr(1), ex, &error);
    if (!name) return "abstract socket name " + error;
    if (name->empty()) return std::string("the abstract socket name after '@' is empty");
    if (name->size() > kMaxUnixPath) {
      return fmt::format("abstract socket name longer than {} bytes ({} bytes): {}", kMaxUnixPath,
                         name->size(), quote_untrusted(*name));
    }
    spec.kind = SocketSpec::Kind::UnixAbstract;
    spec.path = std::move(*name);
    return spec;
  }
  auto path = expand_specifiers(rest, ex, &error);
  if (!path) return "unix socket path " + error;
  if (path->empty() || path->front() != '/') {
    return fmt::format("unix socket path {} is relative; use an absolute path such as %t/app.sock",
                       quote_untrusted(*path));
  }
  if (path->back() == '/') {
    return fmt::format("unix socket path {} ends in '/'; it must name a file",
                       quote_untrusted(*path));
  }
  if (path->size() > kMaxUnixPath) {
    return fmt::format("unix socket path longer than {} bytes ({} bytes): {}", kMaxUnixPath,
                       path->size(), quote_untrusted(*path));
  }
  spec.path = std::move(*path);
  return spec;
}

/// `text` with every character an fd name may not hold replaced by '_', cut to 255.
std::string repair_fdname(std::string_view text) {
  std::string out(text.substr(0, kMaxFdName));
  for (char& c : out) {
    if (c == ':' || c < 0x21 || c > 0x7E) c = '_';
  }
  return out;
}

}  // namespace

std::string_view socket_kind_name(SocketSpec::Kind kind) {
  switch (kind) {
    case SocketSpec::Kind::Tcp:
      return "tcp";
    case SocketSpec::Kind::Udp:
      return "udp";
    case SocketSpec::Kind::Unix:
      return "unix";
    case SocketSpec::Kind::UnixAbstract:
      return "unix-abstract";
  }
  return "unknown";
}

std::variant<SocketSpec, std::string> parse_socket_spec(std::string_view text,
                                                        const SocketExpand& expand) {
  if (text.find('\0') != std::string_view::npos) {
    return fmt::format("socket {} contains a NUL byte", quote_untrusted(text));
  }
  if (text.empty()) return std::string("the socket spec is empty; expected e.g. tcp:8080");
  if (text.find_first_of(" \t\n\r\v\f") != std::string_view::npos) {
    return fmt::format("socket {} contains white space", quote_untrusted(text));
  }
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return fmt::format(
        "socket {} has no type; expected tcp:, udp: or unix: before the address, e.g. tcp:{}",
        quote_untrusted(text),
        text.find_first_not_of("0123456789") == std::string_view::npos ? std::string(text)
                                                                       : std::string("8080"));
  }
  const std::string_view type = text.substr(0, colon);
  const std::string_view rest = text.substr(colon + 1);
  SocketSpec spec;
  spec.text = std::string(text);
  Result result;
  if (type == "tcp") {
    spec.kind = SocketSpec::Kind::Tcp;
    result = parse_inet(std::move(spec), rest);
  } else if (type == "udp") {
    spec.kind = SocketSpec::Kind::Udp;
    result = parse_inet(std::move(spec), rest);
  } else if (type == "unix") {
    spec.kind = SocketSpec::Kind::Unix;
    result = parse_unix(std::move(spec), rest, expand);
  } else {
    return fmt::format("unknown socket type {}; expected tcp, udp or unix", quote_untrusted(type));
  }
  if (auto* parsed = std::get_if<SocketSpec>(&result)) {
    parsed->name = default_socket_name(*parsed);
  } else {
    auto& error = std::get<std::string>(result);
    error = fmt::format("socket {}: {}", quote_untrusted(text), error);
  }
  return result;
}

std::string default_socket_name(const SocketSpec& spec) {
  switch (spec.kind) {
    case SocketSpec::Kind::Tcp:
    case SocketSpec::Kind::Udp:
      return fmt::format("{}-{}", socket_kind_name(spec.kind), spec.port);
    case SocketSpec::Kind::Unix: {
      const std::size_t slash = spec.path.rfind('/');
      const std::string_view file = slash == std::string::npos
                                        ? std::string_view(spec.path)
                                        : std::string_view(spec.path).substr(slash + 1);
      return repair_fdname("unix-" + std::string(file));
    }
    case SocketSpec::Kind::UnixAbstract:
      return repair_fdname("abstract-" + spec.path);
  }
  return "unknown";
}

std::string listen_fdnames(const std::vector<SocketSpec>& specs) {
  std::string out;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const SocketSpec& spec = specs[i];
    if (i > 0) out += ':';
    out += spec.name.empty() ? default_socket_name(spec) : repair_fdname(spec.name);
  }
  return out;
}

std::string socket_spec_string(const SocketSpec& spec) {
  switch (spec.kind) {
    case SocketSpec::Kind::Tcp:
    case SocketSpec::Kind::Udp: {
      const std::string_view type = socket_kind_name(spec.kind);
      if (spec.host.empty()) return fmt::format("{}:{}", type, spec.port);
      if (spec.host.find(':') != std::string::npos) {
        return fmt::format("{}:[{}]:{}", type, spec.host, spec.port);
      }
      return fmt::format("{}:{}:{}", type, spec.host, spec.port);
    }
    case SocketSpec::Kind::Unix:
      return "unix:" + spec.path;
    case SocketSpec::Kind::UnixAbstract:
      return "unix:@" + spec.path;
  }
  return "unknown";
}

bool same_endpoint(const SocketSpec& a, const SocketSpec& b) {
  return a.kind == b.kind && a.host == b.host && a.port == b.port && a.path == b.path;
}

}  // namespace procman::core
