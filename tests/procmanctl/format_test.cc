// procmanctl's rendering and small parsers, without a bus.
#include "procmanctl/format.h"

#include <gtest/gtest.h>

#include <csignal>

namespace procman::ctl {
namespace {

constexpr uint64_t kSec = 1'000'000;

TEST(CtlFormatSpan, ShowsTheTwoLargestUnitsAndDropsAZeroSecondOne) {
  EXPECT_EQ(format_span(0), "0s");
  EXPECT_EQ(format_span(999'999), "0s");
  EXPECT_EQ(format_span(45 * kSec), "45s");
  EXPECT_EQ(format_span(125 * kSec), "2min 5s");
  EXPECT_EQ(format_span((3 * 3600 + 2 * 60 + 59) * kSec), "3h 2min");
  EXPECT_EQ(format_span(3600 * kSec), "1h");
  EXPECT_EQ(format_span((2 * 86400 + 4 * 3600 + 59) * kSec), "2d 4h");
  EXPECT_EQ(format_span(86400 * kSec + 30 * kSec), "1d");
}

TEST(CtlFormatCpu, UsesMillisecondsThenTenthsThenSpans) {
  EXPECT_EQ(format_cpu(0), "0ms");
  EXPECT_EQ(format_cpu(340'500'000), "340ms");
  EXPECT_EQ(format_cpu(12'340'000'000), "12.3s");
  EXPECT_EQ(format_cpu(59'990'000'000), "59.9s");
  EXPECT_EQ(format_cpu(185'000'000'000), "3min 5s");
}

TEST(CtlFormatBytes, UsesPowersOf1024WithOneDecimalRoundedDown) {
  EXPECT_EQ(format_bytes(0), "0B");
  EXPECT_EQ(format_bytes(1023), "1023B");
  EXPECT_EQ(format_bytes(1024), "1.0K");
  EXPECT_EQ(format_bytes(1536), "1.5K");
  EXPECT_EQ(format_bytes(1024 * 1024 - 1), "1023.9K");
  EXPECT_EQ(format_bytes(static_cast<uint64_t>(12.34 * 1024 * 1024)), "12.3M");
  EXPECT_EQ(format_bytes(2ULL << 30), "2.0G");
  EXPECT_EQ(format_bytes(1ULL << 40), "1.0T");
}

TEST(CtlColors, PaintOnlyWhenEnabledAndCountNoWidthForEscapes) {
  EXPECT_EQ(paint("running", Color::Green, false), "running");
  EXPECT_EQ(paint("running", Color::Green, true), "\x1b[32mrunning\x1b[0m");
  EXPECT_EQ(paint("x", Color::None, true), "x");
  EXPECT_EQ(display_width(paint("failed", Color::Red, true)), 6u);
  EXPECT_EQ(display_width("café"), 4u);
}

TEST(CtlColors, StatesAreGreenWhenFineRedWhenFailedYellowInBetween) {
  EXPECT_EQ(state_color("running"), Color::Green);
  EXPECT_EQ(state_color("exited-ok"), Color::Green);
  EXPECT_EQ(state_color("failed"), Color::Red);
  EXPECT_EQ(state_color("start-limit-hit"), Color::Red);
  for (const char* s : {"pending", "before", "starting", "init", "backoff", "stopping"})
    EXPECT_EQ(state_color(s), Color::Yellow) << s;
  EXPECT_EQ(state_color("stopped"), Color::None);
  EXPECT_EQ(health_color("unhealthy"), Color::Red);
}

TEST(CtlTable, AlignsColumnsByDisplayWidthWithoutTrailingSpaces) {
  const std::string t = render_table({{"NAME"}, {"PID", true}, {"NOTE"}},
                                     {{"web", "123", "ok"}, {"database", "7", ""}}, false);
  EXPECT_EQ(t,
            "NAME      PID  NOTE\n"
            "web       123  ok\n"
            "database    7\n");
}

TEST(CtlTable, PaintedCellsAlignLikePlainOnes) {
  const std::string plain = render_table({{"A"}, {"B"}}, {{"failed", "x"}, {"ok", "y"}}, false);
  const std::string painted =
      render_table({{"A"}, {"B"}}, {{paint("failed", Color::Red, true), "x"}, {"ok", "y"}}, true);
  EXPECT_NE(painted.find("\x1b[31mfailed\x1b[0m  x\n"), std::string::npos) << painted;
  EXPECT_NE(plain.find("ok      y\n"), std::string::npos) << plain;
  EXPECT_NE(painted.find("ok      y\n"), std::string::npos) << painted;
}

Properties running_web(uint64_t start_usec) {
  return {{"Name", std::string("web")},
          {"State", std::string("running")},
          {"SubState", std::string("")},
          {"MainPID", uint64_t{4242}},
          {"StartTimestamp", start_usec},
          {"NRestarts", uint64_t{2}},
          {"CPUUsageNSec", uint64_t{1'500'000'000}},
          {"MemoryCurrent", uint64_t{12'900'000}},
          {"Health", std::string("healthy")},
          {"Command", std::string("./server")}};
}

TEST(CtlStatusRow, ReadsTheStatusPropertiesAndIgnoresMistypedOnes) {
  Properties p = running_web(5 * kSec);
  p["NRestarts"] = std::string("two");
  const StatusRow r = status_row(p);
  EXPECT_EQ(r.name, "web");
  EXPECT_EQ(r.state, "running");
  EXPECT_EQ(r.pid, 4242u);
  EXPECT_EQ(r.start_usec, 5 * kSec);
  EXPECT_EQ(r.restarts, 0u);
  EXPECT_EQ(r.cpu_nsec, 1'500'000'000u);
  EXPECT_EQ(r.memory_bytes, 12'900'000u);
  EXPECT_EQ(r.health, "healthy");
  EXPECT_EQ(status_row({}).pid, 0u);
}

TEST(CtlStatusTable, ShowsUptimeUsageAndHealthOfARunningProcess) {
  const uint64_t now = 1'000'000 * kSec;
  const StatusRow web = status_row(running_web(now - (3 * 3600 + 125) * kSec));
  const std::string t = render_status({web}, now, false);
  EXPECT_EQ(t,
            "NAME  STATE     PID   UPTIME  RESTARTS   CPU  MEMORY  HEALTH\n"
            "web   running  4242  3h 2min         2  1.5s   12.3M  healthy\n");
}

TEST(CtlStatusTable, ShowsSubStateAndDashesWithoutAMainProcess) {
  StatusRow db;
  db.name = "db";
  db.state = "pending";
  db.sub_state = "waiting for web";
  db.start_usec = 10 * kSec;  // an old run's start: not an uptime now
  const std::string t = render_status({db}, 100 * kSec, false);
  EXPECT_NE(t.find("db    pending (waiting for web)    -       -         0    -       -  -\n"),
            std::string::npos)
      << t;
}

TEST(CtlStatusTable, ColorsTheStateWordButNotTheSubState) {
  StatusRow r;
  r.name = "w";
  r.state = "backoff";
  r.sub_state = "2s";
  const std::string t = render_status({r}, 0, true);
  EXPECT_NE(t.find("\x1b[33mbackoff\x1b[0m (2s)"), std::string::npos) << t;
  EXPECT_NE(t.find("\x1b[1mNAME\x1b[0m"), std::string::npos) << t;
}

TEST(CtlStatusTable, ShowsWhatTheProcessSaidWithStatus) {
  Properties p = running_web(10 * kSec);
  p["NotifyStatus"] = std::string("warm, 12 clients");
  const std::string t = render_status({status_row(p)}, 100 * kSec, false);
  EXPECT_NE(t.find("running (warm, 12 clients)"), std::string::npos) << t;
  StatusRow waiting;
  waiting.name = "db";
  waiting.state = "init";
  waiting.sub_state = "notify";
  waiting.notify_status = "loading 3/10";
  EXPECT_NE(render_status({waiting}, 0, false).find("init (notify: loading 3/10)"),
            std::string::npos);
}

TEST(CtlStatusTable, NoUptimeForAStartTimeInTheFuture) {
  StatusRow r = status_row(running_web(200 * kSec));
  const std::string t = render_status({r}, 100 * kSec, false);
  EXPECT_NE(t.find("4242       -"), std::string::npos) << t;
}

TEST(CtlStateIsOk, OnlyRunningAndExitedOk) {
  EXPECT_TRUE(state_is_ok("running"));
  EXPECT_TRUE(state_is_ok("exited-ok"));
  for (const char* s : {"stopped", "failed", "pending", "starting", "backoff", ""})
    EXPECT_FALSE(state_is_ok(s)) << s;
}

TEST(CtlJson, KeepsEveryPropertyWithItsType) {
  Properties p = running_web(7);
  p["DependsOn"] = std::vector<std::string>{"db", "cache"};
  p["Metadata"] = std::map<std::string, std::string>{{"team", "infra"}};
  p["Transient"] = false;
  p["LastExitCode"] = int64_t{-1};
  p["Counts"] = std::map<std::string, uint64_t>{{"running", 3}};
  const nlohmann::json j = to_json(p);
  EXPECT_EQ(j["Name"], "web");
  EXPECT_EQ(j["MainPID"], 4242);
  EXPECT_EQ(j["LastExitCode"], -1);
  EXPECT_EQ(j["Transient"], false);
  EXPECT_EQ(j["DependsOn"], nlohmann::json::array({"db", "cache"}));
  EXPECT_EQ(j["Metadata"]["team"], "infra");
  EXPECT_EQ(j["Counts"]["running"], 3);
  EXPECT_EQ(j.size(), p.size());
}

TEST(CtlShow, PrintsKeyValueLinesInNameOrderLikeSystemctlShow) {
  Properties p = {{"State", std::string("running")},
                  {"DependsOn", std::vector<std::string>{"db", "cache"}},
                  {"Transient", true},
                  {"Metadata", std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}}},
                  {"LastExitCode", int64_t{-1}}};
  EXPECT_EQ(render_show(p, {}, false),
            "DependsOn=db cache\nLastExitCode=-1\nMetadata=a=1 b=2\nState=running\n"
            "Transient=yes\n");
  EXPECT_EQ(render_show(p, {"Transient", "State", "Nope"}, false),
            "Transient=yes\nState=running\n");
  EXPECT_EQ(render_show(p, {"State"}, true), "running\n");
}

TEST(CtlReloadSummary, ListsNonEmptyPartsOrSaysNothingChanged) {
  EXPECT_EQ(format_reload({}), "nothing changed");
  EXPECT_EQ(format_reload({{"a", "b"}, {"c"}, {"d"}, {"e"}}),
            "added: a b; removed: c; restarted: d; restart pending: e");
  EXPECT_EQ(format_reload({{}, {}, {}, {"e"}}), "restart pending: e");
}

TEST(CtlEventLine, DescribesAStateChangeInOneLine) {
  Event e{.kind = Event::Kind::StateChanged,
          .name = "web",
          .path = "/org/procman/Manager/process/web",
          .old_state = "running",
          .new_state = "stopping",
          .sub_state = "sigterm",
          .pid = 123,
          .reason = "stop requested"};
  EXPECT_EQ(format_event("2026-11-22 06:30:01", e, false),
            "2026-11-22 06:30:01 web running -> stopping (sigterm) pid 123: stop requested");
  e.old_state = "running";
  e.new_state = "backoff";
  e.sub_state = "";
  e.exit_code = 1;
  e.reason = "exited with code 1";
  EXPECT_EQ(format_event("T", e, false),
            "T web running -> backoff pid 123, exit code 1: exited with code 1");
  e.exit_code = -1;
  e.exit_signal = "SIGKILL";
  e.pid = 0;
  e.reason = "";
  EXPECT_EQ(format_event("T", e, false), "T web running -> backoff, signal SIGKILL");
  EXPECT_NE(format_event("T", e, true).find("\x1b[33mbackoff\x1b[0m"), std::string::npos);
}

TEST(CtlEventLine, DoesNotRepeatAReasonThatIsTheSubState) {
  const Event e{.name = "api",
                .old_state = "stopped",
                .new_state = "pending",
                .sub_state = "waiting for db (running)",
                .reason = "waiting for db (running)"};
  EXPECT_EQ(format_event("T", e, false), "T api stopped -> pending (waiting for db (running))");
}

TEST(CtlEventLine, DescribesAddedRemovedAndReloaded) {
  EXPECT_EQ(format_event("T", {.kind = Event::Kind::Added, .name = "job"}, false), "T job added");
  EXPECT_EQ(format_event("T", {.kind = Event::Kind::Removed, .name = "job"}, false),
            "T job removed");
  EXPECT_EQ(
      format_event("T", {.kind = Event::Kind::Reloaded, .reload = {{"x"}, {}, {}, {}}}, false),
      "T reloaded: added: x");
}

TEST(CtlEventJson, NamesTheSignalAndItsArguments) {
  const Event e{.kind = Event::Kind::StateChanged,
                .name = "web",
                .path = "/p",
                .old_state = "starting",
                .new_state = "running",
                .pid = 9,
                .reason = "ready"};
  const nlohmann::json j = event_json("2026-01-01 00:00:00", 42, e);
  EXPECT_EQ(j["event"], "ProcessStateChanged");
  EXPECT_EQ(j["time"], "2026-01-01 00:00:00");
  EXPECT_EQ(j["realtime_usec"], 42);
  EXPECT_EQ(j["new_state"], "running");
  EXPECT_EQ(j["exit_code"], -1);
  EXPECT_EQ(j["pid"], 9);
  const nlohmann::json r =
      event_json("t", 1, {.kind = Event::Kind::Reloaded, .reload = {{}, {"old"}, {}, {}}});
  EXPECT_EQ(r["event"], "Reloaded");
  EXPECT_EQ(r["removed"], nlohmann::json::array({"old"}));
  EXPECT_EQ(event_json("t", 1, {.kind = Event::Kind::Removed, .name = "a"})["event"],
            "ProcessRemoved");
}

TEST(CtlLogLine, MarksStderrLines) {
  EXPECT_EQ(format_log_line({.text = "hello"}, false), "hello");
  EXPECT_EQ(format_log_line({.is_stderr = true, .text = "oops"}, false), "[stderr] oops");
  EXPECT_EQ(format_log_line({.is_stderr = true, .text = "oops"}, true), "\x1b[31moops\x1b[0m");
  EXPECT_EQ(format_log_line({.text = "hello"}, true), "hello");
}

TEST(CtlParseSignal, AcceptsNamesWithOrWithoutSigInAnyCaseAndNumbers) {
  EXPECT_EQ(parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(parse_signal("TERM"), SIGTERM);
  EXPECT_EQ(parse_signal("kill"), SIGKILL);
  EXPECT_EQ(parse_signal("sigusr1"), SIGUSR1);
  EXPECT_EQ(parse_signal("9"), 9);
  EXPECT_EQ(parse_signal("64"), 64);
  EXPECT_EQ(parse_signal("0"), std::nullopt);
  EXPECT_EQ(parse_signal("65"), std::nullopt);
  EXPECT_EQ(parse_signal("9x"), std::nullopt);
  EXPECT_EQ(parse_signal("SIGFOO"), std::nullopt);
  EXPECT_EQ(parse_signal(""), std::nullopt);
  EXPECT_EQ(parse_signal("SIG"), std::nullopt);
}

TEST(CtlSelectProcesses, MatchesNamesIdsAndGlobsInListOrder) {
  const std::vector<ProcessName> all = {
      {"db", "db"}, {"worker@0", "worker"}, {"worker@1", "worker"}, {"web", "web"}};
  std::vector<std::string> unknown;
  EXPECT_EQ(select_processes(all, {"web", "db"}, &unknown), (std::vector<std::size_t>{0, 3}));
  EXPECT_EQ(select_processes(all, {"worker"}, &unknown), (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(select_processes(all, {"worker@1"}, &unknown), (std::vector<std::size_t>{2}));
  EXPECT_EQ(select_processes(all, {"w*"}, &unknown), (std::vector<std::size_t>{1, 2, 3}));
  EXPECT_TRUE(unknown.empty());
  EXPECT_EQ(select_processes(all, {"wbe", "x*", "db"}, &unknown), (std::vector<std::size_t>{0}));
  EXPECT_EQ(unknown, (std::vector<std::string>{"wbe"}));  // a glob matching nothing is no error
}

TEST(CtlExitCodes, MapDBusErrorsToTheDocumentedCodes) {
  EXPECT_EQ(exit_code_for_error("org.procman.Error.NoSuchProcess"), kExitNoSuchProcess);
  EXPECT_EQ(exit_code_for_error("org.procman.Error.InvalidArgs"), kExitUsage);
  EXPECT_EQ(exit_code_for_error("org.procman.Error.Failed"), kExitFailed);
  EXPECT_EQ(exit_code_for_error("org.procman.Error.InvalidConfig"), kExitFailed);
  EXPECT_EQ(exit_code_for_error("org.procman.Error.AlreadyExists"), kExitFailed);
  EXPECT_EQ(exit_code_for_error("org.procman.Error.ShuttingDown"), kExitFailed);
  EXPECT_EQ(exit_code_for_error("org.freedesktop.DBus.Error.ServiceUnknown"), kExitUnreachable);
  EXPECT_EQ(exit_code_for_error("org.freedesktop.DBus.Error.NameHasNoOwner"), kExitUnreachable);
  EXPECT_EQ(exit_code_for_error("org.freedesktop.DBus.Error.Spawn.ChildExited"), kExitUnreachable);
  EXPECT_EQ(exit_code_for_error("org.freedesktop.DBus.Error.AccessDenied"), kExitFailed);
  EXPECT_EQ(exit_code_for_error("org.freedesktop.DBus.Error.NoReply"), kExitFailed);
}

}  // namespace
}  // namespace procman::ctl
