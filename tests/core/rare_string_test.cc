#include "core/sparse.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

namespace procman::core {
namespace {

std::string_view as_view(std::string_view v) { return v; }
const std::string& as_ref(const std::string& s) { return s; }

TEST(RareString, ReadsAsAnEmptyStringUntilSet) {
  RareString s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s, "");
  EXPECT_EQ(as_ref(s), "");
  EXPECT_EQ(as_view(s), "");
}

TEST(RareString, HoldsWhatIsAssignedAndReadsAsAStringAndAView) {
  RareString s;
  s = "health check failed 3 times in a row";
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s, "health check failed 3 times in a row");
  EXPECT_EQ(as_ref(s).size(), s.size());
  EXPECT_EQ(as_view(s).substr(0, 6), "health");
  EXPECT_NE(s.find("3 times"), std::string::npos);
  s = std::string("unhealthy");
  EXPECT_EQ(s.get(), "unhealthy");
}

TEST(RareString, AssigningEmptyOrClearingMakesItEmptyAgain) {
  RareString s = "x";
  s = "";
  EXPECT_TRUE(s.empty());
  s = "y";
  s.clear();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s, "");
}

TEST(RareString, CopiesAreDeepAndMovesLeaveTheSourceEmpty) {
  RareString a = "one";
  RareString b = a;
  b = "two";
  EXPECT_EQ(a, "one");
  EXPECT_EQ(b, "two");
  RareString c = std::move(a);
  EXPECT_EQ(c, "one");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented state
  c = c;                   // self-assignment keeps it
  EXPECT_EQ(c, "one");
  EXPECT_TRUE(c == RareString("one"));
}

}  // namespace
}  // namespace procman::core
