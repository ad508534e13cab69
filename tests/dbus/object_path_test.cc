#include "dbus/object_path.h"

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>

#include <cstdlib>
#include <string>

namespace procman::dbus {
namespace {

// The reference: what sd-bus itself computes, so clients using
// sd_bus_path_encode() find our objects.
std::string sd_encode(const std::string& name) {
  char* out = nullptr;
  int r = sd_bus_path_encode("/org/procman/Manager/process", name.c_str(), &out);
  EXPECT_GE(r, 0);
  std::string s = out ? out : "";
  std::free(out);
  return s;
}

TEST(ProcessPath, EscapesTheInstanceSeparator) {
  EXPECT_EQ(process_path("worker@0"), "/org/procman/Manager/process/worker_400");
}

TEST(ProcessPath, KeepsLettersAndDigitsAfterTheFirst) {
  EXPECT_EQ(process_path("web2"), "/org/procman/Manager/process/web2");
  EXPECT_EQ(process_path("WebServer"), "/org/procman/Manager/process/WebServer");
}

TEST(ProcessPath, EscapesEverythingElseAsLowercaseHex) {
  EXPECT_EQ(process_path("my-app.1"), "/org/procman/Manager/process/my_2dapp_2e1");
  EXPECT_EQ(process_path("a_b"), "/org/procman/Manager/process/a_5fb");
  EXPECT_EQ(process_path("a b/c"), "/org/procman/Manager/process/a_20b_2fc");
}

TEST(ProcessPath, EscapesNonAsciiBytes) {
  EXPECT_EQ(process_path("caf\xc3\xa9"), "/org/procman/Manager/process/caf_c3_a9");
}

TEST(ProcessPath, EscapesALeadingDigitLikeSdBus) {
  EXPECT_EQ(process_path("1st"), "/org/procman/Manager/process/_31st");
}

TEST(ProcessPath, EmptyNameIsOneUnderscore) {
  EXPECT_EQ(process_path(""), "/org/procman/Manager/process/_");
}

TEST(ProcessPath, MatchesSdBusPathEncode) {
  for (std::string name : {"web", "worker@0", "worker@12", "my-app", "a_b", "1st", "x.y.z",
                           "UPPER@3", "tab\there", "caf\xc3\xa9", "_", "__", "@@", "9"}) {
    EXPECT_EQ(process_path(name), sd_encode(name)) << name;
  }
}

TEST(NameFromPath, InvertsProcessPath) {
  for (std::string name :
       {"web", "worker@0", "my-app.1", "a_b", "1st", "", "caf\xc3\xa9", "_", "x/y", "tab\there"}) {
    auto back = name_from_path(process_path(name));
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(*back, name);
  }
}

TEST(NameFromPath, RejectsOtherPrefixes) {
  EXPECT_FALSE(name_from_path("/org/procman/Manager"));
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process"));
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process/"));
  EXPECT_FALSE(name_from_path("/org/procman/Manager/unit/web"));
  EXPECT_FALSE(name_from_path("/org/procman/Manager/processes/web"));
  EXPECT_FALSE(name_from_path("web"));
}

TEST(NameFromPath, RejectsMalformedEscapes) {
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process/web_4"));
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process/web_"));
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process/web_zz"));
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process/web_4G"));
}

TEST(NameFromPath, RejectsSpellingsProcessPathWouldNotProduce) {
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process/_61"));        // "a" escaped
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process/worker_4A"));  // upper-case hex
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process/1st"));        // leading digit bare
  EXPECT_FALSE(name_from_path("/org/procman/Manager/process/a/b"));        // two elements
}

TEST(NameFromPath, AcceptsWhatSdBusEncodes) {
  EXPECT_EQ(name_from_path(sd_encode("worker@7")), "worker@7");
  EXPECT_EQ(name_from_path(sd_encode("2nd-try")), "2nd-try");
}

}  // namespace
}  // namespace procman::dbus
