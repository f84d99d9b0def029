#include "store/token_set.h"

#include <gtest/gtest.h>

namespace carerecord::store {
namespace {

TokenSet Listed(std::initializer_list<std::pair<std::string, std::string>> codes) {
  TokenSet out;
  for (const auto& code : codes) out.codes.insert(code);
  return out;
}

TokenSet Whole(const std::string& system, std::set<std::string> except = {}) {
  TokenSet out;
  out.whole_systems[system] = std::move(except);
  return out;
}

TEST(TokenSet, UnionOfWholeSystemsKeepsOnlyCodesBothLeaveOut) {
  TokenSet set = Whole("s", {"a", "b"});
  set.UnionWith(Whole("s", {"b", "c"}));
  EXPECT_TRUE(set.Contains("s", "a"));
  EXPECT_FALSE(set.Contains("s", "b"));
  EXPECT_TRUE(set.Contains("s", "c"));
  set.UnionWith(Listed({{"s", "b"}, {"t", "x"}}));
  EXPECT_TRUE(set.Contains("s", "b"));
  EXPECT_TRUE(set.Contains("t", "x"));
  EXPECT_EQ(set.ListedCodes(), 1u);  // t|x; s|b is covered by the whole system now
}

TEST(TokenSet, IntersectionNarrowsWholeSystemsToListedCodes) {
  TokenSet set = Whole("s", {"b"});
  set.IntersectWith(Listed({{"s", "a"}, {"s", "b"}, {"t", "a"}}));
  EXPECT_EQ(set.codes, (Listed({{"s", "a"}}).codes));
  EXPECT_TRUE(set.whole_systems.empty());
  TokenSet both = Whole("s", {"a"});
  both.IntersectWith(Whole("s", {"b"}));
  EXPECT_FALSE(both.Contains("s", "a"));
  EXPECT_FALSE(both.Contains("s", "b"));
  EXPECT_TRUE(both.Contains("s", "c"));
  TokenSet disjoint = Whole("s");
  disjoint.IntersectWith(Whole("t"));
  EXPECT_FALSE(disjoint.Contains("s", "a"));
  EXPECT_FALSE(disjoint.Contains("t", "a"));
}

TEST(TokenSet, SubtractTakesCodesOutOfWholeSystemsAndWholeSystemsOutOfCodes) {
  TokenSet set = Whole("s");
  set.Subtract(Listed({{"s", "a"}}));
  EXPECT_FALSE(set.Contains("s", "a"));
  EXPECT_TRUE(set.Contains("s", "b"));
  TokenSet almost_nothing = Whole("s", {"a"});
  almost_nothing.Subtract(Whole("s", {"a", "b"}));  // all but a, minus all but a and b: b
  EXPECT_EQ(almost_nothing.codes, (Listed({{"s", "b"}}).codes));
  EXPECT_TRUE(almost_nothing.whole_systems.empty());
  TokenSet listed = Listed({{"s", "a"}, {"t", "a"}});
  listed.Subtract(Whole("s"));
  EXPECT_EQ(listed.codes, (Listed({{"t", "a"}}).codes));
}

}  // namespace
}  // namespace carerecord::store
