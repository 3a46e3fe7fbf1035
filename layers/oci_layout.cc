#include "layers/oci_layout.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "oci/json_util.h"
#include "oci/media_types.h"

namespace kiln::layers {

using oci::Descriptor;
using oci::Index;

namespace {
constexpr char kLayoutFile[] = R"({"imageLayoutVersion":"1.0.0"})";
}

std::string RefName(const Descriptor& d) {
  auto it = d.annotations.find(oci::kAnnotationRefName);
  return it == d.annotations.end() ? "" : it->second;
}

absl::StatusOr<std::unique_ptr<OciLayout>> OciLayout::Open(const std::string& dir, bool create,
                                                           const std::string& ingest_dir) {
  std::string layout_file = absl::StrCat(dir, "/oci-layout");
  if (!PathExists(layout_file)) {
    if (!create) {
      return absl::NotFoundError(absl::StrCat(dir, " is not an OCI image layout (no oci-layout)"));
    }
    RETURN_IF_ERROR(MakeDirs(dir));
    RETURN_IF_ERROR(WriteFileAtomic(layout_file, kLayoutFile));
  } else {
    ASSIGN_OR_RETURN(std::string text, ReadFile(layout_file, 4096));
    auto doc = oci::ParseJsonObject(text, "oci-layout", 4096);
    if (!doc.ok() || !doc->contains("imageLayoutVersion")) {
      return absl::InvalidArgumentError(absl::StrCat(layout_file, ": not a valid oci-layout file"));
    }
  }
  std::string index_file = absl::StrCat(dir, "/index.json");
  if (!PathExists(index_file)) {
    if (!create) return absl::NotFoundError(absl::StrCat(dir, ": index.json is missing"));
    Index empty;
    empty.media_type = oci::kOciIndex;
    RETURN_IF_ERROR(WriteFileAtomic(index_file, empty.Serialize()));
  }
  std::optional<TempDir> own_ingest;
  std::string ingest = ingest_dir;
  if (create && ingest.empty()) {
    ASSIGN_OR_RETURN(TempDir made, TempDir::Create(absl::StrCat(dir, "/.ingest-")));
    own_ingest.emplace(std::move(made));
    ingest = own_ingest->path();
  }
  ASSIGN_OR_RETURN(auto blobs, BlobStore::Open(dir, ingest));
  return std::unique_ptr<OciLayout>(new OciLayout(dir, std::move(blobs), std::move(own_ingest)));
}

OciLayout::~OciLayout() = default;

absl::StatusOr<Index> OciLayout::ReadIndex() const {
  std::string path = absl::StrCat(dir_, "/index.json");
  ASSIGN_OR_RETURN_CTX(std::string bytes, ReadFile(path, oci::kMaxManifestSize), "reading index");
  ASSIGN_OR_RETURN_CTX(Index index, Index::Parse(bytes), path);
  return index;
}

absl::Status OciLayout::UpdateIndex(const std::function<absl::Status(Index&)>& fn) {
  UniqueFd lock(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!lock.valid()) return ErrnoError(absl::StrCat("open ", dir_));
  while (::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoError(absl::StrCat("lock ", dir_));
  }
  ASSIGN_OR_RETURN(Index index, ReadIndex());
  RETURN_IF_ERROR(fn(index));
  if (index.media_type.empty()) index.media_type = oci::kOciIndex;
  return WriteFileAtomic(absl::StrCat(dir_, "/index.json"), index.Serialize());
}

absl::StatusOr<Descriptor> OciLayout::Resolve(absl::string_view name) const {
  ASSIGN_OR_RETURN(Index index, ReadIndex());
  for (const Descriptor& d : index.manifests) {
    if (RefName(d) == name) return d;
  }
  return absl::NotFoundError(absl::StrCat("no image named \"", name, "\" in ", dir_));
}

absl::Status OciLayout::Tag(const std::string& name, Descriptor desc) {
  if (!name.empty()) desc.annotations[oci::kAnnotationRefName] = name;
  return UpdateIndex([&](Index& index) {
    std::vector<Descriptor> kept;
    for (Descriptor& d : index.manifests) {
      std::string n = RefName(d);
      if (!name.empty() && n == name) continue;
      if (name.empty() && n.empty() && d.digest == desc.digest) continue;
      kept.push_back(std::move(d));
    }
    kept.push_back(desc);
    index.manifests = std::move(kept);
    return absl::OkStatus();
  });
}

absl::Status OciLayout::Untag(absl::string_view name) {
  return UpdateIndex([&](Index& index) {
    size_t before = index.manifests.size();
    std::erase_if(index.manifests, [&](const Descriptor& d) { return RefName(d) == name; });
    if (index.manifests.size() == before) {
      return absl::NotFoundError(absl::StrCat("no image named \"", name, "\""));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<Descriptor>> CollectReachable(const BlobStore& blobs,
                                                         const Descriptor& root) {
  std::vector<Descriptor> out;
  absl::flat_hash_set<oci::Digest> seen;
  std::vector<Descriptor> todo = {root};
  while (!todo.empty()) {
    Descriptor d = std::move(todo.back());
    todo.pop_back();
    if (!seen.insert(d.digest).second) continue;
    out.push_back(d);
    bool is_index = oci::IsIndexMediaType(d.media_type);
    bool is_manifest = oci::IsManifestMediaType(d.media_type);
    if (!is_index && !is_manifest) continue;
    ASSIGN_OR_RETURN_CTX(std::string bytes, blobs.ReadAll(d.digest, oci::kMaxManifestSize),
                         "reading manifest ", d.digest.str());
    if (is_index) {
      ASSIGN_OR_RETURN_CTX(Index index, Index::Parse(bytes), "index ", d.digest.str());
      for (Descriptor& c : index.manifests) todo.push_back(std::move(c));
    } else {
      ASSIGN_OR_RETURN_CTX(oci::Manifest m, oci::Manifest::Parse(bytes), "manifest ",
                           d.digest.str());
      todo.push_back(m.config);
      for (Descriptor& l : m.layers) todo.push_back(std::move(l));
    }
  }
  return out;
}

}  // namespace kiln::layers
