// procmand towards the systemd manager that runs it: sd_notify (READY,
// RELOADING, STOPPING, STATUS, the watchdog, the fd store) and the descriptors
// it passed us (socket activation of the FIFO, the fd store coming back after a
// restart). Without $NOTIFY_SOCKET and $LISTEN_FDS every call is a cheap no-op,
// so a foreground procmand behaves the same minus the messages.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "os/unique_fd.h"

struct sd_event;

namespace procman {

class Upward {
 public:
  /// Reads $NOTIFY_SOCKET/$WATCHDOG_USEC and takes the passed descriptors
  /// ($LISTEN_FDS/$LISTEN_FDNAMES for our pid), unsetting those variables so
  /// children never inherit them.
  Upward();

  /// Whether a service manager listens (we run as Type=notify).
  bool managed() const { return managed_; }

  /// READY=1 with the current status; also ends a reload.
  void ready(std::string_view status);
  /// RELOADING=1 with MONOTONIC_USEC (what Type=notify-reload expects).
  void reloading();
  /// STOPPING=1.
  void stopping(std::string_view status);
  /// STATUS=..., sent only when it differs from the last one sent.
  void status(std::string_view text);
  /// Lets sd-event answer the manager's watchdog (WatchdogSec=) from the loop:
  /// a wedged loop stops the pings and systemd restarts us.
  void enable_watchdog(sd_event* loop);

  /// FDSTORE=1 with FDNAME=name: systemd keeps a duplicate of `fd` and passes
  /// it back to the next procmand. False when no manager listens or it refused.
  bool store_fd(const std::string& name, int fd);
  /// FDSTOREREMOVE=1 for every stored descriptor of that name.
  void forget_fd(const std::string& name);

  /// The passed descriptors named `name` (FileDescriptorName= of a socket unit,
  /// or FDNAME= of the fd store); ownership moves to the caller.
  std::vector<os::unique_fd> take(const std::string& name);
  /// Names still holding descriptors nobody took (logged, then closed).
  std::vector<std::string> untaken() const;

 private:
  bool send(const std::string& text, const int* fds = nullptr, unsigned n_fds = 0);
  bool managed_ = false;
  std::string last_status_;
  std::map<std::string, std::vector<os::unique_fd>> passed_;
};

}  // namespace procman
