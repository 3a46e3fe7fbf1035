#include "builder/named_context.h"

#include <string>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

TEST(NamedContextTest, KeysAreShortNamesWithoutLatest) {
  EXPECT_EQ(*NamedContextKey("busybox"), "busybox");
  EXPECT_EQ(*NamedContextKey("busybox:latest"), "busybox");
  EXPECT_EQ(*NamedContextKey("docker.io/library/busybox:latest"), "busybox");
  EXPECT_EQ(*NamedContextKey("alpine:3.19"), "alpine:3.19");
  EXPECT_EQ(*NamedContextKey("localhost:5000/app"), "localhost:5000/app");
  EXPECT_EQ(*NamedContextKey("base"), "base");
  EXPECT_FALSE(NamedContextKey("Bad Name").ok());
  EXPECT_FALSE(NamedContextKey("UPPER").ok());
}

TEST(NamedContextTest, FindMatchesEveryFormOfTheName) {
  NamedContexts contexts;
  contexts["busybox"] = {NamedContext::Kind::kImage, "docker.io/library/alpine:latest"};
  EXPECT_NE(FindNamedContext(contexts, "busybox"), nullptr);
  EXPECT_NE(FindNamedContext(contexts, "docker.io/library/busybox"), nullptr);
  EXPECT_NE(FindNamedContext(contexts, "busybox:latest"), nullptr);
  EXPECT_EQ(FindNamedContext(contexts, "busybox:1.36"), nullptr);
  EXPECT_EQ(FindNamedContext(contexts, "alpine"), nullptr);
  EXPECT_EQ(FindNamedContext(contexts, "scratch"), nullptr);
}

TEST(NamedContextTest, ParsesImagesLayoutsAndDirectories) {
  auto image = ParseNamedContext("busybox=docker-image://alpine");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->first, "busybox");
  EXPECT_EQ(image->second.kind, NamedContext::Kind::kImage);
  EXPECT_EQ(image->second.source, "docker.io/library/alpine:latest");

  auto empty = ParseNamedContext("busybox=docker-image://scratch");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->second.source, "scratch");

  auto dir = TempDir::Create("/tmp/kiln-named-");
  ASSERT_TRUE(dir.ok());
  auto local = ParseNamedContext("base=" + dir->path());
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->second.kind, NamedContext::Kind::kDir);
  EXPECT_EQ(local->second.source, dir->path());

  // A layout needs its index.json.
  EXPECT_FALSE(ParseNamedContext("foo=oci-layout://" + dir->path()).ok());
  ASSERT_TRUE(WriteFileAtomic(dir->path() + "/index.json", "{}").ok());
  auto layout = ParseNamedContext("foo=oci-layout://" + dir->path());
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->second.source, "oci:" + dir->path());
  auto tagged = ParseNamedContext("foo=oci-layout://" + dir->path() + ":v1");
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  EXPECT_EQ(tagged->second.source, "oci:" + dir->path() + ":v1");
  const std::string hex(64, 'a');
  auto pinned = ParseNamedContext("foo=oci-layout://" + dir->path() + "@sha256:" + hex);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->second.source, "oci:" + dir->path() + ":sha256:" + hex);
}

TEST(NamedContextTest, RefusesBadSpecs) {
  for (const char* spec :
       {"nameonly", "=docker-image://alpine", "x=", "scratch=docker-image://alpine", "context=/tmp",
        "Bad=docker-image://alpine", "x=docker-image://NOT VALID", "x=/nonexistent/kiln-dir",
        "x=https://example.com/ctx.tar.gz", "x=input:foo://y", "x=oci-layout:///tmp@sha256:short",
        "x=oci-layout://"}) {
    EXPECT_FALSE(ParseNamedContext(spec).ok()) << spec;
  }
}

}  // namespace
}  // namespace kiln::builder
