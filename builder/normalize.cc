#include "builder/normalize.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/file_util.h"
#include "base/in_root.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "builder/layered_fs.h"

namespace kiln::builder {
namespace {

// Larger files than this are left as they are (no log or script archive comes near it).
constexpr size_t kMaxNormalizedFile = 64 << 20;

enum class Kind {
  kDropCache,  // rebuilt on demand: removed, hidden below with a whiteout
  kDropTree,   // a cache directory: removed, hidden below with a whiteout
  kLogTimes,   // the step's lines keep their text, their dates become the source date
  kTarTimes,   // a tar archive whose members' mtimes are clamped
};

struct Rule {
  const char* path;  // relative to the root
  Kind kind;
};

// The list design.md gives, with why each is safe.
constexpr Rule kRules[] = {
    {"var/cache/apt/pkgcache.bin", Kind::kDropCache},
    {"var/cache/apt/srcpkgcache.bin", Kind::kDropCache},
    {"var/cache/ldconfig/aux-cache", Kind::kDropCache},
    {"var/log/dpkg.log", Kind::kLogTimes},
    {"var/log/alternatives.log", Kind::kLogTimes},
    {"var/log/apt/history.log", Kind::kLogTimes},
    {"var/log/apt/term.log", Kind::kLogTimes},
    {"root/.cache/pip", Kind::kDropTree},
    {"lib/apk/db/scripts.tar", Kind::kTarTimes},
};

const char* WhatOf(Kind kind) {
  switch (kind) {
    case Kind::kDropCache:
    case Kind::kDropTree:
      return "dropped";
    case Kind::kLogTimes:
      return "log times";
    case Kind::kTarTimes:
      return "archive times";
  }
  return "";
}

// The upper directory's directory `rel` ("var/cache/apt"), each component opened without
// following symlinks; invalid when one is missing or not a directory.
UniqueFd OpenParent(int root, absl::string_view rel) {
  UniqueFd cur(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  for (absl::string_view part : absl::StrSplit(rel, '/', absl::SkipEmpty())) {
    UniqueFd next(::openat(cur.get(), std::string(part).c_str(),
                           O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return UniqueFd();
    cur = std::move(next);
  }
  return cur;
}

absl::StatusOr<std::string> ReadAt(int dir, const std::string& name) {
  UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + name);
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read " + name);
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

// Rewrites the file in place: its owner, mode and extended attributes stay.
absl::Status WriteAt(int dir, const std::string& name, absl::string_view data) {
  UniqueFd fd(::openat(dir, name.c_str(), O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + name);
  return WriteAll(fd.get(), data);
}

// Removes `name` and, when the image below has the path, puts a whiteout in its place (made
// beside it, then renamed over it, so a failure leaves the step's file as it was).
absl::Status DropAt(int dir, const std::string& name, bool hide_below) {
  if (hide_below) {
    std::string tmp = ".kiln-whiteout-" + name;
    (void)::unlinkat(dir, tmp.c_str(), 0);
    if (::mknodat(dir, tmp.c_str(), S_IFCHR | 0000, ::makedev(0, 0)) != 0) {
      return ErrnoError("whiteout " + name);
    }
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      RETURN_IF_ERROR(RemoveAllAt(dir, name));
    }
    if (::renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) {
      int err = errno;
      (void)::unlinkat(dir, tmp.c_str(), 0);
      return ErrnoError("whiteout " + name, err);
    }
    return absl::OkStatus();
  }
  return RemoveAllAt(dir, name);
}

ssize_t AppendToString(struct archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<ssize_t>(n);
}

struct ArchiveReadFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};

// One rule on the path `rel` (relative, its parents real directories). Returns whether it
// changed anything.
absl::StatusOr<bool> Apply(int root, const std::string& rel, const Rule& rule,
                           const LayeredFs& lower, int64_t source_date_epoch) {
  const std::string name = Basename(rel);
  UniqueFd dir = OpenParent(root, rel.find('/') == std::string::npos ? "" : Dirname(rel));
  if (!dir.valid()) return false;
  struct stat st;
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  const bool below = lower.Lookup("/" + rel).has_value();
  if (rule.kind == Kind::kDropTree) {
    if (!S_ISDIR(st.st_mode)) return false;
    RETURN_IF_ERROR(DropAt(dir.get(), name, below));
    return true;
  }
  if (!S_ISREG(st.st_mode)) return false;
  switch (rule.kind) {
    case Kind::kDropCache:
      RETURN_IF_ERROR(DropAt(dir.get(), name, below));
      return true;
    case Kind::kLogTimes: {
      if (static_cast<size_t>(st.st_size) > kMaxNormalizedFile) return false;
      ASSIGN_OR_RETURN(std::string text, ReadAt(dir.get(), name));
      // Only what the step appended: the lines below are the image's and stay as they are.
      std::optional<std::string> before =
          below ? lower.ReadFile("/" + rel, kMaxNormalizedFile) : std::nullopt;
      size_t keep = before && absl::StartsWith(text, *before) ? before->size() : 0;
      std::string out =
          text.substr(0, keep) + ReplaceLogTimes(text.substr(keep), source_date_epoch);
      if (out == text) return false;
      RETURN_IF_ERROR(WriteAt(dir.get(), name, out));
      return true;
    }
    case Kind::kTarTimes: {
      if (static_cast<size_t>(st.st_size) > kMaxNormalizedFile) return false;
      ASSIGN_OR_RETURN(std::string tar, ReadAt(dir.get(), name));
      absl::StatusOr<std::string> out = ClampTarTimes(tar, source_date_epoch);
      if (!out.ok() || *out == tar) return false;  // not an archive: left as it is
      RETURN_IF_ERROR(WriteAt(dir.get(), name, *out));
      return true;
    }
    case Kind::kDropTree:
      break;
  }
  return false;
}

bool IsDigits(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::string ReplaceLogTimes(const std::string& text, int64_t source_date_epoch) {
  const absl::Time t = absl::FromUnixSeconds(source_date_epoch);
  const std::string date = absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone());
  const std::string time = absl::FormatTime("%H:%M:%S", t, absl::UTCTimeZone());
  std::string out = text;
  // YYYY-MM-DD, then one or more spaces or a 'T', then HH:MM:SS.
  for (size_t i = 0; i + 19 <= out.size(); ++i) {
    absl::string_view s(out);
    if (!IsDigits(s.substr(i, 4)) || s[i + 4] != '-' || !IsDigits(s.substr(i + 5, 2)) ||
        s[i + 7] != '-' || !IsDigits(s.substr(i + 8, 2))) {
      continue;
    }
    size_t j = i + 10;
    if (j < s.size() && s[j] == 'T') {
      ++j;
    } else {
      while (j < s.size() && s[j] == ' ') ++j;
      if (j == i + 10) continue;
    }
    if (j + 8 > s.size() || !IsDigits(s.substr(j, 2)) || s[j + 2] != ':' ||
        !IsDigits(s.substr(j + 3, 2)) || s[j + 5] != ':' || !IsDigits(s.substr(j + 6, 2))) {
      continue;
    }
    out.replace(i, 10, date);
    out.replace(j, 8, time);
    i = j + 7;
  }
  return out;
}

absl::StatusOr<std::string> ClampTarTimes(const std::string& tar, int64_t source_date_epoch) {
  std::unique_ptr<struct archive, ArchiveReadFree> r(archive_read_new());
  archive_read_support_format_tar(r.get());
  if (archive_read_open_memory(r.get(), tar.data(), tar.size()) != ARCHIVE_OK) {
    return absl::InvalidArgumentError(archive_error_string(r.get()));
  }
  std::string out;
  std::unique_ptr<struct archive, ArchiveWriteFree> w;
  struct archive_entry* entry;
  int rc;
  while ((rc = archive_read_next_header(r.get(), &entry)) == ARCHIVE_OK) {
    if (!w) {
      // The archive's own format, known once its first header is read.
      w.reset(archive_write_new());
      if (archive_write_set_format(w.get(), archive_format(r.get())) != ARCHIVE_OK ||
          archive_write_set_bytes_in_last_block(w.get(), 1) != ARCHIVE_OK ||
          archive_write_open(w.get(), &out, nullptr, AppendToString, nullptr) != ARCHIVE_OK) {
        return absl::InvalidArgumentError(archive_error_string(w.get()));
      }
    }
    if (archive_entry_mtime(entry) > source_date_epoch) {
      archive_entry_set_mtime(entry, source_date_epoch, 0);
    }
    if (archive_entry_atime_is_set(entry) && archive_entry_atime(entry) > source_date_epoch) {
      archive_entry_set_atime(entry, source_date_epoch, 0);
    }
    if (archive_entry_ctime_is_set(entry) && archive_entry_ctime(entry) > source_date_epoch) {
      archive_entry_set_ctime(entry, source_date_epoch, 0);
    }
    if (archive_write_header(w.get(), entry) != ARCHIVE_OK) {
      return absl::InvalidArgumentError(archive_error_string(w.get()));
    }
    const void* buf;
    size_t size;
    int64_t offset;
    while ((rc = archive_read_data_block(r.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
      if (archive_write_data(w.get(), buf, size) < 0) {
        return absl::InvalidArgumentError(archive_error_string(w.get()));
      }
    }
    if (rc != ARCHIVE_EOF) return absl::InvalidArgumentError(archive_error_string(r.get()));
  }
  if (rc != ARCHIVE_EOF) return absl::InvalidArgumentError(archive_error_string(r.get()));
  if (!w) return absl::InvalidArgumentError("an empty archive");
  if (archive_write_close(w.get()) != ARCHIVE_OK) {
    return absl::InvalidArgumentError(archive_error_string(w.get()));
  }
  return out;
}

absl::StatusOr<std::vector<Normalized>> NormalizeRunDiff(const std::string& upper,
                                                         const std::vector<std::string>& lower_dirs,
                                                         int64_t source_date_epoch) {
  UniqueFd root(::open(upper.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError("open " + upper);
  const LayeredFs lower(lower_dirs);
  std::vector<std::string> stack = {upper};
  stack.insert(stack.end(), lower_dirs.begin(), lower_dirs.end());
  const LayeredFs after(std::move(stack));
  std::vector<Normalized> changes;
  for (const Rule& rule : kRules) {
    // Where the path really is once the step is done (/lib is /usr/lib in a merged-/usr
    // image), its directories' symlinks followed inside the root.
    ASSIGN_OR_RETURN_CTX(std::string path,
                         after.Resolve(absl::StrCat("/", rule.path), /*follow_last=*/false),
                         "normalizing /", rule.path);
    ASSIGN_OR_RETURN_CTX(bool changed,
                         Apply(root.get(), path.substr(1), rule, lower, source_date_epoch),
                         "normalizing ", path);
    if (changed) changes.push_back({path, WhatOf(rule.kind)});
  }
  return changes;
}

std::string NormalizedSummary(const std::vector<Normalized>& changes) {
  if (changes.empty()) return "";
  std::vector<std::string> parts;
  for (const Normalized& n : changes) parts.push_back(absl::StrCat(n.path, " (", n.what, ")"));
  return absl::StrCat("normalized ", changes.size(),
                      changes.size() == 1 ? " file: " : " files: ", absl::StrJoin(parts, ", "));
}

}  // namespace kiln::builder
