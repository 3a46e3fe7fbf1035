// The build context: a directory whose files COPY and ADD may read, minus what .dockerignore
// (or the Dockerfile's own "<Dockerfile>.dockerignore") excludes. Sources are resolved inside
// the context only: ".." that would leave it is an error, and symlinks are followed as if the
// context were "/" (openat2 RESOLVE_IN_ROOT), never out of it.
// Immutable after Open; thread-compatible.
#ifndef KILN_BUILDER_CONTEXT_BUILD_CONTEXT_H_
#define KILN_BUILDER_CONTEXT_BUILD_CONTEXT_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "builder/context/dockerignore.h"
#include "builder/context/file_digests.h"
#include "oci/digest.h"

namespace kiln::builder::context {

inline constexpr size_t kMaxContextEntries = 2'000'000;

struct ContextEntry {
  std::string path;         // relative to the context ("." for the context itself)
  mode_t mode = 0;          // type and permission bits
  uint64_t size = 0;        // regular files
  std::string link_target;  // symlinks inside a selected directory
  uid_t uid = 0;            // the owner, which COPY --from keeps
  gid_t gid = 0;
  ino_t ino = 0;  // with nlink: regular files linked more than once
  nlink_t nlink = 1;
};

class BuildContext {
 public:
  // Opens `dir`. The ignore file is "<dockerfile>.dockerignore" when `dockerfile` is given
  // and that file exists, else "<dir>/.dockerignore" if present.
  static absl::StatusOr<std::unique_ptr<BuildContext>> Open(const std::string& dir,
                                                            const std::string& dockerfile = "");
  // A directory that is not a build context (a stage's root filesystem): nothing is ignored.
  static absl::StatusOr<std::unique_ptr<BuildContext>> OpenWithoutIgnore(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const DockerIgnore& ignore() const { return ignore_; }

  // What a COPY/ADD source selects: the named file, or a directory and everything below it
  // that is not excluded; a source with wildcards (Go's filepath.Match, per segment) selects
  // every path that matches (none is not an error, as in BuildKit). The named path and each
  // match are followed if they are symlinks (inside the context); symlinks below a selected
  // directory are kept. Entries are sorted by path. NotFound when a plain path is missing.
  absl::StatusOr<std::vector<ContextEntry>> Select(absl::string_view source) const;

  // Opens a selected regular file for reading (resolved inside the context).
  absl::StatusOr<UniqueFd> OpenEntry(const ContextEntry& entry) const;

  // A digest of what `sources` select: paths, types, modes, sizes, file contents and link
  // targets. It changes iff something a COPY of these sources would copy changes.
  // Files are hashed in parallel; `known` (optional) supplies and learns file digests.
  absl::StatusOr<oci::Digest> DigestOf(const std::vector<std::string>& sources,
                                       FileDigests* known = nullptr) const;

 private:
  BuildContext(std::string dir, UniqueFd root, DockerIgnore ignore)
      : dir_(std::move(dir)), root_(std::move(root)), ignore_(std::move(ignore)) {}
  absl::Status Walk(int dirfd, const std::string& rel, const std::string& physical,
                    std::vector<ContextEntry>* out) const;
  // A plain (cleaned) path, followed if it is a symlink, and what is below it.
  absl::StatusOr<std::vector<ContextEntry>> SelectPath(const std::string& cleaned,
                                                       absl::string_view source) const;
  std::string dir_;
  UniqueFd root_;
  DockerIgnore ignore_;
  std::string name_ = "build context";  // what errors call it
};

}  // namespace kiln::builder::context

#endif  // KILN_BUILDER_CONTEXT_BUILD_CONTEXT_H_
