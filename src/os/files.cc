// File-system helpers. Errors are returned as "path: reason" strings; nothing
// here aborts, because a supervisor has to keep going.
#include "os/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

extern char** environ;

namespace procman::os {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

bool write_all_loop(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<std::string> read_all(int fd) {
  std::string out;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string_view trim(std::string_view s) {
  std::size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  std::size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool is_key_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }

bool valid_key(std::string_view key) {
  if (key.empty() || !is_key_start(key[0])) return false;
  return std::all_of(key.begin(), key.end(),
                     [](char c) { return is_key_start(c) || (c >= '0' && c <= '9'); });
}

}  // namespace

bool write_file_atomic(const std::string& path, std::string_view content, std::string* error,
                       Durability durability) {
  std::size_t slash = path.rfind('/');
  if (path.empty() || slash == path.size() - 1) {
    *error = "\"" + path + "\": not a file path";
    return false;
  }
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string prefix = (dir == "/" ? "" : dir) + "/." + base + ".tmp.";

  static unsigned counter = 0;
  std::string tmp;
  unique_fd fd;
  for (int attempt = 0; attempt < 100 && !fd; ++attempt) {
    tmp = prefix + std::to_string(getpid()) + "." + std::to_string(counter++);
    fd.reset(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd && errno != EEXIST) break;
  }
  if (!fd) {
    *error = tmp + ": " + errno_text(errno);
    return false;
  }
  auto fail = [&](const std::string& what) {
    *error = what + ": " + errno_text(errno);
    unlink(tmp.c_str());
    return false;
  };
  if (!write_all_loop(fd.get(), content)) return fail(tmp + ": write");
  if (durability == Durability::Disk && fsync(fd.get()) != 0) return fail(tmp + ": fsync");
  if (close(fd.release()) != 0) return fail(tmp + ": close");
  if (rename(tmp.c_str(), path.c_str()) != 0) return fail(path + ": rename");
  if (durability == Durability::Process) return true;
  // The rename itself is only durable once the directory is.
  unique_fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd || fsync(dir_fd.get()) != 0) {
    *error = dir + ": fsync: " + errno_text(errno);
    return false;
  }
  return true;
}

std::optional<std::string> read_file(const std::string& path, std::string* error) {
  unique_fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    *error = path + ": " + errno_text(errno);
    return std::nullopt;
  }
  std::optional<std::string> data = read_all(fd.get());
  if (!data) *error = path + ": " + errno_text(errno);
  return data;
}

bool make_dirs(const std::string& path_in, mode_t mode, std::string* error) {
  std::string path = path_in;
  while (path.size() > 1 && path.back() == '/') path.pop_back();  // "a/" would follow a link
  if (path.empty()) {
    *error = "make_dirs: empty path";
    return false;
  }
  std::string current = path[0] == '/' ? "/" : "";
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    if (end > pos) {
      if (!current.empty() && current.back() != '/') current += '/';
      current.append(path, pos, end - pos);
      if (mkdir(current.c_str(), mode) != 0 && errno != EEXIST) {
        *error = current + ": mkdir: " + errno_text(errno);
        return false;
      }
    }
    pos = end + 1;
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    *error = path + ": " + errno_text(errno);
    return false;
  }
  if (S_ISLNK(st.st_mode)) {
    *error = path + ": is a symbolic link, not a directory";
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = path + ": not a directory";
    return false;
  }
  if (st.st_uid != geteuid()) {
    *error = fmt::format("{}: owned by uid {}, not by us (uid {})", path, st.st_uid, geteuid());
    return false;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    *error =
        fmt::format("{}: is writable by group or others (mode {:04o})", path, st.st_mode & 07777);
    return false;
  }
  return true;
}

std::optional<FileLock> FileLock::acquire(const std::string& path, std::string* error) {
  unique_fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600));
  if (!fd) {
    *error = path + ": " + errno_text(errno);
    return std::nullopt;
  }
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      *error = path + ": flock: " + errno_text(errno);
      return std::nullopt;
    }
    char buf[32] = {};
    ssize_t n = pread(fd.get(), buf, sizeof buf - 1, 0);
    std::string_view text =
        n > 0 ? trim(std::string_view(buf, static_cast<std::size_t>(n))) : std::string_view();
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    long pid = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
    if (ec == std::errc() && end == text.data() + text.size() && pid > 0) {
      *error = fmt::format("{}: already locked by pid {}", path, pid);
    } else {
      // The holder may not have written its pid yet.
      *error = path + ": already locked by another process";
    }
    return std::nullopt;
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd.get(), 0) != 0 || pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    *error = path + ": writing pid: " + errno_text(errno);
    return std::nullopt;
  }
  return FileLock(path, std::move(fd));
}

std::optional<std::map<std::string, std::string>> read_env_file(const std::string& path,
                                                                std::string* error) {
  std::optional<std::string> text = read_file(path, error);
  if (!text) return std::nullopt;
  return parse_env_file(*text, path, error);
}

std::optional<std::map<std::string, std::string>> parse_env_file(std::string_view text,
                                                                 const std::string& name,
                                                                 std::string* error) {
  std::map<std::string, std::string> out;
  const std::size_t n = text.size();
  std::size_t i = 0;
  int line = 1;
  auto fail = [&](int at, const std::string& what) {
    *error = fmt::format("{}:{}: {}", name, at, what);
    return std::nullopt;
  };
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };

  while (i < n) {
    while (i < n && blank(text[i])) ++i;
    if (i >= n) break;
    if (text[i] == '\n') {
      ++line;
      ++i;
      continue;
    }
    if (text[i] == '#' || text[i] == ';') {
      while (i < n && text[i] != '\n') ++i;
      continue;
    }

    const int start_line = line;
    const std::size_t key_start = i;
    while (i < n && text[i] != '=' && text[i] != '\n') ++i;
    std::string_view key = trim(text.substr(key_start, i - key_start));
    if (i >= n || text[i] != '=') {
      return fail(start_line, fmt::format("expected KEY=VALUE, got \"{}\"", key));
    }
    ++i;  // '='
    if (key.size() > 7 && key.substr(0, 6) == "export" && (key[6] == ' ' || key[6] == '\t')) {
      key = trim(key.substr(7));
    }
    if (!valid_key(key)) return fail(start_line, fmt::format("invalid variable name \"{}\"", key));

    while (i < n && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::string value;
    std::string blanks;  // unquoted blanks, kept only if more of the value follows
    auto flush_blanks = [&] {
      value += blanks;
      blanks.clear();
    };
    while (i < n && text[i] != '\n') {
      const char c = text[i];
      if (c == '\'') {
        flush_blanks();
        std::size_t close = text.find('\'', i + 1);
        if (close == std::string_view::npos) {
          return fail(start_line, "unterminated single-quoted value");
        }
        std::string_view literal = text.substr(i + 1, close - i - 1);
        line += static_cast<int>(std::count(literal.begin(), literal.end(), '\n'));
        value.append(literal);
        i = close + 1;
      } else if (c == '"') {
        flush_blanks();
        ++i;
        bool closed = false;
        while (i < n) {
          const char d = text[i];
          if (d == '"') {
            closed = true;
            ++i;
            break;
          }
          if (d == '\\' && i + 1 < n) {
            const char e = text[i + 1];
            if (e == '\n') {
              ++line;
              i += 2;
            } else if (e == '"' || e == '\\' || e == '$' || e == '`') {
              value += e;
              i += 2;
            } else {
              value += '\\';  // like sh: other backslashes in double quotes stay
              ++i;
            }
            continue;
          }
          if (d == '\n') ++line;
          value += d;
          ++i;
        }
        if (!closed) return fail(start_line, "unterminated double-quoted value");
      } else if (c == '\\') {
        if (i + 1 >= n) {
          ++i;
        } else if (text[i + 1] == '\n') {
          ++line;  // continuation line
          i += 2;
        } else {
          flush_blanks();
          value += text[i + 1];
          i += 2;
        }
      } else if (blank(c)) {
        blanks += c;
        ++i;
      } else {
        flush_blanks();
        value += c;
        ++i;
      }
    }
    out[std::string(key)] = std::move(value);
  }
  return out;
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

std::string escape_filename(std::string_view name) {
  if (name.empty()) return "%";  // '%' is always escaped otherwise, so this is unambiguous
  static const char hex[] = "0123456789ABCDEF";
  const bool dots_only = name == "." || name == "..";
  std::string out;
  out.reserve(name.size());
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || (c == '.' && !dots_only);
    if (safe) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

bool write_all(int fd, std::string_view data) { return write_all_loop(fd, data); }

}  // namespace procman::os
