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

class DockerArchiveSource : public ImageSource {
 public:
  absl::Status Init(const std::string& file, const std::string& ref) {
    ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(absl::StrCat(TempRoot(), "/kiln-archive-")));
    dir_.emplace(std::move(dir));
    RETURN_IF_ERROR(UnpackArchiveFile(file, dir_->path()));
    root_ = UniqueFd(::open(dir_->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_.valid()) return ErrnoError("open unpacked archive");

    ASSIGN_OR_RETURN_CTX(std::string text, ReadMember("manifest.json", kMaxArchiveManifestSize),
                         file, ": not a docker-archive");
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_array() || doc.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": manifest.json is not a non-empty array"));
    }
    for (const auto& entry : doc) {
      std::vector<std::string> tags;
      if (entry.is_object()) RETURN_IF_ERROR(oci::GetStringList(entry, "RepoTags", &tags));
      all_tags_.push_back(std::move(tags));
    }
    const nlohmann::json* chosen = nullptr;
    uint64_t position = 0;
    if (ref.empty()) {
      if (doc.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            file, " holds ", doc.size(), " images; name one (docker-archive:FILE:REF or :@N)"));
      }
      chosen = &doc[0];
    } else if (ref[0] == '@' && absl::SimpleAtoi(ref.substr(1), &position)) {
      if (position >= doc.size()) {
        return absl::NotFoundError(absl::StrCat(file, " has no image @", position));
      }
      chosen = &doc[position];
    } else {
      std::string want = NormalizeTag(ref);
      for (const auto& entry : doc) {
        if (!entry.is_object()) continue;
        std::vector<std::string> tags;
        RETURN_IF_ERROR(oci::GetStringList(entry, "RepoTags", &tags));
        for (const std::string& t : tags) {
          if (NormalizeTag(t) == want) chosen = &entry;
        }
      }
      if (chosen == nullptr) return absl::NotFoundError(absl::StrCat(file, " has no image ", ref));
    }
    if (!chosen->is_object()) return absl::InvalidArgumentError("manifest.json: bad entry");
    std::string config_path;
    std::vector<std::string> layer_paths;
    RETURN_IF_ERROR_CTX(oci::GetString(*chosen, "Config", &config_path), "manifest.json");
    RETURN_IF_ERROR_CTX(oci::GetStringList(*chosen, "Layers", &layer_paths), "manifest.json");
    if (config_path.empty()) return absl::InvalidArgumentError("manifest.json: no Config");

    ASSIGN_OR_RETURN(std::string config_bytes, ReadMember(config_path, oci::kMaxConfigSize));
    ASSIGN_OR_RETURN_CTX(oci::ImageConfig config, oci::ImageConfig::Parse(config_bytes),
                         config_path);
    if (config.diff_ids.size() != layer_paths.size()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": the config lists ",
                                                     config.diff_ids.size(), " DiffIDs for ",
                                                     layer_paths.size(), " layers"));
    }
    oci::Manifest manifest;
    manifest.config.media_type = oci::kOciConfig;
    manifest.config.digest = oci::Digest::Of(config_bytes);
    manifest.config.size = static_cast<int64_t>(config_bytes.size());
    files_[manifest.config.digest] = config_path;
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
    ASSIGN_OR_RETURN(UniqueFd fd, OpenMember(it->second));
    return oci::NewVerifyingReader(std::make_unique<OwnedFdReader>(std::move(fd)), d.digest, d.size,
                                   absl::StrCat("archive member ", it->second));
  }

  // Every image's RepoTags, in the archive's order.
  const std::vector<std::vector<std::string>>& all_tags() const { return all_tags_; }

 private:
  std::vector<std::vector<std::string>> all_tags_;
  // Opens a member as a regular file; symlinks in the archive resolve inside it.
  absl::StatusOr<UniqueFd> OpenMember(const std::string& path) {
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

  absl::StatusOr<std::string> ReadMember(const std::string& path, uint64_t max_size) {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenMember(path));
    FdReader r(fd.get());
    auto data = ReadAllFrom(r, max_size);
    if (!data.ok()) return Annotate(data.status(), absl::StrCat("archive member ", path));
    return data;
  }

  absl::StatusOr<oci::Descriptor> DescribeLayer(const std::string& path) {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenMember(path));
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

  std::optional<TempDir> dir_;
  UniqueFd root_;
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
    return PackArchiveFile(dir_->path(), file_);
  }

  bool AcceptsIndex() const override { return false; }
  bool HasBlob(const oci::Descriptor& d) override { return false; }

  absl::Status PutBlob(const oci::Descriptor& d, Reader& from) override {
    std::unique_ptr<Reader> verified = oci::NewVerifyingReader(
        std::make_unique<BorrowedReader>(&from), d.digest, d.size, d.digest.str());
    if (!IsLayer(d.media_type)) {
      ASSIGN_OR_RETURN(std::string bytes, ReadAllFrom(*verified, oci::kMaxConfigSize));
      return WriteFileAtomic(absl::StrCat(dir_->path(), "/", d.digest.hex(), ".json"), bytes);
    }
    // Layers are stored uncompressed and named by their DiffID.
    ASSIGN_OR_RETURN(auto plain, NewDecompressor(std::move(verified)));
    std::string tmp = absl::StrCat(dir_->path(), "/layer-XXXXXX");
    UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("create layer file");
    oci::Sha256 hash;
    std::vector<char> buf(1 << 20);
    while (true) {
      ASSIGN_OR_RETURN(size_t n, plain->Read(buf.data(), buf.size()));
      if (n == 0) break;
      hash.Update(absl::string_view(buf.data(), n));
      RETURN_IF_ERROR(WriteAll(fd.get(), absl::string_view(buf.data(), n)));
    }
    oci::Digest diff_id = hash.Finish();
    ::fchmod(fd.get(), 0644);
    std::string name = absl::StrCat(diff_id.hex(), ".tar");
    if (::rename(tmp.c_str(), absl::StrCat(dir_->path(), "/", name).c_str()) != 0) {
      return ErrnoError("rename layer file");
    }
    diff_ids_[d.digest] = diff_id;
    return absl::OkStatus();
  }

  absl::Status PutManifest(const oci::ManifestData& m) override { return absl::OkStatus(); }

  absl::Status Commit(const oci::ManifestData& top) override {
    ASSIGN_OR_RETURN(oci::Manifest manifest, oci::Manifest::Parse(top.bytes));
    std::string config_name = absl::StrCat(manifest.config.digest.hex(), ".json");
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
      layers.push_back(absl::StrCat(it->second.hex(), ".tar"));
    }
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
  DockerArchiveSource src;
  RETURN_IF_ERROR_CTX(src.Init(file, "@0"), "docker-archive ", file);
  return src.all_tags();
}

absl::StatusOr<std::unique_ptr<ImageSource>> OpenDockerArchiveSource(const std::string& file,
                                                                     const std::string& ref) {
  auto src = std::make_unique<DockerArchiveSource>();
  RETURN_IF_ERROR_CTX(src->Init(file, ref), "docker-archive ", file);
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
