#include "builder/workdir_step.h"

#include <sys/stat.h>

#include "base/file_util.h"
#include "base/status_macros.h"
#include "builder/diff_writer.h"
#include "builder/history.h"
#include "builder/image_path.h"
#include "builder/layered_fs.h"
#include "builder/user.h"

namespace kiln::builder {

absl::Status WorkdirStep(BuildSession& session, const PlannedInstruction& p, const StageRun& run,
                         ImageState* state) {
  oci::ContainerConfig& c = state->config.config;
  c.working_dir = CleanAbsolute(JoinPath(c.working_dir.empty() ? "/" : c.working_dir, p.args[0]));
  const std::string text = CreatedBy(p, c);
  ASSIGN_OR_RETURN(std::vector<std::string> lowers, session.LowerDirs(*state));
  LayeredFs image(lowers);
  ASSIGN_OR_RETURN(std::string in_image, image.Resolve(c.working_dir, /*follow_last=*/true));
  if (auto e = image.Lookup(in_image); e && S_ISDIR(e->st.st_mode)) {
    AddHistory(state, session.created(), text, /*empty=*/true);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(ResolvedUser user, ResolveUser(c.user, [&](const std::string& path) {
                     return image.ReadFile(path);
                   }));
  std::string diff = session.StepDir(run) + "/diff";
  RETURN_IF_ERROR(MakeDirs(diff));
  DiffWriter writer(
      {.diff = diff, .owner = user, .chmod = std::nullopt, .keep_owners = false, .image = &image});
  RETURN_IF_ERROR(writer.MakeDir(c.working_dir, 0755, /*keep_source_owner=*/false));
  RETURN_IF_ERROR(session.CommitDiff(run, diff, /*overlay=*/false, text, state));
  return RemoveAll(diff);
}

}  // namespace kiln::builder
