#include "os/listen.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>

namespace procman::os {
namespace {

using core::SocketSpec;

std::string errno_text(int err) { return std::strerror(err); }

std::string spec_label(const SocketSpec& spec) {
  return spec.text.empty() ? core::socket_spec_string(spec) : spec.text;
}

int socket_type(const SocketSpec& spec) {
  return spec.kind == SocketSpec::Kind::Udp ? SOCK_DGRAM : SOCK_STREAM;
}

/// A sockaddr of any family, with its length.
struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

Address inet_address(int family, const std::string& host, uint16_t port) {
  Address a;
  if (family == AF_INET6) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    sin6.sin6_addr = in6addr_any;
    if (!host.empty()) inet_pton(AF_INET6, host.c_str(), &sin6.sin6_addr);
    std::memcpy(&a.storage, &sin6, sizeof sin6);
    a.len = sizeof sin6;
  } else {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    if (!host.empty()) inet_pton(AF_INET, host.c_str(), &sin.sin_addr);
    std::memcpy(&a.storage, &sin, sizeof sin);
    a.len = sizeof sin;
  }
  return a;
}

std::string bind_error(const SocketSpec& spec, int err) {
  const std::string label = spec_label(spec);
  switch (err) {
    case EADDRINUSE:
      if (spec.kind == SocketSpec::Kind::Unix || spec.kind == SocketSpec::Kind::UnixAbstract) {
        return fmt::format("{}: address already in use (another process is bound to it)", label);
      }
      return fmt::format("{}: address already in use (another process listens on {} port {})",
                         label, socket_kind_name(spec.kind), spec.port);
    case EACCES:
      if (spec.kind == SocketSpec::Kind::Tcp || spec.kind == SocketSpec::Kind::Udp) {
        return fmt::format(
            "{}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)", label);
      }
      return fmt::format("{}: permission denied", label);
    case EADDRNOTAVAIL:
      return fmt::format("{}: {} is not an address of this host", label, spec.host);
    default:
      return fmt::format("{}: cannot bind: {}", label, errno_text(err));
  }
}

std::variant<unique_fd, std::string> open_inet(const SocketSpec& spec) {
  const std::string label = spec_label(spec);
  const bool all = spec.host.empty();
  const bool v6 = spec.host.find(':') != std::string::npos;
  int family = (all || v6) ? AF_INET6 : AF_INET;
  for (;;) {
    unique_fd fd(socket(family, socket_type(spec) | SOCK_CLOEXEC, 0));
    if (!fd) {
      if (all && family == AF_INET6 && errno == EAFNOSUPPORT) {
        family = AF_INET;
        continue;
      }
      return fmt::format("{}: cannot create socket: {}", label, errno_text(errno));
    }
    const int one = 1;
    if (spec.kind == SocketSpec::Kind::Tcp &&
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      return fmt::format("{}: cannot set SO_REUSEADDR: {}", label, errno_text(errno));
    }
    if (family == AF_INET6) {
      const int v6only = all ? 0 : 1;
      if (setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) {
        return fmt::format("{}: cannot set IPV6_V6ONLY: {}", label, errno_text(errno));
      }
    }
    Address addr = inet_address(family, spec.host, spec.port);
    if (bind(fd.get(), addr.get(), addr.len) != 0) {
      const int err = errno;
      if (all && family == AF_INET6 && err == EADDRNOTAVAIL) {  // IPv6 disabled on this host
        family = AF_INET;
        continue;
      }
      return bind_error(spec, err);
    }
    if (spec.kind == SocketSpec::Kind::Tcp && listen(fd.get(), SOMAXCONN) != 0) {
      return fmt::format("{}: cannot listen: {}", label, errno_text(errno));
    }
    return fd;
  }
}

std::variant<unique_fd, std::string> open_unix(const SocketSpec& spec) {
  const std::string label = spec_label(spec);
  const bool abstract = spec.kind == SocketSpec::Kind::UnixAbstract;
  sockaddr_un addr{};
  socklen_t len = 0;
  std::string error;
  if (!make_unix_address(spec.path, abstract, &addr, &len, &error)) {
    return fmt::format("{}: {}", label, error);
  }
  if (!abstract && !clear_stale_unix_socket(spec.path, &error)) {
    return fmt::format("{}: {}", label, error);
  }
  unique_fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fmt::format("{}: cannot create socket: {}", label, errno_text(errno));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return bind_error(spec, errno);
  }
  if (!abstract && chmod(spec.path.c_str(), 0666) != 0) {
    const int err = errno;
    unlink(spec.path.c_str());
    return fmt::format("{}: cannot make the socket file mode 0666: {}", label, errno_text(err));
  }
  if (listen(fd.get(), SOMAXCONN) != 0) {
    const int err = errno;
    if (!abstract) unlink(spec.path.c_str());
    return fmt::format("{}: cannot listen: {}", label, errno_text(err));
  }
  return fd;
}

bool get_int_option(int fd, int level, int name, int* value) {
  socklen_t len = sizeof *value;
  return getsockopt(fd, level, name, value, &len) == 0 && len == sizeof *value;
}

bool inet_matches(const sockaddr_storage& ss, socklen_t len, int fd, const SocketSpec& spec) {
  const bool all = spec.host.empty();
  const bool v6 = spec.host.find(':') != std::string::npos;
  if (ss.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6) && (all || v6)) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &ss, sizeof sin6);
    if (spec.port != 0 && ntohs(sin6.sin6_port) != spec.port) return false;
    if (all) {
      int v6only = 1;
      return IN6_IS_ADDR_UNSPECIFIED(&sin6.sin6_addr) &&
             get_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only) && v6only == 0;
    }
    in6_addr want{};
    return inet_pton(AF_INET6, spec.host.c_str(), &want) == 1 &&
           std::memcmp(&want, &sin6.sin6_addr, sizeof want) == 0;
  }
  if (ss.ss_family == AF_INET && len >= sizeof(sockaddr_in) && !v6) {
    sockaddr_in sin{};
    std::memcpy(&sin, &ss, sizeof sin);
    if (spec.port != 0 && ntohs(sin.sin_port) != spec.port) return false;
    in_addr want{};
    want.s_addr = htonl(INADDR_ANY);
    if (!all && inet_pton(AF_INET, spec.host.c_str(), &want) != 1) return false;
    return want.s_addr == sin.sin_addr.s_addr;
  }
  return false;
}

}  // namespace

bool make_unix_address(std::string_view path, bool abstract, sockaddr_un* addr, socklen_t* len,
                       std::string* error) {
  *addr = sockaddr_un{};
  addr->sun_family = AF_UNIX;
  const std::size_t room = sizeof addr->sun_path - 1;
  if (path.empty()) {
    *error = abstract ? "the abstract socket name is empty" : "the socket path is empty";
    return false;
  }
  if (path.size() > room) {
    *error = fmt::format("{} longer than {} bytes ({} bytes)",
                         abstract ? "abstract socket name" : "unix socket path", room, path.size());
    return false;
  }
  if (path.find('\0') != std::string_view::npos) {
    *error = "the socket address contains a NUL byte";
    return false;
  }
  const std::size_t offset = offsetof(sockaddr_un, sun_path);
  if (abstract) {
    std::memcpy(addr->sun_path + 1, path.data(), path.size());
    *len = static_cast<socklen_t>(offset + 1 + path.size());
  } else {
    std::memcpy(addr->sun_path, path.data(), path.size());
    *len = static_cast<socklen_t>(offset + path.size() + 1);
  }
  return true;
}

bool clear_stale_unix_socket(const std::string& path, std::string* error) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      const std::size_t slash = path.rfind('/');
      const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
      struct stat dst {};
      if (slash != std::string::npos && stat(dir.c_str(), &dst) != 0) {
        *error = errno == ENOENT ? fmt::format("directory {} does not exist", dir)
                                 : fmt::format("directory {}: {}", dir, errno_text(errno));
        return false;
      }
      return true;
    }
    *error = errno_text(errno);
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *error = "exists and is not a socket; refusing to replace it";
    return false;
  }
  sockaddr_un addr{};
  socklen_t len = 0;
  if (!make_unix_address(path, false, &addr, &len, error)) return false;
  // Probe with each socket type: connecting to a type the file does not serve
  // fails with EPROTOTYPE; only a refused connection proves nobody is there.
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    unique_fd probe(socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!probe) {
      *error = "cannot create socket: " + errno_text(errno);
      return false;
    }
    if (connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0 || errno == EAGAIN ||
        errno == EINPROGRESS) {
      *error = "another process is listening on this socket";
      return false;
    }
    if (errno == EPROTOTYPE) continue;
    if (errno != ECONNREFUSED) {
      *error = "cannot tell whether the socket is in use: " + errno_text(errno);
      return false;
    }
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      *error = "cannot remove the stale socket: " + errno_text(errno);
      return false;
    }
    return true;
  }
  *error = "cannot tell whether the socket is in use";
  return false;
}

std::variant<unique_fd, std::string> open_listener(const SocketSpec& spec) {
  switch (spec.kind) {
    case SocketSpec::Kind::Tcp:
    case SocketSpec::Kind::Udp:
      return open_inet(spec);
    case SocketSpec::Kind::Unix:
    case SocketSpec::Kind::UnixAbstract:
      return open_unix(spec);
  }
  return fmt::format("{}: unknown socket kind", spec_label(spec));
}

bool listener_matches(int fd, const SocketSpec& spec) {
  int type = 0;
  if (!get_int_option(fd, SOL_SOCKET, SO_TYPE, &type) || type != socket_type(spec)) return false;
  if (type == SOCK_STREAM) {
    int accepting = 0;
    if (!get_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting) || accepting == 0) return false;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  switch (spec.kind) {
    case SocketSpec::Kind::Tcp:
    case SocketSpec::Kind::Udp:
      return inet_matches(ss, len, fd, spec);
    case SocketSpec::Kind::Unix:
    case SocketSpec::Kind::UnixAbstract: {
      if (ss.ss_family != AF_UNIX) return false;
      sockaddr_un want{};
      socklen_t want_len = 0;
      std::string error;
      if (!make_unix_address(spec.path, spec.kind == SocketSpec::Kind::UnixAbstract, &want,
                             &want_len, &error)) {
        return false;
      }
      // The kernel reports a path address with or without its trailing NUL.
      if (spec.kind == SocketSpec::Kind::Unix && len == want_len - 1) ++len;
      return len == want_len && std::memcmp(&ss, &want, want_len) == 0;
    }
  }
  return false;
}

std::optional<uint16_t> bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  if (ss.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &ss, sizeof sin6);
    return ntohs(sin6.sin6_port);
  }
  if (ss.ss_family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in sin{};
    std::memcpy(&sin, &ss, sizeof sin);
    return ntohs(sin.sin_port);
  }
  return std::nullopt;
}

}  // namespace procman::os
