#include "core/sparse.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/describe.h"

namespace procman::core {
namespace {

using Meta = std::map<std::string, std::string>;

TEST(Sparse, ReadsAsAnEmptyContainerUntilSet) {
  Sparse<std::vector<int>> v;
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.size(), 0u);
  EXPECT_EQ(v.begin(), v.end());
  const std::vector<int>& ref = v;
  EXPECT_TRUE(ref.empty());
  EXPECT_EQ(sizeof(v), sizeof(void*));
  // Only what converts to the container implicitly converts to a Sparse: no vector of 5 from 5.
  static_assert(!std::is_convertible_v<int, Sparse<std::vector<int>>>);
  static_assert(std::is_convertible_v<const char*, RareString>);
}

TEST(Sparse, HoldsWhatIsAssignedOrEdited) {
  Sparse<std::vector<int>> v;
  v = std::vector<int>{1, 2};
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1], 2);
  v.edit().push_back(3);
  EXPECT_EQ(v, (std::vector<int>{1, 2, 3}));
  Sparse<Meta> m;
  m.edit()["owner"] = "ops";
  EXPECT_EQ(m.at("owner"), "ops");
  EXPECT_EQ(m.count("owner"), 1u);
  EXPECT_EQ(m.count("team"), 0u);
  m = Meta{};
  EXPECT_TRUE(m.empty());
}

TEST(Sparse, CopiesAreDeepAndMovesLeaveTheSourceEmpty) {
  Sparse<Meta> a = Meta{{"k", "v"}};
  Sparse<Meta> b = a;
  b.edit()["k"] = "w";
  EXPECT_EQ(a.at("k"), "v");
  Sparse<Meta> c = std::move(a);
  EXPECT_EQ(c.at("k"), "v");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented state
  c = c;                   // self-assignment keeps it
  EXPECT_EQ(c.at("k"), "v");
}

TEST(Sparse, AProcessConfigDescribesItsSparsePartsAsTheFileWritesThem) {
  ProcessConfig p;
  p.id = "web";
  p.command = Command{"x", CommandType::Simple, {}};
  nlohmann::json j = process_json(p);
  EXPECT_FALSE(j.contains("meta"));
  EXPECT_FALSE(j.contains("sockets"));
  EXPECT_EQ(j.at("success-exit-codes"), nlohmann::json::array({0}));
  p.meta = Meta{{"owner", "ops"}};
  p.sockets = {SocketConfig{"tcp:127.0.0.1:8080", "", {}}};
  j = process_json(p);
  EXPECT_EQ(j.at("meta"), (nlohmann::json{{"owner", "ops"}}));
  EXPECT_EQ(j.at("sockets"), nlohmann::json::array({"tcp:127.0.0.1:8080"}));
}

}  // namespace
}  // namespace procman::core
