// The delegated cgroup v2 subtree. Every cgroupfs access is a plain open/read/write
// on a path: a unit's cgroup may vanish (or a pid leave it) at any moment, and each
// reader treats that as "absent", not as an error.
#include "os/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>

namespace procman::os {
namespace {

constexpr std::string_view kUnitPrefix = "p-";
constexpr int kMaxKillPasses = 32;

bool is_plain(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '@' || c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lowercase is not canonical: refused like any other non-hex byte
}

std::string errno_text(int err) { return std::strerror(err); }

std::string join(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

/// Reads a whole cgroupfs or /proc file (their size is unknown until read). nullopt with
/// errno set on failure.
std::optional<std::string> read_text(const std::string& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

/// One write() of `text`, the way cgroupfs wants it (each write is one command).
bool write_text(const std::string& path, std::string_view text, std::string* error) {
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ssize_t n = -1;
  if (fd) {
    do {
      n = ::write(fd.get(), text.data(), text.size());
    } while (n < 0 && errno == EINTR);
  }
  if (n == static_cast<ssize_t>(text.size())) return true;
  if (n >= 0) errno = EIO;
  if (error) *error = path + ": " + errno_text(errno);
  return false;
}

std::set<std::string> words(std::string_view text) {
  std::set<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = text.find_first_not_of(" \t\n", i);
    if (start == std::string_view::npos) break;
    std::size_t end = text.find_first_of(" \t\n", start);
    if (end == std::string_view::npos) end = text.size();
    out.emplace(text.substr(start, end - start));
    i = end;
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view s, T* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

/// The value of the "key value" line `key` in a flat-keyed cgroup file (cpu.stat,
/// cgroup.events).
std::optional<uint64_t> keyed_value(std::string_view text, std::string_view key) {
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ') {
      uint64_t v = 0;
      if (parse_number(line.substr(key.size() + 1), &v)) return v;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

/// Decodes mountinfo's octal escapes (\040 for a space, \134 for a backslash...).
std::string unescape_mountinfo(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto oct = [](char c) { return c >= '0' && c <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    std::size_t start = line.find_first_not_of(' ', i);
    if (start == std::string_view::npos) break;
    std::size_t end = line.find(' ', start);
    if (end == std::string_view::npos) end = line.size();
    out.push_back(line.substr(start, end - start));
    i = end;
  }
  return out;
}

/// Names of the subdirectories of `dir` (cgroupfs fills in d_type).
std::vector<std::string> subdirectories(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir =
          ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) out.emplace_back(name);
  }
  ::closedir(d);
  return out;
}

void collect_pids(const std::string& dir, std::vector<pid_t>* out) {
  if (std::optional<std::string> text = read_text(join(dir, "cgroup.procs"))) {
    std::string_view rest = *text;
    while (!rest.empty()) {
      std::size_t eol = rest.find('\n');
      std::string_view line = rest.substr(0, eol);
      rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
      pid_t pid = 0;
      if (parse_number(line, &pid) && pid > 0) out->push_back(pid);
    }
  }
  for (const std::string& sub : subdirectories(dir)) collect_pids(join(dir, sub), out);
}

/// rmdir, children first. ENOENT counts as success.
bool remove_tree(const std::string& dir, std::string* error) {
  bool ok = true;
  for (const std::string& sub : subdirectories(dir)) ok = remove_tree(join(dir, sub), error) && ok;
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return ok;
  if (error) {
    *error = errno == EBUSY ? dir + ": processes are still running in it"
                            : dir + ": " + errno_text(errno);
  }
  return false;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// True if `cgroup_path` is `unit_path` or nested in it.
bool within(std::string_view cgroup_path, std::string_view unit_path) {
  if (cgroup_path.substr(0, unit_path.size()) != unit_path) return false;
  return cgroup_path.size() == unit_path.size() || cgroup_path[unit_path.size()] == '/';
}

/// Signals `pid` if it is still in the cgroup `unit_path`. The pidfd pins the process
/// we checked: if the pid is recycled after the check, the signal goes nowhere.
bool signal_member(pid_t pid, int sig, std::string_view unit_path, std::string* error) {
  long raw = ::syscall(SYS_pidfd_open, pid, 0);
  unique_fd pidfd(raw >= 0 ? static_cast<int>(raw) : -1);
  if (!pidfd && errno == ESRCH) return true;
  std::optional<std::string> text = read_text("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text) return true;  // gone
  std::optional<std::string> where = parse_own_cgroup(*text);
  if (!where || !within(*where, unit_path)) return true;  // left the tree or recycled
  int rc = pidfd ? static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0))
                 : ::kill(pid, sig);  // no pidfd_open (before 5.3): the classic race remains
  if (rc == 0 || errno == ESRCH) return true;
  if (error) *error = "signalling pid " + std::to_string(pid) + ": " + errno_text(errno);
  return false;
}

}  // namespace

std::optional<Cgroup2Mount> find_cgroup2_mount(std::string_view mountinfo) {
  std::optional<Cgroup2Mount> found;
  while (!mountinfo.empty()) {
    std::size_t eol = mountinfo.find('\n');
    std::string_view line = mountinfo.substr(0, eol);
    mountinfo.remove_prefix(eol == std::string_view::npos ? mountinfo.size() : eol + 1);
    // id parent major:minor root mount-point options [optional...] - fstype source super
    std::vector<std::string_view> f = split_spaces(line);
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 6 || dash == f.end() || dash - f.begin() < 6 || dash + 1 == f.end()) continue;
    if (*(dash + 1) != "cgroup2") continue;
    Cgroup2Mount m{unescape_mountinfo(f[4]), unescape_mountinfo(f[3])};
    if (m.root == "/") return m;
    if (!found) found = std::move(m);
  }
  return found;
}

std::optional<std::string> parse_cgroup2_mount(std::string_view mountinfo) {
  std::optional<Cgroup2Mount> m = find_cgroup2_mount(mountinfo);
  if (!m) return std::nullopt;
  return m->mount_point;
}

std::optional<std::string> parse_own_cgroup(std::string_view proc_self_cgroup) {
  while (!proc_self_cgroup.empty()) {
    std::size_t eol = proc_self_cgroup.find('\n');
    std::string_view line = proc_self_cgroup.substr(0, eol);
    proc_self_cgroup.remove_prefix(eol == std::string_view::npos ? proc_self_cgroup.size()
                                                                 : eol + 1);
    if (line.substr(0, 3) == "0::" && line.size() > 3 && line[3] == '/')
      return std::string(line.substr(3));
  }
  return std::nullopt;
}

std::optional<std::string> unit_cgroup_name(std::string_view unit, std::string* error) {
  if (unit.empty()) {
    if (error) *error = "the unit name is empty";
    return std::nullopt;
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out(kUnitPrefix);
  for (char c : unit) {
    if (is_plain(c)) {
      out += c;
    } else {
      auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    }
  }
  if (out.size() > NAME_MAX) {
    if (error) {
      *error = "the unit name is too long for a cgroup directory (" + std::to_string(out.size()) +
               " bytes once escaped, at most " + std::to_string(NAME_MAX) + ")";
    }
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> unit_from_cgroup_name(std::string_view dir_name) {
  if (dir_name.substr(0, kUnitPrefix.size()) != kUnitPrefix) return std::nullopt;
  std::string_view rest = dir_name.substr(kUnitPrefix.size());
  if (rest.empty()) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (is_plain(rest[i])) {
      out += rest[i];
      continue;
    }
    if (rest[i] != '%' || i + 2 >= rest.size()) return std::nullopt;
    int hi = hex_value(rest[i + 1]);
    int lo = hex_value(rest[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    char c = static_cast<char>(hi * 16 + lo);
    if (is_plain(c)) return std::nullopt;  // escaped needlessly: not something we made
    out += c;
    i += 2;
  }
  return out;
}

std::optional<std::string> unit_from_cgroup_path(std::string_view tree_path,
                                                 std::string_view cgroup_path) {
  while (tree_path.size() > 1 && tree_path.back() == '/') tree_path.remove_suffix(1);
  std::string prefix(tree_path);
  if (prefix.empty() || prefix.back() != '/') prefix += '/';
  if (cgroup_path.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = cgroup_path.substr(prefix.size());
  return unit_from_cgroup_name(rest.substr(0, rest.find('/')));
}

bool UnitCgroup::join_in_child(int procs_fd) noexcept {
  ssize_t n;
  do {
    n = ::write(procs_fd, "0", 1);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

std::variant<CgroupTree, std::string> CgroupTree::open(const CgroupOptions& options) {
  CgroupTree tree;
  tree.use_cgroup_kill_ = options.use_cgroup_kill;

  // Where cgroup v2 is mounted, and which cgroup of it we are in.
  Cgroup2Mount mount{options.mount_root, "/"};
  if (mount.mount_point.empty()) {
    std::optional<std::string> mountinfo = read_text("/proc/self/mountinfo");
    if (!mountinfo) return "cannot read /proc/self/mountinfo: " + errno_text(errno);
    std::optional<Cgroup2Mount> found = find_cgroup2_mount(*mountinfo);
    if (!found) return std::string("cgroup v2 is not mounted (cgroup v1 only)");
    mount = std::move(*found);
  }
  tree.path_ = options.own_cgroup;
  if (tree.path_.empty()) {
    std::optional<std::string> text = read_text("/proc/self/cgroup");
    if (!text) return "cannot read /proc/self/cgroup: " + errno_text(errno);
    std::optional<std::string> own = parse_own_cgroup(*text);
    if (!own) return std::string("/proc/self/cgroup has no cgroup v2 (\"0::\") entry");
    tree.path_ = std::move(*own);
  }
  while (tree.path_.size() > 1 && tree.path_.back() == '/') tree.path_.pop_back();
  if (mount.root != "/" && !within(tree.path_, mount.root)) {
    return "our cgroup " + tree.path_ + " is not visible in the cgroup2 mount at " +
           mount.mount_point + " (which shows " + mount.root + ")";
  }
  std::string relative = mount.root == "/" ? tree.path_ : tree.path_.substr(mount.root.size());
  tree.dir_ = mount.mount_point;
  if (relative.size() > 1) tree.dir_ = join(tree.dir_, relative.substr(1));

  // Is it ours to manage? The root cgroup has no cgroup.events and is never delegated.
  if (!is_directory(tree.dir_))
    return "our cgroup directory " + tree.dir_ + " does not exist: " + errno_text(errno);
  if (::access(join(tree.dir_, "cgroup.events").c_str(), F_OK) != 0) {
    return "procmand runs in the root cgroup (" + tree.dir_ +
           "), which cannot be delegated; run it as a service with Delegate=yes";
  }
  for (const std::string& p : {tree.dir_, join(tree.dir_, "cgroup.procs")}) {
    if (::faccessat(AT_FDCWD, p.c_str(), W_OK, AT_EACCESS) != 0) {
      return p + " is not writable by uid " + std::to_string(::geteuid()) + " (" +
             errno_text(errno) + "): the cgroup " + tree.path_ +
             " is not delegated to us (is Delegate=yes set on the service?)";
    }
  }

  // Into the leaf, so that our own cgroup holds no process and controllers can be enabled.
  const std::string leaf = join(tree.dir_, kSupervisorLeaf);
  if (::mkdir(leaf.c_str(), 0755) != 0 && !(errno == EEXIST && is_directory(leaf)))
    return "cannot create " + leaf + ": " + errno_text(errno);
  const std::string leaf_procs = join(leaf, "cgroup.procs");
  const pid_t mover = options.move_pid == 0 ? ::getpid() : options.move_pid;
  std::string error;
  if (mover > 0 && !write_text(leaf_procs, std::to_string(mover), &error))
    return "cannot move pid " + std::to_string(mover) + " into " + error;
  std::vector<pid_t> strays;
  if (std::optional<std::string> text = read_text(join(tree.dir_, "cgroup.procs"))) {
    for (const std::string& w : words(*text)) {
      pid_t pid = 0;
      if (parse_number(std::string_view(w), &pid) && pid > 0) strays.push_back(pid);
    }
  }
  for (pid_t pid : strays) {
    if (!write_text(leaf_procs, std::to_string(pid), &error) && errno != ESRCH) {
      tree.warnings_.push_back("cannot move pid " + std::to_string(pid) + " out of " + tree.dir_ +
                               " into " + error);
    }
  }

  // Controllers for the units: whichever of ours the parent delegated.
  std::optional<std::string> controllers = read_text(join(tree.dir_, "cgroup.controllers"));
  if (!controllers) {
    tree.warnings_.push_back("cannot read " + join(tree.dir_, "cgroup.controllers") + ": " +
                             errno_text(errno));
  } else {
    tree.available_ = words(*controllers);
  }
  const std::string subtree = join(tree.dir_, "cgroup.subtree_control");
  if (std::optional<std::string> enabled = read_text(subtree)) tree.enabled_ = words(*enabled);
  for (const char* c : {"cpu", "memory", "pids"}) {
    if (!tree.available_.count(c) || tree.enabled_.count(c)) continue;
    if (write_text(subtree, std::string("+") + c, &error)) {
      tree.enabled_.insert(c);
    } else {
      tree.warnings_.push_back(std::string("cannot enable the ") + c + " controller: " + error);
    }
  }
  return tree;
}

std::string CgroupTree::unit_path(std::string_view unit) const {
  std::optional<std::string> name = unit_cgroup_name(unit);
  if (!name) return {};
  return path_ == "/" ? "/" + *name : path_ + "/" + *name;
}

std::string CgroupTree::unit_dir(std::string_view unit) const {
  std::optional<std::string> name = unit_cgroup_name(unit);
  return name ? join(dir_, *name) : std::string();
}

std::string CgroupTree::events_file(std::string_view unit) const {
  std::string dir = unit_dir(unit);
  return dir.empty() ? dir : join(dir, "cgroup.events");
}

std::variant<UnitCgroup, std::string> CgroupTree::ensure(std::string_view unit) const {
  std::string error;
  std::optional<std::string> name = unit_cgroup_name(unit, &error);
  if (!name) return "no cgroup for unit '" + std::string(unit) + "': " + error;
  UnitCgroup cg;
  cg.dir = join(dir_, *name);
  cg.path = unit_path(unit);
  if (::mkdir(cg.dir.c_str(), 0755) != 0 && !(errno == EEXIST && is_directory(cg.dir)))
    return "creating cgroup: " + cg.dir + ": " + errno_text(errno);
  const std::string procs = join(cg.dir, "cgroup.procs");
  cg.procs_fd.reset(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
  if (!cg.procs_fd) return "opening cgroup: " + procs + ": " + errno_text(errno);
  cg.dir_fd.reset(::open(cg.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg.dir_fd) return "opening cgroup: " + cg.dir + ": " + errno_text(errno);
  return cg;
}

std::vector<pid_t> CgroupTree::pids(std::string_view unit) const {
  std::vector<pid_t> out;
  std::string dir = unit_dir(unit);
  if (dir.empty()) return out;
  collect_pids(dir, &out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool CgroupTree::populated(std::string_view unit) const {
  std::string file = events_file(unit);
  if (file.empty()) return false;
  std::optional<std::string> text = read_text(file);
  if (!text) return false;
  return keyed_value(*text, "populated").value_or(0) != 0;
}

bool CgroupTree::kill(std::string_view unit, int sig, std::string* error) const {
  std::string dir = unit_dir(unit);
  if (dir.empty()) return true;
  if (sig == SIGKILL && use_cgroup_kill_) {
    std::string why;
    if (write_text(join(dir, "cgroup.kill"), "1", &why)) return true;
    if (errno != ENOENT) {
      if (error) *error = why;
      return false;
    }
    if (!is_directory(dir)) return true;  // no cgroup, nothing to kill
    // No cgroup.kill: a kernel before 5.14. Signal the members below.
  }
  const std::string path = unit_path(unit);
  std::set<pid_t> signalled;
  for (int pass = 0; pass < kMaxKillPasses; ++pass) {
    bool fresh = false;
    for (pid_t pid : pids(unit)) {
      if (!signalled.insert(pid).second) continue;
      fresh = true;
      if (!signal_member(pid, sig, path, error)) return false;
    }
    if (!fresh) return true;
  }
  if (error) {
    *error = "new processes kept appearing in " + path + " after " +
             std::to_string(kMaxKillPasses) + " passes";
  }
  return false;
}

bool CgroupTree::remove(std::string_view unit, std::string* error) const {
  std::string dir = unit_dir(unit);
  if (dir.empty()) {
    if (error) unit_cgroup_name(unit, error);
    return false;
  }
  return remove_tree(dir, error);
}

std::vector<std::string> CgroupTree::existing_units() const {
  std::vector<std::string> out;
  for (const std::string& sub : subdirectories(dir_)) {
    if (std::optional<std::string> unit = unit_from_cgroup_name(sub)) out.push_back(*unit);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<uint64_t> CgroupTree::cpu_usage_usec(std::string_view unit) const {
  std::string dir = unit_dir(unit);
  if (dir.empty()) return std::nullopt;
  std::optional<std::string> text = read_text(join(dir, "cpu.stat"));
  if (!text) return std::nullopt;
  return keyed_value(*text, "usage_usec");
}

std::optional<uint64_t> CgroupTree::memory_current(std::string_view unit) const {
  std::string dir = unit_dir(unit);
  if (dir.empty() || !enabled_.count("memory")) return std::nullopt;
  std::optional<std::string> text = read_text(join(dir, "memory.current"));
  if (!text) return std::nullopt;
  uint64_t v = 0;
  std::string_view s = *text;
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (!parse_number(s, &v)) return std::nullopt;
  return v;
}

std::vector<std::string> CgroupTree::apply_limits(std::string_view unit,
                                                  const CgroupLimits& limits) const {
  std::vector<std::string> warnings;
  std::string error;
  if (!unit_cgroup_name(unit, &error)) {
    warnings.push_back("limits ignored for unit '" + std::string(unit) + "': " + error);
    return warnings;
  }
  const std::string dir = unit_dir(unit);

  struct Knob {
    const char* setting;     // as the config spells it
    const char* controller;  // cgroup v2 controller
    const char* file;
    bool set;
    std::string value;  // what to write; the kernel's default when unset
  };
  std::array<Knob, 3> knobs{{
      {"memory-max", "memory", "memory.max", limits.memory_max.has_value(),
       limits.memory_max ? std::to_string(*limits.memory_max) : "max"},
      {"cpu-weight", "cpu", "cpu.weight", limits.cpu_weight.has_value(),
       limits.cpu_weight ? std::to_string(*limits.cpu_weight) : "100"},
      {"tasks-max", "pids", "pids.max", limits.tasks_max.has_value(),
       limits.tasks_max ? std::to_string(*limits.tasks_max) : "max"},
  }};
  for (const Knob& k : knobs) {
    if (!enabled_.count(k.controller)) {
      if (!k.set) continue;  // nothing asked, nothing to reset
      warnings.push_back(
          std::string(k.setting) + " ignored: the " + k.controller +
          (available_.count(k.controller)
               ? " controller could not be enabled in " + dir_ + "/cgroup.subtree_control"
               : " controller is not delegated to " + path_));
      continue;
    }
    if (k.set && std::string_view(k.setting) == "cpu-weight" &&
        (*limits.cpu_weight < 1 || *limits.cpu_weight > 10000)) {
      warnings.push_back("cpu-weight " + k.value + " ignored: it must be between 1 and 10000");
      continue;
    }
    if (!write_text(join(dir, k.file), k.value, &error))
      warnings.push_back(std::string(k.setting) + " not applied: " + error);
  }
  return warnings;
}

std::optional<std::string> CgroupTree::unit_of_pid(pid_t pid) const {
  if (pid <= 0) return std::nullopt;
  std::optional<std::string> text = read_text("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text) return std::nullopt;
  std::optional<std::string> where = parse_own_cgroup(*text);
  if (!where) return std::nullopt;
  return unit_from_cgroup_path(path_, *where);
}

}  // namespace procman::os
