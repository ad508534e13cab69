// /proc parsing. Every reader tolerates the process vanishing mid-read: that is
// the normal case for a supervisor, not an error.
#include "os/proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string>

#include "os/unique_fd.h"

namespace procman::os {
namespace {

/// Reads a small /proc file in one go (they are generated on read, so no size is known).
std::optional<std::string> slurp(const std::string& path) {
  unique_fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view s, T* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string_view next_field(std::string_view* rest) {
  std::size_t start = rest->find_first_not_of(' ');
  if (start == std::string_view::npos) {
    *rest = {};
    return {};
  }
  rest->remove_prefix(start);
  std::size_t end = rest->find_first_of(" \n");
  std::string_view field = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end);
  return field;
}

std::string proc_path(pid_t pid, const char* file) {
  return "/proc/" + std::to_string(pid) + "/" + file;
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  std::size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  // Field 3 (state) is the first after ')'; we need up to field 22.
  std::string_view f[20];
  for (std::string_view& field : f) {
    field = next_field(&rest);
    if (field.empty()) return std::nullopt;
  }
  ProcStat st;
  if (f[0].size() != 1) return std::nullopt;
  st.state = f[0][0];
  if (!parse_number(f[1], &st.ppid) || !parse_number(f[2], &st.pgrp) ||
      !parse_number(f[3], &st.session) || !parse_number(f[11], &st.utime_ticks) ||
      !parse_number(f[12], &st.stime_ticks) || !parse_number(f[19], &st.start_time_ticks)) {
    return std::nullopt;
  }
  return st;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::optional<std::string> text = slurp(proc_path(pid, "stat"));
  if (!text) return std::nullopt;
  return parse_proc_stat(*text);
}

std::optional<uint64_t> process_start_time(pid_t pid) {
  std::optional<ProcStat> st = read_proc_stat(pid);
  if (!st) return std::nullopt;
  return st->start_time_ticks;
}

uint64_t boottime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

std::optional<uint64_t> start_tick_between(uint64_t before_ns, uint64_t after_ns,
                                           long ticks_per_second) {
  // The kernel divides the start time in nanoseconds by NSEC_PER_SEC / USER_HZ and rounds
  // down (nsec_to_clock_t); that is exact only when the tick is a whole number of ns.
  if (ticks_per_second <= 0 || 1'000'000'000 % ticks_per_second != 0 || after_ns < before_ns)
    return std::nullopt;
  const uint64_t tick_ns = 1'000'000'000u / static_cast<uint64_t>(ticks_per_second);
  if (before_ns / tick_ns != after_ns / tick_ns) return std::nullopt;
  return before_ns / tick_ns;
}

std::optional<std::string> boot_id() {
  std::optional<std::string> text = slurp("/proc/sys/kernel/random/boot_id");
  if (!text) return std::nullopt;
  std::size_t begin = text->find_first_not_of(" \t\n");
  std::size_t end = text->find_last_not_of(" \t\n");
  if (begin == std::string::npos) return std::nullopt;
  return text->substr(begin, end - begin + 1);
}

std::optional<ProcessUsage> process_usage(pid_t pid) {
  std::optional<ProcStat> st = read_proc_stat(pid);
  if (!st) return std::nullopt;
  // Resident pages from statm, not from stat's field 24: on recent kernels (6.18 here) statm,
  // like VmRSS in status and what top shows, sums the per-CPU counters, where stat shows an
  // approximation that can be a few per cent off.
  std::optional<std::string> statm = slurp(proc_path(pid, "statm"));
  if (!statm) return std::nullopt;
  std::string_view rest = *statm;
  next_field(&rest);  // size
  uint64_t rss_pages = 0;
  if (!parse_number(next_field(&rest), &rss_pages)) return std::nullopt;

  static const uint64_t ticks = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  ProcessUsage usage;
  usage.cpu_usec = (st->utime_ticks + st->stime_ticks) * 1'000'000 / (ticks ? ticks : 100);
  usage.rss_bytes = rss_pages * page;
  return usage;
}

namespace {

/// Calls fn(pid, stat) for every live (non-zombie) process, in /proc's order.
template <typename Fn>
void for_each_live_process(Fn&& fn) {
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return;
  while (struct dirent* entry = readdir(dir)) {
    pid_t pid = 0;
    if (!parse_number(std::string_view(entry->d_name), &pid) || pid <= 0) continue;
    std::optional<ProcStat> st = read_proc_stat(pid);
    if (st && st->state != 'Z' && st->state != 'X') fn(pid, *st);
  }
  closedir(dir);
}

}  // namespace

std::vector<pid_t> process_group_members(pid_t pgid) {
  std::vector<pid_t> out;
  for_each_live_process([&](pid_t pid, const ProcStat& st) {
    if (st.pgrp == pgid) out.push_back(pid);
  });
  std::sort(out.begin(), out.end());
  return out;
}

std::unordered_map<pid_t, std::vector<pid_t>> process_groups() {
  std::unordered_map<pid_t, std::vector<pid_t>> out;
  for_each_live_process([&](pid_t pid, const ProcStat& st) { out[st.pgrp].push_back(pid); });
  for (auto& [pgid, members] : out) std::sort(members.begin(), members.end());
  return out;
}

}  // namespace procman::os
