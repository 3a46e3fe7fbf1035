// Writes COPY and ADD results (and WORKDIR's directories) into a step's diff directory, the
// tree a layer is made from. Destinations are placed where the image has them: symlinks in
// the image are followed (a file for /bin/x lands in /usr/bin/x when /bin links to usr/bin),
// staying inside its root, and parent directories the image has keep its modes and owners in
// the diff. A file where a directory must be is an error, as in BuildKit. Thread-compatible.
#ifndef KILN_BUILDER_DIFF_WRITER_H_
#define KILN_BUILDER_DIFF_WRITER_H_

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "builder/context/build_context.h"
#include "builder/dockerfile/file_mode.h"
#include "builder/layered_fs.h"
#include "builder/user.h"

namespace kiln::builder {

class DiffWriter {
 public:
  struct Options {
    std::string diff;                   // the diff directory (exists)
    std::optional<ResolvedUser> owner;  // --chown; else root, or the source's (keep_owners)
    std::optional<dockerfile::FileMode> chmod;
    bool keep_owners = false;          // copied entries keep their own owners (COPY --from)
    const LayeredFs* image = nullptr;  // the layers below the step (not owned)
  };
  explicit DiffWriter(Options options) : o_(std::move(options)) {}

  const std::string& diff() const { return o_.diff; }
  // The same writer with entries keeping their owners (an archive ADD unpacks).
  DiffWriter KeepingOwners() const;

  // Where `target` (an absolute image path) goes, from the diff's root.
  absl::StatusOr<std::string> Place(const std::string& target, bool is_dir) const;
  // Creates the missing parents of `placed` (a placed path) in the diff: as the image has
  // them, else owned like the copied files (an octal --chmod gives their mode too).
  absl::Status Parents(const std::string& placed) const;

  // A directory at `target`: one the image already has keeps its mode and owner (it is
  // copied into, not replaced); a new one gets `mode` (or --chmod) and the owner --chown
  // names, else the source entry's (`source`, when kept) or root.
  absl::Status MakeDir(const std::string& target, mode_t mode, bool keep_source_owner,
                       const context::ContextEntry* source = nullptr) const;
  absl::Status WriteData(const std::string& target, const std::string& data, mode_t mode) const;
  // Copies a file outside the context (a download, which may serve other stages too).
  absl::Status CopyFile(const std::string& target, const std::string& from, mode_t mode,
                        std::optional<int64_t> mtime) const;
  // Copies an entry of `ctx` (directory, file, symlink; a socket becomes an empty file;
  // devices and fifos are skipped), keeping its modification time.
  absl::Status CopyEntry(const context::BuildContext& ctx, const context::ContextEntry& e,
                         const std::string& target) const;

  // Context files hard-linked into the diff instead of copied: their paths and stat data
  // before the link (linking changes their ctime).
  const std::vector<std::pair<std::string, struct stat>>& linked_files() const {
    return linked_files_;
  }

 private:
  struct Dir {
    std::string path;  // in the image, symlinks followed
    bool in_image;     // exists there as a directory
  };
  absl::StatusOr<Dir> PlaceDir(const std::string& dir) const;
  absl::Status Own(const std::string& path) const { return OwnAs(path, o_.owner); }
  absl::Status OwnEntry(const std::string& path, const context::ContextEntry& e) const;
  absl::Status OwnAs(const std::string& path, const std::optional<ResolvedUser>& who) const;
  mode_t ModeOf(mode_t own, bool is_dir) const;
  bool LinkInstead(int fd, const struct stat& st, const std::string& source_path,
                   const std::string& path) const;

  Options o_;
  mutable std::map<std::string, Dir> dirs_;
  mutable absl::flat_hash_set<std::pair<dev_t, ino_t>> linked_;  // see LinkInstead
  mutable std::vector<std::pair<std::string, struct stat>> linked_files_;
};

}  // namespace kiln::builder

#endif  // KILN_BUILDER_DIFF_WRITER_H_
