// bench-dbus-batch: issues a batch of D-Bus method calls the moment it is told to, from a client
// that is already connected, so that what the harness times is the calls, not a client's
// start-up (bench.py stop_workload: "stop all" through a peer's D-Bus interface, the way
// supervisord's is asked over XML-RPC from the harness's own process).
//
// Usage: bench-dbus-batch (--user | --system | --address ADDR) --dest NAME --iface IFACE
//            --method METHOD [--sig SIG] [--timeout SECONDS]
//   stdin: one call per line: the object path, then one argument per SIG letter ('s' and 'o'
//   only), separated by tabs; an empty line ends the batch.
// Then it connects (Hello included), builds every message, prints "ready" and waits for a line
// "go". On "go" it sends every call at once, pipelined as procmanctl does, and waits for every
// reply (each call times out after SECONDS, default 600).
// Exit status: 0 when every call succeeded; 1 after the last reply if any failed, or on a bus
// error ("error: NAME: MESSAGE" on stderr for each); 2 on bad usage or input; 3 if stdin ended
// instead of "go" (nothing was sent).
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sdbus_client.h"

namespace {

using bench::BusPtr;
using bench::MessagePtr;

struct Options : bench::CallOptions {
  uint64_t timeout_s = 600;
};

struct Call {
  std::string path;
  std::vector<std::string> args;
};

constexpr const char* kUsage =
    "usage: bench-dbus-batch (--user | --system | --address ADDR) --dest NAME --iface IFACE\n"
    "           --method METHOD [--sig SIG] [--timeout SECONDS]\n"
    "  stdin: PATH<TAB>ARG... per call (one ARG per SIG letter: 's' or 'o'), then an empty\n"
    "  line; \"ready\" is printed once connected, and the calls go out on a line \"go\"\n";

const char* parse(int argc, char** argv, Options& o) {
  return bench::parse_options(
      argc, argv, o, [&o](std::string_view opt, std::string_view value) -> const char* {
        if (opt != "--timeout") return "unknown option";
        if (!bench::parse_u64(value, o.timeout_s) || o.timeout_s == 0 || o.timeout_s > 86400) {
          return "--timeout needs a number of seconds, 1..86400";
        }
        return nullptr;
      });
}

// One line of stdin without its newline; false at end of input.
bool read_line(std::string& out) {
  char* buf = nullptr;
  size_t cap = 0;
  const ssize_t n = getline(&buf, &cap, stdin);
  if (n >= 0) out.assign(buf, static_cast<size_t>(n));
  free(buf);
  if (n < 0) return false;
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return true;
}

// Reads the batch up to its empty line; nullptr when every line is a valid call.
const char* read_calls(const Options& o, std::vector<Call>& calls) {
  std::string line;
  while (true) {
    if (!read_line(line)) return "stdin ended before the empty line that ends the batch";
    if (line.empty()) break;
    Call c;
    size_t start = 0;
    while (true) {
      const size_t tab = line.find('\t', start);
      std::string field = line.substr(start, tab == std::string::npos ? tab : tab - start);
      if (c.path.empty()) {
        c.path = std::move(field);
      } else {
        c.args.push_back(std::move(field));
      }
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (!sd_bus_object_path_is_valid(c.path.c_str())) return "a call's path is not an object path";
    if (const char* why = bench::check_args(o.sig, c.args)) return why;
    calls.push_back(std::move(c));
  }
  return calls.empty() ? "no calls given" : nullptr;
}

struct Batch {
  size_t pending = 0;
  bool failed = false;
};

int on_reply(sd_bus_message* reply, void* userdata, sd_bus_error*) {
  auto* batch = static_cast<Batch*>(userdata);
  --batch->pending;
  if (sd_bus_message_is_method_error(reply, nullptr)) {
    bench::print_error(sd_bus_message_get_error(reply), -EIO);
    batch->failed = true;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (const char* why = parse(argc, argv, opts)) {
    fprintf(stderr, "bench-dbus-batch: %s\n%s", why, kUsage);
    return 2;
  }
  std::vector<Call> calls;
  if (const char* why = read_calls(opts, calls)) {
    fprintf(stderr, "bench-dbus-batch: %s\n", why);
    return 2;
  }
  BusPtr bus;
  int r = bench::connect(opts, bus);
  // The unique name is known once Hello is answered: the handshake is not part of the batch.
  const char* unique = nullptr;
  if (r >= 0) r = sd_bus_get_unique_name(bus.get(), &unique);
  if (r < 0) {
    fprintf(stderr, "error: connect: %s\n", strerror(-r));
    return 1;
  }
  std::vector<MessagePtr> messages(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    r = bench::new_call(bus.get(), opts, calls[i].path, calls[i].args, messages[i]);
    if (r < 0) {
      fprintf(stderr, "error: building call %zu: %s\n", i + 1, strerror(-r));
      return 1;
    }
  }
  printf("ready\n");
  if (fflush(stdout) != 0) return 1;
  std::string line;
  if (!read_line(line)) return 3;
  if (line != "go") {
    fprintf(stderr, "bench-dbus-batch: expected \"go\", got \"%s\"\n", line.c_str());
    return 2;
  }
  Batch batch;
  const uint64_t timeout_us = opts.timeout_s * 1'000'000;
  for (auto& m : messages) {
    r = sd_bus_call_async(bus.get(), nullptr, m.get(), on_reply, &batch, timeout_us);
    if (r < 0) {
      bench::print_error(nullptr, r);
      return 1;
    }
    ++batch.pending;
  }
  while (batch.pending > 0) {
    r = sd_bus_process(bus.get(), nullptr);
    if (r > 0) continue;
    if (r >= 0) r = sd_bus_wait(bus.get(), UINT64_MAX);
    if (r < 0 && r != -EINTR) {
      bench::print_error(nullptr, r);
      return 1;
    }
  }
  return batch.failed ? 1 : 0;
}
