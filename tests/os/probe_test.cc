// Tests for os/probe: real sockets on loopback, a real python3 HTTP server, a real
// EventLoop, and real files and processes.
#include "os/probe.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "os/unique_fd.h"

extern char** environ;

namespace procman::os {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kBoundUsec = 10'000'000;  // no test waits longer than this for an event

/// Runs `loop` until `finished()` holds after some dispatch, or 10 s pass (then false).
/// An EventLoop runs once: use a fresh one per test.
bool run_until(EventLoop& loop, const std::function<bool()>& finished) {
  bool timed_out = false;
  EventSource guard = loop.add_timer(EventLoop::now_usec() + kBoundUsec, [&] {
    timed_out = true;
    loop.exit(1);
  });
  EventSource check = loop.add_post([&] {
    if (finished()) loop.exit(0);
  });
  loop.run();
  return !timed_out;
}

/// A TCP socket bound to 127.0.0.1 on a kernel-chosen port, listening (never accepting)
/// when `backlog` >= 0, merely bound otherwise.
struct Listener {
  unique_fd fd;
  uint16_t port = 0;

  explicit Listener(int backlog) {
    fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    if (backlog >= 0) {
      EXPECT_EQ(listen(fd.get(), backlog), 0);
    }
  }
};

/// A port nothing listens on: bound, then released.
uint16_t closed_port() {
  Listener l(-1);
  return l.port;
}

/// A python3 HTTP server on 127.0.0.1: GET /status/N answers N (3xx with a Location),
/// anything else 200. Killed (by pid) and reaped on destruction.
class HttpServer {
 public:
  HttpServer() {
    const char* script = R"PY(
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200
        if self.path.startswith('/status/'):
            code = int(self.path.rsplit('/', 1)[1])
        self.send_response(code)
        if code in (301, 302):
            self.send_header('Location', '/status/500')
        self.send_header('Content-Length', '5')
        self.end_headers()
        self.wfile.write(b'hello')
    def log_message(self, *args):
        pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops SYNs under concurrent probes
s = S(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
)PY";
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    unique_fd rd(p[0]), wr(p[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
    std::vector<std::string> args = {"python3", "-c", script};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawnp(&pid_, "python3", &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    wr.reset();
    std::string line;
    char c;
    for (;;) {
      pollfd pfd{rd.get(), POLLIN, 0};
      if (poll(&pfd, 1, 20'000) <= 0) break;
      if (read(rd.get(), &c, 1) != 1 || c == '\n') break;
      line += c;
    }
    port_ = static_cast<uint16_t>(std::atoi(line.c_str()));
    EXPECT_NE(port_, 0) << "python3 http server did not report its port";
  }
  ~HttpServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

/// One probe's outcome, recorded by its callback.
struct Outcome {
  int calls = 0;
  ProbeResult result;
  Prober::Done done() {
    return [this](const ProbeResult& r) {
      ++calls;
      result = r;
    };
  }
};

// --- HTTP --------------------------------------------------------------------------------

TEST(ProberHttp, StatusAsExpectedIsOk) {
  HttpServer server;
  EventLoop loop;
  Prober prober(loop);
  Outcome o;
  prober.http_get(server.url("/"), 200, milliseconds(5000), o.done());
  EXPECT_EQ(o.calls, 0) << "never synchronous";
  EXPECT_EQ(prober.pending(), 1u);
  ASSERT_TRUE(run_until(loop, [&] { return o.calls > 0; }));
  EXPECT_EQ(o.calls, 1);
  EXPECT_TRUE(o.result.ok);
  EXPECT_EQ(o.result.detail, "HTTP 200");
  EXPECT_EQ(prober.pending(), 0u);
}

TEST(ProberHttp, OtherStatusIsNotOkAndNamesBoth) {
  HttpServer server;
  EventLoop loop;
  Prober prober(loop);
  Outcome o404, o503, expect404;
  prober.http_get(server.url("/status/404"), 200, milliseconds(5000), o404.done());
  prober.http_get(server.url("/status/503"), 200, milliseconds(5000), o503.done());
  prober.http_get(server.url("/status/404"), 404, milliseconds(5000), expect404.done());
  ASSERT_TRUE(run_until(loop, [&] { return prober.pending() == 0; }));
  EXPECT_FALSE(o404.result.ok);
  EXPECT_EQ(o404.result.detail, "HTTP 404 (expected 200)");
  EXPECT_FALSE(o503.result.ok);
  EXPECT_EQ(o503.result.detail, "HTTP 503 (expected 200)");
  EXPECT_TRUE(expect404.result.ok);
  EXPECT_EQ(expect404.result.detail, "HTTP 404");
}

TEST(ProberHttp, DoesNotFollowRedirects) {
  HttpServer server;
  EventLoop loop;
  Prober prober(loop);
  Outcome o;
  prober.http_get(server.url("/status/302"), 200, milliseconds(5000), o.done());
  ASSERT_TRUE(run_until(loop, [&] { return o.calls > 0; }));
  EXPECT_EQ(o.result.detail, "HTTP 302 (expected 200)");
}

TEST(ProberHttp, SilentServerTimesOutWithinBounds) {
  Listener silent(16);  // the kernel completes the handshake; nobody ever reads or answers
  EventLoop loop;
  Prober prober(loop);
  Outcome o;
  auto start = std::chrono::steady_clock::now();
  prober.http_get("http://127.0.0.1:" + std::to_string(silent.port) + "/", 200, milliseconds(500),
                  o.done());
  ASSERT_TRUE(run_until(loop, [&] { return o.calls > 0; }));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(o.result.ok);
  EXPECT_EQ(o.result.detail, "timed out after 500ms");
  EXPECT_GE(took, milliseconds(450));
  EXPECT_LT(took, milliseconds(5000));
}

TEST(ProberHttp, ClosedPortIsConnectionRefused) {
  EventLoop loop;
  Prober prober(loop);
  Outcome o;
  prober.http_get("http://127.0.0.1:" + std::to_string(closed_port()) + "/", 200,
                  milliseconds(5000), o.done());
  EXPECT_EQ(o.calls, 0);
  ASSERT_TRUE(run_until(loop, [&] { return o.calls > 0; }));
  EXPECT_FALSE(o.result.ok);
  EXPECT_EQ(o.result.detail, "connection refused");
}

TEST(ProberHttp, OtherSchemesAreRejectedFromTheLoop) {
  EventLoop loop;
  Prober prober(loop);
  Outcome ftp, garbage;
  prober.http_get("ftp://127.0.0.1/x", 200, milliseconds(5000), ftp.done());
  prober.http_get("not a url at all", 200, milliseconds(5000), garbage.done());
  EXPECT_EQ(ftp.calls + garbage.calls, 0);
  ASSERT_TRUE(run_until(loop, [&] { return prober.pending() == 0; }));
  EXPECT_FALSE(ftp.result.ok);
  EXPECT_THAT(ftp.result.detail, HasSubstr("ftp"));
  EXPECT_FALSE(garbage.result.ok);
  EXPECT_FALSE(garbage.result.detail.empty());
}

TEST(ProberHttp, ManyConcurrentRequestsAllComplete) {
  HttpServer server;
  EventLoop loop;
  Prober prober(loop);
  std::vector<Outcome> outcomes(60);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    int status = i % 2 ? 204 : 200;
    prober.http_get(server.url("/status/" + std::to_string(status)), status, milliseconds(8000),
                    outcomes[i].done());
  }
  EXPECT_EQ(prober.pending(), outcomes.size());
  ASSERT_TRUE(run_until(loop, [&] { return prober.pending() == 0; }));
  for (size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i].calls, 1) << i;
    EXPECT_TRUE(outcomes[i].result.ok) << i << ": " << outcomes[i].result.detail;
  }
}

TEST(ProberHttp, CancelPreventsTheCallback) {
  Listener silent(16);
  std::string url = "http://127.0.0.1:" + std::to_string(silent.port) + "/";
  EventLoop loop;
  Prober prober(loop);
  Outcome cancelled, later;
  Prober::Id id = prober.http_get(url, 200, milliseconds(300), cancelled.done());
  // Finishes well after the cancelled one would have.
  prober.http_get(url, 200, milliseconds(900), later.done());
  prober.cancel(id);
  prober.cancel(id);      // twice is harmless
  prober.cancel(123456);  // so is an unknown id
  EXPECT_EQ(prober.pending(), 1u);
  ASSERT_TRUE(run_until(loop, [&] { return later.calls > 0; }));
  EXPECT_EQ(cancelled.calls, 0);
  EXPECT_EQ(later.result.detail, "timed out after 900ms");
}

TEST(ProberHttp, CallbackMayStartAndCancelProbes) {
  HttpServer server;
  EventLoop loop;
  Prober prober(loop);
  Outcome second, victim;
  Prober::Id victim_id = 0;
  int first_calls = 0;
  victim_id = prober.http_get(server.url("/status/200"), 200, milliseconds(5000), victim.done());
  prober.http_get(server.url("/status/200"), 200, milliseconds(5000), [&](const ProbeResult&) {
    ++first_calls;
    prober.cancel(victim_id);  // may already be done; either way no crash
    prober.http_get(server.url("/status/201"), 201, milliseconds(5000), second.done());
  });
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  EXPECT_EQ(first_calls, 1);
  EXPECT_LE(victim.calls, 1);
  EXPECT_TRUE(second.result.ok) << second.result.detail;
}

TEST(ProberHttp, DestroyingTheProberDropsPendingCallbacks) {
  Listener silent(16);
  EventLoop loop;
  Outcome o, tcp;
  bool fired = false;
  {
    Prober prober(loop);
    prober.http_get("http://127.0.0.1:" + std::to_string(silent.port) + "/", 200, milliseconds(200),
                    o.done());
    prober.tcp_connect("127.0.0.1", closed_port(), milliseconds(200), tcp.done());
  }
  // Past both deadlines: nothing may run (and ASan sees no use after free).
  EventSource t = loop.add_timer(EventLoop::now_usec() + 600'000, [&] { fired = true; });
  ASSERT_TRUE(run_until(loop, [&] { return fired; }));
  EXPECT_EQ(o.calls, 0);
  EXPECT_EQ(tcp.calls, 0);
}

// --- TCP ---------------------------------------------------------------------------------

TEST(ProberTcp, ListeningPortIsOk) {
  Listener l(16);
  EventLoop loop;
  Prober prober(loop);
  Outcome numeric, localhost;
  prober.tcp_connect("127.0.0.1", l.port, milliseconds(5000), numeric.done());
  prober.tcp_connect("localhost", l.port, milliseconds(5000), localhost.done());
  EXPECT_EQ(numeric.calls + localhost.calls, 0) << "never synchronous";
  ASSERT_TRUE(run_until(loop, [&] { return prober.pending() == 0; }));
  EXPECT_TRUE(numeric.result.ok);
  EXPECT_EQ(numeric.result.detail, "connected to 127.0.0.1:" + std::to_string(l.port));
  EXPECT_TRUE(localhost.result.ok);
  EXPECT_EQ(localhost.result.detail, "connected to localhost:" + std::to_string(l.port));
}

TEST(ProberTcp, ClosedPortIsConnectionRefused) {
  EventLoop loop;
  Prober prober(loop);
  Outcome o;
  prober.tcp_connect("127.0.0.1", closed_port(), milliseconds(5000), o.done());
  EXPECT_EQ(o.calls, 0) << "never synchronous, even when connect() fails at once";
  ASSERT_TRUE(run_until(loop, [&] { return o.calls > 0; }));
  EXPECT_EQ(o.calls, 1);
  EXPECT_FALSE(o.result.ok);
  EXPECT_EQ(o.result.detail, "connection refused");
}

TEST(ProberTcp, HostNamesGoThroughLibcurl) {
  // libcurl resolves *.localhost to loopback itself, without DNS.
  Listener l(16);
  EventLoop loop;
  Prober prober(loop);
  Outcome up, down;
  prober.tcp_connect("probe-test.localhost", l.port, milliseconds(5000), up.done());
  prober.tcp_connect("probe-test.localhost", closed_port(), milliseconds(5000), down.done());
  ASSERT_TRUE(run_until(loop, [&] { return prober.pending() == 0; }));
  EXPECT_TRUE(up.result.ok) << up.result.detail;
  EXPECT_EQ(up.result.detail, "connected to probe-test.localhost:" + std::to_string(l.port));
  EXPECT_FALSE(down.result.ok);
  EXPECT_EQ(down.result.detail, "connection refused");
}

TEST(ProberTcp, RejectsMalformedHostNames) {
  EventLoop loop;
  Prober prober(loop);
  Outcome o;
  prober.tcp_connect("evil/host@x", 80, milliseconds(5000), o.done());
  EXPECT_EQ(o.calls, 0);
  ASSERT_TRUE(run_until(loop, [&] { return o.calls > 0; }));
  EXPECT_FALSE(o.result.ok);
  EXPECT_EQ(o.result.detail, "invalid host name 'evil/host@x'");
}

TEST(ProberTcp, CancelPreventsTheCallback) {
  Listener l(16);
  EventLoop loop;
  Prober prober(loop);
  Outcome cancelled, other;
  Prober::Id id =
      prober.tcp_connect("127.0.0.1", closed_port(), milliseconds(5000), cancelled.done());
  prober.tcp_connect("127.0.0.1", l.port, milliseconds(5000), other.done());
  prober.cancel(id);
  ASSERT_TRUE(run_until(loop, [&] { return other.calls > 0; }));
  EXPECT_EQ(cancelled.calls, 0);
  EXPECT_EQ(prober.pending(), 0u);
}

// An unanswered SYN on loopback: with its accept queue full, a listener's kernel drops new
// SYNs (Linux and gVisor both do). Should some kernel accept anyway, the test skips rather
// than pass vacuously.
TEST(ProberTcp, FullBacklogTimesOutWhenTheKernelDropsSyns) {
  Listener l(0);
  std::vector<unique_fd> fillers;
  for (int i = 0; i < 4; ++i) {
    unique_fd f(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(l.port);
    connect(f.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(std::move(f));
  }
  EventLoop loop;
  Prober prober(loop);
  Outcome o;
  auto start = std::chrono::steady_clock::now();
  prober.tcp_connect("127.0.0.1", l.port, milliseconds(500), o.done());
  ASSERT_TRUE(run_until(loop, [&] { return o.calls > 0; }));
  if (o.result.ok) GTEST_SKIP() << "this kernel accepted past a full backlog";
  EXPECT_EQ(o.result.detail, "timed out after 500ms");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, milliseconds(450));
  EXPECT_LT(took, milliseconds(5000));
}

// --- libcurl, loaded on first use -------------------------------------------------------

/// Points Probers at a library name that does not exist, for one scope.
struct MissingLibcurl {
  static constexpr const char* kName = "libcurl-procman-test-missing.so.4";
  MissingLibcurl() { set_libcurl_name_for_tests(kName); }
  ~MissingLibcurl() { set_libcurl_name_for_tests(""); }
};

TEST(ProberLibcurl, MissingLibraryFailsOnlyTheProbesThatNeedIt) {
  HttpServer server;
  Listener l(16);
  EventLoop loop;
  Prober prober(loop);
  Outcome http, named, numeric, later;
  std::optional<MissingLibcurl> missing(std::in_place);
  prober.http_get(server.url("/"), 200, milliseconds(5000), http.done());
  prober.tcp_connect("probe-test.localhost", l.port, milliseconds(5000), named.done());
  prober.tcp_connect("127.0.0.1", l.port, milliseconds(5000), numeric.done());
  EXPECT_EQ(http.calls + named.calls + numeric.calls, 0) << "never synchronous";
  // Once those three are done, the library can be found again: the same Prober loads it for
  // the next probe, since the failure is not remembered.
  ASSERT_TRUE(run_until(loop, [&] {
    if (missing && prober.pending() == 0) {
      missing.reset();
      prober.http_get(server.url("/"), 200, milliseconds(5000), later.done());
    }
    return later.calls > 0;
  }));
  const std::string dlopen_failed = std::string("dlopen ") + MissingLibcurl::kName + ": " +
                                    MissingLibcurl::kName +
                                    ": cannot open shared object file: No such file or directory";
  EXPECT_FALSE(http.result.ok);
  EXPECT_EQ(http.result.detail, "HTTP checks need libcurl: " + dlopen_failed);
  EXPECT_FALSE(named.result.ok);
  EXPECT_EQ(named.result.detail, "TCP checks to host names need libcurl: " + dlopen_failed);
  EXPECT_TRUE(numeric.result.ok) << numeric.result.detail;
  EXPECT_TRUE(later.result.ok) << later.result.detail;
  EXPECT_EQ(later.result.detail, "HTTP 200");
}

bool libcurl_mapped() {
  void* h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_NOLOAD);
  if (h) dlclose(h);
  return h != nullptr;
}

/// Runs in a freshly executed copy of the test binary (see below); exits 0 when libcurl shows
/// up in the process exactly when the first probe that needs it starts.
[[noreturn]] void check_libcurl_loads_lazily() {
  auto fail = [](const char* why) {
    std::fprintf(stderr, "%s\n", why);
    std::fflush(stderr);
    std::_Exit(1);
  };
  if (libcurl_mapped()) fail("libcurl is mapped before any probe: something links it");
  Listener l(16);
  EventLoop loop;
  Prober prober(loop);
  if (libcurl_mapped()) fail("constructing a Prober loaded libcurl");
  Outcome numeric, http;
  prober.tcp_connect("127.0.0.1", l.port, milliseconds(5000), numeric.done());
  if (libcurl_mapped()) fail("a numeric TCP probe loaded libcurl");
  prober.http_get("http://127.0.0.1:" + std::to_string(closed_port()) + "/", 200,
                  milliseconds(5000), http.done());
  if (!libcurl_mapped()) fail("http_get did not load libcurl");
  if (!run_until(loop, [&] { return prober.pending() == 0; })) fail("the probes never finished");
  if (!numeric.result.ok) fail("the TCP probe failed");
  if (http.result.detail != "connection refused") fail("the HTTP probe did not run");
  std::_Exit(0);
}

TEST(ProberLibcurlDeathTest, LoadsLibcurlOnlyWhenAProbeNeedsIt) {
  // Earlier tests in this process may have loaded libcurl already: "threadsafe" runs the
  // check in a new process started from the test binary, not in a fork of this one.
  const std::string style = GTEST_FLAG_GET(death_test_style);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(check_libcurl_loads_lazily(), ::testing::ExitedWithCode(0), "");
  GTEST_FLAG_SET(death_test_style, style);
}

// --- files -------------------------------------------------------------------------------

class ProbeFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/procman-probe-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static void set_mtime(const std::string& path, time_t sec) {
    timespec ts[2] = {{sec, 0}, {sec, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
  }
  static std::chrono::system_clock::time_point at(time_t sec) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(sec));
  }

  std::string dir_;
};

TEST_F(ProbeFiles, FileExistsAndNotExists) {
  std::string f = dir_ + "/x";
  EXPECT_EQ(check_file_exists(f).detail, f + " does not exist");
  EXPECT_FALSE(check_file_exists(f).ok);
  EXPECT_TRUE(check_not_exists(f).ok);
  EXPECT_EQ(check_not_exists(f).detail, f + " does not exist");
  std::ofstream(f) << "x";
  EXPECT_TRUE(check_file_exists(f).ok);
  EXPECT_EQ(check_file_exists(f).detail, f + " exists");
  EXPECT_FALSE(check_not_exists(f).ok);
  EXPECT_EQ(check_not_exists(f).detail, f + " exists");
  EXPECT_FALSE(check_file_exists(f + "/below-a-file").ok);
  EXPECT_TRUE(check_not_exists(f + "/below-a-file").ok);
}

TEST_F(ProbeFiles, DanglingSymlinkExistsOnlyForNotExists) {
  std::string link = dir_ + "/link";
  ASSERT_EQ(symlink("/nonexistent/target", link.c_str()), 0);
  EXPECT_FALSE(check_file_exists(link).ok);
  EXPECT_FALSE(check_not_exists(link).ok);
}

TEST_F(ProbeFiles, FolderWithoutRecentChangesIsInactive) {
  constexpr time_t kT0 = 1'700'000'000;
  std::ofstream(dir_ + "/a") << "a";
  std::filesystem::create_directory(dir_ + "/sub");
  std::ofstream(dir_ + "/sub/deep") << "d";
  set_mtime(dir_ + "/a", kT0);
  set_mtime(dir_ + "/sub/deep", kT0 + 11);  // not a direct entry: does not count
  set_mtime(dir_ + "/sub", kT0);
  set_mtime(dir_, kT0);
  ProbeResult r = check_folder_active(dir_, std::chrono::seconds(10), at(kT0 + 12));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "no change in " + dir_ + " for 12s (limit 10s)");

  set_mtime(dir_ + "/a", kT0 + 5);
  r = check_folder_active(dir_, std::chrono::seconds(10), at(kT0 + 12));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.detail, "last change in " + dir_ + " 7s ago (limit 10s)");
}

TEST_F(ProbeFiles, FolderOwnMtimeCounts) {
  constexpr time_t kT0 = 1'700'000'000;
  set_mtime(dir_, kT0 + 10);
  EXPECT_TRUE(check_folder_active(dir_, std::chrono::seconds(10), at(kT0 + 12)).ok);
  EXPECT_FALSE(check_folder_active(dir_, std::chrono::seconds(1), at(kT0 + 12)).ok);
}

TEST_F(ProbeFiles, MissingFolderIsUnhealthy) {
  ProbeResult r = check_folder_active(dir_ + "/gone", std::chrono::seconds(10),
                                      std::chrono::system_clock::now());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, dir_ + "/gone does not exist");
  std::ofstream(dir_ + "/file") << "x";
  r = check_folder_active(dir_ + "/file", std::chrono::seconds(10),
                          std::chrono::system_clock::now());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, dir_ + "/file is not a directory");
}

// --- processes ---------------------------------------------------------------------------

TEST(CheckNotRunning, FindsALiveProcessButNotAZombie) {
  std::string marker = "procman-probe-test-" + std::to_string(getpid()) + "-sleeper";
  std::string arg0 = marker, arg1 = "1000";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  pid_t pid = -1;
  ASSERT_EQ(posix_spawnp(&pid, "sleep", nullptr, nullptr, argv, environ), 0);
  struct KillOnExit {  // an early ASSERT must not leave the sleeper behind
    pid_t pid;
    bool reaped = false;
    ~KillOnExit() {
      if (!reaped) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } sleeper{pid};
  // Some kernels (gVisor) show an empty cmdline for a moment after the exec: wait until the
  // marker is visible, with a generous bound.
  const std::string cmdline_path = "/proc/" + std::to_string(pid) + "/cmdline";
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);;) {
    std::ifstream f(cmdline_path);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (text.find(marker) != std::string::npos) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the sleeper never showed up";
    usleep(1000);
  }

  ProbeResult r = check_not_running(marker + " 1000$");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.detail, StartsWith("pid " + std::to_string(pid) + " matches"));
  EXPECT_THAT(r.detail, HasSubstr(marker + " 1000"));

  ASSERT_EQ(kill(pid, SIGKILL), 0);
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);  // a zombie now
  r = check_not_running(marker);
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.detail, "no process matches '" + marker + "'");
  EXPECT_EQ(waitpid(pid, nullptr, 0), pid);
  sleeper.reaped = true;
}

TEST(CheckNotRunning, InvalidPatternIsNotOk) {
  ProbeResult r = check_not_running("(unclosed");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.detail, StartsWith("invalid pattern '(unclosed': "));
}

}  // namespace
}  // namespace procman::os
