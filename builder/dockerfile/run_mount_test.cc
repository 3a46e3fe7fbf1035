#include "builder/dockerfile/run_mount.h"

#include "gtest/gtest.h"

namespace kiln::builder::dockerfile {
namespace {

TEST(RunMountTest, Defaults) {
  auto bind = ParseRunMount("target=/src");
  ASSERT_TRUE(bind.ok()) << bind.status();
  EXPECT_EQ(bind->type, "bind");
  EXPECT_TRUE(bind->read_only);
  auto cache = ParseRunMount("type=cache,target=/root/.cache,id=pip,sharing=locked");
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ(cache->type, "cache");
  EXPECT_EQ(cache->id, "pip");
  EXPECT_FALSE(cache->read_only);
  EXPECT_EQ(cache->sharing, "locked");
}

TEST(RunMountTest, Fields) {
  auto m = ParseRunMount("type=bind, from=build ,source=/out,dst=/in,rw");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->from, "build");
  EXPECT_EQ(m->source, "/out");
  EXPECT_EQ(m->target, "/in");
  EXPECT_FALSE(m->read_only);
  EXPECT_TRUE(ParseRunMount("type=tmpfs,target=/t,size=64m").ok());
  EXPECT_TRUE(ParseRunMount("type=cache,target=/c,readonly=true")->read_only);
}

TEST(RunMountTest, Errors) {
  EXPECT_FALSE(ParseRunMount("type=nfs,target=/x").ok());
  EXPECT_FALSE(ParseRunMount("type=cache").ok());
  EXPECT_FALSE(ParseRunMount("target=/x,colour=blue").ok());
  EXPECT_FALSE(ParseRunMount("target=/x,ro=maybe").ok());
  EXPECT_FALSE(ParseRunMount("target=/x,sharing=sometimes").ok());
  EXPECT_FALSE(ParseRunMount(std::string(5000, 'a')).ok());
}

}  // namespace
}  // namespace kiln::builder::dockerfile
