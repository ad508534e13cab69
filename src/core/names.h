// Names of the values config files and status output spell out: signals and
// dependency conditions. One table each, used both to parse and to print.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"

namespace procman::core {

/// Signal names without "SIG", each alias after its main name (IOT after
/// ABRT, POLL after IO) so looking a number up finds the usual name.
const std::vector<std::pair<std::string, int>>& signal_table();
/// "SIGTERM"; "signal 42" when the number has no name.
std::string signal_name(int sig);

/// "started", "running", "completed", "completed-successfully".
std::string_view condition_name(DepCondition c);

}  // namespace procman::core
