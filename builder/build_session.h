// What the steps of one build share: the store, the request, the build context, the work
// directory, progress events, the images and finished stages steps read from, downloads, and
// the file digest cache. The executor makes one per build and passes it to each step with the
// step's StageRun; every method is thread-safe (stages run concurrently).
#ifndef KILN_BUILDER_BUILD_SESSION_H_
#define KILN_BUILDER_BUILD_SESSION_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/file_util.h"
#include "builder/build_event.h"
#include "builder/build_request.h"
#include "builder/context/build_context.h"
#include "builder/context/file_digests.h"
#include "builder/plan.h"
#include "builder/remote_cache.h"
#include "builder/ssh_agent.h"
#include "builder/stage_run.h"
#include "builder/step_sandbox.h"
#include "builder/url_fetch.h"
#include "layers/snapshots.h"
#include "layers/store.h"
#include "transfer/origin_blobs.h"

namespace kiln::builder {

class BuildSession {
 public:
  BuildSession(layers::Store& store, const BuildRequest& request, const ProgressFn& progress);
  ~BuildSession();

  // Opens the build context of `dockerfile` and makes the build's work directory
  // (`run/build-*` of the store, owned: a build killed before it could clean up is swept by
  // the next one).
  absl::Status Open(const std::string& dockerfile);

  layers::Store& store() const { return store_; }
  const BuildRequest& request() const { return req_; }
  const context::BuildContext& context() const { return *context_; }
  // The image's creation time (and every history entry's), from the source date.
  const std::string& created() const { return created_; }
  // A directory of the step's own in the work directory (`step-N`), made by whoever uses it.
  std::string StepDir(const StageRun& run) const;
  const std::string& work() const { return work_; }

  // RUN steps' sandboxes, when the plan has RUN steps (else null).
  void SetSandboxes(std::unique_ptr<StepSandboxes> sandboxes);
  StepSandboxes* sandboxes() const { return sandboxes_.get(); }
  // The network and security mode a step runs with, for its cache key ("" but for RUN).
  std::string SandboxKey(const PlannedInstruction& p) const;

  // True when the stage's steps run even when cached (--no-cache-filter).
  bool NoCacheFilter(const Stage& stage) const;
  bool NoCacheFor(const Stage& stage) const { return req_.no_cache || NoCacheFilter(stage); }

  // A progress event of the build (`run` null) or of a stage's current step.
  void Event(const StageRun* run, BuildEvent::Kind kind,
             const std::function<void(BuildEvent&)>& fill = nullptr) const;
  void Message(const std::string& text, const StageRun* run = nullptr) const;

  // An image from the store (pulled into it from its registry when missing or with --pull)
  // or a transport location, its blobs added to the store; each name once a build.
  // A --build-context image of the name (see builder/named_context.h) stands in for it. An
  // index gives its manifest for `platform` (an error lists the platforms it has).
  absl::StatusOr<ImageState> ImportImage(const std::string& name, const oci::Platform& platform,
                                         const StageRun* run = nullptr);
  // What the build read from outside, for provenance: each image by name with its digest (the
  // root as pulled or imported), and each ADD URL with the digest of what was downloaded.
  std::vector<std::pair<std::string, oci::Digest>> ResolvedImages();
  std::vector<std::pair<std::string, oci::Digest>> FetchedUrls();
  // The empty image (scratch) of a platform.
  static ImageState Scratch(const oci::Platform& platform);
  // The --build-context directory a COPY --from or a mount's from= names when it names no
  // stage (`from_stage` < 0), else null.
  const context::BuildContext* NamedDir(const std::string& from, int from_stage) const;
  // What the cache keys take from the files `from` shows: the stage's or image's key, or
  // the digest of what `sources` select in a --build-context directory.
  absl::StatusOr<std::string> SourceKey(const std::string& from, int from_stage,
                                        const std::vector<std::string>& sources,
                                        const StageRun& run);
  // Finished stages (by the build's target platform, a StageRun's `target`, and stage index),
  // for the stages that build on them or copy from them.
  void SetDone(int target, int index, ImageState state);
  std::optional<ImageState> DoneState(int target, int index) const;
  // The state a COPY --from or a mount's from= refers to: the stage the plan resolved it to
  // (`from_stage` >= 0), or an image.
  absl::StatusOr<ImageState> SourceState(const std::string& from, int from_stage,
                                         const StageRun& run);
  // The root filesystem of a state, unpacked once a build into the work directory.
  absl::StatusOr<std::string> Materialize(const ImageState& state);
  // The --cache-from caches (read by Open), and the --cache-to writer.
  RemoteCache& remote_cache() { return remote_; }
  // Fetches the layers of `state` the store lacks: from the imported caches, else from the
  // origins the store has for them (transfer/origin_blobs.h).
  absl::Status EnsureLayers(const ImageState& state);
  // For the image the build commits: a layer an imported registry cache holds is left there,
  // its origin recorded in the store (fetched when something reads it; a push to a registry
  // that has it or can mount it never does); others are fetched as EnsureLayers does.
  absl::Status DeferLayers(const ImageState& state);
  // The unpacked layers of `state`, topmost first (overlay lowerdir order).
  absl::StatusOr<std::vector<std::string>> LowerDirs(const ImageState& state);
  // Adds the layer made from `dir` (or an empty history entry when nothing changed) with the
  // history text `text`. An overlay upper directory (`overlay`) is kept as the layer's
  // snapshot, so later steps need not unpack it. `note` is added to the history entry's
  // comment ("kiln; NOTE").
  absl::Status CommitDiff(const StageRun& run, const std::string& dir, bool overlay,
                          const std::string& text, ImageState* state, const std::string& note = "");

  // An ADD URL, downloaded once a build per URL and --checksum into the work directory.
  absl::StatusOr<FetchedUrl> Fetch(const std::string& url,
                                   const std::optional<std::string>& checksum);
  // The file digest cache, loaded by the first step that hashes context files.
  context::FileDigests* KnownFileDigests();
  // Keeps what the build learned of context files (only a cache: a failure is ignored).
  // REQUIRES: no step runs.
  void SaveFileDigests();

  // Starts an ssh-agent of the build's own for each --ssh of key files: called once, from the
  // thread that runs the build (the agents stop when it ends).
  absl::Status StartSshAgents();
  // The socket of the agent --ssh named `id`; nullopt when the build was given none.
  std::optional<std::string> SshAgentSocket(const std::string& id) const;

  // True the first time this build names `what` (a cache mount emptied by --no-cache).
  bool FirstTime(const std::string& what);
  // A number of the build's own, for unique scratch names.
  int NextSeq() { return seq_++; }

 private:
  absl::StatusOr<oci::Descriptor> PullBase(const std::string& name, const oci::Platform& platform,
                                           const StageRun* run);
  // The request's signature policy applied to an image about to be pulled or imported.
  absl::Status CheckPolicy(const transfer::ImageLocation& loc, layers::ImageSource& source);
  // ImportImage of an image location, no --build-context applied. REQUIRES: import_mu_ held.
  absl::StatusOr<ImageState> ImportLocked(const std::string& name, const oci::Platform& platform,
                                          const StageRun* run);
  // Fetches those of `layers` the store lacks (EnsureLayers' work).
  absl::Status FetchMissing(const std::vector<oci::Descriptor>& layers);

  layers::Store& store_;
  const BuildRequest& req_;
  const ProgressFn& progress_;
  const std::string created_;
  layers::Snapshots snapshots_;
  RemoteCache remote_;
  transfer::OriginBlobs origins_;
  std::unique_ptr<context::BuildContext> context_;
  // The --build-context directories, by name (opened with the build context).
  std::map<std::string, std::unique_ptr<context::BuildContext>> named_dirs_;
  std::optional<TempDir> work_dir_;
  std::string work_;  // its path
  std::unique_ptr<StepSandboxes> sandboxes_;
  std::atomic<int> seq_{0};

  std::mutex import_mu_;  // held over an import: each image is imported (or pulled) once
  std::map<std::string, ImageState> imported_;   // by "name platform"
  std::map<std::string, oci::Digest> resolved_;  // image name -> the root it resolved to
  mutable std::mutex done_mu_;
  std::map<std::pair<int, int>, ImageState> done_;  // by target and stage index
  std::mutex materialize_mu_;                       // held over an unpacking
  std::mutex fetch_mu_;                             // held over a download
  std::map<std::string, FetchedUrl> fetched_;
  std::once_flag file_digests_once_;
  std::optional<context::FileDigests> file_digests_;
  std::map<std::string, std::unique_ptr<OwnAgent>> agents_;  // set before the stages run
  std::mutex first_mu_;
  std::set<std::string> named_;
};

}  // namespace kiln::builder

#endif  // KILN_BUILDER_BUILD_SESSION_H_
