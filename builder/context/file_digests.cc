#include "builder/context/file_digests.h"

#include <time.h>

#include <cstring>

#include "absl/strings/match.h"
#include "base/file_util.h"

namespace kiln::builder::context {
namespace {

constexpr absl::string_view kMagic = "kiln-file-digests-v1\n";
constexpr size_t kDigestText = 71;  // "sha256:" + 64 hex digits
constexpr size_t kRecord = 5 * sizeof(uint64_t) + kDigestText;

int64_t Nanos(const struct timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

}  // namespace

FileDigests::Key FileDigests::KeyOf(const struct stat& st) {
  return {st.st_dev, st.st_ino, static_cast<uint64_t>(st.st_size), Nanos(st.st_mtim),
          Nanos(st.st_ctim)};
}

FileDigests FileDigests::Load(const std::string& path) {
  FileDigests cache;
  auto data = ReadFile(path, kMagic.size() + kRecord * kMaxEntries);
  if (!data.ok() || !absl::StartsWith(*data, kMagic) ||
      (data->size() - kMagic.size()) % kRecord != 0) {
    return cache;
  }
  for (size_t at = kMagic.size(); at < data->size(); at += kRecord) {
    uint64_t f[5];
    std::memcpy(f, data->data() + at, sizeof f);
    auto digest = oci::Digest::Parse(absl::string_view(data->data() + at + sizeof f, kDigestText));
    if (!digest.ok()) return FileDigests();  // damaged: start over
    cache.entries_[Key{f[0], f[1], f[2], static_cast<int64_t>(f[3]), static_cast<int64_t>(f[4])}] =
        Value{*std::move(digest), false};
  }
  return cache;
}

absl::Status FileDigests::Save(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!changed_) return absl::OkStatus();
  std::string out(kMagic);
  out.reserve(kMagic.size() + entries_.size() * kRecord);
  size_t n = 0;
  for (bool used : {true, false}) {
    for (const auto& [key, value] : entries_) {
      if (value.used != used || value.digest.str().size() != kDigestText) continue;
      if (++n > kMaxEntries) break;
      uint64_t f[5] = {std::get<0>(key), std::get<1>(key), std::get<2>(key),
                       static_cast<uint64_t>(std::get<3>(key)),
                       static_cast<uint64_t>(std::get<4>(key))};
      out.append(reinterpret_cast<const char*>(f), sizeof f);
      out.append(value.digest.str());
    }
  }
  return WriteFileAtomic(path, out, 0600);
}

std::optional<oci::Digest> FileDigests::Find(const struct stat& st) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(KeyOf(st));
  if (it == entries_.end()) return std::nullopt;
  it->second.used = true;
  return it->second.digest;
}

void FileDigests::Remember(const struct stat& st, const oci::Digest& digest,
                           const struct timespec& read_started) {
  if (Nanos(st.st_ctim) > Nanos(read_started) - 1'000'000'000) return;  // too fresh to trust
  std::lock_guard<std::mutex> lock(mu_);
  entries_[KeyOf(st)] = Value{digest, true};
  changed_ = true;
}

void FileDigests::Relink(const struct stat& before, const struct stat& after) {
  if (before.st_dev != after.st_dev || before.st_ino != after.st_ino ||
      before.st_size != after.st_size || Nanos(before.st_mtim) != Nanos(after.st_mtim)) {
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(KeyOf(before));
  if (it == entries_.end()) return;
  Value v = it->second;
  v.used = true;
  entries_[KeyOf(after)] = v;
  changed_ = true;
}

size_t FileDigests::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace kiln::builder::context
