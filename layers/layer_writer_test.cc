#include "layers/layer_writer.h"

#include "base/file_util.h"
#include "gtest/gtest.h"
#include "oci/media_types.h"

namespace kiln::layers {
namespace {

TEST(LayerWriterTest, DigestsAreConsistentAndReproducible) {
  auto dir = TempDir::Create("/tmp/kiln-layer-");
  ASSERT_TRUE(dir.ok());
  std::string tree = dir->path() + "/tree";
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(MakeDirs(tree + "/d" + std::to_string(i % 7)).ok());
    ASSERT_TRUE(WriteFileAtomic(tree + "/d" + std::to_string(i % 7) + "/f" + std::to_string(i),
                                std::string(10000 * i, 'a' + i % 26))
                    .ok());
  }
  auto store = BlobStore::Open(dir->path() + "/store", dir->path() + "/store/ingest");
  ASSERT_TRUE(store.ok());
  LayerOptions options;
  options.tar.source_date_epoch = 0;
  oci::Digest diff_id;
  for (Compression c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
    options.compression = c;
    auto a = CreateLayer(tree, options, **store);
    ASSERT_TRUE(a.ok()) << a.status();
    auto b = CreateLayer(tree, options, **store);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(a->descriptor.digest, b->descriptor.digest);
    EXPECT_EQ(a->descriptor.media_type, OciLayerMediaType(c));
    EXPECT_EQ(a->descriptor.size, *(*store)->Size(a->descriptor.digest));
    if (diff_id.valid()) EXPECT_EQ(a->diff_id, diff_id);
    diff_id = a->diff_id;
    // The DiffID is the digest of the decompressed blob.
    auto blob = (*store)->Open(a->descriptor.digest);
    ASSERT_TRUE(blob.ok());
    auto plain = NewDecompressor(std::move(*blob));
    ASSERT_TRUE(plain.ok());
    auto tar = ReadAllFrom(**plain, 1 << 30);
    ASSERT_TRUE(tar.ok());
    EXPECT_EQ(oci::Digest::Of(*tar), a->diff_id);
    EXPECT_EQ(tar->size(), a->uncompressed_size);
    if (c == Compression::kNone) EXPECT_EQ(a->descriptor.digest, a->diff_id);
  }
}

TEST(LayerWriterTest, FailureLeavesNoBlob) {
  auto dir = TempDir::Create("/tmp/kiln-layer-");
  auto store = BlobStore::Open(dir->path() + "/store", dir->path() + "/store/ingest");
  ASSERT_TRUE(store.ok());
  auto layer = CreateLayer(dir->path() + "/missing", LayerOptions{}, **store);
  EXPECT_FALSE(layer.ok());
  EXPECT_TRUE((*store)->List()->empty());
}

}  // namespace
}  // namespace kiln::layers
