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

TEST(BuildOutputTest, FilesOutputsAreTheirOwnKind) {
  auto local = BuildFilesOutput("type=local,dest=/tmp/kiln-files-output-test");
  ASSERT_TRUE(local.ok()) << local.status();
  ASSERT_TRUE(local->has_value());
  EXPECT_FALSE((*local)->tar);
  EXPECT_EQ((*local)->dest, "/tmp/kiln-files-output-test");
  auto tar = BuildFilesOutput("type=tar,dest=/tmp/x.tar");
  ASSERT_TRUE(tar.ok() && tar->has_value());
  EXPECT_TRUE((*tar)->tar);
  auto image = BuildFilesOutput("type=oci,dest=/tmp/o.tar");
  ASSERT_TRUE(image.ok());
  EXPECT_FALSE(image->has_value());
  EXPECT_FALSE(BuildFilesOutput("oci:/tmp/x")->has_value());
  for (const char* bad : {"type=local", "type=tar,dest=-", "type=local,dest=/nonexistent/d",
                          "type=local,dest=/tmp", "type=tar,dest=/tmp/x,compression=gzip"}) {
    EXPECT_FALSE(BuildFilesOutput(bad).ok()) << bad;
  }
}

TEST(BuildOutputTest, StdoutOutputsBecomeFiles) {
  EXPECT_EQ(*StdoutOutput("-", "/t/o"), "type=tar,dest=/t/o");
  EXPECT_EQ(*StdoutOutput("type=oci,dest=-,name=x", "/t/o"), "type=oci,dest=/t/o,name=x");
  EXPECT_EQ(*StdoutOutput("type=docker,dest=-", "/t/o"), "type=docker,dest=/t/o");
  EXPECT_EQ(*StdoutOutput("type=tar,dest=out.tar", "/t/o"), std::nullopt);
  EXPECT_EQ(*StdoutOutput("oci:/x:1", "/t/o"), std::nullopt);
  EXPECT_FALSE(StdoutOutput("type=local,dest=-", "/t/o").ok());
}

}  // namespace
}  // namespace kiln::cli
