#include "cli/build_input.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::cli {
namespace {

class BuildInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-build-input-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
  }
  // A descriptor reading `path`.
  int Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << path;
    fds_.push_back(fd);
    return fd;
  }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
  }
  std::optional<TempDir> dir_;
  std::vector<int> fds_;
};

TEST_F(BuildInputTest, FilesAreLeftAsGiven) {
  auto in = ResolveBuildInput("ctx", "ctx/other.Dockerfile", -1, dir_->path() + "/s-");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->context_dir, "ctx");
  EXPECT_EQ(in->dockerfile, "ctx/other.Dockerfile");
  EXPECT_FALSE(in->dockerfile_text.has_value());
  EXPECT_FALSE(in->owned.has_value());
}

TEST_F(BuildInputTest, DockerfileFromStdin) {
  std::string df = dir_->path() + "/df";
  ASSERT_TRUE(WriteFileAtomic(df, "FROM scratch\nCOPY a /a\n").ok());
  auto in = ResolveBuildInput("ctx", "-", Open(df), dir_->path() + "/s-");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->context_dir, "ctx");
  EXPECT_EQ(in->dockerfile, "");
  EXPECT_EQ(in->dockerfile_text, "FROM scratch\nCOPY a /a\n");
  EXPECT_FALSE(ResolveBuildInput("-", "-", Open(df), dir_->path() + "/s-").ok());
}

TEST_F(BuildInputTest, ContextTarFromStdinIsUnpackedAndRemovedAfter) {
  std::string src = dir_->path() + "/src";
  ASSERT_TRUE(MakeDirs(src + "/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/Dockerfile", "FROM scratch\n").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/sub/f", "data\n").ok());
  std::string tar = dir_->path() + "/ctx.tar.gz";
  ASSERT_EQ(std::system(("tar -czf " + tar + " -C " + src + " .").c_str()), 0);
  std::string root;
  {
    auto in = ResolveBuildInput("-", "", Open(tar), dir_->path() + "/s-");
    ASSERT_TRUE(in.ok()) << in.status();
    root = in->context_dir;
    EXPECT_EQ(*ReadFile(root + "/sub/f", 100), "data\n");
    EXPECT_TRUE(PathExists(root + "/Dockerfile"));
    EXPECT_FALSE(in->dockerfile_text.has_value());
    EXPECT_FALSE(PathExists(Dirname(root) + "/stdin"));
  }
  EXPECT_FALSE(PathExists(root));  // removed with the input
}

TEST_F(BuildInputTest, APlainFileOnStdinIsADockerfileWithAnEmptyContext) {
  std::string df = dir_->path() + "/df";
  ASSERT_TRUE(WriteFileAtomic(df, "FROM scratch\nENV A=1\n").ok());
  auto in = ResolveBuildInput("-", "", Open(df), dir_->path() + "/s-");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->dockerfile_text, "FROM scratch\nENV A=1\n");
  EXPECT_TRUE(ListDir(in->context_dir)->empty());
}

TEST_F(BuildInputTest, ABrokenArchiveIsOneError) {
  std::string src = dir_->path() + "/src";
  ASSERT_TRUE(MakeDirs(src).ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/big", std::string(100000, 'x')).ok());
  std::string tar = dir_->path() + "/ctx.tar";
  ASSERT_EQ(std::system(("tar -cf " + tar + " -C " + src + " big").c_str()), 0);
  ASSERT_EQ(::truncate(tar.c_str(), 20000), 0);  // the header is there, the data is cut short
  auto in = ResolveBuildInput("-", "", Open(tar), dir_->path() + "/s-");
  ASSERT_FALSE(in.ok());
  EXPECT_NE(in.status().message().find("stdin"), std::string::npos) << in.status();
}

}  // namespace
}  // namespace kiln::cli
