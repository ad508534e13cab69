// The [controller] program (daemonproxy's idea): procmand starts it, writes
// every event to its stdin as one JSON line, reads commands from its stdout
// (the FIFO protocol) and restarts it with backoff when it dies. A controller
// that floods, stalls or sends garbage cannot hurt the daemon: its input
// queue is bounded (events beyond it are dropped and counted), its output is
// read in bounded slices and cut into bounded lines, and its errors are
// rate-limited in the log.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/restart_policy.h"
#include "core/state.h"
#include "os/event_loop.h"
#include "os/output.h"
#include "os/unique_fd.h"
#include "procmand/console.h"

namespace procman {

class Controller {
 public:
  struct Callbacks {
    std::function<std::vector<std::string>()> env;       ///< its complete environment
    std::function<std::string()> hello;                  ///< the first line it receives
    std::function<void(std::string_view line)> command;  ///< one line it wrote
  };
  /// Events waiting for the controller to read them; beyond this they are dropped.
  static constexpr std::size_t kMaxQueuedBytes = 1 << 20;

  Controller(os::EventLoop& loop, Console& console, core::ControllerConfig cfg, std::string work_dir,
             Callbacks cb);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  void start();
  /// Queues one JSON object (a newline is added) while it runs; dropped otherwise.
  void send(std::string_view json);
  /// Whether `pid` was the controller (then it is handled: restart scheduled).
  bool on_reaped(pid_t pid, const core::ExitInfo& exit);
  /// At shutdown: no more restarts; stdin is closed and the group gets
  /// SIGTERM, then SIGKILL after a few seconds.
  void stop();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  uint64_t dropped() const { return dropped_; }

 private:
  void on_stdin_writable();
  void on_stdout();
  void on_stderr();
  void flush_queue();
  void close_pipes();

  os::EventLoop& loop_;
  Console& console_;
  core::ControllerConfig cfg_;
  std::string work_dir_;
  Callbacks cb_;
  pid_t pid_ = -1;
  bool stopping_ = false;
  unsigned consecutive_failures_ = 0;
  uint64_t started_usec_ = 0;  ///< CLOCK_MONOTONIC
  os::unique_fd in_, out_, err_;
  os::EventSource in_src_, out_src_, err_src_, restart_timer_, kill_timer_;
  os::LineSplitter out_split_, err_split_;
  std::string queue_;
  uint64_t dropped_ = 0;
  uint64_t bad_lines_ = 0;
};

}  // namespace procman
