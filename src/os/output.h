// Output channels of supervised processes: the named FIFO each stream goes
// through, splitting it into lines, and a bounded in-memory ring of recent lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "os/unique_fd.h"

namespace procman::os {

/// A named FIFO that carries one stream (stdout or stderr) of one supervised process. The child
/// gets an O_RDWR descriptor, so it is itself a reader of its own FIFO: its writes never raise
/// SIGPIPE even while no procmand reads (they block once the 64 KiB pipe buffer is full), and a
/// restarted procmand opens the same path and resumes reading. procmand also opens it
/// O_RDWR|O_NONBLOCK so the read end never sees EOF/POLLHUP (no busy loop after the child exits).
/// Data lives in the pipe only while some descriptor is open: what a child wrote before it
/// exited with no procmand attached is lost.
class OutputFifo {
 public:
  /// Makes a fresh FIFO (mode 0600) at `path`. A stale FIFO owned by us is replaced; a
  /// symlink, any other file type or someone else's FIFO is refused.
  static std::optional<OutputFifo> create(const std::string& path, std::string* error);
  /// Opens an existing FIFO (after a procmand restart) with the same checks; keeps its data.
  static std::optional<OutputFifo> attach(const std::string& path, std::string* error);
  /// attach() if there is a FIFO at `path` (procmand restarted: its data is kept), else, or if
  /// attaching fails, create(). What procmand does for every stream it captures.
  static std::optional<OutputFifo> attach_or_create(const std::string& path, std::string* error);

  /// A new blocking O_RDWR|O_CLOEXEC descriptor on the same FIFO for the child's stdout or
  /// stderr (the spawner dup2()s it, which clears CLOEXEC). Invalid on error.
  unique_fd open_child_end(std::string* error) const;

  /// procmand's non-blocking read side, for the event loop.
  int fd() const { return fd_.get(); }

  /// Reads what is available without blocking and appends it to `out`; stops after
  /// `max_bytes` so one chatty child cannot starve the loop (the fd then stays readable).
  /// Returns false on a real error (not on "nothing to read").
  bool drain(std::string& out, std::string* error, std::size_t max_bytes = 1 << 20);

  /// Unlinks the FIFO at `path`; descriptors already open on it stay usable.
  static void remove(const std::string& path);

 private:
  // No copy of the path: procmand keeps two FIFOs per process and derives their paths
  // from the unit's name when it needs them.
  explicit OutputFifo(unique_fd fd) : fd_(std::move(fd)) {}
  /// `made_by_us`: the FIFO was just created by mknod, so the lstat before the open is
  /// skipped and the mode is set to 0600 if the umask changed it.
  static std::optional<OutputFifo> open_checked(const std::string& path, bool made_by_us,
                                                std::string* error);

  unique_fd fd_;
};

/// Cuts a byte stream into lines without the '\n' (a trailing '\r' is stripped too).
/// A line longer than max_line bytes is emitted in max_line pieces, so memory stays bounded.
class LineSplitter {
 public:
  using OnLine = std::function<void(std::string_view line)>;

  explicit LineSplitter(std::size_t max_line = 64 * 1024);

  /// `line` passed to on_line is only valid during the call.
  void feed(std::string_view bytes, const OnLine& on_line);
  /// Emits a pending partial line, if any (at EOF / when the process is gone).
  void flush(const OnLine& on_line);
  /// Bytes held waiting for the rest of their line.
  std::size_t pending() const { return partial_ ? partial_->size() : 0; }

 private:
  void finish_line(std::string_view line, const OnLine& on_line) const;

  std::size_t max_line_;
  /// At most max_line_ + 1 bytes (room for a '\r'). Made at the first line split across
  /// reads: a daemon keeps two splitters per process and most never need one.
  std::unique_ptr<std::string> partial_;
};

/// The most recent output lines of one process (both streams), bounded in line count
/// and in bytes; the oldest go first.
class LineRing {
 public:
  struct Entry {
    std::string line;
    bool is_stderr = false;
    uint64_t realtime_usec = 0;
    uint64_t seq = 0;  ///< 1 for the first line ever pushed, +1 per line; survives clear()
  };

  /// A line longer than max_bytes is kept truncated to max_bytes.
  LineRing(std::size_t capacity_lines, std::size_t max_bytes);

  void push(std::string_view line, bool is_stderr, uint64_t realtime_usec);
  /// The last min(n, size()) lines, oldest first.
  std::vector<Entry> last(std::size_t n) const;
  /// Lines with seq > after, oldest first, at most `max` (0 = no limit).
  std::vector<Entry> since(uint64_t after, std::size_t max) const;

  std::size_t size() const { return entries_ ? entries_->size() : 0; }
  std::size_t bytes() const { return bytes_; }
  void clear();

 private:
  std::size_t capacity_lines_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  /// Allocated on the first line: an empty std::deque already costs ~570 bytes.
  std::unique_ptr<std::deque<Entry>> entries_;
  uint64_t next_seq_ = 1;
};

}  // namespace procman::os
