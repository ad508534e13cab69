// The sd_notify protocol as procmand hears it from its children: one datagram
// on NOTIFY_SOCKET holds newline-separated KEY=VALUE assignments (sd_notify(3)).
// Parsing only; the socket is os/notify_socket.h. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace procman::core {

/// The largest datagram procmand reads from its notify socket, in bytes
/// (systemd reads PIPE_BUF-sized messages too). A longer datagram arrives
/// truncated (MSG_TRUNC) and is refused whole, never parsed in part: its
/// missing tail could have changed the meaning of what arrived (a cut
/// "MAINPID=12345" reads as "MAINPID=12").
inline constexpr std::size_t kMaxNotifyDatagram = 4096;

/// STATUS= text longer than this many bytes is cut (at a UTF-8 character
/// boundary) and kept, with a problem noted; it is shown in status tables.
inline constexpr std::size_t kMaxNotifyStatus = 1024;

/// What one datagram said. Flags are set by their "=1" assignment; optional
/// fields hold the last valid assignment of their key in the datagram (a
/// duplicate is not a problem). An invalid assignment leaves its field as it
/// was and adds a line to `problems`; everything valid is still used.
struct NotifyMessage {
  bool ready = false;             ///< READY=1: start-up (or reload) finished
  bool reloading = false;         ///< RELOADING=1
  bool stopping = false;          ///< STOPPING=1
  bool watchdog_ping = false;     ///< WATCHDOG=1
  bool watchdog_trigger = false;  ///< WATCHDOG=trigger: act as if the watchdog expired
  bool fdstore = false;           ///< FDSTORE=1: keep the fds sent along
  bool fdstore_remove = false;    ///< FDSTOREREMOVE=1: drop stored fds named FDNAME=
  bool barrier = false;           ///< BARRIER=1: close the fd sent along once earlier ones are done
  std::optional<std::string> status;  ///< STATUS=: valid UTF-8 without control characters
  std::optional<int> main_pid;        ///< MAINPID=: > 0
  std::optional<uint64_t> watchdog_usec, extend_timeout_usec, monotonic_usec;  ///< decimal
  std::optional<int> errno_value;                                              ///< ERRNO=: 0-4095
  std::optional<std::string> fdname;  ///< FDNAME=: a valid fd name (see fdname_problem())
  /// Keys procman does not act on (BUSERROR=, EXIT_STATUS=, NOTIFYACCESS=,
  /// FDPOLL=, anything new), by name only, in order, bytes outside printable
  /// ASCII shown as \xNN. They are ignored, not problems.
  std::vector<std::string> unknown;
  /// One precise, printable message per malformed line, e.g.
  /// `MAINPID="abc" is not a pid`. Values are quoted and escaped.
  std::vector<std::string> problems;
};

/// Parses one datagram (untrusted: any bytes). Lines are split on '\n'; empty
/// lines are skipped, so a trailing newline and an empty datagram are fine.
/// Nothing is trimmed: "READY=1 " is a problem. A line without '=', with an
/// empty key or containing a NUL byte is a problem and ignored. Boolean keys
/// accept only "1" (WATCHDOG also "trigger"); numbers are plain decimal digits
/// without sign or spaces that fit their type. STATUS= is kept with invalid
/// UTF-8 and control characters (tab included) replaced by U+FFFD and cut to
/// kMaxNotifyStatus bytes, each noted as a problem. The length limit is the
/// receiver's (kMaxNotifyDatagram); this function parses whatever it is given.
NotifyMessage parse_notify(std::string_view datagram);

/// nullopt when `name` is a valid file descriptor name (FDNAME=, LISTEN_FDNAMES):
/// 1-255 bytes of printable ASCII without ':'. Otherwise why not, e.g.
/// `"a:b" contains ':'`.
std::optional<std::string> fdname_problem(std::string_view name);

/// One line for debug logs, e.g. `READY=1 STATUS="Listening" MAINPID=42
/// unknown=[BUSERROR] problems=1`; "(empty)" when the message says nothing.
/// Strings are quoted and escaped, so the line is printable.
std::string notify_summary(const NotifyMessage& message);

/// `text` in double quotes with '"' and '\\' backslash-escaped and bytes
/// outside printable ASCII as \xNN (\n and \t by name): safe for any log.
std::string quote_untrusted(std::string_view text);

}  // namespace procman::core
