#include "procmand/controller.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "core/command_line.h"
#include "core/supervisor.h"
#include "os/spawner.h"

namespace procman {
namespace {

constexpr uint64_t kStopGraceUsec = 5'000'000;
/// Log the first bad lines, then only every power of two, so a controller
/// printing garbage in a loop cannot flood the journal.
bool worth_logging(uint64_t n) { return n <= 10 || (n & (n - 1)) == 0; }

uint64_t usec(core::Duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

}  // namespace

Controller::Controller(os::EventLoop& loop, Console& console, core::ControllerConfig cfg,
                       std::string work_dir, Callbacks cb)
    : loop_(loop), console_(console), cfg_(std::move(cfg)), work_dir_(std::move(work_dir)), cb_(std::move(cb)) {
  console_.reserve("controller");
}

Controller::~Controller() {
  close_pipes();
  if (pid_ > 0) os::signal_group(pid_, SIGKILL);  // reaped by procmand's SIGCHLD handler, if still running
}

void Controller::close_pipes() {
  in_src_.reset();
  out_src_.reset();
  err_src_.reset();
  in_.reset();
  out_.reset();
  err_.reset();
  queue_.clear();
}

void Controller::start() {
  restart_timer_.reset();
  if (stopping_ || pid_ > 0) return;
  std::string error;
  auto argv = core::command_argv(cfg_.command.line, false, &error);
  if (!argv) {
    console_.error(fmt::format("controller: {}", error));
    return;
  }
  int in_fds[2], out_fds[2], err_fds[2];
  if (pipe2(in_fds, O_CLOEXEC) != 0) {
    console_.error(fmt::format("controller: pipe: {}", std::strerror(errno)));
    return;
  }
  os::unique_fd in_r(in_fds[0]), in_w(in_fds[1]);
  if (pipe2(out_fds, O_CLOEXEC) != 0) {
    console_.error(fmt::format("controller: pipe: {}", std::strerror(errno)));
    return;
  }
  os::unique_fd out_r(out_fds[0]), out_w(out_fds[1]);
  if (pipe2(err_fds, O_CLOEXEC) != 0) {
    console_.error(fmt::format("controller: pipe: {}", std::strerror(errno)));
    return;
  }
  os::unique_fd err_r(err_fds[0]), err_w(err_fds[1]);

  os::SpawnRequest req;
  req.want_pidfd = false;  // reaped on SIGCHLD
  req.argv = std::move(*argv);
  req.env = cb_.env();
  req.work_dir = cfg_.work_dir ? *cfg_.work_dir : work_dir_;
  req.stdin_fd = in_r.get();
  req.stdout_fd = out_w.get();
  req.stderr_fd = err_w.get();
  os::SpawnResult r = os::spawn(req);
  if (!r.error.empty()) {
    console_.error(fmt::format("controller: {}", r.error));
    ++consecutive_failures_;
    const auto delay = core::backoff_delay(cfg_.restart_delay, consecutive_failures_);
    restart_timer_ = loop_.add_timer(os::EventLoop::now_usec() + usec(delay), [this] { start(); });
    return;
  }
  pid_ = r.pid;
  started_usec_ = os::EventLoop::now_usec();
  in_ = std::move(in_w);
  out_ = std::move(out_r);
  err_ = std::move(err_r);
  for (int fd : {in_.get(), out_.get(), err_.get()}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  out_split_ = os::LineSplitter();
  err_split_ = os::LineSplitter();
  out_src_ = loop_.add_io(out_.get(), EPOLLIN, [this](uint32_t) { on_stdout(); });
  err_src_ = loop_.add_io(err_.get(), EPOLLIN, [this](uint32_t) { on_stderr(); });
  in_src_ = loop_.add_io(in_.get(), EPOLLOUT, [this](uint32_t) { on_stdin_writable(); });
  in_src_.set_enabled(false);
  console_.notice(fmt::format("controller started (pid {}): {}", pid_, cfg_.command.line));
  send(cb_.hello());
}

void Controller::send(std::string_view json) {
  if (!in_) return;
  if (queue_.size() + json.size() + 1 > kMaxQueuedBytes) {
    // A controller that does not read must not make procmand grow.
    if (worth_logging(++dropped_))
      console_.warning(fmt::format("controller is not reading its stdin; {} event(s) dropped", dropped_));
    return;
  }
  queue_.append(json);
  queue_.push_back('\n');
  flush_queue();
}

void Controller::flush_queue() {
  while (!queue_.empty() && in_) {
    ssize_t n = ::write(in_.get(), queue_.data(), queue_.size());
    if (n > 0) {
      queue_.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      in_src_.set_enabled(true);  // wait until it reads
      return;
    }
    // EPIPE: it closed stdin (or died); keep running, stop feeding it.
    in_src_.reset();
    in_.reset();
    queue_.clear();
    return;
  }
  if (in_src_) in_src_.set_enabled(false);
}

void Controller::on_stdin_writable() { flush_queue(); }

void Controller::on_stdout() {
  char buf[16384];
  // Bounded per wakeup so a flooding controller shares the loop fairly.
  for (int i = 0; i < 16; ++i) {
    ssize_t n = ::read(out_.get(), buf, sizeof buf);
    if (n > 0) {
      out_split_.feed(std::string_view(buf, static_cast<std::size_t>(n)), [this](std::string_view line) {
        if (line.empty()) return;
        cb_.command(line);
      });
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) out_src_.reset();  // EOF: it closed stdout
    return;
  }
}

void Controller::on_stderr() {
  char buf[16384];
  for (int i = 0; i < 16; ++i) {
    ssize_t n = ::read(err_.get(), buf, sizeof buf);
    if (n > 0) {
      err_split_.feed(std::string_view(buf, static_cast<std::size_t>(n)),
                      [this](std::string_view line) { console_.line("controller", line); });
      console_.flush();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) err_src_.reset();
    return;
  }
}

bool Controller::on_reaped(pid_t pid, const core::ExitInfo& exit) {
  if (pid <= 0 || pid != pid_) return false;
  if (out_) on_stdout();
  if (err_) on_stderr();
  pid_ = -1;
  close_pipes();
  kill_timer_.reset();
  if (stopping_) {
    console_.notice(fmt::format("controller stopped: {}", core::describe_exit(exit)));
    return true;
  }
  // A controller that ran for a while before dying starts over at the initial delay.
  const uint64_t ran = os::EventLoop::now_usec() - started_usec_;
  if (ran >= usec(cfg_.restart_delay.reset_after)) consecutive_failures_ = 0;
  const auto delay = core::backoff_delay(cfg_.restart_delay, consecutive_failures_++);
  console_.warning(fmt::format("controller {}; restarting in {} ms", core::describe_exit(exit),
                               usec(delay) / 1000));
  restart_timer_ = loop_.add_timer(os::EventLoop::now_usec() + usec(delay), [this] { start(); });
  return true;
}

void Controller::stop() {
  stopping_ = true;
  restart_timer_.reset();
  if (pid_ <= 0) return;
  // Closing stdin is the polite request (a read loop ends); SIGTERM the firm one.
  in_src_.reset();
  in_.reset();
  queue_.clear();
  os::signal_group(pid_, SIGTERM);
  kill_timer_ = loop_.add_timer(os::EventLoop::now_usec() + kStopGraceUsec, [this] {
    if (pid_ > 0) os::signal_group(pid_, SIGKILL);
  });
}

}  // namespace procman
