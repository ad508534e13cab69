#include "core/fifo_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace procman::core {
namespace {

using namespace std::chrono_literals;

FifoMessage parsed(std::string_view line) {
  auto r = parse_fifo_line(line);
  if (auto* e = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << "unexpected error: " << *e << "\n  for: " << line;
    return FifoShutdown{};
  }
  return std::get<FifoMessage>(std::move(r));
}

FifoRun parsed_run(std::string_view line) {
  FifoMessage m = parsed(line);
  if (!std::holds_alternative<FifoRun>(m)) {
    ADD_FAILURE() << "not a run message: " << line;
    return {};
  }
  return std::get<FifoRun>(std::move(m));
}

std::string error_of(std::string_view line) {
  auto r = parse_fifo_line(line);
  if (auto* e = std::get_if<std::string>(&r)) return *e;
  ADD_FAILURE() << "expected an error for: " << line;
  return "";
}

TEST(FifoProtocol, ParsesTheSeedsDocumentedRunMessage) {
  FifoRun run =
      parsed_run(R"({"type":"run","name":"redis-server","run":"redis-server --port 6380",)"
                 R"("env":{"REDIS_LOG":"verbose"},)"
                 R"("depends":[{"url":"http://localhost:8080/health","code":200}],"once":true})");
  EXPECT_EQ(run.name, "redis-server");
  EXPECT_EQ(run.run, "redis-server --port 6380");
  EXPECT_EQ(run.env, (std::map<std::string, std::string>{{"REDIS_LOG", "verbose"}}));
  ASSERT_EQ(run.depends.size(), 1u);
  EXPECT_EQ(run.depends[0].kind, Dependency::Kind::Url);
  EXPECT_EQ(run.depends[0].target, "http://localhost:8080/health");
  EXPECT_EQ(run.depends[0].expect_status, 200);
  EXPECT_EQ(run.depends[0].poll_interval, 1s);
  EXPECT_EQ(run.depends[0].timeout, 60s);
  EXPECT_TRUE(run.depends[0].retry);
  EXPECT_TRUE(run.once);
  EXPECT_EQ(run.request_id, "");
}

TEST(FifoProtocol, AcceptsWhatTheSeedsClientSendsWithNulls) {
  FifoRun run =
      parsed_run(R"({"type":"run","name":"redis-server","run":"redis-server --port 6380",)"
                 R"("env":null,"depends":null,"once":null})");
  EXPECT_EQ(run.name, "redis-server");
  EXPECT_TRUE(run.env.empty());
  EXPECT_TRUE(run.depends.empty());
  EXPECT_FALSE(run.once);
}

TEST(FifoProtocol, IgnoresUnknownFieldsAndSurroundingWhiteSpace) {
  FifoRun run = parsed_run(R"(  {"type":"run","name":"a","run":"true","colour":"blue"} )");
  EXPECT_EQ(run.name, "a");
  FifoMessage s = parsed(R"({"type":"shutdown","extra":[1,2]})");
  EXPECT_TRUE(std::holds_alternative<FifoShutdown>(s));
}

TEST(FifoProtocol, ParsesShutdownWithAndWithoutItsFields) {
  auto s = std::get<FifoShutdown>(
      parsed(R"({"type":"shutdown","user":"wbbradley","message":"User-initiated via CLI"})"));
  EXPECT_EQ(s.user, "wbbradley");
  EXPECT_EQ(s.message, "User-initiated via CLI");
  auto bare = std::get<FifoShutdown>(parsed(R"({"type":"shutdown","user":null})"));
  EXPECT_EQ(bare.user, "");
  EXPECT_EQ(bare.message, "");
}

TEST(FifoProtocol, ParsesStartStopAndRestart) {
  auto start = std::get<FifoControl>(parsed(R"({"type":"start","name":"web"})"));
  EXPECT_EQ(start.kind, FifoControl::Kind::Start);
  EXPECT_EQ(start.name, "web");
  auto stop = std::get<FifoControl>(parsed(R"({"type":"stop","name":"web.1"})"));
  EXPECT_EQ(stop.kind, FifoControl::Kind::Stop);
  EXPECT_EQ(stop.name, "web.1");
  auto restart = std::get<FifoControl>(parsed(R"({"type":"restart","name":"db"})"));
  EXPECT_EQ(restart.kind, FifoControl::Kind::Restart);
  EXPECT_EQ(error_of(R"({"type":"stop"})"), "missing field \"name\"");
  EXPECT_EQ(error_of(R"({"type":"restart","name":"  "})"), "field \"name\" must not be blank");
}

TEST(FifoProtocol, KeepsTheRequestIdOfEveryMessageType) {
  EXPECT_EQ(parsed_run(R"({"type":"run","name":"a","run":"b","id":"req-7"})").request_id, "req-7");
  EXPECT_EQ(std::get<FifoShutdown>(parsed(R"({"type":"shutdown","id":42})")).request_id, "42");
  EXPECT_EQ(std::get<FifoControl>(parsed(R"({"type":"stop","name":"a","id":"x"})")).request_id,
            "x");
  EXPECT_EQ(error_of(R"({"type":"shutdown","id":[1]})"),
            "field \"id\": expected a string or a number, got an array");
}

TEST(FifoProtocol, ReportsWhereTheJsonBreaks) {
  EXPECT_EQ(error_of("hello"),
            "not JSON: syntax error while parsing value - invalid literal; last read: 'h' at "
            "byte 1");
  const std::string truncated = error_of(R"({"type":"run")");
  EXPECT_EQ(truncated.rfind("not JSON: ", 0), 0u) << truncated;
  EXPECT_NE(truncated.find(" at byte 13"), std::string::npos) << truncated;
  // The seed logged "# comment" lines as parse errors too.
  EXPECT_EQ(error_of("# comment").rfind("not JSON: ", 0), 0u);
}

TEST(FifoProtocol, RequiresAnObjectWithAKnownType) {
  EXPECT_EQ(error_of("[1,2]"), "expected a JSON object, got an array");
  EXPECT_EQ(error_of("{}"), "missing field \"type\"");
  EXPECT_EQ(error_of(R"({"type":null})"), "missing field \"type\"");
  EXPECT_EQ(error_of(R"({"type":3})"), "field \"type\": expected a string, got an integer");
  EXPECT_EQ(error_of(R"({"type":"fizzle"})"),
            "unknown message type \"fizzle\" (expected run, shutdown, start, stop, restart)");
}

TEST(FifoProtocol, RunNeedsANonBlankNameAndCommand) {
  EXPECT_EQ(error_of(R"({"type":"run","name":"a"})"), "missing field \"run\"");
  EXPECT_EQ(error_of(R"({"type":"run","run":"true"})"), "missing field \"name\"");
  EXPECT_EQ(error_of(R"({"type":"run","name":"a","run":null})"), "missing field \"run\"");
  EXPECT_EQ(error_of(R"({"type":"run","name":"a","run":" \t "})"),
            "field \"run\" must not be blank");
  EXPECT_EQ(error_of(R"({"type":"run","name":"","run":"x"})"), "field \"name\" must not be blank");
  EXPECT_EQ(error_of(R"({"type":"run","name":"a\nb","run":"x"})"),
            "field \"name\" must not contain control characters");
  EXPECT_EQ(error_of(R"({"type":"run","name":"a","run":["x"]})"),
            "field \"run\": expected a string, got an array");
}

TEST(FifoProtocol, NamesTheFieldAndBothTypesOnAMismatch) {
  EXPECT_EQ(error_of(R"({"type":"run","name":"a","run":"x","once":"yes"})"),
            "field \"once\": expected a boolean, got a string");
  EXPECT_EQ(error_of(R"({"type":"shutdown","user":7})"),
            "field \"user\": expected a string, got an integer");
  EXPECT_EQ(error_of(R"({"type":"run","name":"a","run":"x","env":["A=1"]})"),
            "field \"env\": expected an object of strings, got an array");
  EXPECT_EQ(error_of(R"({"type":"run","name":"a","run":"x","env":{"PORT":3000}})"),
            "field \"env.PORT\": expected a string, got an integer");
  EXPECT_EQ(error_of(R"({"type":"run","name":"a","run":"x","env":{"A=B":"1"}})"),
            "field \"env\": \"A=B\" is not a valid variable name");
  EXPECT_EQ(error_of(R"({"type":"run","name":"a","run":"x","depends":{"tcp":"h:1"}})"),
            "field \"depends\": expected an array, got an object");
}

TEST(FifoProtocol, RefusesLinesOverTheLimit) {
  std::string line = R"({"type":"run","name":"a","run":")";
  line += std::string(kMaxFifoLine, 'x');
  line += "\"}";
  EXPECT_EQ(error_of(line), "line is longer than 65536 bytes");
  // Exactly at the limit is fine.
  std::string fits = R"({"type":"run","name":"a","run":")";
  fits += std::string(kMaxFifoLine - fits.size() - 2, 'x');
  fits += "\"}";
  ASSERT_EQ(fits.size(), kMaxFifoLine);
  EXPECT_EQ(parsed_run(fits).name, "a");
}

std::vector<Dependency> deps_of(const std::string& depends_json) {
  return parsed_run(R"({"type":"run","name":"a","run":"x","depends":)" + depends_json + "}")
      .depends;
}

std::string deps_error(const std::string& depends_json) {
  return error_of(R"({"type":"run","name":"a","run":"x","depends":)" + depends_json + "}");
}

TEST(FifoProtocolDepends, ConvertsEverySeedShape) {
  auto d = deps_of(
      R"([{"url":"http://localhost:3000/health","code":204},{"tcp":"127.0.0.1:5432"},)"
      R"({"path":"/tmp/ready"},{"process_exited":"migrate"},{"not_listening":"[::1]:8080"},)"
      R"({"not_exists":"/tmp/api.lock"},{"not_running":"old-api.*"}])");
  ASSERT_EQ(d.size(), 7u);
  EXPECT_EQ(d[0].kind, Dependency::Kind::Url);
  EXPECT_EQ(d[0].target, "http://localhost:3000/health");
  EXPECT_EQ(d[0].expect_status, 204);
  EXPECT_EQ(d[1].kind, Dependency::Kind::Tcp);
  EXPECT_EQ(d[1].target, "127.0.0.1:5432");
  EXPECT_EQ(d[2].kind, Dependency::Kind::Path);
  EXPECT_EQ(d[2].target, "/tmp/ready");
  EXPECT_EQ(d[3].kind, Dependency::Kind::Process);
  EXPECT_EQ(d[3].id, "migrate");
  EXPECT_EQ(d[3].condition, DepCondition::CompletedSuccessfully);
  EXPECT_EQ(d[4].kind, Dependency::Kind::NotListening);
  EXPECT_EQ(d[4].target, "[::1]:8080");
  EXPECT_EQ(d[5].kind, Dependency::Kind::NotExists);
  EXPECT_EQ(d[5].target, "/tmp/api.lock");
  EXPECT_EQ(d[6].kind, Dependency::Kind::NotRunning);
  EXPECT_EQ(d[6].target, "old-api.*");
}

TEST(FifoProtocolDepends, UrlCodeDefaultsTo200) {
  EXPECT_EQ(deps_of(R"([{"url":"https://example.com/"}])")[0].expect_status, 200);
}

TEST(FifoProtocolDepends, ReadsPollIntervalTimeoutAndRetry) {
  auto d = deps_of(
      R"([{"url":"http://h/","code":200,"poll_interval":0.5,"timeout_seconds":30,"retry":false},)"
      R"({"tcp":"h:1","poll_interval":2},{"not_exists":"/x","timeout_seconds":0}])");
  EXPECT_EQ(d[0].poll_interval, 500ms);
  EXPECT_EQ(d[0].timeout, 30s);
  EXPECT_FALSE(d[0].retry);
  EXPECT_EQ(d[1].poll_interval, 2s);
  EXPECT_TRUE(d[1].retry);
  EXPECT_EQ(d[2].timeout, 0s);  // 0: wait forever
}

TEST(FifoProtocolDepends, RefusesBadOptionValuesPrecisely) {
  EXPECT_EQ(deps_error(R"([{"tcp":"h:1","poll_interval":"1s"}])"),
            "field \"depends[0].poll_interval\": expected a number of seconds, got a string");
  EXPECT_EQ(deps_error(R"([{"tcp":"h:1","poll_interval":0}])"),
            "field \"depends[0].poll_interval\" must be between 0.001 and 3153600000 seconds, "
            "not 0");
  EXPECT_EQ(deps_error(R"([{"tcp":"h:1","timeout_seconds":1.5}])"),
            "field \"depends[0].timeout_seconds\": expected an integer number of seconds, got a "
            "number");
  EXPECT_EQ(deps_error(R"([{"tcp":"h:1","timeout_seconds":-1}])"),
            "field \"depends[0].timeout_seconds\" must be between 0 and 3153600000, not -1");
  EXPECT_EQ(deps_error(R"([{"path":"/x"},{"tcp":"h:1","retry":"no"}])"),
            "field \"depends[1].retry\": expected a boolean, got a string");
  EXPECT_EQ(deps_error(R"([{"url":"http://h/","code":"200"}])"),
            "field \"depends[0].code\": expected an integer, got a string");
  EXPECT_EQ(deps_error(R"([{"url":"http://h/","code":99}])"),
            "field \"depends[0].code\" must be an HTTP status 100..599, not 99");
  EXPECT_EQ(deps_error(R"([{"url":"http://h/","code":18446744073709551615}])"),
            "field \"depends[0].code\" must be an HTTP status 100..599, not 18446744073709551615");
}

TEST(FifoProtocolDepends, ChecksTargets) {
  EXPECT_EQ(deps_error(R"([{"url":"localhost:8080/health"}])"),
            "field \"depends[0].url\": must start with http:// or https://, not "
            "'localhost:8080/health'");
  EXPECT_EQ(deps_error(R"([{"tcp":"localhost"}])"),
            "field \"depends[0].tcp\": expected \"host:port\" such as \"127.0.0.1:8080\", not "
            "'localhost'");
  EXPECT_EQ(deps_error(R"([{"not_listening":"h:70000"}])"),
            "field \"depends[0].not_listening\": the port must be 1..65535, not '70000'");
  const std::string bad_regex = deps_error(R"([{"not_running":"a("}])");
  EXPECT_EQ(bad_regex.rfind("field \"depends[0].not_running\": 'a(' is not a valid regex", 0), 0u)
      << bad_regex;
  EXPECT_EQ(deps_error(R"([{"path":""}])"), "field \"depends[0].path\" must not be blank");
  EXPECT_EQ(deps_error(R"([{"process_exited":7}])"),
            "field \"depends[0].process_exited\": expected a string, got an integer");
}

TEST(FifoProtocolDepends, SaysFileContainsIsNotSupported) {
  EXPECT_EQ(deps_error(R"([{"file_contains":{"path":"/c.json","format":"json","key":"$.a"}}])"),
            "field \"depends[0].file_contains\": file_contains dependencies are not supported by "
            "procman (use one of \"url\", \"tcp\", \"path\", \"process_exited\", "
            "\"not_listening\", \"not_exists\", \"not_running\" or \"process\")");
}

TEST(FifoProtocolDepends, NeedsExactlyOneKindPerEntry) {
  EXPECT_EQ(deps_error(R"([{"code":200}])"),
            "field \"depends[0]\" needs one of \"url\", \"tcp\", \"path\", \"process_exited\", "
            "\"not_listening\", \"not_exists\", \"not_running\" or \"process\"");
  EXPECT_EQ(deps_error(R"([{"tcp":"h:1","path":"/x"}])"),
            "field \"depends[0]\" mixes \"tcp\" and \"path\"; use one kind per entry");
  EXPECT_EQ(deps_error(R"([3])"),
            "field \"depends[0]\": expected an object or a process name, got an integer");
}

TEST(FifoProtocolDepends, AcceptsProcessNamesAsAnExtension) {
  auto d = deps_of(R"(["web",{"process":"db"},{"process":"init","condition":"completed"}])");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].kind, Dependency::Kind::Process);
  EXPECT_EQ(d[0].id, "web");
  EXPECT_EQ(d[0].condition, DepCondition::Running);
  EXPECT_EQ(d[1].id, "db");
  EXPECT_EQ(d[1].condition, DepCondition::Running);
  EXPECT_EQ(d[2].condition, DepCondition::Completed);
  EXPECT_EQ(deps_error(R"([{"process":"x","condition":"ready"}])"),
            "field \"depends[0].condition\": unknown condition \"ready\" (expected started, "
            "running, completed, completed-successfully)");
  EXPECT_EQ(deps_error(R"([" "])"), "field \"depends[0]\" must not be blank");
}

TEST(FifoProtocolDepends, ProcessEntriesIgnoreProbeOptionsLikeTheSeed) {
  auto d = deps_of(R"([{"process_exited":"m","poll_interval":"junk","timeout_seconds":5}])");
  EXPECT_EQ(d[0].timeout, Dependency{}.timeout);
}

TEST(FifoProtocolDepends, DefersTargetChecksUntilVariablesAreExpanded) {
  auto d = deps_of(R"([{"url":"$API_URL"},{"path":"${DATA}/ready"},{"process_exited":"$x"}])");
  const std::map<std::string, std::string> env = {{"API_URL", "http://localhost:1/h"},
                                                  {"DATA", "/var/data"}};
  EXPECT_EQ(expand_fifo_depends(d, env), std::nullopt);
  EXPECT_EQ(d[0].target, "http://localhost:1/h");
  EXPECT_EQ(d[1].target, "/var/data/ready");
  EXPECT_EQ(d[2].id, "$x");  // process names are never expanded
}

TEST(FifoProtocolDepends, ExpandsLikeTheSeed) {
  auto expand_path = [](const std::string& path) -> std::string {
    std::vector<Dependency> d(1);
    d[0].kind = Dependency::Kind::Path;
    d[0].target = path;
    auto e = expand_fifo_depends(d, {{"A", "1"}, {"A_B", "2"}});
    return e ? "error: " + *e : d[0].target;
  };
  EXPECT_EQ(expand_path("/x/$A/y"), "/x/1/y");
  EXPECT_EQ(expand_path("/x/$A_B.z"), "/x/2.z");
  EXPECT_EQ(expand_path("/x/${A}B"), "/x/1B");
  EXPECT_EQ(expand_path("/x/$$A"), "/x/$A");
  EXPECT_EQ(expand_path("/x/$1/$"), "/x/$1/$");
  EXPECT_EQ(expand_path("/x/$NOPE"),
            "error: field \"depends[0].path\": undefined environment variable $NOPE");
  EXPECT_EQ(expand_path("/x/${NOPE}"),
            "error: field \"depends[0].path\": undefined environment variable ${NOPE}");
  EXPECT_EQ(expand_path("/x/${A"), "error: field \"depends[0].path\": unterminated ${ in '/x/${A'");
}

TEST(FifoProtocolDepends, ChecksTargetsAfterExpansion) {
  auto d = deps_of(R"([{"tcp":"$ADDR"}])");
  EXPECT_EQ(expand_fifo_depends(d, {{"ADDR", "nohost"}}),
            "field \"depends[0].tcp\": expected \"host:port\" such as \"127.0.0.1:8080\", not "
            "'nohost'");
}

TEST(FifoLine, PrintsTypeFirstAndLeavesDefaultsOut) {
  FifoRun run;
  run.name = "redis-server";
  run.run = "redis-server --port 6380";
  EXPECT_EQ(fifo_line(run),
            "{\"type\":\"run\",\"name\":\"redis-server\",\"run\":\"redis-server --port 6380\"}\n");
  EXPECT_EQ(fifo_line(FifoShutdown{"ann", "User-initiated via CLI", ""}),
            "{\"type\":\"shutdown\",\"user\":\"ann\",\"message\":\"User-initiated via CLI\"}\n");
  EXPECT_EQ(fifo_line(FifoControl{FifoControl::Kind::Restart, "web", ""}),
            "{\"type\":\"restart\",\"name\":\"web\"}\n");
}

TEST(FifoLine, EscapesNewlinesSoAMessageIsOneLine) {
  FifoRun run;
  run.name = "a";
  run.run = "echo 1\necho 2";
  const std::string line = fifo_line(run);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(parsed_run(std::string_view(line).substr(0, line.size() - 1)).run, "echo 1\necho 2");
}

TEST(FifoLine, RoundTripsThroughTheParser) {
  FifoRun run;
  run.name = "api";
  run.run = "api-server start";
  run.env = {{"PORT", "3000"}, {"EMPTY", ""}};
  run.once = true;
  run.request_id = "r1";
  Dependency url;
  url.kind = Dependency::Kind::Url;
  url.target = "http://localhost:3000/health";
  url.expect_status = 204;
  url.poll_interval = 250ms;
  url.timeout = 30s;
  url.retry = false;
  Dependency exited;
  exited.id = "migrate";
  exited.condition = DepCondition::CompletedSuccessfully;
  Dependency started;
  started.id = "db";
  started.condition = DepCondition::Started;
  Dependency gone;
  gone.kind = Dependency::Kind::NotRunning;
  gone.target = "old-api.*";
  run.depends = {url, exited, started, gone};
  const std::string line = fifo_line(run);
  FifoRun back = parsed_run(std::string_view(line).substr(0, line.size() - 1));
  EXPECT_EQ(back.name, run.name);
  EXPECT_EQ(back.run, run.run);
  EXPECT_EQ(back.env, run.env);
  EXPECT_EQ(back.once, true);
  EXPECT_EQ(back.request_id, "r1");
  ASSERT_EQ(back.depends.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(back.depends[i].kind, run.depends[i].kind) << i;
    EXPECT_EQ(back.depends[i].id, run.depends[i].id) << i;
    EXPECT_EQ(back.depends[i].condition, run.depends[i].condition) << i;
    EXPECT_EQ(back.depends[i].target, run.depends[i].target) << i;
    EXPECT_EQ(back.depends[i].expect_status, run.depends[i].expect_status) << i;
    EXPECT_EQ(back.depends[i].poll_interval, run.depends[i].poll_interval) << i;
    EXPECT_EQ(back.depends[i].timeout, run.depends[i].timeout) << i;
    EXPECT_EQ(back.depends[i].retry, run.depends[i].retry) << i;
  }
  EXPECT_EQ(fifo_message_type(FifoMessage(run)), "run");
}

TEST(FifoLine, ReplacesInvalidUtf8InsteadOfThrowing) {
  FifoControl c{FifoControl::Kind::Stop, "bad\xff", ""};
  EXPECT_EQ(fifo_line(c), "{\"type\":\"stop\",\"name\":\"bad\xEF\xBF\xBD\"}\n");
}

}  // namespace
}  // namespace procman::core
