#include "builder/context/build_context.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

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
  auto context =
      std::unique_ptr<BuildContext>(new BuildContext(dir, std::move(root), DockerIgnore()));
  context->name_ = "--from source";
  return context;
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
      ContextEntry e{
          path,      st.st_mode, S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0,
          "",        st.st_uid,  st.st_gid,
          st.st_ino, st.st_nlink};
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
        out->insert(out->begin() + index,
                    ContextEntry{path, st.st_mode, 0, "", st.st_uid, st.st_gid});
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ContextEntry>> BuildContext::Select(absl::string_view source) const {
  std::string cleaned = CleanPath(source);
  if (cleaned == ".." || absl::StartsWith(cleaned, "../")) {
    return absl::InvalidArgumentError(
        absl::StrCat("forbidden path outside the ", name_, ": ", source));
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
      if (S_ISLNK(e.mode)) {
        // A match that is a symlink stands for what it points to, as a named path does.
        ASSIGN_OR_RETURN(std::vector<ContextEntry> followed, SelectPath(e.path, e.path));
        for (ContextEntry& f : followed) out.push_back(std::move(f));
        continue;
      }
      if (S_ISDIR(e.mode)) selected_dir = e.path;
      out.push_back(std::move(e));
    }
    return out;
  }
  return SelectPath(cleaned, source);
}

absl::StatusOr<std::vector<ContextEntry>> BuildContext::SelectPath(const std::string& cleaned,
                                                                   absl::string_view source) const {
  std::vector<ContextEntry> out;
  if (cleaned != "." && ignore_.Excluded(cleaned)) {
    return absl::NotFoundError(
        absl::StrCat("\"/", cleaned, "\": not found (excluded by .dockerignore)"));
  }
  // Follows symlinks, but only inside the context.
  auto fd = OpenInRoot(root_.get(), cleaned, O_PATH);
  if (!fd.ok()) {
    if (absl::IsNotFound(fd.status())) {
      return absl::NotFoundError(absl::StrCat("\"/", cleaned, "\": not found in the ", name_));
    }
    return fd.status();
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoError(absl::StrCat("stat ", source));
  out.push_back(ContextEntry{cleaned, st.st_mode,
                             S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0, "",
                             st.st_uid, st.st_gid, st.st_ino, st.st_nlink});
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

// Long by design: the walk, the stat-keyed digest cache and the hashed record format belong
// together: the record format is the cache key.
absl::StatusOr<oci::Digest> BuildContext::DigestOf(const std::vector<std::string>& sources,
                                                   FileDigests* known) const {
  struct Source {
    std::string name;
    std::vector<ContextEntry> entries;
  };
  std::vector<Source> selected;
  std::vector<const ContextEntry*> files;
  for (const std::string& source : sources) {
    ASSIGN_OR_RETURN(std::vector<ContextEntry> entries, Select(source));
    selected.push_back({source, std::move(entries)});
  }
  for (const Source& s : selected) {
    for (const ContextEntry& e : s.entries) {
      if (S_ISREG(e.mode)) files.push_back(&e);
    }
  }
  // The files' own digests, in parallel (each worker takes the next file).
  struct timespec started;
  clock_gettime(CLOCK_REALTIME, &started);
  std::vector<oci::Digest> digests(files.size());
  std::vector<absl::Status> errors(files.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::vector<char> buf(1 << 20);
    for (size_t i = next++; i < files.size(); i = next++) {
      errors[i] = [&]() -> absl::Status {
        const ContextEntry& e = *files[i];
        ASSIGN_OR_RETURN(UniqueFd fd, OpenInRoot(root_.get(), e.path, O_RDONLY));
        struct stat st;
        if (::fstat(fd.get(), &st) != 0) return ErrnoError(absl::StrCat("stat ", e.path));
        if (known != nullptr) {
          if (auto d = known->Find(st); d) {
            digests[i] = *d;
            return absl::OkStatus();
          }
        }
        oci::Sha256 file;
        while (true) {
          ssize_t n = ::read(fd.get(), buf.data(), buf.size());
          if (n < 0) return ErrnoError(absl::StrCat("read ", e.path));
          if (n == 0) break;
          file.Update(absl::string_view(buf.data(), n));
        }
        digests[i] = file.Finish();
        if (known != nullptr) known->Remember(st, digests[i], started);
        return absl::OkStatus();
      }();
    }
  };
  size_t workers = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 4);
  workers = std::min(workers, files.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers; ++i) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : errors) RETURN_IF_ERROR(s);

  oci::Sha256 total;
  size_t file = 0;
  for (const Source& s : selected) {
    total.Update(absl::StrCat("source ", s.name, "\n"));
    for (const ContextEntry& e : s.entries) {
      constexpr absl::string_view kSep("\0", 1);
      total.Update(absl::StrCat(e.path, kSep, e.mode, kSep, e.size, kSep, e.link_target, kSep));
      if (!S_ISREG(e.mode)) continue;
      total.Update(digests[file++].str());
      total.Update("\n");
    }
  }
  return total.Finish();
}

}  // namespace kiln::builder::context
