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
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

enum class Bus { kNone, kUser, kSystem, kAddress };

struct Options {
  Bus bus = Bus::kNone;
  std::string address;
  uint64_t count = 0;
  bool have_count = false;
  std::string dest, path, iface, method, sig;
  std::vector<std::string> args;
};

struct BusClose {
  void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
struct MessageUnref {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using BusPtr = std::unique_ptr<sd_bus, BusClose>;
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

// Owns an sd_bus_error (SD_BUS_ERROR_NULL is a C compound literal, not valid C++).
struct BusError {
  sd_bus_error e{};
  BusError() = default;
  BusError(const BusError&) = delete;
  BusError& operator=(const BusError&) = delete;
  ~BusError() { sd_bus_error_free(&e); }
};

constexpr const char* kUsage =
    "usage: bench-dbus-latency (--user | --system | --address ADDR) --count K --dest NAME\n"
    "           --path PATH --iface IFACE --method METHOD [--sig SIG --arg VALUE...]\n"
    "  SIG: only 's' and 'o' letters, one --arg per letter\n";

// Returns an error message, or nullptr when the options are complete and consistent.
const char* parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view opt = argv[i];
    if (opt == "--user" || opt == "--system") {
      if (o.bus != Bus::kNone) return "more than one bus given";
      o.bus = opt == "--user" ? Bus::kUser : Bus::kSystem;
      continue;
    }
    if (i + 1 >= argc) return "option without a value";
    const std::string_view value = argv[++i];
    if (opt == "--address") {
      if (o.bus != Bus::kNone) return "more than one bus given";
      o.bus = Bus::kAddress;
      o.address = value;
    } else if (opt == "--count") {
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), o.count);
      if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
        return "--count needs a number";
      }
      o.have_count = true;
    } else if (opt == "--dest") {
      o.dest = value;
    } else if (opt == "--path") {
      o.path = value;
    } else if (opt == "--iface") {
      o.iface = value;
    } else if (opt == "--method") {
      o.method = value;
    } else if (opt == "--sig") {
      o.sig = value;
    } else if (opt == "--arg") {
      o.args.emplace_back(value);
    } else {
      return "unknown option";
    }
  }
  if (o.bus == Bus::kNone) return "no bus given";
  if (!o.have_count || o.dest.empty() || o.path.empty() || o.iface.empty() || o.method.empty()) {
    return "--count, --dest, --path, --iface and --method are required";
  }
  if (o.sig.find_first_not_of("so") != std::string::npos) return "--sig supports only 's', 'o'";
  if (o.args.size() != o.sig.size()) return "need exactly one --arg per --sig letter";
  for (size_t i = 0; i < o.sig.size(); ++i) {
    if (o.sig[i] == 'o' && !sd_bus_object_path_is_valid(o.args[i].c_str())) {
      return "an 'o' argument is not a valid object path";
    }
  }
  return nullptr;
}

int connect(const Options& o, BusPtr& bus) {
  sd_bus* raw = nullptr;
  int r = 0;
  switch (o.bus) {
    case Bus::kUser:
      r = sd_bus_open_user(&raw);
      break;
    case Bus::kSystem:
      r = sd_bus_open_system(&raw);
      break;
    case Bus::kAddress:
      r = sd_bus_new(&raw);
      if (r < 0) break;
      bus.reset(raw);
      raw = nullptr;
      if ((r = sd_bus_set_address(bus.get(), o.address.c_str())) < 0) break;
      if ((r = sd_bus_set_bus_client(bus.get(), 1)) < 0) break;
      r = sd_bus_start(bus.get());
      break;
    case Bus::kNone:
      r = -EINVAL;
      break;
  }
  if (raw != nullptr) bus.reset(raw);
  return r;
}

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Makes one call; returns its latency in microseconds, or -1 after printing the error.
int64_t timed_call(sd_bus* bus, const Options& o) {
  BusError error;
  sd_bus_message* raw = nullptr;
  int r = sd_bus_message_new_method_call(bus, &raw, o.dest.c_str(), o.path.c_str(), o.iface.c_str(),
                                         o.method.c_str());
  MessagePtr call(raw);
  for (size_t i = 0; r >= 0 && i < o.sig.size(); ++i) {
    r = sd_bus_message_append_basic(call.get(), o.sig[i], o.args[i].c_str());
  }
  int64_t elapsed = 0;
  if (r >= 0) {
    sd_bus_message* reply = nullptr;
    const int64_t start = now_ns();
    r = sd_bus_call(bus, call.get(), 0, &error.e, &reply);
    elapsed = now_ns() - start;
    sd_bus_message_unref(reply);
  }
  if (r < 0) {
    if (!sd_bus_error_is_set(&error.e)) sd_bus_error_set_errno(&error.e, r);
    // One line even when the peer's message ends in a newline (dbus-daemon's InvalidArgs does).
    std::string_view message = error.e.message != nullptr ? error.e.message : "";
    while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
    fprintf(stderr, "error: %s: %.*s\n", error.e.name, static_cast<int>(message.size()),
            message.data());
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
  if (int r = connect(opts, bus); r < 0) {
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
