#include "cli/git_context.h"

#include <cstdlib>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::cli {
namespace {

TEST(GitContextTest, WhatDockerTakesAsGitUrls) {
  auto https = ParseGitContext("https://example.com/team/app.git#v1.2:docker/app/");
  ASSERT_TRUE(https.ok() && https->has_value());
  EXPECT_EQ((*https)->remote, "https://example.com/team/app.git");
  EXPECT_EQ((*https)->ref, "v1.2");
  EXPECT_EQ((*https)->subdir, "docker/app");
  auto ssh = ParseGitContext("git@example.com:team/app.git");
  ASSERT_TRUE(ssh.ok() && ssh->has_value());
  EXPECT_EQ((*ssh)->remote, "git@example.com:team/app.git");
  EXPECT_EQ((*ssh)->ref, "");
  auto daemon = ParseGitContext("git://127.0.0.1:9418/app#main");
  ASSERT_TRUE(daemon.ok() && daemon->has_value());
  EXPECT_EQ((*daemon)->ref, "main");
  auto file = ParseGitContext("file:///srv/git/app#:sub");
  ASSERT_TRUE(file.ok() && file->has_value());
  EXPECT_EQ((*file)->subdir, "sub");
  for (const char* not_git : {".", "/srv/app", "https://example.com/context.tar.gz", "-",
                              "file:///srv/dir", "ext::sh -c touch% /tmp/pwned"}) {
    auto r = ParseGitContext(not_git);
    ASSERT_TRUE(r.ok()) << not_git;
    EXPECT_FALSE(r->has_value()) << not_git;
  }
  for (const char* bad :
       {"https://h/a.git#--upload-pack=x", "https://h/a.git#main:../../etc", "git://h/a#a..b"}) {
    EXPECT_FALSE(ParseGitContext(bad).ok()) << bad;
  }
}

// A repository of the test's own, with two commits and a tag.
class GitCloneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-git-context-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    repo_ = dir_->path() + "/repo";
    const std::string git = "git -C " + repo_ + " -c user.name=t -c user.email=t@t ";
    ASSERT_EQ(std::system(("git init -q -b main " + repo_ + " && mkdir -p " + repo_ +
                           "/sub && echo one > " + repo_ + "/sub/f && " + git + "add . && " +
                           "GIT_COMMITTER_DATE=@1600000000 " + git + "commit -qm one && " + git +
                           "tag v1 && echo two > " + repo_ + "/sub/f && " + git + "commit -qam two")
                              .c_str()),
              0);
  }
  std::string Read(const std::string& path) {
    auto s = ReadFile(path, 100);
    return s.ok() ? *s : "";
  }
  std::optional<TempDir> dir_;
  std::string repo_;
};

TEST_F(GitCloneTest, ARefAndASubdirectory) {
  auto g = ParseGitContext("file://" + repo_ + "#v1:sub");
  ASSERT_TRUE(g.ok() && g->has_value());
  auto scratch = TempDir::Create("/tmp/kiln-git-clone-");
  ASSERT_TRUE(scratch.ok());
  auto cloned = CloneGitContext(**g, scratch->path());
  ASSERT_TRUE(cloned.ok()) << cloned.status();
  EXPECT_EQ(Read(cloned->context_dir + "/f"), "one\n");
  EXPECT_EQ(cloned->commit_time, 1600000000);
  EXPECT_FALSE(PathExists(scratch->path() + "/tree/.git"));  // not part of the context

  auto head = ParseGitContext("file://" + repo_ + "#");
  auto scratch2 = TempDir::Create("/tmp/kiln-git-clone-");
  ASSERT_TRUE(head.ok() && head->has_value() && scratch2.ok());
  auto latest = CloneGitContext(**head, scratch2->path());
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(Read(latest->context_dir + "/sub/f"), "two\n");
}

TEST_F(GitCloneTest, AMissingRefOrDirectoryIsAnError) {
  for (const std::string& frag : {"#nope", "#main:nodir"}) {
    auto g = ParseGitContext("file://" + repo_ + frag);
    ASSERT_TRUE(g.ok() && g->has_value());
    auto scratch = TempDir::Create("/tmp/kiln-git-clone-");
    ASSERT_TRUE(scratch.ok());
    auto cloned = CloneGitContext(**g, scratch->path());
    EXPECT_FALSE(cloned.ok()) << frag;
    EXPECT_NE(cloned.status().message().find("git context"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln::cli
