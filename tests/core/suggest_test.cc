#include "core/suggest.h"

#include <gtest/gtest.h>

namespace procman::core {
namespace {

TEST(EditDistance, IsZeroForEqualStrings) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("command", "command"), 0u);
}

TEST(EditDistance, CountsInsertionsAndDeletionsAgainstEmpty) {
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
}

TEST(EditDistance, CountsSingleEdits) {
  EXPECT_EQ(edit_distance("comand", "command"), 1u);    // insertion
  EXPECT_EQ(edit_distance("commannd", "command"), 1u);  // deletion
  EXPECT_EQ(edit_distance("commend", "command"), 1u);   // substitution
}

TEST(EditDistance, CountsAdjacentTranspositionAsOne) {
  EXPECT_EQ(edit_distance("comamnd", "command"), 1u);
  EXPECT_EQ(edit_distance("ab", "ba"), 1u);
  EXPECT_EQ(edit_distance("abcd", "badc"), 2u);
}

TEST(EditDistance, DoesNotEditATransposedPairAgain) {
  // Optimal string alignment: "ca" -> "ac" -> "abc" would need editing the swapped pair.
  EXPECT_EQ(edit_distance("ca", "abc"), 3u);
}

TEST(EditDistance, IsSymmetricAndCaseSensitive) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("sitting", "kitten"), 3u);
  EXPECT_EQ(edit_distance("Command", "command"), 1u);
}

TEST(EditDistance, TreatsUnderscoreAndDashAsDifferent) {
  EXPECT_EQ(edit_distance("depends_on", "depends-on"), 1u);
}

const std::vector<std::string> kKeys = {"command",  "depends-on", "work-dir", "apply-on",
                                        "one-shot", "schedule",   "stop",     "start-time"};

TEST(ClosestMatch, FindsSingleTypo) {
  EXPECT_EQ(closest_match("comand", kKeys), "command");
  EXPECT_EQ(closest_match("comamnd", kKeys), "command");
  EXPECT_EQ(closest_match("shedule", kKeys), "schedule");
}

TEST(ClosestMatch, MatchesSnakeCaseAgainstKebabCase) {
  EXPECT_EQ(closest_match("depends_on", kKeys), "depends-on");
  EXPECT_EQ(closest_match("work_dir", kKeys), "work-dir");
  // The folded spelling still allows a typo on top.
  EXPECT_EQ(closest_match("depend_on", kKeys), "depends-on");
}

TEST(ClosestMatch, IgnoresCase) {
  EXPECT_EQ(closest_match("COMMAND", kKeys), "command");
  EXPECT_EQ(closest_match("Work_Dir", kKeys), "work-dir");
}

TEST(ClosestMatch, ReturnsCandidateAsSpelled) {
  EXPECT_EQ(closest_match("apply-on", {"Apply_On"}), "Apply_On");
}

TEST(ClosestMatch, RejectsWordsTooFarAway) {
  EXPECT_EQ(closest_match("banana", kKeys), std::nullopt);
  EXPECT_EQ(closest_match("xyz", kKeys), std::nullopt);
}

TEST(ClosestMatch, ThresholdIsOneThirdOfWordLengthButAtLeastOne) {
  // len 2 -> threshold 1.
  EXPECT_EQ(closest_match("ab", {"ax"}), "ax");
  EXPECT_EQ(closest_match("ab", {"xy"}), std::nullopt);
  // len 6 -> threshold 2.
  EXPECT_EQ(closest_match("abcdef", {"abcdXY"}), "abcdXY");
  EXPECT_EQ(closest_match("abcdef", {"abcXYZ"}), std::nullopt);
  // len 9 -> threshold 3.
  EXPECT_EQ(closest_match("abcdefghi", {"abcdefXYZ"}), "abcdefXYZ");
  EXPECT_EQ(closest_match("abcdefghi", {"abcdeWXYZ"}), std::nullopt);
}

TEST(ClosestMatch, PrefersTheSmallestDistance) {
  EXPECT_EQ(closest_match("stat", {"start", "stop", "stat"}), "stat");
  EXPECT_EQ(closest_match("stoq", {"start-time", "stop"}), "stop");
}

TEST(ClosestMatch, BreaksTiesByListOrder) {
  EXPECT_EQ(closest_match("cat", {"bat", "hat"}), "bat");
  EXPECT_EQ(closest_match("cat", {"hat", "bat"}), "hat");
}

TEST(ClosestMatch, ReturnsNothingForEmptyWordOrNoCandidates) {
  EXPECT_EQ(closest_match("", {"a"}), std::nullopt);
  EXPECT_EQ(closest_match("command", {}), std::nullopt);
}

}  // namespace
}  // namespace procman::core
