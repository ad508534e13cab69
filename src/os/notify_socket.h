// The sd_notify socket procmand offers its children (NOTIFY_SOCKET): binding
// it, receiving datagrams with the sender's credentials and fds, and the
// client side (notify_send) for tests and for procmand notifying its own
// service manager. The message format is core/notify.h.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "os/unique_fd.h"

namespace procman::os {

/// One datagram as received.
struct NotifyDatagram {
  pid_t pid = 0;  ///< the sender, from SCM_CREDENTIALS; 0 when the kernel could not tell
                  ///< (a sender in another pid namespace): refuse such a message
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::string text;  ///< at most core::kMaxNotifyDatagram bytes; may hold any bytes
  /// Descriptors sent along (SCM_RIGHTS), CLOEXEC; closed when dropped, so the
  /// caller keeps only what it means to (FDSTORE=1, BARRIER=1).
  std::vector<unique_fd> fds;
  /// The datagram was longer than core::kMaxNotifyDatagram (MSG_TRUNC) or
  /// carried more fds than fit (MSG_CTRUNC; the kernel closed the rest).
  /// `text` then holds only the start: refuse the message whole.
  bool truncated = false;
};

/// A bound AF_UNIX SOCK_DGRAM socket with SO_PASSCRED on, CLOEXEC|NONBLOCK:
/// watch fd() for EPOLLIN and call receive() until it returns nullopt.
///
/// Who may send: the socket file is mode 0666 like systemd's notify socket,
/// so children running as another user (config `user=`) can reach it (they
/// also need search permission on its directories). Anyone who can reach
/// it can send, so the receiver must judge each datagram by its credentials
/// (pid -> which child, as systemd's NotifyAccess= does), never by the text.
class NotifySocket {
 public:
  /// Binds `path`: an absolute file path, or "@name" for the abstract
  /// namespace (no file; handy for tests). A stale socket file at the path is
  /// replaced (os::clear_stale_unix_socket()); a regular file or a socket in
  /// use is refused. nullopt and *error ("<path>: <why>") on failure.
  static std::optional<NotifySocket> bind(const std::string& path, std::string* error);

  /// Unlinks the socket file if it is still the one bind() made.
  ~NotifySocket();
  NotifySocket(NotifySocket&& other) noexcept;
  NotifySocket& operator=(NotifySocket&& other) noexcept;
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  int fd() const { return fd_.get(); }
  /// As given to bind(): the NOTIFY_SOCKET value for children.
  const std::string& path() const { return path_; }

  /// The next queued datagram; nullopt when none is queued (EAGAIN) or on an
  /// error (then *error is set, when given). Zero-length datagrams are
  /// returned too (text empty). Never blocks.
  std::optional<NotifyDatagram> receive(std::string* error = nullptr);

 private:
  NotifySocket(unique_fd fd, std::string path, dev_t dev, ino_t ino);
  void unlink_if_ours() noexcept;

  unique_fd fd_;
  std::string path_;
  bool unlink_on_exit_ = false;
  dev_t dev_ = 0;  ///< the socket file bind() made
  ino_t ino_ = 0;
};

/// Sends one datagram to a notify socket, as sd_notify()/sd_pid_notify_with_fds()
/// do: `socket_path` is an absolute path or "@abstract"; `fds` go along as
/// SCM_RIGHTS (borrowed, not closed). The kernel adds our credentials. Blocks at
/// most 5 s when the receiver's queue is full. false and *error on failure
/// (e.g. "notify socket /run/x: Connection refused"); an empty `text` is refused.
bool notify_send(const std::string& socket_path, std::string_view text,
                 const std::vector<int>& fds = {}, std::string* error = nullptr);

}  // namespace procman::os
