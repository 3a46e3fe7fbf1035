#include "base/id_map.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(IdMapTest, Identity) {
  auto map = IdMap::Parse("         0          0 4294967295\n");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_TRUE(map->IsIdentity());
  EXPECT_FALSE(map->IsSingleId());
  EXPECT_TRUE(map->Contains(0));
  EXPECT_TRUE(map->Contains(4294967294u));
}

TEST(IdMapTest, SubordinateRanges) {
  auto map = IdMap::Parse("0 1000 1\n1 100000 65536\n");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_FALSE(map->IsIdentity());
  EXPECT_FALSE(map->IsSingleId());
  EXPECT_TRUE(map->Contains(0));
  EXPECT_TRUE(map->Contains(1000));
  EXPECT_TRUE(map->Contains(65536));
  EXPECT_FALSE(map->Contains(65537));
  ASSERT_EQ(map->ranges().size(), 2u);
  EXPECT_EQ(map->ranges()[1].outside, 100000u);
}

TEST(IdMapTest, SingleId) {
  auto map = IdMap::Parse("0 1000 1");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_TRUE(map->IsSingleId());
  EXPECT_TRUE(map->Contains(0));
  EXPECT_FALSE(map->Contains(1));
}

TEST(IdMapTest, RejectsGarbage) {
  EXPECT_FALSE(IdMap::Parse("0 1000").ok());
  EXPECT_FALSE(IdMap::Parse("a b c").ok());
  EXPECT_FALSE(IdMap::Parse("0 0 1 2").ok());
}

TEST(IdMapTest, ProcessMapIsReadable) {
  // The process's own ids are always mapped in its namespace.
  EXPECT_TRUE(ProcessUidMap().Contains(::geteuid()));
  EXPECT_TRUE(ProcessGidMap().Contains(::getegid()));
  EXPECT_EQ(OverlayXattrPrefix(), InInitialUserNamespace() ? "trusted.overlay." : "user.overlay.");
}

}  // namespace
}  // namespace kiln
