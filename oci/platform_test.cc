#include "oci/platform.h"

#include "gtest/gtest.h"

namespace kiln::oci {
namespace {

TEST(PlatformTest, ParseAndPrint) {
  auto p = Platform::Parse("linux/arm64/v8");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->os, "linux");
  EXPECT_EQ(p->architecture, "arm64");
  EXPECT_EQ(p->variant, "v8");
  EXPECT_EQ(p->str(), "linux/arm64/v8");
  EXPECT_FALSE(Platform::Parse("linux").ok());
  EXPECT_FALSE(Platform::Parse("linux//v7").ok());
}

TEST(PlatformTest, Satisfies) {
  Platform amd64{"linux", "amd64"};
  EXPECT_TRUE(amd64.Satisfies(*Platform::Parse("linux/amd64")));
  EXPECT_FALSE(amd64.Satisfies(*Platform::Parse("linux/arm64")));
  Platform arm64{"linux", "arm64"};
  EXPECT_TRUE(arm64.Satisfies(*Platform::Parse("linux/arm64/v8")));
  Platform armv6{"linux", "arm", "v6"};
  EXPECT_FALSE(armv6.Satisfies(*Platform::Parse("linux/arm/v7")));
}

TEST(PlatformTest, JsonRoundTrip) {
  Platform p{"windows", "amd64", "", "10.0.17763.1", {"win32k"}};
  auto back = Platform::FromJson(p.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, p);
  EXPECT_FALSE(Platform::FromJson(nlohmann::json::parse(R"({"os": 5})")).ok());
}

}  // namespace
}  // namespace kiln::oci
