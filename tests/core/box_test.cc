#include "core/box.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "core/config.h"

namespace procman::core {
namespace {

TEST(Box, StartsEmptyAndBehavesLikeAnOptional) {
  Box<std::string> b;
  EXPECT_FALSE(b);
  EXPECT_FALSE(b.has_value());
  EXPECT_TRUE(b == std::nullopt);
  EXPECT_THROW(b.value(), std::bad_optional_access);
  b = std::string("echo hi");
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, "echo hi");
  EXPECT_EQ(b->size(), 7u);
  b = std::nullopt;
  EXPECT_FALSE(b);
  b.emplace(3, 'x');
  EXPECT_EQ(b.value(), "xxx");
  b.reset();
  EXPECT_FALSE(b);
}

TEST(Box, TakesAValueOfAConvertibleTypeAsStdOptionalDoes) {
  using namespace std::chrono_literals;
  Box<Duration> watchdog;
  watchdog = 2s;  // seconds into a Box of milliseconds
  ASSERT_TRUE(watchdog);
  EXPECT_EQ(*watchdog, Duration(2000));
  Box<std::string> s;
  s = "literal";
  EXPECT_EQ(*s, "literal");
}

TEST(Box, TakesAnOptionalSetOrNot) {
  Box<std::string> set = std::optional<std::string>("a");
  Box<std::string> unset = std::optional<std::string>();
  EXPECT_EQ(*set, "a");
  EXPECT_FALSE(unset);
}

TEST(Box, CopiesAreDeepAndCompareByValue) {
  Box<std::string> a = std::string("one");
  Box<std::string> b = a;
  *b = "two";
  EXPECT_EQ(*a, "one") << "a copy must not share its value with the original";
  EXPECT_FALSE(a == b);
  *b = "one";
  EXPECT_TRUE(a == b);
  Box<std::string> empty;
  EXPECT_FALSE(a == empty);
  EXPECT_TRUE(empty == Box<std::string>());
  b = empty;
  EXPECT_FALSE(b);
}

TEST(Box, ACopiedProcessConfigOwnsItsHooks) {
  ProcessConfig p;
  p.before = Hook{"prepare", std::chrono::seconds(3), {}};
  ProcessConfig q = p;
  q.before->command = "other";
  EXPECT_EQ(p.before->command, "prepare");
  EXPECT_FALSE(q.init);
}

TEST(Box, ValueOrAndACopyAsStdOptional) {
  Box<std::string> user;
  EXPECT_EQ(user.value_or("nobody"), "nobody");
  std::optional<std::string> copy = user;
  EXPECT_FALSE(copy);
  user = std::string("ada");
  EXPECT_EQ(user.value_or("nobody"), "ada");
  copy = user;
  ASSERT_TRUE(copy);
  EXPECT_EQ(*copy, "ada");
  *user = "bob";
  EXPECT_EQ(*copy, "ada") << "the optional is a copy";
}

TEST(Box, ComparesWithValuesAndOptionalsAsStdOptionalDoes) {
  Box<std::string> user;
  EXPECT_FALSE(user == std::string("ada"));
  EXPECT_TRUE(user == std::optional<std::string>());
  EXPECT_FALSE(user == std::optional<std::string>("ada"));
  user = std::string("ada");
  EXPECT_TRUE(user == std::string("ada"));
  EXPECT_TRUE(user == "ada");
  EXPECT_TRUE(user == std::optional<std::string>("ada"));
  EXPECT_FALSE(user == std::optional<std::string>());
  EXPECT_FALSE(user == "bob");
}

}  // namespace
}  // namespace procman::core
