// Local time conversions through the C library's time zone database.
#include "os/local_time.h"

#include <ctime>
#include <set>

namespace procman::os {
namespace {

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

bool valid(const core::LocalDateTime& t) {
  return t.month >= 1 && t.month <= 12 && t.day >= 1 && t.day <= days_in_month(t.year, t.month) &&
         t.hour >= 0 && t.hour <= 23 && t.minute >= 0 && t.minute <= 59 && t.second >= 0 &&
         t.second <= 59;
}

std::optional<struct tm> local_tm(time_t t) {
  struct tm tm {};
  if (localtime_r(&t, &tm) == nullptr) return std::nullopt;
  return tm;
}

core::LocalDateTime fields(const struct tm& tm) {
  return core::LocalDateTime{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                             tm.tm_hour,        tm.tm_min,     tm.tm_sec};
}

}  // namespace

core::LocalDateTime to_local(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  std::optional<struct tm> tm = local_tm(static_cast<time_t>(secs));
  return tm ? fields(*tm) : core::LocalDateTime{};
}

std::optional<std::chrono::system_clock::time_point> from_local(const core::LocalDateTime& local) {
  if (!valid(local)) return std::nullopt;
  // The wall-clock fields read as if they were UTC; the real instant is that minus
  // the UTC offset in force at it. Offsets a day either side cover any single
  // transition near the time (offsets are under 15 hours).
  struct tm tm {};
  tm.tm_year = local.year - 1900;
  tm.tm_mon = local.month - 1;
  tm.tm_mday = local.day;
  tm.tm_hour = local.hour;
  tm.tm_min = local.minute;
  tm.tm_sec = local.second;
  const time_t naive = timegm(&tm);

  std::optional<struct tm> before = local_tm(naive - 86400);
  std::optional<struct tm> at = local_tm(naive);
  std::optional<struct tm> after = local_tm(naive + 86400);
  if (!before || !at || !after) return std::nullopt;
  std::set<long> offsets = {before->tm_gmtoff, at->tm_gmtoff, after->tm_gmtoff};

  std::optional<time_t> best;
  for (long offset : offsets) {
    const time_t candidate = naive - offset;
    std::optional<struct tm> shown = local_tm(candidate);
    if (shown && fields(*shown) == local && (!best || candidate < *best)) best = candidate;
  }
  if (!best) best = naive - before->tm_gmtoff;  // a gap: the offset from before the jump
  return std::chrono::system_clock::from_time_t(*best);
}

}  // namespace procman::os
