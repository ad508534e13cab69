// Which version of a process applies at a given local time (jleahred/procman
// apply-on): the non-fake version with the latest apply-on not in the future.
#pragma once

#include <vector>

#include "core/config.h"

namespace procman::core {

/// nullptr when no version applies (all fake, or all in the future). A version
/// without apply-on applies since forever, so any dated version that has come
/// supersedes it. Ties cannot happen: the parser rejects equal apply-ons.
const ProcessConfig* effective_version(const std::vector<const ProcessConfig*>& versions,
                                       const LocalDateTime& now);

}  // namespace procman::core
