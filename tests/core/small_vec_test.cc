#include "core/small_vec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace procman::core {
namespace {

std::vector<int> items(const SmallVec<int, 2>& v) { return {v.begin(), v.end()}; }

TEST(SmallVec, KeepsUpToNInsideAndGrowsOntoTheHeapPastThem) {
  SmallVec<int, 2> v;
  EXPECT_TRUE(v.empty());
  v.push_back(1);
  v.push_back(2);
  EXPECT_TRUE(v.is_inline());
  v.push_back(3);
  EXPECT_FALSE(v.is_inline());
  for (int i = 4; i <= 100; ++i) v.push_back(i);
  ASSERT_EQ(v.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(v[i], i + 1);
  EXPECT_EQ(v.front(), 1);
  EXPECT_EQ(v.back(), 100);
  v.clear();
  EXPECT_TRUE(v.empty());
  EXPECT_TRUE(v.is_inline());
}

TEST(SmallVec, IsSmallerThanAVectorForOnePointer) {
  static_assert(sizeof(SmallVec<const int*, 1>) == 16);
  static_assert(sizeof(SmallVec<int, 2>) == 16);
  EXPECT_LT(sizeof(SmallVec<const int*, 1>), sizeof(std::vector<const int*>));
}

TEST(SmallVec, PushingAnElementOfItselfWhileGrowingCopiesTheValue) {
  SmallVec<int, 1> v{7};
  v.push_back(v[0]);  // grows: the reference points into the inline storage
  v.push_back(v[1]);  // grows again: the reference points into the heap block being freed
  EXPECT_EQ((std::vector<int>{v.begin(), v.end()}), (std::vector<int>{7, 7, 7}));
}

TEST(SmallVec, CopiesAreIndependentInlineOrNot) {
  for (int n : {1, 2, 5}) {
    SmallVec<int, 2> a;
    for (int i = 0; i < n; ++i) a.push_back(i);
    SmallVec<int, 2> b = a;
    b.push_back(99);
    EXPECT_EQ(a.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(b.size(), static_cast<std::size_t>(n + 1));
    EXPECT_EQ(b.back(), 99);
    SmallVec<int, 2> c;
    c = a;
    EXPECT_TRUE(c == a);
    c = c;  // self-assignment keeps it
    EXPECT_TRUE(c == a);
  }
}

TEST(SmallVec, MovesLeaveTheSourceEmptyAndReusable) {
  for (int n : {1, 2, 5}) {
    SmallVec<int, 2> a;
    for (int i = 0; i < n; ++i) a.push_back(i);
    const auto before = items(a);
    SmallVec<int, 2> b = std::move(a);
    EXPECT_EQ(items(b), before);
    EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented state
    a.push_back(42);
    EXPECT_EQ(items(a), (std::vector<int>{42}));
    SmallVec<int, 2> c{9, 9, 9};
    c = std::move(b);
    EXPECT_EQ(items(c), before);
  }
}

TEST(SmallVec, ResizeFillsNewElementsAndKeepsTheOldOnes) {
  SmallVec<int, 2> v{1};
  v.resize(4, 7);
  EXPECT_EQ(items(v), (std::vector<int>{1, 7, 7, 7}));
  v.resize(2);
  EXPECT_EQ(items(v), (std::vector<int>{1, 7}));
  v.resize(3);
  EXPECT_EQ(items(v), (std::vector<int>{1, 7, 0}));
}

TEST(SmallVec, EraseKeepsTheOrderOfTheRest) {
  SmallVec<int, 2> v{1, 2, 3, 4, 5};
  v.erase(v.begin() + 1);
  EXPECT_EQ(items(v), (std::vector<int>{1, 3, 4, 5}));
  v.erase(v.begin(), v.begin() + 2);
  EXPECT_EQ(items(v), (std::vector<int>{4, 5}));
  v.erase(std::remove(v.begin(), v.end(), 5), v.end());
  EXPECT_EQ(items(v), (std::vector<int>{4}));
  v.pop_back();
  EXPECT_TRUE(v.empty());
}

}  // namespace
}  // namespace procman::core
