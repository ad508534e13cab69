// The FIFO front door: procmand's reading end (FifoServer, driven by the
// EventLoop) and procmanctl's writing end (fifo_send), plus where the FIFO of
// a config lives. The protocol itself is core/fifo_protocol.h.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "os/event_loop.h"
#include "os/unique_fd.h"

namespace procman::os {

/// Reads newline-delimited lines from a named FIFO inside the EventLoop.
///
/// The FIFO is held open O_RDWR|O_NONBLOCK: a reader that is also a writer
/// never sees EOF, so unlike the seed (which reopened after every client)
/// there is no moment at which writers fail with "nobody listening".
/// Partial lines are kept across reads; blank lines (only white space) are
/// skipped; a line longer than core::kMaxFifoLine is reported once through
/// on_error ("line longer than 65536 bytes discarded") and skipped up to its
/// newline without being buffered, so memory stays bounded. The callbacks may
/// destroy the server.
class FifoServer {
 public:
  using LineFn = std::function<void(std::string_view line)>;
  using ErrorFn = std::function<void(const std::string& error)>;

  /// Makes the FIFO (mkdir -p of its directory, 0700 for the directories it
  /// creates; mkfifo 0600) or reuses an existing one after checking it.
  /// Refuses, with a message naming the path: a symlink, anything but a
  /// FIFO, a FIFO not owned by geteuid() or whose mode grants group or other
  /// access, a FIFO another process already reads (another procmand), and a
  /// directory that others could tamper with (owned by neither us nor root,
  /// or group/other-writable without the sticky bit). nullptr and *error on
  /// failure.
  static std::unique_ptr<FifoServer> create(EventLoop& loop, std::string path, LineFn on_line,
                                            ErrorFn on_error, std::string* error);

  /// Takes over an already open FIFO descriptor (socket activation,
  /// ListenFIFO=); checks it is a FIFO open for reading. A read-only
  /// descriptor gets a companion write descriptor so it never sees EOF.
  /// `path` is for messages only; the destructor leaves it alone.
  static std::unique_ptr<FifoServer> adopt(EventLoop& loop, unique_fd fd, std::string path,
                                           LineFn on_line, ErrorFn on_error, std::string* error);

  /// Unlinks the path only if create() made the FIFO and it is still ours.
  ~FifoServer();
  FifoServer(const FifoServer&) = delete;
  FifoServer& operator=(const FifoServer&) = delete;

  const std::string& path() const { return path_; }

 private:
  FifoServer(EventLoop& loop, std::string path, unique_fd fd, LineFn on_line, ErrorFn on_error);
  void on_readable();
  /// Splits `data` into lines; false once the server was destroyed by a callback.
  bool consume(std::string_view data);

  std::string path_;
  unique_fd fd_;
  unique_fd keep_open_;  ///< adopt(): a write end beside a read-only descriptor
  LineFn on_line_;
  ErrorFn on_error_;
  EventSource source_;
  std::string pending_;      ///< the start of the current line, at most kMaxFifoLine bytes
  bool discarding_ = false;  ///< inside an over-long line: drop bytes up to its newline
  bool unlink_on_exit_ = false;
  dev_t dev_ = 0;  ///< the FIFO create() made, so the destructor unlinks only that one
  ino_t ino_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

/// procmanctl's side: opens `path` O_WRONLY|O_NONBLOCK (so it never blocks
/// when nobody reads), checks it is a FIFO, then writes `line` whole (it
/// should end in '\n') in blocking mode. nullopt on success; otherwise
/// "no procmand is listening on <path>" (no FIFO, or no reader: ENOENT or
/// ENXIO) or "<path>: <why>". SIGPIPE is never raised.
std::optional<std::string> fifo_send(const std::string& path, std::string_view line);

/// realpath() of `path`; nullopt and *error = "cannot resolve config path
/// '<path>': <strerror>" when it does not exist.
std::optional<std::string> canonical_path(const std::string& path, std::string* error);

/// The FIFO of a config file: core::fifo_directory($XDG_RUNTIME_DIR, $TMPDIR)
/// joined with core::fifo_file_name(canonical_path(config_path)). The config
/// must exist. procmand and procmanctl agree only when both see the same
/// XDG_RUNTIME_DIR and TMPDIR.
std::optional<std::string> fifo_path_for_config(const std::string& config_path, std::string* error);

}  // namespace procman::os
