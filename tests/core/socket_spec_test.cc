// Tests for core/socket_spec: parsing socket activation specs and LISTEN_FDNAMES.
#include "core/socket_spec.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace procman::core {
namespace {

using ::testing::HasSubstr;
using Kind = SocketSpec::Kind;

SocketExpand test_expand() {
  SocketExpand ex;
  ex.runtime_dir = "/run/user/1000";
  ex.home = "/home/ada";
  ex.state_dir = "/home/ada/.local/state";
  return ex;
}

SocketSpec parse_ok(std::string_view text, const SocketExpand& ex = test_expand()) {
  auto result = parse_socket_spec(text, ex);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << text << ": " << *error;
    return {};
  }
  return std::get<SocketSpec>(result);
}

std::string parse_error(std::string_view text, const SocketExpand& ex = test_expand()) {
  auto result = parse_socket_spec(text, ex);
  if (auto* error = std::get_if<std::string>(&result)) return *error;
  ADD_FAILURE() << text << " parsed but should not have";
  return {};
}

TEST(SocketSpecParse, TcpWithIpv4Host) {
  SocketSpec s = parse_ok("tcp:127.0.0.1:8080");
  EXPECT_EQ(s.kind, Kind::Tcp);
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.port, 8080);
  EXPECT_EQ(s.path, "");
  EXPECT_EQ(s.name, "tcp-8080");
  EXPECT_EQ(s.text, "tcp:127.0.0.1:8080");
}

TEST(SocketSpecParse, TcpWithBracketedIpv6HostIsNormalized) {
  SocketSpec s = parse_ok("tcp:[::1]:8080");
  EXPECT_EQ(s.kind, Kind::Tcp);
  EXPECT_EQ(s.host, "::1");
  EXPECT_EQ(s.port, 8080);
  EXPECT_EQ(parse_ok("tcp:[0:0:0:0:0:0:0:1]:80").host, "::1");
  EXPECT_EQ(parse_ok("tcp:[::]:80").host, "::");
}

TEST(SocketSpecParse, PortAloneMeansAllAddresses) {
  SocketSpec s = parse_ok("tcp:8080");
  EXPECT_EQ(s.kind, Kind::Tcp);
  EXPECT_EQ(s.host, "");
  EXPECT_EQ(s.port, 8080);
}

TEST(SocketSpecParse, Udp) {
  SocketSpec s = parse_ok("udp:127.0.0.1:5353");
  EXPECT_EQ(s.kind, Kind::Udp);
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.port, 5353);
  EXPECT_EQ(s.name, "udp-5353");
  EXPECT_EQ(parse_ok("udp:53").host, "");
}

TEST(SocketSpecParse, PortBoundsAndLeadingZeros) {
  EXPECT_EQ(parse_ok("tcp:1").port, 1);
  EXPECT_EQ(parse_ok("tcp:65535").port, 65535);
  EXPECT_EQ(parse_ok("tcp:08080").port, 8080);
}

TEST(SocketSpecParse, PortOutOfRangeIsAPreciseError) {
  EXPECT_EQ(parse_error("tcp:127.0.0.1:70000"),
            "socket \"tcp:127.0.0.1:70000\": port 70000 is out of range 1-65535");
  EXPECT_THAT(parse_error("tcp:0"), HasSubstr("port 0 is out of range 1-65535"));
  EXPECT_THAT(parse_error("tcp:65536"), HasSubstr("port 65536 is out of range 1-65535"));
  EXPECT_THAT(parse_error("tcp:99999999999999999999999"), HasSubstr("is out of range 1-65535"));
}

TEST(SocketSpecParse, NonNumericPortIsRefused) {
  EXPECT_THAT(parse_error("tcp:127.0.0.1:http"),
              HasSubstr("port \"http\" is not a number (service names are not resolved"));
  EXPECT_THAT(parse_error("tcp:127.0.0.1:"), HasSubstr("the port is missing"));
  EXPECT_THAT(parse_error("tcp:[::1]:-1"), HasSubstr("port \"-1\" is not a number"));
}

TEST(SocketSpecParse, HostNamesAreRefusedWithAHint) {
  EXPECT_EQ(parse_error("tcp:localhost:8080"),
            "socket \"tcp:localhost:8080\": host \"localhost\" is not a numeric address; use "
            "127.0.0.1 or [::1] (host names are not resolved)");
  EXPECT_THAT(parse_error("tcp:example.com:80"),
              HasSubstr("host \"example.com\" is not a numeric IPv4 address"));
  EXPECT_THAT(parse_error("tcp:127.1:80"), HasSubstr("is not a numeric IPv4 address"));
  EXPECT_THAT(parse_error("tcp:256.0.0.1:80"), HasSubstr("is not a numeric IPv4 address"));
  // Leading zeros could mean octal to some tools: refused rather than guessed.
  EXPECT_THAT(parse_error("tcp:010.0.0.1:80"), HasSubstr("is not a numeric IPv4 address"));
}

TEST(SocketSpecParse, Ipv6MistakesAreExplained) {
  EXPECT_THAT(parse_error("tcp:::1:8080"), HasSubstr("IPv6 addresses go in brackets"));
  EXPECT_THAT(parse_error("tcp:[::1"), HasSubstr("has no closing ']'"));
  EXPECT_THAT(parse_error("tcp:[::1]8080"), HasSubstr("expected :PORT after \"[::1]\""));
  EXPECT_THAT(parse_error("tcp:[::1]"), HasSubstr("expected :PORT after"));
  EXPECT_THAT(parse_error("tcp:[]:80"), HasSubstr("the IPv6 address in [] is empty"));
  EXPECT_THAT(parse_error("tcp:[fe80::1%eth0]:80"), HasSubstr("scope (zone) id"));
  EXPECT_THAT(parse_error("tcp:[127.0.0.1]:80"),
              HasSubstr("\"127.0.0.1\" is not a numeric IPv6 address"));
}

TEST(SocketSpecParse, MissingPartsAreExplained) {
  EXPECT_THAT(parse_error("tcp:"), HasSubstr("the address is missing"));
  EXPECT_THAT(parse_error("tcp:127.0.0.1"), HasSubstr("\"127.0.0.1\" has no port"));
  EXPECT_THAT(parse_error("tcp::8080"),
              HasSubstr("the host is empty; write tcp:8080 to listen on all addresses"));
  EXPECT_THAT(parse_error(""), HasSubstr("empty"));
}

TEST(SocketSpecParse, UnknownTypeIsAPreciseError) {
  EXPECT_EQ(parse_error("sctp:127.0.0.1:80"),
            "unknown socket type \"sctp\"; expected tcp, udp or unix");
  EXPECT_THAT(parse_error("TCP:80"), HasSubstr("unknown socket type \"TCP\""));
  EXPECT_THAT(parse_error("fifo:/run/x"), HasSubstr("unknown socket type \"fifo\""));
}

TEST(SocketSpecParse, MissingTypeSuggestsOne) {
  EXPECT_THAT(parse_error("8080"), HasSubstr("has no type; expected tcp:, udp: or unix: before "
                                             "the address, e.g. tcp:8080"));
}

TEST(SocketSpecParse, WhiteSpaceAndNulAreRefused) {
  EXPECT_THAT(parse_error(" tcp:80"), HasSubstr("contains white space"));
  EXPECT_THAT(parse_error("tcp:80\n"), HasSubstr("contains white space"));
  using namespace std::string_literals;
  EXPECT_THAT(parse_error("unix:/run/a\0b"s), HasSubstr("contains a NUL byte"));
}

TEST(SocketSpecParse, UnixPathWithSpecifiers) {
  SocketSpec s = parse_ok("unix:%t/app.sock");
  EXPECT_EQ(s.kind, Kind::Unix);
  EXPECT_EQ(s.path, "/run/user/1000/app.sock");
  EXPECT_EQ(s.name, "unix-app.sock");
  EXPECT_EQ(s.host, "");
  EXPECT_EQ(s.port, 0);
  EXPECT_EQ(parse_ok("unix:%h/s").path, "/home/ada/s");
  EXPECT_EQ(parse_ok("unix:%S/app/s").path, "/home/ada/.local/state/app/s");
  EXPECT_EQ(parse_ok("unix:/tmp/100%%.sock").path, "/tmp/100%.sock");
  EXPECT_EQ(parse_ok("unix:/run/app.sock").path, "/run/app.sock");
}

TEST(SocketSpecParse, UnknownOrUnsetSpecifiersAreErrors) {
  EXPECT_THAT(parse_error("unix:%q/a"), HasSubstr("unknown specifier \"%q\"; known are %t"));
  EXPECT_THAT(parse_error("unix:/a%"), HasSubstr("ends in a lone '%'"));
  SocketExpand none;
  EXPECT_THAT(parse_error("unix:%t/a.sock", none),
              HasSubstr("unix socket path %t is used but the runtime directory is not known"));
  EXPECT_THAT(parse_error("unix:%h/a.sock", none),
              HasSubstr("%h is used but the home directory is not known"));
  EXPECT_THAT(parse_error("unix:%S/a.sock", none),
              HasSubstr("%S is used but the state directory is not known"));
}

TEST(SocketSpecParse, RelativeUnixPathIsRefused) {
  EXPECT_EQ(parse_error("unix:app.sock"),
            "socket \"unix:app.sock\": unix socket path \"app.sock\" is relative; use an "
            "absolute path such as %t/app.sock");
  EXPECT_THAT(parse_error("unix:./app.sock"), HasSubstr("is relative"));
  EXPECT_THAT(parse_error("unix:"), HasSubstr("the path is missing"));
  EXPECT_THAT(parse_error("unix:/run/dir/"), HasSubstr("ends in '/'"));
}

TEST(SocketSpecParse, UnixPathLengthLimit) {
  const std::string ok = "/" + std::string(106, 'a');
  EXPECT_EQ(parse_ok("unix:" + ok).path, ok);
  const std::string long_path = "/" + std::string(107, 'a');
  EXPECT_THAT(parse_error("unix:" + long_path),
              HasSubstr("unix socket path longer than 107 bytes (108 bytes)"));
  // The limit applies after expansion.
  SocketExpand ex = test_expand();
  ex.runtime_dir = "/" + std::string(100, 'r');
  EXPECT_THAT(parse_error("unix:%t/app.sock", ex), HasSubstr("longer than 107 bytes"));
}

TEST(SocketSpecParse, AbstractUnixSocket) {
  SocketSpec s = parse_ok("unix:@abstract-name");
  EXPECT_EQ(s.kind, Kind::UnixAbstract);
  EXPECT_EQ(s.path, "abstract-name");
  EXPECT_EQ(s.name, "abstract-abstract-name");
  EXPECT_THAT(parse_error("unix:@"), HasSubstr("the abstract socket name after '@' is empty"));
  EXPECT_EQ(parse_ok("unix:@" + std::string(107, 'a')).path, std::string(107, 'a'));
  EXPECT_THAT(parse_error("unix:@" + std::string(108, 'a')),
              HasSubstr("abstract socket name longer than 107 bytes"));
}

TEST(SocketSpecName, DefaultNamesAreAlwaysValidFdNames) {
  EXPECT_EQ(parse_ok("unix:/run/we:ird.sock").name, "unix-we_ird.sock");
  EXPECT_EQ(parse_ok("unix:/run/\xc3\xa9.sock").name, "unix-__.sock");
  SocketSpec t;
  t.kind = Kind::UnixAbstract;
  t.path = std::string(300, 'x');
  EXPECT_EQ(default_socket_name(t).size(), 255u);
}

TEST(ListenFdNames, JoinsNamesWithColonsInOrder) {
  std::vector<SocketSpec> specs = {parse_ok("tcp:8080"), parse_ok("unix:%t/app.sock"),
                                   parse_ok("udp:53")};
  specs[0].name = "http";
  EXPECT_EQ(listen_fdnames(specs), "http:unix-app.sock:udp-53");
  EXPECT_EQ(listen_fdnames({}), "");
}

TEST(ListenFdNames, RepairsInvalidNamesRatherThanBreakTheVariable) {
  std::vector<SocketSpec> specs = {parse_ok("tcp:8080"), parse_ok("tcp:8081")};
  specs[0].name = "a:b";
  specs[1].name = "";
  EXPECT_EQ(listen_fdnames(specs), "a_b:tcp-8081");
}

TEST(SocketSpecString, IsCanonical) {
  EXPECT_EQ(socket_spec_string(parse_ok("tcp:[0::1]:80")), "tcp:[::1]:80");
  EXPECT_EQ(socket_spec_string(parse_ok("udp:10.0.0.1:53")), "udp:10.0.0.1:53");
  EXPECT_EQ(socket_spec_string(parse_ok("tcp:080")), "tcp:80");
  EXPECT_EQ(socket_spec_string(parse_ok("unix:%t/a")), "unix:/run/user/1000/a");
  EXPECT_EQ(socket_spec_string(parse_ok("unix:@x")), "unix:@x");
}

TEST(SocketSpecEndpoint, IgnoresNameAndText) {
  SocketSpec a = parse_ok("tcp:[::1]:80");
  SocketSpec b = parse_ok("tcp:[0:0::1]:80");
  b.name = "other";
  EXPECT_TRUE(same_endpoint(a, b));
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(same_endpoint(a, parse_ok("tcp:[::1]:81")));
  EXPECT_FALSE(same_endpoint(a, parse_ok("udp:[::1]:80")));
  EXPECT_FALSE(same_endpoint(parse_ok("unix:/a"), parse_ok("unix:@/a")));
}

}  // namespace
}  // namespace procman::core
