#include "layers/compression.h"

#include <random>

#include "gtest/gtest.h"
#include "oci/media_types.h"

namespace kiln::layers {
namespace {

std::string Compress(Compression c, int level, const std::string& input) {
  std::string out;
  StringWriter sink(&out);
  auto w = NewCompressor(c, level, &sink);
  EXPECT_TRUE(w.ok()) << w.status();
  // Uneven write sizes exercise the streaming paths.
  for (size_t i = 0; i < input.size();) {
    size_t n = std::min<size_t>(input.size() - i, 1 + (i % 70000));
    EXPECT_TRUE((*w)->Write(absl::string_view(input).substr(i, n)).ok());
    i += n;
  }
  EXPECT_TRUE((*w)->Close().ok());
  return out;
}

std::string Decompress(const std::string& data) {
  auto r = NewDecompressor(std::make_unique<StringReader>(data));
  EXPECT_TRUE(r.ok()) << r.status();
  auto out = ReadAllFrom(**r, 1 << 30);
  EXPECT_TRUE(out.ok()) << out.status();
  return *out;
}

std::string SampleData() {
  std::mt19937 rng(42);
  std::string s;
  for (int i = 0; i < 300000; ++i) {
    s += "line " + std::to_string(i) + " " + std::string(rng() % 20, 'a' + rng() % 26) + "\n";
  }
  return s;
}

TEST(CompressionTest, GzipRoundTripAndDeterminism) {
  std::string input = SampleData();
  for (int level : {0, 1, 2, 3}) {
    std::string a = Compress(Compression::kGzip, level, input);
    std::string b = Compress(Compression::kGzip, level, input);
    EXPECT_EQ(a, b) << "level " << level;
    EXPECT_EQ(DetectCompression(a), Compression::kGzip);
    // No file name flag, mtime zero: nothing but the input decides the bytes.
    EXPECT_EQ(a[3], 0);
    EXPECT_EQ(a.substr(4, 4), std::string(4, '\0'));
    EXPECT_EQ(Decompress(a), input) << "level " << level;
    EXPECT_LT(a.size(), input.size());
  }
}

std::string CompressInOneWrite(const std::string& input) {
  std::string out;
  StringWriter sink(&out);
  auto w = NewCompressor(Compression::kGzip, 1, &sink);
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE((*w)->Write(input).ok());
  EXPECT_TRUE((*w)->Close().ok());
  return out;
}

TEST(CompressionTest, GzipBlocksDoNotDependOnWriteSizes) {
  // Compressed in parallel blocks: the bytes depend on the input only, at block boundaries
  // (exact multiples of the block size included) and for incompressible data.
  std::mt19937 rng(7);
  std::string random(3 << 20, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  for (const std::string& input :
       {SampleData(), std::string(2 << 20, 'x'), random, std::string(1, 'y')}) {
    std::string a = Compress(Compression::kGzip, 1, input);
    EXPECT_EQ(a, CompressInOneWrite(input)) << input.size();
    EXPECT_EQ(Decompress(a), input) << input.size();
    // One gzip member: the trailer holds the whole input's size.
    uint32_t isize = 0;
    for (int i = 0; i < 4; ++i)
      isize |= uint32_t{static_cast<unsigned char>(a[a.size() - 4 + i])} << (8 * i);
    EXPECT_EQ(isize, static_cast<uint32_t>(input.size()));
  }
}

TEST(CompressionTest, ZstdRoundTripAndDeterminism) {
  std::string input = SampleData();
  std::string a = Compress(Compression::kZstd, 3, input);
  EXPECT_EQ(a, Compress(Compression::kZstd, 3, input));
  EXPECT_EQ(DetectCompression(a), Compression::kZstd);
  EXPECT_EQ(Decompress(a), input);
}

TEST(CompressionTest, EmptyInput) {
  for (Compression c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
    EXPECT_EQ(Decompress(Compress(c, DefaultLevel(c), "")), "");
  }
}

// Decompression catches broken streams; silent bit flips are caught by the digests
// (compressed digest on read, DiffID on import), not here.
TEST(CompressionTest, TruncatedGzipIsAnError) {
  std::string a = Compress(Compression::kGzip, 1, SampleData());
  a.resize(a.size() / 2);
  auto r = NewDecompressor(std::make_unique<StringReader>(a));
  absl::Status s = r.status();
  if (r.ok()) s = ReadAllFrom(**r, 1 << 30).status();
  EXPECT_FALSE(s.ok());
}

TEST(CompressionTest, LevelsAndNames) {
  std::string sink;
  StringWriter w(&sink);
  EXPECT_FALSE(NewCompressor(Compression::kGzip, 4, &w).ok());
  EXPECT_FALSE(NewCompressor(Compression::kZstd, 0, &w).ok());
  EXPECT_EQ(*ParseCompression("zstd"), Compression::kZstd);
  EXPECT_FALSE(ParseCompression("brotli").ok());
  EXPECT_EQ(*CompressionOfMediaType(oci::kDockerLayerGzip), Compression::kGzip);
  EXPECT_EQ(*CompressionOfMediaType(oci::kOciLayer), Compression::kNone);
  EXPECT_FALSE(CompressionOfMediaType(oci::kOciConfig).ok());
}

}  // namespace
}  // namespace kiln::layers
