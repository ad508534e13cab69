// Tests for os/output: FIFOs with real children, the line splitter, the ring.
#include "os/output.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "os/spawner.h"

namespace procman::os {

// Readable gtest failure messages (found by ADL; internal linkage keeps it per test file).
[[maybe_unused]] static void PrintTo(const ExitStatus& s, std::ostream* os) { *os << describe(s); }

namespace {

constexpr int kTimeoutMs = 20'000;

class OutputFifoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("procman-output-test-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "web.stdout").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string path_;
};

/// Reads from the FIFO until `want` bytes have arrived (bounded).
std::string read_fifo(OutputFifo& fifo, std::size_t want) {
  std::string out, error;
  while (out.size() < want) {
    pollfd p{fifo.fd(), POLLIN, 0};
    if (poll(&p, 1, kTimeoutMs) != 1) {
      ADD_FAILURE() << "timed out with " << out.size() << " of " << want << " bytes";
      break;
    }
    EXPECT_EQ(p.revents & (POLLHUP | POLLERR), 0);
    if (!fifo.drain(out, &error)) {
      ADD_FAILURE() << error;
      break;
    }
  }
  return out;
}

std::string read_line(int fd) {
  std::string out;
  char c;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kTimeoutMs) <= 0) {
      ADD_FAILURE() << "timed out waiting for a line";
      return out;
    }
    if (read(fd, &c, 1) != 1 || c == '\n') return out;
    out += c;
  }
}

std::optional<ExitStatus> wait_exit(const SpawnResult& r) {
  pollfd p{r.pidfd.get(), POLLIN, 0};
  if (poll(&p, 1, kTimeoutMs) != 1) {
    ADD_FAILURE() << "child did not exit in time";
    kill(r.pid, SIGKILL);
  }
  int status = 0;
  if (waitpid(r.pid, &status, 0) != r.pid) return std::nullopt;
  return exit_status_from_wait_status(status);
}

SpawnResult spawn_writer(const std::string& script, int stdout_fd, int stderr_fd = -1) {
  SpawnRequest req;
  req.argv = {"/bin/sh", "-c", script};
  req.env = {"PATH=/usr/bin:/bin"};
  req.stdout_fd = stdout_fd;
  req.stderr_fd = stderr_fd;
  SpawnResult r = spawn(req);
  EXPECT_EQ(r.error, "");
  return r;
}

std::string numbered_lines(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}

TEST_F(OutputFifoTest, CarriesAChildsOutputAndNeverHangsUpAfterItExits) {
  std::string error;
  std::optional<OutputFifo> fifo = OutputFifo::create(path_, &error);
  ASSERT_TRUE(fifo) << error;
  unique_fd child_end = fifo->open_child_end(&error);
  ASSERT_TRUE(child_end) << error;

  SpawnResult r = spawn_writer("printf 'hello\\nworld\\n'", child_end.get());
  child_end.reset();
  EXPECT_EQ(read_fifo(*fifo, 12), "hello\nworld\n");
  EXPECT_EQ(wait_exit(r), (ExitStatus{false, 0, false}));

  // The writer is gone, but our O_RDWR end keeps the FIFO quiet: no POLLHUP busy loop.
  pollfd p{fifo->fd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);
  std::string more;
  EXPECT_TRUE(fifo->drain(more, &error));
  EXPECT_EQ(more, "");
}

TEST_F(OutputFifoTest, ChildKeepsWritingWithoutReaderAndANewReaderGetsEverything) {
  std::string error;
  unique_fd child_end;
  {
    std::optional<OutputFifo> fifo = OutputFifo::create(path_, &error);
    ASSERT_TRUE(fifo) << error;
    child_end = fifo->open_child_end(&error);
    ASSERT_TRUE(child_end) << error;
  }  // procmand "dies": its read side is closed before the child writes anything

  int sync[2];
  ASSERT_EQ(pipe2(sync, O_CLOEXEC), 0);
  unique_fd sync_read(sync[0]), sync_write(sync[1]);
  // 1000 lines (under the 64 KiB pipe buffer), then "done" on stderr, then stay alive
  // holding the FIFO, so its buffered data survives until the new reader attaches.
  SpawnResult r = spawn_writer(
      "i=0; while [ $i -lt 1000 ]; do echo line $i; i=$((i+1)); done; echo done >&2; "
      "exec sleep 1000",
      child_end.get(), sync_write.get());
  child_end.reset();
  sync_write.reset();
  ASSERT_EQ(read_line(sync_read.get()), "done");

  std::optional<OutputFifo> again = OutputFifo::attach(path_, &error);  // procmand restarted
  ASSERT_TRUE(again) << error;
  const std::string expected = numbered_lines(1000);
  EXPECT_EQ(read_fifo(*again, expected.size()), expected);

  // Still alive (no SIGPIPE): it dies only from our signal.
  ASSERT_TRUE(signal_pidfd(r.pidfd.get(), SIGTERM));
  EXPECT_EQ(wait_exit(r), (ExitStatus{true, SIGTERM, false}));
}

TEST_F(OutputFifoTest, WriterBlocksWhenTheBufferIsFullAndResumesWhenRead) {
  std::string error;
  std::optional<OutputFifo> fifo = OutputFifo::create(path_, &error);
  ASSERT_TRUE(fifo) << error;
  unique_fd child_end = fifo->open_child_end(&error);
  const int capacity = fcntl(fifo->fd(), F_GETPIPE_SZ);
  ASSERT_GT(capacity, 0);
  const std::size_t total = static_cast<std::size_t>(capacity) * 3;

  SpawnResult r = spawn_writer("head -c " + std::to_string(total) + " /dev/zero", child_end.get());
  child_end.reset();
  // Wait (bounded) until the buffer is full: the writer now blocks instead of failing.
  int queued = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (queued < capacity && std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(ioctl(fifo->fd(), FIONREAD, &queued), 0);
    std::this_thread::yield();
  }
  EXPECT_EQ(queued, capacity);
  pollfd p{r.pidfd.get(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "the writer must still be running";

  EXPECT_EQ(read_fifo(*fifo, total), std::string(total, '\0'));
  EXPECT_EQ(wait_exit(r), (ExitStatus{false, 0, false}));
}

TEST_F(OutputFifoTest, DrainStopsAtMaxBytes) {
  std::string error;
  std::optional<OutputFifo> fifo = OutputFifo::create(path_, &error);
  ASSERT_TRUE(fifo) << error;
  unique_fd writer = fifo->open_child_end(&error);
  ASSERT_EQ(write(writer.get(), "0123456789", 10), 10);
  std::string out;
  EXPECT_TRUE(fifo->drain(out, &error, 4));
  EXPECT_EQ(out, "0123");
  EXPECT_TRUE(fifo->drain(out, &error));
  EXPECT_EQ(out, "0123456789");
}

TEST_F(OutputFifoTest, CreatesMode0600AndReplacesAStaleFifo) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0644), 0);
  unique_fd stale(open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(stale);
  ASSERT_EQ(write(stale.get(), "stale", 5), 5);

  std::string error;
  std::optional<OutputFifo> fifo = OutputFifo::create(path_, &error);
  ASSERT_TRUE(fifo) << error;
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::string out;
  EXPECT_TRUE(fifo->drain(out, &error));
  EXPECT_EQ(out, "") << "a fresh FIFO, not the stale one";

  OutputFifo::remove(path_);
  EXPECT_FALSE(std::filesystem::exists(path_));
  out.clear();
  EXPECT_TRUE(fifo->drain(out, &error)) << "still usable after the path is removed";
}

TEST_F(OutputFifoTest, RefusesASymlinkedPath) {
  const std::string target = (dir_ / "target").string();
  ASSERT_EQ(mkfifo(target.c_str(), 0600), 0);
  std::filesystem::create_symlink(target, path_);
  std::string error;
  EXPECT_FALSE(OutputFifo::create(path_, &error));
  EXPECT_EQ(error, path_ + ": is a symbolic link; refusing to use it");
  error.clear();
  EXPECT_FALSE(OutputFifo::attach(path_, &error));
  EXPECT_EQ(error, path_ + ": is a symbolic link; refusing to use it");
  EXPECT_TRUE(std::filesystem::is_symlink(path_));
}

TEST_F(OutputFifoTest, RefusesARegularFileAndLeavesItAlone) {
  std::ofstream(path_) << "precious";
  std::string error;
  EXPECT_FALSE(OutputFifo::create(path_, &error));
  EXPECT_EQ(error, path_ + ": exists and is not a FIFO");
  EXPECT_FALSE(OutputFifo::attach(path_, &error));
  EXPECT_EQ(error, path_ + ": exists and is not a FIFO");
  std::string content;
  std::getline(std::ifstream(path_), content);
  EXPECT_EQ(content, "precious");
}

TEST_F(OutputFifoTest, RefusesSomeoneElsesFifo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  ASSERT_EQ(chown(path_.c_str(), 65534, 65534), 0);
  std::string error;
  EXPECT_FALSE(OutputFifo::create(path_, &error));
  EXPECT_EQ(error, path_ + ": FIFO is owned by uid 65534, not by us");
  EXPECT_FALSE(OutputFifo::attach(path_, &error));
  EXPECT_TRUE(std::filesystem::exists(path_));
}

TEST_F(OutputFifoTest, AttachOrCreateMakesAFifoOfMode0600WhateverTheUmask) {
  const mode_t saved = umask(0277);  // would leave 0400: the child could not write
  std::string error;
  std::optional<OutputFifo> fifo = OutputFifo::attach_or_create(path_, &error);
  umask(saved);
  ASSERT_TRUE(fifo) << error;
  struct stat st {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  unique_fd child_end = fifo->open_child_end(&error);
  ASSERT_TRUE(child_end) << error;
  ASSERT_EQ(write(child_end.get(), "hi\n", 3), 3);
  EXPECT_EQ(read_fifo(*fifo, 3), "hi\n");
}

TEST_F(OutputFifoTest, AttachOrCreateKeepsWhatAnExistingFifoHolds) {
  // procmand restarted while its child kept writing: nothing may be lost.
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  unique_fd writer(open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(writer);
  ASSERT_EQ(write(writer.get(), "kept\n", 5), 5);
  std::string error;
  std::optional<OutputFifo> fifo = OutputFifo::attach_or_create(path_, &error);
  ASSERT_TRUE(fifo) << error;
  EXPECT_EQ(read_fifo(*fifo, 5), "kept\n");
}

TEST_F(OutputFifoTest, AttachOrCreateRefusesWhatIsNotOurFifoAndLeavesItAlone) {
  std::ofstream(path_) << "precious";
  std::string error;
  EXPECT_FALSE(OutputFifo::attach_or_create(path_, &error));
  EXPECT_EQ(error, path_ + ": exists and is not a FIFO");
  std::string content;
  std::getline(std::ifstream(path_), content);
  EXPECT_EQ(content, "precious");

  std::filesystem::remove(path_);
  const std::string target = (dir_ / "target").string();
  ASSERT_EQ(mkfifo(target.c_str(), 0600), 0);
  std::filesystem::create_symlink(target, path_);
  error.clear();
  EXPECT_FALSE(OutputFifo::attach_or_create(path_, &error));
  EXPECT_EQ(error, path_ + ": is a symbolic link; refusing to use it");
  EXPECT_TRUE(std::filesystem::is_symlink(path_));

  error.clear();
  EXPECT_FALSE(OutputFifo::attach_or_create((dir_ / "missing" / "web.stdout").string(), &error));
  EXPECT_EQ(error,
            (dir_ / "missing" / "web.stdout").string() + ": mkfifo: No such file or directory");
}

TEST_F(OutputFifoTest, AttachToAMissingPathFails) {
  std::string error;
  EXPECT_FALSE(OutputFifo::attach(path_, &error));
  EXPECT_EQ(error, path_ + ": No such file or directory");
}

/// Runs the splitter over `feeds`, optionally one byte at a time, then flushes.
std::vector<std::string> split(const std::vector<std::string>& feeds, std::size_t max_line,
                               bool byte_by_byte = false, std::size_t* max_pending = nullptr) {
  LineSplitter s(max_line);
  std::vector<std::string> lines;
  auto on_line = [&](std::string_view l) { lines.emplace_back(l); };
  for (const std::string& f : feeds) {
    if (byte_by_byte) {
      for (char c : f) {
        s.feed(std::string_view(&c, 1), on_line);
        if (max_pending) *max_pending = std::max(*max_pending, s.pending());
      }
    } else {
      s.feed(f, on_line);
    }
  }
  s.flush(on_line);
  return lines;
}

using Lines = std::vector<std::string>;

TEST(LineSplitter, JoinsLinesAcrossFeedsAndFlushesThePartialOne) {
  EXPECT_EQ(split({"ab", "c\nde", "f\n\ng"}, 100), (Lines{"abc", "def", "", "g"}));
  EXPECT_EQ(split({"ab", "c\nde", "f\n\ng"}, 100, true), (Lines{"abc", "def", "", "g"}));
}

TEST(LineSplitter, FlushWithNothingPendingEmitsNothing) {
  EXPECT_EQ(split({"a\n"}, 100), (Lines{"a"}));
  EXPECT_EQ(split({}, 100), (Lines{}));
}

TEST(LineSplitter, StripsOneTrailingCarriageReturn) {
  EXPECT_EQ(split({"a\r\n\r\nb\r\r\nc\rd\n"}, 100), (Lines{"a", "", "b\r", "c\rd"}));
  EXPECT_EQ(split({"a\r", "\n"}, 100), (Lines{"a"}));
}

TEST(LineSplitter, CutsLongLinesIntoMaxLinePieces) {
  for (bool bytewise : {false, true}) {
    std::size_t max_pending = 0;
    EXPECT_EQ(split({"abcdefghij\nk\n"}, 4, bytewise, &max_pending),
              (Lines{"abcd", "efgh", "ij", "k"}));
    EXPECT_LE(max_pending, 5u);
    EXPECT_EQ(split({"abcdefgh\n"}, 4, bytewise), (Lines{"abcd", "efgh"}));
    EXPECT_EQ(split({"abcde\n"}, 4, bytewise), (Lines{"abcd", "e"}));
    EXPECT_EQ(split({"abcdefghij"}, 4, bytewise), (Lines{"abcd", "efgh", "ij"}));
  }
  std::size_t max_pending = 0;
  split({std::string(10000, 'x')}, 64, true, &max_pending);
  EXPECT_LE(max_pending, 65u);
}

TEST(LineSplitter, LineOfExactlyMaxLineWithCrlfStaysWhole) {
  EXPECT_EQ(split({"abcd\r\n"}, 4), (Lines{"abcd"}));
  EXPECT_EQ(split({"abcd\r\n"}, 4, true), (Lines{"abcd"}));
  EXPECT_EQ(split({"ab", "cd\r", "\nx\n"}, 4), (Lines{"abcd", "x"}));
}

TEST(LineRing, KeepsTheLastLinesOldestFirst) {
  LineRing ring(3, 1000);
  for (int i = 1; i <= 5; ++i) ring.push("l" + std::to_string(i), i % 2 == 0, 100u + i);
  EXPECT_EQ(ring.size(), 3u);
  std::vector<LineRing::Entry> all = ring.last(10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].line, "l3");
  EXPECT_EQ(all[2].line, "l5");
  EXPECT_FALSE(all[2].is_stderr);
  EXPECT_TRUE(all[1].is_stderr);
  EXPECT_EQ(all[1].realtime_usec, 104u);
  std::vector<LineRing::Entry> two = ring.last(2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].line, "l4");
  EXPECT_TRUE(ring.last(0).empty());
}

TEST(LineRing, IsBoundedInBytes) {
  LineRing ring(100, 10);
  ring.push("aaaa", false, 1);
  ring.push("bbbb", false, 2);
  EXPECT_EQ(ring.bytes(), 8u);
  ring.push("cccc", false, 3);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.bytes(), 8u);
  EXPECT_EQ(ring.last(5)[0].line, "bbbb");

  ring.push("0123456789abc", true, 4);  // longer than the whole budget: kept truncated
  ASSERT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring.last(1)[0].line, "0123456789");
  EXPECT_EQ(ring.bytes(), 10u);

  ring.clear();
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.bytes(), 0u);
}

TEST(LineRing, EmptyLinesCountAsLines) {
  LineRing ring(2, 0);
  ring.push("", false, 1);
  ring.push("", false, 2);
  ring.push("", false, 3);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.last(5)[0].realtime_usec, 2u);
}

TEST(LineRing, FollowersResumeAfterTheLastSequenceNumberTheySaw) {
  LineRing ring(3, 1000);
  for (int i = 1; i <= 5; ++i) ring.push("l" + std::to_string(i), false, 0);
  // l1 and l2 were dropped; a follower that saw l1 gets what is still kept.
  std::vector<LineRing::Entry> from_start = ring.since(0, 0);
  ASSERT_EQ(from_start.size(), 3u);
  EXPECT_EQ(from_start[0].line, "l3");
  EXPECT_EQ(from_start[0].seq, 3u);
  EXPECT_EQ(ring.since(1, 0).size(), 3u);
  std::vector<LineRing::Entry> after4 = ring.since(4, 0);
  ASSERT_EQ(after4.size(), 1u);
  EXPECT_EQ(after4[0].line, "l5");
  EXPECT_TRUE(ring.since(5, 0).empty());
  EXPECT_TRUE(ring.since(99, 0).empty());
  ASSERT_EQ(ring.since(0, 2).size(), 2u);
  EXPECT_EQ(ring.since(0, 2)[1].line, "l4");
  ring.clear();
  ring.push("l6", true, 0);
  ASSERT_EQ(ring.since(5, 0).size(), 1u);
  EXPECT_EQ(ring.since(5, 0)[0].seq, 6u);  // numbering continues after clear()
}

}  // namespace
}  // namespace procman::os
