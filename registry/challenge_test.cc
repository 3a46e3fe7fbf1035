#include "registry/challenge.h"

#include "gtest/gtest.h"

namespace kiln::registry {
namespace {

TEST(ChallengeTest, Bearer) {
  auto chs =
      ParseChallenges(R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
                      R"(scope="repository:library/busybox:pull")");
  ASSERT_TRUE(chs.ok()) << chs.status();
  ASSERT_EQ(chs->size(), 1u);
  EXPECT_EQ((*chs)[0].scheme, "bearer");
  EXPECT_EQ((*chs)[0].Param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ((*chs)[0].Param("service"), "registry.docker.io");
  EXPECT_EQ((*chs)[0].Param("scope"), "repository:library/busybox:pull");
}

TEST(ChallengeTest, BasicAndSeveral) {
  auto chs = ParseChallenges(
      R"(Basic realm="Registry \"Realm\"", Bearer realm="https://a/t", error=insufficient_scope)");
  ASSERT_TRUE(chs.ok()) << chs.status();
  ASSERT_EQ(chs->size(), 2u);
  EXPECT_EQ((*chs)[0].scheme, "basic");
  EXPECT_EQ((*chs)[0].Param("realm"), "Registry \"Realm\"");
  EXPECT_EQ((*chs)[1].scheme, "bearer");
  EXPECT_EQ((*chs)[1].Param("error"), "insufficient_scope");
}

TEST(ChallengeTest, ParamNamesAreCaseInsensitive) {
  auto chs = ParseChallenges(R"(BEARER Realm="https://x/token")");
  ASSERT_TRUE(chs.ok());
  EXPECT_EQ((*chs)[0].scheme, "bearer");
  EXPECT_EQ((*chs)[0].Param("realm"), "https://x/token");
}

TEST(ChallengeTest, Malformed) {
  EXPECT_FALSE(ParseChallenges("").ok());
  EXPECT_FALSE(ParseChallenges(R"(Bearer realm="open)").ok());
  EXPECT_FALSE(ParseChallenges(R"(Bearer realm="a" service="b")").ok());
  EXPECT_FALSE(ParseChallenges(std::string(kMaxChallengeSize + 1, 'a')).ok());
}

}  // namespace
}  // namespace kiln::registry
