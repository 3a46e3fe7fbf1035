#include "layers/image_transfer.h"

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "oci/json_util.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace kiln::layers {

absl::Status ImageDestination::PutBlobFrom(ImageSource& src, const oci::Descriptor& d) {
  ASSIGN_OR_RETURN(auto reader, src.OpenBlob(d));
  return PutBlob(d, *reader);
}

namespace {

// Reports the bytes read from each blob.
class CountingReader : public Reader {
 public:
  CountingReader(std::unique_ptr<Reader> in, oci::Digest d,
                 const std::function<void(const oci::Digest&, size_t)>& on_bytes)
      : in_(std::move(in)), d_(std::move(d)), on_bytes_(on_bytes) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    ASSIGN_OR_RETURN(size_t got, in_->Read(buf, n));
    if (got > 0) on_bytes_(d_, got);
    return got;
  }

 private:
  std::unique_ptr<Reader> in_;
  oci::Digest d_;
  const std::function<void(const oci::Digest&, size_t)>& on_bytes_;
};

// A source whose blob readers report progress.
class CountingSource : public ForwardingSource {
 public:
  CountingSource(ImageSource& in, const std::function<void(const oci::Digest&, size_t)>& on_bytes)
      : ForwardingSource(&in), on_bytes_(on_bytes) {}
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const oci::Descriptor& d) override {
    ASSIGN_OR_RETURN(auto r, ForwardingSource::OpenBlob(d));
    return std::unique_ptr<Reader>(new CountingReader(std::move(r), d.digest, on_bytes_));
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlobUnverified(const oci::Descriptor& d) override {
    ASSIGN_OR_RETURN(auto r, ForwardingSource::OpenBlobUnverified(d));
    return std::unique_ptr<Reader>(new CountingReader(std::move(r), d.digest, on_bytes_));
  }

 private:
  const std::function<void(const oci::Digest&, size_t)>& on_bytes_;
};

class BlobCopier {
 public:
  BlobCopier(ImageSource& src, ImageDestination& dst, const CopyOptions& options)
      : counting_(options.on_bytes ? std::make_unique<CountingSource>(src, options.on_bytes)
                                   : nullptr),
        src_(counting_ ? *counting_ : src),
        dst_(dst),
        options_(options) {}

  absl::Status Copy(const oci::Descriptor& d) {
    if (dst_.HasBlob(d)) {
      Notify({BlobEvent::kSkipped, d});
      return absl::OkStatus();
    }
    Notify({BlobEvent::kStarted, d});
    absl::Time start = absl::Now();
    RETURN_IF_ERROR(dst_.PutBlobFrom(src_, d));
    Notify({BlobEvent::kCopied, d, absl::ToDoubleSeconds(absl::Now() - start)});
    return absl::OkStatus();
  }

  // An image config must name one DiffID per layer (each DiffID is checked against the
  // uncompressed layer when it is unpacked).
  absl::Status CheckConfig(const oci::Manifest& manifest) {
    const std::string& type = manifest.config.media_type;
    if (type != oci::kOciConfig && type != oci::kDockerConfig) return absl::OkStatus();
    if (manifest.config.size > static_cast<int64_t>(oci::kMaxConfigSize)) {
      return absl::InvalidArgumentError(
          absl::StrCat("config is too large (", manifest.config.size, " bytes)"));
    }
    ASSIGN_OR_RETURN(auto reader, src_.OpenBlob(manifest.config));
    ASSIGN_OR_RETURN(std::string bytes, ReadAllFrom(*reader, oci::kMaxConfigSize));
    ASSIGN_OR_RETURN_CTX(oci::ImageConfig config, oci::ImageConfig::Parse(bytes), "config ",
                         manifest.config.digest.str());
    if (config.diff_ids.size() != manifest.layers.size()) {
      return absl::DataLossError(absl::StrCat("config ", manifest.config.digest.str(), " names ",
                                              config.diff_ids.size(), " DiffIDs for ",
                                              manifest.layers.size(), " layers"));
    }
    return absl::OkStatus();
  }

  // Copies `blobs`, several at once when both ends allow it; the first error wins.
  absl::Status CopyAll(const std::vector<oci::Descriptor>& blobs, const std::string& what) {
    int jobs = (src_.ConcurrentBlobs() && dst_.ConcurrentBlobs()) ? options_.jobs : 1;
    jobs = std::clamp<int>(jobs, 1, std::max<int>(1, blobs.size()));
    if (jobs == 1) {
      for (const oci::Descriptor& d : blobs) {
        RETURN_IF_ERROR_CTX(Copy(d), "copying ", what, " ", d.digest.str());
      }
      return absl::OkStatus();
    }
    std::mutex mu;
    size_t next = 0;
    absl::Status first;
    auto work = [&] {
      while (true) {
        size_t i;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (next >= blobs.size() || !first.ok()) return;
          i = next++;
        }
        absl::Status s = Copy(blobs[i]);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first.ok())
            first = Annotate(s, absl::StrCat("copying ", what, " ", blobs[i].digest.str()));
        }
      }
    };
    std::vector<std::thread> threads;
    for (int t = 1; t < jobs; ++t) threads.emplace_back(work);
    work();
    for (std::thread& t : threads) t.join();
    return first;
  }

 private:
  std::unique_ptr<CountingSource> counting_;

  void Notify(const BlobEvent& e) {
    if (!options_.on_blob) return;
    std::lock_guard<std::mutex> lock(notify_mu_);
    options_.on_blob(e);
  }
  ImageSource& src_;
  ImageDestination& dst_;
  const CopyOptions& options_;
  std::mutex notify_mu_;
};

// Copies the blobs of one image manifest, then the manifest itself.
absl::Status CopyManifest(BlobCopier& blobs, ImageDestination& dst, const oci::ManifestData& m) {
  ASSIGN_OR_RETURN(oci::Manifest manifest, oci::Manifest::Parse(m.bytes));
  RETURN_IF_ERROR(blobs.CopyAll({manifest.config}, "config"));
  RETURN_IF_ERROR(blobs.CheckConfig(manifest));
  RETURN_IF_ERROR(blobs.CopyAll(manifest.layers, "layer"));
  return dst.PutManifest(m);
}

absl::Status CopyIndex(ImageSource& src, BlobCopier& blobs, ImageDestination& dst,
                       const oci::ManifestData& m, int depth) {
  if (depth > 4) return absl::InvalidArgumentError("indexes nested too deeply");
  ASSIGN_OR_RETURN(oci::Index index, oci::Index::Parse(m.bytes));
  for (const oci::Descriptor& child : index.manifests) {
    ASSIGN_OR_RETURN_CTX(oci::ManifestData cm, src.GetChildManifest(child), "reading manifest ",
                         child.digest.str());
    if (oci::IsIndexMediaType(cm.media_type)) {
      RETURN_IF_ERROR(CopyIndex(src, blobs, dst, cm, depth + 1));
    } else {
      RETURN_IF_ERROR_CTX(CopyManifest(blobs, dst, cm), "copying manifest ", child.digest.str());
    }
  }
  return dst.PutManifest(m);
}

absl::StatusOr<oci::ManifestData> SelectPlatform(ImageSource& src, const oci::ManifestData& top,
                                                 const oci::Platform& want) {
  ASSIGN_OR_RETURN(oci::Index index, oci::Index::Parse(top.bytes));
  std::string seen;
  for (const oci::Descriptor& child : index.manifests) {
    if (!child.platform) continue;
    absl::StrAppend(&seen, seen.empty() ? "" : ", ", child.platform->str());
    if (child.platform->Satisfies(want) && oci::IsManifestMediaType(child.media_type)) {
      return src.GetChildManifest(child);
    }
  }
  return absl::NotFoundError(absl::StrCat("no image for platform ", want.str(),
                                          " in the index (it has: ", seen.empty() ? "none" : seen,
                                          ")"));
}

}  // namespace

absl::StatusOr<LoadedImage> LoadImage(ImageSource& src, const oci::Platform& platform) {
  LoadedImage image;
  ASSIGN_OR_RETURN(image.top, src.GetManifest());
  image.manifest = image.top;
  if (oci::IsIndexMediaType(image.top.media_type)) {
    ASSIGN_OR_RETURN(image.manifest, SelectPlatform(src, image.top, platform));
  }
  ASSIGN_OR_RETURN(image.parsed, oci::Manifest::Parse(image.manifest.bytes));
  const oci::Descriptor& config = image.parsed.config;
  if (config.size > static_cast<int64_t>(oci::kMaxConfigSize)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config is too large (", config.size, " bytes)"));
  }
  ASSIGN_OR_RETURN(auto reader, src.OpenBlob(config));
  ASSIGN_OR_RETURN_CTX(image.config_bytes, ReadAllFrom(*reader, oci::kMaxConfigSize), "config ",
                       config.digest.str());
  ASSIGN_OR_RETURN_CTX(image.config, oci::ImageConfig::Parse(image.config_bytes), "config ",
                       config.digest.str());
  return image;
}

std::vector<std::string> ImagePlatforms(const LoadedImage& image) {
  std::vector<std::string> out;
  if (oci::IsIndexMediaType(image.top.media_type)) {
    absl::StatusOr<oci::Index> index = oci::Index::Parse(image.top.bytes);
    if (!index.ok()) return out;
    for (const oci::Descriptor& child : index->manifests) {
      if (child.platform && child.platform->os != "unknown") out.push_back(child.platform->str());
    }
    return out;
  }
  if (!image.config.architecture.empty()) out.push_back(image.config.platform().str());
  return out;
}

absl::StatusOr<LoadedImage> LoadAnyImage(ImageSource& src) {
  absl::StatusOr<LoadedImage> image = LoadImage(src, oci::Platform::Host());
  if (image.ok() || !absl::IsNotFound(image.status())) return image;
  ASSIGN_OR_RETURN(oci::ManifestData top, src.GetManifest());
  if (!oci::IsIndexMediaType(top.media_type)) return image;
  ASSIGN_OR_RETURN(oci::Index index, oci::Index::Parse(top.bytes));
  for (const oci::Descriptor& child : index.manifests) {
    if (child.platform && child.platform->os != "unknown") {
      return LoadImage(src, *child.platform);
    }
  }
  return image;
}

absl::StatusOr<oci::ManifestData> CopyImage(ImageSource& src, ImageDestination& dst,
                                            const CopyOptions& options) {
  ASSIGN_OR_RETURN(oci::ManifestData top, src.GetManifest());
  BlobCopier blobs(src, dst, options);
  if (oci::IsIndexMediaType(top.media_type)) {
    if (options.platform || !dst.AcceptsIndex()) {
      oci::Platform want = options.platform.value_or(oci::Platform::Host());
      ASSIGN_OR_RETURN(top, SelectPlatform(src, top, want));
      RETURN_IF_ERROR(CopyManifest(blobs, dst, top));
    } else {
      RETURN_IF_ERROR(CopyIndex(src, blobs, dst, top, 0));
    }
  } else {
    RETURN_IF_ERROR(CopyManifest(blobs, dst, top));
  }
  RETURN_IF_ERROR(dst.Commit(top));
  return top;
}

}  // namespace kiln::layers
