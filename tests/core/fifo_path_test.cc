#include "core/fifo_path.h"

#include <gtest/gtest.h>

#include <string>

namespace procman::core {
namespace {

// Every expected value below was printed by rustc 1.95 running the seed's
// derive_fifo_path() logic (std::hash::DefaultHasher over std::path::Path).

TEST(RustPathHash, MatchesTheSeedsTestVector) {
  EXPECT_EQ(rust_path_hash("/tmp/demo/procman.yaml"), 0x119e10a5d752c8bdULL);
}

TEST(RustPathHash, MatchesRustForAssortedPaths) {
  struct Vector {
    const char* path;
    uint64_t hash;
  };
  const Vector vectors[] = {
      {"/a", 0x5efaa56e1b6d9df7ULL},
      {"/a/b", 0xe5f5d81d1bcc96f1ULL},
      {"/ab", 0xaeb469ec6751986dULL},
      {"a/b/c", 0xda512403de630c20ULL},
      {"/foo/bar", 0xc631fe19c6d2706bULL},
      {"/foobar", 0x9b850a644657bc8cULL},
      {"/a/../b", 0x2eac7dba4791980aULL},
      {"./a", 0xd9127419e9f03fd2ULL},
      {"/home/user/projects/my-app/procman.toml", 0x7b63649e4423f60aULL},
      {"/tmp/\xc3\xbcn\xc3\xaf c\xc3\xb8"
       "d\xc3\xa9/procman.toml",
       0xa8dd9d0ca0acb391ULL},
      {"/srv/x/procman.toml", 0x9689b9c5c9825e05ULL},
      {"/etc/procman/procman.toml", 0x43499fb32d3ead6eULL},
      {"/0123456789abcdef0123456789abcdef0123456789/p.toml", 0x5e9c71df889c3db6ULL},
  };
  for (const Vector& v : vectors) EXPECT_EQ(rust_path_hash(v.path), v.hash) << v.path;
}

TEST(RustPathHash, SeparatorsAndCurrentDirComponentsDoNotCount) {
  // Path's Hash skips "//", a trailing "/" and "/./", like Path::components().
  EXPECT_EQ(rust_path_hash("/a//b/"), rust_path_hash("/a/b"));
  EXPECT_EQ(rust_path_hash("/a/./b"), rust_path_hash("/a/b"));
  EXPECT_EQ(rust_path_hash("/a/."), rust_path_hash("/a"));
  EXPECT_EQ(rust_path_hash("//a"), rust_path_hash("/a"));
  // The root is a separator, not a component: "/a" and "a" hash alike.
  EXPECT_EQ(rust_path_hash("a"), rust_path_hash("/a"));
  // "..", and a leading "." of a relative path, are hashed like names.
  EXPECT_NE(rust_path_hash("/a/../b"), rust_path_hash("/b"));
  EXPECT_NE(rust_path_hash("./a"), rust_path_hash("a"));
}

TEST(RustPathHash, EmptyPathAndRootHashOnlyTheZeroAccumulator) {
  EXPECT_EQ(rust_path_hash(""), 0xbd60acb658c79e45ULL);
  EXPECT_EQ(rust_path_hash("/"), 0xbd60acb658c79e45ULL);
  EXPECT_EQ(rust_path_hash("/."), 0xbd60acb658c79e45ULL);
  EXPECT_EQ(rust_path_hash("/./"), 0xbd60acb658c79e45ULL);
}

TEST(RustPathHash, ComponentBoundariesChangeTheHash) {
  // Same payload bytes, different component lengths: the accumulator tells them apart.
  EXPECT_NE(rust_path_hash("/foo/bar"), rust_path_hash("/foobar"));
  EXPECT_NE(rust_path_hash("/a/b"), rust_path_hash("/ab"));
}

TEST(FifoFileName, MatchesTheSeedsTestVector) {
  EXPECT_EQ(fifo_file_name("/tmp/demo/procman.yaml"), "procman-demo-119e10a5d752c8bd.fifo");
}

TEST(FifoFileName, MatchesRustForAssortedConfigPaths) {
  struct Vector {
    const char* path;
    const char* name;
  };
  const Vector vectors[] = {
      {"/tmp/demo/procman.toml", "procman-demo-7d90a80dc2ac4709.fifo"},
      {"/tmp/demo2/procman.yaml", "procman-demo2-3b65974109fef5a1.fifo"},
      {"/home/user/projects/my-app/procman.toml", "procman-my-app-7b63649e4423f60a.fifo"},
      {"/etc/procman/procman.toml", "procman-procman-43499fb32d3ead6e.fifo"},
      {"/srv/my.app_v2-beta/procman.toml", "procman-myapp_v2-beta-deb11b5566d769d7.fifo"},
  };
  for (const Vector& v : vectors) EXPECT_EQ(fifo_file_name(v.path), v.name) << v.path;
}

TEST(FifoFileName, KeepsOnlyAsciiLettersDigitsUnderscoreAndDash) {
  EXPECT_EQ(fifo_file_name("/tmp/\xc3\xbcn\xc3\xaf c\xc3\xb8"
                           "d\xc3\xa9/procman.toml"),
            "procman-ncd-a8dd9d0ca0acb391.fifo");
}

TEST(FifoFileName, CutsTheDirectoryNameTo32CharactersAfterFiltering) {
  EXPECT_EQ(fifo_file_name("/0123456789abcdef0123456789abcdef0123456789/p.toml"),
            "procman-0123456789abcdef0123456789abcdef-5e9c71df889c3db6.fifo");
  // Spaces are dropped first, then 32 of what is left are kept.
  EXPECT_EQ(
      fifo_file_name("/tmp/a very long directory name that exceeds thirty-two chars/procman.toml"),
      "procman-averylongdirectorynamethatexceed-64a307af5d6c06f.fifo");
}

TEST(FifoFileName, HashHasNoZeroPaddingBeyondEightDigits) {
  // Rust's {:08x} is a minimum width: this hash is 0x064a307af5d6c06f, printed with 15 digits.
  const std::string name =
      fifo_file_name("/tmp/a very long directory name that exceeds thirty-two chars/procman.toml");
  EXPECT_NE(name.find("-64a307af5d6c06f.fifo"), std::string::npos) << name;
}

TEST(FifoFileName, UsesProcmanWhenTheDirectoryIsRootOrFiltersToNothing) {
  EXPECT_EQ(fifo_file_name("/procman.toml"), "procman-procman-744536684c25743b.fifo");
  EXPECT_EQ(fifo_file_name("/srv/.../procman.toml"), "procman-procman-35fe0cd6da62f600.fifo");
  // A bare file name has no parent name either.
  EXPECT_EQ(fifo_file_name("procman.toml"), "procman-procman-744536684c25743b.fifo");
}

TEST(FifoFileName, DifferentDirectoriesGiveDifferentNames) {
  EXPECT_NE(fifo_file_name("/a/demo/procman.toml"), fifo_file_name("/b/demo/procman.toml"));
  EXPECT_EQ(fifo_file_name("/a/demo/procman.toml"), fifo_file_name("/a/demo/procman.toml"));
}

TEST(FifoDirectory, PrefersAProcmanDirectoryUnderXdgRuntimeDir) {
  EXPECT_EQ(fifo_directory("/run/user/1000", "/var/tmp"), "/run/user/1000/procman");
  EXPECT_EQ(fifo_directory("/run/user/1000/", nullptr), "/run/user/1000/procman");
}

TEST(FifoDirectory, FallsBackToTmpdirThenTmp) {
  EXPECT_EQ(fifo_directory(nullptr, "/var/tmp"), "/var/tmp");
  EXPECT_EQ(fifo_directory("", "/var/tmp/"), "/var/tmp");
  EXPECT_EQ(fifo_directory("", ""), "/tmp");
  EXPECT_EQ(fifo_directory(nullptr, nullptr), "/tmp");
}

TEST(FifoDirectory, NeverDoublesTheRootSlash) {
  EXPECT_EQ(fifo_directory("/", nullptr), "/procman");
  EXPECT_EQ(fifo_directory(nullptr, "/"), "/");
}

TEST(StateDirectory, RuntimeDirectoryFirstThenTheUsersRuntimeDir) {
  EXPECT_EQ(state_directory_base({"/run/user/1000/procman", "/run/user/1000", "/s", "/h"}),
            "/run/user/1000/procman");
  // systemd passes every RuntimeDirectory= entry, colon-separated: the first is ours.
  EXPECT_EQ(state_directory_base({"/run/procman:/run/other", "", "", ""}), "/run/procman");
  EXPECT_EQ(state_directory_base({"", "/run/user/1000/", "/s", "/h"}), "/run/user/1000/procman");
}

TEST(StateDirectory, FallsBackToStateHomeThenHomeThenRun) {
  EXPECT_EQ(state_directory_base({"", "", "/home/ada/.state", "/home/ada"}),
            "/home/ada/.state/procman");
  EXPECT_EQ(state_directory_base({"", "", "", "/home/ada/"}), "/home/ada/.local/state/procman");
  EXPECT_EQ(state_directory_base({"", "", "", ""}), "/run/procman");
  // An empty first entry of RUNTIME_DIRECTORY is no directory at all.
  EXPECT_EQ(state_directory_base({":/run/other", "", "", "/h"}), "/h/.local/state/procman");
}

TEST(StateDirectory, NeverDoublesTheRootSlash) {
  EXPECT_EQ(state_directory_base({"", "/", "", ""}), "/procman");
  EXPECT_EQ(state_directory_base({"", "", "", "/"}), "/.local/state/procman");
}

}  // namespace
}  // namespace procman::core
