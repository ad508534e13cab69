// Small file-system helpers: atomic writes, reading whole files, safe
// directory creation, the single-instance lock, EnvironmentFile parsing and
// turning arbitrary names into safe file names.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "os/unique_fd.h"

namespace procman::os {

/// Replaces `path` with `content` so readers see the old or the new file, never a mix,
/// even across a crash: temp file (0600) in the same directory, fsync, rename, fsync
/// the directory. The result has mode 0600.
/// Durability::Process skips both fsyncs: the rename is still atomic for every reader and
/// survives the writer's crash (the page cache is the kernel's), only not a power loss. For
/// files that mean nothing after a reboot anyway, that saves a disk flush per write.
enum class Durability { Disk, Process };
/// write(2) until all of `data` is written (EINTR and short writes handled); false + errno.
bool write_all(int fd, std::string_view data);
bool write_file_atomic(const std::string& path, std::string_view content, std::string* error,
                       Durability durability = Durability::Disk);

/// The whole file; error "path: reason".
std::optional<std::string> read_file(const std::string& path, std::string* error);

/// mkdir -p with `mode` for the directories it creates. Succeeds only if `path` ends up a
/// real directory (not a symlink) owned by our euid and not group- or world-writable.
bool make_dirs(const std::string& path, mode_t mode, std::string* error);

/// An exclusive flock() on a 0600 file holding our pid: one procmand per state directory.
/// Released when destroyed (or when the process dies, whatever way). The file is left in
/// place on purpose: unlinking lock files races with the next acquirer.
class FileLock {
 public:
  /// On contention the error is "path: already locked by pid N".
  static std::optional<FileLock> acquire(const std::string& path, std::string* error);

  const std::string& path() const { return path_; }

 private:
  FileLock(std::string path, unique_fd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  unique_fd fd_;
};

/// Parses a systemd EnvironmentFile: KEY=VALUE lines; '#' and ';' comment lines; blank
/// lines; values optionally (partly) in single quotes (literal) or double quotes (with \",
/// \\, \$, \` escapes and backslash-newline); outside quotes a backslash escapes the next
/// character, a trailing backslash continues the line, and surrounding blanks are trimmed;
/// a value may span lines inside quotes; an `export ` prefix is tolerated. Keys must be
/// [A-Za-z_][A-Za-z0-9_]*. Later assignments win. Errors are "path:LINE: what".
std::optional<std::map<std::string, std::string>> read_env_file(const std::string& path,
                                                                std::string* error);
/// The parser behind read_env_file(), for text already in memory; `name` prefixes errors.
std::optional<std::map<std::string, std::string>> parse_env_file(std::string_view text,
                                                                 const std::string& name,
                                                                 std::string* error);

/// A file name for an arbitrary string (a process id, an instance name): bytes outside
/// [A-Za-z0-9._-] become %XX (uppercase hex). Injective; never empty ("" -> "%"), never
/// "." or ".." (their dots are escaped). Length is not limited: keep inputs reasonable.
std::string escape_filename(std::string_view name);

/// This process's environment as a map (what children and templates inherit).
std::map<std::string, std::string> current_environment();

}  // namespace procman::os
