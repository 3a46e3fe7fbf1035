#include "cli/build_input.h"

#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "builder/dockerfile/parser.h"
#include "cli/git_context.h"
#include "layers/compression.h"
#include "layers/extract.h"

namespace kiln::cli {
namespace {

// Copies `fd` to a new file at `path`, at most `max` bytes.
absl::Status CopyToFile(int fd, const std::string& path, uint64_t max) {
  UniqueFd out(::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
  if (!out.valid()) return ErrnoError("create " + path);
  char buf[1 << 16];
  uint64_t total = 0;
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read stdin");
    if (n == 0) break;
    total += n;
    if (total > max) return absl::ResourceExhaustedError("stdin: the build context is too large");
    RETURN_IF_ERROR(WriteAll(out.get(), absl::string_view(buf, n)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BuildInput> ResolveBuildInput(const std::string& context, const std::string& file,
                                             int stdin_fd, const std::string& scratch_prefix) {
  BuildInput in;
  in.context_dir = context;
  in.dockerfile = file;
  ASSIGN_OR_RETURN(std::optional<GitContext> git, ParseGitContext(context));
  if (git) {
    ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(scratch_prefix));
    ASSIGN_OR_RETURN(ClonedContext cloned, CloneGitContext(*git, dir.path()));
    in.owned.emplace(std::move(dir));
    in.context_dir = cloned.context_dir;
    in.commit_time = cloned.commit_time;
    if (!file.empty() && file != "-" && file[0] != '/') in.dockerfile = in.context_dir + "/" + file;
  }
  if (context == "-" && file == "-") {
    return absl::InvalidArgumentError("the context and the Dockerfile cannot both be stdin (-)");
  }
  if (file == "-") {
    FdReader stdin_reader(stdin_fd);
    ASSIGN_OR_RETURN_CTX(in.dockerfile_text,
                         ReadAllFrom(stdin_reader, builder::dockerfile::kMaxDockerfileSize),
                         "reading the Dockerfile from stdin");
    in.dockerfile.clear();
    return in;
  }
  if (context != "-" || git) return in;
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(scratch_prefix));
  const std::string stdin_copy = dir.path() + "/stdin";
  const std::string root = dir.path() + "/context";
  RETURN_IF_ERROR(MakeDirs(root, 0755));
  in.context_dir = root;
  in.owned.emplace(std::move(dir));
  RETURN_IF_ERROR(CopyToFile(stdin_fd, stdin_copy, kMaxStdinContext));
  UniqueFd fd(::open(stdin_copy.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + stdin_copy);
  ASSIGN_OR_RETURN(bool archive, layers::IsTarArchive(fd.get()));
  if (!archive) {
    // A Dockerfile with an empty context.
    ASSIGN_OR_RETURN(in.dockerfile_text,
                     ReadFile(stdin_copy, builder::dockerfile::kMaxDockerfileSize));
    in.dockerfile.clear();
    return in;
  }
  FdReader reader(fd.get());
  layers::ExtractOptions options;
  options.whiteouts = layers::WhiteoutMode::kLiteral;
  options.devices = layers::DevicePolicy::kSkip;
  RETURN_IF_ERROR_CTX(layers::ExtractLayer(reader, root, options).status(),
                      "unpacking the build context from stdin");
  fd.Reset();
  (void)::unlink(stdin_copy.c_str());
  return in;
}

absl::Status AddNamedContexts(const std::vector<std::string>& specs,
                              const std::string& scratch_prefix, BuildInput* in) {
  for (const std::string& spec : specs) {
    size_t eq = spec.find('=');
    std::string value = eq == std::string::npos ? "" : spec.substr(eq + 1);
    ASSIGN_OR_RETURN_CTX(std::optional<GitContext> git, ParseGitContext(value), "--build-context ",
                         spec.substr(0, eq));
    std::pair<std::string, builder::NamedContext> named;
    if (git) {
      ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(scratch_prefix));
      ASSIGN_OR_RETURN_CTX(ClonedContext cloned, CloneGitContext(*git, dir.path()),
                           "--build-context ", spec.substr(0, eq));
      in->owned_contexts.push_back(std::move(dir));
      ASSIGN_OR_RETURN(named, builder::ParseNamedContext(
                                  absl::StrCat(spec.substr(0, eq), "=", cloned.context_dir)));
    } else {
      ASSIGN_OR_RETURN(named, builder::ParseNamedContext(spec));
    }
    if (!in->named_contexts.emplace(named.first, named.second).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--build-context ", named.first, " is given twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::cli
