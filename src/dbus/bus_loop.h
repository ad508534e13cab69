// Drives an sdbus-c++ connection from os::EventLoop. sdbus-c++ 1.2.0 has no
// attachSdEventLoop(), so the connection is integrated by hand: an I/O source
// on its fd and a CLOCK_MONOTONIC timer for its timeout, both re-armed from
// getEventLoopPollData() after every dispatch of any source (a post source),
// because any callback may have queued messages or changed the timeout.
#pragma once

#include <sdbus-c++/IConnection.h>

#include <functional>
#include <string>

#include "os/event_loop.h"

namespace procman::dbus {

class BusLoop {
 public:
  struct Hooks {
    /// Runs in the post source before the sources are re-armed: the place to
    /// send what was coalesced during this iteration. May be empty.
    std::function<void()> before_rearm;
    /// Called once, from the loop, when the connection fails (the bus went away,
    /// the socket broke); `why` is sdbus-c++'s message. The sources are stopped
    /// by then and the connection must not be used for I/O any more.
    std::function<void(const std::string& why)> on_lost;
  };

  /// Starts driving `conn` (which must outlive this object) at once. Throws
  /// sdbus::Error if the connection is already unusable.
  BusLoop(os::EventLoop& loop, sdbus::IConnection& conn, Hooks hooks);
  BusLoop(const BusLoop&) = delete;
  BusLoop& operator=(const BusLoop&) = delete;

  /// False once the connection was lost.
  bool connected() const { return connected_; }

  /// Processes every message that is ready, then re-arms. Safe to call at any
  /// time from the loop thread; never throws.
  void dispatch();

 private:
  void on_io(uint32_t revents);
  void rearm();
  void lost(const std::string& why);

  sdbus::IConnection& conn_;
  Hooks hooks_;
  bool connected_ = true;
  int fd_ = -1;
  uint32_t events_ = 0;
  os::EventSource io_;
  os::EventSource timer_;
  os::EventSource post_;
};

}  // namespace procman::dbus
