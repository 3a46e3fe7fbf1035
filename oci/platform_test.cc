#include "oci/platform.h"

#include "gtest/gtest.h"

namespace kiln::oci {
namespace {

TEST(PlatformTest, ParseAndPrint) {
  auto p = Platform::Parse("linux/arm/v6");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->os, "linux");
  EXPECT_EQ(p->architecture, "arm");
  EXPECT_EQ(p->variant, "v6");
  EXPECT_EQ(p->str(), "linux/arm/v6");
  EXPECT_FALSE(Platform::Parse("linux//v7").ok());
  EXPECT_FALSE(Platform::Parse("linux/arm/v7/x").ok());
  EXPECT_FALSE(Platform::Parse("").ok());
}

// containerd's normalization (its platforms package's test table, as data).
TEST(PlatformTest, Normalizes) {
  const std::pair<const char*, const char*> cases[] = {
      {"linux/arm64/v8", "linux/arm64"},
      {"linux/aarch64", "linux/arm64"},
      {"linux/arm64/8", "linux/arm64"},
      {"linux/x86_64", "linux/amd64"},
      {"linux/x86-64", "linux/amd64"},
      {"linux/amd64/v1", "linux/amd64"},
      {"linux/amd64/v3", "linux/amd64/v3"},
      {"linux/i386", "linux/386"},
      {"linux/arm", "linux/arm/v7"},
      {"linux/arm/7", "linux/arm/v7"},
      {"linux/armhf", "linux/arm/v7"},
      {"linux/armel", "linux/arm/v6"},
      {"linux/arm/6", "linux/arm/v6"},
      {"Linux/AMD64", "linux/amd64"},
      {"arm64", "linux/arm64"},
      {"riscv64", "linux/riscv64"},
      {"macos/arm64", "darwin/arm64"},
      {"linux/ppc64le", "linux/ppc64le"},
  };
  for (const auto& [in, want] : cases) {
    auto p = Platform::Parse(in);
    ASSERT_TRUE(p.ok()) << in;
    EXPECT_EQ(p->str(), want) << in;
  }
  auto os_only = Platform::Parse("linux");
  ASSERT_TRUE(os_only.ok());
  EXPECT_EQ(os_only->architecture, Platform::Host().architecture);
  EXPECT_EQ(Platform::Parse("local")->str(), Platform::Host().str());
  EXPECT_EQ(Platform::Host(), Platform::Host().Normalized());
}

TEST(PlatformTest, Satisfies) {
  Platform amd64{"linux", "amd64"};
  EXPECT_TRUE(amd64.Satisfies(*Platform::Parse("linux/amd64")));
  EXPECT_FALSE(amd64.Satisfies(*Platform::Parse("linux/arm64")));
  Platform arm64{"linux", "arm64"};
  EXPECT_TRUE(arm64.Satisfies(*Platform::Parse("linux/arm64/v8")));
  Platform arm64v8{"linux", "arm64", "v8"};
  EXPECT_TRUE(arm64v8.Satisfies(*Platform::Parse("linux/arm64")));
  Platform armv6{"linux", "arm", "v6"};
  EXPECT_FALSE(armv6.Satisfies(*Platform::Parse("linux/arm/v7")));
  EXPECT_FALSE(armv6.Satisfies(*Platform::Parse("linux/arm")));
  Platform arm{"linux", "arm"};  // an index entry without a variant: v7
  EXPECT_TRUE(arm.Satisfies(*Platform::Parse("linux/arm/v7")));
  Platform amd64v3{"linux", "amd64", "v3"};
  EXPECT_TRUE(amd64v3.Satisfies(*Platform::Parse("linux/amd64")));
  EXPECT_TRUE(arm64.SameAs(arm64v8));
  EXPECT_FALSE(amd64.SameAs(amd64v3));
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
