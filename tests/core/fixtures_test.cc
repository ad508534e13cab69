// jleahred/procman's own example files and README snippets must keep loading.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/config_parser.h"

namespace procman::core {
namespace {

const std::string kFixtures = PROCMAN_SHARED_DIR "/fixtures/seed-002/";
const std::string kJleahredProcmanReadme = PROCMAN_SHARED_DIR "/seeds/002_6659abce9aead9d0.txt";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string dump(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const Diagnostic& d : ds) out += "  " + format_diagnostic(d) + "\n";
  return out;
}

/// The first ```toml block after `heading` in jleahred/procman's README (empty if none).
std::string toml_block_after(const std::string& readme, const std::string& heading) {
  const std::size_t at = readme.find(heading);
  if (at == std::string::npos) return "";
  const std::string fence = "```toml\n";
  const std::size_t start = readme.find(fence, at);
  if (start == std::string::npos) return "";
  const std::size_t end = readme.find("```", start + fence.size());
  return readme.substr(start + fence.size(), end - start - fence.size());
}

std::vector<const ProcessConfig*> versions(const Config& c, const std::string& id) {
  std::vector<const ProcessConfig*> out;
  for (const ProcessConfig& p : c.processes) {
    if (p.id == id) out.push_back(&p);
  }
  return out;
}

const ProcessConfig& only(const Config& c, const std::string& id) {
  auto v = versions(c, id);
  EXPECT_EQ(v.size(), 1u) << id;
  if (v.empty()) throw std::runtime_error("no process " + id);
  return *v[0];
}

constexpr const char* kHeader =
    "uid = \"550e8400-e29b-41d4-a716-446655440000\"\nfile-format = \"0\"\n";

TEST(JleahredProcmanFixtures, ProcessesTomlLoads) {
  const std::string path = kFixtures + "processes.toml";
  ParseResult r = parse_config(read_file(path), path, {});
  ASSERT_TRUE(r.config) << dump(r.errors);
  const Config& c = *r.config;
  EXPECT_EQ(c.uid, "550e8400-e29b-41d4-a716-446655440000");
  EXPECT_EQ(c.processes.size(), 11u);

  const ProcessConfig& first = only(c, "example_process");
  EXPECT_EQ(first.apply_on, (LocalDateTime{2024, 10, 1, 12, 0, 0}));
  ASSERT_TRUE(first.schedule);
  EXPECT_EQ(first.schedule->start, TimeOfDay{0});
  EXPECT_EQ(first.schedule->stop, TimeOfDay{23 * 3600 + 59 * 60});
  ASSERT_TRUE(first.init && first.before && first.health_check);
  EXPECT_EQ(first.init->timeout, std::chrono::seconds(3));
  EXPECT_EQ(first.health_check->command, "sleep 1");

  const ProcessConfig& second = only(c, "example_process 2");
  ASSERT_EQ(second.depends_on.size(), 1u);
  EXPECT_EQ(second.depends_on[0].id, "example_process");
  ASSERT_TRUE(second.schedule);
  EXPECT_EQ(second.schedule->week_days.mask, 0b0011111);

  const ProcessConfig& podman = only(c, "example_process podman detached");
  ASSERT_TRUE(podman.command);
  EXPECT_EQ(podman.command->type, CommandType::PodmanCid);

  const ProcessConfig& ab = only(c, "depends-on_AB");
  ASSERT_EQ(ab.depends_on.size(), 2u);
  EXPECT_EQ(ab.depends_on[0].id, "TEST_A");
  EXPECT_EQ(ab.depends_on[1].id, "TEST_B");

  const ProcessConfig& stop_b = only(c, "STOP_B");
  ASSERT_TRUE(stop_b.stop);
  EXPECT_EQ(stop_b.stop->timeout, std::chrono::seconds(1));
  EXPECT_EQ(only(c, "STOP_A").stop->timeout, std::chrono::seconds(5));

  // A and B come from the PODMAN template (whose other lines are comments).
  const ProcessConfig& a = only(c, "A");
  EXPECT_EQ(a.template_name, "PODMAN");
  ASSERT_TRUE(a.command);
  EXPECT_EQ(a.command->line,
            "podman run --init --rm --name test_a docker.io/ubuntu:24.04 sleep 444");
  EXPECT_EQ(only(c, "B").command->line,
            "podman run --init --rm --name test_b docker.io/ubuntu:24.04 sleep 555");

  // Simple commands with shell syntax run via sh, which the parser points out.
  EXPECT_FALSE(r.notes.empty());
}

TEST(JleahredProcmanFixtures, TestTomlLoadsWithTheLiteralPodmanFormat) {
  const std::string path = kFixtures + "test.toml";
  ParseResult r = parse_config(read_file(path), path, {});
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_EQ(r.config->processes.size(), 1u);
  const ProcessConfig& a = r.config->processes[0];
  EXPECT_EQ(a.id, "A");
  EXPECT_EQ(a.template_name, "PODMAN");
  ASSERT_TRUE(a.command && a.before && a.health_check && a.stop);
  EXPECT_EQ(a.command->line,
            "podman run --init --rm --name test_a docker.io/ubuntu:24.04 sleep 444");
  EXPECT_EQ(a.before->command, "podman stop -t4 test_a || true && podman rm -f test_a");
  EXPECT_EQ(a.health_check->command,
            "[ \"$(podman inspect --format '{{.State.Status}}' test_a)\" = \"running\" ]");
  EXPECT_EQ(a.stop->timeout, std::chrono::seconds(5));
}

TEST(JleahredProcmanFixtures, TestTomlExpandsToTheSameProcess) {
  const std::string path = kFixtures + "test.toml";
  ExpandResult e = expand_config_templates(read_file(path), path, {});
  ASSERT_TRUE(e.text) << dump(e.errors);
  EXPECT_NE(e.text->find("{{.State.Status}}"), std::string::npos) << *e.text;
  ParseResult again = parse_config(*e.text, path, {});
  ASSERT_TRUE(again.config) << dump(again.errors) << *e.text;
  EXPECT_FALSE(again.config->processes[0].template_name.has_value());
}

TEST(JleahredProcmanFixtures, ObsoleteTemplatesTomlIsRejected) {
  const std::string path = kFixtures + "templates.toml";
  ParseResult r = parse_config(read_file(path), path, {});
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 3u) << dump(r.errors);
  bool unknown = false, uid = false, format = false;
  for (const Diagnostic& d : r.errors) {
    EXPECT_EQ(d.file, path);
    if (d.message == "unknown key 'templates' (did you mean 'template'?)") {
      unknown = true;
      EXPECT_EQ(d.pos.line, 2u);
      EXPECT_EQ(d.pos.column, 1u);
    }
    uid = uid || d.message.find("missing required key 'uid'") != std::string::npos;
    format = format || d.message.find("missing required key 'file-format'") != std::string::npos;
  }
  EXPECT_TRUE(unknown) << dump(r.errors);
  EXPECT_TRUE(uid);
  EXPECT_TRUE(format);
}

TEST(JleahredProcmanReadme, GenFileExampleLoads) {
  const std::string block = toml_block_after(read_file(kJleahredProcmanReadme), "## Command.gen-file");
  ASSERT_NE(block.find("example_process 2"), std::string::npos) << block;
  ParseResult r = parse_config(block, "gen.toml", {});
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_EQ(r.config->processes.size(), 2u);
  const ProcessConfig& p = r.config->processes[0];
  EXPECT_EQ(p.work_dir, "/tmp");
  ASSERT_TRUE(p.stop && p.schedule);
  EXPECT_EQ(p.stop->command, "echo 'Stopping process...'");
  EXPECT_TRUE(p.depends_on.empty());
}

TEST(JleahredProcmanReadme, BothProcessConfigurationExamplesLoad) {
  const std::string readme = read_file(kJleahredProcmanReadme);
  const std::string one = toml_block_after(readme, "### Example of a process configuration 1");
  const std::string two = toml_block_after(readme, "### Example of a process configuration 2");
  ASSERT_FALSE(one.empty());
  ASSERT_FALSE(two.empty());
  ParseResult r = parse_config(kHeader + one + two, "examples.toml", {});
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_EQ(r.config->processes.size(), 2u);
  const ProcessConfig& second = r.config->processes[1];
  ASSERT_TRUE(second.command);
  EXPECT_EQ(second.command->type, CommandType::Simple);  // type = "normal"
  ASSERT_TRUE(second.health_check);
  EXPECT_EQ(second.health_check->timeout, std::chrono::seconds(3));
  ASSERT_EQ(second.depends_on.size(), 1u);
  EXPECT_EQ(second.depends_on[0].id, "example_process");
}

TEST(JleahredProcmanReadme, VersioningRollbackAndDependencyExamplesLoad) {
  const std::string readme = read_file(kJleahredProcmanReadme);
  for (const char* heading :
       {"### Schedule a future new version", "### Rollback", "### Dependencies"}) {
    const std::string block = toml_block_after(readme, heading);
    ASSERT_FALSE(block.empty()) << heading;
    ParseResult r = parse_config(kHeader + block, "x.toml", {});
    EXPECT_TRUE(r.config) << heading << "\n" << dump(r.errors);
  }
}

TEST(JleahredProcmanReadme, PodmanTemplateExampleLoads) {
  const std::string readme = read_file(kJleahredProcmanReadme);
  const std::string def = toml_block_after(readme, "A template could be defined as follows:");
  const std::string use = toml_block_after(readme, "the service configuration would be simplified");
  ASSERT_FALSE(def.empty());
  ASSERT_FALSE(use.empty());
  ParseResult r = parse_config(kHeader + use + def, "podman.toml", {});
  ASSERT_TRUE(r.config) << dump(r.errors);
  ASSERT_EQ(r.config->processes.size(), 2u);
  const ProcessConfig& b = r.config->processes[1];
  EXPECT_EQ(b.id, "B");
  ASSERT_TRUE(b.health_check);
  EXPECT_EQ(b.health_check->command,
            "[ \"$(podman inspect --format '{{.State.Status}}' test_b)\" = \"running\" ]");
}

}  // namespace
}  // namespace procman::core
