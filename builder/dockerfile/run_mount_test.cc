#include "builder/dockerfile/run_mount.h"

#include "gtest/gtest.h"

namespace kiln::builder::dockerfile {
namespace {

TEST(RunMountTest, Defaults) {
  auto bind = ParseRunMount("target=/src");
  ASSERT_TRUE(bind.ok()) << bind.status();
  EXPECT_EQ(bind->type, MountType::kBind);
  EXPECT_TRUE(bind->read_only);
  auto cache = ParseRunMount("type=cache,target=/root/.cache,id=pip,sharing=locked");
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ(cache->type, MountType::kCache);
  EXPECT_EQ(cache->id, "pip");
  EXPECT_FALSE(cache->read_only);
  EXPECT_EQ(cache->sharing, "locked");
  EXPECT_FALSE(ParseRunMount("type=tmpfs,target=/t")->read_only);
  EXPECT_TRUE(ParseRunMount("type=bind")->target.empty());  // the working directory
}

TEST(RunMountTest, Fields) {
  auto m = ParseRunMount("type=bind,from=build,source=/out,dst=/in,rw");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->from, "build");
  EXPECT_EQ(m->source, "/out");
  EXPECT_EQ(m->target, "/in");
  EXPECT_FALSE(m->read_only);
  EXPECT_EQ(ParseRunMount("type=tmpfs,target=/t,size=64m")->size, uint64_t{64} << 20);
  EXPECT_TRUE(ParseRunMount("type=cache,target=/c,readonly=true")->read_only);
  EXPECT_FALSE(ParseRunMount("target=/c,RW=1")->read_only);  // keys in any case, Go's bools
  auto owned = ParseRunMount("type=cache,target=/c,uid=1001,gid=1002,mode=0751");
  ASSERT_TRUE(owned.ok()) << owned.status();
  EXPECT_EQ(owned->uid, 1001u);
  EXPECT_EQ(owned->gid, 1002u);
  EXPECT_EQ(owned->mode, 0751u);
  auto quoted = ParseRunMount("\"target=/a,b\",type=cache");  // CSV quoting
  ASSERT_TRUE(quoted.ok()) << quoted.status();
  EXPECT_EQ(quoted->target, "/a,b");
  auto secret = ParseRunMount("type=secret,id=tok,required,env=TOKEN");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_TRUE(secret->required);
  EXPECT_EQ(secret->env, "TOKEN");
}

TEST(RunMountTest, BuildKitErrors) {
  auto message = [](const std::string& spec) {
    auto m = ParseRunMount(spec);
    return m.ok() ? std::string("ok") : std::string(m.status().message());
  };
  EXPECT_EQ(message("type=tmp,target=/x"), "unsupported mount type \"tmp\" (did you mean tmpfs?)");
  EXPECT_EQ(message("typ=tmpfs"), "unexpected key 'typ' in 'typ=tmpfs' (did you mean type?)");
  EXPECT_EQ(message("target=/x,colour=blue"), "unexpected key 'colour' in 'colour=blue'");
  EXPECT_EQ(message("target=/x,ro=maybe"), "invalid value for ro: maybe");
  EXPECT_EQ(message("type=cache,target=/x,sharing=sometimes"),
            "unsupported sharing value \"sometimes\"");
  EXPECT_EQ(message("target=/x,sharing=locked"), "invalid cache sharing set for bind mount");
  EXPECT_EQ(message("target=/x,uid=1"), "uid not allowed for \"bind\" type mounts");
  EXPECT_EQ(message("type=cache,target=/x,mode=9"), "invalid value 9 for mode");
  EXPECT_EQ(message("target=/x,size=1m"), "unexpected key 'size' for mount type 'bind'");
  EXPECT_EQ(message("target=/x,required"), "unexpected key 'required' for mount type 'bind'");
  EXPECT_EQ(message("target=/x,bogus"), "invalid field 'bogus' must be a key=value pair");
  EXPECT_EQ(message("type=secret,from=x,id=a"), "secret mount should not have a from");
  EXPECT_EQ(message("\"target=/x"),
            "failed to parse csv mounts: extraneous or missing \" in quoted-field");
  EXPECT_FALSE(ParseRunMount(std::string(5000, 'a')).ok());
}

TEST(RunMountTest, ExpandsValuesNotFrom) {
  auto expand = [](const std::string& word) -> absl::StatusOr<std::string> {
    return word == "$T" ? std::string("/cache,x") : word;
  };
  auto out = ExpandRunMount("type=cache,target=$T,ro", expand);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "type=cache,\"target=/cache,x\",ro");
  EXPECT_EQ(ParseRunMount(*out)->target, "/cache,x");
  auto from = ExpandRunMount("from=$stage,target=/x", expand);
  ASSERT_FALSE(from.ok());
  EXPECT_EQ(from.status().message(),
            "'from' doesn't support variable expansion, define alias stage instead");
}

TEST(RunMountTest, RamBytes) {
  EXPECT_EQ(*ParseRamBytes("128m"), uint64_t{128} << 20);
  EXPECT_EQ(*ParseRamBytes("1.5GiB"), uint64_t{3} << 29);
  EXPECT_EQ(*ParseRamBytes("4096"), 4096u);
  EXPECT_EQ(*ParseRamBytes("2kb"), 2048u);
  EXPECT_FALSE(ParseRamBytes("").ok());
  EXPECT_FALSE(ParseRamBytes("12q").ok());
  EXPECT_FALSE(ParseRamBytes("99999999999p").ok());
}

}  // namespace
}  // namespace kiln::builder::dockerfile
