#include "cli/build_output.h"

#include "gtest/gtest.h"

namespace kiln::cli {
namespace {

using Locations = std::vector<std::string>;

TEST(BuildOutputTest, TransportSyntaxPassesThroughWhenItsDirectoryExists) {
  EXPECT_EQ(*BuildOutputLocations("oci-archive:/tmp/x.tar", {}),
            Locations{"oci-archive:/tmp/x.tar"});
  EXPECT_EQ(*BuildOutputLocations("app:1", {}), Locations{"app:1"});
  EXPECT_EQ(*BuildOutputLocations("docker://localhost:5000/a:b", {}),
            Locations{"docker://localhost:5000/a:b"});
}

TEST(BuildOutputTest, BuildKitCsvBecomesLocations) {
  EXPECT_EQ(*BuildOutputLocations("type=oci,dest=/tmp/o.tar", {}),
            Locations{"oci-archive:/tmp/o.tar"});
  EXPECT_EQ(*BuildOutputLocations("type=docker,dest=/tmp/d.tar", {"app:1"}),
            Locations{"docker-archive:/tmp/d.tar:app:1"});
  EXPECT_EQ(*BuildOutputLocations("type=image,name=app:2,push=true", {}),
            Locations({"app:2", "docker://app:2"}));
  EXPECT_EQ(*BuildOutputLocations("type=registry,name=localhost:5000/x", {}),
            Locations{"docker://localhost:5000/x"});
}

TEST(BuildOutputTest, BadOutputsAreRefusedWithTheValueNamed) {
  for (const char* bad : {"type=oci,dest=/nonexistent/dir/x.tar", "oci:/nonexistent/dir/lay",
                          "type=weird,dest=x", "type=oci", "type=image", "type=oci,dest",
                          "Bad Name", "type=docker,dest=-", "dir:/tmp/x"}) {
    auto r = BuildOutputLocations(bad, {});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(std::string("--output ") + bad), std::string::npos)
        << r.status().message();
  }
}

}  // namespace
}  // namespace kiln::cli
