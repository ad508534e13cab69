// Tests for os/proc against this process and real children.
#include "os/proc.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "os/spawner.h"

namespace procman::os {
namespace {

constexpr int kTimeoutMs = 20'000;

std::string read_line(int fd) {
  std::string out;
  char c;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kTimeoutMs) <= 0) {
      ADD_FAILURE() << "timed out waiting for a line";
      return out;
    }
    if (read(fd, &c, 1) != 1 || c == '\n') return out;
    out += c;
  }
}

void kill_and_reap(const SpawnResult& r) {
  kill(r.pid, SIGKILL);
  pollfd p{r.pidfd.get(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, kTimeoutMs), 1);
  EXPECT_EQ(waitpid(r.pid, nullptr, 0), r.pid);
}

/// 20 fields after the comm: state ppid pgrp session tty tpgid flags minflt cminflt
/// majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime.
std::string stat_line(const std::string& comm) {
  return "4242 (" + comm +
         ") S 7 8 9 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 987654 12345 "
         "678 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
}

TEST(ProcStat, ParsesFieldsAfterTheLastParenthesis) {
  for (const std::string comm : {"sleep", "a) (b", "x) Z 1 1 1 (y", ")", "(", "a b c"}) {
    std::optional<ProcStat> st = parse_proc_stat(stat_line(comm));
    ASSERT_TRUE(st) << comm;
    EXPECT_EQ(st->state, 'S') << comm;
    EXPECT_EQ(st->ppid, 7) << comm;
    EXPECT_EQ(st->pgrp, 8) << comm;
    EXPECT_EQ(st->session, 9) << comm;
    EXPECT_EQ(st->utime_ticks, 250u) << comm;
    EXPECT_EQ(st->stime_ticks, 50u) << comm;
    EXPECT_EQ(st->start_time_ticks, 987654u) << comm;
  }
}

TEST(ProcStat, RejectsTruncatedOrGarbledText) {
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("4242 (sleep"));
  EXPECT_FALSE(parse_proc_stat("4242 (sleep) S 7 8 9"));
  std::string bad = stat_line("sleep");
  bad.replace(bad.find(" 7 "), 3, " x ");
  EXPECT_FALSE(parse_proc_stat(bad));
}

TEST(Proc, StartTimeIsStableForOneProcessAndLaterForANewerOne) {
  std::optional<uint64_t> ours = process_start_time(getpid());
  ASSERT_TRUE(ours);
  EXPECT_EQ(process_start_time(getpid()), ours);

  SpawnRequest req;
  req.argv = {"/bin/sleep", "1000"};
  SpawnResult r = spawn(req);
  ASSERT_EQ(r.error, "");
  std::optional<uint64_t> child = process_start_time(r.pid);
  kill_and_reap(r);
  ASSERT_TRUE(child);
  EXPECT_GE(*child, *ours);
  EXPECT_FALSE(process_start_time(r.pid)) << "reaped: gone (unless the pid was reused)";
}

TEST(Proc, StartTickBetweenTwoReadingsOfTheSameTickIsThatTick) {
  // 100 ticks a second (USER_HZ on x86): a tick is 10 ms.
  EXPECT_EQ(start_tick_between(12'340'000'000, 12'349'999'999, 100), 1234u);
  EXPECT_EQ(start_tick_between(12'340'000'000, 12'340'000'000, 100), 1234u);
  EXPECT_EQ(start_tick_between(12'349'999'999, 12'350'000'000, 100), std::nullopt)
      << "straddles a tick: the process may have started in either";
  EXPECT_EQ(start_tick_between(12'350'000'000, 12'340'000'000, 100), std::nullopt);
  EXPECT_EQ(start_tick_between(1'000'000'000, 1'000'000'001, 1000), 1000u);
  EXPECT_EQ(start_tick_between(1'000'000'000, 1'000'000'001, 7), std::nullopt)
      << "a tick of no whole number of ns: the kernel's rounding cannot be redone";
  EXPECT_EQ(start_tick_between(1'000'000'000, 1'000'000'001, 0), std::nullopt);
}

TEST(Proc, ASpawnedChildsStartTimeIsWhatProcShows) {
  // SpawnResult::start_time_ticks mostly comes from the clock, not from /proc: it must be
  // exactly what a procmand restarted later reads there, or it would not re-adopt the child.
  for (int i = 0; i < 200; ++i) {
    SpawnRequest req;
    req.argv = {"/bin/sleep", "1000"};
    SpawnResult r = spawn(req);
    ASSERT_EQ(r.error, "");
    const std::optional<uint64_t> shown = process_start_time(r.pid);
    kill_and_reap(r);
    ASSERT_TRUE(shown);
    ASSERT_EQ(r.start_time_ticks, *shown) << "spawn " << i;
  }
}

TEST(Proc, MissingProcessHasNoStartTimeUsageOrStat) {
  std::ifstream f("/proc/sys/kernel/pid_max");
  pid_t pid_max = 0;
  f >> pid_max;
  ASSERT_GT(pid_max, 0);
  EXPECT_FALSE(process_start_time(pid_max + 1));
  EXPECT_FALSE(process_usage(pid_max + 1));
  EXPECT_FALSE(read_proc_stat(pid_max + 1));
  EXPECT_FALSE(read_proc_stat(0));
  EXPECT_FALSE(read_proc_stat(-1));
}

TEST(Proc, ReadsAProcessWhoseCommHasSpacesAndParentheses) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("procman-proc-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::path exe = dir / "a) (b";
  std::filesystem::copy_file("/bin/sleep", exe, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(exe, std::filesystem::perms::owner_all);

  SpawnRequest req;
  req.argv = {exe.string(), "1000"};
  SpawnResult r = spawn(req);
  ASSERT_EQ(r.error, "");
  // The kernel renames the task a moment after it closed the close-on-exec descriptors
  // (which is when spawn() learns the exec succeeded), so wait for the new name.
  std::string comm;
  for (int i = 0; i < 5000 && comm != "a) (b"; ++i) {
    if (i > 0) usleep(1000);
    std::getline(std::ifstream("/proc/" + std::to_string(r.pid) + "/comm"), comm);
  }
  std::optional<ProcStat> st = read_proc_stat(r.pid);
  std::optional<uint64_t> start = process_start_time(r.pid);
  std::vector<pid_t> members = process_group_members(r.pid);
  kill_and_reap(r);
  std::filesystem::remove_all(dir);

  EXPECT_EQ(comm, "a) (b");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->ppid, getpid());
  EXPECT_EQ(st->pgrp, r.pid);
  EXPECT_TRUE(st->state == 'S' || st->state == 'R') << st->state;
  ASSERT_TRUE(start);
  EXPECT_EQ(*start, st->start_time_ticks);
  EXPECT_EQ(members, std::vector<pid_t>{r.pid});
}

TEST(Proc, BootIdIsATrimmedUuid) {
  std::optional<std::string> id = boot_id();
  ASSERT_TRUE(id);
  ASSERT_EQ(id->size(), 36u) << *id;
  for (std::size_t i : {8u, 13u, 18u, 23u}) EXPECT_EQ((*id)[i], '-') << *id;
  EXPECT_EQ(boot_id(), id);
}

TEST(Proc, UsageCountsCpuTimeAndResidentMemory) {
  std::optional<ProcessUsage> before = process_usage(getpid());
  ASSERT_TRUE(before);
  EXPECT_GT(before->rss_bytes, 0u);

  // Burn 200 ms of CPU, measured by the kernel's own per-process clock.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
  };
  const uint64_t start = cpu_now();
  volatile uint64_t sink = 0;
  while (cpu_now() - start < 200'000) sink = sink + 1;

  // Touch 64 MiB.
  const std::size_t size = 64u << 20;
  std::vector<char> block(size);
  std::memset(block.data(), 1, size);
  std::optional<ProcessUsage> after = process_usage(getpid());
  ASSERT_TRUE(after);
  EXPECT_GE(after->cpu_usec, before->cpu_usec + 150'000);
  EXPECT_GE(after->rss_bytes, before->rss_bytes + size / 2);
  EXPECT_EQ(block[size - 1], 1);
}

TEST(Proc, UsageShowsTheResidentMemoryStatusShows) {
  // What `procmanctl status` and MemoryCurrent report must be what VmRSS (and top) say, to
  // the page: a stopped child's memory does not change between the two readings.
  SpawnRequest req;
  req.argv = {"/bin/sleep", "1000"};
  SpawnResult r = spawn(req);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(kill(r.pid, SIGSTOP), 0);
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(r.pid), &info, WSTOPPED), 0);
  std::optional<ProcessUsage> usage = process_usage(r.pid);
  uint64_t vm_rss_kib = 0;
  std::ifstream status("/proc/" + std::to_string(r.pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) vm_rss_kib = std::stoull(line.substr(6));
  kill_and_reap(r);
  ASSERT_TRUE(usage);
  ASSERT_GT(vm_rss_kib, 0u);
  EXPECT_EQ(usage->rss_bytes, vm_rss_kib * 1024);
}

TEST(Proc, GroupMembersCoverTheWholeTreeUntilItIsGone) {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  unique_fd rd(fds[0]), wr(fds[1]);
  SpawnRequest req;
  req.argv = {"/bin/sh", "-c", "sleep 1000 & echo $!; sleep 1000 & echo $!; wait"};
  req.env = {"PATH=/usr/bin:/bin"};
  req.stdout_fd = wr.get();
  SpawnResult r = spawn(req);
  wr.reset();
  ASSERT_EQ(r.error, "");
  pid_t a = std::atoi(read_line(rd.get()).c_str());
  pid_t b = std::atoi(read_line(rd.get()).c_str());

  std::vector<pid_t> expected = {r.pid, a, b};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(process_group_members(r.pid), expected);

  std::vector<unique_fd> pidfds;
  for (pid_t p : expected) pidfds.emplace_back(static_cast<int>(syscall(SYS_pidfd_open, p, 0u)));
  ASSERT_TRUE(signal_group(r.pid, SIGKILL));
  // All three have died once their pidfds are readable; they are zombies until reaped
  // and zombies do not count as members.
  for (const unique_fd& fd : pidfds) {
    ASSERT_TRUE(fd);
    pollfd p{fd.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, kTimeoutMs), 1);
  }
  EXPECT_EQ(process_group_members(r.pid), std::vector<pid_t>{});
  for (pid_t p : expected) EXPECT_EQ(waitpid(p, nullptr, 0), p);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST(Proc, GroupMembersOfAnUnusedGroupIsEmpty) {
  std::ifstream f("/proc/sys/kernel/pid_max");
  pid_t pid_max = 0;
  f >> pid_max;
  EXPECT_EQ(process_group_members(pid_max + 1), std::vector<pid_t>{});
}

}  // namespace
}  // namespace procman::os
