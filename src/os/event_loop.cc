#include "os/event_loop.h"

#include <signal.h>

#include <stdexcept>
#include <string>
#include <system_error>

namespace procman::os {
namespace {

// Heap-held callback state, owned by the sd_event_source through a destroy callback.
template <typename Fn>
struct Callback {
  EventLoop* loop;
  Fn fn;
};

template <typename Fn>
void destroy_callback(void* userdata) {
  delete static_cast<Callback<Fn>*>(userdata);
}

template <typename Fn, typename... Args>
int invoke(void* userdata, Args&&... args) {
  auto* cb = static_cast<Callback<Fn>*>(userdata);
  try {
    cb->fn(std::forward<Args>(args)...);
  } catch (const std::exception& e) {
    cb->loop->report(e.what());
  } catch (...) {
    cb->loop->report("unknown exception in an event handler");
  }
  return 0;
}

void check(int r, const char* what) {
  if (r < 0) throw std::system_error(-r, std::generic_category(), what);
}

template <typename Fn>
EventSource adopt(sd_event_source* s, Callback<Fn>* cb) {
  sd_event_source_set_destroy_callback(s, destroy_callback<Fn>);
  (void)cb;
  return EventSource(s);
}

}  // namespace

EventSource& EventSource::operator=(EventSource&& o) noexcept {
  if (this != &o) {
    reset();
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

void EventSource::reset() {
  if (s_) sd_event_source_disable_unref(s_);
  s_ = nullptr;
}

void EventSource::set_time(uint64_t usec) {
  if (!s_) return;
  sd_event_source_set_time(s_, usec);
  sd_event_source_set_enabled(s_, SD_EVENT_ONESHOT);
}

void EventSource::set_enabled(bool on) {
  if (s_) sd_event_source_set_enabled(s_, on ? SD_EVENT_ON : SD_EVENT_OFF);
}

EventLoop::EventLoop() { check(sd_event_new(&e_), "sd_event_new"); }

EventLoop::~EventLoop() { sd_event_unref(e_); }

void EventLoop::report(const std::string& what) {
  if (error_hook_) error_hook_(what);
}

EventSource EventLoop::add_io(int fd, uint32_t events, std::function<void(uint32_t)> fn) {
  using Fn = std::function<void(uint32_t)>;
  auto* cb = new Callback<Fn>{this, std::move(fn)};
  sd_event_source* s = nullptr;
  int r = sd_event_add_io(
      e_, &s, fd, events,
      [](sd_event_source*, int, uint32_t revents, void* ud) { return invoke<Fn>(ud, revents); }, cb);
  if (r < 0) {
    delete cb;
    check(r, "sd_event_add_io");
  }
  return adopt(s, cb);
}

EventSource EventLoop::add_signal(int sig, std::function<void(const signalfd_siginfo&)> fn) {
  using Fn = std::function<void(const signalfd_siginfo&)>;
  auto* cb = new Callback<Fn>{this, std::move(fn)};
  sd_event_source* s = nullptr;
  int r = sd_event_add_signal(
      e_, &s, sig,
      [](sd_event_source*, const signalfd_siginfo* si, void* ud) { return invoke<Fn>(ud, *si); }, cb);
  if (r < 0) {
    delete cb;
    check(r, "sd_event_add_signal");
  }
  return adopt(s, cb);
}

EventSource EventLoop::add_timer(uint64_t usec, std::function<void()> fn, clockid_t clock) {
  using Fn = std::function<void()>;
  auto* cb = new Callback<Fn>{this, std::move(fn)};
  sd_event_source* s = nullptr;
  // accuracy 1: procmand wakes for real deadlines only, so coalescing buys nothing.
  int r = sd_event_add_time(
      e_, &s, clock, usec, 1,
      [](sd_event_source*, uint64_t, void* ud) { return invoke<Fn>(ud); }, cb);
  if (r < 0) {
    delete cb;
    check(r, "sd_event_add_time");
  }
  return adopt(s, cb);
}

EventSource EventLoop::add_inotify(const std::string& path, uint32_t mask,
                                   std::function<void(const inotify_event&)> fn) {
  using Fn = std::function<void(const inotify_event&)>;
  auto* cb = new Callback<Fn>{this, std::move(fn)};
  sd_event_source* s = nullptr;
  int r = sd_event_add_inotify(
      e_, &s, path.c_str(), mask,
      [](sd_event_source*, const inotify_event* ev, void* ud) { return invoke<Fn>(ud, *ev); }, cb);
  if (r < 0) {
    delete cb;
    check(r, "sd_event_add_inotify");
  }
  return adopt(s, cb);
}

EventSource EventLoop::add_post(std::function<void()> fn) {
  using Fn = std::function<void()>;
  auto* cb = new Callback<Fn>{this, std::move(fn)};
  sd_event_source* s = nullptr;
  int r = sd_event_add_post(
      e_, &s, [](sd_event_source*, void* ud) { return invoke<Fn>(ud); }, cb);
  if (r < 0) {
    delete cb;
    check(r, "sd_event_add_post");
  }
  return adopt(s, cb);
}

int EventLoop::run() { return sd_event_loop(e_); }

void EventLoop::exit(int code) { sd_event_exit(e_, code); }

uint64_t EventLoop::now_usec() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000ULL + static_cast<uint64_t>(ts.tv_nsec) / 1000ULL;
}

void block_signals(std::initializer_list<int> sigs) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : sigs) sigaddset(&set, s);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0) throw std::system_error(errno, std::generic_category(), "sigprocmask");
}

}  // namespace procman::os
