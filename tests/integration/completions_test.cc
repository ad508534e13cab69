// procmanctl's shell completions, run in the real shells (bash with COMP_WORDS,
// fish with `complete -C`, zsh through zsh/zpty), its man pages checked by
// groff, and what procmanctl answers when no procmand is there. The verb lists
// of the completions and the man page are compared with `procmanctl --help`, so
// they cannot drift apart.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "harness.h"

namespace procman::test {
namespace {

const std::string kSource = PROCMAN_SOURCE_DIR;
const std::string kBashFile = kSource + "/completions/procmanctl.bash";
const std::string kZshFile = kSource + "/completions/_procmanctl";
const std::string kFishFile = kSource + "/completions/procmanctl.fish";

std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/" + name;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::string read_text(const std::string& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.insert(line);
  return out;
}

std::string single_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// The verbs `procmanctl --help` lists under "Subcommands:".
std::set<std::string> help_verbs() {
  RunResult r = run({PROCMANCTL_PATH, "--help"});
  EXPECT_EQ(r.code, 0) << r.output;
  std::set<std::string> verbs;
  std::stringstream ss(r.output);
  std::string line;
  bool in_list = false;
  while (std::getline(ss, line)) {
    if (line.starts_with("Subcommands:")) {
      in_list = true;
      continue;
    }
    if (!in_list) continue;
    if (line.empty() || line[0] != ' ') break;
    std::stringstream words(line);
    std::string verb;
    words >> verb;
    verbs.insert(verb);
  }
  return verbs;
}

/// A stand-in procmanctl first in PATH: answers __complete-names with fixed names and
/// logs the arguments it got, so completions are tested without a daemon.
class FakeProcmanctl {
 public:
  FakeProcmanctl() {
    dir_.write(
        "procmanctl",
        "#!/bin/sh\n"
        "echo \"$*\" >> \"$(dirname \"$0\")/args.log\"\n"
        "case \" $* \" in *\" __complete-names \"*) printf 'web\\nworker\\nworker@0\\n' ;; esac\n",
        true);
  }
  std::string path_env() const {
    const char* path = std::getenv("PATH");
    return "PATH=" + dir_.path() + ":" + (path ? path : "/usr/bin:/bin");
  }
  std::string args() const { return read_text(dir_.file("args.log")); }

 private:
  TempDir dir_;
};

// ------------------------------------------------------------------ bash

std::set<std::string> bash_complete(const std::vector<std::string>& words,
                                    const std::vector<std::string>& env = {}) {
  std::string array;
  for (const auto& w : words) array += single_quoted(w) + " ";
  const std::string script = "source " + single_quoted(kBashFile) + "; COMP_WORDS=(" + array +
                             "); COMP_CWORD=" + std::to_string(words.size() - 1) +
                             "; _procmanctl; printf '%s\\n' \"${COMPREPLY[@]}\"";
  RunResult r = run({"/bin/bash", "--norc", "--noprofile", "-c", script}, env);
  EXPECT_EQ(r.code, 0) << r.output;
  return lines_of(r.output);
}

TEST(BashCompletion, CompletesVerbsFromAPrefix) {
  EXPECT_EQ(bash_complete({"procmanctl", "sta"}), (std::set<std::string>{"start", "status"}));
  EXPECT_EQ(bash_complete({"procmanctl", "--system", "re"}),
            (std::set<std::string>{"remove", "reload", "reset-failed", "restart"}));
}

TEST(BashCompletion, OffersExactlyTheVerbsOfHelp) {
  EXPECT_EQ(bash_complete({"procmanctl", ""}), help_verbs());
}

TEST(BashCompletion, CompletesTheOptionsOfTheVerbAndTheGlobalOnes) {
  const auto opts = bash_complete({"procmanctl", "kill", "--"});
  EXPECT_TRUE(opts.count("--signal") && opts.count("--whom") && opts.count("--system")) << "";
  EXPECT_FALSE(opts.count("--json"));
  EXPECT_EQ(bash_complete({"procmanctl", "logs", "web", "--f"}),
            (std::set<std::string>{"--follow"}));
  EXPECT_EQ(bash_complete({"procmanctl", "run", "--u"}),
            (std::set<std::string>{"--unique", "--user"}));
}

TEST(BashCompletion, CompletesOptionValues) {
  EXPECT_EQ(bash_complete({"procmanctl", "kill", "-s", "SIGK"}),
            (std::set<std::string>{"SIGKILL"}));
  EXPECT_EQ(bash_complete({"procmanctl", "kill", "--whom", ""}),
            (std::set<std::string>{"main", "group"}));
  EXPECT_EQ(bash_complete({"procmanctl", "run", "--restart", "o"}),
            (std::set<std::string>{"on-failure"}));
  EXPECT_EQ(bash_complete({"procmanctl", "show", "-p", "MainP"}),
            (std::set<std::string>{"MainPID"}));
}

TEST(BashCompletion, CompletesFilesForTheVerbsThatReadAConfig) {
  TempDir dir;
  dir.write("procman.toml", "");
  dir.write("other.txt", "");
  for (const char* verb : {"check", "expand-templates", "gen-file", "fifo-path"})
    EXPECT_EQ(bash_complete({"procmanctl", verb, dir.file("proc")}),
              (std::set<std::string>{dir.file("procman.toml")}))
        << verb;
}

TEST(BashCompletion, AsksTheDaemonOnTheBusNamedOnTheLineForProcessNames) {
  FakeProcmanctl fake;
  EXPECT_EQ(bash_complete({"procmanctl", "--system", "stop", "wo"}, {fake.path_env()}),
            (std::set<std::string>{"worker", "worker@0"}));
  EXPECT_NE(fake.args().find("--system __complete-names"), std::string::npos) << fake.args();
  EXPECT_EQ(bash_complete({"procmanctl", "status", "--bus-name", "org.example.P", "w"},
                          {fake.path_env()}),
            (std::set<std::string>{"web", "worker", "worker@0"}));
  EXPECT_NE(fake.args().find("--bus-name org.example.P __complete-names"), std::string::npos)
      << fake.args();
}

TEST(BashCompletion, RunCompletesItsOptionsThenACommandThenFiles) {
  EXPECT_EQ(bash_complete({"procmanctl", "run", "--name", "x", "--once", "bas"}).count("bash"), 1u);
  TempDir dir;
  dir.write("script.sh", "");
  // After the command's first word, even an option-looking word is the command's.
  EXPECT_EQ(bash_complete({"procmanctl", "run", "sh", dir.file("scr")}),
            (std::set<std::string>{dir.file("script.sh")}));
}

TEST(BashCompletion, NamesAreQuietWithoutADaemon) {
  const auto names = bash_complete(
      {"procmanctl", "stop", ""},
      {"PATH=" + std::filesystem::path(PROCMANCTL_PATH).parent_path().string() + ":/usr/bin:/bin",
       "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"});
  EXPECT_TRUE(names.empty());
}

// ------------------------------------------------------------------ fish

std::set<std::string> fish_complete(const std::string& line,
                                    const std::vector<std::string>& env = {}) {
  auto fish = find_program("fish");
  if (!fish) return {"<no fish>"};
  RunResult r = run({*fish, "--no-config", "-c",
                     "source " + single_quoted(kFishFile) + "; complete -C " + single_quoted(line)},
                    env);
  EXPECT_EQ(r.code, 0) << r.output;
  std::set<std::string> out;
  for (const auto& l : lines_of(r.output)) out.insert(l.substr(0, l.find('\t')));
  return out;
}

TEST(FishCompletion, CompletesVerbsOptionsAndSignalNames) {
  if (!find_program("fish")) GTEST_SKIP() << "fish is not installed";
  EXPECT_EQ(fish_complete("procmanctl sta"), (std::set<std::string>{"start", "status"}));
  EXPECT_EQ(fish_complete("procmanctl kill -s SIGK"), (std::set<std::string>{"SIGKILL"}));
  const auto opts = fish_complete("procmanctl logs web --");
  EXPECT_TRUE(opts.count("--follow") && opts.count("--lines") && opts.count("--system"));
  EXPECT_FALSE(opts.count("--json"));
  EXPECT_EQ(fish_complete("procmanctl fifo s"),
            (std::set<std::string>{"shutdown", "start", "stop"}));
}

TEST(FishCompletion, OffersExactlyTheVerbsOfHelp) {
  if (!find_program("fish")) GTEST_SKIP() << "fish is not installed";
  EXPECT_EQ(fish_complete("procmanctl "), help_verbs());
}

TEST(FishCompletion, CompletesFilesAndProcessNames) {
  if (!find_program("fish")) GTEST_SKIP() << "fish is not installed";
  TempDir dir;
  dir.write("procman.toml", "");
  EXPECT_EQ(fish_complete("procmanctl check " + dir.file("proc")),
            (std::set<std::string>{dir.file("procman.toml")}));
  FakeProcmanctl fake;
  EXPECT_EQ(fish_complete("procmanctl --system restart wor", {fake.path_env()}),
            (std::set<std::string>{"worker", "worker@0"}));
  EXPECT_NE(fake.args().find("--system __complete-names"), std::string::npos) << fake.args();
}

// ------------------------------------------------------------------ zsh

TEST(ZshCompletionFile, Parses) {
  auto zsh = find_program("zsh");
  if (!zsh) GTEST_SKIP() << "zsh is not installed";
  RunResult r = run({*zsh, "-n", kZshFile});
  EXPECT_EQ(r.code, 0) << r.output;
}

/// Runs compsys for real: an interactive zsh in a zsh/zpty pseudo-terminal, with
/// _procmanctl on fpath, compadd wrapped to record every match, and TAB bound to a widget
/// that completes and then writes an end marker. Waits for the marker (bounded).
const char* const kZshDriver = R"ZSH(
zmodload zsh/zpty || exit 3
zmodload zsh/zselect || exit 3
local dir=$1 out=$2 line=$3
: > $out
zpty z zsh -f -i
zpty -w z "PS1='' RPROMPT=''; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "compadd() { local -a __m; builtin compadd -O __m \"\$@\"; print -rl -- \$__m >> ${(q)out}; builtin compadd \"\$@\"; }"
zpty -w z "__cap() { zle complete-word; print -r -- '<<done>>' >> ${(q)out}; }; zle -N __cap; bindkey '^I' __cap"
zpty -w z "$line"$'\t'
local i
for (( i = 0; i < 1200; i++ )); do
  grep -q '<<done>>' $out 2>/dev/null && break
  zselect -t 5
done
zpty -d z
grep -q '<<done>>' $out || { print -u2 "no completion within 60s"; exit 4; }
grep -v '<<done>>' $out
)ZSH";

class ZshCompletion : public ::testing::Test {
 protected:
  void SetUp() override {
    zsh_ = find_program("zsh");
    if (!zsh_) GTEST_SKIP() << "zsh is not installed";
    RunResult probe = run({*zsh_, "-f", "-c", "zmodload zsh/zpty && zmodload zsh/zselect"});
    if (probe.code != 0) GTEST_SKIP() << "zsh/zpty is not available: " << probe.output;
    std::filesystem::copy_file(kZshFile, dir_.file("_procmanctl"));
    dir_.write("driver.zsh", kZshDriver);
  }
  std::set<std::string> complete(const std::string& line,
                                 const std::vector<std::string>& env = {}) {
    RunResult r = run({*zsh_, "-f", dir_.file("driver.zsh"), dir_.path(), dir_.file("out"), line},
                      env, std::chrono::seconds(90));
    EXPECT_EQ(r.code, 0) << r.output;
    return lines_of(r.output);
  }
  std::optional<std::string> zsh_;
  TempDir dir_;
};

TEST_F(ZshCompletion, CompletesVerbsFromAPrefix) {
  EXPECT_EQ(complete("procmanctl sta"), (std::set<std::string>{"start", "status"}));
}

TEST_F(ZshCompletion, OffersExactlyTheVerbsOfHelp) {
  EXPECT_EQ(complete("procmanctl "), help_verbs());
}

TEST_F(ZshCompletion, CompletesOptionsSignalsAndProcessNames) {
  const auto opts = complete("procmanctl kill --");
  EXPECT_TRUE(opts.count("--signal") && opts.count("--whom") && opts.count("--system"));
  EXPECT_FALSE(opts.count("--json"));
  EXPECT_TRUE(complete("procmanctl kill -s SIGK").count("SIGKILL"));
  FakeProcmanctl fake;
  const auto names = complete("procmanctl --system stop wor", {fake.path_env()});
  EXPECT_TRUE(names.count("worker") && names.count("worker@0")) << ::testing::PrintToString(names);
  EXPECT_FALSE(names.count("web"));
  EXPECT_NE(fake.args().find("--system __complete-names"), std::string::npos) << fake.args();
}

// ------------------------------------------------------------------ drift

TEST(Completions, EveryFileAndTheManPageNameEveryVerbOfHelp) {
  const auto verbs = help_verbs();
  ASSERT_GE(verbs.size(), 19u);
  EXPECT_FALSE(verbs.count("__complete-names"));
  const std::string bash = read_text(kBashFile), zsh = read_text(kZshFile),
                    fish = read_text(kFishFile), man = read_text(kSource + "/docs/procmanctl.1");
  for (const auto& v : verbs) {
    EXPECT_NE(bash.find(" " + v + " "), std::string::npos) << "bash lacks " << v;
    EXPECT_NE(zsh.find("'" + v + ":"), std::string::npos) << "zsh lacks " << v;
    EXPECT_NE(fish.find("-a " + v + " "), std::string::npos) << "fish lacks " << v;
    std::string roff = "\\fB";  // the verb in bold, its dashes written \-
    for (char c : v) roff += c == '-' ? std::string("\\-") : std::string(1, c);
    const std::string plain = ".B " + roff.substr(3) + "\n";
    EXPECT_TRUE(man.find(roff + "\\fR") != std::string::npos ||
                man.find(roff + " ") != std::string::npos || man.find(plain) != std::string::npos)
        << "procmanctl.1 lacks " << v;
  }
}

// ------------------------------------------------------------------ man pages

TEST(ManPages, GroffReportsNoWarnings) {
  auto groff = find_program("groff");
  if (!groff) GTEST_SKIP() << "groff is not installed";
  for (const char* page : {"procmanctl.1", "procmand.8"}) {
    const std::string file = kSource + "/docs/" + page;
    ASSERT_GT(read_text(file).size(), 1000u) << page;
    RunResult r = run({*groff, "-man", "-Tutf8", "-ww", "-z", file});
    EXPECT_EQ(r.code, 0) << page << "\n" << r.output;
    EXPECT_EQ(r.output, "") << page;
  }
}

// ------------------------------------------------------------------ without a daemon

TEST(ProcmanctlWithoutDaemon, UsageErrorsExitWith2) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"kill", "-s", "SIGNOPE", "web"},
        {"no-such-verb"},
        {"run"},
        {"run", "--restart", "sometimes", "--", "true"},
        {"start"},
        {"--user", "--system", "status"}}) {
    std::vector<std::string> argv = {PROCMANCTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv, {"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"});
    EXPECT_EQ(r.code, 2) << args[0] << "\n" << r.output;
  }
}

TEST(ProcmanctlWithoutDaemon, NoBusExitsWith5) {
  RunResult r =
      run({PROCMANCTL_PATH, "status"}, {"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"});
  EXPECT_EQ(r.code, 5) << r.output;
  EXPECT_NE(r.output.find("procmanctl: cannot connect to the session bus"), std::string::npos)
      << r.output;
}

/// Output without the lines dbus-daemon itself prints (it warns when it may not raise
/// its fd limit).
std::string without_bus_noise(const std::string& output) {
  std::string out;
  std::stringstream ss(output);
  std::string line;
  while (std::getline(ss, line))
    if (!line.starts_with("dbus-daemon[")) out += line + "\n";
  return out;
}

TEST(ProcmanctlWithoutDaemon, NobodyOwningTheNameExitsWith5AndSaysSo) {
  auto session = find_program("dbus-run-session");
  if (!session) GTEST_SKIP() << "dbus-run-session is not installed";
  RunResult r = run({*session, "--", PROCMANCTL_PATH, "stop", "web", "db"});
  EXPECT_EQ(r.code, 5) << r.output;
  // Once, though two calls failed.
  EXPECT_EQ(without_bus_noise(r.output),
            "procmanctl: procmand is not running on the session bus (org.procman.Manager has no "
            "owner)\n");
  r = run({*session, "--", PROCMANCTL_PATH, "events"}, {"PROCMAN_BUS_NAME=org.example.Nobody"});
  EXPECT_EQ(r.code, 5) << r.output;
  EXPECT_NE(r.output.find("(org.example.Nobody has no owner)"), std::string::npos) << r.output;
  r = run({*session, "--", PROCMANCTL_PATH, "__complete-names"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(without_bus_noise(r.output), "");
}

}  // namespace
}  // namespace procman::test
