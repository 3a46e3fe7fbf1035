#include "layers/docker_archive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/in_root.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "layers/archive_file.h"
#include "layers/blob_store.h"
#include "layers/compression.h"
#include "nlohmann/json.hpp"
#include "oci/image_config.h"
#include "oci/json_util.h"
#include "oci/manifest.h"
#include "oci/media_types.h"
#include "oci/reference.h"

namespace kiln::layers {
namespace {

constexpr uint64_t kMaxArchiveManifestSize = 1 << 20;

// Reads from a Reader it does not own.
class BorrowedReader : public Reader {
 public:
  explicit BorrowedReader(Reader* r) : r_(r) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override { return r_->Read(buf, n); }

 private:
  Reader* r_;
};

std::string NormalizeTag(const std::string& ref) {
  auto parsed = oci::Reference::Parse(ref);
  return parsed.ok() ? parsed->Familiar() : ref;
}

// Where a blob is in the archive's OCI view: "blobs/sha256/<hex>".
std::string BlobPath(const oci::Digest& d) { return absl::StrCat("blobs/sha256/", d.hex()); }

// An archive unpacked once into a temporary directory; the sources of its images share it.
class UnpackedArchive {
 public:
  static absl::StatusOr<std::shared_ptr<UnpackedArchive>> Open(const std::string& file) {
    auto a = std::shared_ptr<UnpackedArchive>(new UnpackedArchive());
    a->file_ = file;
    ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(absl::StrCat(TempRoot(), "/kiln-archive-")));
    a->dir_.emplace(std::move(dir));
    RETURN_IF_ERROR(UnpackArchiveFile(file, a->dir_->path()));
    a->root_ = UniqueFd(::open(a->dir_->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!a->root_.valid()) return ErrnoError("open unpacked archive");
    ASSIGN_OR_RETURN_CTX(std::string text, a->ReadMember("manifest.json", kMaxArchiveManifestSize),
                         file, ": not a docker-archive");
    a->doc_ = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!a->doc_.is_array() || a->doc_.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": manifest.json is not a non-empty array"));
    }
    // The OCI view, when there is one (a docker-archive of Docker before 25 has none).
    if (absl::StatusOr<std::string> index = a->ReadMember("index.json", oci::kMaxManifestSize);
        index.ok()) {
      if (absl::StatusOr<oci::Index> parsed = oci::Index::Parse(*index); parsed.ok()) {
        a->index_ = *std::move(parsed);
      }
    }
    for (const auto& entry : a->doc_) {
      if (!entry.is_object()) return absl::InvalidArgumentError("manifest.json: bad entry");
      std::vector<std::string> tags;
      RETURN_IF_ERROR_CTX(oci::GetStringList(entry, "RepoTags", &tags), "manifest.json");
      a->tags_.push_back(std::move(tags));
    }
    return a;
  }

  const std::string& file() const { return file_; }
  const nlohmann::json& entry(size_t i) const { return doc_[i]; }
  const std::vector<std::vector<std::string>>& tags() const { return tags_; }

  // The image `ref` names: one of its RepoTags, "@N", or (empty) the archive's only one.
  absl::StatusOr<size_t> Pick(const std::string& ref) const {
    uint64_t position = 0;
    if (ref.empty()) {
      if (tags_.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            file_, " holds ", tags_.size(), " images; name one (docker-archive:FILE:REF or :@N)"));
      }
      return 0;
    }
    if (ref[0] == '@' && absl::SimpleAtoi(ref.substr(1), &position)) {
      if (position >= tags_.size()) {
        return absl::NotFoundError(absl::StrCat(file_, " has no image @", position));
      }
      return position;
    }
    const std::string want = NormalizeTag(ref);
    for (size_t i = 0; i < tags_.size(); ++i) {
      for (const std::string& t : tags_[i]) {
        if (NormalizeTag(t) == want) return i;
      }
    }
    return absl::NotFoundError(absl::StrCat(file_, " has no image ", ref));
  }

  // Opens a member as a regular file; symlinks in the archive resolve inside it.
  absl::StatusOr<UniqueFd> OpenMember(const std::string& path) const {
    ASSIGN_OR_RETURN(std::string rel, CleanMemberPath(path));
    ASSIGN_OR_RETURN_CTX(UniqueFd fd, OpenInRoot(root_.get(), rel, O_RDONLY), "archive member ",
                         path);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("archive member ", path, " is not a regular file"));
    }
    return fd;
  }

  absl::StatusOr<std::string> ReadMember(const std::string& path, uint64_t max_size) const {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenMember(path));
    FdReader r(fd.get());
    auto data = ReadAllFrom(r, max_size);
    if (!data.ok()) return Annotate(data.status(), absl::StrCat("archive member ", path));
    return data;
  }

  // The manifest (exact bytes) of the archive's OCI view (index.json, as docker save writes
  // it since Docker 25 and kiln save writes it) whose config is `config` and whose layers are
  // the members at `layer_paths`; nullopt when the archive has none.
  std::optional<oci::ManifestData> ExactManifest(
      const oci::Digest& config, const std::vector<std::string>& layer_paths) const {
    if (!index_) return std::nullopt;
    for (const oci::Descriptor& d : index_->manifests) {
      if (d.media_type != oci::kOciManifest && d.media_type != oci::kDockerManifest) continue;
      absl::StatusOr<std::string> bytes = ReadMember(BlobPath(d.digest), oci::kMaxManifestSize);
      if (!bytes.ok() || oci::Digest::Of(*bytes) != d.digest) continue;
      absl::StatusOr<oci::Manifest> m = oci::Manifest::Parse(*bytes);
      if (!m.ok() || m->config.digest != config || m->layers.size() != layer_paths.size()) continue;
      bool same_files = true;
      for (size_t i = 0; i < layer_paths.size(); ++i) {
        absl::StatusOr<std::string> a = CleanMemberPath(layer_paths[i]);
        same_files &= a.ok() && *a == BlobPath(m->layers[i].digest);
      }
      if (!same_files) continue;
      absl::StatusOr<oci::ManifestData> data = oci::ManifestData::FromBytes(*std::move(bytes));
      if (data.ok()) return *std::move(data);
    }
    return std::nullopt;
  }

 private:
  UnpackedArchive() = default;
  std::string file_;
  std::optional<TempDir> dir_;
  UniqueFd root_;
  nlohmann::json doc_;
  std::vector<std::vector<std::string>> tags_;
  std::optional<oci::Index> index_;  // index.json, when the archive has a readable one
};

// One image of a docker-archive: the manifest the archive's OCI view has for it, else one
// synthesized over the files as they are.
class DockerArchiveSource : public ImageSource {
 public:
  absl::Status Init(std::shared_ptr<const UnpackedArchive> archive, size_t index) {
    archive_ = std::move(archive);
    const nlohmann::json& chosen = archive_->entry(index);
    std::string config_path;
    std::vector<std::string> layer_paths;
    RETURN_IF_ERROR_CTX(oci::GetString(chosen, "Config", &config_path), "manifest.json");
    RETURN_IF_ERROR_CTX(oci::GetStringList(chosen, "Layers", &layer_paths), "manifest.json");
    if (config_path.empty()) return absl::InvalidArgumentError("manifest.json: no Config");

    ASSIGN_OR_RETURN(std::string config_bytes,
                     archive_->ReadMember(config_path, oci::kMaxConfigSize));
    ASSIGN_OR_RETURN_CTX(oci::ImageConfig config, oci::ImageConfig::Parse(config_bytes),
                         config_path);
    if (config.diff_ids.size() != layer_paths.size()) {
      return absl::InvalidArgumentError(absl::StrCat(archive_->file(), ": the config lists ",
                                                     config.diff_ids.size(), " DiffIDs for ",
                                                     layer_paths.size(), " layers"));
    }
    const oci::Digest config_digest = oci::Digest::Of(config_bytes);
    files_[config_digest] = config_path;
    if (std::optional<oci::ManifestData> exact =
            archive_->ExactManifest(config_digest, layer_paths)) {
      ASSIGN_OR_RETURN(oci::Manifest m, oci::Manifest::Parse(exact->bytes));
      for (size_t i = 0; i < layer_paths.size(); ++i) files_[m.layers[i].digest] = layer_paths[i];
      manifest_ = *std::move(exact);
      return absl::OkStatus();
    }
    oci::Manifest manifest;
    manifest.config.media_type = oci::kOciConfig;
    manifest.config.digest = config_digest;
    manifest.config.size = static_cast<int64_t>(config_bytes.size());
    for (const std::string& path : layer_paths) {
      ASSIGN_OR_RETURN(oci::Descriptor layer, DescribeLayer(path));
      files_[layer.digest] = path;
      manifest.layers.push_back(std::move(layer));
    }
    ASSIGN_OR_RETURN(manifest_, oci::ManifestData::FromBytes(manifest.Serialize()));
    return absl::OkStatus();
  }

  absl::StatusOr<oci::ManifestData> GetManifest() override { return manifest_; }
  absl::StatusOr<oci::ManifestData> GetChildManifest(const oci::Descriptor& d) override {
    return absl::NotFoundError("a docker-archive image has no child manifests");
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const oci::Descriptor& d) override {
    auto it = files_.find(d.digest);
    if (it == files_.end()) {
      return absl::NotFoundError(absl::StrCat("no blob ", d.digest.str(), " in the archive"));
    }
    ASSIGN_OR_RETURN(UniqueFd fd, archive_->OpenMember(it->second));
    return oci::NewVerifyingReader(std::make_unique<OwnedFdReader>(std::move(fd)), d.digest, d.size,
                                   absl::StrCat("archive member ", it->second));
  }

 private:
  absl::StatusOr<oci::Descriptor> DescribeLayer(const std::string& path) {
    ASSIGN_OR_RETURN(UniqueFd fd, archive_->OpenMember(path));
    oci::Sha256 hash;
    std::vector<char> buf(1 << 20);
    int64_t size = 0;
    std::string head;
    FdReader r(fd.get());
    while (true) {
      ASSIGN_OR_RETURN(size_t n, r.Read(buf.data(), buf.size()));
      if (n == 0) break;
      if (head.size() < 4) head.append(buf.data(), std::min<size_t>(n, 4 - head.size()));
      hash.Update(absl::string_view(buf.data(), n));
      size += n;
    }
    oci::Descriptor d;
    d.media_type = OciLayerMediaType(DetectCompression(head));
    d.digest = hash.Finish();
    d.size = size;
    return d;
  }

  std::shared_ptr<const UnpackedArchive> archive_;
  oci::ManifestData manifest_;
  std::map<oci::Digest, std::string> files_;
};

class DockerArchiveDestination : public ImageDestination {
 public:
  // `several`: Commit adds the image to the archive, Finish writes it (docker save IMAGE...).
  DockerArchiveDestination(std::string file, bool several)
      : file_(std::move(file)), several_(several) {}

  absl::Status Init() {
    ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(absl::StrCat(TempRoot(), "/kiln-archive-")));
    dir_.emplace(std::move(dir));
    return absl::OkStatus();
  }

  // The RepoTags of the image the next Commit adds (Docker's short forms).
  absl::Status SetTags(const std::vector<std::string>& tags) {
    refs_.clear();
    for (const std::string& t : tags) {
      ASSIGN_OR_RETURN(oci::Reference r, oci::Reference::Parse(t));
      if (r.digest()) {
        return absl::InvalidArgumentError("a docker-archive tag cannot carry a digest");
      }
      refs_.push_back(r.Familiar());
    }
    return absl::OkStatus();
  }

  absl::Status Finish() {
    RETURN_IF_ERROR(
        WriteFileAtomic(absl::StrCat(dir_->path(), "/manifest.json"),
                        entries_.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(dir_->path(), "/oci-layout"),
                                    R"({"imageLayoutVersion":"1.0.0"})"));
    oci::Index index;
    index.media_type = oci::kOciIndex;
    index.manifests = index_;
    RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(dir_->path(), "/index.json"), index.Serialize()));
    return PackArchiveFile(dir_->path(), file_);
  }

  bool AcceptsIndex() const override { return false; }
  bool HasBlob(const oci::Descriptor& d) override { return false; }

  // Blobs are stored as they come (layers compressed as they are), at blobs/sha256/<hex>: the
  // archive is then also an OCI layout with the image's own manifest, as Docker 25's save
  // writes it, and loads back to the same image. A layer's DiffID is checked on Commit.
  absl::Status PutBlob(const oci::Descriptor& d, Reader& from) override {
    std::unique_ptr<Reader> verified = oci::NewVerifyingReader(
        std::make_unique<BorrowedReader>(&from), d.digest, d.size, d.digest.str());
    const std::string path = absl::StrCat(dir_->path(), "/", BlobPath(d.digest));
    RETURN_IF_ERROR(MakeDirs(Dirname(path), 0755));
    if (!IsLayer(d.media_type)) {
      ASSIGN_OR_RETURN(std::string bytes, ReadAllFrom(*verified, oci::kMaxConfigSize));
      return WriteFileAtomic(path, bytes);
    }
    std::string tmp = path + ".tmp-XXXXXX";
    UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("create layer file");
    std::vector<char> buf(1 << 20);
    while (true) {
      ASSIGN_OR_RETURN(size_t n, verified->Read(buf.data(), buf.size()));
      if (n == 0) break;
      RETURN_IF_ERROR(WriteAll(fd.get(), absl::string_view(buf.data(), n)));
    }
    ::fchmod(fd.get(), 0644);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename layer file");
    // The DiffID: the stored bytes read back through their decompressor.
    UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.valid()) return ErrnoError("open " + path);
    ASSIGN_OR_RETURN(auto plain, NewDecompressor(std::make_unique<OwnedFdReader>(std::move(in))));
    oci::Sha256 hash;
    while (true) {
      ASSIGN_OR_RETURN(size_t n, plain->Read(buf.data(), buf.size()));
      if (n == 0) break;
      hash.Update(absl::string_view(buf.data(), n));
    }
    diff_ids_[d.digest] = hash.Finish();
    return absl::OkStatus();
  }

  absl::Status PutManifest(const oci::ManifestData& m) override { return absl::OkStatus(); }

  absl::Status Commit(const oci::ManifestData& top) override {
    ASSIGN_OR_RETURN(oci::Manifest manifest, oci::Manifest::Parse(top.bytes));
    const std::string config_name = BlobPath(manifest.config.digest);
    ASSIGN_OR_RETURN(std::string config_bytes,
                     ReadFile(absl::StrCat(dir_->path(), "/", config_name), oci::kMaxConfigSize));
    ASSIGN_OR_RETURN(oci::ImageConfig config, oci::ImageConfig::Parse(config_bytes));
    if (config.diff_ids.size() != manifest.layers.size()) {
      return absl::DataLossError(absl::StrCat("the config lists ", config.diff_ids.size(),
                                              " DiffIDs for ", manifest.layers.size(), " layers"));
    }
    nlohmann::json layers = nlohmann::json::array();
    for (size_t i = 0; i < manifest.layers.size(); ++i) {
      auto it = diff_ids_.find(manifest.layers[i].digest);
      if (it == diff_ids_.end()) return absl::InternalError("layer was not written");
      if (it->second != config.diff_ids[i]) {
        return absl::DataLossError(absl::StrCat("layer ", manifest.layers[i].digest.str(),
                                                " uncompresses to ", it->second.str(),
                                                " but the config says ", config.diff_ids[i].str()));
      }
      layers.push_back(BlobPath(manifest.layers[i].digest));
    }
    RETURN_IF_ERROR(
        WriteFileAtomic(absl::StrCat(dir_->path(), "/", BlobPath(top.digest)), top.bytes));
    // The same image saved under several names is one entry with all of them.
    nlohmann::json* entry = nullptr;
    for (nlohmann::json& e : entries_) {
      if (e["Config"] == config_name) entry = &e;
    }
    if (entry == nullptr) {
      entries_.push_back(
          {{"Config", config_name}, {"RepoTags", nlohmann::json::array()}, {"Layers", layers}});
      entry = &entries_.back();
    }
    for (const std::string& r : refs_) {
      if (std::find((*entry)["RepoTags"].begin(), (*entry)["RepoTags"].end(), r) ==
          (*entry)["RepoTags"].end()) {
        (*entry)["RepoTags"].push_back(r);
      }
    }
    // The OCI view: one descriptor per name (containerd's and the OCI layout's annotations),
    // or one without a name.
    const oci::Descriptor desc = top.ToDescriptor();
    std::vector<std::string> names = refs_;
    if (names.empty()) names.push_back("");
    for (const std::string& name : names) {
      oci::Descriptor d = desc;
      if (!name.empty()) {
        ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(name));
        d.annotations["io.containerd.image.name"] = ref.String();
        d.annotations["org.opencontainers.image.ref.name"] = name;
      }
      const bool seen = std::any_of(index_.begin(), index_.end(), [&](const oci::Descriptor& o) {
        return o.digest == d.digest && o.annotations == d.annotations;
      });
      if (!seen) index_.push_back(std::move(d));
    }
    return several_ ? absl::OkStatus() : Finish();
  }

 private:
  static bool IsLayer(const std::string& media_type) {
    return CompressionOfMediaType(media_type).ok();
  }

  std::string file_;
  bool several_ = false;
  std::vector<std::string> refs_;
  nlohmann::json entries_ = nlohmann::json::array();
  std::optional<TempDir> dir_;
  std::map<oci::Digest, oci::Digest> diff_ids_;
  std::vector<oci::Descriptor> index_;  // index.json's manifests
};

}  // namespace

class DockerArchiveWriter::Impl {
 public:
  explicit Impl(std::string file) : dst(std::move(file), /*several=*/true) {}
  DockerArchiveDestination dst;
};

DockerArchiveWriter::DockerArchiveWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DockerArchiveWriter::~DockerArchiveWriter() = default;

absl::StatusOr<std::unique_ptr<DockerArchiveWriter>> DockerArchiveWriter::Open(
    const std::string& file) {
  auto impl = std::make_unique<Impl>(file);
  RETURN_IF_ERROR_CTX(impl->dst.Init(), "docker-archive ", file);
  return std::unique_ptr<DockerArchiveWriter>(new DockerArchiveWriter(std::move(impl)));
}

absl::Status DockerArchiveWriter::Add(ImageSource& src, const std::vector<std::string>& tags,
                                      const CopyOptions& options) {
  RETURN_IF_ERROR(impl_->dst.SetTags(tags));
  return CopyImage(src, impl_->dst, options).status();
}

absl::Status DockerArchiveWriter::Finish() { return impl_->dst.Finish(); }

absl::StatusOr<std::vector<std::vector<std::string>>> DockerArchiveTags(const std::string& file) {
  ASSIGN_OR_RETURN_CTX(auto archive, UnpackedArchive::Open(file), "docker-archive ", file);
  return archive->tags();
}

absl::StatusOr<std::unique_ptr<ImageSource>> OpenDockerArchiveSource(const std::string& file,
                                                                     const std::string& ref) {
  ASSIGN_OR_RETURN_CTX(auto archive, UnpackedArchive::Open(file), "docker-archive ", file);
  ASSIGN_OR_RETURN_CTX(size_t index, archive->Pick(ref), "docker-archive ", file);
  auto src = std::make_unique<DockerArchiveSource>();
  RETURN_IF_ERROR_CTX(src->Init(std::move(archive), index), "docker-archive ", file);
  return src;
}

struct DockerArchive::Impl {
  std::shared_ptr<UnpackedArchive> archive;
};

DockerArchive::DockerArchive(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DockerArchive::~DockerArchive() = default;

absl::StatusOr<std::unique_ptr<DockerArchive>> DockerArchive::Open(const std::string& file) {
  auto impl = std::make_unique<Impl>();
  ASSIGN_OR_RETURN_CTX(impl->archive, UnpackedArchive::Open(file), "docker-archive ", file);
  return std::unique_ptr<DockerArchive>(new DockerArchive(std::move(impl)));
}

const std::vector<std::vector<std::string>>& DockerArchive::tags() const {
  return impl_->archive->tags();
}

absl::StatusOr<size_t> DockerArchive::Pick(const std::string& ref) const {
  return impl_->archive->Pick(ref);
}

absl::StatusOr<std::unique_ptr<ImageSource>> DockerArchive::Image(size_t i) const {
  if (i >= tags().size()) return absl::OutOfRangeError(absl::StrCat("no image @", i));
  auto src = std::make_unique<DockerArchiveSource>();
  RETURN_IF_ERROR_CTX(src->Init(impl_->archive, i), "docker-archive ", impl_->archive->file());
  return src;
}

absl::StatusOr<std::unique_ptr<ImageDestination>> OpenDockerArchiveDestination(
    const std::string& file, const std::string& ref) {
  auto dst = std::make_unique<DockerArchiveDestination>(file, /*several=*/false);
  RETURN_IF_ERROR_CTX(dst->Init(), "docker-archive ", file);
  if (!ref.empty()) RETURN_IF_ERROR_CTX(dst->SetTags({ref}), "docker-archive ", file);
  return dst;
}

}  // namespace kiln::layers
