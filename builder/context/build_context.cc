#include "builder/context/build_context.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/glob.h"
#include "base/in_root.h"
#include "base/status_macros.h"

namespace kiln::builder::context {
namespace {

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() || dir == "." ? name : absl::StrCat(dir, "/", name);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BuildContext>> BuildContext::Open(const std::string& dir,
                                                                 const std::string& dockerfile) {
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError(absl::StrCat("build context ", dir));
  std::string ignore_file = absl::StrCat(dir, "/.dockerignore");
  if (!dockerfile.empty() && PathExists(absl::StrCat(dockerfile, ".dockerignore"))) {
    ignore_file = absl::StrCat(dockerfile, ".dockerignore");
  }
  DockerIgnore ignore;
  if (PathExists(ignore_file)) {
    ASSIGN_OR_RETURN(std::string content, ReadFile(ignore_file, 1 << 20));
    ASSIGN_OR_RETURN(ignore, DockerIgnore::Parse(content, ignore_file));
  }
  return std::unique_ptr<BuildContext>(new BuildContext(dir, std::move(root), std::move(ignore)));
}

absl::StatusOr<std::unique_ptr<BuildContext>> BuildContext::OpenWithoutIgnore(
    const std::string& dir) {
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError(absl::StrCat("open ", dir));
  return std::unique_ptr<BuildContext>(new BuildContext(dir, std::move(root), DockerIgnore()));
}

// Lists `dirfd` (logical path `rel`, its real place in the context `physical`) recursively.
absl::Status BuildContext::Walk(int dirfd, const std::string& rel, const std::string& physical,
                                std::vector<ContextEntry>* out) const {
  UniqueFd dup(::fcntl(dirfd, F_DUPFD_CLOEXEC, 3));
  DIR* d = ::fdopendir(dup.get());
  if (d == nullptr) return ErrnoError(absl::StrCat("list ", rel));
  dup.Release();
  ::rewinddir(d);  // the duplicate shares its offset with `dirfd`, which may have been read
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    absl::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string path = Join(rel, name);
    std::string real = Join(physical, name);
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(absl::StrCat("stat ", path));
    }
    bool excluded = ignore_.Excluded(real);
    if (excluded && !(S_ISDIR(st.st_mode) && ignore_.MayIncludeBelow(real))) continue;
    if (out->size() >= kMaxContextEntries) {
      return absl::ResourceExhaustedError(
          absl::StrCat("build context has more than ", kMaxContextEntries, " entries"));
    }
    size_t index = out->size();
    if (!excluded) {
      ContextEntry e{path, st.st_mode, S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0,
                     ""};
      if (S_ISLNK(st.st_mode)) {
        std::string target(4096, '\0');
        ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
        if (n < 0) return ErrnoError(absl::StrCat("readlink ", path));
        target.resize(n);
        e.link_target = std::move(target);
      }
      out->push_back(std::move(e));
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) return ErrnoError(absl::StrCat("open ", path));
      size_t before = out->size();
      RETURN_IF_ERROR(Walk(sub.get(), path, real, out));
      if (excluded && out->size() > before) {
        // An excluded directory kept for an exception below it still appears as a directory.
        out->insert(out->begin() + index, ContextEntry{path, st.st_mode, 0, ""});
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ContextEntry>> BuildContext::Select(absl::string_view source) const {
  std::string cleaned = CleanPath(source);
  if (cleaned == ".." || absl::StartsWith(cleaned, "../")) {
    return absl::InvalidArgumentError(
        absl::StrCat("forbidden path outside the build context: ", source));
  }
  std::vector<ContextEntry> out;
  if (HasGlobMeta(cleaned)) {
    std::vector<ContextEntry> all;
    RETURN_IF_ERROR(Walk(root_.get(), "", "", &all));
    std::string selected_dir;  // a matched directory: everything below it is selected too
    for (ContextEntry& e : all) {
      if (!selected_dir.empty() && absl::StartsWith(e.path, selected_dir + "/")) {
        out.push_back(std::move(e));
        continue;
      }
      selected_dir.clear();
      auto m = GlobMatch(cleaned, e.path, /*path_mode=*/true);
      if (!m.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("source ", source, ": ", m.status().message()));
      }
      if (!*m) continue;
      if (S_ISDIR(e.mode)) selected_dir = e.path;
      out.push_back(std::move(e));
    }
    if (out.empty()) {
      return absl::NotFoundError(
          absl::StrCat("\"", source, "\": no file in the build context matches"));
    }
    return out;
  }
  if (cleaned != "." && ignore_.Excluded(cleaned)) {
    return absl::NotFoundError(
        absl::StrCat("\"", source, "\": not found (excluded by .dockerignore)"));
  }
  // Follows symlinks, but only inside the context.
  auto fd = OpenInRoot(root_.get(), cleaned, O_PATH);
  if (!fd.ok()) {
    if (absl::IsNotFound(fd.status())) {
      return absl::NotFoundError(absl::StrCat("\"", source, "\": not found in the build context"));
    }
    return fd.status();
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoError(absl::StrCat("stat ", source));
  out.push_back(ContextEntry{cleaned, st.st_mode,
                             S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0, ""});
  if (S_ISDIR(st.st_mode)) {
    UniqueFd dir(::openat(fd->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return ErrnoError(absl::StrCat("open ", source));
    RETURN_IF_ERROR(
        Walk(dir.get(), cleaned == "." ? "" : cleaned, cleaned == "." ? "" : cleaned, &out));
    if (cleaned == ".") out.erase(out.begin());
  }
  return out;
}

absl::StatusOr<UniqueFd> BuildContext::OpenEntry(const ContextEntry& entry) const {
  return OpenInRoot(root_.get(), entry.path, O_RDONLY);
}

absl::StatusOr<oci::Digest> BuildContext::DigestOf(const std::vector<std::string>& sources) const {
  oci::Sha256 total;
  std::vector<char> buf(1 << 20);
  for (const std::string& source : sources) {
    ASSIGN_OR_RETURN(std::vector<ContextEntry> entries, Select(source));
    total.Update(absl::StrCat("source ", source, "\n"));
    for (const ContextEntry& e : entries) {
      constexpr absl::string_view kSep("\0", 1);
      total.Update(absl::StrCat(e.path, kSep, e.mode, kSep, e.size, kSep, e.link_target, kSep));
      if (!S_ISREG(e.mode)) continue;
      ASSIGN_OR_RETURN(UniqueFd fd, OpenInRoot(root_.get(), e.path, O_RDONLY));
      oci::Sha256 file;
      while (true) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) return ErrnoError(absl::StrCat("read ", e.path));
        if (n == 0) break;
        file.Update(absl::string_view(buf.data(), n));
      }
      total.Update(file.Finish().str());
      total.Update("\n");
    }
  }
  return total.Finish();
}

}  // namespace kiln::builder::context
