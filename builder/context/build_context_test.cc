#include "builder/context/build_context.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder::context {
namespace {

class BuildContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-context-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    ctx_ = dir_->path() + "/ctx";
    File("app/main.go", "package main");
    File("app/util.go", "package main // util");
    File("app/README.md", "docs");
    File("secret.key", "hunter2");
    File("Dockerfile", "FROM scratch");
    File(".dockerignore", "*.key\n**/*.md\n");
    ASSERT_TRUE(MakeDirs(dir_->path() + "/outside").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_->path() + "/outside/passwd", "root").ok());
  }
  void File(const std::string& rel, const std::string& data) {
    ASSERT_TRUE(MakeDirs(Dirname(ctx_ + "/" + rel)).ok());
    ASSERT_TRUE(WriteFileAtomic(ctx_ + "/" + rel, data).ok());
  }
  std::vector<std::string> Paths(absl::string_view source) {
    auto ctx = BuildContext::Open(ctx_);
    EXPECT_TRUE(ctx.ok());
    auto sel = (*ctx)->Select(source);
    EXPECT_TRUE(sel.ok()) << source << ": " << sel.status();
    std::vector<std::string> out;
    if (sel.ok()) {
      for (const auto& e : *sel) out.push_back(e.path);
    }
    return out;
  }
  std::optional<TempDir> dir_;
  std::string ctx_;
};

TEST_F(BuildContextTest, SelectsFilesDirectoriesAndWildcards) {
  EXPECT_EQ(Paths("app/main.go"), std::vector<std::string>{"app/main.go"});
  EXPECT_EQ(Paths("/app"), (std::vector<std::string>{"app", "app/main.go", "app/util.go"}));
  EXPECT_EQ(Paths("app/*.go"), (std::vector<std::string>{"app/main.go", "app/util.go"}));
  EXPECT_EQ(Paths("."), (std::vector<std::string>{".dockerignore", "Dockerfile", "app",
                                                  "app/main.go", "app/util.go"}));
  EXPECT_EQ(Paths("ap?"), (std::vector<std::string>{"app", "app/main.go", "app/util.go"}));
}

TEST_F(BuildContextTest, RepeatedSelectionsSeeEverything) {
  auto ctx = BuildContext::Open(ctx_);
  ASSERT_TRUE(ctx.ok());
  for (int i = 0; i < 3; ++i) {
    auto sel = (*ctx)->Select("app/*.go");
    ASSERT_TRUE(sel.ok()) << i << ": " << sel.status();
    EXPECT_EQ(sel->size(), 2u);
  }
}

TEST_F(BuildContextTest, IgnoredAndMissingAreNotFound) {
  auto ctx = BuildContext::Open(ctx_);
  ASSERT_TRUE(ctx.ok());
  EXPECT_TRUE(absl::IsNotFound((*ctx)->Select("secret.key").status()));
  EXPECT_TRUE(absl::IsNotFound((*ctx)->Select("app/README.md").status()));
  EXPECT_TRUE(absl::IsNotFound((*ctx)->Select("nothing").status()));
  // A wildcard that matches nothing selects nothing (BuildKit allows it beside other sources).
  auto none = (*ctx)->Select("*.nomatch");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST_F(BuildContextTest, WildcardMatchesThatAreSymlinksAreFollowed) {
  auto ctx = BuildContext::Open(ctx_);
  ASSERT_TRUE(ctx.ok());
  ASSERT_EQ(::symlink("app/main.go", (ctx_ + "/link-file").c_str()), 0);
  ASSERT_EQ(::symlink("app", (ctx_ + "/link-dir").c_str()), 0);
  auto file = (*ctx)->Select("link-f*");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->size(), 1u);
  EXPECT_EQ((*file)[0].path, "link-file");
  EXPECT_TRUE(S_ISREG((*file)[0].mode));
  EXPECT_EQ((*file)[0].size, 12u);
  auto dir = (*ctx)->Select("link-d*");
  ASSERT_TRUE(dir.ok()) << dir.status();
  ASSERT_GE(dir->size(), 2u);
  EXPECT_TRUE(S_ISDIR((*dir)[0].mode));
  EXPECT_EQ((*dir)[1].path.substr(0, 9), "link-dir/");
}

TEST_F(BuildContextTest, CannotEscape) {
  auto ctx = BuildContext::Open(ctx_);
  ASSERT_TRUE(ctx.ok());
  auto s = (*ctx)->Select("../outside/passwd");
  EXPECT_EQ(s.status().message(), "forbidden path outside the build context: ../outside/passwd");
  ASSERT_EQ(::symlink((dir_->path() + "/outside/passwd").c_str(), (ctx_ + "/link").c_str()), 0);
  ASSERT_EQ(::symlink("../../../../outside", (ctx_ + "/up").c_str()), 0);
  EXPECT_TRUE(absl::IsNotFound((*ctx)->Select("link").status()));
  EXPECT_TRUE(absl::IsNotFound((*ctx)->Select("up/passwd").status()));
  // A symlink that stays inside is followed.
  ASSERT_EQ(::symlink("app/main.go", (ctx_ + "/inside").c_str()), 0);
  auto in = (*ctx)->Select("inside");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ((*in)[0].size, 12u);
}

TEST_F(BuildContextTest, DigestTracksContentAndMode) {
  auto ctx = BuildContext::Open(ctx_);
  ASSERT_TRUE(ctx.ok());
  auto a = (*ctx)->DigestOf({"app"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*(*ctx)->DigestOf({"app"}), *a);
  File("app/README.md", "ignored files do not count");
  EXPECT_EQ(*(*ctx)->DigestOf({"app"}), *a);
  File("app/util.go", "package main // changed");
  auto b = (*ctx)->DigestOf({"app"});
  EXPECT_NE(*b, *a);
  ASSERT_EQ(::chmod((ctx_ + "/app/util.go").c_str(), 0755), 0);
  EXPECT_NE(*(*ctx)->DigestOf({"app"}), *b);
  EXPECT_NE(*(*ctx)->DigestOf({"app/main.go"}), *(*ctx)->DigestOf({"app/util.go"}));
}

TEST_F(BuildContextTest, PerDockerfileIgnoreWins) {
  File("build.Dockerfile", "FROM scratch");
  File("build.Dockerfile.dockerignore", "app\n");
  auto ctx = BuildContext::Open(ctx_, ctx_ + "/build.Dockerfile");
  ASSERT_TRUE(ctx.ok());
  EXPECT_TRUE(absl::IsNotFound((*ctx)->Select("app/main.go").status()));
  EXPECT_TRUE((*ctx)->Select("secret.key").ok());
}

}  // namespace
}  // namespace kiln::builder::context
