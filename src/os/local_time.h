// Converting between absolute time and local wall-clock fields (core::LocalDateTime)
// in the process's time zone (TZ, else /etc/localtime).
#pragma once

#include <chrono>
#include <optional>

#include "core/calendar.h"

namespace procman::os {

/// The local wall-clock fields of `t` (localtime_r; honours TZ after tzset()). Sub-second
/// parts are dropped (rounded toward the past). A time the C library cannot represent
/// gives 1970-01-01T00:00:00.
core::LocalDateTime to_local(std::chrono::system_clock::time_point t);

/// The instant at which the local wall clock shows `local`; nullopt if the fields are
/// out of range (month 13, February 30, hour 24...).
/// DST, chosen so schedules behave predictably:
/// - in a gap (spring forward, e.g. 02:30 on 2024-03-31 in Europe/Madrid, which never
///   shows) the time is read with the offset in force before the jump, i.e. it lands
///   as far past the jump as it was into the gap: 02:30 -> 03:30 CEST;
/// - in an overlap (fall back, e.g. 02:30 on 2024-10-27 in Europe/Madrid, shown twice)
///   the EARLIER instant is returned (02:30 CEST, not 02:30 CET).
/// mktime() with tm_isdst = -1 is not used for this: POSIX leaves its choice in both
/// cases unspecified.
std::optional<std::chrono::system_clock::time_point> from_local(const core::LocalDateTime& local);

}  // namespace procman::os
