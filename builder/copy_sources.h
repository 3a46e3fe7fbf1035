// Which entries a COPY or ADD source selects from its context (the build context, a stage's or
// an image's root, an unpacked archive) and where each goes: the source-selection rules of
// BuildKit, as a pure function of the entries `BuildContext::Select` listed. The step then
// performs the actions in order (copy the entry, make the directory, unpack an archive).
#ifndef KILN_BUILDER_COPY_SOURCES_H_
#define KILN_BUILDER_COPY_SOURCES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "builder/context/build_context.h"
#include "builder/context/dockerignore.h"

namespace kiln::builder {

struct CopyAction {
  enum class Kind {
    kEntry,      // copy `entry` to `target`
    kTopFile,    // a file the source names (or a wildcard matched) itself: copied to `target`,
                 // or, for ADD, unpacked into the destination when it is an archive
    kMakeDir,    // make the directory `target` (a copied directory's destination)
    kEnsureDir,  // make `target` unless the image has it (nothing matched, BuildKit still
                 // makes the destination)
  };
  Kind kind = Kind::kEntry;
  const context::ContextEntry* entry = nullptr;  // into the entries given
  std::string target;                            // an absolute path in the image
};

// A source of COPY SRC... DEST (`dest` absolute and clean): `entries` are what `source` selected
// (each match followed by what is below it). A directory's contents go into `dest`; a file goes to
// `dest`, or into it when `dest_is_dir`. A wildcard matching one thing copies it as if named;
// matching several makes `dest` a directory. `exclude` (--exclude, .dockerignore syntax) matches a
// path relative to the source's directory part before any wildcard, or relative to the directory
// being copied; an excluded directory excludes what is below it.
std::vector<CopyAction> SelectCopies(const std::vector<context::ContextEntry>& entries,
                                     const std::string& source, const std::string& dest,
                                     bool dest_is_dir, const context::DockerIgnore* exclude);

// COPY --parents SOURCE DEST, as BuildKit has it: the part of SOURCE before a "/./" pivot (the
// context root without one) names the directories (a wildcard may match several, or none)
// whose contents are copied; the rest is a pattern (.dockerignore syntax, `**` too) of the
// paths below it that are, each landing at DEST/<its path below the pivot> after its parent
// directories as the source has them. `entries` are what the part before the pivot selected
// (`ParentsBase`). Without wildcards, the path must exist (NotFound).
std::string ParentsBase(const std::string& source);
absl::StatusOr<std::vector<CopyAction>> SelectParentsCopies(
    const std::vector<context::ContextEntry>& entries, const std::string& source,
    const std::string& dest, const context::DockerIgnore* exclude);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_COPY_SOURCES_H_
