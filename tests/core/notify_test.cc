// Tests for core/notify: parsing sd_notify datagrams (untrusted input).
#include "core/notify.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace procman::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(NotifyParse, EmptyDatagramSaysNothingAndIsNoProblem) {
  NotifyMessage m = parse_notify("");
  EXPECT_FALSE(m.ready);
  EXPECT_FALSE(m.status);
  EXPECT_THAT(m.unknown, IsEmpty());
  EXPECT_THAT(m.problems, IsEmpty());
  EXPECT_EQ(notify_summary(m), "(empty)");
}

TEST(NotifyParse, BlankLinesAndTrailingNewlineAreSkipped) {
  NotifyMessage m = parse_notify("\n\nREADY=1\n\n");
  EXPECT_TRUE(m.ready);
  EXPECT_THAT(m.problems, IsEmpty());
}

TEST(NotifyParse, EveryFlagKeyIsRecognized) {
  NotifyMessage m = parse_notify(
      "READY=1\nRELOADING=1\nSTOPPING=1\nWATCHDOG=1\nWATCHDOG=trigger\nFDSTORE=1\n"
      "FDSTOREREMOVE=1\nBARRIER=1");
  EXPECT_TRUE(m.ready);
  EXPECT_TRUE(m.reloading);
  EXPECT_TRUE(m.stopping);
  EXPECT_TRUE(m.watchdog_ping);
  EXPECT_TRUE(m.watchdog_trigger);
  EXPECT_TRUE(m.fdstore);
  EXPECT_TRUE(m.fdstore_remove);
  EXPECT_TRUE(m.barrier);
  EXPECT_THAT(m.problems, IsEmpty());
  EXPECT_THAT(m.unknown, IsEmpty());
}

TEST(NotifyParse, EveryValuedKeyIsRecognized) {
  NotifyMessage m = parse_notify(
      "STATUS=Listening on 8080\nMAINPID=4242\nWATCHDOG_USEC=30000000\n"
      "EXTEND_TIMEOUT_USEC=5000000\nMONOTONIC_USEC=123456789\nERRNO=2\nFDNAME=http");
  EXPECT_EQ(m.status, "Listening on 8080");
  EXPECT_EQ(m.main_pid, 4242);
  EXPECT_EQ(m.watchdog_usec, 30000000u);
  EXPECT_EQ(m.extend_timeout_usec, 5000000u);
  EXPECT_EQ(m.monotonic_usec, 123456789u);
  EXPECT_EQ(m.errno_value, 2);
  EXPECT_EQ(m.fdname, "http");
  EXPECT_THAT(m.problems, IsEmpty());
  EXPECT_FALSE(m.ready);
}

TEST(NotifyParse, FlagsOnlyCountForValueOne) {
  for (const char* text : {"READY=0", "READY=true", "READY=", "READY=1 ", "READY=11"}) {
    NotifyMessage m = parse_notify(text);
    EXPECT_FALSE(m.ready) << text;
    ASSERT_EQ(m.problems.size(), 1u) << text;
    EXPECT_THAT(m.problems[0], HasSubstr("expected READY=1")) << text;
  }
  NotifyMessage m = parse_notify("STOPPING=yes\nRELOADING=2\nFDSTORE=0\nFDSTOREREMOVE=x\nBARRIER=");
  EXPECT_FALSE(m.stopping || m.reloading || m.fdstore || m.fdstore_remove || m.barrier);
  EXPECT_THAT(m.problems, ElementsAre("STOPPING=\"yes\" is not valid; expected STOPPING=1",
                                      "RELOADING=\"2\" is not valid; expected RELOADING=1",
                                      "FDSTORE=\"0\" is not valid; expected FDSTORE=1",
                                      "FDSTOREREMOVE=\"x\" is not valid; expected FDSTOREREMOVE=1",
                                      "BARRIER=\"\" is not valid; expected BARRIER=1"));
}

TEST(NotifyParse, WatchdogAcceptsOnlyOneOrTrigger) {
  NotifyMessage m = parse_notify("WATCHDOG=0\nWATCHDOG=Trigger");
  EXPECT_FALSE(m.watchdog_ping);
  EXPECT_FALSE(m.watchdog_trigger);
  EXPECT_THAT(m.problems,
              ElementsAre("WATCHDOG=\"0\" is not valid; expected WATCHDOG=1 or WATCHDOG=trigger",
                          "WATCHDOG=\"Trigger\" is not valid; expected WATCHDOG=1 or "
                          "WATCHDOG=trigger"));
}

TEST(NotifyParse, MalformedMainPidIsAPreciseProblem) {
  for (const char* value : {"abc", "0", "-5", "+5", " 5", "5 ", "", "99999999999", "0x10"}) {
    NotifyMessage m = parse_notify(std::string("MAINPID=") + value);
    EXPECT_FALSE(m.main_pid) << value;
    ASSERT_EQ(m.problems.size(), 1u) << value;
    EXPECT_EQ(m.problems[0], "MAINPID=\"" + std::string(value) + "\" is not a pid");
  }
}

TEST(NotifyParse, MalformedMicrosecondsAreAPreciseProblem) {
  NotifyMessage m = parse_notify(
      "WATCHDOG_USEC=x\nEXTEND_TIMEOUT_USEC=-1\nMONOTONIC_USEC=18446744073709551616\n"
      "WATCHDOG_USEC=1.5");
  EXPECT_FALSE(m.watchdog_usec);
  EXPECT_FALSE(m.extend_timeout_usec);
  EXPECT_FALSE(m.monotonic_usec);
  EXPECT_THAT(m.problems, ElementsAre("WATCHDOG_USEC=\"x\" is not a number of microseconds",
                                      "EXTEND_TIMEOUT_USEC=\"-1\" is not a number of microseconds",
                                      "MONOTONIC_USEC=\"18446744073709551616\" is not a number of "
                                      "microseconds",
                                      "WATCHDOG_USEC=\"1.5\" is not a number of microseconds"));
}

TEST(NotifyParse, MicrosecondsAcceptZeroAndTheFullRange) {
  NotifyMessage m = parse_notify("WATCHDOG_USEC=0\nMONOTONIC_USEC=18446744073709551615");
  EXPECT_EQ(m.watchdog_usec, 0u);
  EXPECT_EQ(m.monotonic_usec, 18446744073709551615u);
  EXPECT_THAT(m.problems, IsEmpty());
}

TEST(NotifyParse, ErrnoMustBeInTheErrnoRange) {
  EXPECT_EQ(parse_notify("ERRNO=0").errno_value, 0);
  EXPECT_EQ(parse_notify("ERRNO=4095").errno_value, 4095);
  NotifyMessage m = parse_notify("ERRNO=4096\nERRNO=ENOENT\nERRNO=-2");
  EXPECT_FALSE(m.errno_value);
  EXPECT_THAT(m.problems, ElementsAre("ERRNO=\"4096\" is not an errno number (0-4095)",
                                      "ERRNO=\"ENOENT\" is not an errno number (0-4095)",
                                      "ERRNO=\"-2\" is not an errno number (0-4095)"));
}

TEST(NotifyParse, FdNameMustBeAValidName) {
  NotifyMessage m = parse_notify("FDNAME=a:b");
  EXPECT_FALSE(m.fdname);
  EXPECT_THAT(m.problems, ElementsAre("FDNAME= is not a valid fd name: \"a:b\" contains ':'"));
  EXPECT_THAT(parse_notify("FDNAME=").problems,
              ElementsAre("FDNAME= is not a valid fd name: the name is empty"));
  EXPECT_THAT(parse_notify("FDNAME=a b").problems,
              ElementsAre(HasSubstr("contains characters other than printable ASCII")));
  EXPECT_THAT(parse_notify("FDNAME=" + std::string(256, 'x')).problems,
              ElementsAre(HasSubstr("is 256 bytes long; at most 255 are allowed")));
  EXPECT_EQ(parse_notify("FDNAME=" + std::string(255, 'x')).fdname, std::string(255, 'x'));
}

TEST(NotifyParse, LineWithoutEqualsIsAProblemAndTheRestIsUsed) {
  NotifyMessage m = parse_notify("READY=1\nhello\nSTATUS=ok");
  EXPECT_TRUE(m.ready);
  EXPECT_EQ(m.status, "ok");
  EXPECT_THAT(m.problems, ElementsAre("line \"hello\" is not a KEY=VALUE assignment; ignored"));
}

TEST(NotifyParse, EmptyKeyIsAProblem) {
  NotifyMessage m = parse_notify("=1");
  EXPECT_THAT(m.problems, ElementsAre("line \"=1\" has an empty key; ignored"));
  EXPECT_THAT(m.unknown, IsEmpty());
}

TEST(NotifyParse, EmbeddedNulIgnoresOnlyThatLine) {
  using namespace std::string_literals;
  NotifyMessage m = parse_notify("STATUS=a\0b\nREADY=1"s);
  EXPECT_TRUE(m.ready);
  EXPECT_FALSE(m.status);
  EXPECT_THAT(m.problems, ElementsAre("line \"STATUS=a\\x00b\" contains a NUL byte; ignored"));
  // A NUL must not smuggle a valid assignment in either.
  NotifyMessage n = parse_notify("READY=1\0"s);
  EXPECT_FALSE(n.ready);
  EXPECT_EQ(n.problems.size(), 1u);
}

TEST(NotifyParse, UnknownKeysAreKeptByNameAndIgnored) {
  NotifyMessage m = parse_notify("BUSERROR=org.x.Err\nX_CUSTOM=secret value\nREADY=1\nFOO\x01=1");
  EXPECT_TRUE(m.ready);
  EXPECT_THAT(m.unknown, ElementsAre("BUSERROR", "X_CUSTOM", "FOO\\x01"));
  EXPECT_THAT(m.problems, IsEmpty());
}

TEST(NotifyParse, KeysAreCaseSensitive) {
  NotifyMessage m = parse_notify("ready=1");
  EXPECT_FALSE(m.ready);
  EXPECT_THAT(m.unknown, ElementsAre("ready"));
}

TEST(NotifyParse, LastValidAssignmentWins) {
  NotifyMessage m = parse_notify("STATUS=one\nSTATUS=two\nMAINPID=10\nMAINPID=bad\nMAINPID=11");
  EXPECT_EQ(m.status, "two");
  EXPECT_EQ(m.main_pid, 11);
  EXPECT_EQ(m.problems.size(), 1u);
}

TEST(NotifyParse, StatusMayBeEmptyAndKeepsEqualsSigns) {
  EXPECT_EQ(parse_notify("STATUS=").status, "");
  EXPECT_EQ(parse_notify("STATUS=a=b=c").status, "a=b=c");
  EXPECT_EQ(parse_notify("STATUS=Démarrage… ✓").status, "Démarrage… ✓");
}

TEST(NotifyParse, StatusControlCharactersAndInvalidUtf8AreReplaced) {
  NotifyMessage m = parse_notify("STATUS=a\tb\x1b[31mc\xff\xc3");
  EXPECT_EQ(m.status,
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD[31mc\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_THAT(m.problems, ElementsAre(HasSubstr("replaced with U+FFFD")));
  // Overlong encodings and surrogates are invalid too.
  EXPECT_EQ(parse_notify("STATUS=\xc0\xaf").status, "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(parse_notify("STATUS=\xed\xa0\x80").status, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(NotifyParse, OverlongStatusIsTruncatedNotRefused) {
  NotifyMessage m = parse_notify("READY=1\nSTATUS=" + std::string(3000, 'x'));
  EXPECT_TRUE(m.ready);
  ASSERT_TRUE(m.status);
  EXPECT_EQ(m.status->size(), kMaxNotifyStatus);
  EXPECT_THAT(m.problems, ElementsAre("STATUS= is 3000 bytes long; it was cut to 1024 bytes"));
}

TEST(NotifyParse, StatusIsCutAtACharacterBoundary) {
  // 1023 ASCII bytes then a 2-byte character: the character does not fit.
  NotifyMessage m = parse_notify("STATUS=" + std::string(1023, 'x') + "é");
  ASSERT_TRUE(m.status);
  EXPECT_EQ(*m.status, std::string(1023, 'x'));
  EXPECT_EQ(m.problems.size(), 1u);
}

TEST(NotifyParse, ProblemsQuoteAndEscapeHostileValues) {
  NotifyMessage m = parse_notify("MAINPID=\x1b]0;pwned\x07\"\\");
  ASSERT_EQ(m.problems.size(), 1u);
  EXPECT_EQ(m.problems[0], "MAINPID=\"\\x1b]0;pwned\\x07\\\"\\\\\" is not a pid");
}

TEST(NotifyParse, MultipleLinesMixValidAndInvalid) {
  NotifyMessage m =
      parse_notify("READY=1\nSTATUS=serving\nMAINPID=abc\nWATCHDOG=1\nNOTIFYACCESS=all\nERRNO=5\n");
  EXPECT_TRUE(m.ready);
  EXPECT_TRUE(m.watchdog_ping);
  EXPECT_EQ(m.status, "serving");
  EXPECT_EQ(m.errno_value, 5);
  EXPECT_FALSE(m.main_pid);
  EXPECT_THAT(m.unknown, ElementsAre("NOTIFYACCESS"));
  EXPECT_THAT(m.problems, ElementsAre("MAINPID=\"abc\" is not a pid"));
}

TEST(NotifySummary, ListsWhatTheMessageSaysOnOneLine) {
  NotifyMessage m =
      parse_notify("READY=1\nSTATUS=Listening \"now\"\nMAINPID=42\nBUSERROR=x\nERRNO=z");
  EXPECT_EQ(notify_summary(m),
            "READY=1 STATUS=\"Listening \\\"now\\\"\" MAINPID=42 unknown=[BUSERROR] problems=1");
  NotifyMessage all = parse_notify(
      "RELOADING=1\nMONOTONIC_USEC=7\nSTOPPING=1\nWATCHDOG=trigger\nWATCHDOG_USEC=9\n"
      "EXTEND_TIMEOUT_USEC=8\nFDSTORE=1\nFDSTOREREMOVE=1\nFDNAME=a\nBARRIER=1\nWATCHDOG=1");
  EXPECT_EQ(notify_summary(all),
            "RELOADING=1 STOPPING=1 WATCHDOG=1 WATCHDOG=trigger FDSTORE=1 FDSTOREREMOVE=1 "
            "BARRIER=1 WATCHDOG_USEC=9 EXTEND_TIMEOUT_USEC=8 MONOTONIC_USEC=7 FDNAME=\"a\"");
}

TEST(NotifySummary, NeverContainsControlCharacters) {
  NotifyMessage m = parse_notify("STATUS=\xEF\xBF\xBDok\nX\n=y\nA\x7f=1");
  const std::string s = notify_summary(m);
  for (char c : s) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << s;
}

TEST(QuoteUntrusted, EscapesEverythingUnprintable) {
  EXPECT_EQ(quote_untrusted("plain"), "\"plain\"");
  EXPECT_EQ(quote_untrusted("a\nb\tc\x01\x7f"), "\"a\\nb\\tc\\x01\\x7f\"");
  EXPECT_EQ(quote_untrusted("é\xff"), "\"é\\xff\"");
  EXPECT_EQ(quote_untrusted("\xc2\x85"), "\"\\xc2\\x85\"");  // U+0085 is a C1 control
}

TEST(FdNameProblem, AcceptsPrintableAsciiWithoutColon) {
  EXPECT_FALSE(fdname_problem("http"));
  EXPECT_FALSE(fdname_problem("my-socket.v2_@x"));
  EXPECT_TRUE(fdname_problem("a:b"));
  EXPECT_TRUE(fdname_problem(""));
  EXPECT_TRUE(fdname_problem("é"));
}

}  // namespace
}  // namespace procman::core
