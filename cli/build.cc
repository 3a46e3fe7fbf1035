// kiln build: Dockerfile → image in the store. Reads like the pipeline it drives: options →
// source date → store → builder::Build → tags and outputs → digest.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "builder/executor.h"
#include "builder/remote_cache.h"
#include "builder/secrets.h"
#include "builder/ssh_agent.h"
#include "cli/build_check.h"
#include "cli/build_input.h"
#include "cli/build_output.h"
#include "cli/build_progress.h"
#include "cli/common.h"
#include "cli/git_context.h"
#include "cli/sandbox_flags.h"
#include "nlohmann/json.hpp"
#include "transfer/image_location.h"

extern char** environ;

namespace kiln::cli {
namespace {

struct BuildOptions {
  std::string context;  // required: docker build takes no default either
  std::string file;
  std::vector<std::string> tags, build_args, labels, outputs, no_cache_filter, secrets, ssh,
      cache_from, cache_to, build_contexts;
  std::string signature_policy;
  std::vector<std::string> attest;
  bool sbom = false, provenance = false;
  std::string iidfile, metadata_file;
  std::string target, progress = "auto";
  std::vector<std::string> platforms;  // --platform, each a comma-separated list
  std::optional<std::string> compression;
  SandboxFlags sandbox;
  std::optional<int64_t> source_date_epoch;
  bool no_cache = false, quiet = false, push = false, pull = false, no_normalize = false;
  bool check_reproducible = false;
  std::string check_against;
  RegistryFlags registry;
};

absl::StatusOr<std::map<std::string, std::string>> KeyValues(const std::vector<std::string>& in,
                                                             const char* flag, bool from_env) {
  std::map<std::string, std::string> out;
  for (const std::string& kv : in) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.first.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " wants KEY=VALUE"));
    if (kv.find('=') == std::string::npos && from_env) {
      const char* env = std::getenv(p.first.c_str());
      if (env == nullptr) continue;
      p.second = env;
    }
    out[p.first] = p.second;
  }
  return out;
}

// Source date: the flag, then the build arg SOURCE_DATE_EPOCH (as BuildKit takes it), then
// the environment's, then the git context's commit or the context's git HEAD, then 0.
absl::StatusOr<int64_t> SourceDate(const BuildOptions& o, const BuildInput& input,
                                   const std::map<std::string, std::string>& build_args) {
  std::optional<int64_t> flag_epoch = o.source_date_epoch;
  if (auto it = build_args.find("SOURCE_DATE_EPOCH");
      !flag_epoch && it != build_args.end() && !it->second.empty()) {
    int64_t v;
    if (!absl::SimpleAtoi(it->second, &v) || v < 0) {
      return absl::InvalidArgumentError(absl::StrCat("--build-arg SOURCE_DATE_EPOCH=\"", it->second,
                                                     "\" is not a number of seconds"));
    }
    flag_epoch = v;
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> epoch, SourceDateEpoch(flag_epoch));
  if (!epoch) epoch = input.commit_time;
  if (!epoch) epoch = GitCommitTime(input.context_dir);
  return epoch.value_or(0);
}

// --compression, or the compression= of --cache-to (a cache holds the image's own layers, so
// the two must agree); gzip when neither says.
absl::StatusOr<layers::Compression> CompressionOf(const std::optional<std::string>& flag,
                                                  const std::vector<builder::CacheSpec>& to) {
  std::optional<layers::Compression> chosen;
  if (flag) {
    ASSIGN_OR_RETURN(chosen, layers::ParseCompression(*flag));
  }
  for (const builder::CacheSpec& c : to) {
    if (!c.compression) continue;
    if (chosen && *chosen != *c.compression) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--cache-to ", c.String(), ": compression=", layers::CompressionName(*c.compression),
          " differs from the layers' ", layers::CompressionName(*chosen),
          " (the cache holds the image's own layers; give one compression)"));
    }
    chosen = c.compression;
  }
  return chosen.value_or(layers::Compression::kGzip);
}

// The request the flags and the build's input make; every value (tags, outputs, secrets) is
// checked before anything is built.
absl::StatusOr<builder::BuildRequest> RequestOf(const BuildOptions& o, const BuildInput& input) {
  builder::BuildRequest req;
  req.context_dir = input.context_dir;
  req.dockerfile = input.dockerfile;
  req.dockerfile_text = input.dockerfile_text;
  req.tags = o.tags;
  req.target = o.target;
  for (const std::string& list : o.platforms) {
    for (absl::string_view p : absl::StrSplit(list, ',', absl::SkipEmpty())) {
      ASSIGN_OR_RETURN_CTX(oci::Platform platform,
                           oci::Platform::Parse(absl::StripAsciiWhitespace(p)), "--platform");
      req.platforms.push_back(platform);
    }
  }
  req.no_cache = o.no_cache;
  req.normalize = !o.no_normalize;
  for (const std::string& f : o.no_cache_filter) {
    for (absl::string_view name : absl::StrSplit(f, ',', absl::SkipEmpty())) {
      req.no_cache_filter.emplace_back(name);
    }
  }
  req.sandbox = o.sandbox.Options();
  req.push = o.push;
  req.pull = o.pull;
  ASSIGN_OR_RETURN(req.transport, MakeTransportOptions(o.registry));
  if (o.push && o.tags.empty()) return absl::InvalidArgumentError("--push needs at least one -t");
  ASSIGN_OR_RETURN(req.build_args, KeyValues(o.build_args, "--build-arg", true));
  // BuildKit's build argument for the sandbox's hostname, which a build command line may set.
  if (auto it = req.build_args.find("BUILDKIT_SANDBOX_HOSTNAME");
      it != req.build_args.end() && !it->second.empty()) {
    req.sandbox.hostname = it->second;
  }
  auto getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  for (const std::string& spec : o.secrets) {
    RETURN_IF_ERROR(builder::AddSecret(spec, getenv, &req.secrets));
  }
  for (const std::string& spec : o.ssh) {
    RETURN_IF_ERROR(builder::AddSshSource(spec, getenv, &req.ssh));
  }
  ASSIGN_OR_RETURN(req.labels, KeyValues(o.labels, "--label", false));
  req.named_contexts = input.named_contexts;
  req.sbom = o.sbom;
  req.provenance = o.provenance;
  for (const std::string& a : o.attest) {
    // BuildKit's --attest type=sbom|provenance[,...]: the options it takes are its own.
    std::string type;
    for (absl::string_view field : absl::StrSplit(a, ',')) {
      if (absl::ConsumePrefix(&field, "type=")) type = std::string(field);
    }
    if (type == "sbom") {
      req.sbom = true;
    } else if (type == "provenance") {
      req.provenance = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--attest ", a, ": want type=sbom or type=provenance"));
    }
  }
  ASSIGN_OR_RETURN(req.policy, LoadPolicy(o.signature_policy, o.quiet || o.progress == "json"));
  for (const std::string& spec : o.cache_from) {
    ASSIGN_OR_RETURN(builder::CacheSpec c, builder::ParseCacheSpec(spec, /*to=*/false));
    req.cache_from.push_back(std::move(c));
  }
  for (const std::string& spec : o.cache_to) {
    ASSIGN_OR_RETURN(builder::CacheSpec c, builder::ParseCacheSpec(spec, /*to=*/true));
    req.cache_to.push_back(std::move(c));
  }
  ASSIGN_OR_RETURN(req.compression, CompressionOf(o.compression, req.cache_to));
  for (const std::string& tag : o.tags) {
    RETURN_IF_ERROR(layers::Store::CanonicalName(tag).status());
  }
  for (const std::string& out : o.outputs) {
    ASSIGN_OR_RETURN(std::optional<builder::FilesOutput> files, BuildFilesOutput(out));
    if (files) {
      req.files_outputs.push_back(*std::move(files));
      continue;
    }
    ASSIGN_OR_RETURN(std::vector<std::string> locations, BuildOutputLocations(out, o.tags));
    req.outputs.insert(req.outputs.end(), locations.begin(), locations.end());
  }
  ASSIGN_OR_RETURN(req.source_date_epoch, SourceDate(o, input, req.build_args));
  return req;
}

// --metadata-file: BuildKit's keys for the image made.
std::string BuildMetadata(const builder::BuildResult& result,
                          const std::vector<std::string>& tags) {
  nlohmann::json doc = {
      {"containerimage.digest", result.manifest.digest.str()},
      {"containerimage.descriptor", result.manifest.ToJson()},
  };
  // An index of several platforms has no one config.
  if (result.config.digest.valid()) {
    doc["containerimage.config.digest"] = result.config.digest.str();
  }
  if (!tags.empty()) doc["image.name"] = absl::StrJoin(tags, ",");
  return doc.dump(2) + "\n";
}

// Everything from the command line to the image in the store, reported through `progress`.
absl::StatusOr<builder::BuildResult> BuildImage(const Globals& g, const BuildOptions& o,
                                                BuildProgress& progress) {
  ASSIGN_OR_RETURN(BuildInput input,
                   ResolveBuildInput(o.context, o.file, STDIN_FILENO, "/var/tmp/kiln-context-"));
  RETURN_IF_ERROR(AddNamedContexts(o.build_contexts, "/var/tmp/kiln-context-", &input));
  ASSIGN_OR_RETURN(builder::BuildRequest req, RequestOf(o, input));
  req.transport.notify = [&progress](const std::string& text) {
    builder::BuildEvent e;
    e.kind = builder::BuildEvent::Kind::kMessage;
    e.text = text;
    progress.OnEvent(e);
  };
  ASSIGN_OR_RETURN(auto store, OpenStore(g));
  ASSIGN_OR_RETURN(builder::BuildResult result,
                   builder::Build(*store, req, [&progress](const builder::BuildEvent& e) {
                     progress.OnEvent(e);
                   }));
  progress.Built(result.manifest_digest, result.steps_run, result.steps_cached);
  auto say = [&progress](const std::string& text) {
    builder::BuildEvent e;
    e.kind = builder::BuildEvent::Kind::kMessage;
    e.text = text;
    progress.OnEvent(e);
  };
  if (o.check_reproducible) RETURN_IF_ERROR(CheckReproducible(*store, req, result, say));
  if (!o.check_against.empty()) {
    RETURN_IF_ERROR(CheckAgainst(*store, o.check_against, req.transport, result, say));
  }
  return result;
}

// Points an --output to stdout (`-`, dest=-) at a file in `*dir` (made here), which the
// caller copies to stdout after the build; false when no output goes to stdout.
absl::StatusOr<bool> RedirectStdoutOutput(BuildOptions& o, std::optional<TempDir>* dir) {
  bool found = false;
  for (std::string& out : o.outputs) {
    if (!dir->has_value()) {
      ASSIGN_OR_RETURN(std::optional<std::string> probe, StdoutOutput(out, "probe"));
      if (!probe) continue;
      ASSIGN_OR_RETURN(TempDir made, TempDir::Create("/var/tmp/kiln-stdout-"));
      dir->emplace(std::move(made));
    }
    ASSIGN_OR_RETURN(std::optional<std::string> to_file,
                     StdoutOutput(out, (*dir)->path() + "/output"));
    if (!to_file) continue;
    if (found) return absl::InvalidArgumentError("only one --output can go to stdout");
    if (::isatty(STDOUT_FILENO)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--output ", out, ": stdout is a terminal; redirect it or give dest=FILE"));
    }
    out = *std::move(to_file);
    found = true;
  }
  return found;
}

absl::Status CopyToStdout(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  FdReader in(fd.get());
  char buf[1 << 16];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, in.Read(buf, sizeof buf));
    if (n == 0) return absl::OkStatus();
    RETURN_IF_ERROR_CTX(WriteAll(STDOUT_FILENO, absl::string_view(buf, n)), "writing stdout");
  }
}

absl::Status RunBuild(const Globals& g, const BuildOptions& flags) {
  BuildOptions o = flags;
  std::optional<TempDir> stdout_dir;
  ASSIGN_OR_RETURN(bool to_stdout, RedirectStdoutOutput(o, &stdout_dir));
  // A file of an earlier build must not pass for this one's if it fails.
  if (!o.iidfile.empty() && ::unlink(o.iidfile.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("remove " + o.iidfile);
  }
  absl::StatusOr<builder::BuildResult> built;
  {
    BuildProgress progress(BuildProgress::Choose(o.progress, o.quiet));
    built = BuildImage(g, o, progress);
    // JSON progress ends with the error as an event of its own, not a line of plain text.
    if (!built.ok()) g.error_reported = progress.Failed(built.status());
  }  // the live view is cleared before the digest is printed
  RETURN_IF_ERROR(built.status());
  const builder::BuildResult& result = *built;
  if (!o.iidfile.empty()) {
    // The config's digest, as docker writes it; a multi-platform index's own, as BuildKit does.
    const oci::Digest& id =
        !result.config.digest.valid() ? result.manifest_digest : result.config.digest;
    RETURN_IF_ERROR_CTX(WriteFileAtomic(o.iidfile, id.str()), "--iidfile");
  }
  if (!o.metadata_file.empty()) {
    RETURN_IF_ERROR_CTX(WriteFileAtomic(o.metadata_file, BuildMetadata(result, o.tags)),
                        "--metadata-file");
  }
  // The output to stdout replaces the digest there.
  if (to_stdout) return CopyToStdout(stdout_dir->path() + "/output");
  std::printf("%s\n", result.manifest_digest.str().c_str());
  return absl::OkStatus();
}

}  // namespace

// Long by design: the build verb's flag table, one line per flag.
void AddBuildCommand(CLI::App& app, Globals& g) {
  auto o = std::make_shared<BuildOptions>();
  CLI::App* cmd = app.add_subcommand("build", "Build an image from a Dockerfile");
  cmd->add_option("CONTEXT", o->context,
                  "Build context directory, or - for a tar archive (or a Dockerfile) on stdin")
      ->required();
  cmd->add_option("-f,--file", o->file, "Dockerfile (default: CONTEXT/Dockerfile; - for stdin)");
  cmd->add_option("--iidfile", o->iidfile, "Write the image ID (its config digest) to FILE");
  cmd->add_option("--metadata-file", o->metadata_file,
                  "Write BuildKit's build metadata (digests, descriptor, names) as JSON to FILE");
  cmd->add_option("-t,--tag", o->tags, "Name the image in the store (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--build-arg", o->build_args, "KEY=VALUE (repeatable)")->allow_extra_args(false);
  cmd->add_option("--secret", o->secrets,
                  "id=ID[,src=FILE|,env=VAR]: a secret for RUN --mount=type=secret, never kept "
                  "in the image or the cache (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--ssh", o->ssh,
                  "default|ID=SOCKET|ID=KEYFILE[,KEYFILE]: an ssh agent for RUN --mount=type=ssh "
                  "(default: $SSH_AUTH_SOCK; key files: an agent of the build's own) (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--target", o->target, "Stage to build (default: the last)");
  cmd->add_option("--platform", o->platforms,
                  "os/arch[/variant],... to build for: several make an image index, foreign "
                  "ones run under QEMU emulation (default: the host's; repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--label", o->labels, "KEY=VALUE added to the image (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--no-cache", o->no_cache, "Run every step");
  cmd->add_flag("--check-reproducible", o->check_reproducible,
                "Build again in a scratch store and fail if the image differs");
  cmd->add_option("--check-against", o->check_against,
                  "Fail if the image built differs from IMAGE (store name or transport:...)");
  cmd->add_flag("--no-normalize", o->no_normalize,
                "Keep RUN steps' caches and logs as written (no normalization)");
  cmd->add_option("--no-cache-filter", o->no_cache_filter,
                  "Run these stages' steps even when cached (names or indexes, repeatable or "
                  "comma-separated)")
      ->allow_extra_args(false);
  AddSandboxFlags(cmd, &o->sandbox, "RUN steps");
  cmd->add_option("--allow", o->sandbox.sandbox.allow,
                  "Let the Dockerfile use network.host (RUN --network=host) or security.insecure "
                  "(RUN --security=insecure) (repeatable)")
      ->allow_extra_args(false)
      ->delimiter(',');
  cmd->add_option("--compression", o->compression, "Layer compression: gzip or zstd")
      ->check(CLI::IsMember({"gzip", "zstd"}));
  AddPolicyFlag(cmd, &o->signature_policy);
  cmd->add_flag("--sbom", o->sbom,
                "Attach an SPDX SBOM of the image (an in-toto attestation, as BuildKit's)");
  cmd->add_flag("--provenance", o->provenance,
                "Attach SLSA v1 provenance of the build (an in-toto attestation)");
  cmd->add_option("--attest", o->attest, "type=sbom or type=provenance (BuildKit's spelling)")
      ->allow_extra_args(false);
  cmd->add_option("--build-context", o->build_contexts,
                  "NAME=VALUE: a directory, docker-image://REF, oci-layout://DIR[:TAG|@DIGEST] or "
                  "a git repository standing in for the stage or image NAME (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--cache-from", o->cache_from,
                  "Read step records from a build cache: type=registry,ref=REF or "
                  "type=local,src=DIR[,tag=NAME] (repeatable; the first to have a record wins)")
      ->allow_extra_args(false);
  cmd->add_option("--cache-to", o->cache_to,
                  "Write this build's step records to a build cache: type=registry,ref=REF or "
                  "type=local,dest=DIR[,tag=NAME], with mode=min (the final image's stages) or "
                  "max (every stage), compression=gzip|zstd, ignore-error=true (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--source-date-epoch", o->source_date_epoch,
                  "The image's one date (created, history, file times at most it; RUN steps' "
                  "SOURCE_DATE_EPOCH): default $SOURCE_DATE_EPOCH, else the context's git HEAD "
                  "commit time, else 0 (1970-01-01), so builds are reproducible");
  cmd->add_option("-o,--output", o->outputs,
                  "Also write the image to oci:DIR:TAG, oci-archive:FILE, docker-archive:FILE, "
                  "docker://REFERENCE, or as BuildKit's type=oci|docker,dest=FILE, "
                  "type=image|registry,name=REF, or the image's files as type=local,dest=DIR or "
                  "type=tar,dest=FILE (repeatable; checked before the build)")
      ->allow_extra_args(false);
  cmd->add_flag("--push", o->push, "Push every -t name to its registry");
  cmd->add_flag("--pull", o->pull, "Pull base images even when the store has them");
  AddRegistryFlags(cmd, &o->registry);
  cmd->add_option("--progress", o->progress, "auto, plain or json")
      ->check(CLI::IsMember({"auto", "plain", "json"}));
  cmd->add_flag("-q,--quiet", o->quiet, "Print only the image digest");
  cmd->callback([&g, o] { g.run = [&g, o] { return RunBuild(g, *o); }; });
}

}  // namespace kiln::cli
