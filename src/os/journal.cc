// The journald layer: stream targets for children, procmand's structured
// messages, and the sd-journal reader behind `procmanctl logs`.
#include "os/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace procman::os {
namespace {

constexpr std::size_t kMaxIdentifierLength = 255;
constexpr std::size_t kMaxFieldNameLength = 64;  // journald drops longer names
constexpr int kStreamSendBuffer = 8 * 1024 * 1024;

// `s` quoted, with control characters and non-ASCII bytes escaped, for error messages.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

std::string errno_text(int err) { return std::strerror(err); }

// The value of FIELD in the current entry, or nullopt when it is missing or unreadable.
std::optional<std::string_view> entry_field(sd_journal* j, const char* name) {
  const void* data = nullptr;
  std::size_t length = 0;
  if (sd_journal_get_data(j, name, &data, &length) < 0) return std::nullopt;
  std::string_view all(static_cast<const char*>(data), length);
  std::size_t prefix = std::strlen(name) + 1;  // "NAME="
  if (all.size() < prefix) return std::nullopt;
  return all.substr(prefix);
}

int parse_int(std::string_view text, int fallback) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return fallback;
  return value;
}

// What the journal directories hold for us: journal files we may open, files we may
// not, and the first reason we were refused.
struct JournalFiles {
  int readable = 0;
  int refused = 0;
  int refused_errno = 0;
};

void note_refused(JournalFiles* files, int err) {
  ++files->refused;
  if (files->refused_errno == 0) files->refused_errno = err;
}

bool is_journal_file(std::string_view name) {
  return name.ends_with(".journal") || name.ends_with(".journal~");
}

// Scans `dir` (and, when `machine_dir` is set, its subdirectory of that name) the way
// sd-journal does with SD_JOURNAL_LOCAL_ONLY, trying to open every journal file.
void scan_journal_dir(const std::string& dir, const std::string* machine_dir, JournalFiles* files) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno != ENOENT) note_refused(files, errno);
    return;
  }
  bool has_machine_dir = false;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (machine_dir && name == *machine_dir) {
      has_machine_dir = true;
    } else if (is_journal_file(name)) {
      int fd = ::openat(::dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
      if (fd >= 0) {
        ++files->readable;
        ::close(fd);
      } else {
        note_refused(files, errno);
      }
    }
  }
  ::closedir(d);
  if (has_machine_dir) scan_journal_dir(dir + "/" + *machine_dir, nullptr, files);
}

JournalFiles scan_local_journal() {
  JournalFiles files;
  std::string machine;
  sd_id128_t id;
  if (sd_id128_get_machine(&id) >= 0) {
    char text[SD_ID128_STRING_MAX];
    machine = sd_id128_to_string(id, text);
  }
  const std::string* machine_dir = machine.empty() ? nullptr : &machine;
  scan_journal_dir("/run/log/journal", machine_dir, &files);
  scan_journal_dir("/var/log/journal", machine_dir, &files);
  return files;
}

std::string refused_text(int err) {
  std::string text = errno_text(err);
  if (err == EACCES || err == EPERM) text += " (add the user to the systemd-journal group)";
  return text;
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

bool journal_available(const std::string& run_dir) {
  if (!is_socket(run_dir + "/stdout")) return false;
  // A journald that died leaves its socket files behind; connecting to the datagram socket
  // (which sends nothing) tells a live one from a stale file.
  const std::string path = run_dir + "/socket";
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

bool valid_journal_identifier(std::string_view identifier, std::string* error) {
  if (identifier.empty()) return fail(error, "journal identifier is empty");
  if (identifier.size() > kMaxIdentifierLength) {
    return fail(error, fmt::format("journal identifier {}...: longer than {} bytes",
                                   quoted(identifier.substr(0, 32)), kMaxIdentifierLength));
  }
  for (std::size_t i = 0; i < identifier.size(); ++i) {
    auto c = static_cast<unsigned char>(identifier[i]);
    if (c < 0x20 || c == 0x7f) {
      return fail(error,
                  fmt::format("journal identifier {}: control character 0x{:02x} at offset {}",
                              quoted(identifier), c, i));
    }
  }
  if (identifier.front() == ' ' || identifier.back() == ' ') {
    return fail(error,
                fmt::format("journal identifier {}: leading or trailing blank (journald strips it)",
                            quoted(identifier)));
  }
  return true;
}

std::optional<JournalStreamTarget> journal_stream_target(std::string_view identifier, int priority,
                                                         std::string* error,
                                                         const std::string& socket_path) {
  if (!valid_journal_identifier(identifier, error)) return std::nullopt;
  if (priority < LOG_EMERG || priority > LOG_DEBUG) {
    fail(error,
         fmt::format("journal priority {} is not between 0 (emerg) and 7 (debug)", priority));
    return std::nullopt;
  }
  JournalStreamTarget target;
  if (socket_path.empty() || socket_path.size() >= sizeof(target.address.sun_path)) {
    fail(error, fmt::format("journal socket path {}: empty or longer than {} bytes",
                            quoted(socket_path), sizeof(target.address.sun_path) - 1));
    return std::nullopt;
  }
  target.address.sun_family = AF_UNIX;
  std::memcpy(target.address.sun_path, socket_path.data(), socket_path.size());
  target.address_length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path.size() + 1);
  // identifier, unit id, priority, level prefix, forward to syslog/kmsg/console.
  target.header = fmt::format("{}\n\n{}\n0\n0\n0\n0\n", identifier, priority);
  return target;
}

int journal_stream_open_in_child(const JournalStreamTarget& target) noexcept {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  auto give_up = [fd]() noexcept {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  };

  if (::connect(fd, reinterpret_cast<const sockaddr*>(&target.address), target.address_length) <
      0) {
    if (errno != EINTR) return give_up();
    // An interrupted connect goes on in the background: wait for it and take its result.
    pollfd p{fd, POLLOUT, 0};
    int r;
    do r = ::poll(&p, 1, -1);
    while (r < 0 && errno == EINTR);
    if (r < 0) return give_up();
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0) return give_up();
    if (so_error != 0) {
      errno = so_error;
      return give_up();
    }
  }
  if (::shutdown(fd, SHUT_RD) < 0) return give_up();

  // Unprivileged processes are capped at net.core.wmem_max; FORCE needs CAP_NET_ADMIN.
  int size = kStreamSendBuffer;
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0) {
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }

  const char* p = target.header.data();
  std::size_t left = target.header.size();
  while (left > 0) {
    ssize_t n = ::send(fd, p, left, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return give_up();
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return fd;
}

bool valid_journal_field_name(std::string_view name, std::string* error) {
  if (name.empty()) return fail(error, "journal field name is empty");
  if (name.size() > kMaxFieldNameLength) {
    return fail(error, fmt::format("journal field {}: longer than {} characters", quoted(name),
                                   kMaxFieldNameLength));
  }
  if (name.front() == '_') {
    return fail(error, fmt::format("journal field {}: starts with '_' (reserved for journald)",
                                   quoted(name)));
  }
  if (name.front() >= '0' && name.front() <= '9') {
    return fail(error, fmt::format("journal field {}: starts with a digit", quoted(name)));
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      return fail(error, fmt::format("journal field {}: character {} at offset {} is not A-Z, 0-9 "
                                     "or '_'",
                                     quoted(name), quoted(name.substr(i, 1)), i));
    }
  }
  return true;
}

bool journal_send(int priority, std::string_view message, const std::vector<JournalField>& fields,
                  std::string* error) {
  if (priority < LOG_EMERG || priority > LOG_DEBUG) {
    return fail(
        error, fmt::format("journal priority {} is not between 0 (emerg) and 7 (debug)", priority));
  }
  std::vector<std::string> items;
  items.reserve(fields.size() + 3);
  items.push_back(fmt::format("MESSAGE={}", message));
  items.push_back(fmt::format("PRIORITY={}", priority));
  items.push_back("SYSLOG_IDENTIFIER=procmand");
  for (const JournalField& f : fields) {
    if (!valid_journal_field_name(f.name, error)) return false;
    if (f.name == "MESSAGE" || f.name == "PRIORITY" || f.name == "SYSLOG_IDENTIFIER") {
      return fail(error,
                  fmt::format("journal field {}: set by journal_send itself", quoted(f.name)));
    }
    items.push_back(f.name + "=" + f.value);
  }
  std::vector<iovec> iov;
  iov.reserve(items.size());
  for (std::string& item : items) iov.push_back(iovec{item.data(), item.size()});
  int r = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  if (r < 0) return fail(error, "sd_journal_sendv: " + errno_text(-r));
  return true;
}

std::optional<JournalReader> JournalReader::open(std::string* error) {
  sd_journal* j = nullptr;
  int r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
  if (r < 0) {
    fail(error, "cannot open the journal: " + errno_text(-r));
    return std::nullopt;
  }
  JournalReader reader(j);
  // sd_journal_open() succeeds even when it could open no file at all (it only
  // remembers the errors), so look at what it got: an opened file always has a size.
  std::uint64_t usage = 0;
  r = sd_journal_get_usage(j, &usage);
  if (r < 0) {
    fail(error, "cannot read the journal: " + errno_text(-r));
    return std::nullopt;
  }
  JournalFiles files = scan_local_journal();
  if (usage == 0) {
    if (files.refused > 0) {
      fail(error, "cannot read the journal: " + refused_text(files.refused_errno));
    } else if (files.readable > 0) {
      fail(error,
           "cannot read the journal: the journal files in /run/log/journal and /var/log/journal "
           "could not be opened");
    } else {
      fail(error,
           "cannot read the journal: no journal files in /run/log/journal or /var/log/journal "
           "(is systemd-journald running?)");
    }
    return std::nullopt;
  }
  if (files.refused > 0) {
    reader.warning_ = "some journal files are not readable: " + refused_text(files.refused_errno) +
                      "; showing what is readable";
  }
  // Messages are shown whole; the default threshold would cut them at 64 KiB.
  (void)sd_journal_set_data_threshold(j, 0);
  return reader;
}

JournalReader::JournalReader(JournalReader&& other) noexcept
    : j_(std::exchange(other.j_, nullptr)),
      warning_(std::move(other.warning_)),
      positioned_(other.positioned_) {}

JournalReader& JournalReader::operator=(JournalReader&& other) noexcept {
  if (this != &other) {
    if (j_) sd_journal_close(j_);
    j_ = std::exchange(other.j_, nullptr);
    warning_ = std::move(other.warning_);
    positioned_ = other.positioned_;
  }
  return *this;
}

JournalReader::~JournalReader() {
  if (j_) sd_journal_close(j_);
}

bool JournalReader::match(std::string_view field_eq_value, std::string* error) {
  int r = sd_journal_add_match(j_, field_eq_value.data(), field_eq_value.size());
  if (r < 0) {
    return fail(error, fmt::format("journal match {}: {}", quoted(field_eq_value),
                                   r == -EINVAL ? "not FIELD=value with a valid field name"
                                                : errno_text(-r)));
  }
  return true;
}

bool JournalReader::match_or(std::string* error) {
  int r = sd_journal_add_disjunction(j_);
  if (r < 0) return fail(error, "sd_journal_add_disjunction: " + errno_text(-r));
  return true;
}

bool JournalReader::read_entry(JournalEntry* entry, std::string* error) {
  int r = sd_journal_get_realtime_usec(j_, &entry->realtime_usec);
  if (r < 0) return fail(error, "reading the journal: " + errno_text(-r));
  auto message = entry_field(j_, "MESSAGE");
  entry->message = message ? std::string(*message) : std::string();
  if (!entry->message.empty() && entry->message.back() == '\n') entry->message.pop_back();
  auto identifier = entry_field(j_, "SYSLOG_IDENTIFIER");
  entry->identifier = identifier ? std::string(*identifier) : std::string();
  auto priority = entry_field(j_, "PRIORITY");
  entry->priority = priority ? parse_int(*priority, -1) : -1;
  auto pid = entry_field(j_, "_PID");
  entry->pid = pid ? parse_int(*pid, -1) : -1;
  return true;
}

// Nothing matches yet, and the position is left at the tail. sd_journal_next() from
// there jumps to the newest entry, skipping others that arrived at the same time, so
// start from the head instead: every entry that shows up from now on is new.
bool JournalReader::seek_head_when_empty(std::string* error) {
  int r = sd_journal_seek_head(j_);
  if (r < 0) return fail(error, "sd_journal_seek_head: " + errno_text(-r));
  return true;
}

std::vector<JournalEntry> JournalReader::tail(std::size_t n, std::string* error) {
  std::vector<JournalEntry> entries;
  if (n == 0) return entries;
  int r = sd_journal_seek_tail(j_);
  if (r < 0) {
    fail(error, "sd_journal_seek_tail: " + errno_text(-r));
    return entries;
  }
  // Step back over the last n entries, then read forward: oldest first, and the
  // position ends on the newest, where follow() picks up.
  r = sd_journal_previous_skip(j_, n);
  if (r < 0) {
    fail(error, "sd_journal_previous_skip: " + errno_text(-r));
    return entries;
  }
  if (r == 0 && !seek_head_when_empty(error)) return entries;
  positioned_ = true;
  auto count = static_cast<std::size_t>(r);
  entries.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) {
      r = sd_journal_next(j_);
      if (r < 0) {
        fail(error, "sd_journal_next: " + errno_text(-r));
        return {};
      }
      if (r == 0) break;
    }
    JournalEntry entry;
    if (!read_entry(&entry, error)) return {};
    entries.push_back(std::move(entry));
  }
  return entries;
}

FollowEnd JournalReader::follow(const std::function<bool(const JournalEntry&)>& on_entry,
                                int timeout_ms, std::string* error) {
  // sd-journal installs its inotify watches on the first sd_journal_get_fd() (or the first
  // sd_journal_wait()). An entry written between the sd_journal_next() that found nothing and
  // that first wait would wake nobody: the reader would sleep until some later write, or
  // the timeout. Installing the watches before reading closes that window.
  if (int r = sd_journal_get_fd(j_); r < 0) {
    fail(error, "watching the journal: " + errno_text(-r));
    return FollowEnd::kError;
  }
  if (!positioned_) {
    // Land on the last existing entry (if any) so only later ones are delivered.
    int r = sd_journal_seek_tail(j_);
    if (r >= 0) r = sd_journal_previous(j_);
    if (r < 0) {
      fail(error, "positioning at the end of the journal: " + errno_text(-r));
      return FollowEnd::kError;
    }
    if (r == 0 && !seek_head_when_empty(error)) return FollowEnd::kError;
    positioned_ = true;
  }
  const std::uint64_t deadline =
      timeout_ms < 0 ? 0 : monotonic_usec() + static_cast<std::uint64_t>(timeout_ms) * 1000u;
  for (;;) {
    int r = sd_journal_next(j_);
    if (r < 0) {
      fail(error, "sd_journal_next: " + errno_text(-r));
      return FollowEnd::kError;
    }
    if (r > 0) {
      JournalEntry entry;
      if (!read_entry(&entry, error)) return FollowEnd::kError;
      if (!on_entry(entry)) return FollowEnd::kStopped;
      continue;
    }
    std::uint64_t wait_usec = UINT64_MAX;  // sd_journal_wait: forever
    if (timeout_ms >= 0) {
      std::uint64_t now = monotonic_usec();
      if (now >= deadline) return FollowEnd::kTimedOut;
      wait_usec = deadline - now;
    }
    r = sd_journal_wait(j_, wait_usec);
    if (r < 0) {
      fail(error, "sd_journal_wait: " + errno_text(-r));
      return FollowEnd::kError;
    }
  }
}

}  // namespace procman::os
