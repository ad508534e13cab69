// Socket activation, procmand's side: opening the listening sockets of
// core::SocketSpec, recognizing one handed back to us (systemd's fd store,
// a restarted procmand), and the LISTEN_* environment children get.
//
// The contract with children is systemd's sd_listen_fds(3): a child with
// sockets gets them as fds kFirstListenFd, kFirstListenFd+1, ... in spec order.
// The daemon adds LISTEN_FDNAMES (core::listen_fdnames); os::spawn() adds
// LISTEN_FDS and LISTEN_PID, which only the child can fill in before exec.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/socket_spec.h"
#include "os/unique_fd.h"

namespace procman::os {

/// SD_LISTEN_FDS_START: the first passed socket is fd 3.
inline constexpr int kFirstListenFd = 3;

/// Opens the socket of `spec`, ready to hand to a child. The fd is CLOEXEC
/// (dup2() onto kFirstListenFd+i clears that in the child) and BLOCKING, as
/// systemd passes them: programs expect accept() to block; procmand itself only
/// polls it for readiness (start on demand), which needs no O_NONBLOCK.
///   tcp/udp: SO_REUSEADDR for tcp only (so a restarted procmand rebinds a port
///     with connections in TIME_WAIT; for udp it would let two processes share
///     the port). No host: one AF_INET6 socket on [::] with IPV6_V6ONLY=0
///     (dual stack), falling back to AF_INET 0.0.0.0 on a host without IPv6.
///     An IPv6 host is bound with IPV6_V6ONLY=1: exactly that address.
///     Port 0 picks an ephemeral port (see bound_port()).
///   tcp and unix: listen(SOMAXCONN).
///   unix: a stream socket. A stale socket file at the path is replaced (see
///     clear_stale_unix_socket()); a missing parent directory is an error, not
///     created. The file is made mode 0666, like systemd's default SocketMode=:
///     access control is the directory's job. The file is left behind when the
///     fd is closed; the next open_listener() replaces it.
/// Errors name the spec and the cause, e.g.
/// `tcp:127.0.0.1:8080: address already in use (another process listens on tcp port 8080)`.
std::variant<unique_fd, std::string> open_listener(const core::SocketSpec& spec);

/// True when `fd` is a socket of the right family and type bound to the
/// address of `spec` (for stream sockets: and listening); spec.port 0 matches
/// any port. "All addresses" matches [::] with IPV6_V6ONLY=0 or 0.0.0.0.
/// For checking an fd recovered from systemd's fd store or the environment.
bool listener_matches(int fd, const core::SocketSpec& spec);

/// The port an AF_INET/AF_INET6 socket is bound to; nullopt for anything else.
std::optional<uint16_t> bound_port(int fd);

/// Builds the address of a unix socket: `path` is a file path, or an abstract
/// name when `abstract` (then the address is the NUL plus the name, without a
/// trailing NUL, as systemd and sd_notify() address them). false and *error
/// when it does not fit (107 bytes) or is empty.
bool make_unix_address(std::string_view path, bool abstract, sockaddr_un* addr, socklen_t* len,
                       std::string* error);

/// Makes `path` free for bind(): nothing there is fine; a socket file nobody
/// listens on (connecting is refused) is unlinked. Refused, *error saying why
/// (without the path; callers prefix it): anything that is not a socket (never
/// deleted), a socket another process still serves (probing it connects once),
/// a missing parent directory ("directory /x does not exist").
bool clear_stale_unix_socket(const std::string& path, std::string* error);

}  // namespace procman::os
