// Parsers of the individual values of a [[process]] table: signals, rlimits,
// ionice, umask, command, hooks, health and readiness checks, schedule, apply-on,
// depends-on, string maps (env, meta), restart-delay and start-limit.
// Internal to the config parser; the public interface is config_parser.h.
//
// Every parser reports each problem it finds through the Scope (so one call
// can report several) and then returns nullopt; the parsers returning a
// collection report and leave out only the entries that are wrong.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/calendar.h"
#include "core/config.h"
#include "core/config_scope.h"
#include "core/duration.h"

namespace procman::core::config_detail {

/// stop-signal: a number 1..64, or a name in any case with or without "SIG"
/// ("TERM", "sigterm"). Returns the signal number.
std::optional<int> parse_signal(Scope& s, const toml::node& n);

/// limits: a table of rlimit name (e.g. nofile) = value or [soft, hard]; a
/// value is an integer >= 0, "infinity" or "unlimited" (UINT64_MAX). soft
/// must not exceed hard.
std::vector<Limit> parse_limits(Scope& s, const toml::node& n);

/// ionice: a best-effort level 0..7, or "idle", "best-effort[:N]", "realtime[:N]"
/// (a class without a level keeps IoNice's default level).
std::optional<IoNice> parse_ionice(Scope& s, const toml::node& n);

/// umask: an octal integer (0o022; a decimal other than 0 is refused, it would
/// silently mean something else) or a string of octal digits ("022"); at most 0777.
std::optional<unsigned> parse_umask(Scope& s, const toml::node& n);

/// command: a string or a table { line, type }; type "normal" is jleahred/procman's
/// spelling of simple. A simple command must split into shell words; one that
/// needs a shell gets a note saying it runs via /bin/sh -c.
std::optional<Command> parse_command(Scope& s, const toml::node& n);

/// before / init / stop (`name`): a command string or a table { command, timeout };
/// the timeout defaults to `default_timeout`.
std::optional<Hook> parse_hook(Scope& s, const toml::node& n, const std::string& name,
                               Duration default_timeout);

/// health-check / readiness-check (`name`): a command string (timeout 5s) or a
/// table with exactly one kind key: { command, timeout }, { folder,
/// inactive-time } (300s), { http, status, timeout }, { tcp, timeout } or
/// { file }, plus initial-delay (0), period (> 0, 10s), success-threshold and
/// failure-threshold (>= 1; 1 and 3). A kind-specific option of another kind
/// is an error. A relative folder or file is resolved against `config_dir`;
/// an http url must start with http:// or https://, a tcp address is
/// "host:port" or "[v6]:port" with a port 1..65535.
std::optional<HealthCheck> parse_health_check(Scope& s, const toml::node& n,
                                              const std::string& name,
                                              const std::string& config_dir);

/// schedule: a table { start-time, stop-time, week-days }; times are TOML
/// times or "HH:MM:SS" strings, start-time before 24:00:00; week-days is a
/// string such as "mon-fri" or an array of them, not empty. A window whose
/// start equals its stop (an empty window) is refused.
std::optional<Schedule> parse_schedule(Scope& s, const toml::node& n);

/// apply-on: a local date-time (no UTC offset), as TOML or as a string.
std::optional<LocalDateTime> parse_apply_on(Scope& s, const toml::node& n);

/// depends-on: an array of ids, tables { id, condition }, tables
/// { process-exited = id } (Kind::Process, completed-successfully), or probe
/// tables with exactly one of url (+ code), tcp, path, not-listening,
/// not-exists, not-running, each probe with poll-interval (> 0), timeout (0 =
/// forever) and retry. Relative paths are resolved against `config_dir`; a
/// not-running pattern must compile as an ECMAScript regex. The same process
/// or the same probe listed twice is an error. Whether the ids exist is
/// checked later, across processes.
std::vector<Dependency> parse_depends_on(Scope& s, const toml::node& n,
                                         const std::string& config_dir);

/// A table `name` of key = scalar, as text. With `env_names` (env) keys must be
/// environment variable names and dates are refused; otherwise (meta) any key
/// and dates are allowed.
std::map<std::string, std::string> parse_string_map(Scope& s, const toml::node& n,
                                                    const std::string& name, bool env_names);

/// restart-delay: a duration string (a fixed delay: initial = max, multiplier 1)
/// or a table { initial, multiplier (1..1000), max, reset-after }, keys left out
/// keeping Backoff's defaults; without max, max is raised to initial if
/// shorter. max must not be less than initial.
std::optional<Backoff> parse_restart_delay(Scope& s, const toml::node& n);

/// start-limit: a table { burst (0..1000000), interval (> 0) }, keys left out
/// keeping StartLimit's defaults.
std::optional<StartLimit> parse_start_limit(Scope& s, const toml::node& n);

/// memory-max: bytes as an integer, or a string with a binary suffix K, M, G or
/// T ("512M" = 512 MiB), or "max"/"infinity" (UINT64_MAX). At least 4096 bytes.
std::optional<uint64_t> parse_bytes(Scope& s, const toml::node& n, const std::string& name);

/// tasks-max: an integer >= 1, or "max"/"infinity" (UINT64_MAX).
std::optional<uint64_t> parse_count_or_max(Scope& s, const toml::node& n, const std::string& name);

/// sockets: an array of specs ("tcp:127.0.0.1:8080", "unix:%t/app.sock") or
/// tables { listen, name }; each spec must parse (core/socket_spec.h), names are
/// unique and free of ':' (they become LISTEN_FDNAMES), and no spec appears twice.
std::vector<SocketConfig> parse_sockets(Scope& s, const toml::node& n);

}  // namespace procman::core::config_detail
