#include "os/probe.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <utility>
#include <vector>

#include "core/duration.h"
#include "os/proc.h"
#include "os/unique_fd.h"

namespace procman::os {
namespace {

using std::chrono::milliseconds;

std::string lower_first(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

std::string errno_text(int e) {
  if (e == ECONNREFUSED) return "connection refused";
  return lower_first(std::strerror(e));
}

std::string timeout_text(milliseconds t) { return "timed out after " + core::format_duration(t); }

// Ages read better in whole seconds; below one second the milliseconds matter.
std::string age_text(std::chrono::system_clock::duration d) {
  if (d < std::chrono::system_clock::duration::zero()) d = {};
  if (d >= std::chrono::seconds(1)) {
    return core::format_duration(std::chrono::floor<std::chrono::seconds>(d));
  }
  return core::format_duration(std::chrono::floor<milliseconds>(d));
}

std::chrono::system_clock::time_point to_time_point(const timespec& ts) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

size_t discard_body(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

// A zero timeout must not mean "forever" (as it does for libcurl).
milliseconds at_least_1ms(milliseconds t) { return std::max(t, milliseconds(1)); }

/// A socket address for a numeric IPv4/IPv6 host (IPv6 optionally in brackets) or
/// "localhost"; nullopt for anything that would need the (blocking) resolver.
std::optional<std::pair<sockaddr_storage, socklen_t>> numeric_address(std::string host,
                                                                      uint16_t port) {
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  sockaddr_storage ss{};
  sockaddr_in v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    std::memcpy(&ss, &v4, sizeof v4);
    return std::make_pair(ss, static_cast<socklen_t>(sizeof v4));
  }
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    std::memcpy(&ss, &v6, sizeof v6);
    return std::make_pair(ss, static_cast<socklen_t>(sizeof v6));
  }
  return std::nullopt;
}

bool valid_host_name(const std::string& host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// --- libcurl, loaded on first use ---------------------------------------------------------

// Linking libcurl maps its whole dependency tree (TLS, Kerberos, LDAP, SSH, HTTP/2...) into
// every procmand, about a third of an idle daemon's memory, even when no check needs it. So
// procmand does not link it: the first transfer dlopens it, and <curl/curl.h> only supplies
// the types and constants.

constexpr const char* kLibcurl = "libcurl.so.4";

/// The libcurl entry points this file calls, resolved from one loaded library.
struct CurlApi {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_multi_init) multi_init = nullptr;
  decltype(&curl_multi_setopt) multi_setopt = nullptr;
  decltype(&curl_multi_add_handle) multi_add_handle = nullptr;
  decltype(&curl_multi_remove_handle) multi_remove_handle = nullptr;
  decltype(&curl_multi_socket_action) multi_socket_action = nullptr;
  decltype(&curl_multi_info_read) multi_info_read = nullptr;
  decltype(&curl_multi_cleanup) multi_cleanup = nullptr;
  decltype(&curl_multi_strerror) multi_strerror = nullptr;
};

std::mutex curl_mutex;
std::string curl_name_override;  ///< guarded by curl_mutex; empty = kLibcurl

std::string dl_error() {
  const char* e = dlerror();
  return e ? e : "unknown error";
}

template <typename F>
bool resolve(void* lib, const char* symbol, const std::string& name, F& out, std::string& error) {
  void* p = dlsym(lib, symbol);
  if (!p) {
    error = "dlsym " + std::string(symbol) + " in " + name + ": " + dl_error();
    return false;
  }
  out = reinterpret_cast<F>(p);
  return true;
}

/// libcurl's API, loaded and globally initialised on the first call for the current library
/// name, then kept for the life of the process (libcurl is never unloaded: it may leave
/// handlers behind in its dependencies). nullptr with `error` set when that fails; failures
/// are not remembered, so installing libcurl later needs no restart.
const CurlApi* load_curl(std::string& error) {
  std::lock_guard<std::mutex> lock(curl_mutex);
  static std::map<std::string, CurlApi> loaded;
  const std::string name = curl_name_override.empty() ? kLibcurl : curl_name_override;
  if (auto it = loaded.find(name); it != loaded.end()) return &it->second;

  dlerror();
  void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    error = "dlopen " + name + ": " + dl_error();
    return nullptr;
  }
  CurlApi api;
  bool ok = resolve(lib, "curl_global_init", name, api.global_init, error) &&
            resolve(lib, "curl_easy_init", name, api.easy_init, error) &&
            resolve(lib, "curl_easy_setopt", name, api.easy_setopt, error) &&
            resolve(lib, "curl_easy_getinfo", name, api.easy_getinfo, error) &&
            resolve(lib, "curl_easy_cleanup", name, api.easy_cleanup, error) &&
            resolve(lib, "curl_easy_strerror", name, api.easy_strerror, error) &&
            resolve(lib, "curl_multi_init", name, api.multi_init, error) &&
            resolve(lib, "curl_multi_setopt", name, api.multi_setopt, error) &&
            resolve(lib, "curl_multi_add_handle", name, api.multi_add_handle, error) &&
            resolve(lib, "curl_multi_remove_handle", name, api.multi_remove_handle, error) &&
            resolve(lib, "curl_multi_socket_action", name, api.multi_socket_action, error) &&
            resolve(lib, "curl_multi_info_read", name, api.multi_info_read, error) &&
            resolve(lib, "curl_multi_cleanup", name, api.multi_cleanup, error) &&
            resolve(lib, "curl_multi_strerror", name, api.multi_strerror, error);
  if (!ok) {
    dlclose(lib);  // none of its code has run beyond its constructors
    return nullptr;
  }
  CURLcode global = api.global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) {
    error = std::string("curl_global_init: ") + api.easy_strerror(global);
    return nullptr;
  }
  return &loaded.emplace(name, api).first->second;
}

}  // namespace

void set_libcurl_name_for_tests(const std::string& name) {
  std::lock_guard<std::mutex> lock(curl_mutex);
  curl_name_override = name;
}

struct Prober::Impl {
  /// One pending probe. Exactly one of: a libcurl transfer (`easy`), a plain connect (`fd`),
  /// or a result known up front (`early`), which `deferred` delivers from the loop.
  struct Attempt {
    Id id = 0;
    Done done;
    milliseconds timeout{};
    std::string target;  ///< what messages name: "host:port" for TCP
    CURL* easy = nullptr;
    int expect_status = 0;
    bool connect_only = false;
    char errbuf[CURL_ERROR_SIZE] = {};
    unique_fd fd;
    EventSource io;
    EventSource timer;
    std::optional<ProbeResult> early;
  };

  EventLoop& loop;
  const CurlApi* curl = nullptr;  ///< set with `multi`, by the first transfer
  CURLM* multi = nullptr;
  EventSource curl_timer;  ///< the one timer libcurl asks for (CURLMOPT_TIMERFUNCTION)
  std::map<curl_socket_t, EventSource> curl_sockets;
  std::map<Id, std::unique_ptr<Attempt>> attempts;
  EventSource deferred;
  Id next_id = 1;
  /// Lets a delivery loop notice that a callback broke the "do not destroy" rule.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  explicit Impl(EventLoop& l) : loop(l) {}

  ~Impl() {
    *alive = false;
    // libcurl must not re-arm anything while it is being torn down.
    if (multi) curl->multi_setopt(multi, CURLMOPT_TIMERFUNCTION, nullptr);
    for (auto& [id, a] : attempts) drop_easy(*a);
    attempts.clear();
    if (multi) curl->multi_cleanup(multi);
    curl_sockets.clear();
  }

  /// Loads libcurl and creates the multi handle, once; false with `error` set if that fails
  /// (the next transfer tries again).
  bool ensure_curl(std::string& error) {
    if (multi) return true;
    const CurlApi* api = load_curl(error);
    if (!api) return false;
    multi = api->multi_init();
    if (!multi) {
      error = "curl_multi_init failed";
      return false;
    }
    curl = api;
    curl->multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_curl_socket);
    curl->multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl->multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::on_curl_timer_change);
    curl->multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    return true;
  }

  Attempt& add(Done done, milliseconds timeout) {
    auto a = std::make_unique<Attempt>();
    a->id = next_id++;
    a->done = std::move(done);
    a->timeout = timeout;
    Attempt& ref = *a;
    attempts.emplace(ref.id, std::move(a));
    return ref;
  }

  void drop_easy(Attempt& a) {
    if (!a.easy) return;
    curl->multi_remove_handle(multi, a.easy);
    curl->easy_cleanup(a.easy);
    a.easy = nullptr;
  }

  void finish_later(Attempt& a, ProbeResult r) {
    a.early = std::move(r);
    if (!deferred) {
      deferred = loop.add_timer(0, [this] { deliver_early(); });
    } else {
      deferred.set_time(0);
    }
  }

  /// Runs the callback of `id` unless it was cancelled; the attempt is gone before the
  /// callback runs, so the callback may start or cancel probes freely.
  void complete(Id id, const ProbeResult& r) {
    auto it = attempts.find(id);
    if (it == attempts.end()) return;
    Done done = std::move(it->second->done);
    drop_easy(*it->second);
    // Safe even from this attempt's own io/timer callback: sd-event keeps a dispatching
    // source (and so its callback object) alive until the callback returns.
    attempts.erase(it);
    try {
      if (done) done(r);
    } catch (const std::exception& e) {
      loop.report(std::string("probe callback: ") + e.what());
    } catch (...) {
      loop.report("probe callback: unknown exception");
    }
  }

  void complete_all(const std::vector<std::pair<Id, ProbeResult>>& results) {
    std::shared_ptr<bool> still = alive;
    for (const auto& [id, r] : results) {
      if (!*still) return;
      complete(id, r);
    }
  }

  void deliver_early() {
    std::vector<std::pair<Id, ProbeResult>> results;
    for (auto& [id, a] : attempts) {
      if (a->early) results.emplace_back(id, *a->early);
    }
    complete_all(results);
  }

  // --- libcurl ---------------------------------------------------------------------------

  static int on_curl_socket(CURL*, curl_socket_t s, int what, void* userp, void*) {
    auto* self = static_cast<Impl*>(userp);
    try {
      if (what == CURL_POLL_REMOVE) {
        // May destroy the source being dispatched right now; sd-event allows that.
        self->curl_sockets.erase(s);
        return 0;
      }
      uint32_t events = 0;
      if (what & CURL_POLL_IN) events |= EPOLLIN;
      if (what & CURL_POLL_OUT) events |= EPOLLOUT;
      auto it = self->curl_sockets.find(s);
      if (it != self->curl_sockets.end()) {
        sd_event_source_set_io_events(it->second.get(), events);
      } else {
        self->curl_sockets.emplace(s, self->loop.add_io(s, events, [self, s](uint32_t revents) {
          self->on_curl_io(s, revents);
        }));
      }
      return 0;
    } catch (const std::exception& e) {
      self->loop.report(std::string("probe: cannot watch a socket: ") + e.what());
      return -1;  // libcurl fails the transfer
    }
  }

  static int on_curl_timer_change(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<Impl*>(userp);
    try {
      if (timeout_ms < 0) {
        self->curl_timer.set_enabled(false);
        return 0;
      }
      // libcurl forbids calling back into it from here; a 0 ms deadline fires on the next
      // loop iteration instead.
      uint64_t when = EventLoop::now_usec() + static_cast<uint64_t>(timeout_ms) * 1000;
      if (!self->curl_timer) {
        self->curl_timer = self->loop.add_timer(when, [self] { self->on_curl_timeout(); });
      } else {
        self->curl_timer.set_time(when);
      }
      return 0;
    } catch (const std::exception& e) {
      self->loop.report(std::string("probe: cannot arm the libcurl timer: ") + e.what());
      return -1;
    }
  }

  void on_curl_io(curl_socket_t s, uint32_t revents) {
    int flags = 0;
    if (revents & EPOLLIN) flags |= CURL_CSELECT_IN;
    if (revents & EPOLLOUT) flags |= CURL_CSELECT_OUT;
    if (revents & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
    int running = 0;
    curl->multi_socket_action(multi, s, flags, &running);
    collect_curl();
  }

  void on_curl_timeout() {
    int running = 0;
    curl->multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect_curl();
  }

  /// Reaps finished transfers first and runs callbacks after, so callbacks never run while
  /// libcurl's message queue is being read.
  void collect_curl() {
    std::vector<std::pair<Id, ProbeResult>> results;
    int left = 0;
    while (CURLMsg* m = curl->multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL* easy = m->easy_handle;
      CURLcode code = m->data.result;
      void* priv = nullptr;
      curl->easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
      auto* a = static_cast<Attempt*>(priv);
      results.emplace_back(a->id, curl_result(*a, code));
      drop_easy(*a);
    }
    complete_all(results);
  }

  ProbeResult curl_result(const Attempt& a, CURLcode code) const {
    if (code == CURLE_OK) {
      if (a.connect_only) return {true, "connected to " + a.target};
      long status = 0;
      curl->easy_getinfo(a.easy, CURLINFO_RESPONSE_CODE, &status);
      if (status == a.expect_status) return {true, "HTTP " + std::to_string(status)};
      return {false, "HTTP " + std::to_string(status) + " (expected " +
                         std::to_string(a.expect_status) + ")"};
    }
    if (code == CURLE_OPERATION_TIMEDOUT) return {false, timeout_text(a.timeout)};
    if (code == CURLE_COULDNT_CONNECT) {
      long os_errno = 0;
      curl->easy_getinfo(a.easy, CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno != 0) return {false, errno_text(static_cast<int>(os_errno))};
    }
    // e.g. "could not resolve host: example.invalid"
    return {false, lower_first(a.errbuf[0] ? a.errbuf : curl->easy_strerror(code))};
  }

  /// A libcurl transfer; errors that show before it starts (libcurl missing included) still
  /// arrive from the loop.
  void start_curl(Attempt& a, const std::string& url) {
    std::string error;
    if (!ensure_curl(error)) {
      const char* what = a.connect_only ? "TCP checks to host names" : "HTTP checks";
      finish_later(a, {false, std::string(what) + " need libcurl: " + error});
      return;
    }
    CURL* e = curl->easy_init();
    if (!e) {
      finish_later(a, {false, "could not create a libcurl handle"});
      return;
    }
    curl->easy_setopt(e, CURLOPT_URL, url.c_str());
    curl->easy_setopt(e, CURLOPT_PRIVATE, static_cast<void*>(&a));
    curl->easy_setopt(e, CURLOPT_ERRORBUFFER, a.errbuf);
    curl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl->easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(a.timeout.count()));
    curl->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    // A probe checks the service itself: no proxy from the environment, and a new
    // connection every time (no idle sockets kept in procmand either).
    curl->easy_setopt(e, CURLOPT_PROXY, "");
    curl->easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl->easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl->easy_setopt(e, CURLOPT_USERAGENT, "procman/" PROCMAN_VERSION);
    curl->easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard_body);
    if (a.connect_only) curl->easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    CURLMcode mc = curl->multi_add_handle(multi, e);
    if (mc != CURLM_OK) {
      curl->easy_cleanup(e);
      finish_later(a, {false, std::string("libcurl: ") + curl->multi_strerror(mc)});
      return;
    }
    a.easy = e;
  }

  // --- plain non-blocking connect -------------------------------------------------------

  void start_connect(Attempt& a, const sockaddr_storage& addr, socklen_t len) {
    unique_fd fd(socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      finish_later(a, {false, "socket: " + errno_text(errno)});
      return;
    }
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0) {
      finish_later(a, {true, "connected to " + a.target});
      return;
    }
    if (errno != EINPROGRESS) {
      finish_later(a, {false, errno_text(errno)});
      return;
    }
    Id id = a.id;
    a.io = loop.add_io(fd.get(), EPOLLOUT, [this, id](uint32_t) { on_connect_ready(id); });
    a.timer =
        loop.add_timer(EventLoop::now_usec() + static_cast<uint64_t>(a.timeout.count()) * 1000,
                       [this, id] { on_connect_timeout(id); });
    a.fd = std::move(fd);
  }

  void on_connect_ready(Id id) {
    auto it = attempts.find(id);
    if (it == attempts.end()) return;
    Attempt& a = *it->second;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(a.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    complete(id, err == 0 ? ProbeResult{true, "connected to " + a.target}
                          : ProbeResult{false, errno_text(err)});
  }

  void on_connect_timeout(Id id) {
    auto it = attempts.find(id);
    if (it == attempts.end()) return;
    complete(id, {false, timeout_text(it->second->timeout)});
  }
};

Prober::Prober(EventLoop& loop) : impl_(std::make_unique<Impl>(loop)) {}

Prober::~Prober() = default;

Prober::Id Prober::http_get(const std::string& url, int expect_status,
                            std::chrono::milliseconds timeout, Done done) {
  Impl::Attempt& a = impl_->add(std::move(done), at_least_1ms(timeout));
  a.target = url;
  a.expect_status = expect_status;
  impl_->start_curl(a, url);
  return a.id;
}

Prober::Id Prober::tcp_connect(const std::string& host, uint16_t port,
                               std::chrono::milliseconds timeout, Done done) {
  Impl::Attempt& a = impl_->add(std::move(done), at_least_1ms(timeout));
  bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  a.target = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  if (auto addr = numeric_address(host, port)) {
    impl_->start_connect(a, addr->first, addr->second);
  } else if (!valid_host_name(host)) {
    impl_->finish_later(a, {false, "invalid host name '" + host + "'"});
  } else {
    // Host names need a resolver that does not block the loop: libcurl's.
    a.connect_only = true;
    impl_->start_curl(a, "http://" + a.target + "/");
  }
  return a.id;
}

void Prober::cancel(Id id) {
  auto it = impl_->attempts.find(id);
  if (it == impl_->attempts.end()) return;
  impl_->drop_easy(*it->second);
  impl_->attempts.erase(it);
}

std::size_t Prober::pending() const { return impl_->attempts.size(); }

// --- immediate checks --------------------------------------------------------------------

ProbeResult check_file_exists(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) return {true, path + " exists"};
  if (errno == ENOENT || errno == ENOTDIR) return {false, path + " does not exist"};
  return {false, path + ": " + errno_text(errno)};
}

ProbeResult check_not_exists(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) return {false, path + " exists"};
  if (errno == ENOENT || errno == ENOTDIR) return {true, path + " does not exist"};
  return {false, path + ": " + errno_text(errno)};
}

ProbeResult check_folder_active(const std::string& folder, std::chrono::milliseconds inactive,
                                std::chrono::system_clock::time_point now) {
  struct stat st {};
  if (stat(folder.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return {false, folder + " does not exist"};
    return {false, folder + ": " + errno_text(errno)};
  }
  if (!S_ISDIR(st.st_mode)) return {false, folder + " is not a directory"};
  auto newest = to_time_point(st.st_mtim);
  DIR* dir = opendir(folder.c_str());
  if (!dir) return {false, folder + ": " + errno_text(errno)};
  while (dirent* ent = readdir(dir)) {
    if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
    struct stat est {};
    if (fstatat(dirfd(dir), ent->d_name, &est, AT_SYMLINK_NOFOLLOW) == 0) {
      newest = std::max(newest, to_time_point(est.st_mtim));
    }
  }
  closedir(dir);
  std::string limit = " (limit " + core::format_duration(inactive) + ")";
  if (newest > now - inactive) {
    return {true, "last change in " + folder + " " + age_text(now - newest) + " ago" + limit};
  }
  return {false, "no change in " + folder + " for " + age_text(now - newest) + limit};
}

namespace {

/// /proc/PID/cmdline with NULs as spaces; empty for kernel threads and vanished processes.
std::string read_cmdline(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/cmdline";
  unique_fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (!out.empty() && out.back() == '\0') out.pop_back();
  std::replace(out.begin(), out.end(), '\0', ' ');
  return out;
}

}  // namespace

ProbeResult check_not_running(const std::string& pattern) {
  std::regex re;
  try {
    re = std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return {false, "invalid pattern '" + pattern + "': " + e.what()};
  }
  DIR* dir = opendir("/proc");
  if (!dir) return {false, "/proc: " + errno_text(errno)};
  std::vector<pid_t> pids;
  const pid_t self = getpid();
  while (dirent* ent = readdir(dir)) {
    const char* name = ent->d_name;
    if (!*name ||
        !std::all_of(name, name + std::strlen(name), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    pid_t pid = static_cast<pid_t>(std::strtol(name, nullptr, 10));
    if (pid != self) pids.push_back(pid);
  }
  closedir(dir);
  std::sort(pids.begin(), pids.end());
  for (pid_t pid : pids) {
    std::optional<ProcStat> st = read_proc_stat(pid);
    if (!st || st->state == 'Z' || st->state == 'X') continue;
    std::string cmdline = read_cmdline(pid);
    if (cmdline.empty()) continue;
    if (std::regex_search(cmdline, re)) {
      if (cmdline.size() > 200) cmdline = cmdline.substr(0, 200) + "...";
      return {false, "pid " + std::to_string(pid) + " matches '" + pattern + "': " + cmdline};
    }
  }
  return {true, "no process matches '" + pattern + "'"};
}

}  // namespace procman::os
