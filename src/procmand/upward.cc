#include "procmand/upward.h"

#include <fcntl.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace procman {

Upward::Upward() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  managed_ = socket != nullptr && *socket != '\0';
  char** names = nullptr;
  // unset_environment=1: $LISTEN_* describe *our* descriptors, not our children's.
  const int n = sd_listen_fds_with_names(1, &names);
  for (int i = 0; i < n; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    // sd_listen_fds leaves FD_CLOEXEC off for the receiving process; we want it back on
    // so the descriptors go only where we decide (children get explicit dups).
    const int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    std::string name = names && names[i] ? names[i] : "unknown";
    passed_[name].emplace_back(fd);
  }
  if (names) {
    for (int i = 0; i < n; ++i) std::free(names[i]);
    std::free(names);
  }
}

bool Upward::send(const std::string& text, const int* fds, unsigned n_fds) {
  if (!managed_) return false;
  // unset_environment=0: $NOTIFY_SOCKET stays for later messages; build_env
  // keeps it away from children (they get their own).
  if (fds && n_fds) return sd_pid_notify_with_fds(0, 0, text.c_str(), fds, n_fds) > 0;
  return sd_notify(0, text.c_str()) > 0;
}

void Upward::ready(std::string_view status) {
  last_status_ = std::string(status);
  send("READY=1\nSTATUS=" + last_status_);
}

void Upward::reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const unsigned long long usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
                                  static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
  send("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" + std::to_string(usec));
}

void Upward::stopping(std::string_view status) {
  last_status_ = std::string(status);
  send("STOPPING=1\nSTATUS=" + last_status_);
}

void Upward::status(std::string_view text) {
  if (!managed_ || text == last_status_) return;
  last_status_ = std::string(text);
  send("STATUS=" + last_status_);
}

void Upward::enable_watchdog(sd_event* loop) {
  // sd_event_set_watchdog reads $WATCHDOG_USEC/$WATCHDOG_PID itself and pings at
  // half the interval from inside the loop; it is a no-op when no watchdog is set.
  if (managed_) sd_event_set_watchdog(loop, 1);
}

bool Upward::store_fd(const std::string& name, int fd) {
  return send("FDSTORE=1\nFDNAME=" + name, &fd, 1);
}

void Upward::forget_fd(const std::string& name) { send("FDSTOREREMOVE=1\nFDNAME=" + name); }

std::vector<os::unique_fd> Upward::take(const std::string& name) {
  auto it = passed_.find(name);
  if (it == passed_.end()) return {};
  std::vector<os::unique_fd> fds = std::move(it->second);
  passed_.erase(it);
  return fds;
}

std::vector<std::string> Upward::untaken() const {
  std::vector<std::string> out;
  for (const auto& [name, fds] : passed_) out.push_back(name);
  return out;
}

}  // namespace procman
