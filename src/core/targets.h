// Checks of probe targets (urls, host:port, regexes) shared by the config
// file and the FIFO protocol, so both reject the same text the same way.
#pragma once

#include <cstdint>
#include <string>

namespace procman::core {

/// Why `text` is not an http(s) url ("must ...", "has ..."), or "".
std::string url_problem(const std::string& text);
/// Splits "host:port" or "[v6 address]:port"; the host comes without brackets.
/// Returns why it cannot, or "".
std::string split_host_port(const std::string& text, std::string* host, uint16_t* port);
/// Why `text` is not an ECMAScript regex ("'a(' is not a valid regex: ..."), or "".
std::string regex_problem(const std::string& text);

}  // namespace procman::core
