#include "layers/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "layers/build_cache.h"
#include "layers/snapshots.h"
#include "oci/image_config.h"
#include "oci/json_util.h"
#include "oci/media_types.h"
#include "oci/reference.h"

namespace kiln::layers {

using oci::Descriptor;
using oci::Digest;

std::string Store::DefaultRoot() {
  if (const char* root = std::getenv("KILN_ROOT"); root != nullptr && root[0] != '\0') {
    return root;
  }
  if (::geteuid() == 0) return "/var/lib/kiln";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && xdg[0] == '/') {
    return absl::StrCat(xdg, "/kiln");
  }
  const char* home = std::getenv("HOME");
  return absl::StrCat(home ? home : "", "/.local/share/kiln");
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& root) {
  RETURN_IF_ERROR(MakeDirs(absl::StrCat(root, "/locks"), 0700));
  ASSIGN_OR_RETURN_CTX(auto layout,
                       OciLayout::Open(root, /*create=*/true, absl::StrCat(root, "/ingest")),
                       "opening store ", root);
  return std::unique_ptr<Store>(new Store(std::move(layout)));
}

absl::StatusOr<std::string> Store::CanonicalName(absl::string_view name, bool allow_digest) {
  ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(name));
  if (ref.digest()) {
    if (!allow_digest) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", name, "\": a name in the store cannot carry a digest"));
    }
    // A pull by digest: kept as "repository@digest" (a tag beside the digest is dropped).
    ASSIGN_OR_RETURN(oci::Reference pinned,
                     oci::Reference::Parse(ref.Repository() + "@" + ref.digest()->str()));
    return pinned.Familiar();
  }
  return ref.Familiar();
}

absl::StatusOr<Descriptor> Store::Resolve(absl::string_view image) const {
  ASSIGN_OR_RETURN(oci::Index index, layout_->ReadIndex());
  absl::string_view hex = image;
  if (absl::ConsumePrefix(&hex, "sha256:") ||
      (hex.size() >= 4 && hex.size() <= 64 &&
       hex.find_first_not_of("0123456789abcdef") == absl::string_view::npos)) {
    std::vector<const Descriptor*> hits;
    for (const Descriptor& d : index.manifests) {
      if (absl::StartsWith(d.digest.hex(), hex) &&
          (hits.empty() || hits.back()->digest != d.digest)) {
        hits.push_back(&d);
      }
    }
    if (hits.size() == 1) {
      Descriptor d = *hits[0];
      d.annotations.erase(oci::kAnnotationRefName);
      return d;
    }
    if (hits.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat("\"", image, "\" matches several images"));
    }
    if (absl::StartsWith(image, "sha256:")) {
      return absl::NotFoundError(absl::StrCat("no image ", image, " in the store"));
    }
  }
  ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(image));
  std::string name = ref.Familiar();
  if (ref.digest()) {
    // name@digest: the digest decides; the name must be one the store knows by that digest.
    for (const Descriptor& d : index.manifests) {
      if (d.digest == *ref.digest()) {
        Descriptor found = d;
        found.annotations.erase(oci::kAnnotationRefName);
        return found;
      }
    }
    return absl::NotFoundError(absl::StrCat("no image ", name, " in the store"));
  }
  for (const Descriptor& d : index.manifests) {
    if (RefName(d) == name) return d;
  }
  return absl::NotFoundError(absl::StrCat("no image \"", name, "\" in the store"));
}

absl::Status Store::Tag(absl::string_view name, const Descriptor& desc) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalName(name, /*allow_digest=*/true));
  ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(name));
  if (ref.digest() && *ref.digest() != desc.digest) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", name, "\" names another digest than ", desc.digest.str()));
  }
  Descriptor d = desc;
  d.annotations.erase(oci::kAnnotationRefName);
  return layout_->Tag(canonical, std::move(d));
}

absl::Status Store::Untag(absl::string_view name) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalName(name, /*allow_digest=*/true));
  absl::Status s = layout_->Untag(canonical);
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(absl::StrCat("no image \"", canonical, "\" in the store"));
  }
  return s;
}

absl::StatusOr<std::vector<std::pair<std::string, Descriptor>>> Store::List() const {
  ASSIGN_OR_RETURN(oci::Index index, layout_->ReadIndex());
  std::vector<std::pair<std::string, Descriptor>> out;
  for (const Descriptor& d : index.manifests) out.emplace_back(RefName(d), d);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

absl::StatusOr<Store::Lock> Store::TakeLock(int operation) const {
  std::string path = absl::StrCat(root(), "/locks/gc.lock");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(absl::StrCat("open ", path));
  while (::flock(fd.get(), operation) != 0) {
    if (errno != EINTR) return ErrnoError(absl::StrCat("lock ", path));
  }
  return Lock(std::move(fd));
}

absl::StatusOr<Store::Lock> Store::LockShared() const { return TakeLock(LOCK_SH); }

absl::StatusOr<Store::Marks> Store::Mark(const oci::Index& index,
                                         const std::vector<BuildCache::Entry>& records) const {
  Marks m;
  for (const Descriptor& root : index.manifests) {
    ASSIGN_OR_RETURN_CTX(std::vector<Descriptor> reachable, CollectReachable(blobs(), root),
                         "image ", RefName(root), " (", root.digest.Short(), ")");
    for (const Descriptor& d : reachable) {
      if (!m.image_blobs.insert(d.digest).second) continue;
      // Configs name the DiffIDs whose snapshots stay; layers are never read here.
      if (d.media_type != oci::kOciConfig && d.media_type != oci::kDockerConfig) continue;
      auto bytes = blobs().ReadAll(d.digest, oci::kMaxConfigSize);
      if (!bytes.ok()) continue;
      auto config = oci::ImageConfig::Parse(*bytes);
      if (!config.ok()) continue;
      for (const Digest& diff_id : config->diff_ids) m.image_snapshots.insert(diff_id.hex());
    }
  }
  for (const BuildCache::Entry& r : records) {
    if (!r.record) continue;
    for (const oci::Descriptor& d : r.record->layers) m.cache_blobs.insert(d.digest);
    for (const Digest& id : r.record->diff_ids) m.cache_snapshots.insert(id.hex());
  }
  return m;
}

absl::StatusOr<Store::Usage> Store::DiskUsage() const {
  ASSIGN_OR_RETURN(oci::Index index, layout_->ReadIndex());
  ASSIGN_OR_RETURN(std::vector<BuildCache::Entry> records, BuildCache(root()).List());
  ASSIGN_OR_RETURN(Marks marks, Mark(index, records));
  Usage u;
  absl::flat_hash_set<Digest> roots;
  for (const Descriptor& d : index.manifests) roots.insert(d.digest);
  u.images.count = roots.size();
  u.build_cache.count = records.size();
  ASSIGN_OR_RETURN(std::vector<Digest> all, blobs().List());
  for (const Digest& d : all) {
    absl::StatusOr<uint64_t> size = blobs().Size(d);
    const uint64_t bytes = size.ok() ? *size : 0;
    if (marks.image_blobs.contains(d)) {
      u.images.bytes += bytes;
    } else if (marks.cache_blobs.contains(d)) {
      u.build_cache.bytes += bytes;  // only the build cache keeps it
      u.build_cache.reclaimable += bytes;
    } else {
      ++u.unused.count;
      u.unused.bytes += bytes;
      u.unused.reclaimable += bytes;
    }
  }
  const Snapshots snapshots(root());
  ASSIGN_OR_RETURN(std::vector<std::string> unpacked, ListDir(absl::StrCat(root(), "/snapshots")));
  for (const std::string& hex : unpacked) {
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
      continue;  // a writer's temporary directory
    }
    ++u.snapshots.count;
    const uint64_t bytes = DiskUsageOf(absl::StrCat(root(), "/snapshots/", hex));
    u.snapshots.bytes += bytes;
    if (!marks.image_snapshots.contains(hex)) u.snapshots.reclaimable += bytes;
  }
  ASSIGN_OR_RETURN(std::vector<std::string> mounts, ListDir(absl::StrCat(root(), "/cache-mounts")));
  for (const std::string& name : mounts) {
    ++u.cache_mounts.count;
    u.cache_mounts.bytes += DiskUsageOf(absl::StrCat(root(), "/cache-mounts/", name));
  }
  u.cache_mounts.reclaimable = u.cache_mounts.bytes;
  return u;
}

// Long by design: gc's phases in the one order that keeps the store consistent (mark from
// the images, the cache records, sweep blobs, drop stale records, snapshots, debris).
absl::StatusOr<Store::GcStats> Store::Gc(bool drop_build_cache) {
  ASSIGN_OR_RETURN(Lock lock, TakeLock(LOCK_EX));
  ASSIGN_OR_RETURN(oci::Index index, layout_->ReadIndex());
  GcStats stats;
  // What stays: every blob the named images reach, and the layers (and their snapshots) the
  // build cache records name, unless the build cache goes too.
  ASSIGN_OR_RETURN(std::vector<BuildCache::Entry> records, BuildCache(root()).List());
  ASSIGN_OR_RETURN(Marks marks, Mark(index, records));
  absl::flat_hash_set<Digest> live = std::move(marks.image_blobs);
  absl::flat_hash_set<std::string> wanted_snapshots = std::move(marks.image_snapshots);
  if (!drop_build_cache) {
    live.insert(marks.cache_blobs.begin(), marks.cache_blobs.end());
    wanted_snapshots.insert(marks.cache_snapshots.begin(), marks.cache_snapshots.end());
  }
  for (const BuildCache::Entry& r : records) {
    if (drop_build_cache || !r.record) {
      if (::unlink(r.path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove " + r.path);
      ++stats.removed_cache_records;
    }
  }
  ASSIGN_OR_RETURN(std::vector<Digest> all, blobs().List());
  for (const Digest& d : all) {
    if (live.contains(d)) {
      ++stats.kept_blobs;
      continue;
    }
    auto size = blobs().Size(d);
    RETURN_IF_ERROR(blobs().Remove(d));
    ::unlink(OriginsPath(d).c_str());  // where it was pulled from
    ++stats.removed_blobs;
    stats.removed_bytes += size.ok() ? *size : 0;
  }
  // Records whose layers are gone (removed by hand, or a damaged store) are misses anyway.
  for (const BuildCache::Entry& r : records) {
    if (drop_build_cache || !r.record) continue;
    if (std::all_of(r.record->layers.begin(), r.record->layers.end(),
                    [&](const oci::Descriptor& d) { return blobs().Has(d.digest); })) {
      continue;
    }
    if (::unlink(r.path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove " + r.path);
    ++stats.removed_cache_records;
  }
  // Origins of blobs no image refers to any more (remote layers among them) go too.
  if (absl::StatusOr<std::vector<std::string>> kept = ListDir(absl::StrCat(root(), "/origins"));
      kept.ok()) {
    for (const std::string& hex : *kept) {
      absl::StatusOr<Digest> d = Digest::Parse(absl::StrCat("sha256:", hex));
      if (d.ok() && (live.contains(*d) || blobs().Has(*d))) continue;
      ::unlink(absl::StrCat(root(), "/origins/", hex).c_str());
    }
  }
  ASSIGN_OR_RETURN(stats.removed_snapshots, Snapshots(root()).Prune(wanted_snapshots));
  // RUN --mount=type=cache directories belong to the build cache.
  if (drop_build_cache) RETURN_IF_ERROR(RemoveAll(absl::StrCat(root(), "/cache-mounts")));
  // Nothing can be ingesting or building while we hold the exclusive lock: what is left in
  // ingest/ and run/ is debris of processes that died.
  std::string ingest = absl::StrCat(root(), "/ingest");
  RETURN_IF_ERROR(RemoveAll(ingest));
  RETURN_IF_ERROR(MakeDirs(ingest));
  RETURN_IF_ERROR(RemoveAll(absl::StrCat(root(), "/run")));
  return stats;
}

absl::StatusOr<std::string> Store::RunDir() const {
  std::string dir = absl::StrCat(root(), "/run");
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  return dir;
}

std::string Store::CacheMountDir(absl::string_view key_hex) const {
  return absl::StrCat(root(), "/cache-mounts/", key_hex);
}

std::string Store::FileDigestsPath() const { return absl::StrCat(root(), "/file-digests"); }

std::string Store::OriginsPath(const oci::Digest& d) const {
  return absl::StrCat(root(), "/origins/", d.hex());
}

std::vector<std::string> Store::Origins(const oci::Digest& d) const {
  absl::StatusOr<std::string> text = ReadFile(OriginsPath(d), 64 << 10);
  if (!text.ok()) return {};
  return absl::StrSplit(*text, '\n', absl::SkipEmpty());
}

void Store::RecordOrigins(const oci::Digest& d, std::vector<std::string> add) const {
  std::vector<std::string> have = Origins(d);
  size_t before = have.size();
  for (std::string& o : add) {
    if (std::find(have.begin(), have.end(), o) == have.end()) have.push_back(std::move(o));
  }
  if (have.size() == before) return;
  if (have.size() > 16) have.erase(have.begin(), have.end() - 16);
  (void)MakeDirs(absl::StrCat(root(), "/origins"));
  (void)WriteFileAtomic(OriginsPath(d), absl::StrJoin(have, "\n") + "\n");
}

absl::StatusOr<Store::FsckReport> Store::Fsck() const {
  FsckReport report;
  ASSIGN_OR_RETURN(std::vector<Digest> all, blobs().List());
  absl::flat_hash_set<Digest> bad;
  for (const Digest& d : all) {
    ++report.blobs_checked;
    absl::Status s = blobs().Verify(d);
    if (!s.ok()) {
      report.problems.push_back(std::string(s.message()));
      bad.insert(d);
    }
  }
  auto index = layout_->ReadIndex();
  if (!index.ok()) {
    report.problems.push_back(std::string(index.status().message()));
    return report;
  }
  for (const Descriptor& root : index->manifests) {
    std::string who =
        absl::StrCat("image ", RefName(root).empty() ? root.digest.Short() : RefName(root));
    auto check = [&](const Descriptor& d) -> absl::Status {
      if (!blobs().Has(d.digest)) {
        if (!oci::IsManifestMediaType(d.media_type) && d.media_type != oci::kOciConfig &&
            d.media_type != oci::kDockerConfig && !Origins(d.digest).empty()) {
          ++report.remote_blobs;
          return absl::OkStatus();
        }
        return absl::NotFoundError(absl::StrCat("blob ", d.digest.str(), " is missing"));
      }
      if (bad.contains(d.digest)) {
        return absl::DataLossError(absl::StrCat("blob ", d.digest.str(), " is corrupt"));
      }
      ASSIGN_OR_RETURN(int64_t size, blobs().Size(d.digest));
      if (size != d.size) {
        return absl::DataLossError(absl::StrCat("blob ", d.digest.str(), " has ", size,
                                                " bytes, its descriptor says ", d.size));
      }
      if (oci::IsManifestMediaType(d.media_type)) {
        ASSIGN_OR_RETURN(std::string bytes, blobs().ReadAll(d.digest, oci::kMaxManifestSize));
        ASSIGN_OR_RETURN(oci::Manifest m, oci::Manifest::Parse(bytes));
        if (m.config.media_type == oci::kOciConfig || m.config.media_type == oci::kDockerConfig) {
          ASSIGN_OR_RETURN(std::string cbytes,
                           blobs().ReadAll(m.config.digest, oci::kMaxConfigSize));
          ASSIGN_OR_RETURN(oci::ImageConfig config, oci::ImageConfig::Parse(cbytes));
          if (config.diff_ids.size() != m.layers.size()) {
            return absl::DataLossError(
                absl::StrCat("manifest ", d.digest.str(), " has ", m.layers.size(),
                             " layers but its config lists ", config.diff_ids.size(), " DiffIDs"));
          }
        }
      }
      return absl::OkStatus();
    };
    auto reachable = CollectReachable(blobs(), root);
    if (!reachable.ok()) {
      report.problems.push_back(absl::StrCat(who, ": ", reachable.status().message()));
      continue;
    }
    for (const Descriptor& d : *reachable) {
      absl::Status s = check(d);
      if (!s.ok()) report.problems.push_back(absl::StrCat(who, ": ", s.message()));
    }
  }
  return report;
}

}  // namespace kiln::layers
