// Which version of a process applies at a given local time (jleahred/procman
// apply-on): the non-fake version with the latest apply-on not in the future.
#pragma once

#include <span>

#include "core/config.h"

namespace procman::core {

/// nullptr when no version applies (all fake, or all in the future). A version
/// without apply-on applies since forever, so any dated version that has come
/// supersedes it. Ties cannot happen: the parser rejects equal apply-ons.
const ProcessConfig* effective_version(std::span<const ProcessConfig* const> versions,
                                       const LocalDateTime& now);

}  // namespace procman::core
