// Tests for os/journal: validation and the stream protocol against a fake journald
// (always run), then the real thing against a running systemd-journald (skipped
// when no journald answers on /run/systemd/journal/socket).
#include "os/journal.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "os/unique_fd.h"

namespace procman::os {
namespace {

constexpr int kTimeoutMs = 20'000;

// A fresh directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "procman-journal-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A listening AF_UNIX stream socket at `path` (a stand-in for journald).
unique_fd listen_at(const std::string& path) {
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd.get(), 8) != 0) {
    ADD_FAILURE() << "bind/listen " << path << ": " << std::strerror(errno);
  }
  return fd;
}

// Everything readable from `fd` until EOF, waiting at most kTimeoutMs for each chunk.
std::string read_until_eof(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kTimeoutMs) <= 0) {
      ADD_FAILURE() << "timed out reading";
      return out;
    }
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// Waits for `pid` and returns its exit code (-1 when it did not exit normally).
int wait_exit_code(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Forks a child that connects with `target`, puts the stream on `target_fd` (1 or 2)
// and writes `line` there. Exit codes: 0 ok, 10 connect failed, 11 dup2, 12 write.
// With `linger`, the child stays alive after writing until it is killed: journald reads a
// stream writer's _PID (and the rest of its context) from /proc when it processes the first
// line, so an entry of a writer that already exited may have no _PID.
pid_t spawn_writer(const JournalStreamTarget& target, int target_fd, const std::string& line,
                   bool linger = false) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = journal_stream_open_in_child(target);
    if (fd < 0) ::_exit(10);
    if (::dup2(fd, target_fd) < 0) ::_exit(11);
    ::close(fd);
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      ssize_t n = ::write(target_fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ::_exit(12);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    while (linger) ::pause();
    ::_exit(0);
  }
  return pid;
}

// journald records _PID from the stream's peer credentials. journald 252 sometimes stores a
// stream's lines with none of its trusted fields (_PID, _UID, _COMM...) when many streams
// open at once (seen on these machines: a few in 200 concurrent streams, from processes
// that were alive throughout). So a missing _PID is journald's; a wrong one would be ours.
void expect_pid_of_writer(const JournalEntry& entry, pid_t writer) {
  if (entry.pid != -1) {
    EXPECT_EQ(entry.pid, writer);
  }
}

// Kills a lingering writer and reaps it.
void stop_writer(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// A token no other test run (or earlier entry in a persistent journal) can have.
std::string unique_token(std::string_view what) {
  static std::atomic<int> counter{0};
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::string("procman-test-") + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(ts.tv_sec) + std::to_string(ts.tv_nsec) + "-" + std::to_string(counter++);
}

// --- Validation -----------------------------------------------------------------

TEST(JournalIdentifier, AcceptsProcessNamesIncludingNonAscii) {
  std::string error;
  EXPECT_TRUE(valid_journal_identifier("web", &error)) << error;
  EXPECT_TRUE(valid_journal_identifier("worker@2", &error)) << error;
  EXPECT_TRUE(valid_journal_identifier("caf\xc3\xa9 bar", &error)) << error;
  EXPECT_TRUE(valid_journal_identifier(std::string(255, 'a'), &error)) << error;
}

TEST(JournalIdentifier, RejectsEmpty) {
  std::string error;
  EXPECT_FALSE(valid_journal_identifier("", &error));
  EXPECT_EQ(error, "journal identifier is empty");
}

TEST(JournalIdentifier, RejectsNewlineWithOffset) {
  std::string error;
  EXPECT_FALSE(valid_journal_identifier("we\nb", &error));
  EXPECT_EQ(error, "journal identifier \"we\\nb\": control character 0x0a at offset 2");
}

TEST(JournalIdentifier, RejectsNulBecauseJournaldEndsTheHeaderLineThere) {
  std::string error;
  EXPECT_FALSE(valid_journal_identifier(std::string_view("a\0b", 3), &error));
  EXPECT_EQ(error, "journal identifier \"a\\x00b\": control character 0x00 at offset 1");
}

TEST(JournalIdentifier, RejectsBlanksJournaldWouldStrip) {
  std::string error;
  EXPECT_FALSE(valid_journal_identifier(" web", &error));
  EXPECT_EQ(error, "journal identifier \" web\": leading or trailing blank (journald strips it)");
  EXPECT_FALSE(valid_journal_identifier("web ", &error));
}

TEST(JournalIdentifier, RejectsOverlongWithTheLimit) {
  std::string error;
  EXPECT_FALSE(valid_journal_identifier(std::string(256, 'a'), &error));
  EXPECT_NE(error.find("longer than 255 bytes"), std::string::npos) << error;
}

TEST(JournalFieldName, AcceptsUppercaseDigitsUnderscore) {
  std::string error;
  EXPECT_TRUE(valid_journal_field_name("PROCMAN_PROCESS", &error)) << error;
  EXPECT_TRUE(valid_journal_field_name("A1_B2", &error)) << error;
  EXPECT_TRUE(valid_journal_field_name(std::string(64, 'X'), &error)) << error;
}

TEST(JournalFieldName, RejectsEachRuleWithPreciseMessage) {
  std::string error;
  EXPECT_FALSE(valid_journal_field_name("", &error));
  EXPECT_EQ(error, "journal field name is empty");
  EXPECT_FALSE(valid_journal_field_name("_PID", &error));
  EXPECT_EQ(error, "journal field \"_PID\": starts with '_' (reserved for journald)");
  EXPECT_FALSE(valid_journal_field_name("1ABC", &error));
  EXPECT_EQ(error, "journal field \"1ABC\": starts with a digit");
  EXPECT_FALSE(valid_journal_field_name("PROCMAN_process", &error));
  EXPECT_EQ(
      error,
      "journal field \"PROCMAN_process\": character \"p\" at offset 8 is not A-Z, 0-9 or '_'");
  EXPECT_FALSE(valid_journal_field_name(std::string(65, 'X'), &error));
  EXPECT_NE(error.find("longer than 64 characters"), std::string::npos) << error;
}

TEST(JournalSend, RefusesBadFieldNameWithoutSending) {
  std::string error;
  EXPECT_FALSE(journal_send(LOG_INFO, "never sent", {{"bad-name", "x"}}, &error));
  EXPECT_EQ(error,
            "journal field \"bad-name\": character \"b\" at offset 0 is not A-Z, 0-9 or '_'");
}

TEST(JournalSend, RefusesFieldsItSetsItself) {
  std::string error;
  EXPECT_FALSE(journal_send(LOG_INFO, "never sent", {{"PRIORITY", "2"}}, &error));
  EXPECT_EQ(error, "journal field \"PRIORITY\": set by journal_send itself");
  EXPECT_FALSE(journal_send(LOG_INFO, "never sent", {{"SYSLOG_IDENTIFIER", "x"}}, &error));
}

TEST(JournalSend, RefusesPriorityOutOfRange) {
  std::string error;
  EXPECT_FALSE(journal_send(8, "never sent", {}, &error));
  EXPECT_EQ(error, "journal priority 8 is not between 0 (emerg) and 7 (debug)");
}

TEST(JournalMessageIds, AreDistinct32DigitLowercaseHex) {
  const std::vector<std::string_view> ids = {
      msgid::kStarted,          msgid::kExited,          msgid::kFailed,  msgid::kStartLimitHit,
      msgid::kDeadlineExceeded, msgid::kWatchdogTimeout, msgid::kStopped, msgid::kReloaded,
      msgid::kDaemonReady,      msgid::kDaemonStopping};
  std::map<std::string_view, int> seen;
  for (std::string_view id : ids) {
    EXPECT_EQ(id.size(), 32u) << id;
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string_view::npos) << id;
    EXPECT_EQ(++seen[id], 1) << "duplicate " << id;
  }
}

#ifdef PROCMAN_SOURCE_DIR
TEST(JournalCatalog, HasOneEntryPerMessageId) {
  std::string path = std::string(PROCMAN_SOURCE_DIR) + "/units/procman.catalog";
  FILE* f = std::fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr) << path;
  const std::vector<std::string_view> known = {field::kProcess,    field::kPid,    field::kExitCode,
                                               field::kExitSignal, field::kResult, field::kReason,
                                               field::kRestarts,   field::kConfig};
  std::map<std::string, int> entries;
  char line[1024];
  while (std::fgets(line, sizeof(line), f)) {
    std::string_view l = line;
    if (l.starts_with("#")) continue;
    if (l.starts_with("-- ")) entries[std::string(l.substr(3, 32))]++;
    // Every @FIELD@ must be one procmand sends (see field:: in journal.h).
    for (std::size_t at = l.find('@'); at != std::string_view::npos;) {
      std::size_t end = l.find('@', at + 1);
      ASSERT_NE(end, std::string_view::npos) << "unpaired @ in: " << l;
      std::string_view name = l.substr(at + 1, end - at - 1);
      EXPECT_NE(std::find(known.begin(), known.end(), name), known.end()) << name;
      at = l.find('@', end + 1);
    }
  }
  std::fclose(f);
  for (std::string_view id :
       {msgid::kStarted, msgid::kExited, msgid::kFailed, msgid::kStartLimitHit,
        msgid::kDeadlineExceeded, msgid::kWatchdogTimeout, msgid::kStopped, msgid::kReloaded,
        msgid::kDaemonReady, msgid::kDaemonStopping}) {
    EXPECT_EQ(entries[std::string(id)], 1) << id;
  }
  EXPECT_EQ(entries.size(), 10u);
}
#endif

// --- Stream targets against a fake journald -------------------------------------

TEST(JournalStreamTarget, HeaderIsTheSevenProtocolLines) {
  std::string error;
  auto target = journal_stream_target("web", LOG_INFO, &error);
  ASSERT_TRUE(target) << error;
  EXPECT_EQ(target->header, "web\n\n6\n0\n0\n0\n0\n");
  EXPECT_EQ(target->address.sun_family, AF_UNIX);
  EXPECT_STREQ(target->address.sun_path, "/run/systemd/journal/stdout");

  target = journal_stream_target("web", LOG_WARNING, &error);
  ASSERT_TRUE(target) << error;
  EXPECT_EQ(target->header, "web\n\n4\n0\n0\n0\n0\n");
}

TEST(JournalStreamTarget, RejectsBadIdentifierAndPriorityPrecisely) {
  std::string error;
  EXPECT_FALSE(journal_stream_target("", LOG_INFO, &error));
  EXPECT_EQ(error, "journal identifier is empty");
  EXPECT_FALSE(journal_stream_target("a\nb", LOG_INFO, &error));
  EXPECT_EQ(error, "journal identifier \"a\\nb\": control character 0x0a at offset 1");
  EXPECT_FALSE(journal_stream_target("web", 8, &error));
  EXPECT_EQ(error, "journal priority 8 is not between 0 (emerg) and 7 (debug)");
  EXPECT_FALSE(journal_stream_target("web", -1, &error));
  EXPECT_FALSE(journal_stream_target("web", LOG_INFO, &error, std::string(200, 'x')));
  EXPECT_NE(error.find("longer than 107 bytes"), std::string::npos) << error;
}

TEST(JournalStream, ChildConnectsSendsHeaderThenOutputAsItsOwnPeer) {
  TempDir dir;
  std::string path = dir.path() + "/stdout";
  unique_fd listener = listen_at(path);
  std::string error;
  auto target = journal_stream_target("web", LOG_INFO, &error, path);
  ASSERT_TRUE(target) << error;

  pid_t child = spawn_writer(*target, STDOUT_FILENO, "hello\n");
  ASSERT_GT(child, 0);
  pollfd p{listener.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, kTimeoutMs), 1);
  unique_fd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn) << std::strerror(errno);
  ucred cred{};
  socklen_t len = sizeof(cred);
  ASSERT_EQ(::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
  EXPECT_EQ(cred.pid, child);  // what journald records as _PID
  EXPECT_EQ(read_until_eof(conn.get()), "web\n\n6\n0\n0\n0\n0\nhello\n");
  EXPECT_EQ(wait_exit_code(child), 0);
}

TEST(JournalStream, FdIsWriteOnlyCloexecWithLargeSendBuffer) {
  TempDir dir;
  std::string path = dir.path() + "/stdout";
  unique_fd listener = listen_at(path);
  std::string error;
  auto target = journal_stream_target("web", LOG_INFO, &error, path);
  ASSERT_TRUE(target) << error;
  unique_fd fd(journal_stream_open_in_child(*target));
  ASSERT_TRUE(fd) << std::strerror(errno);
  char c;
  EXPECT_EQ(::recv(fd.get(), &c, 1, MSG_DONTWAIT), 0);  // reading side shut down: EOF
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
  int size = 0;
  socklen_t len = sizeof(size);
  ASSERT_EQ(::getsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &size, &len), 0);
  if (::geteuid() == 0) {
    EXPECT_GE(size, 8 * 1024 * 1024);  // SO_SNDBUFFORCE allowed
  }
}

TEST(JournalStream, OpenFailsWithErrnoWhenNobodyListens) {
  TempDir dir;
  std::string error;
  auto target = journal_stream_target("web", LOG_INFO, &error, dir.path() + "/missing");
  ASSERT_TRUE(target) << error;
  errno = 0;
  EXPECT_EQ(journal_stream_open_in_child(*target), -1);
  EXPECT_EQ(errno, ENOENT);

  // A stale socket file: bound, never listening.
  std::string stale = dir.path() + "/stale";
  unique_fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, stale.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  target = journal_stream_target("web", LOG_INFO, &error, stale);
  ASSERT_TRUE(target) << error;
  EXPECT_EQ(journal_stream_open_in_child(*target), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

// A bound datagram socket at `path`, as journald's "socket".
unique_fd datagram_at(const std::string& path) {
  unique_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    ADD_FAILURE() << "bind " << path << ": " << std::strerror(errno);
  return fd;
}

TEST(JournalAvailable, StaleSocketFilesOfADeadJournaldDoNotCount) {
  TempDir dir;
  unique_fd out = listen_at(dir.path() + "/stdout");
  unique_fd sock = datagram_at(dir.path() + "/socket");
  EXPECT_TRUE(journal_available(dir.path()));
  sock.reset();  // the file stays, nothing receives
  EXPECT_FALSE(journal_available(dir.path()));
}

TEST(JournalAvailable, NeedsBothSocketsAsSockets) {
  TempDir dir;
  EXPECT_FALSE(journal_available(dir.path()));
  unique_fd a = datagram_at(dir.path() + "/socket");
  EXPECT_FALSE(journal_available(dir.path()));
  int f = ::open((dir.path() + "/stdout").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(f, 0);
  ::close(f);
  EXPECT_FALSE(journal_available(dir.path()));  // a regular file is not journald
  ASSERT_EQ(::unlink((dir.path() + "/stdout").c_str()), 0);
  unique_fd b = listen_at(dir.path() + "/stdout");
  EXPECT_TRUE(journal_available(dir.path()));
}

// --- Against the real journald ---------------------------------------------------

class JournalLive : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!journal_available()) {
      GTEST_SKIP() << "no journald answers on /run/systemd/journal/socket (start "
                      "/lib/systemd/systemd-journald as root to run these tests)";
    }
  }

  // A reader with `matches`; fails the test when the journal cannot be opened.
  static std::optional<JournalReader> reader(const std::vector<std::string>& matches) {
    std::string error;
    auto r = JournalReader::open(&error);
    if (!r) {
      ADD_FAILURE() << error;
      return std::nullopt;
    }
    for (const std::string& m : matches) {
      if (!r->match(m, &error)) ADD_FAILURE() << error;
    }
    return r;
  }

  // The first `count` entries matching `matches` (already written or arriving within
  // kTimeoutMs), oldest first.
  static std::vector<JournalEntry> wait_for(const std::vector<std::string>& matches,
                                            std::size_t count) {
    auto r = reader(matches);
    if (!r) return {};
    std::string error;
    std::vector<JournalEntry> got = r->tail(count, &error);
    EXPECT_EQ(error, "");
    if (got.size() >= count) return got;
    FollowEnd end = r->follow(
        [&](const JournalEntry& e) {
          got.push_back(e);
          return got.size() < count;
        },
        kTimeoutMs, &error);
    EXPECT_EQ(end, FollowEnd::kStopped) << error;
    return got;
  }
};

TEST_F(JournalLive, ChildStdoutIsStoredWithChildPidAndInfoPriority) {
  std::string id = unique_token("out");
  std::string error;
  auto target = journal_stream_target(id, LOG_INFO, &error);
  ASSERT_TRUE(target) << error;
  pid_t child = spawn_writer(*target, STDOUT_FILENO, "line one " + id + "\n", /*linger=*/true);
  ASSERT_GT(child, 0);

  auto entries = wait_for({"SYSLOG_IDENTIFIER=" + id}, 1);
  stop_writer(child);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].identifier, id);
  expect_pid_of_writer(entries[0], child);
  EXPECT_EQ(entries[0].priority, LOG_INFO);
  EXPECT_EQ(entries[0].message, "line one " + id);
  EXPECT_GT(entries[0].realtime_usec, 0u);
}

TEST_F(JournalLive, ChildStderrIsStoredAtWarningPriority) {
  std::string id = unique_token("err");
  std::string error;
  auto target = journal_stream_target(id, LOG_WARNING, &error);
  ASSERT_TRUE(target) << error;
  pid_t child = spawn_writer(*target, STDERR_FILENO, "oops\n", /*linger=*/true);
  ASSERT_GT(child, 0);

  auto entries = wait_for({"SYSLOG_IDENTIFIER=" + id}, 1);
  stop_writer(child);
  ASSERT_EQ(entries.size(), 1u);
  expect_pid_of_writer(entries[0], child);
  EXPECT_EQ(entries[0].priority, LOG_WARNING);
  EXPECT_EQ(entries[0].message, "oops");
}

TEST_F(JournalLive, NonUtf8OutputKeepsItsBytes) {
  std::string id = unique_token("bin");
  std::string error;
  auto target = journal_stream_target(id, LOG_INFO, &error);
  ASSERT_TRUE(target) << error;
  const std::string bytes = "bin \xff\xfe\x01 end";
  pid_t child = spawn_writer(*target, STDOUT_FILENO, bytes + "\nsecond\n");
  ASSERT_GT(child, 0);
  ASSERT_EQ(wait_exit_code(child), 0);

  auto entries = wait_for({"SYSLOG_IDENTIFIER=" + id}, 2);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].message, bytes);
  EXPECT_EQ(entries[1].message, "second");
}

// Reads `name` of the single entry matching `match` straight from sd-journal.
std::map<std::string, std::string> fields_of(const std::string& match,
                                             const std::vector<std::string>& names) {
  std::map<std::string, std::string> out;
  sd_journal* j = nullptr;
  if (sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY) < 0) {
    ADD_FAILURE() << "sd_journal_open";
    return out;
  }
  sd_journal_add_match(j, match.data(), match.size());
  sd_journal_seek_head(j);
  if (sd_journal_next(j) > 0) {
    for (const std::string& n : names) {
      const void* data = nullptr;
      std::size_t len = 0;
      if (sd_journal_get_data(j, n.c_str(), &data, &len) >= 0) {
        out[n] = std::string(static_cast<const char*>(data) + n.size() + 1, len - n.size() - 1);
      }
    }
  } else {
    ADD_FAILURE() << "no entry for " << match;
  }
  sd_journal_close(j);
  return out;
}

TEST_F(JournalLive, SendStoresMessagePriorityIdentifierAndFields) {
  std::string token = unique_token("send");
  std::string error;
  ASSERT_TRUE(journal_send(LOG_NOTICE, "web started\n",
                           {{std::string(field::kMessageId), std::string(msgid::kStarted)},
                            {std::string(field::kProcess), "web"},
                            {std::string(field::kPid), "4242"},
                            {"PROCMAN_TEST_TOKEN", token},
                            {"PROCMAN_TEST_MULTILINE", "a\nb"}},
                           &error))
      << error;

  auto entries = wait_for({"PROCMAN_TEST_TOKEN=" + token}, 1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].identifier, "procmand");
  EXPECT_EQ(entries[0].priority, LOG_NOTICE);
  EXPECT_EQ(entries[0].message, "web started");  // trailing newline cut
  EXPECT_EQ(entries[0].pid, ::getpid());

  auto fields = fields_of("PROCMAN_TEST_TOKEN=" + token, {"MESSAGE_ID", "PROCMAN_PROCESS",
                                                          "PROCMAN_PID", "PROCMAN_TEST_MULTILINE"});
  EXPECT_EQ(fields["MESSAGE_ID"], msgid::kStarted);
  EXPECT_EQ(fields["PROCMAN_PROCESS"], "web");
  EXPECT_EQ(fields["PROCMAN_PID"], "4242");
  EXPECT_EQ(fields["PROCMAN_TEST_MULTILINE"], "a\nb");
}

TEST_F(JournalLive, TailReturnsTheLastNOldestFirst) {
  std::string token = unique_token("tail");
  std::string error;
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(
        journal_send(LOG_INFO, "m" + std::to_string(i), {{"PROCMAN_TEST_TOKEN", token}}, &error))
        << error;
  }
  std::string match = "PROCMAN_TEST_TOKEN=" + token;
  ASSERT_EQ(wait_for({match}, 5).size(), 5u);  // all five are in the journal now

  auto r = reader({match});
  ASSERT_TRUE(r);
  auto last3 = r->tail(3, &error);
  ASSERT_EQ(last3.size(), 3u) << error;
  EXPECT_EQ(last3[0].message, "m3");
  EXPECT_EQ(last3[1].message, "m4");
  EXPECT_EQ(last3[2].message, "m5");

  auto r2 = reader({match});
  ASSERT_TRUE(r2);
  auto all = r2->tail(100, &error);
  ASSERT_EQ(all.size(), 5u) << error;
  EXPECT_EQ(all.front().message, "m1");
  EXPECT_EQ(all.back().message, "m5");
  EXPECT_TRUE(r2->tail(0, &error).empty());
}

TEST_F(JournalLive, FollowAfterTailDeliversOnlyNewLinesIncludingOnesWrittenWhileWaiting) {
  std::string token = unique_token("follow");
  std::string match = "PROCMAN_TEST_TOKEN=" + token;
  std::string error;
  ASSERT_TRUE(journal_send(LOG_INFO, "old", {{"PROCMAN_TEST_TOKEN", token}}, &error)) << error;
  ASSERT_EQ(wait_for({match}, 1).size(), 1u);

  auto r = reader({match});
  ASSERT_TRUE(r);
  auto tail = r->tail(10, &error);
  ASSERT_EQ(tail.size(), 1u) << error;
  EXPECT_EQ(tail[0].message, "old");

  // "new 1" is sent after tail(); "new 2" from inside the callback, so follow() has
  // to wait in sd_journal_wait() for journald to store it.
  ASSERT_TRUE(journal_send(LOG_INFO, "new 1", {{"PROCMAN_TEST_TOKEN", token}}, &error)) << error;
  std::vector<std::string> seen;
  FollowEnd end = r->follow(
      [&](const JournalEntry& e) {
        seen.push_back(e.message);
        if (seen.size() == 1) {
          EXPECT_TRUE(journal_send(LOG_INFO, "new 2", {{"PROCMAN_TEST_TOKEN", token}}));
        }
        return seen.size() < 2;
      },
      kTimeoutMs, &error);
  EXPECT_EQ(end, FollowEnd::kStopped) << error;
  EXPECT_EQ(seen, (std::vector<std::string>{"new 1", "new 2"}));
}

TEST_F(JournalLive, FollowAfterEmptyTailDeliversEveryEntryThatArrivesTogether) {
  std::string token = unique_token("burst");
  auto r = reader({"PROCMAN_TEST_TOKEN=" + token});
  ASSERT_TRUE(r);
  std::string error;
  EXPECT_TRUE(r->tail(5, &error).empty()) << error;
  // All five are sent before follow() looks: it must not jump to the newest.
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(
        journal_send(LOG_INFO, "b" + std::to_string(i), {{"PROCMAN_TEST_TOKEN", token}}, &error))
        << error;
  }
  std::vector<std::string> seen;
  FollowEnd end = r->follow(
      [&](const JournalEntry& e) {
        seen.push_back(e.message);
        return seen.size() < 5;
      },
      kTimeoutMs, &error);
  EXPECT_EQ(end, FollowEnd::kStopped) << error;
  EXPECT_EQ(seen, (std::vector<std::string>{"b1", "b2", "b3", "b4", "b5"}));
}

TEST_F(JournalLive, FollowWithoutTailStartsAtTheEnd) {
  std::string token = unique_token("end");
  std::string match = "PROCMAN_TEST_TOKEN=" + token;
  std::string error;
  ASSERT_TRUE(journal_send(LOG_INFO, "before", {{"PROCMAN_TEST_TOKEN", token}}, &error)) << error;
  ASSERT_EQ(wait_for({match}, 1).size(), 1u);

  auto r = reader({match});
  ASSERT_TRUE(r);
  std::vector<std::string> seen;
  auto collect = [&](const JournalEntry& e) {
    seen.push_back(e.message);
    return false;
  };
  EXPECT_EQ(r->follow(collect, 0, &error), FollowEnd::kTimedOut) << error;
  EXPECT_TRUE(seen.empty());
  ASSERT_TRUE(journal_send(LOG_INFO, "after", {{"PROCMAN_TEST_TOKEN", token}}, &error)) << error;
  EXPECT_EQ(r->follow(collect, kTimeoutMs, &error), FollowEnd::kStopped) << error;
  EXPECT_EQ(seen, (std::vector<std::string>{"after"}));
}

TEST_F(JournalLive, FollowTimesOutWhenNothingMatches) {
  auto r = reader({"PROCMAN_TEST_TOKEN=" + unique_token("never")});
  ASSERT_TRUE(r);
  std::string error;
  EXPECT_EQ(r->follow([](const JournalEntry&) { return true; }, 300, &error), FollowEnd::kTimedOut);
  EXPECT_EQ(error, "");
}

TEST_F(JournalLive, MatchOrCombinesAlternatives) {
  std::string a = unique_token("or-a");
  std::string b = unique_token("or-b");
  std::string error;
  ASSERT_TRUE(journal_send(LOG_INFO, "A", {{"PROCMAN_TEST_TOKEN", a}}, &error)) << error;
  ASSERT_TRUE(journal_send(LOG_INFO, "B", {{"PROCMAN_TEST_OTHER", b}}, &error)) << error;
  ASSERT_EQ(wait_for({"PROCMAN_TEST_OTHER=" + b}, 1).size(), 1u);

  auto r = reader({"PROCMAN_TEST_TOKEN=" + a});
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->match_or(&error)) << error;
  ASSERT_TRUE(r->match("PROCMAN_TEST_OTHER=" + b, &error)) << error;
  auto entries = r->tail(10, &error);
  ASSERT_EQ(entries.size(), 2u) << error;
  EXPECT_EQ(entries[0].message, "A");
  EXPECT_EQ(entries[1].message, "B");
}

TEST_F(JournalLive, MatchRejectsTextWithoutEquals) {
  auto r = reader({});
  ASSERT_TRUE(r);
  std::string error;
  EXPECT_FALSE(r->match("SYSLOG_IDENTIFIER", &error));
  EXPECT_EQ(error, "journal match \"SYSLOG_IDENTIFIER\": not FIELD=value with a valid field name");
}

TEST_F(JournalLive, ReaderIsMovable) {
  auto r = reader({});
  ASSERT_TRUE(r);
  JournalReader moved = std::move(*r);
  std::string error;
  moved.tail(1, &error);
  EXPECT_EQ(error, "");
  JournalReader assigned = std::move(moved);
  assigned = std::move(assigned);  // self-move keeps the journal open
  assigned.tail(1, &error);
  EXPECT_EQ(error, "");
}

TEST_F(JournalLive, OpenExplainsPermissionDeniedForAnUnprivilegedUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to nobody";
  sd_id128_t machine;
  ASSERT_GE(sd_id128_get_machine(&machine), 0);
  char machine_text[SD_ID128_STRING_MAX];
  std::string own_file = std::string("/var/log/journal/") +
                         sd_id128_to_string(machine, machine_text) + "/user-65534.journal";
  if (::access(own_file.c_str(), F_OK) == 0) {
    GTEST_SKIP() << own_file << " exists: nobody can read its own journal file";
  }
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  unique_fd rd(fds[0]), wr(fds[1]);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rd.reset();
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(20);
    }
    std::string error;
    auto r = JournalReader::open(&error);
    std::string out = r ? std::string("opened") : error;
    (void)!::write(wr.get(), out.data(), out.size());
    ::_exit(0);
  }
  wr.reset();
  std::string result = read_until_eof(rd.get());
  ASSERT_EQ(wait_exit_code(child), 0);
  EXPECT_EQ(result,
            "cannot read the journal: Permission denied (add the user to the systemd-journal "
            "group)");
}

}  // namespace
}  // namespace procman::os
