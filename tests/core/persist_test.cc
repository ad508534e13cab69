#include "core/persist.h"

#include <gtest/gtest.h>

namespace procman::core {
namespace {

TEST(Persist, RoundTripsEverythingARestartNeeds) {
  PersistedState s;
  s.uid = "550e8400";
  s.config_path = "/x/procman.toml";
  s.boot_id = "b00t";
  s.daemon_pid = 12;
  UnitStatus u;
  u.name = "worker@1";
  u.id = "worker";
  u.instance = 1;
  u.state = State::Running;
  u.pid = 4242;
  u.pgid = 4242;
  u.pid_start_time = 987654321;
  u.admin = AdminGoal::Stopped;
  u.done = true;
  u.restarts = 5;
  u.consecutive_failures = 2;
  u.last_exit = ExitInfo{.known = true, .signaled = true, .code = 9};
  u.start_usec = 111;
  u.exit_usec = 222;
  u.run_usec = 333;
  u.apply_on = LocalDateTime{2024, 10, 1, 12, 0, 0};
  u.start_limit_mono_usec = {1, 2, 3};
  u.failure_reason = "killed by SIGKILL";
  s.units.push_back(u);

  std::string error;
  auto back = parse_persisted_state(serialize_state(s), &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->uid, "550e8400");
  EXPECT_EQ(back->boot_id, "b00t");
  ASSERT_EQ(back->units.size(), 1u);
  const UnitStatus& r = back->units[0];
  EXPECT_EQ(r.name, "worker@1");
  EXPECT_EQ(r.instance, 1u);
  EXPECT_EQ(r.state, State::Running);
  EXPECT_EQ(r.pid, 4242);
  EXPECT_EQ(r.pid_start_time, 987654321u);
  EXPECT_EQ(r.admin, AdminGoal::Stopped);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.restarts, 5u);
  ASSERT_TRUE(r.last_exit);
  EXPECT_TRUE(r.last_exit->signaled);
  EXPECT_EQ(r.last_exit->code, 9);
  ASSERT_TRUE(r.apply_on);
  EXPECT_EQ(*r.apply_on, (LocalDateTime{2024, 10, 1, 12, 0, 0}));
  EXPECT_EQ(r.start_limit_mono_usec, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(r.failure_reason, "killed by SIGKILL");
}

TEST(Persist, RoundTripsTransientsWithTheirAssignedNames) {
  PersistedState s;
  s.uid = "u";
  TransientRequest a;
  a.name = "sleep.1";
  a.command = "sleep 100";
  a.unique = true;
  TransientRequest b;
  b.name = "job";
  b.argv = {"/bin/echo", "a b"};
  b.once = true;
  b.stop_timeout = std::chrono::seconds(3);
  Dependency d;
  d.id = "sleep.1";
  b.depends = {d};
  s.transients = {a, b};
  UnitStatus u;
  u.name = u.id = "job";
  u.transient = true;
  s.units.push_back(u);

  std::string error;
  auto back = parse_persisted_state(serialize_state(s), &error);
  ASSERT_TRUE(back) << error;
  ASSERT_EQ(back->transients.size(), 2u);
  EXPECT_EQ(back->transients[0].name, "sleep.1");
  EXPECT_EQ(back->transients[0].command, "sleep 100");
  EXPECT_TRUE(back->transients[0].unique);
  EXPECT_EQ(back->transients[1].name, "job");
  EXPECT_EQ(back->transients[1].argv, (std::vector<std::string>{"/bin/echo", "a b"}));
  EXPECT_TRUE(back->transients[1].once);
  EXPECT_EQ(back->transients[1].stop_timeout, Duration(std::chrono::seconds(3)));
  ASSERT_EQ(back->transients[1].depends.size(), 1u);
  EXPECT_EQ(back->transients[1].depends[0].id, "sleep.1");
  ASSERT_EQ(back->units.size(), 1u);
  EXPECT_TRUE(back->units[0].transient);
}

TEST(Persist, AFileWrittenBeforeTransientsStillParses) {
  std::string error;
  auto s = parse_persisted_state(
      R"({"version": 1, "uid": "u", "units": [{"name": "web", "id": "web", "state": "running"}]})",
      &error);
  ASSERT_TRUE(s) << error;
  EXPECT_TRUE(s->transients.empty());
  ASSERT_EQ(s->units.size(), 1u);
  EXPECT_FALSE(s->units[0].transient);
}

TEST(Persist, ABrokenTransientIsAnError) {
  std::string error;
  EXPECT_FALSE(parse_persisted_state(
      R"({"version": 1, "uid": "u", "units": [],
          "transients": [{"name": "x", "command": "y", "depends": [{"kind": "ftp"}]}]})",
      &error));
  EXPECT_EQ(error, "state file: transient 'x': unknown dependency kind 'ftp'");
}

TEST(Persist, RejectsGarbageWithAReason) {
  std::string error;
  EXPECT_FALSE(parse_persisted_state("{not json", &error));
  EXPECT_NE(error.find("malformed state file"), std::string::npos);
  EXPECT_FALSE(parse_persisted_state(R"({"version": 9, "uid": "x", "units": []})", &error));
  EXPECT_EQ(error, "unsupported state file version 9");
}

PersistedState two_units() {
  PersistedState s;
  s.uid = "u";
  for (const char* name : {"web", "db"}) {
    UnitStatus u;
    u.name = name;
    u.id = name;
    u.state = State::Running;
    u.pid = 100;
    s.units.push_back(u);
  }
  return s;
}

TEST(Persist, TheSnapshotIsOneLine) {
  const std::string text = serialize_state(two_units());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find('\n'), text.size() - 1);
}

TEST(Persist, RecordsAfterTheSnapshotReplaceOrAddUnitsInOrder) {
  PersistedState s = two_units();
  UnitStatus web = s.units[0];
  std::string text = serialize_state(s);
  web.pid = 200;
  web.restarts = 1;
  text += serialize_unit_record(web);
  web.pid = 300;
  web.restarts = 2;
  text += serialize_unit_record(web);
  UnitStatus added;
  added.name = "cache";
  added.id = "cache";
  added.state = State::Starting;
  text += serialize_unit_record(added);

  std::string error;
  auto back = parse_persisted_state(text, &error);
  ASSERT_TRUE(back) << error;
  ASSERT_EQ(back->units.size(), 3u);
  EXPECT_EQ(back->units[0].name, "web");
  EXPECT_EQ(back->units[0].pid, 300);  // the last record wins
  EXPECT_EQ(back->units[0].restarts, 2u);
  EXPECT_EQ(back->units[1].name, "db");
  EXPECT_EQ(back->units[1].pid, 100);  // untouched
  EXPECT_EQ(back->units[2].name, "cache");
  EXPECT_EQ(back->units[2].state, State::Starting);
}

TEST(Persist, ARecordCutShortByACrashIsIgnored) {
  PersistedState s = two_units();
  UnitStatus web = s.units[0];
  std::string text = serialize_state(s);
  web.pid = 200;
  text += serialize_unit_record(web);
  web.pid = 300;
  const std::string torn = serialize_unit_record(web);
  text += torn.substr(0, torn.size() / 2);

  std::string error;
  auto back = parse_persisted_state(text, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->units[0].pid, 200);
}

TEST(Persist, AMalformedCompleteRecordIsAnErrorNamingIt) {
  std::string text = serialize_state(two_units());
  text += serialize_unit_record(two_units().units[0]);
  text += "{\"unit\": oops}\n";
  std::string error;
  EXPECT_FALSE(parse_persisted_state(text, &error));
  EXPECT_NE(error.find("malformed record 2 of the state file"), std::string::npos) << error;
  text = serialize_state(two_units()) + "[1, 2]\n";
  EXPECT_FALSE(parse_persisted_state(text, &error));
  EXPECT_EQ(error, "record 1 of the state file is not a unit record");
}

TEST(Persist, ASnapshotOverSeveralLinesFromAnOlderVersionStillParses) {
  std::string error;
  auto back = parse_persisted_state(
      "{\n \"version\": 1,\n \"uid\": \"u\",\n \"units\": [\n  {\"name\": \"web\", \"id\": "
      "\"web\", "
      "\"state\": \"running\", \"pid\": 7}\n ]\n}\n",
      &error);
  ASSERT_TRUE(back) << error;
  ASSERT_EQ(back->units.size(), 1u);
  EXPECT_EQ(back->units[0].pid, 7);
}

}  // namespace
}  // namespace procman::core
