#include "os/notify_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>

#include "core/notify.h"
#include "os/listen.h"

namespace procman::os {
namespace {

/// The most fds one datagram may carry (the kernel's SCM_MAX_FD); more and the
/// kernel closes the rest and sets MSG_CTRUNC.
constexpr std::size_t kMaxFdsPerDatagram = 253;

std::string errno_text(int err) { return std::strerror(err); }

bool is_abstract(const std::string& path) { return !path.empty() && path.front() == '@'; }

/// The address of NOTIFY_SOCKET-style `path`; false and *error when unusable.
bool notify_address(const std::string& path, sockaddr_un* addr, socklen_t* len,
                    std::string* error) {
  if (is_abstract(path)) return make_unix_address(path.substr(1), true, addr, len, error);
  if (path.empty() || path.front() != '/') {
    *error = "the notify socket must be an absolute path or start with '@'";
    return false;
  }
  return make_unix_address(path, false, addr, len, error);
}

void set_error(std::string* error, std::string text) {
  if (error != nullptr) *error = std::move(text);
}

}  // namespace

NotifySocket::NotifySocket(unique_fd fd, std::string path, dev_t dev, ino_t ino)
    : fd_(std::move(fd)),
      path_(std::move(path)),
      unlink_on_exit_(!is_abstract(path_)),
      dev_(dev),
      ino_(ino) {}

NotifySocket::NotifySocket(NotifySocket&& other) noexcept
    : fd_(std::move(other.fd_)),
      path_(std::move(other.path_)),
      unlink_on_exit_(other.unlink_on_exit_),
      dev_(other.dev_),
      ino_(other.ino_) {
  other.unlink_on_exit_ = false;
}

NotifySocket& NotifySocket::operator=(NotifySocket&& other) noexcept {
  if (this != &other) {
    unlink_if_ours();
    fd_ = std::move(other.fd_);
    path_ = std::move(other.path_);
    unlink_on_exit_ = other.unlink_on_exit_;
    dev_ = other.dev_;
    ino_ = other.ino_;
    other.unlink_on_exit_ = false;
  }
  return *this;
}

NotifySocket::~NotifySocket() { unlink_if_ours(); }

void NotifySocket::unlink_if_ours() noexcept {
  if (!unlink_on_exit_) return;
  unlink_on_exit_ = false;
  const int saved = errno;
  struct stat st {};
  // Someone may have replaced the file (a second procmand after ours went
  // stale): only remove the very socket we made.
  if (lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev_ &&
      st.st_ino == ino_) {
    unlink(path_.c_str());
  }
  errno = saved;
}

std::optional<NotifySocket> NotifySocket::bind(const std::string& path, std::string* error) {
  sockaddr_un addr{};
  socklen_t len = 0;
  std::string why;
  if (!notify_address(path, &addr, &len, &why)) {
    *error = fmt::format("{}: {}", path, why);
    return std::nullopt;
  }
  const bool abstract = is_abstract(path);
  if (!abstract && !clear_stale_unix_socket(path, &why)) {
    *error = fmt::format("{}: {}", path, why);
    return std::nullopt;
  }
  unique_fd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    *error = fmt::format("{}: cannot create socket: {}", path, errno_text(errno));
    return std::nullopt;
  }
  const int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
    *error = fmt::format("{}: cannot set SO_PASSCRED: {}", path, errno_text(errno));
    return std::nullopt;
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    *error = errno == EADDRINUSE
                 ? fmt::format("{}: address already in use (another process is bound to it)", path)
                 : fmt::format("{}: cannot bind: {}", path, errno_text(errno));
    return std::nullopt;
  }
  struct stat st {};
  if (!abstract) {
    if (chmod(path.c_str(), 0666) != 0 || lstat(path.c_str(), &st) != 0) {
      const int err = errno;
      unlink(path.c_str());
      *error = fmt::format("{}: cannot make the socket file mode 0666: {}", path, errno_text(err));
      return std::nullopt;
    }
  }
  return NotifySocket(std::move(fd), path, st.st_dev, st.st_ino);
}

std::optional<NotifyDatagram> NotifySocket::receive(std::string* error) {
  // One byte more than we accept is not needed: MSG_TRUNC makes recvmsg()
  // return the datagram's real length.
  std::string buffer(core::kMaxNotifyDatagram, '\0');
  alignas(cmsghdr) char
      control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * kMaxFdsPerDatagram)];
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      set_error(error, fmt::format("{}: cannot receive: {}", path_, errno_text(errno)));
    }
    return std::nullopt;
  }
  NotifyDatagram d;
  // Take every fd first, so none leaks whatever else the message holds.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        d.fds.emplace_back(fd);
      }
    } else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(ucred))) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      d.pid = cred.pid;
      d.uid = cred.uid;
      d.gid = cred.gid;
    }
  }
  const std::size_t length = static_cast<std::size_t>(n);
  d.truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || length > buffer.size();
  buffer.resize(std::min(length, buffer.size()));
  d.text = std::move(buffer);
  return d;
}

bool notify_send(const std::string& socket_path, std::string_view text, const std::vector<int>& fds,
                 std::string* error) {
  const std::string label = "notify socket " + socket_path;
  if (text.empty()) {
    set_error(error, label + ": refusing to send an empty notification");
    return false;
  }
  if (fds.size() > kMaxFdsPerDatagram) {
    set_error(error, fmt::format("{}: {} fds are more than one datagram carries ({})", label,
                                 fds.size(), kMaxFdsPerDatagram));
    return false;
  }
  sockaddr_un addr{};
  socklen_t len = 0;
  std::string why;
  if (!notify_address(socket_path, &addr, &len, &why)) {
    set_error(error, fmt::format("{}: {}", label, why));
    return false;
  }
  unique_fd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    set_error(error, fmt::format("{}: cannot create socket: {}", label, errno_text(errno)));
    return false;
  }
  const timeval timeout{5, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    const std::size_t bytes = sizeof(int) * fds.size();
    control.assign(CMSG_SPACE(bytes), '\0');
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(bytes);
    std::memcpy(CMSG_DATA(c), fds.data(), bytes);
  }
  ssize_t n;
  do {
    n = sendmsg(fd.get(), &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    set_error(error, fmt::format("{}: {}", label, errno_text(errno)));
    return false;
  }
  return true;
}

}  // namespace procman::os
