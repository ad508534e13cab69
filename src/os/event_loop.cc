#include "os/event_loop.h"

#include <signal.h>
#include <sys/epoll.h>

#include <cerrno>
#include <cstring>
#include <functional>
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

/// Post and defer sources: the same handler signature, only the adding call differs.
using AddPlain = int (*)(sd_event*, sd_event_source**, sd_event_handler_t, void*);
EventSource add_plain(EventLoop* loop, AddPlain add, const char* what, std::function<void()> fn) {
  using Fn = std::function<void()>;
  auto* cb = new Callback<Fn>{loop, std::move(fn)};
  sd_event_source* s = nullptr;
  int r = add(
      loop->get(), &s, [](sd_event_source*, void* ud) { return invoke<Fn>(ud); }, cb);
  if (r < 0) {
    delete cb;
    check(r, what);
  }
  return adopt(s, cb);
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

void EventSource::trigger() {
  if (s_) sd_event_source_set_enabled(s_, SD_EVENT_ONESHOT);
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
      [](sd_event_source*, int, uint32_t revents, void* ud) { return invoke<Fn>(ud, revents); },
      cb);
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
      [](sd_event_source*, const signalfd_siginfo* si, void* ud) { return invoke<Fn>(ud, *si); },
      cb);
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
      e_, &s, clock, usec, 1, [](sd_event_source*, uint64_t, void* ud) { return invoke<Fn>(ud); },
      cb);
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
  return add_plain(this, sd_event_add_post, "sd_event_add_post", std::move(fn));
}

EventSource EventLoop::add_defer(std::function<void()> fn, int64_t priority) {
  EventSource src = add_plain(this, sd_event_add_defer, "sd_event_add_defer", std::move(fn));
  check(sd_event_source_set_priority(src.get(), priority), "sd_event_source_set_priority");
  check(sd_event_source_set_enabled(src.get(), SD_EVENT_OFF), "sd_event_source_set_enabled");
  return src;
}

uint64_t EventLoop::iteration() const {
  uint64_t it = 0;
  sd_event_get_iteration(e_, &it);
  return it;
}

int EventLoop::run() { return sd_event_loop(e_); }

void EventLoop::exit(int code) { sd_event_exit(e_, code); }

uint64_t EventLoop::now_usec() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000ULL +
         static_cast<uint64_t>(ts.tv_nsec) / 1000ULL;
}

FdSet::FdSet(EventLoop& loop, OnReady on_ready)
    : epoll_(epoll_create1(EPOLL_CLOEXEC)), on_ready_(std::move(on_ready)) {
  if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  source_ = loop.add_io(epoll_.get(), EPOLLIN, [this](uint32_t) { dispatch(); });
}

bool FdSet::add(int fd, uint64_t tag, std::string* error) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0) return true;
  *error = std::string("epoll_ctl: ") + std::strerror(errno);
  return false;
}

void FdSet::remove(int fd) {
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  ++removals_;
}

void FdSet::dispatch() {
  // A batch bounds the work per wakeup, so the loop's other sources (signals, D-Bus) get
  // their turn between batches; whatever stays readable is reported again.
  epoll_event events[64];
  int n = epoll_wait(epoll_.get(), events, 64, 0);
  const uint64_t removals = removals_;
  for (int i = 0; i < n; ++i) {
    // After a removal, a tag later in this batch may name what is gone (or a newcomer that
    // took its descriptor number): leave them to a fresh epoll_wait.
    if (removals_ != removals) break;
    on_ready_(events[i].data.u64);
  }
}

void block_signals(std::initializer_list<int> sigs) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : sigs) sigaddset(&set, s);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0)
    throw std::system_error(errno, std::generic_category(), "sigprocmask");
}

}  // namespace procman::os
