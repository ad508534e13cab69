// Tests for os/fifo: a real FIFO in a temp dir, read through a real EventLoop.
#include "os/fifo.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/fifo_path.h"
#include "core/fifo_protocol.h"

namespace procman::os {
namespace {

constexpr uint64_t kTimeoutUsec = 20'000'000;

class FifoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "procman-fifo-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/procman-demo-0123.fifo";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<FifoServer> make_server(const std::string& path, std::string* error) {
    return FifoServer::create(
        loop_, path, [this](std::string_view l) { lines_.emplace_back(l); },
        [this](const std::string& e) { errors_.push_back(e); }, error);
  }

  std::unique_ptr<FifoServer> make_server() {
    std::string error;
    auto server = make_server(path_, &error);
    EXPECT_NE(server, nullptr) << error;
    return server;
  }

  /// Runs the loop until `done()` holds; fails after a generous bound.
  void pump_until(const std::function<bool()>& done) {
    const uint64_t deadline = EventLoop::now_usec() + kTimeoutUsec;
    while (!done()) {
      if (EventLoop::now_usec() > deadline) {
        ADD_FAILURE() << "timed out with " << lines_.size() << " lines, " << errors_.size()
                      << " errors";
        return;
      }
      ASSERT_GE(sd_event_run(loop_.get(), 100'000), 0);
    }
  }
  void pump_until_lines(std::size_t n) {
    pump_until([&] { return lines_.size() >= n; });
  }
  /// One loop iteration that has something to dispatch (the bytes just written).
  void pump_once() { ASSERT_GT(sd_event_run(loop_.get(), kTimeoutUsec), 0); }

  /// A raw blocking writer, for bytes that are not whole lines.
  unique_fd writer() {
    unique_fd fd(open(path_.c_str(), O_WRONLY | O_CLOEXEC));
    EXPECT_TRUE(fd) << strerror(errno);
    return fd;
  }
  static void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
      ssize_t n = write(fd, s.data(), s.size());
      ASSERT_GT(n, 0) << strerror(errno);
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  EventLoop loop_;
  std::string dir_;
  std::string path_;
  std::vector<std::string> lines_;
  std::vector<std::string> errors_;
};

TEST_F(FifoTest, CreatesAPrivateFifoAndItsDirectoriesAndRemovesItAtTheEnd) {
  path_ = dir_ + "/run/procman/x.fifo";
  {
    auto server = make_server();
    ASSERT_NE(server, nullptr);
    EXPECT_EQ(server->path(), path_);
    struct stat st {};
    ASSERT_EQ(lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(stat((dir_ + "/run/procman").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    ASSERT_EQ(stat((dir_ + "/run").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
  }
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(FifoTest, DeliversLinesFromSuccessiveClientsWithoutAGap) {
  auto server = make_server();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(fifo_send(path_, "{\"type\":\"shutdown\"}\n"), std::nullopt);
  pump_until_lines(1);
  EXPECT_EQ(sd_event_run(loop_.get(), 0), 0) << "the FIFO reports a hang-up";
  // The previous client has closed; a reader that is also a writer saw no EOF and
  // the next client finds it listening straight away.
  EXPECT_EQ(fifo_send(path_, "second\nthird\n"), std::nullopt);
  pump_until_lines(3);
  EXPECT_EQ(lines_, (std::vector<std::string>{"{\"type\":\"shutdown\"}", "second", "third"}));
  EXPECT_TRUE(errors_.empty());
}

TEST_F(FifoTest, KeepsPartialLinesAcrossReads) {
  auto server = make_server();
  ASSERT_NE(server, nullptr);
  unique_fd w = writer();
  write_all(w.get(), "{\"type\":");
  pump_once();
  EXPECT_TRUE(lines_.empty());
  write_all(w.get(), "\"stop\",\"name\":\"web\"}\n{\"par");
  pump_until_lines(1);
  write_all(w.get(), "tial\":1}\n");
  pump_until_lines(2);
  EXPECT_EQ(lines_,
            (std::vector<std::string>{R"({"type":"stop","name":"web"})", R"({"partial":1})"}));
}

TEST_F(FifoTest, SkipsBlankLines) {
  auto server = make_server();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(fifo_send(path_, "\n   \n\t\r\nreal\n\n"), std::nullopt);
  pump_until_lines(1);
  EXPECT_EQ(fifo_send(path_, "after\n"), std::nullopt);
  pump_until_lines(2);
  EXPECT_EQ(lines_, (std::vector<std::string>{"real", "after"}));
}

TEST_F(FifoTest, DiscardsAnOverLongLineOnceAndKeepsReading) {
  auto server = make_server();
  ASSERT_NE(server, nullptr);
  const std::string at_limit(core::kMaxFifoLine, 'a');
  // 200 KiB is more than a pipe holds, so a second thread writes while the loop reads.
  std::thread client([&] {
    unique_fd w = writer();
    write_all(w.get(), std::string(200 * 1024, 'x') + "\nok\n" + at_limit + "\n");
    write_all(w.get(), std::string(core::kMaxFifoLine + 1, 'y') + "\nlast\n");
  });
  pump_until_lines(3);
  client.join();
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(lines_[0], "ok");
  EXPECT_EQ(lines_[1], at_limit);
  EXPECT_EQ(lines_[2], "last");
  EXPECT_EQ(errors_, (std::vector<std::string>{"line longer than 65536 bytes discarded",
                                               "line longer than 65536 bytes discarded"}));
}

TEST_F(FifoTest, ManyWritersNeverInterleaveLinesUpToPipeBuf) {
  auto server = make_server();
  ASSERT_NE(server, nullptr);
  constexpr int kWriters = 8;
  constexpr int kLinesEach = 50;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([this, w] {
      for (int i = 0; i < kLinesEach; ++i) {
        const std::string line =
            "writer " + std::to_string(w) + " line " + std::to_string(i) + std::string(200, '.');
        auto error = fifo_send(path_, line + "\n");
        EXPECT_EQ(error, std::nullopt) << *error;
      }
    });
  }
  pump_until_lines(kWriters * kLinesEach);
  for (auto& t : writers) t.join();
  std::set<std::string> got(lines_.begin(), lines_.end());
  EXPECT_EQ(got.size(), static_cast<std::size_t>(kWriters * kLinesEach));
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < kLinesEach; ++i) {
      const std::string line =
          "writer " + std::to_string(w) + " line " + std::to_string(i) + std::string(200, '.');
      EXPECT_EQ(got.count(line), 1u) << line;
    }
  }
  EXPECT_TRUE(errors_.empty());
}

TEST_F(FifoTest, ACallbackMayDestroyTheServer) {
  std::unique_ptr<FifoServer> server;
  std::string error;
  server = FifoServer::create(
      loop_, path_,
      [&](std::string_view l) {
        lines_.emplace_back(l);
        server.reset();
      },
      [](const std::string&) {}, &error);
  ASSERT_NE(server, nullptr) << error;
  EXPECT_EQ(fifo_send(path_, "one\ntwo\n"), std::nullopt);
  pump_until([&] { return server == nullptr; });
  EXPECT_EQ(lines_, (std::vector<std::string>{"one"}));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(FifoTest, ReusesAnExistingPrivateFifoAndLeavesItInPlace) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  {
    auto server = make_server();
    ASSERT_NE(server, nullptr);
    EXPECT_EQ(fifo_send(path_, "hi\n"), std::nullopt);
    pump_until_lines(1);
  }
  EXPECT_TRUE(std::filesystem::exists(path_)) << "create() did not make it, so it stays";
}

TEST_F(FifoTest, RefusesASymlink) {
  const std::string target = dir_ + "/real.fifo";
  ASSERT_EQ(mkfifo(target.c_str(), 0600), 0);
  ASSERT_EQ(symlink(target.c_str(), path_.c_str()), 0);
  std::string error;
  EXPECT_EQ(make_server(path_, &error), nullptr);
  EXPECT_EQ(error, path_ + ": is a symlink; refusing to use it");
}

TEST_F(FifoTest, RefusesARegularFile) {
  std::ofstream(path_) << "not a fifo";
  std::string error;
  EXPECT_EQ(make_server(path_, &error), nullptr);
  EXPECT_EQ(error, path_ + ": exists and is not a FIFO");
}

TEST_F(FifoTest, RefusesAFifoOthersCanUse) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  ASSERT_EQ(chmod(path_.c_str(), 0666), 0);
  std::string error;
  EXPECT_EQ(make_server(path_, &error), nullptr);
  EXPECT_EQ(error, path_ + ": FIFO mode 0666 lets group or others use it; expected 0600");
}

TEST_F(FifoTest, RefusesSomeoneElsesFifo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  ASSERT_EQ(chown(path_.c_str(), 65534, 65534), 0);
  std::string error;
  EXPECT_EQ(make_server(path_, &error), nullptr);
  EXPECT_EQ(error, path_ + ": FIFO is owned by uid 65534, not by us (uid 0)");
}

TEST_F(FifoTest, RefusesADirectoryAnyoneCanWriteWithoutTheStickyBit) {
  const std::string open_dir = dir_ + "/open";
  ASSERT_EQ(mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(open_dir.c_str(), 0777), 0);
  std::string error;
  EXPECT_EQ(make_server(open_dir + "/x.fifo", &error), nullptr);
  EXPECT_EQ(error, open_dir +
                       ": is writable by group or others without the sticky bit (mode 0777); "
                       "anyone could replace the FIFO");
  ASSERT_EQ(chmod(open_dir.c_str(), 01777), 0);  // like /tmp: fine
  EXPECT_NE(make_server(open_dir + "/x.fifo", &error), nullptr) << error;
}

TEST_F(FifoTest, RefusesAFifoAnotherProcessAlreadyReads) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  unique_fd other_reader(open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(other_reader);
  std::string error;
  EXPECT_EQ(make_server(path_, &error), nullptr);
  EXPECT_EQ(error, path_ + ": another process (another procmand?) is already reading this FIFO");
}

TEST_F(FifoTest, SendSaysNobodyListensWhenThereIsNoFifo) {
  EXPECT_EQ(fifo_send(path_, "x\n"), "no procmand is listening on " + path_);
}

TEST_F(FifoTest, SendSaysNobodyListensOnAStaleFifoInsteadOfBlocking) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  // A blocking open would hang here (and the test with it): no reader exists.
  EXPECT_EQ(fifo_send(path_, "x\n"), "no procmand is listening on " + path_);
}

TEST_F(FifoTest, SendRefusesToWriteIntoSomethingElse) {
  std::ofstream(path_) << "precious";
  EXPECT_EQ(fifo_send(path_, "x\n"), path_ + ": is not a FIFO");
  std::ifstream in(path_);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "precious");
}

TEST_F(FifoTest, AdoptsAnOpenFifoAndLeavesThePathAlone) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  {
    unique_fd fd(open(path_.c_str(), O_RDWR | O_NONBLOCK));
    std::string error;
    auto server = FifoServer::adopt(
        loop_, std::move(fd), path_, [this](std::string_view l) { lines_.emplace_back(l); },
        [this](const std::string& e) { errors_.push_back(e); }, &error);
    ASSERT_NE(server, nullptr) << error;
    EXPECT_EQ(fifo_send(path_, "adopted\n"), std::nullopt);
    pump_until_lines(1);
  }
  EXPECT_EQ(lines_, (std::vector<std::string>{"adopted"}));
  EXPECT_TRUE(std::filesystem::exists(path_));
}

TEST_F(FifoTest, AdoptsAReadOnlyDescriptorWithoutSeeingEof) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  unique_fd fd(open(path_.c_str(), O_RDONLY | O_NONBLOCK));
  ASSERT_TRUE(fd);
  std::string error;
  auto server = FifoServer::adopt(
      loop_, std::move(fd), path_, [this](std::string_view l) { lines_.emplace_back(l); },
      [this](const std::string& e) { errors_.push_back(e); }, &error);
  ASSERT_NE(server, nullptr) << error;
  EXPECT_EQ(fifo_send(path_, "one\n"), std::nullopt);
  pump_until_lines(1);
  EXPECT_EQ(sd_event_run(loop_.get(), 0), 0) << "the FIFO reports a hang-up";
  // The first client is gone; the server still counts as a writer, so the FIFO
  // has no hang-up to report and a second client gets through.
  EXPECT_EQ(fifo_send(path_, "two\n"), std::nullopt);
  pump_until_lines(2);
  EXPECT_EQ(lines_, (std::vector<std::string>{"one", "two"}));
}

TEST_F(FifoTest, AdoptRefusesWhatIsNotAFifo) {
  std::ofstream(path_) << "x";
  unique_fd fd(open(path_.c_str(), O_RDONLY));
  ASSERT_TRUE(fd);
  const int n = fd.get();
  std::string error;
  auto server = FifoServer::adopt(
      loop_, std::move(fd), path_, [](std::string_view) {}, [](const std::string&) {}, &error);
  EXPECT_EQ(server, nullptr);
  EXPECT_EQ(error, path_ + ": descriptor " + std::to_string(n) + " is not a FIFO");
}

TEST_F(FifoTest, CanonicalPathResolvesLinksAndNamesAMissingFile) {
  const std::string real = dir_ + "/real";
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  std::ofstream(real + "/procman.toml") << "";
  ASSERT_EQ(symlink(real.c_str(), (dir_ + "/link").c_str()), 0);
  std::string error;
  const std::string canonical_dir = std::filesystem::canonical(real).string();
  EXPECT_EQ(canonical_path(dir_ + "/link/./procman.toml", &error), canonical_dir + "/procman.toml");
  EXPECT_EQ(canonical_path(dir_ + "/nope.toml", &error), std::nullopt);
  EXPECT_EQ(error,
            "cannot resolve config path '" + dir_ + "/nope.toml': No such file or directory");
}

/// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST_F(FifoTest, FifoPathForConfigUsesTheEnvironmentAndTheCanonicalPath) {
  const std::string demo = dir_ + "/demo";
  ASSERT_EQ(mkdir(demo.c_str(), 0700), 0);
  std::ofstream(demo + "/procman.yaml") << "";
  const std::string canonical = std::filesystem::canonical(demo + "/procman.yaml").string();
  std::string error;
  {
    ScopedEnv xdg("XDG_RUNTIME_DIR", "/run/user/4242");
    ScopedEnv tmp("TMPDIR", "/var/tmp");
    EXPECT_EQ(fifo_path_for_config(demo + "/../demo/procman.yaml", &error),
              "/run/user/4242/procman/" + core::fifo_file_name(canonical));
  }
  {
    ScopedEnv xdg("XDG_RUNTIME_DIR", nullptr);
    ScopedEnv tmp("TMPDIR", "/var/tmp/");
    EXPECT_EQ(fifo_path_for_config(demo + "/procman.yaml", &error),
              "/var/tmp/" + core::fifo_file_name(canonical));
  }
  EXPECT_EQ(fifo_path_for_config(demo + "/missing.yaml", &error), std::nullopt);
  EXPECT_NE(error.find("cannot resolve config path"), std::string::npos);
}

}  // namespace
}  // namespace procman::os
