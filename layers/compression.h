// Layer compression: streaming gzip (ISA-L igzip) and zstd compressors, and a decompressing
// reader for any format libarchive reads. Compressed output depends only on the input bytes and
// the level: gzip headers carry no name or time, and zstd runs with fixed parameters (its
// multi-threaded output is the same for any number of workers).
// Each Writer/Reader is used by one thread at a time.
#ifndef KILN_LAYERS_COMPRESSION_H_
#define KILN_LAYERS_COMPRESSION_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/io.h"

namespace kiln::layers {

enum class Compression { kNone, kGzip, kZstd };

// "gzip", "zstd", "none" (also "uncompressed").
absl::StatusOr<Compression> ParseCompression(absl::string_view name);
const char* CompressionName(Compression c);
// The OCI layer media type for `c`.
const char* OciLayerMediaType(Compression c);
// The compression a layer media type names (OCI or Docker); InvalidArgument if not a layer.
absl::StatusOr<Compression> CompressionOfMediaType(absl::string_view media_type);
// Sniffs the magic number at the start of a stream (gzip 1f 8b, zstd 28 b5 2f fd).
Compression DetectCompression(absl::string_view head);

// Default levels: gzip 1 (ISA-L levels are 0..3), zstd 3.
int DefaultLevel(Compression c);

// A Writer that compresses into `out` (not owned, must outlive it). Close() writes the trailer
// but does not close `out`. For kNone it passes bytes through.
absl::StatusOr<std::unique_ptr<Writer>> NewCompressor(Compression c, int level, Writer* out);

// A Reader of the decompressed bytes of `in` (gzip, zstd, xz, bzip2, or none, detected).
absl::StatusOr<std::unique_ptr<Reader>> NewDecompressor(std::unique_ptr<Reader> in);

// True iff the open file is a tar archive, compressed or not (as ADD decides what to unpack,
// and `kiln build -` what stdin holds). Reads from offset 0 and leaves the offset there.
absl::StatusOr<bool> IsTarArchive(int fd);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_COMPRESSION_H_
