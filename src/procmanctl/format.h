// procmanctl's pure half: how values read from procmand are shown (tables,
// durations, sizes, colours, Key=Value lines, JSON, event and log lines), the
// exit codes, and parsing the few values verbs take. No bus and no I/O, so all
// of it is unit-tested without a daemon.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace procman::ctl {

/// procmanctl's exit codes. 3 and 4 follow `systemctl is-active` (LSB status codes).
enum ExitCode {
  kExitOk = 0,
  kExitFailed = 1,
  kExitUsage = 2,          ///< bad option or argument (also org.procman.Error.InvalidArgs)
  kExitNotRunning = 3,     ///< `status NAME...`: a named process is not running / exited-ok
  kExitNoSuchProcess = 4,  ///< a name matches no process
  kExitUnreachable = 5,    ///< no bus, or nobody owns the bus name
};

/// The exit code for a D-Bus error name: org.procman.Error.NoSuchProcess -> 4,
/// InvalidArgs -> 2, ServiceUnknown / NameHasNoOwner / Disconnected and failures to
/// connect -> 5, anything else -> 1.
ExitCode exit_code_for_error(std::string_view error_name);
/// Whether the error means "procmand is not there" (exit code 5).
bool is_unreachable_error(std::string_view error_name);

/// One property value of org.procman.Process or org.procman.Manager, in the D-Bus types
/// those interfaces use: b; y n i x; q u t; d; s o g; as ao; a{ss}; a{su}.
using Value = std::variant<bool, int64_t, uint64_t, double, std::string, std::vector<std::string>,
                           std::map<std::string, std::string>, std::map<std::string, uint64_t>>;
/// Properties by name, in name order (as GetAll and GetManagedObjects return them).
using Properties = std::map<std::string, Value>;

/// "3h 2min", "2min 5s", "45s", "1d" (0 -> "0s"): the two largest units (d h min s) from the
/// largest non-zero one, the second left out when zero. Below a second rounds down to "0s".
std::string format_span(uint64_t usec);
/// CPU time: "340ms" below a second, "12.3s" below a minute, else format_span.
std::string format_cpu(uint64_t nsec);
/// "512B", "1.5K", "12.3M", "2.0G", "1.0T" (powers of 1024, like systemctl).
std::string format_bytes(uint64_t bytes);

enum class Color { None, Red, Green, Yellow, Gray, Bold };
/// running and exited-ok green; failed and start-limit-hit red; the transitional states
/// (pending, before, starting, init, backoff, stopping) yellow; stopped and unknown none.
Color state_color(std::string_view state);
/// healthy green, unhealthy red.
Color health_color(std::string_view health);
/// `text` wrapped in the ANSI SGR sequence for `c`; `text` itself when !enabled or None.
std::string paint(std::string_view text, Color c, bool enabled);
/// Terminal columns `text` takes: UTF-8 code points, not counting ANSI SGR sequences.
std::size_t display_width(std::string_view text);

struct Column {
  std::string title;
  bool right = false;  ///< right-aligned (numbers)
};
/// Columns separated by two spaces, padded by display width, no trailing spaces; the
/// header is bold when `color`. Cells may already be painted. Rows shorter than the
/// header are padded with empty cells.
std::string render_table(const std::vector<Column>& columns,
                         const std::vector<std::vector<std::string>>& rows, bool color);

/// What one line of `procmanctl status` shows, from org.procman.Process properties.
struct StatusRow {
  std::string name;
  std::string state;
  std::string sub_state;
  uint32_t pid = 0;         ///< 0 = no main process
  uint64_t start_usec = 0;  ///< StartTimestamp, µs since the epoch, 0 = never
  uint32_t restarts = 0;
  uint64_t cpu_nsec = 0;
  uint64_t memory_bytes = 0;
  std::string health;  ///< "", "healthy", "unhealthy"
  std::string notify_status;  ///< what the process said with STATUS=, "" if nothing
};
/// Reads Name, State, SubState, MainPID, StartTimestamp, NRestarts, CPUUsageNSec,
/// MemoryCurrent and Health; missing or mistyped ones keep their defaults.
StatusRow status_row(const Properties& p);
/// The status table: NAME STATE PID UPTIME RESTARTS CPU MEMORY HEALTH. STATE is
/// "pending (waiting for web)" when there is a sub-state, "running (warm)" when the
/// process said STATUS=warm; PID, UPTIME, CPU and MEMORY are
/// "-" without a main process (UPTIME also outside starting/init/running/stopping, and
/// when the start time is unknown or in the future); HEALTH is "-" without a check.
std::string render_status(const std::vector<StatusRow>& rows, uint64_t now_usec, bool color);
/// Whether `status NAME` is content with this state: running or exited-ok.
bool state_is_ok(std::string_view state);

nlohmann::json to_json(const Value& v);
nlohmann::json to_json(const Properties& p);

/// A value as `show` prints it: strings as they are, booleans yes/no, lists separated by
/// spaces, maps as "k=v k2=v2", numbers in decimal (times stay µs, like busctl).
std::string format_value(const Value& v);
/// `show`: one "Key=Value" line per property, in name order; only those in `only` (in
/// that order) when it is not empty; `value_only` drops the "Key=". Names in `only`
/// that `p` lacks are skipped (the caller reports them).
std::string render_show(const Properties& p, const std::vector<std::string>& only, bool value_only);

/// The four lists of a reload (Reload's reply, the Reloaded signal).
struct ReloadSummary {
  std::vector<std::string> added, removed, restarted, pending;
};
/// "added: a b; removed: c; restarted: d; restart pending: e" with empty parts left
/// out, or "nothing changed".
std::string format_reload(const ReloadSummary& r);

/// One signal of org.procman.Manager, as `procmanctl events` shows it.
struct Event {
  enum class Kind { StateChanged, Added, Removed, Reloaded };
  Kind kind = Kind::StateChanged;
  std::string name, path;  ///< all but Reloaded
  // StateChanged:
  std::string old_state, new_state, sub_state;
  int32_t pid = 0;
  int32_t exit_code = -1;   ///< -1 unless caused by an exit with a code
  std::string exit_signal;  ///< "" unless caused by a death by signal
  std::string reason;
  ReloadSummary reload;  ///< Reloaded
};
/// "2026-11-22 06:30:01 web running -> stopping (sigterm) pid 123: stop requested";
/// an exit adds ", exit code 1" or ", signal SIGKILL" after the pid; a reason equal to
/// the sub-state is not repeated. Other kinds:
/// "<time> web added", "<time> web removed", "<time> reloaded: <format_reload>".
/// `timestamp` is the local time, already formatted. The new state is painted.
std::string format_event(std::string_view timestamp, const Event& e, bool color);
/// {"time": timestamp, "realtime_usec": N, "event": "ProcessStateChanged"|"ProcessAdded"|
/// "ProcessRemoved"|"Reloaded", then the signal's arguments by their XML names}.
nlohmann::json event_json(std::string_view timestamp, uint64_t realtime_usec, const Event& e);

/// One kept output line (ReadLogs).
struct LogLine {
  uint64_t seq = 0;
  uint64_t realtime_usec = 0;
  bool is_stderr = false;
  std::string text;
};
/// The text; a stderr line is red with colour, else prefixed with "[stderr] ".
std::string format_log_line(const LogLine& l, bool color);

/// A signal by name ("SIGTERM", "TERM", "term") or number (1-64); nullopt otherwise.
std::optional<int> parse_signal(std::string_view text);

/// A process as ListProcesses names it.
struct ProcessName {
  std::string name;
  std::string id;
};
/// Which processes `patterns` select, in `all`'s order: a pattern selects the process
/// with that name, every instance of an id, or (with * ? [) the names it matches as a
/// shell glob. `unknown` gets the patterns without glob characters that select nothing.
std::vector<std::size_t> select_processes(const std::vector<ProcessName>& all,
                                          const std::vector<std::string>& patterns,
                                          std::vector<std::string>* unknown);

}  // namespace procman::ctl
