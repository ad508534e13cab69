// The FIFO protocol: one JSON object per line, as wbbradley/procman (seed 000)
// speaks it (run, shutdown) plus procman's start/stop/restart. Parsing and
// printing only; docs/fifo-protocol.md is the reference.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/config.h"

namespace procman::core {

/// {"type":"run"}: supervise a new (transient) process. The daemon renames a
/// repeated name (name.1, name.2, ...), merges env over its own environment
/// and starts the process once `depends` hold.
struct FifoRun {
  std::string name;  ///< not blank, no control characters
  std::string run;   ///< the command line, not blank
  std::map<std::string, std::string> env;
  std::vector<Dependency> depends;  ///< targets may still hold $VAR: see expand_fifo_depends()
  bool once = false;                ///< a one-shot task
  std::string request_id;           ///< "id", when the client sent one (for logs)
};

/// {"type":"shutdown"}: stop everything and exit. Both fields are for the log.
struct FifoShutdown {
  std::string user;
  std::string message;
  std::string request_id;
};

/// {"type":"start"|"stop"|"restart","name":N}: act on a process by name.
struct FifoControl {
  enum class Kind { Start, Stop, Restart };
  Kind kind = Kind::Start;
  std::string name;  ///< not blank
  std::string request_id;
};

using FifoMessage = std::variant<FifoRun, FifoShutdown, FifoControl>;

/// The longest line (without its newline) procmand accepts.
inline constexpr std::size_t kMaxFifoLine = 64 * 1024;

/// Parses one line (without its newline). Unknown fields are ignored and a
/// field set to null counts as absent, as in the seed (whose client sends
/// "env":null). On failure returns one precise message, e.g.
/// `not JSON: syntax error while parsing value - invalid literal; last read: 'x' at byte 1`,
/// `missing field "run"`, `field "once": expected a boolean, got a string`,
/// `field "depends[0].tcp": expected "host:port" such as "127.0.0.1:8080", not 'x'`,
/// `unknown message type "fizzle" (expected run, shutdown, start, stop, restart)`,
/// `line is longer than 65536 bytes`.
///
/// depends entries, each an object with one kind key (or a bare string):
///   {"url":U,"code":N}, {"tcp":"host:port"}, {"path":P}, {"process_exited":NAME},
///   {"not_listening":"host:port"}, {"not_exists":P}, {"not_running":REGEX};
///   procman extensions: "NAME" and {"process":NAME,"condition":C} (default
///   running). Probes take poll_interval (seconds, may be fractional),
///   timeout_seconds (integer; 0 waits forever) and retry; the seed's kinds
///   without those options ignore them, as do process entries.
std::variant<FifoMessage, std::string> parse_fifo_line(std::string_view line);

/// One line with its trailing '\n', in the field order a person would write
/// it ("type" first); empty and default fields left out. parse_fifo_line()
/// of it (without the '\n') gives `m` back (timeouts in whole seconds).
std::string fifo_line(const FifoMessage& m);

/// "run", "shutdown", "start", "stop" or "restart".
std::string_view fifo_message_type(const FifoMessage& m);

/// Expands $VAR, ${VAR} and $$ in the targets of probe dependencies (not in
/// process names), as the seed does, with `env` (procmand's environment with
/// the message's env merged over it), then checks the expanded urls,
/// host:port addresses and regexes. Returns the first problem, e.g.
/// `field "depends[1].path": undefined environment variable $DATA_DIR`.
std::optional<std::string> expand_fifo_depends(std::vector<Dependency>& depends,
                                               const std::map<std::string, std::string>& env);

}  // namespace procman::core
