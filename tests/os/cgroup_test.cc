// Tests for os/cgroup: the parsing and naming helpers on text, CgroupTree on a fake
// cgroupfs in a temporary directory, and, when running as root with a writable cgroup
// v2 mount, on real cgroups created below this process's own cgroup.
#include "os/cgroup.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace procman::os {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kTimeoutMs = 20'000;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void put(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// ---------------------------------------------------------------------------
// Parsing helpers

constexpr const char* kDebian12Mountinfo =
    "22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "26 22 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:8 - securityfs "
    "securityfs rw\n"
    "29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "30 22 0:27 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw\n";

constexpr const char* kHybridMountinfo =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

constexpr const char* kV1OnlyMountinfo =
    "31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup "
    "cgroup rw,xattr,name=systemd\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup "
    "cgroup rw,memory\n";

TEST(CgroupParse, FindsTheCgroup2MountOfAUnifiedSystem) {
  EXPECT_EQ(parse_cgroup2_mount(kDebian12Mountinfo), "/sys/fs/cgroup");
}

TEST(CgroupParse, FindsTheUnifiedMountOfAHybridSystem) {
  EXPECT_EQ(parse_cgroup2_mount(kHybridMountinfo), "/sys/fs/cgroup/unified");
}

TEST(CgroupParse, HasNoCgroup2MountOnAV1OnlySystem) {
  EXPECT_EQ(parse_cgroup2_mount(kV1OnlyMountinfo), std::nullopt);
  EXPECT_EQ(parse_cgroup2_mount(""), std::nullopt);
}

TEST(CgroupParse, DecodesOctalEscapesInTheMountPoint) {
  EXPECT_EQ(parse_cgroup2_mount("50 1 0:40 / /mnt/cg\\040two\\134x rw - cgroup2 none rw\n"),
            "/mnt/cg two\\x");
}

TEST(CgroupParse, PrefersAMountOfTheWholeHierarchyOverABindMountedSubtree) {
  std::string text =
      "60 1 0:40 /docker/abc /mnt/sub rw shared:3 - cgroup2 cgroup2 rw\n"
      "61 1 0:40 / /mnt/all rw - cgroup2 cgroup2 rw\n";
  std::optional<Cgroup2Mount> m = find_cgroup2_mount(text);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/mnt/all");
  EXPECT_EQ(m->root, "/");

  m = find_cgroup2_mount("60 1 0:40 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(m->root, "/docker/abc");
}

TEST(CgroupParse, IgnoresMalformedMountinfoLines) {
  EXPECT_EQ(parse_cgroup2_mount("garbage - cgroup2\n41 31 0:38 / /x rw cgroup2\n"), std::nullopt);
  // A file system whose *source* is called cgroup2 is not a cgroup2 mount.
  EXPECT_EQ(parse_cgroup2_mount("41 31 0:38 / /x rw - tmpfs cgroup2 rw\n"), std::nullopt);
}

TEST(CgroupParse, ReadsTheV2LineOfProcSelfCgroup) {
  EXPECT_EQ(parse_own_cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                             "procman.service\n"),
            "/user.slice/user-1000.slice/user@1000.service/app.slice/procman.service");
  // Hybrid: v1 lines first, the v2 line last.
  EXPECT_EQ(parse_own_cgroup("9:name=systemd:/system.slice/procman.service\n"
                             "4:memory:/system.slice/procman.service\n"
                             "1:cpu:/\n"
                             "0::/system.slice/procman.service\n"),
            "/system.slice/procman.service");
  EXPECT_EQ(parse_own_cgroup("0::/\n"), "/");
  EXPECT_EQ(parse_own_cgroup("0::/no/newline"), "/no/newline");
}

TEST(CgroupParse, HasNoOwnCgroupOnAV1OnlySystem) {
  EXPECT_EQ(parse_own_cgroup("12:pids:/user.slice\n1:name=systemd:/user.slice/x.service\n"),
            std::nullopt);
  EXPECT_EQ(parse_own_cgroup(""), std::nullopt);
}

// ---------------------------------------------------------------------------
// Unit names <-> directory names

TEST(CgroupName, EscapesReversiblyAndSafely) {
  const std::vector<std::string> names = {"web",
                                          "web@2",
                                          "db.primary",
                                          "a_b-c",
                                          "a b",
                                          "x/y",
                                          "100%",
                                          ".",
                                          "..",
                                          "cgroup.procs",
                                          "memory.max",
                                          "supervisor",
                                          "ünïcödé",
                                          "tab\t",
                                          std::string("nul\0byte", 8),
                                          "~!$&*()[]{};:'\",<>?|"};
  for (const std::string& unit : names) {
    std::string error;
    std::optional<std::string> dir = unit_cgroup_name(unit, &error);
    ASSERT_TRUE(dir) << unit << ": " << error;
    EXPECT_EQ(dir->substr(0, 2), "p-") << *dir;
    EXPECT_EQ(dir->find('/'), std::string::npos) << *dir;
    EXPECT_EQ(dir->find('\0'), std::string::npos) << *dir;
    EXPECT_EQ(unit_from_cgroup_name(*dir), unit) << *dir;
  }
  EXPECT_EQ(unit_cgroup_name("web@2"), "p-web@2");
  EXPECT_EQ(unit_cgroup_name("a b/c"), "p-a%20b%2Fc");
  EXPECT_EQ(unit_cgroup_name("100%"), "p-100%25");
}

TEST(CgroupName, RefusesEmptyAndOverlongNames) {
  std::string error;
  EXPECT_EQ(unit_cgroup_name("", &error), std::nullopt);
  EXPECT_EQ(error, "the unit name is empty");

  EXPECT_TRUE(unit_cgroup_name(std::string(253, 'a')));  // "p-" + 253 = 255 bytes
  EXPECT_EQ(unit_cgroup_name(std::string(254, 'a'), &error), std::nullopt);
  EXPECT_EQ(error,
            "the unit name is too long for a cgroup directory (256 bytes once escaped, "
            "at most 255)");
  EXPECT_EQ(unit_cgroup_name(std::string(100, ' '), &error), std::nullopt);
  EXPECT_THAT(error, HasSubstr("302 bytes once escaped"));
}

TEST(CgroupName, RejectsDirectoriesItDidNotMake) {
  for (const char* dir : {"supervisor", "p-", "x-web", "web", "cgroup.procs", "p-a b", "p-a%2f",
                          "p-%41", "p-%4", "p-%", "p-a%zz", "P-web", "p-ü"}) {
    EXPECT_EQ(unit_from_cgroup_name(dir), std::nullopt) << dir;
  }
}

TEST(CgroupName, MapsCgroupPathsBackToUnits) {
  const std::string tree = "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service";
  EXPECT_EQ(unit_from_cgroup_path(tree, tree + "/p-web"), "web");
  EXPECT_EQ(unit_from_cgroup_path(tree, tree + "/p-web@2/nested/deeper"), "web@2");
  EXPECT_EQ(unit_from_cgroup_path(tree, tree + "/p-a%20b"), "a b");
  EXPECT_EQ(unit_from_cgroup_path(tree + "/", tree + "/p-web"), "web");
  EXPECT_EQ(unit_from_cgroup_path(tree, tree + "/supervisor"), std::nullopt);
  EXPECT_EQ(unit_from_cgroup_path(tree, tree), std::nullopt);
  EXPECT_EQ(unit_from_cgroup_path(tree, tree + "2/p-web"), std::nullopt);
  EXPECT_EQ(unit_from_cgroup_path(tree, "/system.slice/p-web"), std::nullopt);
  EXPECT_EQ(unit_from_cgroup_path(tree, "/"), std::nullopt);
  EXPECT_EQ(unit_from_cgroup_path("/", "/p-web/x"), "web");
}

// ---------------------------------------------------------------------------
// A fake cgroupfs: plain files in a temporary directory.

class CgroupFake : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "procman-cgroup-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    root_ = tmpl;
    own_ = root_ + kOwn;
    fs::create_directories(own_);
    put(own_ + "/cgroup.events", "populated 0\nfrozen 0\n");
    put(own_ + "/cgroup.procs", "");
    put(own_ + "/cgroup.controllers", "cpu memory pids\n");
    put(own_ + "/cgroup.subtree_control", "cpu memory pids\n");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  CgroupOptions options() const {
    CgroupOptions o;
    o.mount_root = root_;
    o.own_cgroup = kOwn;
    o.move_pid = -1;
    return o;
  }

  std::optional<CgroupTree> open_tree() {
    auto r = CgroupTree::open(options());
    if (auto* why = std::get_if<std::string>(&r)) {
      ADD_FAILURE() << "open: " << *why;
      return std::nullopt;
    }
    return std::move(std::get<CgroupTree>(r));
  }

  /// A unit directory as the kernel would populate it when all three controllers are on.
  void make_unit_dir(const std::string& dir_name) {
    const std::string d = own_ + "/" + dir_name;
    fs::create_directories(d);
    for (const char* f : {"cgroup.procs", "cgroup.events", "memory.max", "cpu.weight", "pids.max"})
      put(d + "/" + f, "");
  }

  static constexpr const char* kOwn = "/user.slice/user-1000.slice/procman.service";
  std::string root_;
  std::string own_;
};

TEST_F(CgroupFake, OpensADelegatedCgroupAndCreatesTheSupervisorLeaf) {
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;
  EXPECT_EQ(tree.path(), kOwn);
  EXPECT_EQ(tree.dir(), own_);
  EXPECT_EQ(tree.supervisor_path(), std::string(kOwn) + "/supervisor");
  EXPECT_TRUE(fs::is_directory(own_ + "/supervisor"));
  EXPECT_THAT(tree.warnings(), ::testing::IsEmpty());
  EXPECT_EQ(tree.unit_path("web@2"), std::string(kOwn) + "/p-web@2");
  EXPECT_EQ(tree.unit_dir("web@2"), own_ + "/p-web@2");
  EXPECT_EQ(tree.events_file("web"), own_ + "/p-web/cgroup.events");
  EXPECT_EQ(tree.unit_path(""), "");
  // Idempotent: a restarted procmand finds the leaf in place.
  std::optional<CgroupTree> again_opened = open_tree();
  ASSERT_TRUE(again_opened);
  CgroupTree& again = *again_opened;
  EXPECT_EQ(again.path(), kOwn);
}

TEST_F(CgroupFake, MovesTheGivenPidIntoTheLeaf) {
  fs::create_directories(own_ + "/supervisor");
  put(own_ + "/supervisor/cgroup.procs", "");
  CgroupOptions o = options();
  o.move_pid = 4242;
  ASSERT_TRUE(std::holds_alternative<CgroupTree>(CgroupTree::open(o)));
  EXPECT_EQ(slurp(own_ + "/supervisor/cgroup.procs"), "4242");
}

TEST_F(CgroupFake, ReportsAFailedMoveAsUnavailable) {
  CgroupOptions o = options();
  o.move_pid = 4242;  // the fake leaf has no cgroup.procs
  auto r = CgroupTree::open(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r), "cannot move pid 4242 into " + own_ +
                                          "/supervisor/cgroup.procs: No such file or directory");
}

TEST_F(CgroupFake, RefusesTheRootCgroup) {
  fs::remove(own_ + "/cgroup.events");
  auto r = CgroupTree::open(options());
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r), "procmand runs in the root cgroup (" + own_ +
                                          "), which cannot be delegated; run it as a service "
                                          "with Delegate=yes");
}

TEST_F(CgroupFake, RefusesAMissingCgroupDirectory) {
  CgroupOptions o = options();
  o.own_cgroup = "/nope.service";
  auto r = CgroupTree::open(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r), "our cgroup directory " + root_ +
                                          "/nope.service does not exist: No such file or "
                                          "directory");
}

TEST_F(CgroupFake, RefusesACgroupNotWritableByUs) {
  // Root writes anywhere, so check as an unprivileged user in a child.
  ASSERT_EQ(chmod(root_.c_str(), 0755), 0);
  const CgroupOptions o = options();
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(2);
    auto r = CgroupTree::open(o);
    std::string why = std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "opened";
    (void)!write(fds[1], why.data(), why.size());
    _exit(0);
  }
  close(fds[1]);
  std::string why;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) why.append(buf, n);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(why, own_ + " is not writable by uid 65534 (Permission denied): the cgroup " + kOwn +
                     " is not delegated to us (is Delegate=yes set on the service?)");
}

TEST_F(CgroupFake, EnablesOfferedControllersThatAreNotYetEnabled) {
  put(own_ + "/cgroup.controllers", "cpuset cpu io memory pids\n");
  put(own_ + "/cgroup.subtree_control", "memory\n");
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;
  EXPECT_EQ(tree.available_controllers(),
            (std::set<std::string>{"cpuset", "cpu", "io", "memory", "pids"}));
  EXPECT_EQ(tree.enabled_controllers(), (std::set<std::string>{"cpu", "memory", "pids"}));
  EXPECT_THAT(tree.warnings(), ::testing::IsEmpty());
  EXPECT_EQ(slurp(own_ + "/cgroup.subtree_control"), "+pids");  // the fake keeps the last write
}

TEST_F(CgroupFake, EnsureReusesAnExistingUnitCgroup) {
  make_unit_dir("p-web");
  put(own_ + "/p-web/cgroup.procs", "old");
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;
  auto r = tree.ensure("web");
  ASSERT_TRUE(std::holds_alternative<UnitCgroup>(r)) << std::get<std::string>(r);
  UnitCgroup& cg = std::get<UnitCgroup>(r);
  EXPECT_EQ(cg.path, std::string(kOwn) + "/p-web");
  EXPECT_EQ(cg.dir, own_ + "/p-web");
  EXPECT_TRUE(cg.procs_fd);
  EXPECT_TRUE(cg.dir_fd);
  ASSERT_TRUE(UnitCgroup::join_in_child(cg.procs_fd.get()));
  EXPECT_EQ(slurp(own_ + "/p-web/cgroup.procs"), "0ld");  // one "0" written, no truncation
}

TEST_F(CgroupFake, EnsureRefusesBadNamesAndReportsFailures) {
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;
  auto r = tree.ensure("");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r), "no cgroup for unit '': the unit name is empty");
  // A plain directory has no cgroup.procs: not a cgroup.
  r = tree.ensure("web");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r),
            "opening cgroup: " + own_ + "/p-web/cgroup.procs: No such file or directory");
  put(own_ + "/p-file", "");
  r = tree.ensure("file");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r), "creating cgroup: " + own_ + "/p-file: File exists");
}

TEST_F(CgroupFake, ApplyLimitsWritesTheControllerFiles) {
  make_unit_dir("p-web");
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;
  CgroupLimits limits;
  limits.memory_max = 512ull << 20;
  limits.cpu_weight = 200;
  limits.tasks_max = 64;
  EXPECT_THAT(tree.apply_limits("web", limits), ::testing::IsEmpty());
  EXPECT_EQ(slurp(own_ + "/p-web/memory.max"), "536870912");
  EXPECT_EQ(slurp(own_ + "/p-web/cpu.weight"), "200");
  EXPECT_EQ(slurp(own_ + "/p-web/pids.max"), "64");

  // Unset limits are reset, so a reused cgroup keeps nothing from an older config.
  EXPECT_THAT(tree.apply_limits("web", CgroupLimits{}), ::testing::IsEmpty());
  EXPECT_EQ(slurp(own_ + "/p-web/memory.max"), "max");
  EXPECT_EQ(slurp(own_ + "/p-web/cpu.weight"), "100");
  EXPECT_EQ(slurp(own_ + "/p-web/pids.max"), "max");
}

TEST_F(CgroupFake, ApplyLimitsWarnsPreciselyWhenControllersAreNotDelegated) {
  put(own_ + "/cgroup.controllers", "\n");
  put(own_ + "/cgroup.subtree_control", "\n");
  make_unit_dir("p-web");
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;
  EXPECT_THAT(tree.apply_limits("web", CgroupLimits{}), ::testing::IsEmpty());
  CgroupLimits limits;
  limits.memory_max = 1 << 20;
  limits.cpu_weight = 50;
  limits.tasks_max = 10;
  EXPECT_THAT(tree.apply_limits("web", limits),
              ElementsAre("memory-max ignored: the memory controller is not delegated to "
                          "/user.slice/user-1000.slice/procman.service",
                          "cpu-weight ignored: the cpu controller is not delegated to "
                          "/user.slice/user-1000.slice/procman.service",
                          "tasks-max ignored: the pids controller is not delegated to "
                          "/user.slice/user-1000.slice/procman.service"));
  EXPECT_EQ(slurp(own_ + "/p-web/memory.max"), "");  // untouched
  EXPECT_EQ(tree.memory_current("web"), std::nullopt);
}

TEST_F(CgroupFake, ApplyLimitsWarnsWhenAnOfferedControllerCouldNotBeEnabled) {
  put(own_ + "/cgroup.controllers", "memory pids\n");
  fs::remove(own_ + "/cgroup.subtree_control");
  fs::create_directories(own_ + "/cgroup.subtree_control");  // every write to it fails
  make_unit_dir("p-web");
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;
  EXPECT_THAT(tree.warnings(), ElementsAre("cannot enable the memory controller: " + own_ +
                                               "/cgroup.subtree_control: Is a directory",
                                           "cannot enable the pids controller: " + own_ +
                                               "/cgroup.subtree_control: Is a directory"));
  CgroupLimits limits;
  limits.memory_max = 1 << 20;
  EXPECT_THAT(tree.apply_limits("web", limits),
              ElementsAre("memory-max ignored: the memory controller could not be enabled in " +
                          own_ + "/cgroup.subtree_control"));
}

TEST_F(CgroupFake, ApplyLimitsRejectsAnOutOfRangeCpuWeightAndReportsWriteErrors) {
  make_unit_dir("p-web");
  fs::remove(own_ + "/p-web/pids.max");
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;
  CgroupLimits limits;
  limits.cpu_weight = 0;
  limits.tasks_max = 5;
  EXPECT_THAT(
      tree.apply_limits("web", limits),
      ElementsAre("cpu-weight 0 ignored: it must be between 1 and 10000",
                  "tasks-max not applied: " + own_ + "/p-web/pids.max: No such file or directory"));
  limits.cpu_weight = 10001;
  EXPECT_THAT(tree.apply_limits("web", limits)[0], HasSubstr("cpu-weight 10001 ignored"));
  EXPECT_THAT(tree.apply_limits("", limits),
              ElementsAre("limits ignored for unit '': the unit name is empty"));
}

TEST_F(CgroupFake, ReadsUsageFromTheUnitCgroup) {
  make_unit_dir("p-web");
  put(own_ + "/p-web/cpu.stat", "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n");
  put(own_ + "/p-web/memory.current", "8192\n");
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;
  EXPECT_EQ(tree.cpu_usage_usec("web"), 123456u);
  EXPECT_EQ(tree.memory_current("web"), 8192u);
  EXPECT_EQ(tree.cpu_usage_usec("absent"), std::nullopt);
  EXPECT_EQ(tree.memory_current("absent"), std::nullopt);
}

TEST_F(CgroupFake, ListsExistingUnitsAndIgnoresForeignDirectories) {
  for (const char* d : {"p-web", "p-db@2", "p-a%20b", "junk", "p-a b"}) make_unit_dir(d);
  std::optional<CgroupTree> tree_opened = open_tree();
  ASSERT_TRUE(tree_opened);
  CgroupTree& tree = *tree_opened;  // creates "supervisor", which is no unit either
  EXPECT_THAT(tree.existing_units(), ElementsAre("a b", "db@2", "web"));
  EXPECT_FALSE(tree.populated("web"));
  put(own_ + "/p-web/cgroup.events", "populated 1\nfrozen 0\n");
  EXPECT_TRUE(tree.populated("web"));
  EXPECT_FALSE(tree.populated("absent"));
}

// ---------------------------------------------------------------------------
// Real cgroups, below this process's own cgroup v2.

/// Waits, woken by inotify on `events_file`, until `done()` holds or the timeout passes.
bool wait_for(const std::string& events_file, const std::function<bool()>& done) {
  int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0) return false;
  bool ok = false;
  // Watch first, then check: a change between the two still wakes us.
  if (inotify_add_watch(in, events_file.c_str(), IN_MODIFY) >= 0 || errno == ENOENT) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    for (;;) {
      if (done()) {
        ok = true;
        break;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) break;
      pollfd p{in, POLLIN, 0};
      // A watch on a vanished file never fires: bound each wait so done() is re-checked.
      if (poll(&p, 1, static_cast<int>(std::min<long>(left, 1000))) > 0) {
        char buf[4096];
        while (read(in, buf, sizeof buf) > 0) {
        }
      }
    }
  }
  close(in);
  return ok;
}

void remove_cgroup_tree(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory()) remove_cgroup_tree(e.path().string());
  rmdir(dir.c_str());
}

/// The result of start_tree(): the child that joined (already reaped) left a grandchild.
struct Tree {
  pid_t grandchild = -1;
};

class CgroupReal : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
    std::optional<std::string> mount = parse_cgroup2_mount(slurp("/proc/self/mountinfo"));
    if (!mount) GTEST_SKIP() << "no cgroup2 mount in /proc/self/mountinfo (cgroup v1 only)";
    std::optional<std::string> own = parse_own_cgroup(slurp("/proc/self/cgroup"));
    if (!own) GTEST_SKIP() << "/proc/self/cgroup has no 0:: line";
    static int counter = 0;
    const std::string name =
        "procman-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
    path_ = (*own == "/" ? "" : *own) + "/" + name;
    base_ = *mount + path_;
    if (mkdir(base_.c_str(), 0755) != 0) {
      std::string why = std::strerror(errno);
      base_.clear();
      GTEST_SKIP() << "cannot create a cgroup below ours (" << *mount << *own << "): " << why;
    }
    // A stand-in for procmand: it is what open() moves into the supervisor leaf, since
    // moving this test process would affect the tests that follow.
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    helper_ = fork();
    ASSERT_GE(helper_, 0);
    if (helper_ == 0) {
      close(fds[1]);
      char c;
      (void)!read(fds[0], &c, 1);
      _exit(0);
    }
    close(fds[0]);
    helper_pipe_ = fds[1];
    tree_ = open_tree(helper_);
    ASSERT_TRUE(tree_);
  }

  void TearDown() override {
    tree_.reset();
    if (!base_.empty()) {
      // Whatever a failed test left running goes, the helper included: processes forked
      // here hold the helper's pipe, so closing it alone would not end the helper.
      std::ofstream(base_ + "/cgroup.kill") << "1";
    }
    if (helper_ > 0) {
      close(helper_pipe_);
      kill(helper_, SIGKILL);
      waitpid(helper_, nullptr, 0);
    }
    if (base_.empty()) return;
    EXPECT_TRUE(wait_for(base_ + "/cgroup.events", [&] {
      return slurp(base_ + "/cgroup.events").find("populated 0") != std::string::npos;
    }));
    remove_cgroup_tree(base_);
    EXPECT_FALSE(fs::exists(base_)) << base_;
  }

  std::optional<CgroupTree> open_tree(pid_t move, bool use_cgroup_kill = true) {
    CgroupOptions o;
    o.own_cgroup = path_;
    o.move_pid = move;
    o.use_cgroup_kill = use_cgroup_kill;
    auto r = CgroupTree::open(o);
    if (auto* why = std::get_if<std::string>(&r)) {
      ADD_FAILURE() << "open: " << *why;
      return std::nullopt;
    }
    return std::move(std::get<CgroupTree>(r));
  }

  /// Forks a child that joins the unit's cgroup the way procmand's children do, then
  /// double-forks: the grandchild starts a new session and waits for a signal while its
  /// parent exits. Returns the grandchild, which no one here can wait for.
  Tree start_tree(const UnitCgroup& cg) {
    Tree t;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return t;
    }
    pid_t child = fork();
    if (child == 0) {
      if (!UnitCgroup::join_in_child(cg.procs_fd.get())) _exit(2);
      pid_t g = fork();
      if (g < 0) _exit(3);
      if (g == 0) {
        setsid();
        signal(SIGTERM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        pid_t me = getpid();
        (void)!write(fds[1], &me, sizeof me);
        for (;;) pause();
      }
      _exit(0);
    }
    close(fds[1]);
    int status = -1;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, kTimeoutMs) == 1 && read(fds[0], &t.grandchild, sizeof t.grandchild) ==
                                            static_cast<ssize_t>(sizeof t.grandchild)) {
    } else {
      ADD_FAILURE() << "no grandchild reported";
      t.grandchild = -1;
    }
    close(fds[0]);
    return t;
  }

  std::optional<UnitCgroup> ensure(const CgroupTree& tree, const std::string& unit) {
    auto r = tree.ensure(unit);
    if (auto* why = std::get_if<std::string>(&r)) {
      ADD_FAILURE() << "ensure: " << *why;
      return std::nullopt;
    }
    return std::move(std::get<UnitCgroup>(r));
  }

  bool wait_unpopulated(const CgroupTree& tree, const std::string& unit) {
    return wait_for(tree.events_file(unit), [&] { return !tree.populated(unit); });
  }

  std::string path_;  // cgroup path of our temporary "own" cgroup
  std::string base_;  // its directory
  pid_t helper_ = -1;
  int helper_pipe_ = -1;
  std::optional<CgroupTree> tree_;
};

TEST_F(CgroupReal, OpenMovesTheGivenPidIntoTheSupervisorLeafAndIsIdempotent) {
  EXPECT_EQ(parse_own_cgroup(slurp("/proc/" + std::to_string(helper_) + "/cgroup")),
            path_ + "/supervisor");
  EXPECT_EQ(slurp(base_ + "/cgroup.procs"), "");
  EXPECT_EQ(tree_->path(), path_);
  EXPECT_EQ(tree_->dir(), base_);
  for (const std::string& w : tree_->warnings()) ADD_FAILURE() << "warning: " << w;
  std::optional<CgroupTree> again_opened = open_tree(-1);
  ASSERT_TRUE(again_opened);
  CgroupTree& again = *again_opened;
  EXPECT_EQ(again.supervisor_path(), path_ + "/supervisor");
  EXPECT_EQ(again.unit_of_pid(helper_), std::nullopt);  // procmand's own leaf is no unit
}

TEST_F(CgroupReal, OpenByDefaultMovesTheCallingProcess) {
  const std::string own = path_;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    CgroupOptions o;
    o.own_cgroup = own;
    auto r = CgroupTree::open(o);
    if (!std::holds_alternative<CgroupTree>(r)) _exit(2);
    std::optional<std::string> now = parse_own_cgroup(slurp("/proc/self/cgroup"));
    _exit(now == own + "/supervisor" ? 0 : 3);
  }
  int status = -1;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST_F(CgroupReal, FollowsADoubleForkedTreeAndKillsItWithSigkill) {
  std::optional<UnitCgroup> made = ensure(*tree_, "web");
  ASSERT_TRUE(made);
  UnitCgroup& cg = *made;
  EXPECT_EQ(cg.path, path_ + "/p-web");
  Tree t = start_tree(cg);
  ASSERT_GT(t.grandchild, 0);
  EXPECT_THAT(tree_->pids("web"), ElementsAre(t.grandchild));
  EXPECT_TRUE(tree_->populated("web"));
  EXPECT_EQ(tree_->unit_of_pid(t.grandchild), "web");
  EXPECT_EQ(tree_->unit_of_pid(getpid()), std::nullopt);
  EXPECT_TRUE(tree_->cpu_usage_usec("web").has_value());

  std::string error;
  EXPECT_TRUE(tree_->remove("web", &error) == false);
  EXPECT_EQ(error, base_ + "/p-web: processes are still running in it");

  ASSERT_TRUE(tree_->kill("web", SIGKILL, &error)) << error;
  EXPECT_TRUE(wait_unpopulated(*tree_, "web"));
  EXPECT_THAT(tree_->pids("web"), ::testing::IsEmpty());
  // (unit_of_pid() of the grandchild may still say "web" until init reaps the zombie.)
  EXPECT_TRUE(tree_->remove("web", &error)) << error;
  EXPECT_FALSE(fs::exists(base_ + "/p-web"));
  EXPECT_TRUE(tree_->remove("web", &error)) << "absent counts as removed: " << error;
  EXPECT_TRUE(tree_->kill("web", SIGKILL, &error)) << "nothing to kill: " << error;
}

TEST_F(CgroupReal, KillsATreeWithSigtermMemberByMember) {
  std::optional<UnitCgroup> made = ensure(*tree_, "worker@1");
  ASSERT_TRUE(made);
  UnitCgroup& cg = *made;
  Tree a = start_tree(cg);
  Tree b = start_tree(cg);
  ASSERT_GT(a.grandchild, 0);
  ASSERT_GT(b.grandchild, 0);
  EXPECT_EQ(tree_->pids("worker@1").size(), 2u);
  std::string error;
  ASSERT_TRUE(tree_->kill("worker@1", SIGTERM, &error)) << error;
  EXPECT_TRUE(wait_unpopulated(*tree_, "worker@1"));
  EXPECT_TRUE(tree_->remove("worker@1", &error)) << error;
}

TEST_F(CgroupReal, KillsWithSigkillWithoutCgroupKillAsOnOlderKernels) {
  std::optional<CgroupTree> old_kernel_opened = open_tree(-1, /*use_cgroup_kill=*/false);
  ASSERT_TRUE(old_kernel_opened);
  CgroupTree& old_kernel = *old_kernel_opened;
  std::optional<UnitCgroup> made = ensure(old_kernel, "db");
  ASSERT_TRUE(made);
  UnitCgroup& cg = *made;
  Tree t = start_tree(cg);
  ASSERT_GT(t.grandchild, 0);
  // A process nested in a cgroup of its own below the unit is still part of the tree.
  ASSERT_EQ(mkdir((cg.dir + "/inner").c_str(), 0755), 0);
  std::ofstream(cg.dir + "/inner/cgroup.procs") << t.grandchild;
  EXPECT_EQ(parse_own_cgroup(slurp("/proc/" + std::to_string(t.grandchild) + "/cgroup")),
            cg.path + "/inner");
  EXPECT_THAT(old_kernel.pids("db"), ElementsAre(t.grandchild));
  EXPECT_EQ(old_kernel.unit_of_pid(t.grandchild), "db");
  std::string error;
  ASSERT_TRUE(old_kernel.kill("db", SIGKILL, &error)) << error;
  EXPECT_TRUE(wait_unpopulated(old_kernel, "db"));
  EXPECT_TRUE(old_kernel.remove("db", &error)) << error;  // nested cgroup included
  EXPECT_FALSE(fs::exists(cg.dir));
}

TEST_F(CgroupReal, CloneIntoCgroupUsesTheDirectoryDescriptor) {
  std::optional<UnitCgroup> made = ensure(*tree_, "cloned");
  ASSERT_TRUE(made);
  UnitCgroup& cg = *made;
  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(cg.dir_fd.get());
  long rc = syscall(SYS_clone3, &args, sizeof args);
  if (rc == 0) {
    for (;;) pause();
  }
  ASSERT_GT(rc, 0) << std::strerror(errno);
  const pid_t child = static_cast<pid_t>(rc);
  EXPECT_EQ(tree_->unit_of_pid(child), "cloned");
  std::string error;
  EXPECT_TRUE(tree_->kill("cloned", SIGKILL, &error)) << error;
  int status = 0;
  EXPECT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(wait_unpopulated(*tree_, "cloned"));
}

TEST_F(CgroupReal, FindsUnitCgroupsAgainAfterReopening) {
  for (const char* unit : {"web", "db@2", "a b"}) ASSERT_TRUE(ensure(*tree_, unit));
  ASSERT_EQ(mkdir((base_ + "/foreign").c_str(), 0755), 0);
  std::optional<CgroupTree> again_opened = open_tree(-1);
  ASSERT_TRUE(again_opened);
  CgroupTree& again = *again_opened;
  EXPECT_THAT(again.existing_units(), ElementsAre("a b", "db@2", "web"));
  for (const std::string& unit : again.existing_units()) {
    EXPECT_FALSE(again.populated(unit));
    EXPECT_TRUE(again.remove(unit));
  }
  EXPECT_THAT(again.existing_units(), ::testing::IsEmpty());
}

TEST_F(CgroupReal, AppliesLimitsOrSaysWhyNot) {
  ASSERT_TRUE(ensure(*tree_, "web"));
  CgroupLimits limits;
  limits.memory_max = 256ull << 20;
  limits.cpu_weight = 300;
  limits.tasks_max = 32;
  std::vector<std::string> warnings = tree_->apply_limits("web", limits);
  const auto& on = tree_->enabled_controllers();
  std::vector<std::string> expected;
  for (auto [setting, controller] :
       {std::pair{"memory-max", "memory"}, {"cpu-weight", "cpu"}, {"tasks-max", "pids"}}) {
    if (!on.count(controller)) {
      expected.push_back(std::string(setting) + " ignored: the " + controller +
                         " controller is not delegated to " + path_);
    }
  }
  EXPECT_EQ(warnings, expected);
  const std::string dir = tree_->unit_dir("web");
  if (on.count("memory")) {
    EXPECT_EQ(slurp(dir + "/memory.max"), "268435456\n");
    EXPECT_TRUE(tree_->memory_current("web").has_value());
  } else {
    EXPECT_EQ(tree_->memory_current("web"), std::nullopt);
  }
  if (on.count("cpu")) {
    EXPECT_EQ(slurp(dir + "/cpu.weight"), "300\n");
  }
  if (on.count("pids")) {
    EXPECT_EQ(slurp(dir + "/pids.max"), "32\n");
  }
}

TEST(CgroupJoin, FailsOnABadDescriptor) {
  EXPECT_FALSE(UnitCgroup::join_in_child(-1));
  EXPECT_EQ(errno, EBADF);
}

}  // namespace
}  // namespace procman::os
