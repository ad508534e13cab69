#include "dbus/bus_loop.h"

#include <poll.h>
#include <sdbus-c++/Error.h>

#include <cstdint>
#include <exception>

namespace procman::dbus {

BusLoop::BusLoop(os::EventLoop& loop, sdbus::IConnection& conn, Hooks hooks)
    : conn_(conn), hooks_(std::move(hooks)) {
  auto poll = conn_.getEventLoopPollData();
  fd_ = poll.fd;
  events_ = static_cast<uint32_t>(poll.events);
  io_ = loop.add_io(fd_, events_, [this](uint32_t revents) { on_io(revents); });
  // Created disarmed; rearm() sets the deadline sd-bus asks for.
  timer_ = loop.add_timer(0, [this] { dispatch(); });
  timer_.set_enabled(false);
  post_ = loop.add_post([this] {
    if (hooks_.before_rearm) hooks_.before_rearm();
    rearm();
  });
  rearm();
}

void BusLoop::on_io(uint32_t /*revents*/) {
  // Errors and hang-ups are not handled here: sd_bus_process() reads the EOF
  // and reports the disconnection itself.
  dispatch();
}

void BusLoop::dispatch() {
  if (!connected_) return;
  try {
    while (conn_.processPendingRequest()) {
    }
  } catch (const sdbus::Error& e) {
    lost(e.getMessage().empty() ? e.what() : e.getMessage());
    return;
  } catch (const std::exception& e) {
    // A handler let something other than sdbus::Error escape: the message it
    // was processing is dropped, the connection itself is fine.
    rearm();
    throw;
  }
  rearm();
}

void BusLoop::rearm() {
  if (!connected_) return;
  sdbus::IConnection::PollData poll{};
  try {
    poll = conn_.getEventLoopPollData();
  } catch (const sdbus::Error& e) {
    // sd-bus refuses poll data once it is closing: the peer hung up.
    lost(e.getMessage().empty() ? e.what() : e.getMessage());
    return;
  }
  auto events = static_cast<uint32_t>(poll.events);
  if (events != events_) {
    sd_event_source_set_io_events(io_.get(), events);
    events_ = events;
  }
  if (poll.timeout_usec == UINT64_MAX) {
    timer_.set_enabled(false);
  } else {
    // 0 ("process now": messages are already queued) is in the past and fires
    // on the next iteration, which is what sd-bus asks for.
    timer_.set_time(poll.timeout_usec);
  }
}

void BusLoop::lost(const std::string& why) {
  if (!connected_) return;
  connected_ = false;
  // Disable rather than destroy: we may be inside one of these sources' callbacks.
  io_.set_enabled(false);
  timer_.set_enabled(false);
  post_.set_enabled(false);
  if (hooks_.on_lost) hooks_.on_lost(why);
}

}  // namespace procman::dbus
