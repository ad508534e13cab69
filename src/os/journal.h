// The journald layer: children's stdout/stderr connected straight to journald's
// stream socket (prepared in the parent, connected in the child), procmand's own
// structured messages with their MESSAGE_IDs (explained in units/procman.catalog),
// and reading the journal back for `procmanctl logs`.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

typedef struct sd_journal sd_journal;

namespace procman::os {

/// Where journald listens: the native protocol socket (sd_journal_sendv) and the
/// stdout-stream socket.
inline constexpr std::string_view kJournalRunDir = "/run/systemd/journal";
inline constexpr std::string_view kJournalStdoutSocket = "/run/systemd/journal/stdout";

/// True when journald's two sockets (`socket` and `stdout` in `run_dir`) exist as
/// sockets and something receives on the datagram one (a journald that died leaves stale
/// socket files). `run_dir` is for tests.
bool journal_available(const std::string& run_dir = std::string(kJournalRunDir));

/// Whether `identifier` can be a SYSLOG_IDENTIFIER sent in a stream header: 1-255
/// bytes, no ASCII control characters (journald ends header lines at '\n' and NUL)
/// and no leading or trailing blanks (journald strips them, so the entries would
/// carry a different name). Any other bytes, including non-UTF-8, are kept. On
/// failure `error` gets e.g. `journal identifier "a\nb": control character 0x0a at
/// offset 1`.
bool valid_journal_identifier(std::string_view identifier, std::string* error);

/// A connection to journald's stdout stream, prepared in the parent so the child
/// needs no allocation: the socket address and the protocol header, which is seven
/// '\n'-terminated lines: identifier, unit id (empty: journald derives the unit from
/// the cgroup), priority (0-7), level prefix (0: "<3>" at the start of a line is
/// text, not a priority), forward to syslog, to kmsg, to console (0 each: journald's
/// own configuration decides).
struct JournalStreamTarget {
  sockaddr_un address{};
  socklen_t address_length = 0;
  std::string header;
};

/// Prepares a target for `identifier` (see valid_journal_identifier) at `priority`
/// (LOG_EMERG..LOG_DEBUG; LOG_INFO for stdout, LOG_WARNING for stderr). Allocates:
/// call it in the parent, before fork. `socket_path` is for tests (a fake journald);
/// it must fit in sun_path. nullopt with a precise `error` on invalid input.
std::optional<JournalStreamTarget> journal_stream_target(
    std::string_view identifier, int priority, std::string* error,
    const std::string& socket_path = std::string(kJournalStdoutSocket));

/// Connects to journald and sends the header; returns the write-only stream fd, or
/// -1 with errno set (e.g. ENOENT/ECONNREFUSED when journald is not there). Meant
/// for the child between fork and exec: only async-signal-safe system calls, no
/// allocation, EINTR and short writes handled. journald takes the entries' _PID,
/// _UID and _GID from the connecting process (SO_PEERCRED, fixed at connect time),
/// which is why the child connects, and why it should do so after switching to the
/// process's user and group. The output keeps flowing when procmand dies.
/// The fd is SOCK_CLOEXEC: dup2() it onto 1 or 2 (dup2 clears the flag on the copy)
/// and close it; should it already be the target number, clear FD_CLOEXEC instead.
/// The send buffer is raised to 8 MiB where allowed, so a burst of output does not
/// block the child while journald is busy; failing that is not an error.
int journal_stream_open_in_child(const JournalStreamTarget& target) noexcept;

/// One extra field of a structured message: NAME=value. Values may hold any bytes.
struct JournalField {
  std::string name;
  std::string value;
};

/// Whether `name` is a field name journald accepts from clients: 1-64 characters of
/// A-Z, 0-9 and '_', not starting with '_' (trusted fields are journald's) or a digit.
bool valid_journal_field_name(std::string_view name, std::string* error);

/// Logs one of procmand's own messages: MESSAGE=`message`, PRIORITY=`priority`,
/// SYSLOG_IDENTIFIER=procmand and `fields` (use msgid:: values for MESSAGE_ID and
/// the field:: names). Refuses, without sending anything, a priority outside 0-7, an
/// invalid field name, and MESSAGE, PRIORITY or SYSLOG_IDENTIFIER among `fields`
/// (they are set here), with e.g. `journal field "lower": character "l" at offset 0 is
/// not A-Z, 0-9 or '_'`. Values may hold newlines and any bytes. When journald is not
/// running at all, libsystemd drops the message and reports success: decide with
/// journal_available() whether to log here or to stderr. Other send failures give
/// "sd_journal_sendv: <reason>".
bool journal_send(int priority, std::string_view message, const std::vector<JournalField>& fields,
                  std::string* error = nullptr);

/// MESSAGE_IDs of procmand's important events. Each has an entry in
/// units/procman.catalog (keep the two in step); never change a published id.
/// Send each with the fields listed: `journalctl -x` shows a missing one as its
/// bare name in the explanation.
namespace msgid {
/// A process reached running (it started, and passed readiness when it has one).
/// Fields: PROCMAN_PROCESS, PROCMAN_PID.
inline constexpr std::string_view kStarted = "a8048696222948f3970c75259751a4d0";
/// A process's run ended on its own (any exit code or signal). Fields: PROCMAN_PROCESS,
/// PROCMAN_PID, PROCMAN_REASON, PROCMAN_RESULT, PROCMAN_RESTARTS, plus PROCMAN_EXIT_CODE
/// or PROCMAN_EXIT_SIGNAL.
inline constexpr std::string_view kExited = "f878c79fddcf4f8b84b257d08d87042a";
/// A process entered failed: procmand gave up on it. Fields: PROCMAN_PROCESS,
/// PROCMAN_RESULT, PROCMAN_REASON.
inline constexpr std::string_view kFailed = "f1c1d9f815a043f9aaf3e4aceab8ccf8";
/// A process restarted too often and was stopped (start-limit-hit). Fields:
/// PROCMAN_PROCESS, PROCMAN_RESTARTS, PROCMAN_REASON.
inline constexpr std::string_view kStartLimitHit = "b12af538f5014547a642f7e1d7a11924";
/// A process ran past its deadline (runtime limit, start or stop timeout) and was killed.
/// Fields: PROCMAN_PROCESS, PROCMAN_PID, PROCMAN_REASON.
inline constexpr std::string_view kDeadlineExceeded = "920eb482518b4d9eb4cd5fc9412f9317";
/// A process did not send WATCHDOG=1 in time. Fields: PROCMAN_PROCESS, PROCMAN_PID,
/// PROCMAN_REASON.
inline constexpr std::string_view kWatchdogTimeout = "4f4df69be0284b3c8c4ee2d5d9fcc243";
/// A process was stopped on request (admin, reload, shutdown). Fields: PROCMAN_PROCESS,
/// PROCMAN_REASON.
inline constexpr std::string_view kStopped = "9c4f3ff681294ba285bc25c13e34b7d1";
/// procmand reloaded its configuration. Fields: PROCMAN_CONFIG, PROCMAN_REASON (what
/// changed).
inline constexpr std::string_view kReloaded = "2189ca18700f4c8bb8bc4c6ea5b07fa9";
/// procmand started and is ready (READY=1 sent upwards). Fields: PROCMAN_CONFIG.
inline constexpr std::string_view kDaemonReady = "74b512dc9f134ed0a173f03c74f0ff1d";
/// procmand is shutting down. Fields: PROCMAN_REASON.
inline constexpr std::string_view kDaemonStopping = "370f773176784d678719ff009e328c64";
}  // namespace msgid

/// Field names procmand's messages carry; units/procman.catalog refers to them as
/// @NAME@. Values are text; omit a field that does not apply.
namespace field {
inline constexpr std::string_view kMessageId = "MESSAGE_ID";
/// The process's name as the user sees it (web, worker@2); also its children's
/// SYSLOG_IDENTIFIER.
inline constexpr std::string_view kProcess = "PROCMAN_PROCESS";
/// The main pid the event is about.
inline constexpr std::string_view kPid = "PROCMAN_PID";
/// "3" when the run exited with a code.
inline constexpr std::string_view kExitCode = "PROCMAN_EXIT_CODE";
/// "SIGKILL" when the run was killed by a signal.
inline constexpr std::string_view kExitSignal = "PROCMAN_EXIT_SIGNAL";
/// success, exit-code, signal, start-failed, deadline, watchdog, ...
inline constexpr std::string_view kResult = "PROCMAN_RESULT";
/// Why it happened, in words ("restarting in 1s", "stopped by procmanctl").
inline constexpr std::string_view kReason = "PROCMAN_REASON";
/// How many times it was restarted.
inline constexpr std::string_view kRestarts = "PROCMAN_RESTARTS";
/// The configuration file procmand (re)loaded.
inline constexpr std::string_view kConfig = "PROCMAN_CONFIG";
}  // namespace field

/// One journal entry as `procmanctl logs` shows it.
struct JournalEntry {
  std::uint64_t realtime_usec = 0;
  int priority = -1;       ///< PRIORITY; -1 when missing or not a number
  int pid = -1;            ///< _PID; -1 when missing
  std::string identifier;  ///< SYSLOG_IDENTIFIER; empty when missing
  std::string message;     ///< MESSAGE bytes as stored (maybe not UTF-8), one trailing '\n' cut
};

/// What ended JournalReader::follow().
enum class FollowEnd {
  kStopped,   ///< the callback returned false
  kTimedOut,  ///< `timeout_ms` passed
  kError,     ///< reading or waiting failed; see the error
};

/// Reads the local journal (this machine's files under /run/log/journal and
/// /var/log/journal) with sd-journal. Move-only; closes the journal when destroyed.
/// Position: tail() and follow() leave the reader on the newest entry they returned,
/// and follow() continues after it, so nothing is lost or repeated between them.
class JournalReader {
 public:
  /// Opens the journal. Fails with a precise error when nothing can be read:
  /// sd_journal_open() succeeds even when every file was refused, so open() checks
  /// that at least one file was opened (sd_journal_get_usage() > 0) and otherwise
  /// looks at the journal directories to say why:
  ///   "cannot read the journal: Permission denied (add the user to the
  ///    systemd-journal group)"
  ///   "cannot read the journal: no journal files in /run/log/journal or
  ///    /var/log/journal (is systemd-journald running?)"
  /// When some files open and others are refused, it succeeds and warning() says so.
  static std::optional<JournalReader> open(std::string* error);

  JournalReader(JournalReader&& other) noexcept;
  JournalReader& operator=(JournalReader&& other) noexcept;
  JournalReader(const JournalReader&) = delete;
  JournalReader& operator=(const JournalReader&) = delete;
  ~JournalReader();

  /// Non-empty when some journal files exist but could not be read (so entries may
  /// be missing), e.g. "some journal files are not readable: Permission denied (add
  /// the user to the systemd-journal group); showing what is readable".
  const std::string& warning() const { return warning_; }

  /// Adds a FIELD=value match ("SYSLOG_IDENTIFIER=web", "_UID=1000"). sd-journal
  /// semantics: matches on the same field are alternatives (OR), on different fields
  /// all must hold (AND). false with `error` when sd-journal rejects it (no '=', bad
  /// field name). Add matches before tail()/follow().
  bool match(std::string_view field_eq_value, std::string* error = nullptr);

  /// Closes the current group of matches: entries match if they satisfy the matches
  /// before this call OR those after it (sd_journal_add_disjunction). E.g.
  /// SYSLOG_IDENTIFIER=web, match_or(), PROCMAN_PROCESS=web: the process's output and
  /// procmand's messages about it.
  bool match_or(std::string* error = nullptr);

  /// The last `n` matching entries, oldest first (fewer if there are fewer).
  /// follow() continues after the newest of them. Empty with `error` set on a read
  /// error (an empty result with no error means no entries).
  std::vector<JournalEntry> tail(std::size_t n, std::string* error = nullptr);

  /// Calls `on_entry` for every matching entry after the remembered position (after
  /// what tail() or an earlier follow() returned; without either, after the current
  /// end of the journal), in order, then blocks in sd_journal_wait() until journald
  /// writes more. Returns when the callback returns false, when `timeout_ms` (>= 0)
  /// has passed in total, or on an error; timeout_ms < 0 waits forever. Exceptions
  /// from the callback propagate.
  FollowEnd follow(const std::function<bool(const JournalEntry&)>& on_entry, int timeout_ms,
                   std::string* error = nullptr);

 private:
  explicit JournalReader(sd_journal* j) : j_(j) {}
  bool read_entry(JournalEntry* entry, std::string* error);
  bool seek_head_when_empty(std::string* error);

  sd_journal* j_ = nullptr;
  std::string warning_;
  /// The read position is on the newest entry returned (or at the end when there
  /// was none), so follow() only has to step forward; false until tail() or follow().
  bool positioned_ = false;
};

}  // namespace procman::os
