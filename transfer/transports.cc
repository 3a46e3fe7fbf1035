#include "transfer/transports.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "layers/archive_file.h"
#include "layers/docker_archive.h"
#include "layers/layout_transport.h"
#include "oci/reference.h"
#include "registry/transport.h"
#include "transfer/origin_blobs.h"

namespace kiln::transfer {

using layers::ForwardingSource;
using layers::ImageDestination;
using layers::ImageSource;
using layers::NewBlobStoreDestination;
using layers::NewBlobStoreSource;
using layers::OciLayout;
using layers::OpenDockerArchiveDestination;
using layers::OpenDockerArchiveSource;
using layers::PackArchiveFile;
using layers::RefName;
using layers::Store;
using layers::TempRoot;
using layers::UnpackArchiveFile;

namespace {

// A source over a layout it owns (and the unpacked archive holding it, if any).
class OwnedLayoutSource : public ForwardingSource {
 public:
  OwnedLayoutSource(std::optional<TempDir> dir, std::unique_ptr<OciLayout> layout,
                    const oci::Descriptor& root)
      : ForwardingSource(NewBlobStoreSource(&layout->blobs(), root)),
        dir_(std::move(dir)),
        layout_(std::move(layout)) {}

 private:
  std::optional<TempDir> dir_;
  std::unique_ptr<OciLayout> layout_;
};

// A registry source whose top manifest was read already (to choose among mirrors).
class ProbedSource : public ForwardingSource {
 public:
  ProbedSource(std::unique_ptr<ImageSource> inner, oci::ManifestData top)
      : ForwardingSource(std::move(inner)), top_(std::move(top)) {}
  absl::StatusOr<oci::ManifestData> GetManifest() override {
    if (top_) return *std::exchange(top_, std::nullopt);
    return ForwardingSource::GetManifest();
  }

 private:
  std::optional<oci::ManifestData> top_;
};

// The registry source for `ref`: mirrors first, by `options.registries`.
absl::StatusOr<std::unique_ptr<ImageSource>> OpenPullSource(const oci::Reference& ref,
                                                            const TransportOptions& options) {
  if (options.registries == nullptr || options.registries->empty()) {
    return registry::OpenRegistrySource(ref, options.registry);
  }
  ASSIGN_OR_RETURN(std::vector<registry::PullSource> sources, options.registries->PullSources(ref));
  std::vector<std::string> failed;
  for (const registry::PullSource& src : sources) {
    registry::RegistryOptions o = options.registry;
    if (src.insecure) o.tls_verify = false;
    absl::StatusOr<std::unique_ptr<ImageSource>> source = registry::OpenRegistrySource(src.ref, o);
    absl::StatusOr<oci::ManifestData> top =
        source.ok() ? (*source)->GetManifest() : absl::StatusOr<oci::ManifestData>(source.status());
    if (top.ok()) {
      if (src.mirror && options.notify) {
        options.notify(absl::StrCat("reading ", ref.String(), " from mirror ", src.ref.String()));
      }
      return std::make_unique<ProbedSource>(*std::move(source), *std::move(top));
    }
    if (!src.mirror) {
      if (failed.empty()) return top.status();
      return absl::Status(top.status().code(),
                          absl::StrCat(top.status().message(),
                                       " (and its mirrors: ", absl::StrJoin(failed, "; "), ")"));
    }
    failed.push_back(absl::StrCat(src.ref.String(), ": ", top.status().message()));
    if (options.notify) {
      options.notify(absl::StrCat("mirror ", src.ref.String(), " failed (", top.status().message(),
                                  "), trying the next"));
    }
  }
  return absl::InternalError("no pull source");
}

// A destination into a layout it owns; `on_commit` runs after the name is set (with the
// layout already closed), e.g. to pack an archive.
class OwnedLayoutDestination : public ImageDestination {
 public:
  OwnedLayoutDestination(std::unique_ptr<OciLayout> layout, std::string name,
                         std::function<absl::Status()> on_commit)
      : layout_(std::move(layout)), name_(std::move(name)), on_commit_(std::move(on_commit)) {
    inner_ = NewBlobStoreDestination(
        &layout_->blobs(), [this](const oci::Descriptor& d) { return layout_->Tag(name_, d); });
  }
  bool HasBlob(const oci::Descriptor& d) override { return inner_->HasBlob(d); }
  absl::Status PutBlob(const oci::Descriptor& d, Reader& from) override {
    return inner_->PutBlob(d, from);
  }
  absl::Status PutBlobFrom(ImageSource& src, const oci::Descriptor& d) override {
    return inner_->PutBlobFrom(src, d);
  }
  bool ConcurrentBlobs() const override { return true; }
  absl::Status PutManifest(const oci::ManifestData& m) override { return inner_->PutManifest(m); }
  absl::Status Commit(const oci::ManifestData& top) override {
    RETURN_IF_ERROR(inner_->Commit(top));
    inner_.reset();
    layout_.reset();
    return on_commit_ ? on_commit_() : absl::OkStatus();
  }

 private:
  std::unique_ptr<OciLayout> layout_;
  std::string name_;
  std::function<absl::Status()> on_commit_;
  std::unique_ptr<ImageDestination> inner_;
};

// The store as a source: blobs with the registry repositories they came from.
// An image of the store; blobs it refers to but lacks are fetched from their origins.
class StoreSource : public ForwardingSource {
 public:
  StoreSource(Store* store, const oci::Descriptor& root, const TransportOptions& options)
      : ForwardingSource(NewBlobStoreSource(&store->blobs(), root, /*verified=*/true)),
        store_(store),
        origins_(store, options.registry) {}
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const oci::Descriptor& d) override {
    RETURN_IF_ERROR(origins_.Fetch(d));
    return ForwardingSource::OpenBlob(d);
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlobUnverified(const oci::Descriptor& d) override {
    RETURN_IF_ERROR(origins_.Fetch(d));
    return ForwardingSource::OpenBlobUnverified(d);
  }
  std::vector<std::string> BlobOrigins(const oci::Descriptor& d) override {
    return store_->Origins(d.digest);
  }

 private:
  Store* store_;
  OriginBlobs origins_;
};

// A destination into the store, holding the store's shared lock so gc waits for it.
class StoreDestination : public ImageDestination {
 public:
  StoreDestination(Store* store, Store::Lock lock, std::string name)
      : store_(store), lock_(std::move(lock)), name_(std::move(name)) {
    inner_ = NewBlobStoreDestination(
        &store_->blobs(), [this](const oci::Descriptor& d) { return store_->Tag(name_, d); });
  }
  bool HasBlob(const oci::Descriptor& d) override { return inner_->HasBlob(d); }
  absl::Status PutBlob(const oci::Descriptor& d, Reader& from) override {
    return inner_->PutBlob(d, from);
  }
  absl::Status PutBlobFrom(ImageSource& src, const oci::Descriptor& d) override {
    RETURN_IF_ERROR(inner_->PutBlobFrom(src, d));
    std::vector<std::string> origins = src.BlobOrigins(d);
    if (!origins.empty()) store_->RecordOrigins(d.digest, std::move(origins));
    return absl::OkStatus();
  }
  bool ConcurrentBlobs() const override { return true; }
  absl::Status PutManifest(const oci::ManifestData& m) override { return inner_->PutManifest(m); }
  absl::Status Commit(const oci::ManifestData& top) override { return inner_->Commit(top); }

 private:
  Store* store_;
  Store::Lock lock_;
  std::string name_;
  std::unique_ptr<ImageDestination> inner_;
};

}  // namespace

absl::StatusOr<oci::Descriptor> ResolveInLayout(const OciLayout& layout, const std::string& name) {
  if (absl::StartsWith(name, "sha256:")) {
    // By digest: an entry of the index.
    ASSIGN_OR_RETURN(oci::Digest want, oci::Digest::Parse(name));
    ASSIGN_OR_RETURN(oci::Index index, layout.ReadIndex());
    for (const oci::Descriptor& d : index.manifests) {
      if (d.digest == want) return d;
    }
    return absl::NotFoundError(absl::StrCat("no image ", name, " in ", layout.dir()));
  }
  if (!name.empty()) return layout.Resolve(name);
  ASSIGN_OR_RETURN(oci::Index index, layout.ReadIndex());
  if (index.manifests.size() == 1) return index.manifests[0];
  std::vector<std::string> names;
  for (const oci::Descriptor& d : index.manifests) names.push_back(RefName(d));
  if (names.empty()) return absl::NotFoundError(absl::StrCat(layout.dir(), " holds no image"));
  return absl::InvalidArgumentError(absl::StrCat(
      layout.dir(), " holds ", names.size(), " images; name one of: ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<std::unique_ptr<ImageSource>> OpenImageSource(const ImageLocation& loc, Store* store,
                                                             const TransportOptions& options) {
  switch (loc.transport) {
    case Transport::kStore: {
      ASSIGN_OR_RETURN(oci::Descriptor root, store->Resolve(loc.name));
      return std::make_unique<StoreSource>(store, root, options);
    }
    case Transport::kRegistry: {
      ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(loc.name));
      return OpenPullSource(ref, options);
    }
    case Transport::kOciLayout: {
      ASSIGN_OR_RETURN(auto layout, OciLayout::Open(loc.path, /*create=*/false));
      ASSIGN_OR_RETURN(oci::Descriptor root, ResolveInLayout(*layout, loc.name));
      return std::make_unique<OwnedLayoutSource>(std::nullopt, std::move(layout), root);
    }
    case Transport::kOciArchive: {
      ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(absl::StrCat(TempRoot(), "/kiln-archive-")));
      RETURN_IF_ERROR(UnpackArchiveFile(loc.path, dir.path()));
      ASSIGN_OR_RETURN_CTX(auto layout, OciLayout::Open(dir.path(), /*create=*/false), loc.path,
                           " is not an oci-archive");
      ASSIGN_OR_RETURN(oci::Descriptor root, ResolveInLayout(*layout, loc.name));
      return std::make_unique<OwnedLayoutSource>(std::move(dir), std::move(layout), root);
    }
    case Transport::kDockerArchive:
      return OpenDockerArchiveSource(loc.path, loc.name);
  }
  return absl::InternalError("unknown transport");
}

std::unique_ptr<ImageSource> NewStoreSource(Store* store, const oci::Descriptor& root,
                                            const TransportOptions& options) {
  return std::make_unique<StoreSource>(store, root, options);
}

absl::StatusOr<std::unique_ptr<ImageDestination>> OpenImageDestination(
    const ImageLocation& loc, Store* store, const TransportOptions& options) {
  switch (loc.transport) {
    case Transport::kRegistry: {
      ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(loc.name));
      return registry::OpenRegistryDestination(ref, options.registry);
    }
    case Transport::kStore: {
      ASSIGN_OR_RETURN(std::string name, Store::CanonicalName(loc.name, /*allow_digest=*/true));
      ASSIGN_OR_RETURN(Store::Lock lock, store->LockShared());
      return std::make_unique<StoreDestination>(store, std::move(lock), name);
    }
    case Transport::kOciLayout: {
      ASSIGN_OR_RETURN(auto layout, OciLayout::Open(loc.path, /*create=*/true));
      return std::make_unique<OwnedLayoutDestination>(std::move(layout), loc.name, nullptr);
    }
    case Transport::kOciArchive: {
      ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(absl::StrCat(TempRoot(), "/kiln-archive-")));
      auto staging = std::make_shared<TempDir>(std::move(dir));
      ASSIGN_OR_RETURN(auto layout, OciLayout::Open(staging->path(), /*create=*/true));
      std::string file = loc.path;
      return std::make_unique<OwnedLayoutDestination>(
          std::move(layout), loc.name,
          [staging, file]() { return PackArchiveFile(staging->path(), file); });
    }
    case Transport::kDockerArchive:
      return OpenDockerArchiveDestination(loc.path, loc.name);
  }
  return absl::InternalError("unknown transport");
}

}  // namespace kiln::transfer
