#include "builder/copy_step.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "builder/context/build_context.h"
#include "builder/context/dockerignore.h"
#include "builder/copy_sources.h"
#include "builder/diff_writer.h"
#include "builder/dockerfile/file_mode.h"
#include "builder/history.h"
#include "builder/image_path.h"
#include "builder/layered_fs.h"
#include "builder/url_fetch.h"
#include "builder/user.h"
#include "layers/compression.h"
#include "layers/extract.h"

namespace kiln::builder {
namespace {

// Where a COPY or ADD copies to, and what with.
struct CopyTarget {
  std::string dest;  // absolute, in the image
  // A destination is a directory when spelled as one ("dir/", ".", "dir/.", or empty: the
  // working directory), when several sources (or a wildcard's several matches) go there,
  // with --parents, or when the image has a directory (or a link to one) there.
  bool dest_is_dir = false;
  std::optional<context::DockerIgnore> exclude;
};

absl::StatusOr<CopyTarget> CopyTargetOf(const PlannedInstruction& p, const ImageState& state,
                                        const LayeredFs& image) {
  CopyTarget t;
  const std::string& dest_arg = p.args.back();
  const std::string& workdir = state.config.config.working_dir;
  t.dest = CleanAbsolute(JoinPath(workdir.empty() ? "/" : workdir, dest_arg));
  t.dest_is_dir = dest_arg.empty() || dest_arg == "." || absl::EndsWith(dest_arg, "/") ||
                  absl::EndsWith(dest_arg, "/.") || p.args.size() > 2 || p.BoolFlag("parents");
  ASSIGN_OR_RETURN(std::string dest_in_image, image.Resolve(t.dest, /*follow_last=*/true));
  if (auto e = image.Lookup(dest_in_image); e && S_ISDIR(e->st.st_mode)) t.dest_is_dir = true;
  if (const auto& patterns = p.FlagValues("exclude"); !patterns.empty()) {
    ASSIGN_OR_RETURN(t.exclude,
                     context::DockerIgnore::Parse(absl::StrJoin(patterns, "\n"), "--exclude"));
  }
  return t;
}

// The writer of a COPY's diff: --chown and --chmod applied; files keep their owners when
// `keep_owners` (unless --chown), else become root's.
absl::StatusOr<DiffWriter> CopyWriter(const PlannedInstruction& p, const std::string& diff,
                                      const LayeredFs& image, bool keep_owners) {
  std::optional<ResolvedUser> owner;
  if (const std::string* chown = p.Flag("chown")) {
    ASSIGN_OR_RETURN(
        owner, ResolveUser(*chown, [&](const std::string& path) { return image.ReadFile(path); }));
  }
  std::optional<dockerfile::FileMode> chmod;
  if (const std::string* mode = p.Flag("chmod"); mode != nullptr && !mode->empty()) {
    ASSIGN_OR_RETURN(chmod, dockerfile::FileMode::Parse(*mode));
  }
  return DiffWriter(
      {.diff = diff, .owner = owner, .chmod = chmod, .keep_owners = keep_owners, .image = &image});
}

// The build context, a --build-context directory, or the root of the stage or image --from
// names (then held by `holder`).
absl::StatusOr<const context::BuildContext*> CopyContext(
    BuildSession& session, const PlannedInstruction& p, const StageRun& run,
    std::unique_ptr<context::BuildContext>* holder) {
  const std::string* from_flag = p.Flag("from");
  if (from_flag == nullptr) return &session.context();
  if (const context::BuildContext* dir = session.NamedDir(*from_flag, p.from_stage)) return dir;
  ASSIGN_OR_RETURN(ImageState from, session.SourceState(*from_flag, p.from_stage, run));
  ASSIGN_OR_RETURN(std::string rootfs, session.Materialize(from));
  ASSIGN_OR_RETURN(*holder, context::BuildContext::OpenWithoutIgnore(rootfs));
  return holder->get();
}

// ADD --unpack: given (or "true" when bare), else local archives are unpacked and
// downloads are not.
bool Unpacks(const PlannedInstruction& p, bool url) {
  const std::string* unpack = p.Flag("unpack");
  return unpack == nullptr ? !url : *unpack == "true";
}

// ADD's unpacking of a tar archive (any compression) into `dest`, as BuildKit unpacks it:
// onto the image (its symlinks followed, its directories keeping their metadata), entries
// keeping the archive's owners unless --chown gives one, hard links kept. The archive is
// unpacked into a scratch directory first and copied from there like a COPY.
absl::Status Unpack(BuildSession& session, int archive_fd, const std::string& dest,
                    const DiffWriter& writer, const std::string& what) {
  RETURN_IF_ERROR(writer.MakeDir(dest, 0755, /*keep_source_owner=*/false));
  std::string scratch = absl::StrCat(writer.diff(), ".unpack-", session.NextSeq());
  (void)RemoveAll(scratch);
  RETURN_IF_ERROR(MakeDirs(scratch));
  absl::Cleanup remove_scratch = [&] { (void)RemoveAll(scratch); };
  FdReader reader(archive_fd);
  layers::ExtractOptions options;
  options.whiteouts = layers::WhiteoutMode::kLiteral;
  options.devices = layers::DevicePolicy::kSkip;
  RETURN_IF_ERROR_CTX(layers::ExtractLayer(reader, scratch, options).status(), "unpacking ", what);
  ASSIGN_OR_RETURN(std::unique_ptr<context::BuildContext> tree,
                   context::BuildContext::OpenWithoutIgnore(scratch));
  ASSIGN_OR_RETURN(std::vector<context::ContextEntry> entries, tree->Select("."));
  DiffWriter archive = writer.KeepingOwners();
  std::map<ino_t, std::string> first_of_inode;  // where a hard-linked file was placed
  for (const context::ContextEntry& e : entries) {
    if (e.path == ".") continue;
    std::string target = JoinPath(dest, e.path);
    if (S_ISREG(e.mode) && e.nlink > 1) {
      ASSIGN_OR_RETURN(std::string placed, archive.Place(target, /*is_dir=*/false));
      std::string path = archive.diff() + placed;
      if (auto it = first_of_inode.find(e.ino); it != first_of_inode.end()) {
        RETURN_IF_ERROR(archive.Parents(placed));
        (void)RemoveAll(path);
        if (::link(it->second.c_str(), path.c_str()) != 0) return ErrnoError("link " + path);
        continue;
      }
      first_of_inode[e.ino] = path;
    }
    RETURN_IF_ERROR(archive.CopyEntry(*tree, e, target));
  }
  return absl::OkStatus();
}

// ADD URL: downloaded files are not unpacked (unless --unpack) and get mode 0600 (unless
// --chmod), as in Docker; a URL whose path has no last segment gives BuildKit's name.
absl::Status CopyUrl(BuildSession& session, const PlannedInstruction& p, const std::string& url,
                     const CopyTarget& target, const DiffWriter& writer) {
  std::optional<std::string> checksum;
  if (const std::string* c = p.Flag("checksum")) checksum = *c;
  ASSIGN_OR_RETURN(FetchedUrl f, session.Fetch(url, checksum));
  if (Unpacks(p, /*url=*/true)) {
    UniqueFd fd(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("open " + f.path);
    ASSIGN_OR_RETURN(bool archive, layers::IsTarArchive(fd.get()));
    if (archive) return Unpack(session, fd.get(), target.dest, writer, url);
  }
  std::string name = f.file_name.empty() ? "__unnamed__" : f.file_name;
  std::string to = target.dest_is_dir ? JoinPath(target.dest, name) : target.dest;
  return writer.CopyFile(to, f.path, 0600, f.last_modified);
}

// COPY <<NAME: the delimiter word without "<<", "-" and quotes names the heredoc.
absl::Status CopyHeredoc(const PlannedInstruction& p, const std::string& source,
                         const CopyTarget& target, const DiffWriter& writer) {
  std::string name = source.substr(2);
  if (absl::StartsWith(name, "-")) name.erase(0, 1);
  std::erase_if(name, [](char ch) { return ch == '\'' || ch == '"'; });
  const auto& docs = p.node->heredocs;
  auto doc = std::find_if(docs.begin(), docs.end(),
                          [&](const dockerfile::Heredoc& h) { return h.name == name; });
  if (doc == docs.end()) return absl::InvalidArgumentError("unknown heredoc " + source);
  std::string to = target.dest_is_dir ? JoinPath(target.dest, doc->name) : target.dest;
  return writer.WriteData(to, p.heredocs[doc - docs.begin()], 0644);
}

// One source of a COPY or ADD: a URL, a heredoc, or paths of the context.
absl::Status CopySource(BuildSession& session, const PlannedInstruction& p,
                        const context::BuildContext& ctx, const std::string& source,
                        const CopyTarget& target, const LayeredFs& image,
                        const DiffWriter& writer) {
  if (IsUrl(source)) return CopyUrl(session, p, source, target, writer);
  if (absl::StartsWith(source, "<<")) return CopyHeredoc(p, source, target, writer);
  const context::DockerIgnore* exclude = target.exclude ? &*target.exclude : nullptr;
  const bool parents = p.BoolFlag("parents");
  std::vector<CopyAction> actions;
  ASSIGN_OR_RETURN(std::vector<context::ContextEntry> entries,
                   ctx.Select(parents ? ParentsBase(source) : source));
  if (parents) {
    ASSIGN_OR_RETURN(actions, SelectParentsCopies(entries, source, target.dest, exclude));
  } else {
    actions = SelectCopies(entries, source, target.dest, target.dest_is_dir, exclude);
  }
  for (const CopyAction& a : actions) {
    switch (a.kind) {
      case CopyAction::Kind::kEntry:
        RETURN_IF_ERROR(writer.CopyEntry(ctx, *a.entry, a.target));
        break;
      case CopyAction::Kind::kMakeDir:
        RETURN_IF_ERROR(writer.MakeDir(a.target, 0755, /*keep_source_owner=*/false));
        break;
      case CopyAction::Kind::kEnsureDir: {
        ASSIGN_OR_RETURN(std::string placed, image.Resolve(a.target, /*follow_last=*/true));
        if (!image.Lookup(placed)) RETURN_IF_ERROR(writer.MakeDir(a.target, 0755, false));
        break;
      }
      case CopyAction::Kind::kTopFile:
        if (p.instruction == "ADD" && S_ISREG(a.entry->mode) && Unpacks(p, /*url=*/false)) {
          // ADD unpacks local tar archives (any compression) into the destination.
          ASSIGN_OR_RETURN(UniqueFd fd, ctx.OpenEntry(*a.entry));
          ASSIGN_OR_RETURN(bool archive, layers::IsTarArchive(fd.get()));
          if (archive) {
            RETURN_IF_ERROR(Unpack(session, fd.get(), target.dest, writer, a.entry->path));
            break;
          }
        }
        RETURN_IF_ERROR(writer.CopyEntry(ctx, *a.entry, a.target));
        break;
    }
  }
  return absl::OkStatus();
}

// Linking and unlinking changed the context files' ctime: tell the file digest cache the
// files it knows are the same, or the next build would read them all again.
void KeepFileDigests(BuildSession& session, const context::BuildContext& ctx,
                     const DiffWriter& writer) {
  if (writer.linked_files().empty()) return;
  context::FileDigests* known = session.KnownFileDigests();
  for (const auto& [path, before] : writer.linked_files()) {
    context::ContextEntry e;
    e.path = path;
    auto fd = ctx.OpenEntry(e);
    struct stat after;
    if (fd.ok() && ::fstat(fd->get(), &after) == 0) known->Relink(before, after);
  }
}

}  // namespace

absl::Status CopyStep(BuildSession& session, const PlannedInstruction& p, const StageRun& run,
                      ImageState* state) {
  for (const std::string& s : p.args) {
    if (absl::StartsWith(s, "git@") || absl::EndsWith(s, ".git")) {
      return absl::UnimplementedError("ADD of git repositories is not supported");
    }
  }
  std::unique_ptr<context::BuildContext> from_ctx;
  ASSIGN_OR_RETURN(const context::BuildContext* ctx, CopyContext(session, p, run, &from_ctx));
  // --link: the layer is made without looking at the layers below (it can then sit on any
  // base), so the destination's symlinks in the image are not followed.
  std::vector<std::string> lowers;
  if (!p.BoolFlag("link")) {
    ASSIGN_OR_RETURN(lowers, session.LowerDirs(*state));
  }
  const LayeredFs image(lowers);
  ASSIGN_OR_RETURN(CopyTarget target, CopyTargetOf(p, *state, image));
  std::string diff = session.StepDir(run) + "/diff";
  RETURN_IF_ERROR(MakeDirs(diff));
  // Files of a stage or an image keep their owners; the build context's (and a
  // --build-context directory's) become root's.
  ASSIGN_OR_RETURN(DiffWriter writer, CopyWriter(p, diff, image, from_ctx != nullptr));
  for (auto source = p.args.begin(); source + 1 < p.args.end(); ++source) {
    RETURN_IF_ERROR(CopySource(session, p, *ctx, *source, target, image, writer));
  }
  RETURN_IF_ERROR(
      session.CommitDiff(run, diff, /*overlay=*/false, CreatedBy(p, state->config.config), state));
  RETURN_IF_ERROR(RemoveAll(diff));
  if (from_ctx == nullptr) KeepFileDigests(session, *ctx, writer);
  return absl::OkStatus();
}

}  // namespace kiln::builder
