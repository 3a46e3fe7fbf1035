#include "layers/layer_writer.h"

#include "base/status_macros.h"
#include "base/threaded_writer.h"
#include "oci/hashing.h"

namespace kiln::layers {

absl::StatusOr<Layer> CreateLayer(const std::string& dir, const LayerOptions& options,
                                  const BlobStore& store) {
  int level = options.level < 0 ? DefaultLevel(options.compression) : options.level;
  ASSIGN_OR_RETURN(auto ingest, store.StartIngest());
  ASSIGN_OR_RETURN(auto compressor, NewCompressor(options.compression, level, ingest.get()));
  Layer layer;
  {
    ThreadedWriter async(compressor.get());
    oci::HashingWriter tar_hash(&async, options.on_progress);
    absl::Status status = WriteLayerTar(dir, options.tar, &tar_hash);
    absl::Status closed = async.Close();
    RETURN_IF_ERROR(status);
    RETURN_IF_ERROR_CTX(closed, "compressing layer of ", dir);
    layer.diff_id = tar_hash.Finish();
    layer.uncompressed_size = tar_hash.size();
  }
  RETURN_IF_ERROR_CTX(compressor->Close(), "compressing layer of ", dir);
  uint64_t size = ingest->size();
  ASSIGN_OR_RETURN_CTX(oci::Digest digest, ingest->Commit(), "storing layer of ", dir);
  layer.descriptor.media_type = OciLayerMediaType(options.compression);
  layer.descriptor.digest = digest;
  layer.descriptor.size = static_cast<int64_t>(size);
  return layer;
}

}  // namespace kiln::layers
