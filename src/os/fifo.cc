#include "os/fifo.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/fifo_path.h"
#include "core/fifo_protocol.h"

namespace procman::os {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

/// mkdir -p with 0700 for what it creates, then checks that nobody but us
/// (or root) can swap the FIFO under our feet.
bool prepare_directory(const std::string& dir, std::string* error) {
  for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = fmt::format("{}: cannot create directory: {}", prefix, errno_text(errno));
      return false;
    }
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    *error = fmt::format("{}: {}", dir, errno_text(errno));
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = fmt::format("{}: is not a directory", dir);
    return false;
  }
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    *error = fmt::format("{}: is owned by uid {}; the FIFO's directory must be ours or root's", dir,
                         st.st_uid);
    return false;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    *error = fmt::format(
        "{}: is writable by group or others without the sticky bit (mode {:04o}); anyone "
        "could replace the FIFO",
        dir, st.st_mode & 07777);
    return false;
  }
  return true;
}

/// The checks on an existing path, from lstat() or fstat().
bool check_fifo(const std::string& path, const struct stat& st, std::string* error) {
  if (S_ISLNK(st.st_mode)) {
    *error = fmt::format("{}: is a symlink; refusing to use it", path);
    return false;
  }
  if (!S_ISFIFO(st.st_mode)) {
    *error = fmt::format("{}: exists and is not a FIFO", path);
    return false;
  }
  if (st.st_uid != geteuid()) {
    *error =
        fmt::format("{}: FIFO is owned by uid {}, not by us (uid {})", path, st.st_uid, geteuid());
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    *error = fmt::format("{}: FIFO mode {:04o} lets group or others use it; expected 0600", path,
                         st.st_mode & 07777);
    return false;
  }
  return true;
}

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

FifoServer::FifoServer(EventLoop& loop, std::string path, unique_fd fd, LineFn on_line,
                       ErrorFn on_error)
    : path_(std::move(path)),
      fd_(std::move(fd)),
      on_line_(std::move(on_line)),
      on_error_(std::move(on_error)) {
  source_ = loop.add_io(fd_.get(), EPOLLIN, [this](uint32_t) { on_readable(); });
}

std::unique_ptr<FifoServer> FifoServer::create(EventLoop& loop, std::string path, LineFn on_line,
                                               ErrorFn on_error, std::string* error) {
  if (!prepare_directory(parent_of(path), error)) return nullptr;
  bool made = mkfifo(path.c_str(), 0600) == 0;
  if (!made && errno != EEXIST) {
    *error = fmt::format("{}: cannot create FIFO: {}", path, errno_text(errno));
    return nullptr;
  }
  struct stat before {};
  if (!made) {
    if (lstat(path.c_str(), &before) != 0) {
      *error = fmt::format("{}: {}", path, errno_text(errno));
      return nullptr;
    }
    if (!check_fifo(path, before, error)) return nullptr;
    // Only readers make a non-blocking write open succeed: someone reads this FIFO already.
    if (unique_fd probe(open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
        probe) {
      *error =
          fmt::format("{}: another process (another procmand?) is already reading this FIFO", path);
      return nullptr;
    }
  }
  unique_fd fd(open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
  if (!fd) {
    *error = errno == ELOOP ? fmt::format("{}: is a symlink; refusing to use it", path)
                            : fmt::format("{}: {}", path, errno_text(errno));
    if (made) unlink(path.c_str());
    return nullptr;
  }
  if (made) fchmod(fd.get(), 0600);  // whatever the umask did
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) {
    *error = fmt::format("{}: {}", path, errno_text(errno));
    return nullptr;
  }
  if (!check_fifo(path, st, error)) return nullptr;
  if (!made && (st.st_dev != before.st_dev || st.st_ino != before.st_ino)) {
    *error = fmt::format("{}: was replaced while being opened", path);
    return nullptr;
  }
  std::unique_ptr<FifoServer> server(new FifoServer(loop, std::move(path), std::move(fd),
                                                    std::move(on_line), std::move(on_error)));
  server->unlink_on_exit_ = made;
  server->dev_ = st.st_dev;
  server->ino_ = st.st_ino;
  return server;
}

std::unique_ptr<FifoServer> FifoServer::adopt(EventLoop& loop, unique_fd fd, std::string path,
                                              LineFn on_line, ErrorFn on_error,
                                              std::string* error) {
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) {
    *error = fmt::format("{}: descriptor {}: {}", path, fd.get(), errno_text(errno));
    return nullptr;
  }
  if (!S_ISFIFO(st.st_mode)) {
    *error = fmt::format("{}: descriptor {} is not a FIFO", path, fd.get());
    return nullptr;
  }
  const int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0 ||
      fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0) {
    *error = fmt::format("{}: descriptor {}: {}", path, fd.get(), errno_text(errno));
    return nullptr;
  }
  unique_fd keep_open;
  if ((flags & O_ACCMODE) == O_WRONLY) {
    *error = fmt::format("{}: descriptor {} is open for writing only", path, fd.get());
    return nullptr;
  }
  if ((flags & O_ACCMODE) == O_RDONLY) {
    // Without a writer of our own the read end reports EOF (and POLLHUP, over and over)
    // whenever the last client leaves. We are a reader, so this open cannot fail with ENXIO.
    const std::string self = fmt::format("/proc/self/fd/{}", fd.get());
    keep_open.reset(open(self.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!keep_open) {
      *error = fmt::format("{}: cannot open a write end beside descriptor {}: {}", path, fd.get(),
                           errno_text(errno));
      return nullptr;
    }
  }
  std::unique_ptr<FifoServer> server(new FifoServer(loop, std::move(path), std::move(fd),
                                                    std::move(on_line), std::move(on_error)));
  server->keep_open_ = std::move(keep_open);
  return server;
}

FifoServer::~FifoServer() {
  *alive_ = false;
  source_.reset();
  if (!unlink_on_exit_) return;
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    unlink(path_.c_str());
  }
}

void FifoServer::on_readable() {
  // A bounded number of reads per wake-up so a flood cannot starve the rest of the
  // loop; the source is level-triggered, so whatever is left wakes us again.
  std::vector<char> buf(PIPE_BUF * 16);
  for (int round = 0; round < 16; ++round) {
    const ssize_t n = read(fd_.get(), buf.data(), buf.size());
    if (n > 0) {
      if (!consume(std::string_view(buf.data(), static_cast<std::size_t>(n)))) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) {
      const std::string why = fmt::format("{}: read: {}", path_, errno_text(errno));
      source_.set_enabled(false);  // a persistent error would otherwise spin the loop
      if (on_error_) on_error_(why + "; no longer reading the FIFO");
    }
    return;  // EAGAIN (drained), or EOF, which a reader that also writes never sees
  }
}

bool FifoServer::consume(std::string_view data) {
  const std::shared_ptr<bool> alive = alive_;
  while (!data.empty()) {
    const std::size_t nl = data.find('\n');
    const std::size_t seg = nl == std::string_view::npos ? data.size() : nl;
    if (discarding_) {
      if (nl != std::string_view::npos) discarding_ = false;
    } else if (pending_.size() + seg > core::kMaxFifoLine) {
      pending_.clear();
      pending_.shrink_to_fit();
      discarding_ = nl == std::string_view::npos;
      if (on_error_) {
        on_error_(fmt::format("line longer than {} bytes discarded", core::kMaxFifoLine));
        if (!*alive) return false;
      }
    } else {
      pending_.append(data.substr(0, seg));
      if (nl != std::string_view::npos) {
        const std::string line = std::move(pending_);
        pending_.clear();
        if (line.find_first_not_of(" \t\r\f\v") != std::string::npos && on_line_) {
          on_line_(line);
          if (!*alive) return false;
        }
      }
    }
    data.remove_prefix(nl == std::string_view::npos ? seg : seg + 1);
  }
  return true;
}

std::optional<std::string> fifo_send(const std::string& path, std::string_view line) {
  unique_fd fd(open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    if (errno == ENOENT || errno == ENXIO) return "no procmand is listening on " + path;
    return fmt::format("{}: {}", path, errno_text(errno));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return fmt::format("{}: {}", path, errno_text(errno));
  if (!S_ISFIFO(st.st_mode)) return fmt::format("{}: is not a FIFO", path);
  // Blocking from here on: a full pipe means procmand is busy, and it will read.
  const int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return fmt::format("{}: {}", path, errno_text(errno));
  }
  // procmand may go away mid-write: take EPIPE as an error instead of dying of SIGPIPE.
  sigset_t pipe_set;
  sigset_t old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  std::optional<std::string> result;
  while (!line.empty()) {
    const ssize_t n = write(fd.get(), line.data(), line.size());
    if (n >= 0) {
      line.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EPIPE) {
      result = "procmand stopped listening on " + path + " before the message was written";
      if (!was_pending) {
        const struct timespec zero {};
        sigtimedwait(&pipe_set, nullptr, &zero);  // the SIGPIPE this write raised
      }
    } else {
      result = fmt::format("{}: write: {}", path, errno_text(errno));
    }
    break;
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return result;
}

std::optional<std::string> canonical_path(const std::string& path, std::string* error) {
  char* resolved = realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    *error = fmt::format("cannot resolve config path '{}': {}", path, errno_text(errno));
    return std::nullopt;
  }
  std::string out(resolved);
  free(resolved);
  return out;
}

std::optional<std::string> fifo_path_for_config(const std::string& config_path,
                                                std::string* error) {
  std::optional<std::string> canonical = canonical_path(config_path, error);
  if (!canonical) return std::nullopt;
  std::string dir = core::fifo_directory(getenv("XDG_RUNTIME_DIR"), getenv("TMPDIR"));
  if (dir.back() != '/') dir += '/';
  return dir + core::fifo_file_name(*canonical);
}

}  // namespace procman::os
