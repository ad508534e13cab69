#include "core/config_parser.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <limits>

namespace procman::core {
namespace {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;

constexpr const char* kPath = "/etc/procman/procman.toml";

ParseResult parse(std::string_view text, const Env& env = {}) {
  return parse_config(text, kPath, env);
}

// A file whose only process is 'web'; the body's first line is line 5.
std::string web(std::string_view body) {
  return "uid = \"u\"\nfile-format = \"0\"\n[[process]]\nid = \"web\"\n" + std::string(body) + "\n";
}

// The file header; the text's first line is line 3.
std::string file(std::string_view text) {
  return "uid = \"u\"\nfile-format = \"0\"\n" + std::string(text);
}

std::string dump(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const Diagnostic& d : ds) out += "  " + format_diagnostic(d) + "\n";
  return out.empty() ? "  (none)\n" : out;
}

bool matches(const Diagnostic& d, uint32_t line, uint32_t column, std::string_view text) {
  return d.pos.line == line && d.pos.column == column && d.message.find(text) != std::string::npos;
}

testing::AssertionResult OnlyError(const ParseResult& r, uint32_t line, uint32_t column,
                                   std::string_view text) {
  if (r.errors.size() == 1 && matches(r.errors[0], line, column, text) && !r.config) {
    if (r.errors[0].file != kPath) return testing::AssertionFailure() << "wrong file";
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "expected exactly one error at " << line << ":" << column
                                     << " containing \"" << text << "\", got:\n"
                                     << dump(r.errors);
}

testing::AssertionResult HasError(const ParseResult& r, uint32_t line, uint32_t column,
                                  std::string_view text) {
  for (const Diagnostic& d : r.errors) {
    if (matches(d, line, column, text)) return testing::AssertionSuccess();
  }
  return testing::AssertionFailure()
         << "no error at " << line << ":" << column << " containing \"" << text << "\", got:\n"
         << dump(r.errors);
}

// Parses web(body), which must succeed, and returns its process.
ProcessConfig parse_web(std::string_view body) {
  ParseResult r = parse(web(body));
  if (!r.config || r.config->processes.size() != 1) {
    ADD_FAILURE() << "expected a valid file with one process, got:\n" << dump(r.errors);
    return {};
  }
  return r.config->processes[0];
}

// Parses web() with `command = "x"` on line 5 and `line` on line 6.
ParseResult parse_line6(std::string_view line) {
  return parse(web("command = \"x\"\n" + std::string(line)));
}

// ---------------------------------------------------------------------------
// Top level

TEST(ConfigParser, MinimalFileHasNoProcesses) {
  ParseResult r = parse("uid = \"abc\"\nfile-format = \"0\"\n");
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_EQ(r.config->uid, "abc");
  EXPECT_EQ(r.config->file_format, "0");
  EXPECT_EQ(r.config->path, kPath);
  EXPECT_TRUE(r.config->processes.empty());
  EXPECT_TRUE(r.notes.empty());
}

TEST(ConfigParser, MissingUidAndFileFormatAreBothReported) {
  ParseResult r = parse("");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r.errors);
  EXPECT_TRUE(HasError(r, 1, 1, "missing required key 'uid'"));
  EXPECT_TRUE(HasError(r, 1, 1, "missing required key 'file-format'"));
  EXPECT_FALSE(r.config);
}

TEST(ConfigParser, EmptyUidIsAnError) {
  EXPECT_TRUE(OnlyError(parse("uid = \"\"\nfile-format = \"0\"\n"), 1, 7, "'uid' is empty"));
}

TEST(ConfigParser, UidMustBeAString) {
  EXPECT_TRUE(OnlyError(parse("uid = 12\nfile-format = \"0\"\n"), 1, 7,
                        "'uid' must be a string, not an integer"));
}

TEST(ConfigParser, UnsupportedFileFormatNamesTheSupportedOne) {
  EXPECT_TRUE(OnlyError(parse("uid = \"u\"\nfile-format = \"1\"\n"), 2, 15,
                        "unsupported file-format '1' (the supported format is \"0\")"));
}

TEST(ConfigParser, FileFormatMustBeAString) {
  EXPECT_TRUE(OnlyError(parse("uid = \"u\"\nfile-format = 0\n"), 2, 15,
                        "'file-format' must be a string, not an integer"));
}

TEST(ConfigParser, UnknownTopLevelKeySuggestsTheClosest) {
  EXPECT_TRUE(OnlyError(parse(file("proces = 1\n")), 3, 1,
                        "unknown key 'proces' (did you mean 'process'?)"));
}

TEST(ConfigParser, UnknownTopLevelTableIsReportedAtItsHeader) {
  EXPECT_TRUE(OnlyError(parse(file("\n[templates]\nname = \"x\"\n")), 4, 1,
                        "unknown key 'templates' (did you mean 'template'?)"));
}

TEST(ConfigParser, UnknownKeyWithoutCloseCandidateHasNoSuggestion) {
  ParseResult r = parse(file("frobnicate = 1\n"));
  ASSERT_TRUE(OnlyError(r, 3, 1, "unknown key 'frobnicate'"));
  EXPECT_EQ(r.errors[0].message, "unknown key 'frobnicate'");
}

TEST(ConfigParser, ProcessMustBeAnArrayOfTables) {
  EXPECT_TRUE(OnlyError(parse(file("[process]\nid = \"a\"\n")), 3, 1,
                        "'process' must be an array of tables ([[process]]), not a table"));
  EXPECT_TRUE(OnlyError(parse(file("process = [1, 2]\n")), 3, 11,
                        "must be an array of tables ([[process]]), not an array of values"));
}

TEST(ConfigParser, EmptyProcessAndTemplateArraysAreAllowed) {
  ParseResult r = parse(file("process = []\ntemplate = []\n"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_TRUE(r.config->processes.empty());
}

TEST(ConfigParser, SyntaxErrorIsReportedWithItsPosition) {
  ParseResult r = parse(file("[[process]]\nid = \n"));
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(r.errors[0].pos.line, 4u);
  EXPECT_EQ(r.errors[0].pos.column, 6u);
  EXPECT_NE(r.errors[0].message.find("expected value"), std::string::npos);
  EXPECT_EQ(r.errors[0].file, kPath);
}

TEST(ConfigParser, DuplicateTomlKeyIsASyntaxError) {
  ParseResult r = parse(web("fake = true\nfake = false"));
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(r.errors[0].pos.line, 6u);
  EXPECT_NE(r.errors[0].message.find("redefine"), std::string::npos) << dump(r.errors);
}

// ---------------------------------------------------------------------------
// id

TEST(ConfigParser, ProcessIdAndPositionAreRecorded) {
  ParseResult r = parse(web("command = \"sleep 1\""));
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_EQ(r.config->processes.size(), 1u);
  const ProcessConfig& p = r.config->processes[0];
  EXPECT_EQ(p.id, "web");
  EXPECT_EQ(p.pos.line, 3u);
  EXPECT_EQ(p.pos.column, 1u);
}

TEST(ConfigParser, MissingIdIsReportedAtTheProcessTable) {
  EXPECT_TRUE(OnlyError(parse(file("[[process]]\ncommand = \"x\"\n")), 3, 1,
                        "process #1: missing required key 'id'"));
}

TEST(ConfigParser, IdMustBeANonEmptyString) {
  EXPECT_TRUE(OnlyError(parse(file("[[process]]\nid = 7\ncommand = \"x\"\n")), 4, 6,
                        "'id' must be a string, not an integer"));
  EXPECT_TRUE(
      OnlyError(parse(file("[[process]]\nid = \"\"\ncommand = \"x\"\n")), 4, 6, "'id' is empty"));
}

TEST(ConfigParser, IdRejectsSlashAtAndControlCharacters) {
  EXPECT_TRUE(OnlyError(parse(file("[[process]]\nid = \"a/b\"\ncommand = \"x\"\n")), 4, 6,
                        "process 'a/b': 'id' must not contain '/'"));
  EXPECT_TRUE(OnlyError(parse(file("[[process]]\nid = \"a@2\"\ncommand = \"x\"\n")), 4, 6,
                        "'id' must not contain '@' (it is reserved for instance names"));
  EXPECT_TRUE(OnlyError(parse(file("[[process]]\nid = \"a\\tb\"\ncommand = \"x\"\n")), 4, 6,
                        "'id' must not contain control characters"));
}

TEST(ConfigParser, IdMayContainSpaces) {
  ParseResult r = parse(file("[[process]]\nid = \"example_process 2\"\ncommand = \"x\"\n"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_EQ(r.config->processes[0].id, "example_process 2");
}

TEST(ConfigParser, UnknownProcessKeySuggestsKebabCase) {
  ParseResult r = parse(web("command = \"x\"\ndepends_on = []"));
  ASSERT_TRUE(OnlyError(r, 6, 1, "unknown key"));
  EXPECT_EQ(r.errors[0].message,
            "unknown key 'depends_on' in process 'web' (did you mean 'depends-on'?)");
}

TEST(ConfigParser, UnknownProcessKeyWithoutCandidate) {
  ParseResult r = parse(web("command = \"x\"\nzzzzzzzz = 1"));
  ASSERT_TRUE(OnlyError(r, 6, 1, "unknown key"));
  EXPECT_EQ(r.errors[0].message, "unknown key 'zzzzzzzz' in process 'web'");
}

// ---------------------------------------------------------------------------
// apply-on

TEST(ConfigParser, ApplyOnAcceptsAStringOrATomlLocalDateTime) {
  EXPECT_EQ(parse_web("command = \"x\"\napply-on = \"2024-10-01T12:00:00\"").apply_on,
            (LocalDateTime{2024, 10, 1, 12, 0, 0}));
  EXPECT_EQ(parse_web("command = \"x\"\napply-on = 2025-05-12T21:30:15").apply_on,
            (LocalDateTime{2025, 5, 12, 21, 30, 15}));
}

TEST(ConfigParser, ApplyOnIsOptional) {
  EXPECT_FALSE(parse_web("command = \"x\"").apply_on.has_value());
}

TEST(ConfigParser, InvalidApplyOnStringIsAnError) {
  ParseResult r = parse(web("command = \"x\"\napply-on = \"2024-13-01T12:00:00\""));
  EXPECT_TRUE(OnlyError(r, 6, 12, "process 'web': 'apply-on': "));
}

TEST(ConfigParser, ApplyOnWithOffsetOrDateOnlyIsAnError) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\napply-on = 2024-10-01T12:00:00Z")), 6, 12,
                        "must be a local date-time without a UTC offset"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\napply-on = 2024-10-01")), 6, 12,
                        "'apply-on' must be a date-time such as \"2024-10-01T12:00:00\", not a "
                        "date"));
}

TEST(ConfigParser, VersionsOfOneIdWithDistinctApplyOnAreKept) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "x"
apply-on = "2023-10-01T08:00:00"
[[process]]
id = "a"
command = "y"
apply-on = "2025-04-01T08:00:00"
)"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_EQ(r.config->processes.size(), 2u);
  EXPECT_EQ(r.config->processes[1].command->line, "y");
}

TEST(ConfigParser, VersionsWithTheSameApplyOnAreAnError) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "x"
apply-on = "2023-10-01T08:00:00"
[[process]]
id = "a"
command = "y"
apply-on = 2023-10-01T08:00:00
)"));
  EXPECT_TRUE(OnlyError(r, 10, 12,
                        "process 'a' is defined twice with the same apply-on 2023-10-01T08:00:00 "
                        "(first at line 6)"));
}

TEST(ConfigParser, VersionsWithoutApplyOnAreAnError) {
  ParseResult r =
      parse(file("[[process]]\nid = \"a\"\ncommand = \"x\"\n\n[[process]]\nid = "
                 "\"a\"\ncommand = \"y\"\n"));
  EXPECT_TRUE(
      OnlyError(r, 7, 1, "process 'a' is defined twice with no apply-on (first at line 3)"));
}

// ---------------------------------------------------------------------------
// fake, one-shot, command

TEST(ConfigParser, BooleanKeysDefaultToFalse) {
  ProcessConfig p = parse_web("command = \"x\"");
  EXPECT_FALSE(p.fake);
  EXPECT_FALSE(p.one_shot);
  ProcessConfig q = parse_web("command = \"x\"\nfake = true\none-shot = true");
  EXPECT_TRUE(q.fake);
  EXPECT_TRUE(q.one_shot);
}

TEST(ConfigParser, BooleanKeysRejectOtherTypes) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\none-shot = \"yes\"")), 6, 12,
                        "process 'web': 'one-shot' must be a boolean, not a string"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nfake = 1")), 6, 8,
                        "'fake' must be a boolean, not an integer"));
}

TEST(ConfigParser, CommandIsRequiredUnlessFake) {
  EXPECT_TRUE(OnlyError(parse(web("one-shot = true")), 3, 1,
                        "process 'web': missing required key 'command'"));
  ProcessConfig p = parse_web("fake = true");
  EXPECT_FALSE(p.command.has_value());
}

TEST(ConfigParser, StringCommandIsSimple) {
  ProcessConfig p = parse_web("command = \"sleep 5555\"");
  ASSERT_TRUE(p.command);
  EXPECT_EQ(p.command->line, "sleep 5555");
  EXPECT_EQ(p.command->type, CommandType::Simple);
  EXPECT_EQ(p.command->pos.line, 5u);
  EXPECT_EQ(p.command->pos.column, 11u);
}

TEST(ConfigParser, CommandTableAcceptsEveryType) {
  const std::pair<const char*, CommandType> cases[] = {
      {"simple", CommandType::Simple},         {"normal", CommandType::Simple},
      {"expression", CommandType::Expression}, {"pid-file", CommandType::PidFile},
      {"podman-cid", CommandType::PodmanCid},
  };
  for (const auto& [name, type] : cases) {
    ProcessConfig p =
        parse_web(std::string("command = { line = \"run x\", type = \"") + name + "\" }");
    ASSERT_TRUE(p.command) << name;
    EXPECT_EQ(p.command->type, type) << name;
    EXPECT_EQ(p.command->line, "run x");
  }
  ProcessConfig untyped = parse_web("command = { line = \"run x\" }");
  ASSERT_TRUE(untyped.command);
  EXPECT_EQ(untyped.command->type, CommandType::Simple);
}

TEST(ConfigParser, CommandAsHeaderTable) {
  ProcessConfig p = parse_web("[process.command]\nline = \"a && b\"\ntype = \"expression\"");
  ASSERT_TRUE(p.command);
  EXPECT_EQ(p.command->type, CommandType::Expression);
}

TEST(ConfigParser, SnakeCaseCommandTypeSuggestsKebabCase) {
  EXPECT_TRUE(OnlyError(parse(web("command = { line = \"x\", type = \"podman_cid\" }")), 5, 32,
                        "unknown command type 'podman_cid' (did you mean 'podman-cid'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = { line = \"x\", type = \"pid_file\" }")), 5, 32,
                        "(did you mean 'pid-file'?)"));
}

TEST(ConfigParser, UnknownCommandTypeListsTheValidOnes) {
  EXPECT_TRUE(OnlyError(parse(web("command = { line = \"x\", type = \"docker\" }")), 5, 32,
                        "unknown command type 'docker' (expected simple, expression, pid-file or "
                        "podman-cid)"));
}

TEST(ConfigParser, CommandTableErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = { type = \"simple\" }")), 5, 11,
                        "'command' table needs a 'line'"));
  EXPECT_TRUE(OnlyError(parse(web("command = { lines = \"x\", line = \"y\" }")), 5, 13,
                        "unknown key 'lines' in 'command' of process 'web' (did you mean "
                        "'line'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = { line = 3 }")), 5, 20,
                        "'command.line' must be a string, not an integer"));
  EXPECT_TRUE(OnlyError(parse(web("command = 3")), 5, 11,
                        "'command' must be a string or a table { line, type }, not an integer"));
}

TEST(ConfigParser, EmptyOrBlankCommandIsAnError) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"\"")), 5, 11, "'command' is empty"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"   \"")), 5, 11, "'command' is empty"));
  EXPECT_TRUE(OnlyError(parse(web("command = { line = \" \", type = \"expression\" }")), 5, 20,
                        "'command.line' is empty"));
}

TEST(ConfigParser, UnterminatedQuoteInSimpleCommandIsAnError) {
  ParseResult r = parse(web("command = \"echo 'oops\""));
  EXPECT_TRUE(OnlyError(r, 5, 11, "process 'web': 'command': "));
}

TEST(ConfigParser, ShellSyntaxInSimpleCommandIsANote) {
  ParseResult r = parse(web("command = \"echo hi && sleep 10\""));
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0].severity, Diagnostic::Severity::Note);
  EXPECT_EQ(r.notes[0].message,
            "process 'web': command contains shell syntax, it runs via /bin/sh -c");
  EXPECT_EQ(r.notes[0].pos.line, 5u);
  EXPECT_EQ(r.notes[0].pos.column, 11u);
}

TEST(ConfigParser, NoNoteForPlainOrExplicitShellCommands) {
  EXPECT_TRUE(parse(web("command = \"sleep 'a b'\"")).notes.empty());
  EXPECT_TRUE(parse(web("command = { line = \"a && b\", type = \"expression\" }")).notes.empty());
}

// ---------------------------------------------------------------------------
// depends-on

TEST(ConfigParser, DependsOnAcceptsIdsAndTables) {
  ParseResult r = parse(file(R"([[process]]
id = "db"
command = "x"
one-shot = true
[[process]]
id = "web"
command = "y"
depends-on = ["db", { id = "db2", condition = "started" }, { id = "db3" }]
[[process]]
id = "db2"
command = "z"
[[process]]
id = "db3"
command = "z"
[[process]]
id = "migrate"
command = "m"
depends-on = [{ id = "db", condition = "completed" }, { id = "db", condition = "running" }]
)"));
  EXPECT_FALSE(r.config) << "db listed twice";
  EXPECT_TRUE(OnlyError(r, 20, 55, "process 'migrate': depends on 'db' twice"));
}

TEST(ConfigParser, DependencyConditionsAndPositions) {
  ParseResult r = parse(file(R"([[process]]
id = "db"
command = "x"
one-shot = true
[[process]]
id = "web"
command = "y"
depends-on = ["db", { id = "cache", condition = "started" }, { id = "ok", condition = "completed-successfully" }]
[[process]]
id = "cache"
command = "z"
[[process]]
id = "ok"
command = "z"
one-shot = true
)"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  const auto& deps = r.config->processes[1].depends_on;
  ASSERT_EQ(deps.size(), 3u);
  EXPECT_EQ(deps[0].id, "db");
  EXPECT_EQ(deps[0].condition, DepCondition::Running);
  EXPECT_EQ(deps[0].pos.line, 10u);
  EXPECT_EQ(deps[0].pos.column, 15u);
  EXPECT_EQ(deps[1].id, "cache");
  EXPECT_EQ(deps[1].condition, DepCondition::Started);
  EXPECT_EQ(deps[2].condition, DepCondition::CompletedSuccessfully);
}

TEST(ConfigParser, UnknownConditionSuggestsTheClosest) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "x"
one-shot = true
[[process]]
id = "b"
command = "y"
depends-on = [{ id = "a", condition = "completed_successfully" }]
)"));
  EXPECT_TRUE(OnlyError(r, 10, 39,
                        "unknown dependency condition 'completed_successfully' (did you mean "
                        "'completed-successfully'?)"));
}

TEST(ConfigParser, DependsOnTypeErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ndepends-on = \"db\"")), 6, 14,
                        "'depends-on' must be an array of ids, not a string"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ndepends-on = [1]")), 6, 15,
                        "'depends-on' items must be ids (strings) or tables such as "
                        "{ id, condition } or { url }, not an integer"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ndepends-on = [{ condition = \"started\" }]")),
                        6, 15, "'depends-on' entry needs an 'id'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ndepends-on = [\"\"]")), 6, 15,
                        "'depends-on' is empty"));
  EXPECT_TRUE(OnlyError(parse(file("[[process]]\nid = \"a\"\nfake = true\n[[process]]\nid = "
                                   "\"b\"\nfake = true\ndepends-on = [{ id = \"a\", conditon = "
                                   "\"started\" }]\n")),
                        9, 27,
                        "unknown key 'conditon' in 'depends-on' of process 'b' (did you mean "
                        "'condition'?)"));
}

TEST(ConfigParser, UnknownDependencySuggestsAnExistingId) {
  ParseResult r = parse(file(R"([[process]]
id = "database"
command = "x"
[[process]]
id = "web"
command = "y"
depends-on = ["databse"]
)"));
  EXPECT_TRUE(OnlyError(r, 9, 15,
                        "process 'web' depends on unknown process 'databse' (did you mean "
                        "'database'?)"));
}

TEST(ConfigParser, SelfDependencyIsAnError) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ndepends-on = [\"web\"]")), 6, 15,
                        "process 'web' depends on itself"));
}

TEST(ConfigParser, DependencyOnFakeOnlyIdIsAllowed) {
  ParseResult r = parse(file(R"([[process]]
id = "ghost"
fake = true
[[process]]
id = "web"
command = "y"
depends-on = ["ghost"]
)"));
  EXPECT_TRUE(r.config) << dump(r.errors);
}

TEST(ConfigParser, TwoProcessCycleIsReportedOnce) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "x"
depends-on = ["b"]
[[process]]
id = "b"
command = "x"
depends-on = ["a"]
)"));
  ASSERT_TRUE(OnlyError(r, 6, 15, "dependency cycle: a -> b -> a"));
}

TEST(ConfigParser, LongerCycleIsReportedWithItsPath) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "x"
depends-on = ["b"]
[[process]]
id = "b"
command = "x"
depends-on = ["c"]
[[process]]
id = "c"
command = "x"
depends-on = ["a"]
[[process]]
id = "d"
command = "x"
depends-on = ["a"]
)"));
  EXPECT_TRUE(OnlyError(r, 6, 15, "dependency cycle: a -> b -> c -> a"));
}

TEST(ConfigParser, SeparateCyclesAreEachReported) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "x"
depends-on = ["b"]
[[process]]
id = "b"
command = "x"
depends-on = ["a"]
[[process]]
id = "c"
command = "x"
depends-on = ["d"]
[[process]]
id = "d"
command = "x"
depends-on = ["c"]
)"));
  ASSERT_EQ(r.errors.size(), 2u) << dump(r.errors);
  EXPECT_TRUE(HasError(r, 6, 15, "dependency cycle: a -> b -> a"));
  EXPECT_TRUE(HasError(r, 14, 15, "dependency cycle: c -> d -> c"));
}

TEST(ConfigParser, CycleAcrossVersionsIsDetected) {
  // Neither version alone has a cycle, but the union of edges does.
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "x"
apply-on = "2024-01-01T00:00:00"
depends-on = ["b"]
[[process]]
id = "b"
command = "x"
[[process]]
id = "b"
command = "x"
apply-on = "2030-01-01T00:00:00"
depends-on = ["a"]
)"));
  EXPECT_TRUE(OnlyError(r, 7, 15, "dependency cycle: a -> b -> a"));
}

TEST(ConfigParser, CompletedConditionRequiresAOneShotTarget) {
  ParseResult r = parse(file(R"([[process]]
id = "db"
command = "x"
[[process]]
id = "web"
command = "y"
depends-on = [{ id = "db", condition = "completed" }]
)"));
  EXPECT_TRUE(
      OnlyError(r, 9, 15, "process 'web' waits for 'db' to complete, but 'db' is not a one-shot"));
}

TEST(ConfigParser, CompletedConditionRequiresOneShotInEveryVersion) {
  ParseResult r = parse(file(R"([[process]]
id = "db"
command = "x"
one-shot = true
[[process]]
id = "db"
command = "x"
apply-on = "2030-01-01T00:00:00"
[[process]]
id = "web"
command = "y"
depends-on = [{ id = "db", condition = "completed-successfully" }]
)"));
  EXPECT_TRUE(OnlyError(r, 14, 15, "'db' is not a one-shot"));
}

TEST(ConfigParser, DependsOnProbesWithTheirDefaults) {
  ProcessConfig p = parse_web(R"toml(command = "x"
depends-on = [
  { url = "http://127.0.0.1:8080/health" },
  { url = "https://example.org/", code = 204 },
  { tcp = "localhost:5432" },
  { path = "run/db.sock" },
  { not-listening = "[::1]:8080" },
  { not-exists = "/tmp/lock" },
  { not-running = "^old-server( |$)" },
])toml");
  const auto& d = p.depends_on;
  ASSERT_EQ(d.size(), 7u);
  EXPECT_EQ(d[0].kind, Dependency::Kind::Url);
  EXPECT_EQ(d[0].target, "http://127.0.0.1:8080/health");
  EXPECT_EQ(d[0].expect_status, 200);
  EXPECT_EQ(d[0].pos.line, 7u);
  EXPECT_EQ(d[0].pos.column, 3u);
  EXPECT_EQ(d[1].kind, Dependency::Kind::Url);
  EXPECT_EQ(d[1].expect_status, 204);
  EXPECT_EQ(d[2].kind, Dependency::Kind::Tcp);
  EXPECT_EQ(d[2].target, "localhost:5432");
  EXPECT_EQ(d[3].kind, Dependency::Kind::Path);
  EXPECT_EQ(d[3].target, "/etc/procman/run/db.sock");
  EXPECT_EQ(d[4].kind, Dependency::Kind::NotListening);
  EXPECT_EQ(d[4].target, "[::1]:8080");
  EXPECT_EQ(d[5].kind, Dependency::Kind::NotExists);
  EXPECT_EQ(d[5].target, "/tmp/lock");
  EXPECT_EQ(d[6].kind, Dependency::Kind::NotRunning);
  EXPECT_EQ(d[6].target, "^old-server( |$)");
  for (const Dependency& dep : d) {
    EXPECT_TRUE(dep.id.empty());
    EXPECT_EQ(dep.poll_interval, 1s);
    EXPECT_EQ(dep.timeout, 60s);
    EXPECT_TRUE(dep.retry);
  }
}

TEST(ConfigParser, DependsOnProbeOptions) {
  ProcessConfig p = parse_web(R"(command = "x"
depends-on = [
  { tcp = "db:5432", poll-interval = "250ms", timeout = "2m", retry = false },
  { not-exists = "lock", timeout = "0" },
])");
  ASSERT_EQ(p.depends_on.size(), 2u);
  EXPECT_EQ(p.depends_on[0].poll_interval, 250ms);
  EXPECT_EQ(p.depends_on[0].timeout, 2min);
  EXPECT_FALSE(p.depends_on[0].retry);
  EXPECT_EQ(p.depends_on[1].target, "/etc/procman/lock");
  EXPECT_EQ(p.depends_on[1].timeout, 0s) << "0 waits forever";
  EXPECT_TRUE(p.depends_on[1].retry);
}

TEST(ConfigParser, ProbesMixWithProcessDependencies) {
  ParseResult r = parse(file(R"([[process]]
id = "db"
command = "x"
[[process]]
id = "web"
command = "y"
depends-on = ["db", { url = "http://localhost/", code = 200 }, { id = "db2", condition = "started" }]
[[process]]
id = "db2"
command = "z"
)"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  const auto& d = r.config->processes[1].depends_on;
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].kind, Dependency::Kind::Process);
  EXPECT_EQ(d[0].id, "db");
  EXPECT_EQ(d[1].kind, Dependency::Kind::Url);
  EXPECT_EQ(d[2].kind, Dependency::Kind::Process);
  EXPECT_EQ(d[2].condition, DepCondition::Started);
}

TEST(ConfigParser, ProbesAreNotProcessReferences) {
  // A probe target that looks like an id (even the process's own) is not
  // checked against the ids, nor part of the cycle check.
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "x"
depends-on = [{ path = "a" }, { not-running = "b" }, { tcp = "b:1" }]
[[process]]
id = "b"
command = "x"
depends-on = ["a"]
)"));
  EXPECT_TRUE(r.config) << dump(r.errors);
}

TEST(ConfigParser, ProcessExitedWaitsForSuccessfulCompletion) {
  ParseResult r = parse(file(R"([[process]]
id = "migrate"
command = "x"
one-shot = true
[[process]]
id = "web"
command = "y"
depends-on = [{ process-exited = "migrate" }]
)"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  const auto& d = r.config->processes[1].depends_on;
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Dependency::Kind::Process);
  EXPECT_EQ(d[0].id, "migrate");
  EXPECT_EQ(d[0].condition, DepCondition::CompletedSuccessfully);
  EXPECT_EQ(d[0].pos.line, 10u);
  EXPECT_EQ(d[0].pos.column, 15u);
}

TEST(ConfigParser, ProcessExitedIsCheckedLikeAnIdReference) {
  ParseResult not_one_shot = parse(file(R"([[process]]
id = "db"
command = "x"
[[process]]
id = "web"
command = "y"
depends-on = [{ process-exited = "db" }]
)"));
  EXPECT_TRUE(OnlyError(not_one_shot, 9, 15,
                        "process 'web' waits for 'db' to complete, but 'db' is not a one-shot"));

  ParseResult unknown = parse(file(R"([[process]]
id = "migrate"
command = "x"
one-shot = true
[[process]]
id = "web"
command = "y"
depends-on = [{ process-exited = "migrat" }]
)"));
  EXPECT_TRUE(OnlyError(unknown, 10, 15,
                        "process 'web' depends on unknown process 'migrat' (did you mean "
                        "'migrate'?)"));

  EXPECT_TRUE(OnlyError(
      parse(web("command = \"x\"\none-shot = true\ndepends-on = [{ process-exited = \"web\" }]")),
      7, 15, "process 'web' depends on itself"));
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ process-exited = \"\" }]"), 6, 34,
                        "'depends-on.process-exited' is empty"));
}

TEST(ConfigParser, ProcessExitedTakesPartInCycleDetection) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "x"
one-shot = true
depends-on = [{ process-exited = "b" }]
[[process]]
id = "b"
command = "x"
one-shot = true
depends-on = ["a"]
)"));
  EXPECT_TRUE(OnlyError(r, 7, 15, "dependency cycle: a -> b -> a"));
}

TEST(ConfigParser, DependsOnTheSameThingTwiceIsAnError) {
  ParseResult r = parse(web(R"(command = "x"
depends-on = [{ tcp = "db:5432" }, { tcp = "db:5432", timeout = "5s" }, { not-listening = "db:5432" }])"));
  EXPECT_TRUE(OnlyError(r, 6, 36, "process 'web': depends on tcp 'db:5432' twice"));

  ParseResult paths = parse_line6("depends-on = [{ path = \"a/./b\" }, { path = \"a/b\" }]");
  EXPECT_TRUE(OnlyError(paths, 6, 35, "depends on path '/etc/procman/a/b' twice"));

  ParseResult ids = parse(file(R"([[process]]
id = "db"
command = "x"
one-shot = true
[[process]]
id = "web"
command = "y"
depends-on = ["db", { process-exited = "db" }]
)"));
  EXPECT_TRUE(OnlyError(ids, 10, 21, "process 'web': depends on 'db' twice"));
}

TEST(ConfigParser, DependsOnEntryMixingKindsNamesThem) {
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ url = \"http://h\", tcp = \"h:1\" }]"), 6, 15,
                        "'depends-on' entry mixes 'url' and 'tcp'; use one kind per entry"));
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ id = \"a\", process-exited = \"a\" }]"), 6, 15,
                        "'depends-on' entry mixes 'id' and 'process-exited'"));
  EXPECT_TRUE(OnlyError(
      parse_line6("depends-on = [{ path = \"p\", not-exists = \"p\", not-running = \"p\" }]"), 6,
      15, "'depends-on' entry mixes 'path', 'not-exists' and 'not-running'"));
}

TEST(ConfigParser, DependsOnEntryWithoutAKindListsTheKinds) {
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ timeout = \"1s\" }]"), 6, 15,
                        "'depends-on' entry needs an 'id' or one of 'process-exited', 'url', "
                        "'tcp', 'path', 'not-listening', 'not-exists' or 'not-running'"));
}

TEST(ConfigParser, DependsOnOptionsThatDoNotFitTheKind) {
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ tcp = \"h:1\", code = 200 }]"), 6, 30,
                        "'depends-on.code' does not apply to a tcp entry (only to a url probe)"));
  EXPECT_TRUE(OnlyError(
      parse_line6("depends-on = [{ url = \"http://h\", condition = \"started\" }]"), 6, 35,
      "'depends-on.condition' does not apply to a url probe (only to an 'id' entry)"));
  EXPECT_TRUE(OnlyError(
      parse_line6("depends-on = [{ process-exited = \"a\", condition = \"started\" }]"), 6, 39,
      "'depends-on.condition' does not apply to process-exited (it always waits for "
      "completed-successfully)"));
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ id = \"a\", timeout = \"1s\" }]"), 6, 27,
                        "'depends-on.timeout' does not apply to an 'id' entry (only to the probes "
                        "url, tcp, path, not-listening, not-exists and not-running)"));
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ process-exited = \"a\", retry = false }]"), 6,
                        39, "'depends-on.retry' does not apply to a process-exited entry"));
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ id = \"a\", poll-interval = \"1s\" }]"), 6, 27,
                        "'depends-on.poll-interval' does not apply to an 'id' entry"));
}

TEST(ConfigParser, DependsOnProbeValueErrors) {
  struct Case {
    const char* entry;
    uint32_t column;
    const char* message;
  };
  // Each entry starts at column 15 of line 6; `column` is where the error is.
  const Case cases[] = {
      {"{ url = \"localhost:80\" }", 23,
       "'depends-on.url' must start with http:// or https://, not 'localhost:80'"},
      {"{ url = \"http://\" }", 23, "'depends-on.url' has no host: 'http://'"},
      {"{ url = \"http://h\", code = 600 }", 42,
       "'depends-on.code' must be between 100 and 599, not 600"},
      {"{ tcp = \"nohost\" }", 23, "'depends-on.tcp': expected \"host:port\""},
      {"{ tcp = \"h:99999\" }", 23, "'depends-on.tcp': the port must be 1..65535, not '99999'"},
      {"{ not-listening = \":80\" }", 33, "'depends-on.not-listening': ':80' has no host"},
      {"{ path = \"\" }", 24, "'depends-on.path' is empty"},
      {"{ not-exists = 3 }", 30, "'depends-on.not-exists' must be a string, not an integer"},
      {"{ not-running = \"(unclosed\" }", 31, "'depends-on.not-running' is not a valid regex: "},
      {"{ not-running = \"[z-a]\" }", 31, "'depends-on.not-running' is not a valid regex: "},
      {"{ tcp = \"h:1\", poll-interval = \"0\" }", 46,
       "'depends-on.poll-interval' must be greater than 0"},
      {"{ tcp = \"h:1\", timeout = \"forever\" }", 40, "'depends-on.timeout': "},
      {"{ tcp = \"h:1\", retry = \"no\" }", 38,
       "'depends-on.retry' must be a boolean, not a string"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(OnlyError(parse_line6(std::string("depends-on = [") + c.entry + "]"), 6, c.column,
                          c.message))
        << c.entry;
  }
}

TEST(ConfigParser, DependsOnUnknownKeySuggestsTheClosest) {
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ url = \"http://h\", cod = 200 }]"), 6, 35,
                        "unknown key 'cod' in 'depends-on' of process 'web' (did you mean "
                        "'code'?)"));
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ process_exited = \"db\" }]"), 6, 17,
                        "unknown key 'process_exited' in 'depends-on' of process 'web' (did you "
                        "mean 'process-exited'?)"));
  EXPECT_TRUE(OnlyError(parse_line6("depends-on = [{ tcp = \"h:1\", poll_interval = \"1s\" }]"), 6,
                        30, "(did you mean 'poll-interval'?)"));
}

// ---------------------------------------------------------------------------
// work-dir, env-file

TEST(ConfigParser, RelativeWorkDirIsResolvedAgainstTheConfigDirectory) {
  EXPECT_EQ(parse_web("command = \"x\"\nwork-dir = \"data\"").work_dir, "/etc/procman/data");
  EXPECT_EQ(parse_web("command = \"x\"\nwork-dir = \"./fake/\"").work_dir, "/etc/procman/fake");
  EXPECT_EQ(parse_web("command = \"x\"\nwork-dir = \"../var\"").work_dir, "/etc/procman/../var");
  EXPECT_EQ(parse_web("command = \"x\"\nwork-dir = \"/tmp\"").work_dir, "/tmp");
  EXPECT_EQ(parse_web("command = \"x\"\nwork-dir = \".\"").work_dir, "/etc/procman");
}

TEST(ConfigParser, RelativePathsStayRelativeForABareFileName) {
  ParseResult r = parse_config(web("command = \"x\"\nwork-dir = \"./data\""), "procman.toml", {});
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_EQ(r.config->processes[0].work_dir, "data");
}

TEST(ConfigParser, WorkDirErrors) {
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nwork-dir = \"\"")), 6, 12, "'work-dir' is empty"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nwork-dir = 1")), 6, 12,
                        "'work-dir' must be a string, not an integer"));
}

TEST(ConfigParser, EnvFileIsResolvedButNotRead) {
  EXPECT_EQ(parse_web("command = \"x\"\nenv-file = \"web.env\"").env_file, "/etc/procman/web.env");
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nenv-file = []")), 6, 12,
                        "'env-file' must be a string, not an array"));
}

// ---------------------------------------------------------------------------
// before, init, stop

TEST(ConfigParser, HookStringsGetTheJleahredDefaultTimeouts) {
  ProcessConfig p = parse_web("command = \"x\"\nbefore = \"b\"\ninit = \"i\"\nstop = \"s\"");
  ASSERT_TRUE(p.before && p.init && p.stop);
  EXPECT_EQ(p.before->command, "b");
  EXPECT_EQ(p.before->timeout, 10s);
  EXPECT_EQ(p.init->command, "i");
  EXPECT_EQ(p.init->timeout, 10s);
  EXPECT_EQ(p.stop->command, "s");
  EXPECT_EQ(p.stop->timeout, 5s);
  EXPECT_EQ(p.init->pos.line, 7u);
  EXPECT_EQ(p.init->pos.column, 8u);
}

TEST(ConfigParser, HookTablesTakeATimeout) {
  ProcessConfig p = parse_web(
      "command = \"x\"\ninit = { command = \"sleep 1\", timeout = \"3s\" }\n"
      "[process.stop]\ncommand = \"sleep 5\"\ntimeout = \"1s\"\n"
      "[process.before]\ncommand = \"b\"");
  ASSERT_TRUE(p.before && p.init && p.stop);
  EXPECT_EQ(p.init->timeout, 3s);
  EXPECT_EQ(p.stop->command, "sleep 5");
  EXPECT_EQ(p.stop->timeout, 1s);
  EXPECT_EQ(p.before->timeout, 10s);
}

TEST(ConfigParser, HookErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ninit = { timeout = \"3s\" }")), 6, 8,
                        "'init' needs a 'command'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstop = { command = \"s\", timeout = \"0s\" }")),
                        6, 35, "'stop.timeout' must be greater than 0"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nbefore = { command = \"s\", timeout = \"3x\" }")), 6,
                37, "process 'web': 'before.timeout': unknown unit 'x'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ninit = { command = \"s\", timeout = 3 }")), 6,
                        35,
                        "'init.timeout' must be a duration string such as \"5s\", not an "
                        "integer"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ninit = { command = \"s\", timout = \"1s\" }")),
                        6, 25,
                        "unknown key 'timout' in 'init' of process 'web' (did you mean "
                        "'timeout'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstop = 5")), 6, 8,
                        "'stop' must be a string or a table { command, timeout }, not an "
                        "integer"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nbefore = \"\"")), 6, 10, "'before' is empty"));
}

// ---------------------------------------------------------------------------
// on-start, on-exit, on-failure (event hooks)

TEST(ConfigParser, EventHookStringsGetA30sTimeout) {
  ProcessConfig p = parse_web(
      "command = \"x\"\non-start = \"notify up\"\non-exit = \"notify exit\"\n"
      "on-failure = \"page ops\"");
  ASSERT_TRUE(p.on_start && p.on_exit && p.on_failure);
  EXPECT_EQ(p.on_start->command, "notify up");
  EXPECT_EQ(p.on_start->timeout, 30s);
  EXPECT_EQ(p.on_exit->command, "notify exit");
  EXPECT_EQ(p.on_exit->timeout, 30s);
  EXPECT_EQ(p.on_failure->command, "page ops");
  EXPECT_EQ(p.on_failure->timeout, 30s);
  EXPECT_EQ(p.on_exit->pos.line, 7u);
  EXPECT_EQ(p.on_exit->pos.column, 11u);
}

TEST(ConfigParser, EventHooksAreOptional) {
  ProcessConfig p = parse_web("command = \"x\"");
  EXPECT_FALSE(p.on_start);
  EXPECT_FALSE(p.on_exit);
  EXPECT_FALSE(p.on_failure);
}

TEST(ConfigParser, EventHookTablesTakeATimeout) {
  ProcessConfig p = parse_web(
      "command = \"x\"\non-exit = { command = \"curl -X POST lb/drain\", timeout = \"5s\" }\n"
      "[process.on-failure]\ncommand = \"alert\"\ntimeout = \"1m\"\n"
      "[process.on-start]\ncommand = \"curl -X POST lb/add\"");
  ASSERT_TRUE(p.on_start && p.on_exit && p.on_failure);
  EXPECT_EQ(p.on_exit->command, "curl -X POST lb/drain");
  EXPECT_EQ(p.on_exit->timeout, 5s);
  EXPECT_EQ(p.on_failure->command, "alert");
  EXPECT_EQ(p.on_failure->timeout, 1min);
  EXPECT_EQ(p.on_start->command, "curl -X POST lb/add");
  EXPECT_EQ(p.on_start->timeout, 30s);
}

TEST(ConfigParser, EventHookErrorsAreTheHookErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\non-exit = { timeout = \"3s\" }")), 6, 11,
                        "process 'web': 'on-exit' needs a 'command'"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\non-failure = { command = \"s\", timeout = \"0s\" }")),
                6, 41, "'on-failure.timeout' must be greater than 0"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\non-start = { command = \"s\", timeout = \"3x\" }")), 6,
                39, "process 'web': 'on-start.timeout': unknown unit 'x'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\non-exit = { command = \"s\", timeout = 3 }")),
                        6, 38,
                        "'on-exit.timeout' must be a duration string such as \"5s\", not an "
                        "integer"));
  EXPECT_TRUE(OnlyError(
      parse(web("command = \"x\"\non-exit = { command = \"s\", timout = \"1s\" }")), 6, 28,
      "unknown key 'timout' in 'on-exit' of process 'web' (did you mean 'timeout'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\non-failure = 5")), 6, 14,
                        "'on-failure' must be a string or a table { command, timeout }, not an "
                        "integer"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\non-start = \" \"")), 6, 12, "'on-start' is empty"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\non-exit = { command = [\"a\"] }")), 6, 23,
                        "'on-exit.command' must be a string, not an array"));
}

TEST(ConfigParser, MisspeltEventHookKeysSuggestTheHook) {
  ParseResult r =
      parse(web("command = \"x\"\non_exit = \"a\"\non-falure = \"b\"\nonstart = \"c\""));
  ASSERT_EQ(r.errors.size(), 3u) << dump(r.errors);
  EXPECT_EQ(r.errors[0].message,
            "unknown key 'on_exit' in process 'web' (did you mean 'on-exit'?)");
  EXPECT_TRUE(matches(r.errors[0], 6, 1, "on_exit"));
  EXPECT_EQ(r.errors[1].message,
            "unknown key 'on-falure' in process 'web' (did you mean 'on-failure'?)");
  EXPECT_EQ(r.errors[2].message,
            "unknown key 'onstart' in process 'web' (did you mean 'on-start'?)");
}

TEST(ConfigParser, EventHooksComeFromTemplatesToo) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
[process.template]
template = "T"
name = "a"

[[template]]
name = "T"
template = '''
command = "serve {{ name }}"
on-failure = { command = "alert {{ name }}", timeout = "2s" }
'''
)"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  const ProcessConfig& p = r.config->processes[0];
  ASSERT_TRUE(p.on_failure);
  EXPECT_EQ(p.on_failure->command, "alert a");
  EXPECT_EQ(p.on_failure->timeout, 2s);
}

// ---------------------------------------------------------------------------
// health-check

TEST(ConfigParser, HealthCheckCommandForms) {
  ProcessConfig s = parse_web("command = \"x\"\nhealth-check = \"curl -f localhost\"");
  ASSERT_TRUE(s.health_check);
  EXPECT_EQ(s.health_check->kind, HealthCheck::Kind::Command);
  EXPECT_EQ(s.health_check->command, "curl -f localhost");
  EXPECT_EQ(s.health_check->timeout, 5s);

  ProcessConfig t =
      parse_web("command = \"x\"\nhealth-check = { command = \"c\", timeout = \"3s\" }");
  ASSERT_TRUE(t.health_check);
  EXPECT_EQ(t.health_check->timeout, 3s);
}

TEST(ConfigParser, HealthCheckFolderIsResolvedWithDefaultInactiveTime) {
  ProcessConfig p = parse_web("command = \"x\"\nhealth-check = { folder = \"./fake\" }");
  ASSERT_TRUE(p.health_check);
  EXPECT_EQ(p.health_check->kind, HealthCheck::Kind::Folder);
  EXPECT_EQ(p.health_check->folder, "/etc/procman/fake");
  EXPECT_EQ(p.health_check->inactive_time, 300s);

  ProcessConfig q =
      parse_web("command = \"x\"\nhealth-check = { folder = \"/var/x\", inactive-time = \"10s\" }");
  ASSERT_TRUE(q.health_check);
  EXPECT_EQ(q.health_check->folder, "/var/x");
  EXPECT_EQ(q.health_check->inactive_time, 10s);
}

TEST(ConfigParser, HealthCheckErrors) {
  EXPECT_TRUE(OnlyError(
      parse(web("command = \"x\"\nhealth-check = { command = \"c\", folder = \"f\" }")), 6, 16,
      "'health-check' mixes a command check (command, timeout) with a folder check"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nhealth-check = { timeout = \"1s\" }")), 6, 16,
                        "'health-check' needs one of 'command', 'folder', 'http', 'tcp' or "
                        "'file'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nhealth-check = { comand = \"c\" }")), 6, 18,
                        "unknown key 'comand' in 'health-check' of process 'web' (did you mean "
                        "'command'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nhealth-check = { inactive-time = \"1s\" }")), 6,
                        16, "'health-check' needs a 'folder'"));
  EXPECT_TRUE(OnlyError(
      parse(web("command = \"x\"\nhealth-check = { folder = \"f\", inactive-time = \"0\" }")), 6,
      48, "'health-check.inactive-time' must be greater than 0"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nhealth-check = { folder = \"f\", inactive_time "
                                  "= \"1s\" }")),
                        6, 32, "(did you mean 'inactive-time'?)"));
}

TEST(ConfigParser, HealthCheckGetsTheDefaultTimings) {
  for (const char* check : {"health-check = \"c\"", "health-check = { command = \"c\" }",
                            "health-check = { folder = \"f\" }"}) {
    ProcessConfig p = parse_web(std::string("command = \"x\"\n") + check);
    ASSERT_TRUE(p.health_check) << check;
    EXPECT_EQ(p.health_check->initial_delay, 0s) << check;
    EXPECT_EQ(p.health_check->period, 10s) << check;
    EXPECT_EQ(p.health_check->success_threshold, 1u) << check;
    EXPECT_EQ(p.health_check->failure_threshold, 3u) << check;
    EXPECT_FALSE(p.readiness_check) << check;
  }
}

TEST(ConfigParser, HealthCheckTimingsAreTakenByEveryKind) {
  ProcessConfig p = parse_web(R"(command = "x"
[process.health-check]
tcp = "localhost:5432"
initial-delay = "30s"
period = "2s"
success-threshold = 2
failure-threshold = 5)");
  ASSERT_TRUE(p.health_check);
  EXPECT_EQ(p.health_check->kind, HealthCheck::Kind::Tcp);
  EXPECT_EQ(p.health_check->initial_delay, 30s);
  EXPECT_EQ(p.health_check->period, 2s);
  EXPECT_EQ(p.health_check->success_threshold, 2u);
  EXPECT_EQ(p.health_check->failure_threshold, 5u);
  EXPECT_EQ(p.health_check->pos.line, 6u);

  ProcessConfig q = parse_web(
      "command = \"x\"\nhealth-check = { folder = \"f\", initial-delay = \"0\", period = \"1m\" }");
  ASSERT_TRUE(q.health_check);
  EXPECT_EQ(q.health_check->initial_delay, 0s);
  EXPECT_EQ(q.health_check->period, 1min);
}

TEST(ConfigParser, HealthCheckHttpForm) {
  ProcessConfig p = parse_web(
      "command = \"x\"\nhealth-check = { http = \"http://127.0.0.1:8080/health\", status = 204, "
      "timeout = \"2s\" }");
  ASSERT_TRUE(p.health_check);
  EXPECT_EQ(p.health_check->kind, HealthCheck::Kind::Http);
  EXPECT_EQ(p.health_check->url, "http://127.0.0.1:8080/health");
  EXPECT_EQ(p.health_check->expect_status, 204);
  EXPECT_EQ(p.health_check->timeout, 2s);

  ProcessConfig q = parse_web("command = \"x\"\nhealth-check = { http = \"https://example.org\" }");
  ASSERT_TRUE(q.health_check);
  EXPECT_EQ(q.health_check->url, "https://example.org");
  EXPECT_EQ(q.health_check->expect_status, 200);
  EXPECT_EQ(q.health_check->timeout, 5s);
}

TEST(ConfigParser, HealthCheckTcpFormSplitsHostAndPort) {
  ProcessConfig p = parse_web("command = \"x\"\nhealth-check = { tcp = \"db.local:5432\" }");
  ASSERT_TRUE(p.health_check);
  EXPECT_EQ(p.health_check->kind, HealthCheck::Kind::Tcp);
  EXPECT_EQ(p.health_check->host, "db.local");
  EXPECT_EQ(p.health_check->port, 5432);
  EXPECT_EQ(p.health_check->timeout, 5s);

  ProcessConfig q =
      parse_web("command = \"x\"\nhealth-check = { tcp = \"[::1]:65535\", timeout = \"1s\" }");
  ASSERT_TRUE(q.health_check);
  EXPECT_EQ(q.health_check->host, "::1");
  EXPECT_EQ(q.health_check->port, 65535);
  EXPECT_EQ(q.health_check->timeout, 1s);
}

TEST(ConfigParser, HealthCheckFileIsResolvedAgainstTheConfigDirectory) {
  ProcessConfig p = parse_web("command = \"x\"\nhealth-check = { file = \"run/./ready\" }");
  ASSERT_TRUE(p.health_check);
  EXPECT_EQ(p.health_check->kind, HealthCheck::Kind::File);
  EXPECT_EQ(p.health_check->path, "/etc/procman/run/ready");
  EXPECT_EQ(parse_web("command = \"x\"\nhealth-check = { file = \"/tmp/ok\" }").health_check->path,
            "/tmp/ok");
}

TEST(ConfigParser, ReadinessCheckTakesTheSameShapes) {
  ProcessConfig p = parse_web("command = \"x\"\nreadiness-check = \"test -e /tmp/up\"");
  ASSERT_TRUE(p.readiness_check);
  EXPECT_FALSE(p.health_check);
  EXPECT_EQ(p.readiness_check->kind, HealthCheck::Kind::Command);
  EXPECT_EQ(p.readiness_check->command, "test -e /tmp/up");
  EXPECT_EQ(p.readiness_check->timeout, 5s);
  EXPECT_EQ(p.readiness_check->period, 10s);

  ProcessConfig q = parse_web(R"(command = "x"
health-check = { tcp = "localhost:80", failure-threshold = 1 }
[process.readiness-check]
http = "http://localhost:80/ready"
initial-delay = "5s"
period = "500ms"
success-threshold = 3)");
  ASSERT_TRUE(q.health_check);
  ASSERT_TRUE(q.readiness_check);
  EXPECT_EQ(q.health_check->kind, HealthCheck::Kind::Tcp);
  EXPECT_EQ(q.health_check->failure_threshold, 1u);
  EXPECT_EQ(q.readiness_check->kind, HealthCheck::Kind::Http);
  EXPECT_EQ(q.readiness_check->url, "http://localhost:80/ready");
  EXPECT_EQ(q.readiness_check->initial_delay, 5s);
  EXPECT_EQ(q.readiness_check->period, 500ms);
  EXPECT_EQ(q.readiness_check->success_threshold, 3u);
  EXPECT_EQ(q.readiness_check->pos.line, 7u);

  ProcessConfig f = parse_web("command = \"x\"\nreadiness-check = { folder = \"hb\" }");
  ASSERT_TRUE(f.readiness_check);
  EXPECT_EQ(f.readiness_check->folder, "/etc/procman/hb");
}

TEST(ConfigParser, HealthCheckMixingKindsNamesBoth) {
  EXPECT_TRUE(OnlyError(
      parse_line6("health-check = { http = \"http://h\", tcp = \"h:1\" }"), 6, 16,
      "process 'web': 'health-check' mixes an http check (http, status, timeout) with a tcp "
      "check (tcp, timeout); use one"));
  EXPECT_TRUE(OnlyError(parse_line6("readiness-check = { command = \"c\", file = \"f\" }"), 6, 19,
                        "'readiness-check' mixes a command check (command, timeout) with a file "
                        "check (file); use one"));
  EXPECT_TRUE(OnlyError(
      parse_line6("health-check = { command = \"c\", folder = \"f\", file = \"g\" }"), 6, 16,
      "'health-check' mixes a command check (command, timeout) with a folder check (folder, "
      "inactive-time) and a file check (file); use one"));
}

TEST(ConfigParser, HealthCheckWithoutAKindListsTheKinds) {
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { timeout = \"1s\" }"), 6, 16,
                        "'health-check' needs one of 'command', 'folder', 'http', 'tcp' or "
                        "'file'"));
  EXPECT_TRUE(OnlyError(parse_line6("readiness-check = { period = \"1s\" }"), 6, 19,
                        "'readiness-check' needs one of 'command', 'folder', 'http', 'tcp' or "
                        "'file'"));
  EXPECT_TRUE(OnlyError(parse_line6("readiness-check = {}"), 6, 19,
                        "'readiness-check' needs one of 'command', 'folder'"));
  // An option that only one kind takes names that kind.
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { status = 200 }"), 6, 16,
                        "'health-check' needs an 'http'"));
}

TEST(ConfigParser, HealthCheckOptionsOfAnotherKindAreErrors) {
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { command = \"c\", status = 200 }"), 6, 33,
                        "'health-check.status' does not apply to a command check (only to an "
                        "http check)"));
  EXPECT_TRUE(OnlyError(
      parse_line6("readiness-check = { http = \"http://h\", inactive-time = \"1s\" }"), 6, 40,
      "'readiness-check.inactive-time' does not apply to an http check (only to a folder check)"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { folder = \"f\", timeout = \"1s\" }"), 6, 32,
                        "'health-check.timeout' does not apply to a folder check (only to a "
                        "command, http or tcp check)"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { file = \"f\", timeout = \"1s\" }"), 6, 30,
                        "'health-check.timeout' does not apply to a file check"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { tcp = \"h:1\", status = 200 }"), 6, 31,
                        "'health-check.status' does not apply to a tcp check"));
}

TEST(ConfigParser, HealthCheckHttpErrors) {
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { http = \"localhost:8080/health\" }"), 6, 25,
                        "'health-check.http' must start with http:// or https://, not "
                        "'localhost:8080/health'"));
  EXPECT_TRUE(OnlyError(parse_line6("readiness-check = { http = \"ftp://h\" }"), 6, 28,
                        "'readiness-check.http' must start with http:// or https://"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { http = \"http:///x\" }"), 6, 25,
                        "'health-check.http' has no host: 'http:///x'"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { http = \"http://a b\" }"), 6, 25,
                        "'health-check.http' must not contain white space"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { http = \"\" }"), 6, 25,
                        "'health-check.http' is empty"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { http = \"http://h\", status = 99 }"), 6, 46,
                        "'health-check.status' must be between 100 and 599, not 99"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { http = \"http://h\", status = \"200\" }"), 6,
                        46, "'health-check.status' must be an integer, not a string"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { http = \"http://h\", timeout = \"0\" }"), 6,
                        47, "'health-check.timeout' must be greater than 0"));
}

TEST(ConfigParser, HealthCheckTcpErrors) {
  struct Case {
    const char* address;
    const char* message;
  };
  const Case cases[] = {
      {"localhost",
       "'health-check.tcp': expected \"host:port\" such as \"127.0.0.1:8080\", not "
       "'localhost'"},
      {":80", "'health-check.tcp': ':80' has no host"},
      {"h:0", "'health-check.tcp': the port must be 1..65535, not '0'"},
      {"h:65536", "the port must be 1..65535, not '65536'"},
      {"h:", "the port must be 1..65535, not ''"},
      {"h:http", "the port must be 1..65535, not 'http'"},
      {"h:-1", "the port must be 1..65535, not '-1'"},
      {"::1:80", "an IPv6 address needs brackets, such as \"[::1]:8080\", not '::1:80'"},
      {"[::1]80", "expected \"[address]:port\", not '[::1]80'"},
      {"[::1:80", "'[::1:80' has no closing ']'"},
      {"[]:80", "'[]:80' has no host"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(
        OnlyError(parse_line6(std::string("health-check = { tcp = \"") + c.address + "\" }"), 6, 24,
                  c.message))
        << c.address;
  }
}

TEST(ConfigParser, HealthCheckFileAndTimingErrors) {
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { file = \" \" }"), 6, 25,
                        "'health-check.file' is empty"));
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { file = 1 }"), 6, 25,
                        "'health-check.file' must be a string, not an integer"));
  // Every wrong timing is reported, each at its value.
  ParseResult r = parse(web(R"(command = "x"
[process.readiness-check]
command = "c"
initial-delay = "soon"
period = "0"
success-threshold = 0
failure-threshold = "3")"));
  ASSERT_EQ(r.errors.size(), 4u) << dump(r.errors);
  EXPECT_TRUE(HasError(r, 8, 17, "'readiness-check.initial-delay': "));
  EXPECT_TRUE(HasError(r, 9, 10, "'readiness-check.period' must be greater than 0"));
  EXPECT_TRUE(HasError(r, 10, 21,
                       "'readiness-check.success-threshold' must be between 1 and 1000000, not 0"));
  EXPECT_TRUE(
      HasError(r, 11, 21, "'readiness-check.failure-threshold' must be an integer, not a string"));
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(OnlyError(parse_line6("health-check = { command = \"c\", initial-delay = 5 }"), 6, 49,
                        "'health-check.initial-delay' must be a duration string such as \"5s\", "
                        "not an integer"));
}

TEST(ConfigParser, ReadinessCheckKeyErrors) {
  EXPECT_TRUE(OnlyError(parse_line6("readiness-check = 5"), 6, 19,
                        "'readiness-check' must be a command string or a table with one of "
                        "command, folder, http, tcp or file, not an integer"));
  EXPECT_TRUE(
      OnlyError(parse_line6("readiness-check = \"\""), 6, 19, "'readiness-check' is empty"));
  EXPECT_TRUE(OnlyError(parse_line6("readyness-check = \"c\""), 6, 1,
                        "unknown key 'readyness-check' in process 'web' (did you mean "
                        "'readiness-check'?)"));
  EXPECT_TRUE(OnlyError(parse_line6("readiness-check = { command = \"c\", perod = \"1s\" }"), 6, 36,
                        "unknown key 'perod' in 'readiness-check' of process 'web' (did you mean "
                        "'period'?)"));
  EXPECT_TRUE(
      OnlyError(parse_line6("health-check = { tcp = \"h:1\", failure_threshold = 2 }"), 6, 31,
                "unknown key 'failure_threshold' in 'health-check' of process 'web' (did you mean "
                "'failure-threshold'?)"));
}

// ---------------------------------------------------------------------------
// schedule

TEST(ConfigParser, ScheduleAsHeaderTable) {
  ProcessConfig p = parse_web(R"(command = "x"
[process.schedule]
start-time = "08:00:00"
stop-time = "18:00"
week-days = ["mon", "wed", "thu", "sun"])");
  ASSERT_TRUE(p.schedule);
  EXPECT_EQ(p.schedule->start, TimeOfDay{8 * 3600});
  EXPECT_EQ(p.schedule->stop, TimeOfDay{18 * 3600});
  EXPECT_EQ(p.schedule->week_days.mask, 0b1001101);
}

TEST(ConfigParser, ScheduleFieldsAreOptional) {
  ProcessConfig p = parse_web("command = \"x\"\nschedule = {}");
  ASSERT_TRUE(p.schedule);
  EXPECT_FALSE(p.schedule->start);
  EXPECT_FALSE(p.schedule->stop);
  EXPECT_EQ(p.schedule->week_days.mask, 0x7f);
}

TEST(ConfigParser, ScheduleAcceptsTomlTimes) {
  ProcessConfig p = parse_web("command = \"x\"\nschedule = { start-time = 08:30:00 }");
  ASSERT_TRUE(p.schedule);
  EXPECT_EQ(p.schedule->start, TimeOfDay{8 * 3600 + 30 * 60});
}

TEST(ConfigParser, OvernightWindowIsAllowed) {
  ProcessConfig p = parse_web(
      "command = \"x\"\nschedule = { start-time = \"22:00:00\", stop-time = \"06:00:00\" }");
  ASSERT_TRUE(p.schedule);
  EXPECT_EQ(p.schedule->start, TimeOfDay{22 * 3600});
  EXPECT_EQ(p.schedule->stop, TimeOfDay{6 * 3600});
}

TEST(ConfigParser, WeekDayRangesAndSingleStrings) {
  auto mask = [](std::string_view days) {
    ProcessConfig p =
        parse_web("command = \"x\"\nschedule = { week-days = " + std::string(days) + " }");
    return p.schedule ? p.schedule->week_days.mask : 0xff;
  };
  EXPECT_EQ(mask("\"mon-fri\""), 0b0011111);
  EXPECT_EQ(mask("\"tue-thu\""), 0b0001110);
  EXPECT_EQ(mask("\"fri-mon\""), 0b1110001);
  EXPECT_EQ(mask("\"all\""), 0x7f);
  EXPECT_EQ(mask("[\"mon-tue\", \"sat\"]"), 0b0100011);
  EXPECT_EQ(mask("[\"monday\", \"mon\"]"), 0b0000001);
  EXPECT_EQ(mask("\"mon, wed-fri\""), 0b0011101);
  EXPECT_EQ(mask("[\"sat,sun\", \"MON\"]"), 0b1100001);
}

TEST(ConfigParser, EmptyScheduleWindowIsAnError) {
  EXPECT_TRUE(OnlyError(
      parse(
          web("command = \"x\"\nschedule = { start-time = \"08:00:00\", stop-time = \"08:00\" }")),
      6, 51, "'schedule' window is empty: start-time and stop-time are both 08:00:00"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nschedule = { stop-time = \"00:00:00\" }")), 6,
                        26, "'schedule' window is empty"));
}

TEST(ConfigParser, ScheduleErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nschedule = { start-time = \"25:00:00\" }")), 6,
                        27, "process 'web': 'schedule.start-time': "));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nschedule = { start-time = \"24:00:00\" }")), 6,
                        27, "'schedule.start-time' must be before 24:00:00"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nschedule = { stop-time = 8 }")), 6, 26,
                        "'schedule.stop-time' must be a time string such as \"08:00:00\", not an "
                        "integer"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nschedule = { week-days = [\"mon\", \"fry\"] }")), 6, 34,
                "'schedule.week-days': "));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nschedule = { week-days = [] }")), 6, 26,
                        "'schedule.week-days' is empty: the process would never run"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nschedule = { week-days = 5 }")), 6, 26,
                        "'schedule.week-days' must be a string such as \"mon-fri\" or an array"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nschedule = { week_days = \"all\" }")), 6, 14,
                        "unknown key 'week_days' in 'schedule' of process 'web' (did you mean "
                        "'week-days'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nschedule = \"always\"")), 6, 12,
                        "'schedule' must be a table { start-time, stop-time, week-days }, not a "
                        "string"));
}

// ---------------------------------------------------------------------------
// env, meta

TEST(ConfigParser, EnvValuesAreConvertedToText) {
  ProcessConfig p = parse_web(
      "command = \"x\"\nenv = { PORT = 8080, RATIO = 1.5, DEBUG = true, NAME = \"web\", _X1 = \"\" "
      "}");
  EXPECT_EQ(
      p.env,
      (Env{{"PORT", "8080"}, {"RATIO", "1.5"}, {"DEBUG", "true"}, {"NAME", "web"}, {"_X1", ""}}));
}

TEST(ConfigParser, EnvErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nenv = { LIST = [1] }")), 6, 16,
                        "'env.LIST' must be a string, number or boolean, not an array"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nenv = { 1BAD = \"x\" }")), 6, 9,
                        "invalid environment variable name '1BAD'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nenv = { \"A-B\" = \"x\" }")), 6, 9,
                        "invalid environment variable name 'A-B'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nenv = \"A=1\"")), 6, 7,
                        "'env' must be a table of key = value, not a string"));
}

TEST(ConfigParser, MetaTakesAnyScalars) {
  ProcessConfig p = parse_web(
      "command = \"x\"\n[process.meta]\nowner = \"ops\"\n\"team-size\" = 3\nsince = 2024-01-02");
  EXPECT_EQ(p.meta, (Env{{"owner", "ops"}, {"team-size", "3"}, {"since", "2024-01-02"}}));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nmeta = { a = { b = 1 } }")), 6, 14,
                        "'meta.a' must be a string, number or boolean, not a table"));
}

// ---------------------------------------------------------------------------
// restart, success-exit-codes, restart-delay, start-limit

TEST(ConfigParser, RestartDefaultsDependOnOneShot) {
  EXPECT_EQ(parse_web("command = \"x\"").restart, RestartPolicy::Always);
  EXPECT_EQ(parse_web("command = \"x\"\none-shot = true").restart, RestartPolicy::No);
  EXPECT_EQ(parse_web("command = \"x\"\none-shot = true\nrestart = \"on-failure\"").restart,
            RestartPolicy::OnFailure);
  EXPECT_EQ(parse_web("command = \"x\"\nrestart = \"no\"").restart, RestartPolicy::No);
}

TEST(ConfigParser, RestartErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\none-shot = true\nrestart = \"always\"")), 7, 11,
                        "a one-shot cannot restart always; use on-failure"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nrestart = \"on_failure\"")), 6, 11,
                        "unknown restart policy 'on_failure' (did you mean 'on-failure'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nrestart = \"sometimes\"")), 6, 11,
                        "(expected always, on-failure or no)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nrestart = false")), 6, 11,
                        "'restart' must be a string, not a boolean"));
}

TEST(ConfigParser, SuccessExitCodes) {
  auto codes = [](const ProcessConfig& p) {
    return std::vector<int>(p.success_exit_codes.begin(), p.success_exit_codes.end());
  };
  EXPECT_EQ(codes(parse_web("command = \"x\"")), std::vector<int>{0});
  EXPECT_EQ(codes(parse_web("command = \"x\"\nsuccess-exit-codes = [0, 2, 255]")),
            (std::vector<int>{0, 2, 255}));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nsuccess-exit-codes = [0, 256]")), 6, 26,
                        "'success-exit-codes' must be between 0 and 255, not 256"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nsuccess-exit-codes = []")), 6, 22,
                        "'success-exit-codes' is empty"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nsuccess-exit-codes = 0")), 6, 22,
                        "'success-exit-codes' must be an array of integers, not an integer"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nsuccess-exit-codes = [\"0\"]")), 6, 23,
                        "'success-exit-codes' must be an integer, not a string"));
}

TEST(ConfigParser, RestartDelayDefaultsAndConstantForm) {
  Backoff d = parse_web("command = \"x\"").restart_delay;
  EXPECT_EQ(d.initial, 1s);
  EXPECT_EQ(d.multiplier, 2.0);
  EXPECT_EQ(d.max, 60s);
  EXPECT_EQ(d.reset_after, 60s);

  Backoff c = parse_web("command = \"x\"\nrestart-delay = \"3s\"").restart_delay;
  EXPECT_EQ(c.initial, 3s);
  EXPECT_EQ(c.multiplier, 1.0);
  EXPECT_EQ(c.max, 3s);
  EXPECT_EQ(c.reset_after, 60s);
}

TEST(ConfigParser, RestartDelayTable) {
  Backoff b = parse_web(
                  "command = \"x\"\nrestart-delay = { initial = \"500ms\", multiplier = 1.5, max = "
                  "\"30s\", reset-after = \"5m\" }")
                  .restart_delay;
  EXPECT_EQ(b.initial, 500ms);
  EXPECT_EQ(b.multiplier, 1.5);
  EXPECT_EQ(b.max, 30s);
  EXPECT_EQ(b.reset_after, 5min);

  Backoff i = parse_web("command = \"x\"\nrestart-delay = { multiplier = 3 }").restart_delay;
  EXPECT_EQ(i.multiplier, 3.0);

  // A long initial delay alone raises the default cap instead of failing.
  Backoff l = parse_web("command = \"x\"\nrestart-delay = { initial = \"2m\" }").restart_delay;
  EXPECT_EQ(l.initial, 2min);
  EXPECT_EQ(l.max, 2min);
}

TEST(ConfigParser, RestartDelayErrors) {
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nrestart-delay = { initial = \"10s\", max = \"5s\" }")),
                6, 42, "'restart-delay.max' (5s) must not be less than 'initial' (10s)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nrestart-delay = { multiplier = 0.5 }")), 6, 32,
                        "'restart-delay.multiplier' must be between 1.0 and 1000, not 0.5"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nrestart-delay = { multiplier = \"2\" }")), 6,
                        32, "'restart-delay.multiplier' must be a number, not a string"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nrestart-delay = \"soon\"")), 6, 17,
                        "'restart-delay': "));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nrestart-delay = { inital = \"1s\" }")), 6, 19,
                        "(did you mean 'initial'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nrestart-delay = 5")), 6, 17,
                        "'restart-delay' must be a duration string or a table"));
}

TEST(ConfigParser, StartLimit) {
  StartLimit d = parse_web("command = \"x\"").start_limit;
  EXPECT_EQ(d.burst, 5u);
  EXPECT_EQ(d.interval, 10min);
  StartLimit s =
      parse_web("command = \"x\"\nstart-limit = { burst = 0, interval = \"1m\" }").start_limit;
  EXPECT_EQ(s.burst, 0u);
  EXPECT_EQ(s.interval, 1min);
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstart-limit = { burst = -1 }")), 6, 25,
                        "'start-limit.burst' must be between 0 and 1000000, not -1"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstart-limit = { interval = \"0s\" }")), 6, 28,
                        "'start-limit.interval' must be greater than 0"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstart-limit = { brust = 1 }")), 6, 17,
                        "(did you mean 'burst'?)"));
}

// ---------------------------------------------------------------------------
// stop-signal, stop-timeout, instances

TEST(ConfigParser, StopSignalNamesAndNumbers) {
  EXPECT_EQ(parse_web("command = \"x\"").stop_signal, SIGTERM);
  const std::pair<const char*, int> cases[] = {
      {"\"TERM\"", SIGTERM},
      {"\"SIGTERM\"", SIGTERM},
      {"\"sigterm\"", SIGTERM},
      {"\"INT\"", SIGINT},
      {"\"HUP\"", SIGHUP},
      {"\"QUIT\"", SIGQUIT},
      {"\"KILL\"", SIGKILL},
      {"\"usr1\"", SIGUSR1},
      {"\"SIGUSR2\"", SIGUSR2},
      {"\"WINCH\"", SIGWINCH},
      {"9", 9},
      {"64", 64},
  };
  for (const auto& [text, number] : cases) {
    EXPECT_EQ(parse_web(std::string("command = \"x\"\nstop-signal = ") + text).stop_signal, number)
        << text;
  }
}

TEST(ConfigParser, StopSignalErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstop-signal = \"TREM\"")), 6, 15,
                        "unknown signal 'TREM' (did you mean 'TERM'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstop-signal = 0")), 6, 15,
                        "'stop-signal' must be between 1 and 64, not 0"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstop-signal = 65")), 6, 15,
                        "must be between 1 and 64"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstop-signal = true")), 6, 15,
                        "'stop-signal' must be a signal name such as \"TERM\" or a number, not a "
                        "boolean"));
}

TEST(ConfigParser, StopTimeout) {
  EXPECT_EQ(parse_web("command = \"x\"").stop_timeout, 10s);
  EXPECT_EQ(parse_web("command = \"x\"\nstop-timeout = \"30s\"").stop_timeout, 30s);
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nstop-timeout = \"0s\"")), 6, 16,
                        "'stop-timeout' must be greater than 0"));
}

TEST(ConfigParser, Instances) {
  EXPECT_EQ(parse_web("command = \"x\"").instances, 1u);
  EXPECT_EQ(parse_web("command = \"x\"\ninstances = 10000").instances, 10000u);
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ninstances = 0")), 6, 13,
                        "'instances' must be between 1 and 10000, not 0"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ninstances = 10001")), 6, 13, "not 10001"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ninstances = \"2\"")), 6, 13,
                        "'instances' must be an integer, not a string"));
}

// ---------------------------------------------------------------------------
// user, group, nice, ionice, umask, limits

TEST(ConfigParser, UserGroupAndNice) {
  ProcessConfig p = parse_web("command = \"x\"\nuser = \"www-data\"\ngroup = \"1000\"\nnice = -20");
  EXPECT_EQ(p.user, "www-data");
  EXPECT_EQ(p.group, "1000");
  EXPECT_EQ(p.nice, -20);
  EXPECT_EQ(parse_web("command = \"x\"\nnice = 19").nice, 19);
  EXPECT_FALSE(parse_web("command = \"x\"").nice.has_value());
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nnice = 20")), 6, 8,
                        "'nice' must be between -20 and 19, not 20"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nuser = \"\"")), 6, 8, "'user' is empty"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ngroup = 1000")), 6, 9,
                        "'group' must be a string, not an integer"));
}

TEST(ConfigParser, IoNiceForms) {
  auto ionice = [](std::string_view v) {
    ProcessConfig p = parse_web("command = \"x\"\nionice = " + std::string(v));
    return p.ionice.value_or(IoNice{-1, -1});
  };
  EXPECT_EQ(ionice("\"idle\"").io_class, 3);
  IoNice be = ionice("\"best-effort\"");
  EXPECT_EQ(be.io_class, 2);
  EXPECT_EQ(be.level, 4);
  EXPECT_EQ(ionice("\"best-effort:7\"").level, 7);
  IoNice rt = ionice("\"realtime:0\"");
  EXPECT_EQ(rt.io_class, 1);
  EXPECT_EQ(rt.level, 0);
  EXPECT_EQ(ionice("\"realtime\"").level, 4);
  IoNice n = ionice("3");
  EXPECT_EQ(n.io_class, 2);
  EXPECT_EQ(n.level, 3);
}

TEST(ConfigParser, IoNiceErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nionice = \"realtime:8\"")), 6, 10,
                        "'ionice' level must be 0..7, not '8'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nionice = \"idle:3\"")), 6, 10,
                        "'ionice' class idle takes no level"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nionice = \"best_effort\"")), 6, 10,
                        "unknown ionice class 'best_effort' (did you mean 'best-effort'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nionice = \"fast\"")), 6, 10,
                        "(expected idle, best-effort[:N] or realtime[:N])"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nionice = 8")), 6, 10,
                        "'ionice' must be between 0 and 7, not 8"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nionice = 1.0")), 6, 10,
                        "'ionice' must be a string such as \"best-effort:4\" or a level 0..7, not "
                        "a float"));
}

TEST(ConfigParser, UmaskForms) {
  EXPECT_EQ(parse_web("command = \"x\"\numask = \"022\"").umask, 0022u);
  EXPECT_EQ(parse_web("command = \"x\"\numask = \"0027\"").umask, 0027u);
  EXPECT_EQ(parse_web("command = \"x\"\numask = 0o022").umask, 0022u);
  EXPECT_EQ(parse_web("command = \"x\"\numask = 0").umask, 0u);
  EXPECT_FALSE(parse_web("command = \"x\"").umask.has_value());
}

TEST(ConfigParser, UmaskErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\numask = 22")), 6, 9,
                        "'umask' must be an octal integer such as 0o022 or a string such as "
                        "\"022\", not the decimal integer 22"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\numask = \"089\"")), 6, 9,
                        "'umask' must be octal digits such as \"022\", not '089'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\numask = \"1777\"")), 6, 9,
                        "'umask' must be at most 0777, not '1777'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\numask = 0o1000")), 6, 9,
                        "'umask' must be at most 0o777, not 0o1000"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\numask = true")), 6, 9,
                        "'umask' must be a string such as \"022\" or an octal integer, not a "
                        "boolean"));
}

TEST(ConfigParser, Limits) {
  ProcessConfig p = parse_web(
      "command = \"x\"\n[process.limits]\nnofile = 4096\ncore = \"infinity\"\nnproc = [10, "
      "20]\nstack = [1024, \"infinity\"]");
  ASSERT_EQ(p.limits.size(), 4u);
  // toml++ tables are ordered by key.
  EXPECT_EQ(p.limits[0].name, "core");
  EXPECT_EQ(p.limits[0].resource, RLIMIT_CORE);
  EXPECT_EQ(p.limits[0].soft, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(p.limits[0].hard, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(p.limits[1].name, "nofile");
  EXPECT_EQ(p.limits[1].resource, RLIMIT_NOFILE);
  EXPECT_EQ(p.limits[1].soft, 4096u);
  EXPECT_EQ(p.limits[1].hard, 4096u);
  EXPECT_EQ(p.limits[2].resource, RLIMIT_NPROC);
  EXPECT_EQ(p.limits[2].soft, 10u);
  EXPECT_EQ(p.limits[2].hard, 20u);
  EXPECT_EQ(p.limits[3].resource, RLIMIT_STACK);
  EXPECT_EQ(p.limits[3].soft, 1024u);
  EXPECT_EQ(p.limits[3].hard, std::numeric_limits<uint64_t>::max());
}

TEST(ConfigParser, EveryRlimitNameIsKnown) {
  const std::pair<const char*, int> names[] = {
      {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
      {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
      {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
      {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
      {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
      {"stack", RLIMIT_STACK},
  };
  for (const auto& [name, resource] : names) {
    ProcessConfig p = parse_web("command = \"x\"\nlimits = { " + std::string(name) + " = 1 }");
    ASSERT_EQ(p.limits.size(), 1u) << name;
    EXPECT_EQ(p.limits[0].resource, resource) << name;
  }
}

TEST(ConfigParser, LimitErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nlimits = { nofiles = 1 }")), 6, 12,
                        "unknown limit 'limits.nofiles' (did you mean 'nofile'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nlimits = { nproc = [20, 10] }")), 6, 20,
                        "'limits.nproc': the soft limit must not exceed the hard limit"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nlimits = { nproc = [\"infinity\", 10] }")), 6,
                        20, "the soft limit must not exceed the hard limit"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nlimits = { core = -1 }")), 6, 19,
                        "'limits.core' must be >= 0, not -1"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nlimits = { core = [1] }")), 6, 19,
                        "'limits.core' must be [soft, hard], not 1 values"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nlimits = { core = \"lots\" }")), 6, 19,
                        "'limits.core' must be an integer or \"infinity\", not 'lots'"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nlimits = { core = 1.5 }")), 6, 19,
                        "'limits.core' must be an integer, \"infinity\" or [soft, hard], not a "
                        "float"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nlimits = 5")), 6, 10,
                        "'limits' must be a table such as { nofile = 4096 }, not an integer"));
}

// ---------------------------------------------------------------------------
// deadline, cron

TEST(ConfigParser, Deadline) {
  EXPECT_FALSE(parse_web("command = \"x\"").deadline.has_value());
  EXPECT_EQ(parse_web("command = \"x\"\ndeadline = \"1h30m\"").deadline, 90min);
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ndeadline = \"0\"")), 6, 12,
                        "'deadline' must be greater than 0"));
}

TEST(ConfigParser, CronIsParsedAndKeptAsWritten) {
  ProcessConfig p = parse_web("command = \"x\"\none-shot = true\ncron = \"*/15 2 * * mon-fri\"");
  ASSERT_TRUE(p.cron);
  EXPECT_EQ(p.cron_text, "*/15 2 * * mon-fri");
  EXPECT_TRUE(p.cron->minutes.test(0));
  EXPECT_TRUE(p.cron->minutes.test(45));
  EXPECT_FALSE(p.cron->minutes.test(5));
  EXPECT_TRUE(p.cron->hours.test(2));
  EXPECT_EQ(p.cron->hours.count(), 1u);
}

TEST(ConfigParser, CronErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ncron = \"@daily\"")), 6, 8,
                        "'cron' requires one-shot = true"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\none-shot = true\ncron = \"61 * * * *\"")), 7, 8,
                        "process 'web': 'cron': "));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\none-shot = true\ncron = 5")), 7, 8,
                        "'cron' must be a string, not an integer"));
}

// ---------------------------------------------------------------------------
// Collecting everything

TEST(ConfigParser, AllErrorsAreCollectedInFileOrder) {
  ParseResult r = parse(R"(uid = ""
file-format = "2"
[[process]]
id = "a"
one-shot = "no"
comand = "x"
[[process]]
id = "b"
command = "y"
depends-on = ["zzz"]
nice = 100
)");
  ASSERT_EQ(r.errors.size(), 7u) << dump(r.errors);
  EXPECT_TRUE(matches(r.errors[0], 1, 7, "'uid' is empty"));
  EXPECT_TRUE(matches(r.errors[1], 2, 15, "unsupported file-format '2'"));
  EXPECT_TRUE(matches(r.errors[2], 3, 1, "process 'a': missing required key 'command'"));
  EXPECT_TRUE(matches(r.errors[3], 5, 12, "'one-shot' must be a boolean"));
  EXPECT_TRUE(matches(r.errors[4], 6, 1,
                      "unknown key 'comand' in process 'a' (did you mean "
                      "'command'?)"));
  EXPECT_TRUE(matches(r.errors[5], 10, 15, "process 'b' depends on unknown process 'zzz'"));
  EXPECT_TRUE(matches(r.errors[6], 11, 8, "'nice' must be between -20 and 19"));
  EXPECT_FALSE(r.config);
}

TEST(ConfigParser, NotesAreReturnedEvenWithErrors) {
  ParseResult r = parse(web("command = \"a | b\"\nnice = 100"));
  EXPECT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.notes.size(), 1u);
}

TEST(ConfigParser, DiagnosticsFormatAsFileLineColumn) {
  ParseResult r = parse(web("command = \"x\"\none-shot = 1"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(format_diagnostic(r.errors[0]),
            "/etc/procman/procman.toml:6:12: error: process 'web': 'one-shot' must be a boolean, "
            "not an integer");
}

// ---------------------------------------------------------------------------
// [controller]

TEST(ConfigController, AbsentByDefault) {
  ParseResult r = parse(file(""));
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_FALSE(r.config->controller);
}

TEST(ConfigController, MinimalTableTakesTheDefaults) {
  ParseResult r = parse(file("\n[controller]\ncommand = \"./controller.py --verbose\"\n"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_TRUE(r.config->controller);
  const ControllerConfig& c = *r.config->controller;
  EXPECT_EQ(c.command.line, "./controller.py --verbose");
  EXPECT_EQ(c.command.type, CommandType::Simple);
  EXPECT_EQ(c.command.pos.line, 5u);
  EXPECT_EQ(c.command.pos.column, 11u);
  EXPECT_EQ(c.pos.line, 4u);
  EXPECT_EQ(c.pos.column, 1u);
  EXPECT_TRUE(c.env.empty());
  EXPECT_FALSE(c.work_dir);
  EXPECT_EQ(c.restart_delay.initial, 1s);
  EXPECT_EQ(c.restart_delay.multiplier, 2.0);
  EXPECT_EQ(c.restart_delay.max, 60s);
  EXPECT_EQ(c.restart_delay.reset_after, 60s);
  EXPECT_TRUE(r.notes.empty());
}

TEST(ConfigController, EveryKey) {
  ParseResult r = parse(file(R"([controller]
command = "python3 ctl.py"
work-dir = "ctl/./bin"
env = { LEVEL = 3, MODE = "auto", DRY = false }
restart-delay = { initial = "2s", multiplier = 3, max = "2m", reset-after = "10m" }
[[process]]
id = "web"
command = "serve"
)"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_TRUE(r.config->controller);
  const ControllerConfig& c = *r.config->controller;
  EXPECT_EQ(c.command.line, "python3 ctl.py");
  EXPECT_EQ(c.work_dir, "/etc/procman/ctl/bin");
  EXPECT_EQ(c.env, (Env{{"LEVEL", "3"}, {"MODE", "auto"}, {"DRY", "false"}}));
  EXPECT_EQ(c.restart_delay.initial, 2s);
  EXPECT_EQ(c.restart_delay.multiplier, 3.0);
  EXPECT_EQ(c.restart_delay.max, 2min);
  EXPECT_EQ(c.restart_delay.reset_after, 10min);
  ASSERT_EQ(r.config->processes.size(), 1u);
}

TEST(ConfigController, InlineTableAndConstantRestartDelay) {
  ParseResult r =
      parse(file("controller = { command = \"/usr/bin/ctl\", restart-delay = \"5s\" }\n"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_TRUE(r.config->controller);
  const Backoff& b = r.config->controller->restart_delay;
  EXPECT_EQ(b.initial, 5s);
  EXPECT_EQ(b.max, 5s);
  EXPECT_EQ(b.multiplier, 1.0);
  EXPECT_EQ(r.config->controller->pos.line, 3u);
  EXPECT_EQ(r.config->controller->pos.column, 14u);
}

TEST(ConfigController, ShellSyntaxInTheCommandIsANote) {
  ParseResult r = parse(file("[controller]\ncommand = \"ctl | logger\"\n"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0].message,
            "[controller]: command contains shell syntax, it runs via /bin/sh -c");
  EXPECT_EQ(r.notes[0].pos.line, 4u);
  EXPECT_EQ(r.notes[0].pos.column, 11u);
}

TEST(ConfigController, CommandIsRequired) {
  EXPECT_TRUE(OnlyError(parse(file("\n[controller]\nwork-dir = \"/\"\n")), 4, 1,
                        "[controller]: missing required key 'command'"));
  EXPECT_TRUE(OnlyError(parse(file("controller = {}\n")), 3, 14,
                        "[controller]: missing required key 'command'"));
}

TEST(ConfigController, CommandErrors) {
  EXPECT_TRUE(OnlyError(parse(file("[controller]\ncommand = \"  \"\n")), 4, 11,
                        "[controller]: 'command' is empty"));
  EXPECT_TRUE(OnlyError(parse(file("[controller]\ncommand = \"ctl 'oops\"\n")), 4, 11,
                        "[controller]: 'command': "));
  EXPECT_TRUE(OnlyError(parse(file("[controller]\ncommand = [\"ctl\"]\n")), 4, 11,
                        "[controller]: 'command' must be a string, not an array"));
  // The controller talks over stdin and stdout: only the plain string form.
  EXPECT_TRUE(OnlyError(parse(file("[controller]\ncommand = { line = \"ctl\" }\n")), 4, 11,
                        "[controller]: 'command' must be a string, not a table"));
}

TEST(ConfigController, UnknownKeysGetSuggestions) {
  ParseResult r = parse(
      file("[controller]\ncomand = \"x\"\nwork_dir = \"/\"\nrestart_delay = \"1s\"\nenviron = {}\n"
           "stop-signal = \"INT\"\n"));
  ASSERT_EQ(r.errors.size(), 6u) << dump(r.errors);
  EXPECT_TRUE(matches(r.errors[0], 3, 1, "[controller]: missing required key 'command'"));
  EXPECT_EQ(r.errors[1].message, "unknown key 'comand' in [controller] (did you mean 'command'?)");
  EXPECT_TRUE(matches(r.errors[1], 4, 1, "comand"));
  EXPECT_EQ(r.errors[2].message,
            "unknown key 'work_dir' in [controller] (did you mean 'work-dir'?)");
  EXPECT_EQ(r.errors[3].message,
            "unknown key 'restart_delay' in [controller] (did you mean 'restart-delay'?)");
  EXPECT_EQ(r.errors[4].message, "unknown key 'environ' in [controller]");
  EXPECT_TRUE(matches(r.errors[5], 8, 1, "unknown key 'stop-signal' in [controller]"));
  EXPECT_FALSE(r.config);
}

TEST(ConfigController, EnvWorkDirAndRestartDelayErrors) {
  const std::string head = "[controller]\ncommand = \"ctl\"\n";
  EXPECT_TRUE(OnlyError(parse(file(head + "env = { 1X = \"a\" }\n")), 5, 9,
                        "[controller]: invalid environment variable name '1X'"));
  EXPECT_TRUE(OnlyError(parse(file(head + "env = \"A=1\"\n")), 5, 7,
                        "[controller]: 'env' must be a table of key = value, not a string"));
  EXPECT_TRUE(OnlyError(parse(file(head + "env = { A = [1] }\n")), 5, 13,
                        "'env.A' must be a string, number or boolean, not an array"));
  EXPECT_TRUE(OnlyError(parse(file(head + "work-dir = \"\"\n")), 5, 12,
                        "[controller]: 'work-dir' is empty"));
  EXPECT_TRUE(OnlyError(parse(file(head + "work-dir = 1\n")), 5, 12,
                        "[controller]: 'work-dir' must be a string, not an integer"));
  EXPECT_TRUE(OnlyError(parse(file(head + "restart-delay = { initial = \"10s\", max = \"5s\" }\n")),
                        5, 42,
                        "[controller]: 'restart-delay.max' (5s) must not be less than 'initial' "
                        "(10s)"));
  EXPECT_TRUE(OnlyError(parse(file(head + "restart-delay = { inital = \"1s\" }\n")), 5, 19,
                        "unknown key 'inital' in 'restart-delay' of [controller] (did you mean "
                        "'initial'?)"));
  EXPECT_TRUE(OnlyError(parse(file(head + "restart-delay = \"soon\"\n")), 5, 17,
                        "[controller]: 'restart-delay': "));
  EXPECT_TRUE(OnlyError(parse(file(head + "restart-delay = { multiplier = 0.5 }\n")), 5, 32,
                        "'restart-delay.multiplier' must be between 1.0 and 1000, not 0.5"));
  EXPECT_TRUE(OnlyError(parse(file(head + "restart-delay = 5\n")), 5, 17,
                        "'restart-delay' must be a duration string or a table"));
}

TEST(ConfigController, AnArrayOfControllersIsRejected) {
  ParseResult r = parse(file("[[controller]]\ncommand = \"a\"\n[[controller]]\ncommand = \"b\"\n"));
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(r.errors[0].message,
            "'controller' must be one table [controller], not an array of tables "
            "([[controller]]): procmand runs a single controller");
  EXPECT_EQ(r.errors[0].pos.line, 3u);
  EXPECT_EQ(r.errors[0].pos.column, 1u);
  EXPECT_FALSE(r.config);

  EXPECT_TRUE(OnlyError(parse(file("[[controller]]\ncommand = \"a\"\n")), 3, 1,
                        "not an array of tables ([[controller]])"));
}

TEST(ConfigController, MustBeATable) {
  EXPECT_TRUE(OnlyError(parse(file("controller = \"./ctl\"\n")), 3, 14,
                        "'controller' must be a table [controller] with a command, not a string"));
  EXPECT_TRUE(OnlyError(parse(file("controller = [\"./ctl\"]\n")), 3, 14,
                        "'controller' must be a table [controller] with a command, not an array "
                        "of values"));
}

TEST(ConfigController, TwoControllerTablesAreATomlError) {
  ParseResult r = parse(file("[controller]\ncommand = \"a\"\n[controller]\ncommand = \"b\"\n"));
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(r.errors[0].pos.line, 5u);
  EXPECT_FALSE(r.config);
}

TEST(ConfigController, MisspeltTableNameSuggestsController) {
  EXPECT_TRUE(OnlyError(parse(file("[controler]\ncommand = \"a\"\n")), 3, 1,
                        "unknown key 'controler' (did you mean 'controller'?)"));
}

TEST(ConfigController, ErrorsAreCollectedWithProcessErrors) {
  ParseResult r = parse(file(R"([[process]]
id = "web"
command = "serve"
nice = 99
[controller]
command = ""
restart-delay = "x"
)"));
  ASSERT_EQ(r.errors.size(), 3u) << dump(r.errors);
  EXPECT_TRUE(matches(r.errors[0], 6, 8, "'nice' must be between -20 and 19"));
  EXPECT_TRUE(matches(r.errors[1], 8, 11, "[controller]: 'command' is empty"));
  EXPECT_TRUE(matches(r.errors[2], 9, 17, "[controller]: 'restart-delay'"));
  EXPECT_FALSE(r.config);
}

// ---------------------------------------------------------------------------
// Templates

constexpr const char* kPodman = R"(uid = "u"
file-format = "0"

[[process]]
id = "A"
apply-on = "2029-11-01T12:00:00"

[process.template]
template = "PODMAN"
container_name = "test_a"
image = "docker.io/ubuntu:24.04"
command = "sleep 444"

[[template]]
name = "PODMAN"
template = '''
command = "podman run --init --rm --name {{ container_name }} {{ image }} {{ command }}"
health-check = "podman inspect --format '{{ '{{.State.Status}}' }}' {{ container_name }}"
stop = "podman stop -t4 {{ container_name }}"
'''
)";

TEST(ConfigTemplates, TemplateKeysAreMergedIntoTheProcess) {
  ParseResult r = parse(kPodman);
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_EQ(r.config->processes.size(), 1u);
  const ProcessConfig& p = r.config->processes[0];
  EXPECT_EQ(p.id, "A");
  EXPECT_EQ(p.template_name, "PODMAN");
  ASSERT_TRUE(p.command);
  EXPECT_EQ(p.command->line,
            "podman run --init --rm --name test_a docker.io/ubuntu:24.04 sleep 444");
  ASSERT_TRUE(p.health_check);
  EXPECT_EQ(p.health_check->command, "podman inspect --format '{{.State.Status}}' test_a");
  ASSERT_TRUE(p.stop);
  EXPECT_EQ(p.stop->command, "podman stop -t4 test_a");
}

TEST(ConfigTemplates, ProcessesWithoutTemplateHaveNoTemplateName) {
  EXPECT_FALSE(parse_web("command = \"x\"").template_name.has_value());
}

TEST(ConfigTemplates, VariablesFallBackToTheEnvironment) {
  const std::string text = file(R"([[process]]
id = "a"
template = { template = "T", port = 8080 }
[[template]]
name = "T"
template = 'command = "serve --port {{ port }} --home {{ HOME }}"'
)");
  ParseResult r = parse(text, {{"HOME", "/home/me"}, {"port", "1"}});
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_EQ(r.config->processes[0].command->line, "serve --port 8080 --home /home/me");

  EXPECT_TRUE(OnlyError(parse(text), 5, 12,
                        "in template 'T' for process 'a': missing variable 'HOME' (template "
                        "line 1)"));
}

TEST(ConfigTemplates, UnusedVariableIsReportedAtItsKey) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
[process.template]
template = "T"
extra = "x"
[[template]]
name = "T"
template = 'command = "run"'
)"));
  EXPECT_TRUE(OnlyError(r, 7, 1,
                        "in template 'T' for process 'a': variable 'extra' is not used by the "
                        "template"));
}

TEST(ConfigTemplates, UnknownTemplateSuggestsTheClosest) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
[process.template]
template = "PODMN"
[[template]]
name = "PODMAN"
template = 'command = "run"'
)"));
  EXPECT_TRUE(
      OnlyError(r, 6, 12, "process 'a': unknown template 'PODMN' (did you mean 'PODMAN'?)"));
}

TEST(ConfigTemplates, UnknownTemplateWhenNoneIsDefined) {
  ParseResult r = parse(file("[[process]]\nid = \"a\"\ntemplate = { template = \"X\" }\n"));
  EXPECT_TRUE(OnlyError(r, 5, 25, "unknown template 'X' (no [[template]] is defined)"));
}

TEST(ConfigTemplates, KeySetByBothProcessAndTemplateIsAnError) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
command = "mine"
[process.template]
template = "T"
[[template]]
name = "T"
template = 'command = "theirs"'
)"));
  EXPECT_TRUE(OnlyError(r, 5, 1,
                        "process 'a': key 'command' is set both by the process and by template "
                        "'T'"));
}

TEST(ConfigTemplates, TomlErrorInRenderedTemplateNamesTheTemplateLine) {
  ParseResult r = parse(file(R"([[process]]
id = "a"

[process.template]
template = "T"
[[template]]
name = "T"
template = '''
command = "ok"
stop = 
'''
)"));
  ASSERT_TRUE(OnlyError(r, 6, 1, "in template 'T' for process 'a': "));
  EXPECT_NE(r.errors[0].message.find("(template line 2)"), std::string::npos)
      << r.errors[0].message;
}

TEST(ConfigTemplates, ErrorInATemplateProvidedKeyPointsAtTheTemplateUse) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
[process.template]
template = "T"
[[template]]
name = "T"
template = '''
command = "run"
one-shot = "yes"
'''
)"));
  EXPECT_TRUE(OnlyError(r, 5, 1,
                        "process 'a': 'one-shot' must be a boolean, not a string (from template "
                        "'T', template line 2)"));
}

TEST(ConfigTemplates, TemplateTablesAreWrittenRelativeToTheProcess) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
template = { template = "T", from = "08:00" }
[[template]]
name = "T"
template = '''
command = "run"
[schedule]
start-time = "{{ from }}"
'''
)"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_TRUE(r.config->processes[0].schedule);
  EXPECT_EQ(r.config->processes[0].schedule->start, TimeOfDay{8 * 3600});
}

TEST(ConfigTemplates, UnknownKeyFromATemplateNamesTheTemplateLine) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
template = { template = "T" }
[[template]]
name = "T"
template = '''
command = "run"
one_shot = true
'''
)"));
  EXPECT_TRUE(OnlyError(r, 5, 12,
                        "unknown key 'one_shot' in process 'a' (did you mean 'one-shot'?) (from "
                        "template 'T', template line 2)"));
}

TEST(ConfigTemplates, FailedExpansionDoesNotAlsoReportMissingKeys) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
[process.template]
template = "T"
[[template]]
name = "T"
template = 'command = "{{ nope }}"'
)"));
  EXPECT_TRUE(OnlyError(r, 5, 1, "missing variable 'nope'"));
}

TEST(ConfigTemplates, TemplateDefinitionErrors) {
  EXPECT_TRUE(OnlyError(parse(file("[[template]]\nname = \"T\"\ntemplate = 'a = 1'\n[[template]]\n"
                                   "name = \"T\"\ntemplate = 'b = 1'\n")),
                        7, 8, "template 'T': defined twice (first at line 4)"));
  EXPECT_TRUE(OnlyError(parse(file("[[template]]\nname = \"T\"\n")), 3, 1,
                        "template 'T': missing required key 'template'"));
  EXPECT_TRUE(OnlyError(parse(file("[[template]]\ntemplate = 'a = 1'\n")), 3, 1,
                        "[[template]]: missing required key 'name'"));
  EXPECT_TRUE(OnlyError(parse(file("[[template]]\nname = \"T\"\ntemplate = 'a = 1'\nbody = 1\n")),
                        6, 1, "unknown key 'body' in template 'T'"));
  EXPECT_TRUE(OnlyError(parse(file("[template]\nname = \"T\"\n")), 3, 1,
                        "'template' must be an array of tables ([[template]] with name and "
                        "template), not a table"));
  EXPECT_TRUE(OnlyError(parse(file("template = [\"T\"]\n")), 3, 12,
                        "'template' must be an array of tables ([[template]] with name and "
                        "template), not an array of values"));
  EXPECT_TRUE(OnlyError(parse(file("[[template]]\nname = \"T\"\ntemplate = 1\n")), 5, 12,
                        "template 'T': 'template' must be a string, not an integer"));
}

TEST(ConfigTemplates, TemplateUseErrors) {
  EXPECT_TRUE(OnlyError(parse(file("[[process]]\nid = \"a\"\ntemplate = \"T\"\n")), 5, 12,
                        "process 'a': 'template' must be a table { template = \"NAME\", "
                        "variables... }, not a string"));
  EXPECT_TRUE(OnlyError(parse(file("[[process]]\nid = \"a\"\ntemplate = { x = \"1\" }\n")), 5, 12,
                        "[process.template] needs 'template' = the template's name"));
  EXPECT_TRUE(OnlyError(parse(file("[[process]]\nid = \"a\"\ntemplate = { template = \"T\", x = "
                                   "[1] }\n[[template]]\nname = \"T\"\ntemplate = 'a = 1'\n")),
                        5, 34,
                        "template variable 'x' must be a string or another scalar, not an array"));
}

TEST(ConfigTemplates, TemplateCannotUseAnotherTemplate) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
template = { template = "T" }
[[template]]
name = "T"
template = '''
command = "x"
template = { template = "T" }
'''
)"));
  EXPECT_TRUE(OnlyError(r, 5, 12, "a template cannot use another template"));
}

TEST(ConfigTemplates, PidFilePlaceholderSurvivesExpansion) {
  ParseResult r = parse(file(R"([[process]]
id = "a"
template = { template = "T", n = "3" }
[[template]]
name = "T"
template = '''
command = { line = "sleep {{ n }} & echo $! > {{ PROCMAN_PID_FILE }}", type = "pid-file" }
'''
)"));
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_EQ(r.config->processes[0].command->line, "sleep 3 & echo $! > {{ PROCMAN_PID_FILE }}");
  EXPECT_EQ(r.config->processes[0].command->type, CommandType::PidFile);
}

TEST(ConfigTemplates, ExpandReturnsTheDocumentWithoutTemplates) {
  ExpandResult e = expand_config_templates(kPodman, kPath, {});
  ASSERT_TRUE(e.text) << dump(e.errors);
  EXPECT_TRUE(e.errors.empty());
  EXPECT_EQ(e.text->find("[[template]]"), std::string::npos) << *e.text;
  EXPECT_EQ(e.text->find("container_name"), std::string::npos) << *e.text;
  EXPECT_NE(e.text->find("podman run --init --rm --name test_a docker.io/ubuntu:24.04 sleep 444"),
            std::string::npos)
      << *e.text;
  EXPECT_NE(e.text->find("{{.State.Status}}"), std::string::npos) << *e.text;

  // The expansion is itself a valid file describing the same process.
  ParseResult again = parse(*e.text);
  ASSERT_TRUE(again.config) << dump(again.errors) << *e.text;
  ASSERT_EQ(again.config->processes.size(), 1u);
  EXPECT_EQ(again.config->processes[0].command->line,
            "podman run --init --rm --name test_a docker.io/ubuntu:24.04 sleep 444");
  EXPECT_EQ(again.config->processes[0].apply_on, (LocalDateTime{2029, 11, 1, 12, 0, 0}));
}

TEST(ConfigTemplates, ExpandReportsErrors) {
  ExpandResult e = expand_config_templates(
      file("[[process]]\nid = \"a\"\ntemplate = { template = \"X\" }\n"), kPath, {});
  EXPECT_FALSE(e.text);
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_NE(e.errors[0].message.find("unknown template 'X'"), std::string::npos);

  ExpandResult syntax = expand_config_templates("a = ", kPath, {});
  EXPECT_FALSE(syntax.text);
  EXPECT_EQ(syntax.errors.size(), 1u);
}

TEST(ConfigTemplates, ExpandDoesNotValidateProcesses) {
  // Like jleahred/procman's expand-templates: only expansion problems are errors.
  ExpandResult e = expand_config_templates(file("[[process]]\nnice = 100\n"), kPath, {});
  ASSERT_TRUE(e.text) << dump(e.errors);
  EXPECT_NE(e.text->find("nice = 100"), std::string::npos);
}

}  // namespace
}  // namespace procman::core

// ---------------------------------------------------------------- systemd contract keys

namespace procman::core {
namespace {

TEST(ConfigSystemd, ReadyWatchdogAndStartTimeout) {
  ProcessConfig p =
      parse_web("command = \"x\"\nready = \"notify\"\nstart-timeout = \"3m\"\nwatchdog = \"10s\"");
  EXPECT_EQ(p.ready, ReadyMode::Notify);
  EXPECT_EQ(p.start_timeout, std::chrono::minutes(3));
  EXPECT_EQ(p.watchdog, std::chrono::seconds(10));
  ProcessConfig d = parse_web("command = \"x\"");
  EXPECT_EQ(d.ready, ReadyMode::Started);
  EXPECT_EQ(d.start_timeout, std::chrono::seconds(90));
  EXPECT_FALSE(d.watchdog.has_value());
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nready = \"notfy\"")), 6, 9,
                        "unknown ready mode 'notfy' (did you mean 'notify'?)"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nwatchdog = \"0s\"")), 6, 12, "'watchdog'"));
}

TEST(ConfigSystemd, SocketsAsStringsAndTables) {
  ProcessConfig p = parse_web(
      "command = \"x\"\nsockets = [\"tcp:127.0.0.1:8080\", { listen = \"unix:%t/app.sock\", name = "
      "\"admin\" }]\n"
      "start-on-demand = true");
  ASSERT_EQ(p.sockets.size(), 2u);
  EXPECT_EQ(p.sockets[0].listen, "tcp:127.0.0.1:8080");
  EXPECT_EQ(p.sockets[0].name, "");
  EXPECT_EQ(p.sockets[1].listen, "unix:%t/app.sock");
  EXPECT_EQ(p.sockets[1].name, "admin");
  EXPECT_TRUE(p.start_on_demand);
}

TEST(ConfigSystemd, BadSocketsArePreciseErrors) {
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nsockets = [\"tcp:127.0.0.1:70000\"]")), 6, 12,
                        "socket \"tcp:127.0.0.1:70000\": port 70000 is out of range 1-65535"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nsockets = [\"sctp:1\"]")), 6, 12,
                        "unknown socket type"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nsockets = [\"tcp:localhost:80\"]")), 6, 12,
                        "not a numeric address"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nsockets = [\"tcp:80\", \"tcp:80\"]")), 6, 22,
                        "socket \"tcp:80\" is listed twice"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nsockets = [{ listen = \"tcp:80\", name = \"a:b\" }]")),
                6, 40, "socket name"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\nsockets = [{ name = \"a\" }]")), 6, 12,
                        "needs 'listen'"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nsockets = \"tcp:80\"")), 6, 11, "must be an array"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nstart-on-demand = true")), 6, 19, "needs 'sockets'"));
}

TEST(ConfigSystemd, ResourceLimits) {
  ProcessConfig p =
      parse_web("command = \"x\"\nmemory-max = \"512M\"\ncpu-weight = 200\ntasks-max = 64");
  EXPECT_EQ(p.resources.memory_max, 512ull << 20);
  EXPECT_EQ(p.resources.cpu_weight, 200u);
  EXPECT_EQ(p.resources.tasks_max, 64u);
  EXPECT_EQ(parse_web("command = \"x\"\nmemory-max = \"max\"").resources.memory_max, UINT64_MAX);
  EXPECT_EQ(parse_web("command = \"x\"\nmemory-max = 1048576").resources.memory_max, 1048576u);
  EXPECT_EQ(parse_web("command = \"x\"\nmemory-max = \"2G\"").resources.memory_max, 2ull << 30);
  EXPECT_EQ(parse_web("command = \"x\"\ntasks-max = \"max\"").resources.tasks_max, UINT64_MAX);
  EXPECT_TRUE(parse_web("command = \"x\"").resources.empty());
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nmemory-max = \"lots\"")), 6, 14, "must be bytes"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nmemory-max = \"12Q\"")), 6, 14, "must be bytes"));
  EXPECT_TRUE(
      OnlyError(parse(web("command = \"x\"\nmemory-max = 100")), 6, 14, "at least 4096 bytes"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ncpu-weight = 0")), 6, 14,
                        "'cpu-weight' must be between 1 and 10000"));
  EXPECT_TRUE(OnlyError(parse(web("command = \"x\"\ntasks-max = \"lots\"")), 6, 13,
                        "'tasks-max' must be an integer"));
}

}  // namespace
}  // namespace procman::core
