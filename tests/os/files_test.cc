// Tests for os/files, and for os/local_time (kept here until the build lists a
// tests/os/local_time_test.cc).
#include "os/files.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "os/local_time.h"

namespace procman::os {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("procman-files-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST_F(FilesTest, WriteFileAtomicReplacesContentAndLeavesNoTempFile) {
  std::string error;
  ASSERT_TRUE(write_file_atomic(path("state.json"), "first", &error)) << error;
  ASSERT_TRUE(write_file_atomic(path("state.json"), std::string("sec\0nd", 6), &error)) << error;
  EXPECT_EQ(slurp(path("state.json")), std::string("sec\0nd", 6));
  struct stat st {};
  ASSERT_EQ(stat(path("state.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST_F(FilesTest, WriteFileAtomicHandlesEmptyAndLargeContent) {
  std::string error;
  ASSERT_TRUE(write_file_atomic(path("empty"), "", &error)) << error;
  EXPECT_EQ(slurp(path("empty")), "");
  std::string big(3 << 20, 'x');
  ASSERT_TRUE(write_file_atomic(path("big"), big, &error)) << error;
  EXPECT_EQ(slurp(path("big")), big);
}

TEST_F(FilesTest, WriteFileAtomicReportsAMissingDirectory) {
  std::string error;
  EXPECT_FALSE(write_file_atomic(path("nope/state.json"), "x", &error));
  EXPECT_NE(error.find(path("nope/")), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
}

TEST_F(FilesTest, ReadFileReturnsContentOrAPreciseError) {
  std::ofstream(path("a")) << "hello\nworld";
  std::string error;
  EXPECT_EQ(read_file(path("a"), &error), "hello\nworld");
  EXPECT_EQ(read_file(path("missing"), &error), std::nullopt);
  EXPECT_EQ(error, path("missing") + ": No such file or directory");
}

TEST_F(FilesTest, MakeDirsCreatesNestedDirectoriesAndAcceptsExistingOnes) {
  std::string error;
  const std::string deep = path("a/b/c");
  ASSERT_TRUE(make_dirs(deep, 0700, &error)) << error;
  EXPECT_TRUE(fs::is_directory(deep));
  EXPECT_TRUE(make_dirs(deep + "/", 0700, &error)) << error;
  struct stat st {};
  ASSERT_EQ(stat(deep.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(FilesTest, MakeDirsRefusesUnsafeResults) {
  std::string error;
  ASSERT_EQ(mkdir(path("open").c_str(), 0700), 0);
  ASSERT_EQ(chmod(path("open").c_str(), 0777), 0);
  EXPECT_FALSE(make_dirs(path("open"), 0700, &error));
  EXPECT_EQ(error, path("open") + ": is writable by group or others (mode 0777)");

  std::ofstream(path("file")) << "x";
  EXPECT_FALSE(make_dirs(path("file"), 0700, &error));
  EXPECT_EQ(error, path("file") + ": not a directory");

  fs::create_directory(path("real"));
  fs::create_directory_symlink(path("real"), path("link"));
  EXPECT_FALSE(make_dirs(path("link"), 0700, &error));
  EXPECT_EQ(error, path("link") + ": is a symbolic link, not a directory");

  EXPECT_FALSE(make_dirs(path("file/sub"), 0700, &error));
  EXPECT_EQ(error, path("file/sub") + ": mkdir: Not a directory");

  if (geteuid() == 0) {
    ASSERT_EQ(mkdir(path("theirs").c_str(), 0700), 0);
    ASSERT_EQ(chown(path("theirs").c_str(), 65534, 65534), 0);
    EXPECT_FALSE(make_dirs(path("theirs"), 0700, &error));
    EXPECT_EQ(error, path("theirs") + ": owned by uid 65534, not by us (uid 0)");
  }
}

TEST_F(FilesTest, FileLockIsExclusiveNamesTheHolderAndIsReleasedOnDestruction) {
  std::string error;
  const std::string lock_path = path("procmand.lock");
  {
    std::optional<FileLock> first = FileLock::acquire(lock_path, &error);
    ASSERT_TRUE(first) << error;
    EXPECT_EQ(first->path(), lock_path);
    EXPECT_EQ(slurp(lock_path), std::to_string(getpid()) + "\n");
    struct stat st {};
    ASSERT_EQ(stat(lock_path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    // flock() conflicts between separate open files even within one process.
    EXPECT_FALSE(FileLock::acquire(lock_path, &error));
    EXPECT_EQ(error, lock_path + ": already locked by pid " + std::to_string(getpid()));

    // And from another process.
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      std::string e;
      _exit(FileLock::acquire(lock_path, &e) ? 1 : 0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    std::optional<FileLock> moved = std::move(first);
    EXPECT_FALSE(FileLock::acquire(lock_path, &error));
  }
  std::optional<FileLock> again = FileLock::acquire(lock_path, &error);
  EXPECT_TRUE(again) << error;
}

TEST_F(FilesTest, FileLockWithoutAPidSaysSo) {
  const std::string lock_path = path("procmand.lock");
  std::string error;
  std::optional<FileLock> held = FileLock::acquire(lock_path, &error);
  ASSERT_TRUE(held) << error;
  ASSERT_EQ(truncate(lock_path.c_str(), 0), 0);  // as if the holder had not written it yet
  EXPECT_FALSE(FileLock::acquire(lock_path, &error));
  EXPECT_EQ(error, lock_path + ": already locked by another process");
}

using Env = std::map<std::string, std::string>;

std::optional<Env> env(std::string_view text, std::string* error) {
  return parse_env_file(text, "app.env", error);
}

TEST(EnvFile, ParsesAssignmentsCommentsAndBlankLines) {
  std::string error;
  auto parsed =
      env("# comment\n"
          "; another comment\n"
          "\n"
          "   \t\n"
          "A=1\n"
          "  B = two words  \n"
          "EMPTY=\n"
          "C=x=y#not-a-comment\n"
          "export D=exported\n"
          "A=overridden\n",
          &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, (Env{{"A", "overridden"},
                          {"B", "two words"},
                          {"C", "x=y#not-a-comment"},
                          {"D", "exported"},
                          {"EMPTY", ""}}));
}

TEST(EnvFile, HandlesQuotesEscapesAndContinuations) {
  std::string error;
  auto parsed =
      env("S='single $HOME \\n kept'\n"
          "D=\"double \\\"quoted\\\" \\\\ \\$x \\n\"\n"
          "M=\"multi\nline\"\n"
          "J=pre\"mid\"'post'\n"
          "Q=\"  padded  \"\n"
          "U=a\\ b\\\\c\n"
          "L=first \\\n"
          "  second\n"
          "W=crlf\r\n"
          "AFTER=ok\n",
          &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->at("S"), "single $HOME \\n kept");
  EXPECT_EQ(parsed->at("D"), "double \"quoted\" \\ $x \\n");
  EXPECT_EQ(parsed->at("M"), "multi\nline");
  EXPECT_EQ(parsed->at("J"), "premidpost");
  EXPECT_EQ(parsed->at("Q"), "  padded  ");
  EXPECT_EQ(parsed->at("U"), "a b\\c");
  EXPECT_EQ(parsed->at("L"), "first   second");
  EXPECT_EQ(parsed->at("W"), "crlf");
  EXPECT_EQ(parsed->at("AFTER"), "ok");
}

TEST(EnvFile, ReportsTheLineOfABadEntry) {
  std::string error;
  EXPECT_FALSE(env("A=1\n\nthis is not an assignment\n", &error));
  EXPECT_EQ(error, "app.env:3: expected KEY=VALUE, got \"this is not an assignment\"");
  EXPECT_FALSE(env("A=\"multi\nline\"\n1BAD=x\n", &error));
  EXPECT_EQ(error, "app.env:3: invalid variable name \"1BAD\"");
  EXPECT_FALSE(env("=x\n", &error));
  EXPECT_EQ(error, "app.env:1: invalid variable name \"\"");
  EXPECT_FALSE(env("A=1\nB=\"open\nstill open\n", &error));
  EXPECT_EQ(error, "app.env:2: unterminated double-quoted value");
  EXPECT_FALSE(env("B='open", &error));
  EXPECT_EQ(error, "app.env:1: unterminated single-quoted value");
  EXPECT_FALSE(env("A-B=1", &error));
  EXPECT_EQ(error, "app.env:1: invalid variable name \"A-B\"");
}

TEST_F(FilesTest, ReadEnvFileUsesThePathInErrors) {
  std::ofstream(path("app.env")) << "OK=1\nbroken\n";
  std::string error;
  EXPECT_FALSE(read_env_file(path("app.env"), &error));
  EXPECT_EQ(error, path("app.env") + ":2: expected KEY=VALUE, got \"broken\"");
  std::ofstream(path("good.env")) << "OK=1\n";
  EXPECT_EQ(read_env_file(path("good.env"), &error), (Env{{"OK", "1"}}));
  EXPECT_FALSE(read_env_file(path("missing.env"), &error));
  EXPECT_EQ(error, path("missing.env") + ": No such file or directory");
}

TEST(EscapeFilename, KeepsSafeBytesAndEscapesTheRest) {
  EXPECT_EQ(escape_filename("web-1.worker_A"), "web-1.worker_A");
  EXPECT_EQ(escape_filename("a/b c%"), "a%2Fb%20c%25");
  EXPECT_EQ(escape_filename("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(escape_filename(std::string_view("\0", 1)), "%00");
}

TEST(EscapeFilename, NeverEmptyDotOrDotDot) {
  EXPECT_EQ(escape_filename(""), "%");
  EXPECT_EQ(escape_filename("."), "%2E");
  EXPECT_EQ(escape_filename(".."), "%2E%2E");
  EXPECT_EQ(escape_filename("..."), "...");
  EXPECT_EQ(escape_filename(".hidden"), ".hidden");
}

TEST(EscapeFilename, IsInjective) {
  std::set<std::string> seen;
  for (const char* s : {"", "%", ".", "..", "%2E", "a/b", "a%2Fb", "%25", "_", "-"}) {
    EXPECT_TRUE(seen.insert(escape_filename(s)).second) << s;
  }
}

// ---- os/local_time ----

class LocalTimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* tz = std::getenv("TZ")) saved_tz_ = tz;
  }
  void TearDown() override {
    if (saved_tz_) {
      setenv("TZ", saved_tz_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  static void use_tz(const char* tz) {
    setenv("TZ", tz, 1);
    tzset();
  }
  static std::chrono::system_clock::time_point utc(int64_t seconds) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
  }
  std::optional<std::string> saved_tz_;
};

using core::LocalDateTime;

TEST_F(LocalTimeTest, UtcIsTheIdentity) {
  use_tz("UTC");
  // 2024-10-01T12:00:00Z
  EXPECT_EQ(to_local(utc(1727784000)), (LocalDateTime{2024, 10, 1, 12, 0, 0}));
  EXPECT_EQ(from_local({2024, 10, 1, 12, 0, 0}), utc(1727784000));
  EXPECT_EQ(to_local(utc(0) + std::chrono::milliseconds(-1)),
            (LocalDateTime{1969, 12, 31, 23, 59, 59}));  // rounds toward the past
}

TEST_F(LocalTimeTest, MadridFollowsSummerAndWinterTime) {
  use_tz("Europe/Madrid");
  EXPECT_EQ(to_local(utc(1727784000)), (LocalDateTime{2024, 10, 1, 14, 0, 0}));  // CEST +2
  EXPECT_EQ(to_local(utc(1704110400)), (LocalDateTime{2024, 1, 1, 13, 0, 0}));   // CET +1
  EXPECT_EQ(from_local({2024, 10, 1, 14, 0, 0}), utc(1727784000));
  EXPECT_EQ(from_local({2024, 1, 1, 13, 0, 0}), utc(1704110400));
}

TEST_F(LocalTimeTest, MadridGapMovesForwardByTheJump) {
  use_tz("Europe/Madrid");
  // 2024-03-31 02:00 CET jumps to 03:00 CEST; 02:30 never shows on the clock.
  std::optional<std::chrono::system_clock::time_point> t = from_local({2024, 3, 31, 2, 30, 0});
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, utc(1711848600));  // 01:30Z
  EXPECT_EQ(to_local(*t), (LocalDateTime{2024, 3, 31, 3, 30, 0}));
}

TEST_F(LocalTimeTest, MadridOverlapPicksTheEarlierInstant) {
  use_tz("Europe/Madrid");
  // 2024-10-27 03:00 CEST falls back to 02:00 CET; 02:30 shows twice.
  EXPECT_EQ(from_local({2024, 10, 27, 2, 30, 0}), utc(1729989000));  // 00:30Z, CEST
  EXPECT_EQ(to_local(utc(1729989000)), (LocalDateTime{2024, 10, 27, 2, 30, 0}));
  EXPECT_EQ(to_local(utc(1729992600)), (LocalDateTime{2024, 10, 27, 2, 30, 0}));
  EXPECT_EQ(from_local({2024, 10, 27, 3, 0, 0}), utc(1729994400));  // after: unambiguous
}

TEST_F(LocalTimeTest, RejectsImpossibleDates) {
  use_tz("UTC");
  EXPECT_FALSE(from_local({2023, 2, 29, 0, 0, 0}));
  EXPECT_TRUE(from_local({2024, 2, 29, 0, 0, 0}));
  EXPECT_FALSE(from_local({2024, 13, 1, 0, 0, 0}));
  EXPECT_FALSE(from_local({2024, 4, 31, 0, 0, 0}));
  EXPECT_FALSE(from_local({2024, 1, 1, 24, 0, 0}));
  EXPECT_FALSE(from_local({2024, 1, 1, 0, 60, 0}));
  EXPECT_FALSE(from_local({2024, 1, 0, 0, 0, 0}));
}

TEST_F(LocalTimeTest, RoundTripsEveryHourAcrossAMadridYear) {
  use_tz("Europe/Madrid");
  for (int64_t t = 1704067200; t < 1735689600; t += 3600) {  // 2024, hourly
    std::optional<std::chrono::system_clock::time_point> back = from_local(to_local(utc(t)));
    ASSERT_TRUE(back);
    // Only the second pass through an overlap maps to its earlier twin, an hour before.
    EXPECT_TRUE(*back == utc(t) || (*back == utc(t - 3600) && t == 1729990800)) << t;
  }
}

}  // namespace
}  // namespace procman::os
