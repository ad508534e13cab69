// bench-dbus-latency: times D-Bus method calls made in-process with sd-bus, the way a native
// client would (bench/benchlib.py dbus_latencies), so the numbers exclude process start-up.
//
// Usage: bench-dbus-latency (--user | --system | --address ADDR) --count K --dest NAME
//            --path PATH --iface IFACE --method METHOD [--sig SIG --arg VALUE...]
//   SIG holds only 's' and 'o' letters, one --arg per letter, in order ("" = no arguments).
//   --user honours DBUS_SESSION_BUS_ADDRESS; --address connects to ADDR as a bus client.
// Makes one untimed warm-up call, then K synchronous calls (sd_bus_call, 25 s timeout), and
// prints each call's latency in whole microseconds (CLOCK_MONOTONIC around the call only),
// one per line, once all calls are done.
// Exit status: 0; 1 on a bus or call error ("error: NAME: MESSAGE" on stderr); 2 on bad usage.
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sdbus_client.h"

namespace {

using bench::BusPtr;
using bench::MessagePtr;

struct Options : bench::CallOptions {
  uint64_t count = 0;
  bool have_count = false;
  std::string path;
  std::vector<std::string> args;
};

constexpr const char* kUsage =
    "usage: bench-dbus-latency (--user | --system | --address ADDR) --count K --dest NAME\n"
    "           --path PATH --iface IFACE --method METHOD [--sig SIG --arg VALUE...]\n"
    "  SIG: only 's' and 'o' letters, one --arg per letter\n";

// Returns an error message, or nullptr when the options are complete and consistent.
const char* parse(int argc, char** argv, Options& o) {
  const char* why = bench::parse_options(
      argc, argv, o, [&o](std::string_view opt, std::string_view value) -> const char* {
        if (opt == "--count") {
          if (!bench::parse_u64(value, o.count)) return "--count needs a number";
          o.have_count = true;
        } else if (opt == "--path") {
          o.path = value;
        } else if (opt == "--arg") {
          o.args.emplace_back(value);
        } else {
          return "unknown option";
        }
        return nullptr;
      });
  if (why != nullptr) return why;
  if (!o.have_count || o.path.empty()) return "--count and --path are required";
  return bench::check_args(o.sig, o.args);
}

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Makes one call; returns its latency in microseconds, or -1 after printing the error.
int64_t timed_call(sd_bus* bus, const Options& o) {
  bench::BusError error;
  MessagePtr call;
  int r = bench::new_call(bus, o, o.path, o.args, call);
  int64_t elapsed = 0;
  if (r >= 0) {
    sd_bus_message* reply = nullptr;
    const int64_t start = now_ns();
    r = sd_bus_call(bus, call.get(), 0, &error.e, &reply);
    elapsed = now_ns() - start;
    sd_bus_message_unref(reply);
  }
  if (r < 0) {
    bench::print_error(&error.e, r);
    return -1;
  }
  return elapsed / 1000;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (const char* why = parse(argc, argv, opts)) {
    fprintf(stderr, "bench-dbus-latency: %s\n%s", why, kUsage);
    return 2;
  }
  BusPtr bus;
  if (int r = bench::connect(opts, bus); r < 0) {
    fprintf(stderr, "error: connect: %s\n", strerror(-r));
    return 1;
  }
  // The warm-up also completes the Hello handshake that sd_bus_start() only began.
  if (timed_call(bus.get(), opts) < 0) return 1;
  std::vector<int64_t> latencies;
  latencies.reserve(opts.count);
  for (uint64_t i = 0; i < opts.count; ++i) {
    const int64_t us = timed_call(bus.get(), opts);
    if (us < 0) return 1;
    latencies.push_back(us);
  }
  for (int64_t us : latencies) printf("%lld\n", static_cast<long long>(us));
  return fflush(stdout) == 0 ? 0 : 1;
}
