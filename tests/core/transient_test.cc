// Transient requests: names and de-duplication, validation messages, exact
// argv quoting, and the JSON form kept in state.json.
#include "core/transient.h"

#include <gtest/gtest.h>

#include <csignal>
#include <set>

#include "core/command_line.h"

namespace procman::core {
namespace {

using namespace std::chrono_literals;

struct Names {
  std::set<std::string, std::less<>> taken;
  NameCounter counter;
  std::function<bool(std::string_view)> is_taken() {
    return [this](std::string_view n) { return taken.count(n) > 0; };
  }
};

TransientRequest cmd(const std::string& line, const std::string& name = "") {
  TransientRequest r;
  r.command = line;
  r.name = name;
  return r;
}

ProcessConfig make_ok(const TransientRequest& r, Names& names) {
  auto out = make_transient(r, names.is_taken(), names.counter);
  if (auto* err = std::get_if<std::string>(&out)) {
    ADD_FAILURE() << "unexpected error: " << *err;
    return {};
  }
  return std::get<ProcessConfig>(out);
}

std::string make_error(const TransientRequest& r, Names& names) {
  auto out = make_transient(r, names.is_taken(), names.counter);
  if (auto* err = std::get_if<std::string>(&out)) return *err;
  return "(no error)";
}

TEST(QuoteArgv, PlainWordsStayReadable) {
  EXPECT_EQ(quote_argv({"sleep", "10"}), "sleep 10");
  EXPECT_EQ(quote_argv({"/usr/bin/env", "--opt=a,b:c", "x@y", "50%"}),
            "/usr/bin/env --opt=a,b:c x@y 50%");
  EXPECT_EQ(quote_argv({"echo", "hello world", ""}), "echo 'hello world' ''");
  EXPECT_EQ(quote_argv({"echo", "it's"}), "echo 'it'\\''s'");
}

TEST(QuoteArgv, CommandLineSplittingGivesBackTheExactArgvWithoutAShell) {
  const std::vector<std::vector<std::string>> cases = {
      {"echo", "hello world"},
      {"printf", "%s\n", "it's", "\"double\""},
      {"sh", "-c", "echo $HOME && ls | wc -l > /tmp/x"},
      {"prog", "", "", "after empties"},
      {"prog", "back\\slash", "trailing\\"},
      {"prog", "$(rm -rf /)", "`date`", "${X}", "$"},
      {"prog", "*", "?", "[a]", "~", "#not-a-comment", "a;b", "a&b", "(x)"},
      {"prog", "tab\there", "new\nline", "  spaces  "},
      {"prog", "'", "''", "'\\''"},
      {"if", "then"},  // reserved as a first word: must be quoted
      {"cd", "/tmp"},  // a builtin as a first word
      {"A=b", "c"},    // would be an assignment
      {"!"},
      {"~/bin/tool"},
      {"/opt/my tool/run", "--flag"},
  };
  for (const auto& argv : cases) {
    const std::string line = quote_argv(argv);
    EXPECT_FALSE(needs_shell(line)) << line;
    std::string error;
    auto back = command_argv(line, false, &error);
    ASSERT_TRUE(back) << line << ": " << error;
    EXPECT_EQ(*back, argv) << line;
  }
}

TEST(MakeTransient, BuildsAProcessConfigFromACommandLine) {
  Names names;
  TransientRequest r = cmd("redis-server --port 6380", "redis");
  r.env = {{"REDIS_LOG", "verbose"}};
  r.work_dir = "/srv";
  r.meta = {{"owner", "ops"}};
  Dependency d;
  d.kind = Dependency::Kind::Url;
  d.target = "http://localhost:8080/health";
  r.depends = {d};
  ProcessConfig p = make_ok(r, names);
  EXPECT_EQ(p.id, "redis");
  EXPECT_TRUE(p.transient);
  ASSERT_TRUE(p.command);
  EXPECT_EQ(p.command->line, "redis-server --port 6380");
  EXPECT_EQ(p.command->type, CommandType::Simple);
  EXPECT_EQ(p.env.at("REDIS_LOG"), "verbose");
  EXPECT_EQ(p.work_dir, std::optional<std::string>("/srv"));
  EXPECT_EQ(p.meta.at("owner"), "ops");
  ASSERT_EQ(p.depends_on.size(), 1u);
  EXPECT_EQ(p.depends_on[0].target, "http://localhost:8080/health");
  EXPECT_FALSE(p.one_shot);
  EXPECT_EQ(p.restart, RestartPolicy::Always);
  EXPECT_EQ(p.stop_signal, SIGTERM);
  EXPECT_EQ(p.instances, 1u);
}

TEST(MakeTransient, OnceIsAOneShotThatDoesNotRestartByDefault) {
  Names names;
  TransientRequest r = cmd("make test");
  r.once = true;
  ProcessConfig p = make_ok(r, names);
  EXPECT_TRUE(p.one_shot);
  EXPECT_EQ(p.restart, RestartPolicy::No);
  r.restart = "on-failure";
  EXPECT_EQ(make_ok(r, names).restart, RestartPolicy::OnFailure);
  r.restart = "always";
  EXPECT_EQ(make_error(r, names), "a one-shot cannot restart always; use on-failure");
}

TEST(MakeTransient, ArgvBecomesAnExactCommandLine) {
  Names names;
  TransientRequest r;
  r.argv = {"/usr/bin/printf", "%s\n", "a b", "$HOME"};
  ProcessConfig p = make_ok(r, names);
  EXPECT_EQ(p.id, "printf");
  auto argv = command_argv(p.command->line, false, nullptr);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, r.argv);
}

TEST(MakeTransient, DerivesTheNameFromTheProgram) {
  Names names;
  EXPECT_EQ(make_ok(cmd("/usr/bin/python3 -m http.server"), names).id, "python3");
  EXPECT_EQ(make_ok(cmd("FOO=1 BAR=2 node app.js"), names).id, "node");
  EXPECT_EQ(make_ok(cmd("'./my tool' --x"), names).id, "my_tool");
  TransientRequest r;
  r.argv = {"./bin/x@y"};
  EXPECT_EQ(make_ok(r, names).id, "x_y");
  r.argv = {"/"};
  EXPECT_EQ(make_ok(r, names).id, "process");
}

TEST(MakeTransient, ADerivedNameInUseGetsANumericSuffix) {
  Names names;
  names.taken = {"sleep"};
  ProcessConfig first = make_ok(cmd("sleep 1"), names);
  EXPECT_EQ(first.id, "sleep.1");
  names.taken.insert(first.id);
  EXPECT_EQ(make_ok(cmd("sleep 2"), names).id, "sleep.2");
}

TEST(MakeTransient, AGivenNameInUseIsAnErrorUnlessUnique) {
  Names names;
  names.taken = {"web"};
  EXPECT_EQ(make_error(cmd("x", "web"), names), "a process named 'web' already exists");
  TransientRequest r = cmd("x", "web");
  r.unique = true;
  EXPECT_EQ(make_ok(r, names).id, "web.1");
  // A free name is used as given, unique or not.
  EXPECT_EQ(make_ok(cmd("x", "api"), names).id, "api");
}

TEST(NameCounter, FirstUseKeepsTheNameLaterOnesCountAndTakenNamesAreSkipped) {
  NameCounter c;
  std::set<std::string, std::less<>> taken = {"x.2"};
  auto is_taken = [&](std::string_view n) { return taken.count(n) > 0; };
  EXPECT_EQ(c.assign("x", is_taken), "x");
  EXPECT_EQ(c.assign("x", is_taken), "x.1");
  EXPECT_EQ(c.assign("x", is_taken), "x.3");
  EXPECT_EQ(c.assign("y", is_taken), "y") << "each base counts on its own";
  taken.clear();
  EXPECT_EQ(c.assign("x", is_taken), "x.4") << "a suffix is never handed out twice";
}

TEST(MakeTransient, RejectsBadRequestsWithPreciseMessages) {
  Names names;
  EXPECT_EQ(make_error(cmd(""), names), "command is empty");
  EXPECT_EQ(make_error(cmd("  \t"), names), "command is empty");
  TransientRequest both = cmd("ls");
  both.argv = {"ls"};
  EXPECT_EQ(make_error(both, names), "give a command line or an argv, not both");
  TransientRequest empty_prog;
  empty_prog.argv = {"", "x"};
  EXPECT_EQ(make_error(empty_prog, names), "the program (argv[0]) is empty");
  EXPECT_EQ(make_error(cmd("echo 'oops"), names),
            "unterminated single quote (opened at column 6) in command");
  EXPECT_EQ(make_error(cmd("x", "a/b"), names), "name 'a/b' is invalid: it must not contain '/'");
  EXPECT_EQ(make_error(cmd("x", "w@1"), names),
            "name 'w@1' is invalid: it must not contain '@' (it is reserved for instance names "
            "such as 'web@2')");
  EXPECT_EQ(make_error(cmd("x", "a\tb"), names),
            "name 'a\tb' is invalid: it must not contain control characters");

  TransientRequest r = cmd("x");
  r.restart = "sometimes";
  EXPECT_EQ(make_error(r, names), "restart must be always, on-failure or no, got 'sometimes'");
  r = cmd("x");
  r.stop_signal = "SIGTREM";
  EXPECT_EQ(make_error(r, names), "unknown stop signal 'SIGTREM' (did you mean 'TERM'?)");
  r.stop_signal = "99";
  EXPECT_EQ(make_error(r, names), "stop signal must be 1..64, got 99");
  r = cmd("x");
  r.stop_timeout = 0ms;
  EXPECT_EQ(make_error(r, names), "stop timeout must be positive, got 0s");
  r = cmd("x");
  r.env = {{"BAD-NAME", "1"}};
  EXPECT_EQ(make_error(r, names),
            "invalid environment variable name 'BAD-NAME' (use letters, digits and '_', not "
            "starting with a digit)");
  r = cmd("x");
  r.work_dir = "relative/dir";
  EXPECT_EQ(make_error(r, names), "work dir 'relative/dir' must be an absolute path");
  r = cmd("x");
  r.depends = {Dependency{}};
  EXPECT_EQ(make_error(r, names), "a dependency names no process");
  r.depends[0].kind = Dependency::Kind::Tcp;
  EXPECT_EQ(make_error(r, names), "a tcp dependency has no target");
}

TEST(MakeTransient, StopSignalsByNameOrNumber) {
  Names names;
  for (const char* s : {"SIGINT", "INT", "int", "sigint", "2"}) {
    TransientRequest r = cmd("x");
    r.stop_signal = s;
    EXPECT_EQ(make_ok(r, names).stop_signal, SIGINT) << s;
  }
  TransientRequest r = cmd("x");
  r.stop_timeout = 3s;
  EXPECT_EQ(make_ok(r, names).stop_timeout, Duration(3s));
}

TEST(TransientJson, RoundTripsEveryField) {
  TransientRequest r;
  r.name = "worker.2";
  r.argv = {"/bin/worker", "a b", ""};
  r.env = {{"A", "1"}, {"B", "two words"}};
  r.work_dir = "/srv/app";
  r.once = true;
  r.restart = "on-failure";
  r.stop_signal = "SIGINT";
  r.stop_timeout = 2500ms;
  r.meta = {{"team", "core"}};
  r.unique = true;
  Dependency p;
  p.id = "db";
  p.condition = DepCondition::CompletedSuccessfully;
  Dependency u;
  u.kind = Dependency::Kind::Url;
  u.target = "http://127.0.0.1:1/h";
  u.expect_status = 204;
  u.poll_interval = 250ms;
  u.timeout = 0ms;
  u.retry = false;
  Dependency n;
  n.kind = Dependency::Kind::NotRunning;
  n.target = "old-daemon";
  r.depends = {p, u, n};

  auto back = transient_from_json(nlohmann::json::parse(transient_to_json(r).dump()));
  ASSERT_TRUE(std::holds_alternative<TransientRequest>(back)) << std::get<std::string>(back);
  const TransientRequest& b = std::get<TransientRequest>(back);
  EXPECT_EQ(b.name, r.name);
  EXPECT_EQ(b.command, "");
  EXPECT_EQ(b.argv, r.argv);
  EXPECT_EQ(b.env, r.env);
  EXPECT_EQ(b.work_dir, r.work_dir);
  EXPECT_EQ(b.once, r.once);
  EXPECT_EQ(b.restart, r.restart);
  EXPECT_EQ(b.stop_signal, r.stop_signal);
  EXPECT_EQ(b.stop_timeout, r.stop_timeout);
  EXPECT_EQ(b.meta, r.meta);
  EXPECT_EQ(b.unique, r.unique);
  ASSERT_EQ(b.depends.size(), 3u);
  EXPECT_EQ(b.depends[0].kind, Dependency::Kind::Process);
  EXPECT_EQ(b.depends[0].id, "db");
  EXPECT_EQ(b.depends[0].condition, DepCondition::CompletedSuccessfully);
  EXPECT_EQ(b.depends[1].kind, Dependency::Kind::Url);
  EXPECT_EQ(b.depends[1].target, u.target);
  EXPECT_EQ(b.depends[1].expect_status, 204);
  EXPECT_EQ(b.depends[1].poll_interval, Duration(250ms));
  EXPECT_EQ(b.depends[1].timeout, Duration(0ms));
  EXPECT_FALSE(b.depends[1].retry);
  EXPECT_EQ(b.depends[2].kind, Dependency::Kind::NotRunning);
  EXPECT_EQ(b.depends[2].target, "old-daemon");
}

TEST(TransientJson, ACommandLineRoundTripsAndDefaultsStayDefaults) {
  TransientRequest r = cmd("sleep 100", "nap");
  auto back = transient_from_json(transient_to_json(r));
  ASSERT_TRUE(std::holds_alternative<TransientRequest>(back));
  const TransientRequest& b = std::get<TransientRequest>(back);
  EXPECT_EQ(b.command, "sleep 100");
  EXPECT_TRUE(b.argv.empty());
  EXPECT_FALSE(b.stop_timeout);
  EXPECT_EQ(b.restart, "");
  EXPECT_FALSE(b.unique);
}

TEST(TransientJson, RejectsMalformedEntriesWithAReason) {
  auto err = [](const nlohmann::json& j) {
    auto r = transient_from_json(j);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "(no error)";
  };
  EXPECT_EQ(err(nlohmann::json::array()), "a transient process must be a JSON object");
  EXPECT_EQ(err({{"name", "x"}, {"command", "y"}, {"depends", {{{"kind", "ftp"}}}}}),
            "transient 'x': unknown dependency kind 'ftp'");
  EXPECT_EQ(
      err({{"name", "x"}, {"command", "y"}, {"depends", {{{"id", "a"}, {"condition", "up"}}}}}),
      "transient 'x': unknown dependency condition 'up'");
  EXPECT_NE(err({{"name", "x"}, {"once", "yes"}}).find("malformed transient process: "),
            std::string::npos);
}

}  // namespace
}  // namespace procman::core
