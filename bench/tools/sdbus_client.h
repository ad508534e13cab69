// What bench-dbus-latency and bench-dbus-batch share: owning handles for sd-bus objects, the
// bus options both accept, and one-line error reports.
#pragma once

#include <errno.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

enum class Bus { kNone, kUser, kSystem, kAddress };

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

// What both tools take: the bus, and the destination, interface, method and signature of the
// calls they make.
struct CallOptions {
  Bus bus = Bus::kNone;
  std::string address;
  std::string dest, iface, method, sig;
};

// A whole decimal number, nothing else.
inline bool parse_u64(std::string_view text, uint64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
}

// Parses argv into o; every option but --user and --system takes a value. Options that are not
// CallOptions go to `other`, which returns an error message or nullptr. Returns an error
// message, or nullptr when o names a bus, a destination, an interface and a method.
inline const char* parse_options(
    int argc, char** argv, CallOptions& o,
    const std::function<const char*(std::string_view, std::string_view)>& other) {
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
    } else if (opt == "--dest") {
      o.dest = value;
    } else if (opt == "--iface") {
      o.iface = value;
    } else if (opt == "--method") {
      o.method = value;
    } else if (opt == "--sig") {
      o.sig = value;
    } else if (const char* why = other(opt, value)) {
      return why;
    }
  }
  if (o.bus == Bus::kNone) return "no bus given";
  if (o.dest.empty() || o.iface.empty() || o.method.empty()) {
    return "--dest, --iface and --method are required";
  }
  if (o.sig.find_first_not_of("so") != std::string::npos) return "--sig supports only 's', 'o'";
  return nullptr;
}

// Opens the bus; for --address, as a bus client of ADDR. The Hello handshake may still be
// under way when this returns.
inline int connect(const CallOptions& o, BusPtr& bus) {
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

// Checks arguments against a signature of 's' and 'o' letters; nullptr when they fit.
inline const char* check_args(const std::string& sig, const std::vector<std::string>& args) {
  if (args.size() != sig.size()) return "need exactly one argument per --sig letter";
  for (size_t i = 0; i < sig.size(); ++i) {
    if (sig[i] == 'o' && !sd_bus_object_path_is_valid(args[i].c_str())) {
      return "an 'o' argument is not a valid object path";
    }
  }
  return nullptr;
}

// A method call with the arguments appended; r < 0 on failure.
inline int new_call(sd_bus* bus, const CallOptions& o, const std::string& path,
                    const std::vector<std::string>& args, MessagePtr& call) {
  sd_bus_message* raw = nullptr;
  int r = sd_bus_message_new_method_call(bus, &raw, o.dest.c_str(), path.c_str(), o.iface.c_str(),
                                         o.method.c_str());
  call.reset(raw);
  for (size_t i = 0; r >= 0 && i < o.sig.size(); ++i) {
    r = sd_bus_message_append_basic(call.get(), o.sig[i], args[i].c_str());
  }
  return r;
}

// "error: NAME: MESSAGE" on stderr, on one line.
inline void print_error(const sd_bus_error* error, int r) {
  BusError fallback;
  if (error == nullptr || !sd_bus_error_is_set(error)) {
    sd_bus_error_set_errno(&fallback.e, r);
    error = &fallback.e;
  }
  // One line even when the peer's message ends in a newline (dbus-daemon's InvalidArgs does).
  std::string_view message = error->message != nullptr ? error->message : "";
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  fprintf(stderr, "error: %s: %.*s\n", error->name, static_cast<int>(message.size()),
          message.data());
}

}  // namespace bench
