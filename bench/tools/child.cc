// bench-child: the workload child every supervisor under test runs (bench/benchlib.py).
// It reports "ID PID start" to the harness's datagram socket as soon as main() runs, so the
// harness sees "running" without asking the supervisor, then behaves as MODE says.
//
// Usage: bench-child REPORT_SOCKET ID MODE
//   ID          a decimal number, echoed in every report and log line
//   MODE run        wait until SIGTERM or SIGINT, then exit 0
//        term1      like run, but SIGTERM lets it run on for 1 s (a child slow to stop)
//        exit       exit 1 right after the start report (a crashing child)
//        log:BYTES  write 100-byte lines "L<ID> <seq> xx...x\n" to stdout until at least BYTES
//                   (decimal, suffix K/M/G = 1024-based) are written, report
//                   "ID PID done LINES", then wait like run
// Exit status: 0 after a stop signal, 1 in mode exit or when stdout fails, 2 on bad usage,
// 3 when the report socket cannot be reached.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string_view>

namespace {

constexpr size_t kLineBytes = 100;
// Whole lines per write(2): about 64 KiB, the default pipe capacity.
constexpr size_t kLinesPerBatch = 65536 / kLineBytes;

enum class Mode { kRun, kTerm1, kExit, kLog };

[[noreturn]] void usage(const char* why) {
  fprintf(stderr,
          "bench-child: %s\n"
          "usage: bench-child REPORT_SOCKET ID MODE\n"
          "  MODE: run | term1 | exit | log:BYTES (BYTES decimal, suffix K/M/G = 1024-based)\n",
          why);
  exit(2);
}

bool parse_u64(std::string_view s, uint64_t& out) {
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return !s.empty() && ec == std::errc() && ptr == end;
}

bool parse_bytes(std::string_view s, uint64_t& out) {
  const char suffix = s.empty() ? '\0' : s.back();
  const unsigned shift = suffix == 'K' ? 10 : suffix == 'M' ? 20 : suffix == 'G' ? 30 : 0;
  if (shift != 0) s.remove_suffix(1);
  if (!parse_u64(s, out) || out > (UINT64_MAX >> shift)) return false;
  out <<= shift;
  return true;
}

// The harness's socket, kept open for the "done" report.
struct Reporter {
  int fd = -1;
  sockaddr_un addr{};
};

void report(const Reporter& r, const char* msg) {
  for (;;) {
    if (sendto(r.fd, msg, strlen(msg), 0, reinterpret_cast<const sockaddr*>(&r.addr),
               sizeof r.addr) >= 0) {
      return;
    }
    if (errno == EINTR) continue;
    fprintf(stderr, "bench-child: cannot report to %s: %s\n", r.addr.sun_path, strerror(errno));
    exit(3);
  }
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w >= 0) {
      p += w;
      n -= static_cast<size_t>(w);
    } else if (errno == EAGAIN) {
      pollfd pfd{fd, POLLOUT, 0};
      poll(&pfd, 1, -1);
    } else if (errno != EINTR) {
      fprintf(stderr, "bench-child: write to stdout: %s\n", strerror(errno));
      exit(1);
    }
  }
}

// Writes "L<ID> <seq> " padded with 'x' to exactly kLineBytes, '\n' included.
char* put_line(char* p, std::string_view id, uint64_t seq) {
  char* const line = p;
  *p++ = 'L';
  p = std::copy(id.begin(), id.end(), p);
  *p++ = ' ';
  p = std::to_chars(p, line + kLineBytes, seq).ptr;
  *p++ = ' ';
  memset(p, 'x', static_cast<size_t>(line + kLineBytes - 1 - p));
  line[kLineBytes - 1] = '\n';
  return line + kLineBytes;
}

// Returns the number of lines written.
uint64_t write_log(std::string_view id, uint64_t bytes) {
  static char buf[kLinesPerBatch * kLineBytes];
  const uint64_t lines = bytes / kLineBytes + (bytes % kLineBytes != 0 ? 1 : 0);
  for (uint64_t seq = 0; seq < lines;) {
    char* p = buf;
    for (size_t i = 0; i < kLinesPerBatch && seq < lines; ++i) p = put_line(p, id, seq++);
    write_all(STDOUT_FILENO, buf, static_cast<size_t>(p - buf));
  }
  return lines;
}

int wait_for_signal(const sigset_t& set) {
  for (;;) {
    int sig = sigwaitinfo(&set, nullptr);
    if (sig > 0) return sig;
  }
}

void sleep_one_second() {
  timespec deadline{};
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += 1;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) usage("expected 3 arguments");
  const std::string_view id = argv[2];
  const std::string_view mode_arg = argv[3];
  uint64_t unused = 0;
  // The length bound keeps "L<ID> <seq> " well inside a 100-byte line.
  if (id.size() > 20 || !parse_u64(id, unused)) usage("ID must be a decimal number");
  Mode mode = Mode::kRun;
  uint64_t log_bytes = 0;
  if (mode_arg == "run") {
    mode = Mode::kRun;
  } else if (mode_arg == "term1") {
    mode = Mode::kTerm1;
  } else if (mode_arg == "exit") {
    mode = Mode::kExit;
  } else if (mode_arg.starts_with("log:") && parse_bytes(mode_arg.substr(4), log_bytes)) {
    mode = Mode::kLog;
  } else {
    usage("unknown MODE");
  }
  Reporter reporter;
  if (strlen(argv[1]) >= sizeof reporter.addr.sun_path) usage("REPORT_SOCKET path too long");
  reporter.addr.sun_family = AF_UNIX;
  strcpy(reporter.addr.sun_path, argv[1]);

  // Blocked before the start report: a stop signal sent as soon as the harness sees "start"
  // must be waited for, not take the default action. Blocked signals are queued even if the
  // supervisor left them ignored.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);

  reporter.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (reporter.fd < 0) {
    fprintf(stderr, "bench-child: socket: %s\n", strerror(errno));
    return 3;
  }
  char msg[96];
  const long pid = getpid();
  snprintf(msg, sizeof msg, "%s %ld start", argv[2], pid);
  report(reporter, msg);

  if (mode == Mode::kExit) return 1;
  if (mode == Mode::kLog) {
    const uint64_t lines = write_log(id, log_bytes);
    snprintf(msg, sizeof msg, "%s %ld done %llu", argv[2], pid,
             static_cast<unsigned long long>(lines));
    report(reporter, msg);
  }
  // Signals stay blocked while term1 runs on, so a second SIGTERM cannot cut it short.
  if (wait_for_signal(stop_signals) == SIGTERM && mode == Mode::kTerm1) sleep_one_second();
  return 0;
}
