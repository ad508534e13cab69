// A thin C++ face on sd-event: the only event loop procmand has. Sources are
// RAII handles; callbacks are std::function. Exceptions never cross into
// sd-event: a callback that throws is logged (via the error hook) and the loop
// goes on, because a supervisor degrades instead of dying.
#pragma once

#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <systemd/sd-event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "os/unique_fd.h"

namespace procman::os {

class EventLoop;

/// Owns one sd_event_source; destroying it disables and releases the source.
class EventSource {
 public:
  EventSource() = default;
  explicit EventSource(sd_event_source* s) : s_(s) {}
  EventSource(EventSource&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  EventSource& operator=(EventSource&& o) noexcept;
  EventSource(const EventSource&) = delete;
  EventSource& operator=(const EventSource&) = delete;
  ~EventSource() { reset(); }
  void reset();
  explicit operator bool() const { return s_ != nullptr; }
  sd_event_source* get() const { return s_; }
  /// Time sources: move the deadline (CLOCK_MONOTONIC µs) and enable it once more.
  void set_time(uint64_t usec);
  void set_enabled(bool on);
  /// Defer sources: dispatch once, in a later iteration.
  void trigger();

 private:
  sd_event_source* s_ = nullptr;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  sd_event* get() const { return e_; }

  EventSource add_io(int fd, uint32_t events, std::function<void(uint32_t revents)> fn);
  /// The signal must already be blocked (block_signals).
  EventSource add_signal(int sig, std::function<void(const signalfd_siginfo&)> fn);
  /// One-shot at an absolute time (µs) of `clock`; re-arm with set_time.
  EventSource add_timer(uint64_t usec, std::function<void()> fn, clockid_t clock = CLOCK_MONOTONIC);
  EventSource add_inotify(const std::string& path, uint32_t mask,
                          std::function<void(const inotify_event&)> fn);
  /// Runs after every dispatch of any other source, before the loop sleeps.
  EventSource add_post(std::function<void()> fn);
  /// Runs once per trigger(), in a later iteration, when no source of a higher priority
  /// (lower number; 0 is everyone else's) is pending. Created idle.
  EventSource add_defer(std::function<void()> fn, int64_t priority);
  /// How many times the loop has gone round (sd_event_get_iteration).
  uint64_t iteration() const;

  int run();
  void exit(int code);
  static uint64_t now_usec();  ///< CLOCK_MONOTONIC

  /// Receives the text of exceptions thrown by callbacks.
  void set_error_hook(std::function<void(const std::string&)> fn) { error_hook_ = std::move(fn); }
  void report(const std::string& what);

 private:
  sd_event* e_ = nullptr;
  std::function<void(const std::string&)> error_hook_;
};

/// Many descriptors behind one loop source: an epoll set of its own, nested in the loop's. A
/// sd-event source costs ~300 bytes of heap and its callback more; procmand watches two output
/// FIFOs per process, so with thousands of processes one shared source is most of the
/// difference between kilobytes and bytes per process. A descriptor carries a 64-bit tag
/// instead of a callback, and one handler receives the tags of the ready ones. Readiness is
/// level-triggered EPOLLIN: a descriptor left readable is reported again.
class FdSet {
 public:
  using OnReady = std::function<void(uint64_t tag)>;
  FdSet(EventLoop& loop, OnReady on_ready);
  FdSet(const FdSet&) = delete;
  FdSet& operator=(const FdSet&) = delete;

  /// false + *error if the kernel refuses (e.g. fs.epoll.max_user_watches reached).
  bool add(int fd, uint64_t tag, std::string* error);
  /// Must be called before `fd` is closed or its tag stops meaning anything. Safe from inside
  /// the handler: the rest of that batch is then left for the next wakeup.
  void remove(int fd);

 private:
  void dispatch();

  unique_fd epoll_;
  EventSource source_;
  OnReady on_ready_;
  uint64_t removals_ = 0;
};

/// Blocks the given signals in this thread (needed before add_signal).
void block_signals(std::initializer_list<int> sigs);

}  // namespace procman::os
