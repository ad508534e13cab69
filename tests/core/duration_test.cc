#include "core/duration.h"

#include <gtest/gtest.h>

#include <string>

namespace procman::core {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

Duration parse_ok(std::string_view text) {
  std::string error;
  const auto d = parse_duration(text, &error);
  EXPECT_TRUE(d.has_value()) << text << ": " << error;
  return d.value_or(Duration(-1));
}

std::string parse_error(std::string_view text) {
  std::string error;
  const auto d = parse_duration(text, &error);
  EXPECT_FALSE(d.has_value()) << text << " parsed as " << (d ? d->count() : 0);
  return error;
}

TEST(Duration, ParsesEachUnit) {
  EXPECT_EQ(parse_ok("500ms"), milliseconds(500));
  EXPECT_EQ(parse_ok("3s"), seconds(3));
  EXPECT_EQ(parse_ok("10m"), minutes(10));
  EXPECT_EQ(parse_ok("1h"), hours(1));
  EXPECT_EQ(parse_ok("2d"), hours(48));
}

TEST(Duration, ParsesGroups) {
  EXPECT_EQ(parse_ok("1h30m"), minutes(90));
  EXPECT_EQ(parse_ok("1m30s500ms"), milliseconds(90500));
  EXPECT_EQ(parse_ok("1d2h3m4s5ms"), hours(26) + minutes(3) + seconds(4) + milliseconds(5));
}

TEST(Duration, AcceptsGroupsInAnyOrder) { EXPECT_EQ(parse_ok("30s1m"), seconds(90)); }

TEST(Duration, AcceptsZeroForms) {
  EXPECT_EQ(parse_ok("0"), Duration::zero());
  EXPECT_EQ(parse_ok("0s"), Duration::zero());
  EXPECT_EQ(parse_ok("0ms"), Duration::zero());
  EXPECT_EQ(parse_ok("0h0m"), Duration::zero());
}

TEST(Duration, AcceptsLeadingZerosAndLargeCounts) {
  EXPECT_EQ(parse_ok("05s"), seconds(5));
  EXPECT_EQ(parse_ok("90s"), seconds(90));
  EXPECT_EQ(parse_ok("1500ms"), milliseconds(1500));
}

TEST(Duration, AcceptsExactlyTheMaximum) {
  EXPECT_EQ(parse_ok("36500d"), kMaxDuration);
  EXPECT_EQ(parse_ok("36499d24h"), kMaxDuration);
}

TEST(Duration, RejectsEmpty) {
  EXPECT_EQ(parse_error(""), "empty duration (write e.g. 500ms, 3s or 1h30m)");
}

TEST(Duration, RejectsNegative) {
  EXPECT_EQ(parse_error("-5s"), "negative duration '-5s' is not allowed");
}

TEST(Duration, RejectsMissingUnit) {
  EXPECT_EQ(parse_error("10"), "missing unit after '10' in duration '10' (use ms, s, m, h or d)");
  EXPECT_EQ(parse_error("1h30"),
            "missing unit after '30' in duration '1h30' (use ms, s, m, h or d)");
  EXPECT_EQ(parse_error("00"), "missing unit after '00' in duration '00' (use ms, s, m, h or d)");
}

TEST(Duration, RejectsUnknownUnitWithPreciseMessage) {
  EXPECT_EQ(parse_error("5x"), "unknown unit 'x' in duration '5x' (use ms, s, m, h or d)");
  EXPECT_EQ(parse_error("5sec"), "unknown unit 'sec' in duration '5sec' (use ms, s, m, h or d)");
  EXPECT_EQ(parse_error("1h5min"),
            "unknown unit 'min' in duration '1h5min' (use ms, s, m, h or d)");
  EXPECT_EQ(parse_error("5S"), "unknown unit 'S' in duration '5S' (use ms, s, m, h or d)");
  EXPECT_EQ(parse_error("5us"), "unknown unit 'us' in duration '5us' (use ms, s, m, h or d)");
  // Letters after a unit run together with it.
  EXPECT_EQ(parse_error("1hm"), "unknown unit 'hm' in duration '1hm' (use ms, s, m, h or d)");
}

TEST(Duration, RejectsWhitespaceAnywhere) {
  EXPECT_EQ(parse_error("1h 30m"), "whitespace is not allowed in duration '1h 30m'");
  EXPECT_EQ(parse_error(" 5s"), "whitespace is not allowed in duration ' 5s'");
  EXPECT_EQ(parse_error("5s "), "whitespace is not allowed in duration '5s '");
  EXPECT_EQ(parse_error("5 s"), "whitespace is not allowed in duration '5 s'");
  EXPECT_EQ(parse_error("5\ts"), "whitespace is not allowed in duration '5\ts'");
}

TEST(Duration, RejectsUnitWithoutNumber) {
  EXPECT_EQ(parse_error("s"), "missing number before unit 's' in duration 's'");
  EXPECT_EQ(parse_error("h30m"), "missing number before unit 'h' in duration 'h30m'");
}

TEST(Duration, RejectsFractions) {
  EXPECT_EQ(parse_error("1.5s"),
            "fractions are not allowed in duration '1.5s' (write e.g. 1s500ms)");
  EXPECT_EQ(parse_error("1,5s"),
            "fractions are not allowed in duration '1,5s' (write e.g. 1s500ms)");
}

TEST(Duration, RejectsOtherCharacters) {
  EXPECT_EQ(parse_error("+5s"), "unexpected character '+' in duration '+5s'");
  EXPECT_EQ(parse_error("5s!"), "unexpected character '!' in duration '5s!'");
  EXPECT_EQ(parse_error("5_000ms"), "unexpected character '_' in duration '5_000ms'");
}

TEST(Duration, RejectsRepeatedUnit) {
  EXPECT_EQ(parse_error("1m2m"), "unit 'm' appears twice in duration '1m2m'");
  EXPECT_EQ(parse_error("1s1m1s"), "unit 's' appears twice in duration '1s1m1s'");
}

TEST(Duration, RejectsOverflowAndValuesAboveMaximum) {
  EXPECT_EQ(parse_error("36501d"), "duration '36501d' is too large (the maximum is 36500d)");
  EXPECT_EQ(parse_error("36500d1ms"), "duration '36500d1ms' is too large (the maximum is 36500d)");
  EXPECT_EQ(parse_error("99999999999999999999999ms"),
            "duration '99999999999999999999999ms' is too large (the maximum is 36500d)");
  EXPECT_EQ(parse_error("9223372036854775807d"),
            "duration '9223372036854775807d' is too large (the maximum is 36500d)");
}

TEST(Duration, ToleratesNullErrorPointer) {
  EXPECT_FALSE(parse_duration("5x", nullptr).has_value());
  EXPECT_EQ(parse_duration("5s", nullptr), seconds(5));
}

TEST(Duration, FormatsShortestExactSpelling) {
  EXPECT_EQ(format_duration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(format_duration(Duration::zero()), "0s");
  EXPECT_EQ(format_duration(milliseconds(1)), "1ms");
  EXPECT_EQ(format_duration(seconds(3)), "3s");
  EXPECT_EQ(format_duration(minutes(10)), "10m");
  EXPECT_EQ(format_duration(hours(1)), "1h");
  EXPECT_EQ(format_duration(hours(24)), "1d");
  EXPECT_EQ(format_duration(hours(25) + milliseconds(1)), "1d1h1ms");
  EXPECT_EQ(format_duration(kMaxDuration), "36500d");
}

TEST(Duration, FormatsNegativeWithSign) {
  EXPECT_EQ(format_duration(milliseconds(-1500)), "-1s500ms");
  EXPECT_EQ(format_duration(Duration::min()).front(), '-');
}

TEST(Duration, FormatThenParseRoundTrips) {
  for (int64_t ms :
       {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1000}, int64_t{59'999}, int64_t{3'600'001},
        int64_t{86'399'999}, int64_t{123'456'789'012}, kMaxDuration.count()}) {
    const Duration d(ms);
    EXPECT_EQ(parse_ok(format_duration(d)), d) << format_duration(d);
  }
}

}  // namespace
}  // namespace procman::core
