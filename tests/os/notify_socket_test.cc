// Tests for os/notify_socket: a real AF_UNIX datagram socket in a temp dir,
// real senders (forked children), real credentials and fd passing.
#include "os/notify_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/notify.h"

namespace procman::os {
namespace {

using ::testing::HasSubstr;

constexpr int kTimeoutMs = 20'000;

class NotifySocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "procman-notify-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/notify";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  NotifySocket bind_ok(const std::string& path) {
    std::string error;
    auto bound = NotifySocket::bind(path, &error);
    if (!bound) {
      ADD_FAILURE() << error;
      std::abort();
    }
    return std::move(*bound);
  }

  /// Waits (with a generous bound, no sleeping) until a datagram is queued, then takes it.
  static std::optional<NotifyDatagram> receive_one(NotifySocket& ns) {
    pollfd p{ns.fd(), POLLIN, 0};
    int r = poll(&p, 1, kTimeoutMs);
    EXPECT_EQ(r, 1) << "no datagram within " << kTimeoutMs << " ms";
    if (r != 1) return std::nullopt;
    std::string error;
    auto d = ns.receive(&error);
    EXPECT_TRUE(d) << error;
    return d;
  }

  /// A unique abstract name, so parallel test runs do not collide.
  static std::string abstract_name() {
    static std::atomic<int> counter{0};
    return "@procman-notify-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  }

  std::string dir_;
  std::string path_;
};

TEST_F(NotifySocketTest, BindMakesAWorldWritableSocketFileAndRemovesItAtTheEnd) {
  {
    NotifySocket ns = bind_ok(path_);
    EXPECT_EQ(ns.path(), path_);
    EXPECT_GE(ns.fd(), 0);
    struct stat st {};
    ASSERT_EQ(lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0666u);
    const int flags = fcntl(ns.fd(), F_GETFL);
    EXPECT_NE(flags & O_NONBLOCK, 0);
    EXPECT_NE(fcntl(ns.fd(), F_GETFD) & FD_CLOEXEC, 0);
  }
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(NotifySocketTest, ReceivesAChildsDatagramWithItsPidAndCredentials) {
  NotifySocket ns = bind_ok(path_);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    _exit(notify_send(path_, "READY=1\nSTATUS=x") ? 0 : 1);
  }
  auto d = receive_one(ns);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->pid, child);
  EXPECT_EQ(d->uid, getuid());
  EXPECT_EQ(d->gid, getgid());
  EXPECT_EQ(d->text, "READY=1\nSTATUS=x");
  EXPECT_FALSE(d->truncated);
  EXPECT_TRUE(d->fds.empty());
  core::NotifyMessage m = core::parse_notify(d->text);
  EXPECT_TRUE(m.ready);
  EXPECT_EQ(m.status, "x");
}

TEST_F(NotifySocketTest, ReceiveWithNothingQueuedReturnsNulloptWithoutError) {
  NotifySocket ns = bind_ok(path_);
  std::string error;
  EXPECT_FALSE(ns.receive(&error));
  EXPECT_EQ(error, "");
}

TEST_F(NotifySocketTest, DatagramsQueueInOrder) {
  NotifySocket ns = bind_ok(path_);
  ASSERT_TRUE(notify_send(path_, "STATUS=1"));
  ASSERT_TRUE(notify_send(path_, "STATUS=2"));
  auto first = receive_one(ns);
  auto second = receive_one(ns);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->text, "STATUS=1");
  EXPECT_EQ(second->text, "STATUS=2");
  EXPECT_EQ(first->pid, getpid());
  EXPECT_FALSE(ns.receive());
}

TEST_F(NotifySocketTest, FdsSentAlongArriveOpenAndCloseOnExec) {
  NotifySocket ns = bind_ok(path_);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  unique_fd read_end(p[0]), write_end(p[1]);
  unique_fd other(open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::string error;
  ASSERT_TRUE(notify_send(path_, "FDSTORE=1\nFDNAME=pipe", {write_end.get(), other.get()}, &error))
      << error;
  write_end.reset();  // only the received copy keeps the pipe open now

  auto d = receive_one(ns);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, "FDSTORE=1\nFDNAME=pipe");
  ASSERT_EQ(d->fds.size(), 2u);
  for (const unique_fd& fd : d->fds) EXPECT_NE(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_EQ(write(d->fds[0].get(), "hi", 2), 2);
  char buf[2];
  ASSERT_EQ(read(read_end.get(), buf, 2), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
  // Dropping the datagram closes what it carried: the pipe sees EOF.
  d.reset();
  EXPECT_EQ(read(read_end.get(), buf, 1), 0);
}

TEST_F(NotifySocketTest, OversizedDatagramIsMarkedTruncated) {
  NotifySocket ns = bind_ok(path_);
  ASSERT_TRUE(notify_send(path_, "STATUS=" + std::string(5000, 'x')));
  auto d = receive_one(ns);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->truncated);
  EXPECT_EQ(d->text.size(), core::kMaxNotifyDatagram);
  EXPECT_EQ(d->pid, getpid());
}

TEST_F(NotifySocketTest, DatagramOfExactlyTheLimitIsWhole) {
  NotifySocket ns = bind_ok(path_);
  const std::string text = "STATUS=" + std::string(core::kMaxNotifyDatagram - 7, 'y');
  ASSERT_EQ(text.size(), core::kMaxNotifyDatagram);
  ASSERT_TRUE(notify_send(path_, text));
  auto d = receive_one(ns);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->truncated);
  EXPECT_EQ(d->text, text);
}

TEST_F(NotifySocketTest, ZeroLengthDatagramIsReceivedAsEmptyText) {
  NotifySocket ns = bind_ok(path_);
  unique_fd raw(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(raw);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(sendto(raw.get(), "", 0, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << strerror(errno);
  auto d = receive_one(ns);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, "");
  EXPECT_FALSE(d->truncated);
}

TEST_F(NotifySocketTest, StaleSocketFileIsReplaced) {
  {
    // A socket file whose owner is gone: bound, then closed.
    unique_fd old(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(old.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ASSERT_TRUE(std::filesystem::is_socket(path_));
  NotifySocket ns = bind_ok(path_);
  ASSERT_TRUE(notify_send(path_, "READY=1"));
  auto d = receive_one(ns);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, "READY=1");
}

TEST_F(NotifySocketTest, StaleStreamSocketFileIsReplacedToo) {
  {
    unique_fd old(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(old.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  std::string error;
  EXPECT_TRUE(NotifySocket::bind(path_, &error)) << error;
}

TEST_F(NotifySocketTest, SocketInUseIsRefused) {
  NotifySocket first = bind_ok(path_);
  std::string error;
  EXPECT_FALSE(NotifySocket::bind(path_, &error));
  EXPECT_EQ(error, path_ + ": another process is listening on this socket");
  // The first one still works.
  ASSERT_TRUE(notify_send(path_, "READY=1"));
  EXPECT_TRUE(receive_one(first));
}

TEST_F(NotifySocketTest, RegularFileAtThePathIsRefusedAndKept) {
  { std::ofstream(path_) << "precious"; }
  std::string error;
  EXPECT_FALSE(NotifySocket::bind(path_, &error));
  EXPECT_EQ(error, path_ + ": exists and is not a socket; refusing to replace it");
  std::ifstream in(path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(NotifySocketTest, MissingDirectoryIsAPreciseError) {
  std::string error;
  EXPECT_FALSE(NotifySocket::bind(dir_ + "/nope/notify", &error));
  EXPECT_THAT(error, HasSubstr("directory " + dir_ + "/nope does not exist"));
}

TEST_F(NotifySocketTest, RelativeOrOverlongPathsAreRefused) {
  std::string error;
  EXPECT_FALSE(NotifySocket::bind("notify", &error));
  EXPECT_THAT(error, HasSubstr("must be an absolute path or start with '@'"));
  EXPECT_FALSE(NotifySocket::bind("/" + std::string(200, 'a'), &error));
  EXPECT_THAT(error, HasSubstr("longer than 107 bytes"));
  EXPECT_FALSE(NotifySocket::bind("@", &error));
  EXPECT_THAT(error, HasSubstr("empty"));
}

TEST_F(NotifySocketTest, AbstractAddressesWorkBothWays) {
  const std::string name = abstract_name();
  NotifySocket ns = bind_ok(name);
  EXPECT_EQ(ns.path(), name);
  ASSERT_TRUE(notify_send(name, "WATCHDOG=1"));
  auto d = receive_one(ns);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, "WATCHDOG=1");
  EXPECT_EQ(d->pid, getpid());
  std::string error;
  EXPECT_FALSE(NotifySocket::bind(name, &error));
  EXPECT_THAT(error, HasSubstr("address already in use"));
}

TEST_F(NotifySocketTest, DestructorLeavesAReplacedFileAlone) {
  {
    NotifySocket ns = bind_ok(path_);
    ASSERT_EQ(unlink(path_.c_str()), 0);
    std::ofstream(path_) << "someone else's";
  }
  EXPECT_TRUE(std::filesystem::is_regular_file(path_));
}

TEST_F(NotifySocketTest, MovedFromSocketDoesNotUnlink) {
  std::optional<NotifySocket> holder;
  {
    NotifySocket a = bind_ok(path_);
    holder.emplace(std::move(a));
  }
  EXPECT_TRUE(std::filesystem::is_socket(path_));
  ASSERT_TRUE(notify_send(path_, "READY=1"));
  EXPECT_TRUE(receive_one(*holder));
  holder.reset();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST(NotifySend, ReportsWhyItFailed) {
  std::string error;
  EXPECT_FALSE(notify_send("/nonexistent-procman-dir/notify", "READY=1", {}, &error));
  EXPECT_EQ(error, "notify socket /nonexistent-procman-dir/notify: No such file or directory");
  EXPECT_FALSE(notify_send("relative", "READY=1", {}, &error));
  EXPECT_THAT(error, HasSubstr("must be an absolute path or start with '@'"));
  EXPECT_FALSE(notify_send("/tmp/x", "", {}, &error));
  EXPECT_THAT(error, HasSubstr("refusing to send an empty notification"));
  EXPECT_FALSE(
      notify_send("@procman-nobody-binds-this-" + std::to_string(getpid()), "READY=1", {}, &error));
  EXPECT_THAT(error, HasSubstr("Connection refused"));
  // The error pointer is optional.
  EXPECT_FALSE(notify_send("relative", "READY=1"));
}

}  // namespace
}  // namespace procman::os
