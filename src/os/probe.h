// The checks behind health checks and dependency probes: network probes (HTTP GET,
// TCP connect) that run inside procmand's single-threaded sd-event loop and never
// block it, and immediate file-system and /proc checks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "os/event_loop.h"

namespace procman::os {

/// The outcome of one check. `detail` is always set and says precisely what was seen:
/// "HTTP 200", "HTTP 503 (expected 200)", "connection refused", "timed out after 2s",
/// "could not resolve host: example.invalid", "/x exists", "/x does not exist",
/// "no change in /d for 12s (limit 10s)".
struct ProbeResult {
  bool ok = false;
  std::string detail;
};

/// Runs network probes from the event loop; one per daemon. HTTP (and TCP to host names)
/// goes through a libcurl multi handle whose sockets and timer are sd-event sources, so a
/// hanging endpoint only costs a timer. TCP to numeric addresses is a plain non-blocking
/// connect. Not thread-safe; use it from the loop's thread only.
///
/// procmand does not link libcurl: the first probe that needs it dlopens "libcurl.so.4" (and
/// runs curl_global_init once per process), so a daemon without HTTP checks never maps it or
/// its dependencies. If the library cannot be loaded, that probe (and only it) fails with
/// "HTTP checks need libcurl: dlopen libcurl.so.4: <dlerror>" ("TCP checks to host names
/// need libcurl: ..." for tcp_connect); the next one tries to load it again.
class Prober {
 public:
  /// Cheap: loads nothing and opens nothing.
  explicit Prober(EventLoop& loop);
  /// Cancels everything pending; no callback runs after destruction.
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  using Done = std::function<void(const ProbeResult&)>;
  /// Never 0, never reused by one Prober.
  using Id = uint64_t;

  /// Each starts one attempt; `done` runs later from the event loop (never synchronously
  /// inside the call), exactly once, unless cancel(id) was called first. `done` may start or
  /// cancel other probes, but must not destroy the Prober.

  /// GET `url` (http or https only), no redirects followed, body discarded, proxies from the
  /// environment ignored, a fresh connection every time. ok iff the status equals
  /// `expect_status`. `timeout` bounds the whole attempt, resolution included.
  Id http_get(const std::string& url, int expect_status, std::chrono::milliseconds timeout,
              Done done);

  /// ok iff a TCP connection to host:port is established within `timeout` (then closed at
  /// once). Numeric IPv4/IPv6 addresses (IPv6 optionally in brackets) and "localhost"
  /// (= 127.0.0.1) use a non-blocking connect; other host names are resolved and connected
  /// by libcurl (CONNECT_ONLY), since getaddrinfo would block the loop.
  Id tcp_connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
                 Done done);

  /// Drops a pending attempt: its callback will not run. Unknown or finished ids are ignored.
  void cancel(Id id);
  /// Attempts whose callback has not run yet (and was not cancelled).
  std::size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// For tests: the name Probers dlopen libcurl by, instead of "libcurl.so.4" (an empty `name`
/// restores it). Affects Probers that have not loaded libcurl yet; one that has keeps it.
void set_libcurl_name_for_tests(const std::string& name);

// Immediate checks: no waiting on the network, only quick file-system and /proc reads.

/// ok iff `path` exists (stat follows symlinks: a dangling link does not count).
ProbeResult check_file_exists(const std::string& path);
/// ok iff `path` does not exist (a dangling symlink counts as existing).
ProbeResult check_not_exists(const std::string& path);

/// Healthy when some direct entry of `folder` (or the folder itself) has an mtime newer than
/// now - inactive; entries are not followed through symlinks. A missing folder (or a
/// non-directory) is unhealthy.
ProbeResult check_folder_active(const std::string& folder, std::chrono::milliseconds inactive,
                                std::chrono::system_clock::time_point now);

/// ok when NO live process (zombies and kernel threads excluded) has a /proc/PID/cmdline
/// (NULs as spaces, the trailing one dropped) in which the ECMAScript regex `pattern` finds a
/// match (regex_search, like pgrep -f); the calling process itself is excluded. Otherwise
/// detail names a matching pid and its command line. An invalid pattern is not ok.
ProbeResult check_not_running(const std::string& pattern);

}  // namespace procman::os
