// Tests for os/listen: real listening sockets on loopback and in a temp dir.
#include "os/listen.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace procman::os {
namespace {

using core::SocketSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Kind = SocketSpec::Kind;

constexpr int kTimeoutMs = 20'000;

SocketSpec inet_spec(Kind kind, std::string host, uint16_t port) {
  SocketSpec s;
  s.kind = kind;
  s.host = std::move(host);
  s.port = port;
  return s;
}

SocketSpec unix_spec(std::string path, Kind kind = Kind::Unix) {
  SocketSpec s;
  s.kind = kind;
  s.path = std::move(path);
  return s;
}

unique_fd open_ok(const SocketSpec& spec) {
  auto result = open_listener(spec);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return unique_fd();
  }
  return std::move(std::get<unique_fd>(result));
}

std::string open_error(const SocketSpec& spec) {
  auto result = open_listener(spec);
  if (auto* error = std::get_if<std::string>(&result)) return *error;
  ADD_FAILURE() << core::socket_spec_string(spec) << " opened but should not have";
  return {};
}

/// Connects a blocking client stream socket to `addr`.
unique_fd connect_to(int family, const sockaddr* addr, socklen_t len) {
  unique_fd c(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(c) << strerror(errno);
  EXPECT_EQ(connect(c.get(), addr, len), 0) << strerror(errno);
  return c;
}

unique_fd connect_v4(const char* host, uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  inet_pton(AF_INET, host, &sin.sin_addr);
  return connect_to(AF_INET, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
}

unique_fd connect_v6(const char* host, uint16_t port) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  inet_pton(AF_INET6, host, &sin6.sin6_addr);
  return connect_to(AF_INET6, reinterpret_cast<sockaddr*>(&sin6), sizeof sin6);
}

/// Waits for a pending connection with a generous bound, then accepts it.
unique_fd accept_one(int listener) {
  pollfd p{listener, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, kTimeoutMs), 1) << "no connection within " << kTimeoutMs << " ms";
  unique_fd c(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(c) << strerror(errno);
  return c;
}

bool ipv6_loopback_works() {
  unique_fd probe(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_addr = in6addr_loopback;
  return bind(probe.get(), reinterpret_cast<sockaddr*>(&sin6), sizeof sin6) == 0;
}

void expect_blocking_and_cloexec(int fd) {
  EXPECT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0) << "children expect a blocking socket";
  EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
}

TEST(Listener, TcpOnLoopbackEphemeralPortAcceptsAConnection) {
  SocketSpec spec = inet_spec(Kind::Tcp, "127.0.0.1", 0);
  unique_fd l = open_ok(spec);
  ASSERT_TRUE(l);
  expect_blocking_and_cloexec(l.get());
  auto port = bound_port(l.get());
  ASSERT_TRUE(port);
  ASSERT_NE(*port, 0);
  unique_fd client = connect_v4("127.0.0.1", *port);
  unique_fd server = accept_one(l.get());
  ASSERT_TRUE(server);
  ASSERT_EQ(write(client.get(), "ping", 4), 4);
  char buf[4];
  ASSERT_EQ(read(server.get(), buf, 4), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
}

TEST(Listener, TcpPortAlreadyInUseIsAPreciseError) {
  unique_fd first = open_ok(inet_spec(Kind::Tcp, "127.0.0.1", 0));
  ASSERT_TRUE(first);
  const uint16_t port = *bound_port(first.get());
  SocketSpec again = inet_spec(Kind::Tcp, "127.0.0.1", port);
  again.text = "tcp:127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(open_error(again),
            again.text + ": address already in use (another process listens on tcp port " +
                std::to_string(port) + ")");
}

TEST(Listener, UdpPortAlreadyInUseIsRefusedToo) {
  unique_fd first = open_ok(inet_spec(Kind::Udp, "127.0.0.1", 0));
  ASSERT_TRUE(first);
  const uint16_t port = *bound_port(first.get());
  EXPECT_THAT(open_error(inet_spec(Kind::Udp, "127.0.0.1", port)),
              HasSubstr("address already in use (another process listens on udp port"));
}

TEST(Listener, ErrorsWithoutTextNameTheCanonicalSpec) {
  unique_fd first = open_ok(inet_spec(Kind::Tcp, "127.0.0.1", 0));
  ASSERT_TRUE(first);
  const uint16_t port = *bound_port(first.get());
  EXPECT_THAT(open_error(inet_spec(Kind::Tcp, "127.0.0.1", port)),
              HasSubstr("tcp:127.0.0.1:" + std::to_string(port) + ": address already in use"));
}

TEST(Listener, AddressNotOfThisHostIsExplained) {
  // 192.0.2.0/24 is TEST-NET-1: never assigned to a real host.
  EXPECT_THAT(open_error(inet_spec(Kind::Tcp, "192.0.2.1", 0)),
              HasSubstr("192.0.2.1 is not an address of this host"));
}

TEST(Listener, AllAddressesIsDualStack) {
  SocketSpec spec = inet_spec(Kind::Tcp, "", 0);
  unique_fd l = open_ok(spec);
  ASSERT_TRUE(l);
  const uint16_t port = *bound_port(l.get());
  EXPECT_TRUE(listener_matches(l.get(), spec));
  {
    unique_fd client = connect_v4("127.0.0.1", port);
    EXPECT_TRUE(accept_one(l.get()));
  }
  if (!ipv6_loopback_works()) GTEST_SKIP() << "no IPv6 loopback here";
  unique_fd client = connect_v6("::1", port);
  EXPECT_TRUE(accept_one(l.get()));
}

TEST(Listener, Ipv6HostIsIpv6Only) {
  if (!ipv6_loopback_works()) GTEST_SKIP() << "no IPv6 loopback here";
  SocketSpec spec = inet_spec(Kind::Tcp, "::1", 0);
  unique_fd l = open_ok(spec);
  ASSERT_TRUE(l);
  int v6only = 0;
  socklen_t len = sizeof v6only;
  ASSERT_EQ(getsockopt(l.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
  EXPECT_EQ(v6only, 1);
  EXPECT_TRUE(listener_matches(l.get(), spec));
  EXPECT_FALSE(listener_matches(l.get(), inet_spec(Kind::Tcp, "", 0)));
  EXPECT_FALSE(listener_matches(l.get(), inet_spec(Kind::Tcp, "127.0.0.1", 0)));
  unique_fd client = connect_v6("::1", *bound_port(l.get()));
  EXPECT_TRUE(accept_one(l.get()));
}

TEST(Listener, UdpReceivesADatagram) {
  SocketSpec spec = inet_spec(Kind::Udp, "127.0.0.1", 0);
  unique_fd l = open_ok(spec);
  ASSERT_TRUE(l);
  expect_blocking_and_cloexec(l.get());
  EXPECT_TRUE(listener_matches(l.get(), spec));
  EXPECT_FALSE(listener_matches(l.get(), inet_spec(Kind::Tcp, "127.0.0.1", 0)));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(*bound_port(l.get()));
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  unique_fd c(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(sendto(c.get(), "dns", 3, 0, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 3);
  pollfd p{l.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, kTimeoutMs), 1);
  char buf[8];
  EXPECT_EQ(recv(l.get(), buf, sizeof buf, 0), 3);
}

TEST(ListenerMatches, ChecksTypeFamilyAddressAndPort) {
  SocketSpec spec = inet_spec(Kind::Tcp, "127.0.0.1", 0);
  unique_fd l = open_ok(spec);
  ASSERT_TRUE(l);
  const uint16_t port = *bound_port(l.get());
  EXPECT_TRUE(listener_matches(l.get(), spec));
  EXPECT_TRUE(listener_matches(l.get(), inet_spec(Kind::Tcp, "127.0.0.1", port)));
  EXPECT_FALSE(listener_matches(l.get(), inet_spec(Kind::Tcp, "127.0.0.1", port + 1)));
  EXPECT_FALSE(listener_matches(l.get(), inet_spec(Kind::Tcp, "127.0.0.2", port)));
  EXPECT_FALSE(listener_matches(l.get(), inet_spec(Kind::Tcp, "", port)));
  EXPECT_FALSE(listener_matches(l.get(), inet_spec(Kind::Udp, "127.0.0.1", port)));
  EXPECT_FALSE(listener_matches(l.get(), inet_spec(Kind::Tcp, "::1", port)));
  EXPECT_FALSE(listener_matches(l.get(), unix_spec("/run/x.sock")));
}

TEST(ListenerMatches, RefusesWhatIsNotAListeningSocket) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  unique_fd r(p[0]), w(p[1]);
  EXPECT_FALSE(listener_matches(r.get(), inet_spec(Kind::Tcp, "127.0.0.1", 0)));
  EXPECT_FALSE(listener_matches(-1, inet_spec(Kind::Tcp, "127.0.0.1", 0)));
  // A bound, not listening, stream socket.
  unique_fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  ASSERT_EQ(bind(s.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  EXPECT_FALSE(listener_matches(s.get(), inet_spec(Kind::Tcp, "127.0.0.1", 0)));
  ASSERT_EQ(listen(s.get(), 1), 0);
  EXPECT_TRUE(listener_matches(s.get(), inet_spec(Kind::Tcp, "127.0.0.1", 0)));
}

class UnixListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "procman-listen-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/app.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  unique_fd connect_unix(const std::string& path, bool abstract = false) {
    sockaddr_un addr{};
    socklen_t len = 0;
    std::string error;
    EXPECT_TRUE(make_unix_address(path, abstract, &addr, &len, &error)) << error;
    return connect_to(AF_UNIX, reinterpret_cast<sockaddr*>(&addr), len);
  }

  std::string dir_;
  std::string path_;
};

TEST_F(UnixListenerTest, PathSocketIsWorldConnectableAndAccepts) {
  SocketSpec spec = unix_spec(path_);
  unique_fd l = open_ok(spec);
  ASSERT_TRUE(l);
  expect_blocking_and_cloexec(l.get());
  struct stat st {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  unique_fd client = connect_unix(path_);
  EXPECT_TRUE(accept_one(l.get()));
  EXPECT_TRUE(listener_matches(l.get(), spec));
  EXPECT_FALSE(listener_matches(l.get(), unix_spec(dir_ + "/other.sock")));
  EXPECT_FALSE(listener_matches(l.get(), unix_spec(path_, Kind::UnixAbstract)));
  EXPECT_FALSE(listener_matches(l.get(), inet_spec(Kind::Tcp, "", 0)));
}

TEST_F(UnixListenerTest, StaleSocketFileIsReplaced) {
  {
    auto old = open_listener(unix_spec(path_));
    ASSERT_TRUE(std::holds_alternative<unique_fd>(old));
  }  // closed: the file stays behind, nobody listens
  ASSERT_TRUE(std::filesystem::is_socket(path_));
  unique_fd l = open_ok(unix_spec(path_));
  ASSERT_TRUE(l);
  unique_fd client = connect_unix(path_);
  EXPECT_TRUE(accept_one(l.get()));
}

TEST_F(UnixListenerTest, SocketInUseIsRefused) {
  unique_fd first = open_ok(unix_spec(path_));
  ASSERT_TRUE(first);
  SocketSpec again = unix_spec(path_);
  again.text = "unix:" + path_;
  EXPECT_EQ(open_error(again), again.text + ": another process is listening on this socket");
  // The first one is untouched.
  unique_fd client = connect_unix(path_);
  EXPECT_TRUE(accept_one(first.get()));
}

TEST_F(UnixListenerTest, RegularFileIsRefusedAndKept) {
  { std::ofstream(path_) << "data"; }
  EXPECT_THAT(open_error(unix_spec(path_)), HasSubstr("exists and is not a socket"));
  EXPECT_TRUE(std::filesystem::is_regular_file(path_));
}

TEST_F(UnixListenerTest, MissingDirectoryIsNotCreated) {
  const std::string path = dir_ + "/missing/app.sock";
  EXPECT_THAT(open_error(unix_spec(path)),
              HasSubstr("directory " + dir_ + "/missing does not exist"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/missing"));
}

TEST_F(UnixListenerTest, AbstractSocketHasNoFile) {
  static std::atomic<int> counter{0};
  const std::string name =
      "procman-listen-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  SocketSpec spec = unix_spec(name, Kind::UnixAbstract);
  unique_fd l = open_ok(spec);
  ASSERT_TRUE(l);
  EXPECT_TRUE(listener_matches(l.get(), spec));
  EXPECT_FALSE(listener_matches(l.get(), unix_spec(name + "x", Kind::UnixAbstract)));
  EXPECT_FALSE(listener_matches(l.get(), unix_spec("/" + name)));
  unique_fd client = connect_unix(name, true);
  EXPECT_TRUE(accept_one(l.get()));
  EXPECT_THAT(open_error(spec), HasSubstr("address already in use"));
}

TEST(UnixAddress, AbstractAndPathLengths) {
  sockaddr_un addr{};
  socklen_t len = 0;
  std::string error;
  ASSERT_TRUE(make_unix_address("/a", false, &addr, &len, &error));
  EXPECT_EQ(len, offsetof(sockaddr_un, sun_path) + 3);
  EXPECT_STREQ(addr.sun_path, "/a");
  ASSERT_TRUE(make_unix_address("ab", true, &addr, &len, &error));
  EXPECT_EQ(len, offsetof(sockaddr_un, sun_path) + 3);
  EXPECT_EQ(addr.sun_path[0], '\0');
  EXPECT_EQ(std::string(addr.sun_path + 1, 2), "ab");
  EXPECT_FALSE(make_unix_address(std::string(108, 'a'), false, &addr, &len, &error));
  EXPECT_EQ(error, "unix socket path longer than 107 bytes (108 bytes)");
  EXPECT_TRUE(make_unix_address(std::string(107, 'a'), true, &addr, &len, &error));
}

TEST(ListenEnv, SocketsStartAtFdThreeAsSdListenFdsExpects) {
  EXPECT_EQ(kFirstListenFd, 3);  // SD_LISTEN_FDS_START
}

}  // namespace
}  // namespace procman::os
