// Socket specs for socket activation: the text of a config's `sockets` entry
// ("tcp:127.0.0.1:8080", "unix:%t/app.sock", ...) parsed into what
// os/listen.h opens, plus the LISTEN_FDNAMES value for a list of them.
// Pure: no I/O, no name resolution (inet_pton/inet_ntop only).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace procman::core {

/// Values for the specifiers a unix socket path may use. An empty value makes
/// its specifier an error ("%t is used but the runtime directory is not known").
struct SocketExpand {
  std::string runtime_dir;  ///< %t: $XDG_RUNTIME_DIR, or /run for a system instance
  std::string home;         ///< %h: the home directory
  std::string state_dir;    ///< %S: e.g. $XDG_STATE_HOME or /var/lib
};

/// One socket to listen on.
///
/// Accepted text (nothing is resolved; host names are refused with a hint):
///   tcp:PORT            all addresses, IPv6 and IPv4 on one dual-stack socket
///   tcp:1.2.3.4:PORT    one numeric IPv4 address (0.0.0.0 = every IPv4 address)
///   tcp:[::1]:PORT      one numeric IPv6 address, IPv6 only ([::] = every IPv6 address)
///   udp:...             the same forms, datagram
///   unix:/abs/path      a stream socket file; specifiers %t %h %S %% are expanded
///   unix:@name          a stream socket in the abstract namespace (no file)
/// PORT is 1-65535 in decimal. A unix path must be absolute after expansion and
/// at most 107 bytes (sun_path holds 108 with the NUL); an abstract name is
/// 1-107 bytes.
struct SocketSpec {
  enum class Kind { Tcp, Udp, Unix, UnixAbstract };
  Kind kind = Kind::Tcp;
  /// Tcp/Udp: the address as inet_ntop() writes it (no brackets); empty means
  /// all addresses (dual-stack). It contains ':' exactly when it is IPv6.
  std::string host;
  /// Tcp/Udp: the port. 0 (ephemeral) is never parsed, but os::open_listener()
  /// accepts it in a spec built in code (tests).
  uint16_t port = 0;
  /// Unix: the expanded absolute path. UnixAbstract: the name without its '@'.
  std::string path;
  /// The LISTEN_FDNAMES entry. parse_socket_spec() sets default_socket_name();
  /// the config parser replaces it with the user's `name` (check it with
  /// fdname_problem() from core/notify.h).
  std::string name;
  /// The spec as written, for messages; may be empty in a spec built in code.
  std::string text;

  bool operator==(const SocketSpec&) const = default;
};

/// Parses `text`. White space anywhere is refused (in a path it is far more
/// often a config mistake than intended), as is a NUL byte. The error is
/// one precise sentence naming the offending part, e.g.
/// `port 70000 is out of range 1-65535`,
/// `unknown socket type "sctp"; expected tcp, udp or unix`,
/// `host "localhost" is not a numeric address; use 127.0.0.1 or [::1] (host names are not
/// resolved)`, `unix socket path "app.sock" is relative; use an absolute path such as %t/app.sock`,
/// `unix socket path longer than 107 bytes: ...`.
std::variant<SocketSpec, std::string> parse_socket_spec(std::string_view text,
                                                        const SocketExpand& expand);

/// The name a socket gets when the config gives none: "tcp-8080", "udp-5353",
/// "unix-<file name of the path>", "abstract-<name>"; characters not allowed
/// in an fd name become '_' and the result is cut to 255 bytes, so it is
/// always valid.
std::string default_socket_name(const SocketSpec& spec);

/// The LISTEN_FDNAMES value: the specs' names joined with ':', in order (the
/// order of the fds from 3 on). Names should have passed fdname_problem();
/// one that did not is repaired as default_socket_name() repairs (an empty
/// one becomes default_socket_name(spec)) so the variable is never malformed.
std::string listen_fdnames(const std::vector<SocketSpec>& specs);

/// "tcp", "udp", "unix" or "unix-abstract".
std::string_view socket_kind_name(SocketSpec::Kind kind);

/// The canonical text of a spec: "tcp:[::1]:8080", "udp:5353", "unix:/run/a.sock",
/// "unix:@name". Messages use spec.text when set, this otherwise.
std::string socket_spec_string(const SocketSpec& spec);

/// True when both specs denote the same socket (kind, host, port, path), names
/// and texts aside: a reload keeps such a listener open instead of rebinding.
bool same_endpoint(const SocketSpec& a, const SocketSpec& b);

}  // namespace procman::core
