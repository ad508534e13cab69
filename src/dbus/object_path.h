// Object paths of the Process objects: a process name escaped into one path
// element the way sd_bus_path_encode() does it, and back.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace procman::dbus {

/// Where the Manager object lives; Process objects live below kProcessPathPrefix.
inline constexpr std::string_view kManagerPath = "/org/procman/Manager";
inline constexpr std::string_view kProcessPathPrefix = "/org/procman/Manager/process/";

/// kProcessPathPrefix + the name escaped exactly like sd_bus_path_encode(): every
/// byte outside [A-Za-z0-9], and a digit in first position, becomes "_xx" (two
/// lowercase hex digits); the empty name becomes "_". "worker@0" -> ".../worker_400".
std::string process_path(std::string_view name);

/// The name whose process_path() is `path`, or nullopt when `path` is not one:
/// another prefix, a malformed escape, or a spelling process_path() would not produce
/// (so every process has exactly one path).
std::optional<std::string> name_from_path(std::string_view path);

}  // namespace procman::dbus
