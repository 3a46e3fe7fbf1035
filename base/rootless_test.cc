#include "base/rootless.h"

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(ParseSubordinateIdsTest, ByNameAndById) {
  const char* text =
      "# comment\n"
      "alice:100000:65536\n"
      "bob:165536:65536\n"
      "\n"
      "1001:300000:1000\n"
      "alice:500000:10\n";
  auto alice = ParseSubordinateIds(text, "alice", 1000);
  ASSERT_EQ(alice.size(), 2u);
  EXPECT_EQ(alice[0].start, 100000u);
  EXPECT_EQ(alice[0].count, 65536u);
  EXPECT_EQ(alice[1].start, 500000u);
  auto by_id = ParseSubordinateIds(text, "carol", 1001);
  ASSERT_EQ(by_id.size(), 1u);
  EXPECT_EQ(by_id[0].start, 300000u);
  EXPECT_TRUE(ParseSubordinateIds(text, "dave", 1002).empty());
}

TEST(ParseSubordinateIdsTest, IgnoresBadLines) {
  auto ranges = ParseSubordinateIds("alice:x:1\nalice:1:\nalice:5:0\nalice:1:2:3\nalice:7:8\n",
                                    "alice", 1000);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].start, 7u);
  EXPECT_EQ(ranges[0].count, 8u);
  // A user without a name (no passwd entry) matches by id only.
  EXPECT_TRUE(ParseSubordinateIds(":1:2\n", "", 1000).empty());
}

TEST(IdMapArgumentsTest, UserIsRootThenRangesFromOne) {
  EXPECT_EQ(IdMapArguments(1000, {{100000, 65536}, {500000, 10}}),
            (std::vector<std::string>{"0", "1000", "1", "1", "100000", "65536", "65537", "500000",
                                      "10"}));
  EXPECT_EQ(IdMapArguments(1000, {}), (std::vector<std::string>{"0", "1000", "1"}));
}

TEST(IdMapArgumentsTest, StopsAtTheEndOfTheIdSpace) {
  auto args = IdMapArguments(5, {{1, 4294967295u}, {7, 7}});
  ASSERT_EQ(args.size(), 6u);
  EXPECT_EQ(args[5], "4294967294");
}

}  // namespace
}  // namespace kiln
