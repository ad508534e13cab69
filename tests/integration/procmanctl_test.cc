// procmanctl's daemon-less verbs, run as a user would run them.
#include <gtest/gtest.h>

#include <regex>

#include "harness.h"

namespace procman::test {
namespace {

const std::string kFixtures = std::string(PROCMAN_SHARED_DIR) + "/fixtures/seed-002/";

RunResult ctl(std::vector<std::string> args) {
  args.insert(args.begin(), PROCMANCTL_PATH);
  return run(args);
}

TEST(ProcmanctlCheck, AcceptsTheJleahredProcmanExamplesAndDescribesThem) {
  for (const char* f : {"processes.toml", "test.toml"}) {
    RunResult r = ctl({"check", kFixtures + f});
    EXPECT_EQ(r.code, 0) << f << "\n" << r.output;
    EXPECT_NE(r.output.find(": OK (uid"), std::string::npos) << r.output;
  }
  RunResult r = ctl({"check", kFixtures + "processes.toml"});
  EXPECT_NE(r.output.find("type            podman-cid"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("depends-on      TEST_A (running), TEST_B (running)"), std::string::npos);
  EXPECT_NE(r.output.find("[shell syntax: runs via /bin/sh -c]"), std::string::npos);
  EXPECT_NE(r.output.find("template        PODMAN"), std::string::npos);
  EXPECT_NE(r.output.find("schedule        08:00:00-18:00:00 mon-fri"), std::string::npos) << r.output;
}

TEST(ProcmanctlCheck, RejectsTheObsoleteTemplatesFileWithAPosition) {
  RunResult r = ctl({"check", kFixtures + "templates.toml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("templates.toml:2:1: error: unknown key 'templates'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean 'template'?"), std::string::npos) << r.output;
}

TEST(ProcmanctlCheck, ListsEveryErrorWithFileLineColumn) {
  TempDir dir;
  dir.write("bad.toml",
            "uid = \"x\"\nfile-format = \"0\"\n\n[[process]]\nid = \"a\"\ncommand = \"sleep 1\"\n"
            "depends_on = [\"b\"]\n\n[[process]]\nid = \"b\"\ncommand = \"sleep 1\"\nrestart = \"sometimes\"\n");
  RunResult r = ctl({"check", dir.file("bad.toml")});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(std::regex_search(r.output, std::regex("bad\\.toml:7:1: error: unknown key 'depends_on'.*did you mean 'depends-on'")))
      << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("bad\\.toml:12:\\d+: error: .*restart"))) << r.output;
  EXPECT_NE(r.output.find("2 error(s)"), std::string::npos) << r.output;
}

TEST(ProcmanctlCheck, MissingFileIsAClearError) {
  RunResult r = ctl({"check", "/nonexistent/procman.toml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("/nonexistent/procman.toml"), std::string::npos) << r.output;
}

TEST(ProcmanctlGenFile, WritesAFileThatPassesCheckAndNeverOverwrites) {
  TempDir dir;
  const std::string f = dir.file("procman.toml");
  RunResult r = ctl({"gen-file", f});
  ASSERT_EQ(r.code, 0) << r.output;
  RunResult c = ctl({"check", f});
  EXPECT_EQ(c.code, 0) << c.output;
  RunResult again = ctl({"gen-file", f});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.output.find("already exists; not overwriting it"), std::string::npos) << again.output;
}

TEST(ProcmanctlUid, PrintsAFreshUuid) {
  RunResult a = ctl({"uid"});
  RunResult b = ctl({"uid"});
  ASSERT_EQ(a.code, 0);
  const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$");
  EXPECT_TRUE(std::regex_match(a.output, uuid)) << a.output;
  EXPECT_NE(a.output, b.output);
}

TEST(ProcmanctlExpandTemplates, ExpandsThePodmanTemplateOfJleahredProcman) {
  RunResult r = ctl({"expand-templates", kFixtures + "test.toml"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("podman run --init --rm --name test_a docker.io/ubuntu:24.04 sleep 444"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("{{.State.Status}}"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("[[template]]"), std::string::npos) << r.output;
}

TEST(ProcmanctlExpandTemplates, UnknownVerbAndMissingArgumentsFail) {
  EXPECT_NE(ctl({"frobnicate"}).code, 0);
  EXPECT_NE(ctl({"check"}).code, 0);
}

}  // namespace
}  // namespace procman::test
