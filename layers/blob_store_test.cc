#include "layers/blob_store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <fstream>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::layers {
namespace {

int CountEntries(const std::string& dir) {
  int n = 0;
  DIR* d = ::opendir(dir.c_str());
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-blobs-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    auto store = BlobStore::Open(dir_->path(), dir_->path() + "/ingest");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
  }
  std::optional<TempDir> dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, PutReadIdempotent) {
  auto d = store_->Put("hello");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, oci::Digest::Of("hello"));
  EXPECT_TRUE(store_->Has(*d));
  EXPECT_EQ(*store_->ReadAll(*d, 100), "hello");
  EXPECT_EQ(*store_->Size(*d), 5);
  EXPECT_EQ(*store_->Put("hello"), *d);
  EXPECT_EQ(store_->List()->size(), 1u);
  EXPECT_EQ(CountEntries(dir_->path() + "/ingest"), 0);
}

TEST_F(BlobStoreTest, LinksAnotherStoresBlob) {
  auto other = BlobStore::Open(dir_->path() + "/other", dir_->path() + "/other-ingest");
  ASSERT_TRUE(other.ok());
  auto d = store_->Put("shared bytes");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*other)->Link(store_->PathOf(*d), *d, 4).code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE((*other)->Has(*d));
  ASSERT_TRUE((*other)->Link(store_->PathOf(*d), *d, 12).ok());
  EXPECT_EQ(*(*other)->ReadAll(*d, 100), "shared bytes");
  struct stat st;
  ASSERT_EQ(::stat((*other)->PathOf(*d).c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);                                    // one file, two names
  EXPECT_TRUE((*other)->Link(store_->PathOf(*d), *d, 12).ok());  // idempotent
}

TEST_F(BlobStoreTest, WrongDigestStoresNothing) {
  StringReader r("payload");
  auto d = store_->PutFrom(r, oci::Digest::Of("other"), -1);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store_->List()->empty());
  EXPECT_EQ(CountEntries(dir_->path() + "/ingest"), 0);
}

TEST_F(BlobStoreTest, WrongSizeStoresNothing) {
  StringReader r("payload");
  auto d = store_->PutFrom(r, oci::Digest::Of("payload"), 3);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store_->List()->empty());
}

TEST_F(BlobStoreTest, AbandonedIngestLeavesNoTrace) {
  {
    auto ingest = store_->StartIngest();
    ASSERT_TRUE(ingest.ok());
    ASSERT_TRUE((*ingest)->Write("partial").ok());
  }
  EXPECT_EQ(CountEntries(dir_->path() + "/ingest"), 0);
  EXPECT_TRUE(store_->List()->empty());
}

TEST_F(BlobStoreTest, OpeningSweepsIngestsOfDeadWritersOnly) {
  std::string ingest = dir_->path() + "/ingest";
  auto live = store_->StartIngest();  // a writer still at work (holds its file's lock)
  ASSERT_TRUE(live.ok());
  ASSERT_TRUE(WriteFileAtomic(ingest + "/blob-dead01", "partial").ok());
  ASSERT_TRUE(WriteFileAtomic(ingest + "/blob-young1", "just made").ok());
  struct timeval old_times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimes((ingest + "/blob-dead01").c_str(), old_times), 0);
  DIR* d = ::opendir(ingest.c_str());
  std::string live_name;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("blob-", 0) == 0 && n != "blob-dead01" && n != "blob-young1") live_name = n;
  }
  ::closedir(d);
  ASSERT_FALSE(live_name.empty());
  ASSERT_EQ(::utimes((ingest + "/" + live_name).c_str(), old_times), 0);

  auto again = BlobStore::Open(dir_->path(), ingest);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(PathExists(ingest + "/blob-dead01"));
  EXPECT_TRUE(PathExists(ingest + "/blob-young1"));
  EXPECT_TRUE(PathExists(ingest + "/" + live_name));
}

TEST_F(BlobStoreTest, CorruptBlobIsReportedNotServed) {
  oci::Digest d = *store_->Put("precious bytes");
  {
    std::ofstream f(store_->PathOf(d), std::ios::binary | std::ios::trunc);
    f << "precious bytez";
  }
  auto data = store_->ReadAll(d, 100);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss) << data.status();
  EXPECT_EQ(store_->Verify(d).code(), absl::StatusCode::kDataLoss);
  auto reader = store_->Open(d, 14);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(ReadAllFrom(**reader, 100).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(BlobStoreTest, ReadOnlyStoreRefusesIngest) {
  auto ro = BlobStore::Open(dir_->path(), "");
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ((*ro)->Put("x").status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kiln::layers
