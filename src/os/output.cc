// Output FIFOs, line splitting and the recent-lines ring.
#include "os/output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace procman::os {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

/// The checks shared by create() and attach(), done on lstat() so we never open a
/// device or follow a link planted at our path.
bool check_existing(const std::string& path, const struct stat& st, std::string* error) {
  if (S_ISLNK(st.st_mode)) {
    *error = path + ": is a symbolic link; refusing to use it";
    return false;
  }
  if (!S_ISFIFO(st.st_mode)) {
    *error = path + ": exists and is not a FIFO";
    return false;
  }
  // Read once: procmand never changes its effective uid, and this runs twice per FIFO.
  static const uid_t euid = geteuid();
  if (st.st_uid != euid) {
    *error = path + ": FIFO is owned by uid " + std::to_string(st.st_uid) + ", not by us";
    return false;
  }
  return true;
}

}  // namespace

std::optional<OutputFifo> OutputFifo::open_checked(const std::string& path, bool made_by_us,
                                                   std::string* error) {
  struct stat st {};
  // A path we have just created with mknod needs no look before the open: the O_NOFOLLOW
  // and fstat checks below hold for it all the same.
  if (!made_by_us) {
    if (lstat(path.c_str(), &st) != 0) {
      *error = path + ": " + errno_text(errno);
      return std::nullopt;
    }
    if (!check_existing(path, st, error)) return std::nullopt;
  }
  // O_NOFOLLOW + fstat close the window between lstat (or mknod) and open.
  unique_fd fd(open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
  if (!fd) {
    *error = path + ": " +
             (errno == ELOOP ? "is a symbolic link; refusing to use it" : errno_text(errno));
    return std::nullopt;
  }
  if (fstat(fd.get(), &st) != 0) {
    *error = path + ": " + errno_text(errno);
    return std::nullopt;
  }
  if (!check_existing(path, st, error)) return std::nullopt;
  // Whatever the umask took away from a FIFO we made; one we found keeps its mode.
  if (made_by_us && (st.st_mode & 07777) != 0600) fchmod(fd.get(), 0600);
  return OutputFifo(std::move(fd));
}

std::optional<OutputFifo> OutputFifo::create(const std::string& path, std::string* error) {
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!check_existing(path, st, error)) return std::nullopt;
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      *error = path + ": removing stale FIFO: " + errno_text(errno);
      return std::nullopt;
    }
  } else if (errno != ENOENT) {
    *error = path + ": " + errno_text(errno);
    return std::nullopt;
  }
  if (mkfifo(path.c_str(), 0600) != 0) {
    *error = path + ": mkfifo: " + errno_text(errno);
    return std::nullopt;
  }
  return open_checked(path, true, error);
}

std::optional<OutputFifo> OutputFifo::attach(const std::string& path, std::string* error) {
  return open_checked(path, false, error);
}

std::optional<OutputFifo> OutputFifo::attach_or_create(const std::string& path,
                                                       std::string* error) {
  // mknod first: on a first start there is nothing to attach to, and this is one call
  // where looking first would be three. EEXIST changes nothing on disk.
  if (mkfifo(path.c_str(), 0600) == 0) return open_checked(path, true, error);
  if (errno != EEXIST) {
    *error = path + ": mkfifo: " + errno_text(errno);
    return std::nullopt;
  }
  std::optional<OutputFifo> fifo = attach(path, error);
  if (!fifo) fifo = create(path, error);
  return fifo;
}

unique_fd OutputFifo::open_child_end(std::string* error) const {
  // Reopening through /proc/self/fd reaches exactly our inode, even if the path was
  // replaced since.
  std::string self = "/proc/self/fd/" + std::to_string(fd_.get());
  unique_fd fd(open(self.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!fd) *error = "opening the child's end of the output FIFO: " + errno_text(errno);
  return fd;
}

bool OutputFifo::drain(std::string& out, std::string* error, std::size_t max_bytes) {
  char buf[64 * 1024];
  std::size_t total = 0;
  while (total < max_bytes) {
    ssize_t n = read(fd_.get(), buf, std::min(sizeof buf, max_bytes - total));
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      total += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) return true;  // no writer at all; cannot happen while we hold O_RDWR
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return true;
    *error = "read: " + errno_text(errno);
    return false;
  }
  return true;
}

void OutputFifo::remove(const std::string& path) { unlink(path.c_str()); }

LineSplitter::LineSplitter(std::size_t max_line) : max_line_(std::max<std::size_t>(max_line, 1)) {}

void LineSplitter::finish_line(std::string_view line, const OnLine& on_line) const {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Only a buffered max_line_ + 1 bytes without '\r' can still be too long here.
  while (line.size() > max_line_) {
    on_line(line.substr(0, max_line_));
    line.remove_prefix(max_line_);
  }
  on_line(line);
}

void LineSplitter::feed(std::string_view bytes, const OnLine& on_line) {
  while (!bytes.empty()) {
    std::size_t nl = bytes.find('\n');
    std::string_view chunk = bytes.substr(0, nl);
    bytes.remove_prefix(nl == std::string_view::npos ? bytes.size() : nl + 1);

    if (nl != std::string_view::npos && pending() == 0) {
      finish_line(chunk, on_line);  // the common case: a whole line, no copy
      continue;
    }
    // Kept once made: a stream that splits lines across reads does so again.
    if (!partial_) partial_ = std::make_unique<std::string>();
    std::string& partial = *partial_;
    // Buffer, keeping at most max_line_ + 1 bytes: the extra byte may turn out to be the
    // '\r' of a line that is exactly max_line_ long, which must not be split.
    while (!chunk.empty()) {
      std::size_t room = max_line_ + 1 - partial.size();
      if (chunk.size() <= room) {
        partial.append(chunk);
        break;
      }
      partial.append(chunk.substr(0, room));
      chunk.remove_prefix(room);
      on_line(std::string_view(partial).substr(0, max_line_));
      partial.erase(0, max_line_);
    }
    if (nl != std::string_view::npos) {
      finish_line(partial, on_line);
      partial.clear();
    }
  }
}

void LineSplitter::flush(const OnLine& on_line) {
  if (pending() == 0) return;
  finish_line(*partial_, on_line);
  partial_->clear();
}

LineRing::LineRing(std::size_t capacity_lines, std::size_t max_bytes)
    : capacity_lines_(capacity_lines), max_bytes_(max_bytes) {}

void LineRing::push(std::string_view line, bool is_stderr, uint64_t realtime_usec) {
  if (capacity_lines_ == 0) return;
  if (line.size() > max_bytes_) line = line.substr(0, max_bytes_);
  if (!entries_) entries_ = std::make_unique<std::deque<Entry>>();
  entries_->push_back(Entry{std::string(line), is_stderr, realtime_usec, next_seq_++});
  bytes_ += line.size();
  while (entries_->size() > capacity_lines_ || bytes_ > max_bytes_) {
    bytes_ -= entries_->front().line.size();
    entries_->pop_front();
  }
}

std::vector<LineRing::Entry> LineRing::last(std::size_t n) const {
  if (!entries_) return {};
  n = std::min(n, entries_->size());
  return std::vector<Entry>(entries_->end() - static_cast<std::ptrdiff_t>(n), entries_->end());
}

std::vector<LineRing::Entry> LineRing::since(uint64_t after, std::size_t max) const {
  // Sequence numbers are consecutive within the ring, so the first wanted
  // entry's position is computed, not searched for.
  std::vector<Entry> out;
  if (!entries_ || entries_->empty()) return out;
  const auto& entries = *entries_;
  uint64_t first = entries.front().seq;
  std::size_t skip = after < first ? 0 : static_cast<std::size_t>(after - first + 1);
  if (skip >= entries.size()) return out;
  auto begin = entries.begin() + static_cast<std::ptrdiff_t>(skip);
  std::size_t n = static_cast<std::size_t>(entries.end() - begin);
  if (max != 0 && n > max) n = max;
  out.assign(begin, begin + static_cast<std::ptrdiff_t>(n));
  return out;
}

void LineRing::clear() {
  entries_.reset();
  bytes_ = 0;
}

}  // namespace procman::os
