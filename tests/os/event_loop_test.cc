// Tests for os::EventLoop's defer sources and os::FdSet (many descriptors behind one source),
// on a real sd-event loop.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "os/event_loop.h"
#include "os/unique_fd.h"

namespace procman::os {
namespace {

constexpr uint64_t kTimeoutUsec = 10'000'000;

struct Pipe {
  unique_fd r, w;
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
  void put(const std::string& s) const {
    ASSERT_EQ(write(w.get(), s.data(), s.size()), ssize_t(s.size()));
  }
  std::string take() const {
    char buf[256];
    ssize_t n = read(r.get(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
};

TEST(EventLoop, ALowerPriorityDeferRunsOnceAfterWhatIsPendingAtNormalPriority) {
  // procmand's sweep for unreaped children: triggered while handling one exit, it must not
  // run before the restart timer that exit armed for "now".
  EventLoop loop;
  std::vector<std::string> order;
  EventSource timer;
  EventSource defer =
      loop.add_defer([&] { order.push_back("defer"); }, SD_EVENT_PRIORITY_NORMAL + 1);
  EventSource first = loop.add_timer(1, [&] {
    order.push_back("first");
    defer.trigger();
    timer = loop.add_timer(1, [&] { order.push_back("timer"); });
  });
  for (int i = 0; i < 10 && order.size() < 3; ++i) sd_event_run(loop.get(), kTimeoutUsec);
  EXPECT_EQ(order, (std::vector<std::string>{"first", "timer", "defer"}));
  EXPECT_EQ(sd_event_run(loop.get(), 0), 0) << "nothing is left pending";
  const uint64_t before = loop.iteration();
  defer.trigger();
  ASSERT_GT(sd_event_run(loop.get(), kTimeoutUsec), 0);
  EXPECT_EQ(order.back(), "defer");
  EXPECT_EQ(order.size(), 4u);
  EXPECT_GT(loop.iteration(), before);
}

TEST(FdSet, HandsTheTagOfEachReadyDescriptorToTheOneHandler) {
  EventLoop loop;
  Pipe a, b, quiet;
  std::vector<uint64_t> seen;
  FdSet set(loop, [&](uint64_t tag) {
    seen.push_back(tag);
    (tag == 1 ? a : b).take();  // drained: not reported again
  });
  std::string error;
  ASSERT_TRUE(set.add(a.r.get(), 1, &error)) << error;
  ASSERT_TRUE(set.add(b.r.get(), 2, &error)) << error;
  ASSERT_TRUE(set.add(quiet.r.get(), 3, &error)) << error;
  a.put("x");
  b.put("y");
  ASSERT_GT(sd_event_run(loop.get(), kTimeoutUsec), 0);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(sd_event_run(loop.get(), 0), 0) << "nothing is left readable";
}

TEST(FdSet, ReportsADescriptorLeftReadableAgain) {
  EventLoop loop;
  Pipe a;
  int calls = 0;
  FdSet set(loop, [&](uint64_t) { ++calls; });  // reads nothing
  std::string error;
  ASSERT_TRUE(set.add(a.r.get(), 7, &error)) << error;
  a.put("x");
  ASSERT_GT(sd_event_run(loop.get(), kTimeoutUsec), 0);
  ASSERT_GT(sd_event_run(loop.get(), kTimeoutUsec), 0);
  EXPECT_EQ(calls, 2);
}

TEST(FdSet, ARemovalInsideTheHandlerEndsTheBatch) {
  EventLoop loop;
  Pipe a, b;
  std::vector<uint64_t> seen;
  FdSet* self = nullptr;
  FdSet set(loop, [&](uint64_t tag) {
    seen.push_back(tag);
    // Whichever comes first removes both: the other must not be handed out afterwards.
    self->remove(a.r.get());
    self->remove(b.r.get());
  });
  self = &set;
  std::string error;
  ASSERT_TRUE(set.add(a.r.get(), 1, &error)) << error;
  ASSERT_TRUE(set.add(b.r.get(), 2, &error)) << error;
  a.put("x");
  b.put("y");
  ASSERT_GT(sd_event_run(loop.get(), kTimeoutUsec), 0);
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(sd_event_run(loop.get(), 0), 0) << "removed descriptors are not watched any more";
}

TEST(FdSet, RefusesADescriptorEpollCannotWatchWithTheReason) {
  EventLoop loop;
  FdSet set(loop, [](uint64_t) {});
  unique_fd file(open("/proc/self/status", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file);
  std::string error;
  EXPECT_FALSE(set.add(file.get(), 1, &error));
  EXPECT_EQ(error, "epoll_ctl: Operation not permitted");
}

}  // namespace
}  // namespace procman::os
