#include "core/command_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace procman::core {
namespace {

using ::testing::ElementsAre;
using Words = std::vector<std::string>;

Words split_ok(std::string_view line) {
  std::string error;
  auto words = split_words(line, &error);
  EXPECT_TRUE(words.has_value()) << line << ": " << error;
  return words.value_or(Words{"<error>"});
}

std::string split_error(std::string_view line) {
  std::string error;
  const auto words = split_words(line, &error);
  EXPECT_FALSE(words.has_value()) << line;
  return error;
}

// ---- split_words ----

TEST(SplitWords, SplitsOnBlanks) {
  EXPECT_THAT(split_ok("sleep 1"), ElementsAre("sleep", "1"));
  EXPECT_THAT(split_ok("  a\t b  c "), ElementsAre("a", "b", "c"));
  EXPECT_THAT(split_ok("a\nb"), ElementsAre("a", "b"));
  EXPECT_THAT(split_ok("/usr/bin/env"), ElementsAre("/usr/bin/env"));
}

TEST(SplitWords, SingleQuotesAreLiteral) {
  EXPECT_THAT(split_ok("echo 'a  b'"), ElementsAre("echo", "a  b"));
  EXPECT_THAT(split_ok(R"(echo 'a\b "c" $HOME `x`')"), ElementsAre("echo", R"(a\b "c" $HOME `x`)"));
  EXPECT_THAT(split_ok("echo 'a && b'"), ElementsAre("echo", "a && b"));
}

TEST(SplitWords, DoubleQuotesHonourTheirEscapes) {
  EXPECT_THAT(split_ok(R"(echo "a \"b\" c")"), ElementsAre("echo", R"(a "b" c)"));
  EXPECT_THAT(split_ok(R"(echo "\\ \$ \`")"), ElementsAre("echo", R"(\ $ `)"));
  EXPECT_THAT(split_ok("echo \"a\\\nb\""), ElementsAre("echo", "ab"));
}

TEST(SplitWords, DoubleQuotesKeepOtherBackslashes) {
  EXPECT_THAT(split_ok(R"(printf "a\nb\t")"), ElementsAre("printf", R"(a\nb\t)"));
  EXPECT_THAT(split_ok(R"(echo "it's")"), ElementsAre("echo", "it's"));
}

TEST(SplitWords, BackslashOutsideQuotesEscapesNextCharacter) {
  EXPECT_THAT(split_ok(R"(echo a\ b)"), ElementsAre("echo", "a b"));
  EXPECT_THAT(split_ok(R"(echo \'x\')"), ElementsAre("echo", "'x'"));
  EXPECT_THAT(split_ok(R"(echo \\)"), ElementsAre("echo", "\\"));
  EXPECT_THAT(split_ok(R"(echo \n)"), ElementsAre("echo", "n"));
}

TEST(SplitWords, BackslashNewlineContinuesTheLine) {
  EXPECT_THAT(split_ok("echo a\\\nb"), ElementsAre("echo", "ab"));
  EXPECT_THAT(split_ok("echo a \\\n b"), ElementsAre("echo", "a", "b"));
}

TEST(SplitWords, AdjacentQuotedPartsJoinIntoOneWord) {
  EXPECT_THAT(split_ok(R"(echo a'b'"c"d)"), ElementsAre("echo", "abcd"));
  EXPECT_THAT(split_ok(R"(--name="my app")"), ElementsAre("--name=my app"));
}

TEST(SplitWords, EmptyQuotedWordsCount) {
  EXPECT_THAT(split_ok(R"(cmd "" '' x)"), ElementsAre("cmd", "", "", "x"));
  EXPECT_THAT(split_ok("''"), ElementsAre(""));
}

TEST(SplitWords, LeavesShellOperatorsAsPlainText) {
  EXPECT_THAT(split_ok("a && b"), ElementsAre("a", "&&", "b"));
}

TEST(SplitWords, RejectsUnterminatedQuotes) {
  EXPECT_EQ(split_error("echo 'abc"), "unterminated single quote (opened at column 6) in command");
  EXPECT_EQ(split_error(R"(echo "abc)"),
            "unterminated double quote (opened at column 6) in command");
  EXPECT_EQ(split_error(R"(echo "abc\")"),
            "unterminated double quote (opened at column 6) in command");
}

TEST(SplitWords, RejectsTrailingBackslash) {
  EXPECT_EQ(split_error("echo a\\"), "trailing backslash in command");
}

TEST(SplitWords, RejectsEmptyCommand) {
  EXPECT_EQ(split_error(""), "empty command");
  EXPECT_EQ(split_error("   \t "), "empty command");
  EXPECT_EQ(split_error("\\\n"), "empty command");
}

TEST(SplitWords, ToleratesNullErrorPointer) { EXPECT_FALSE(split_words("'", nullptr)); }

// ---- needs_shell ----

TEST(NeedsShell, PlainCommandsDoNot) {
  for (const char* line :
       {"sleep 1", "/usr/bin/python3 -m http.server 8080", "curl -I http://localhost:8080",
        "env A=1 cmd", "cmd --opt=value", "echo a~b", "echo a#b", "echo $", "echo 100%",
        "cmd -x=y,z", "echo a\\\nb", "test -f x", "echo {a,b}"}) {
    EXPECT_FALSE(needs_shell(line)) << line;
  }
}

TEST(NeedsShell, QuotedOrEscapedOperatorsDoNot) {
  for (const char* line :
       {"echo 'a && b'", R"(echo "a && b")", R"(echo a\&\&b)", "echo 'a|b'", R"(echo "x;y" '>' \<)",
        "echo '$HOME'", "echo '*.c'", R"(echo \*.c)", R"(echo "*.c")", "echo '~/x'", R"(echo \~/x)",
        "echo '# no'", R"(echo \# no)", R"(echo "\$HOME")", R"(echo "\`x\`")", "echo 'a\nb'",
        "'VAR=1' cmd", R"(\VAR=1 cmd)", "'if' x"}) {
    EXPECT_FALSE(needs_shell(line)) << line;
  }
}

TEST(NeedsShell, OperatorsDo) {
  for (const char* line : {"echo a && b", "a || b", "a; b", "a | b", "a|b", "a &", "(a)", "a < f",
                           "a>f", "a >> f", "a 2>&1", "while true; do sleep 1; done"}) {
    EXPECT_TRUE(needs_shell(line)) << line;
  }
}

TEST(NeedsShell, SubstitutionsAndExpansionsDo) {
  for (const char* line :
       {"echo $(x)", "echo `x`", "echo $HOME", "echo ${HOME}", "echo $1", "echo $@", "echo $?",
        "echo $$", R"(echo "$HOME")", R"(echo "`x`")", R"x(echo "$(x)")x", "echo a$HOME"}) {
    EXPECT_TRUE(needs_shell(line)) << line;
  }
}

TEST(NeedsShell, GlobsDo) {
  for (const char* line : {"ls *.c", "ls file?.txt", "ls [ab].txt", "rm -f /tmp/x*"}) {
    EXPECT_TRUE(needs_shell(line)) << line;
  }
}

TEST(NeedsShell, TildeAtWordStartDoes) {
  EXPECT_TRUE(needs_shell("ls ~/x"));
  EXPECT_TRUE(needs_shell("cat ~"));
  EXPECT_FALSE(needs_shell("ls a~/x"));
}

TEST(NeedsShell, CommentsDo) {
  EXPECT_TRUE(needs_shell("# comment"));
  EXPECT_TRUE(needs_shell("sleep 1 # comment"));
  EXPECT_FALSE(needs_shell("echo issue#3"));
}

TEST(NeedsShell, NewlinesDo) {
  EXPECT_TRUE(needs_shell("echo a\necho b"));
  EXPECT_FALSE(needs_shell("echo a\\\nb"));
}

TEST(NeedsShell, LeadingAssignmentDoes) {
  EXPECT_TRUE(needs_shell("VAR=1 cmd"));
  EXPECT_TRUE(needs_shell("  _X2=a cmd"));
  EXPECT_TRUE(needs_shell("A=1 B=2 cmd"));
  EXPECT_TRUE(needs_shell("VAR="));
  EXPECT_FALSE(needs_shell("1VAR=1 cmd"));
  EXPECT_FALSE(needs_shell("=1 cmd"));
  EXPECT_FALSE(needs_shell("cmd VAR=1"));
}

TEST(NeedsShell, ReservedWordsAndShellOnlyBuiltinsDo) {
  for (const char* line : {"if true", "while true", "for x in a", "case x in", "{ a", "! false",
                           "cd /tmp", "export A=1", "exec cmd", ". ./env.sh", "source x",
                           "ulimit -n 1024", "umask 022", "set -e", "eval x"}) {
    EXPECT_TRUE(needs_shell(line)) << line;
  }
  EXPECT_FALSE(needs_shell("iffy x"));
  EXPECT_FALSE(needs_shell("echo if"));
}

// ---- command_argv ----

TEST(CommandArgv, SplitsPlainCommands) {
  std::string error;
  EXPECT_EQ(command_argv("sleep 10", false, &error), (Words{"sleep", "10"}));
  EXPECT_EQ(command_argv(R"(echo 'a && b')", false, &error), (Words{"echo", "a && b"}));
}

TEST(CommandArgv, UsesShellWhenNeeded) {
  std::string error;
  EXPECT_EQ(command_argv("echo a && b", false, &error), (Words{"/bin/sh", "-c", "echo a && b"}));
  EXPECT_EQ(command_argv("VAR=1 cmd", false, &error), (Words{"/bin/sh", "-c", "VAR=1 cmd"}));
}

TEST(CommandArgv, UsesShellWhenForcedAndKeepsLineVerbatim) {
  std::string error;
  EXPECT_EQ(command_argv("  sleep 10 ", true, &error), (Words{"/bin/sh", "-c", "  sleep 10 "}));
  // The shell judges syntax when it was asked for explicitly.
  EXPECT_EQ(command_argv("echo 'x", true, &error), (Words{"/bin/sh", "-c", "echo 'x"}));
}

TEST(CommandArgv, ReportsQuotingErrorsEvenWithShellSyntax) {
  std::string error;
  EXPECT_FALSE(command_argv("echo 'x", false, &error));
  EXPECT_EQ(error, "unterminated single quote (opened at column 6) in command");
  EXPECT_FALSE(command_argv("a && b 'x", false, &error));
  EXPECT_EQ(error, "unterminated single quote (opened at column 8) in command");
  EXPECT_FALSE(command_argv("echo \\", false, &error));
  EXPECT_EQ(error, "trailing backslash in command");
}

TEST(CommandArgv, RejectsEmptyCommands) {
  std::string error;
  EXPECT_FALSE(command_argv("", false, &error));
  EXPECT_EQ(error, "empty command");
  EXPECT_FALSE(command_argv(" \t", true, &error));
  EXPECT_EQ(error, "empty command");
  EXPECT_FALSE(command_argv("\"\" arg", false, &error));
  EXPECT_EQ(error, "empty program name in command");
}

}  // namespace
}  // namespace procman::core
