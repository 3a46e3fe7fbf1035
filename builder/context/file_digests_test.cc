#include "builder/context/file_digests.h"

#include <sys/stat.h>
#include <time.h>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder::context {
namespace {

struct stat Stat(uint64_t ino, int64_t ctime_sec) {
  struct stat st = {};
  st.st_dev = 7;
  st.st_ino = ino;
  st.st_size = 100;
  st.st_mtim = {ctime_sec, 5};
  st.st_ctim = {ctime_sec, 6};
  return st;
}

oci::Digest D(const char* text) { return oci::Digest::Of(text); }

TEST(FileDigestsTest, FindsWhatItRememberedBySameStat) {
  FileDigests cache;
  struct timespec now = {1'000'000, 0};
  cache.Remember(Stat(1, 500'000), D("a"), now);
  EXPECT_EQ(cache.Find(Stat(1, 500'000)), D("a"));
  EXPECT_FALSE(cache.Find(Stat(2, 500'000)).has_value());  // another inode
  struct stat changed = Stat(1, 500'000);
  changed.st_size = 101;
  EXPECT_FALSE(cache.Find(changed).has_value());
  changed = Stat(1, 500'000);
  changed.st_ctim.tv_nsec = 7;
  EXPECT_FALSE(cache.Find(changed).has_value());
}

TEST(FileDigestsTest, DoesNotTrustFilesChangedWithinASecond) {
  FileDigests cache;
  struct timespec now = {1'000'000, 0};
  cache.Remember(Stat(1, 999'999), D("a"), now);  // changed 1 s - 6 ns before the read
  EXPECT_FALSE(cache.Find(Stat(1, 999'999)).has_value());
  cache.Remember(Stat(2, 999'998), D("b"), now);
  EXPECT_EQ(cache.Find(Stat(2, 999'998)), D("b"));
}

TEST(FileDigestsTest, RelinkKeepsTheDigestOnlyForTheSameFile) {
  FileDigests cache;
  struct timespec now = {1'000'000, 0};
  cache.Remember(Stat(1, 500'000), D("a"), now);
  struct stat after = Stat(1, 500'000);
  after.st_ctim = {999'999, 0};  // just now: linking changed it
  cache.Relink(Stat(1, 500'000), after);
  EXPECT_EQ(cache.Find(after), D("a"));
  struct stat rewritten = after;
  rewritten.st_mtim = {999'999, 0};
  cache.Relink(Stat(1, 500'000), rewritten);
  EXPECT_FALSE(cache.Find(rewritten).has_value());
}

TEST(FileDigestsTest, SavesAndLoads) {
  auto dir = TempDir::Create("/tmp/kiln-filedigests-");
  ASSERT_TRUE(dir.ok());
  std::string path = dir->path() + "/cache";
  FileDigests cache;
  struct timespec now = {1'000'000, 0};
  for (uint64_t i = 0; i < 100; ++i)
    cache.Remember(Stat(i, 1000), D(std::to_string(i).c_str()), now);
  ASSERT_TRUE(cache.Save(path).ok());
  FileDigests loaded = FileDigests::Load(path);
  EXPECT_EQ(loaded.size(), 100u);
  EXPECT_EQ(loaded.Find(Stat(42, 1000)), D("42"));
  // Damage: an empty cache, never a wrong answer.
  ASSERT_TRUE(WriteFileAtomic(path, "kiln-file-digests-v1\nshort").ok());
  EXPECT_EQ(FileDigests::Load(path).size(), 0u);
  EXPECT_EQ(FileDigests::Load(dir->path() + "/missing").size(), 0u);
}

}  // namespace
}  // namespace kiln::builder::context
