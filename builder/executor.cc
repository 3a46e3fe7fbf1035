#include "builder/executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <semaphore>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "base/version.h"
#include "builder/build_session.h"
#include "builder/copy_step.h"
#include "builder/dockerfile/parser.h"
#include "builder/files_output.h"
#include "builder/history.h"
#include "builder/metadata_step.h"
#include "builder/plan.h"
#include "builder/provenance.h"
#include "builder/run_step.h"
#include "builder/secrets.h"
#include "builder/stage_run.h"
#include "builder/step_cache.h"
#include "builder/workdir_step.h"
#include "layers/image_commit.h"
#include "layers/layout_transport.h"
#include "oci/image_config.h"
#include "oci/reference.h"
#include "transfer/transports.h"
#include "trust/attestations.h"
#include "trust/inventory.h"
#include "trust/spdx.h"

namespace kiln::builder {
namespace {

using dockerfile::Dockerfile;
using oci::Descriptor;

// Scheduling (stages on threads as their inputs are done), bases, and each step's way through
// the build cache; what a step does is its own file's (run_step, copy_step, workdir_step,
// metadata_step), over the build's shared session.
class Executor {
 public:
  Executor(layers::Store& store, const BuildRequest& request, const ProgressFn& progress)
      : store_(store),
        req_(request),
        session_(store, request, progress),
        records_(store.root(), store.blobs(), &session_.remote_cache()) {}

  absl::StatusOr<BuildResult> Run() {
    // Held for the whole build: blobs imported or written before they are named must not be
    // collected, nor the work directory.
    ASSIGN_OR_RETURN(lock_, store_.LockShared());
    std::string dockerfile =
        req_.dockerfile.empty() ? req_.context_dir + "/Dockerfile" : req_.dockerfile;
    std::string text;
    if (req_.dockerfile_text) {
      if (req_.dockerfile_text->size() > dockerfile::kMaxDockerfileSize) {
        return absl::InvalidArgumentError("the Dockerfile on stdin is too large");
      }
      text = *req_.dockerfile_text;
      dockerfile = req_.context_dir + "/Dockerfile";  // for the ignore file's name
    } else {
      ASSIGN_OR_RETURN(text, ReadFile(dockerfile, dockerfile::kMaxDockerfileSize));
    }
    dockerfile_digest_ = oci::Digest::Of(text);
    started_ = absl::Now();
    ASSIGN_OR_RETURN(df_,
                     dockerfile::Parse(text, req_.dockerfile_text ? "Dockerfile" : dockerfile));
    for (const std::string& w : df_.warnings) session_.Message(w);
    RETURN_IF_ERROR(session_.Open(dockerfile));
    std::vector<oci::Platform> platforms = req_.platforms;
    if (platforms.empty()) platforms.push_back(oci::Platform::Host());
    for (size_t i = 0; i < platforms.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (platforms[i].SameAs(platforms[j])) {
          return absl::InvalidArgumentError(
              absl::StrCat("--platform names ", platforms[i].str(), " twice"));
        }
      }
    }
    for (const oci::Platform& platform : platforms) {
      Target target;
      target.platform = platform.Normalized();
      PlanOptions options;
      options.target = req_.target;
      options.build_args = req_.build_args;
      options.target_platform = target.platform;
      options.build_platform = oci::Platform::Host();
      options.image_env = [this](
                              const std::string& image,
                              const oci::Platform& p) -> absl::StatusOr<std::vector<std::string>> {
        ASSIGN_OR_RETURN(ImageState state, session_.ImportImage(image, p));
        return state.config.config.env;
      };
      options.named_contexts = req_.named_contexts;
      options.image_triggers =
          [this](const std::string& image,
                 const oci::Platform& p) -> absl::StatusOr<std::vector<std::string>> {
        ASSIGN_OR_RETURN(ImageState state, session_.ImportImage(image, p));
        return state.config.config.on_build;
      };
      absl::StatusOr<Plan> plan = MakePlan(df_, options);
      if (!plan.ok() && platforms.size() > 1) {
        return Annotate(plan.status(), absl::StrCat("for ", target.platform.str()));
      }
      RETURN_IF_ERROR(plan.status());
      target.plan = *std::move(plan);
      // The plans differ only by platform: their warnings are the same.
      if (targets_.empty()) {
        for (const std::string& w : target.plan.warnings) session_.Message(w);
      }
      target.first_step = total_steps_;
      for (const Stage& s : target.plan.stages) total_steps_ += s.instructions.size();
      targets_.push_back(std::move(target));
    }
    for (const auto& [name, value] : req_.build_args) {
      if (LooksLikeSecret(name)) session_.Message(SecretNameWarning("--build-arg", name));
    }
    RETURN_IF_ERROR(PrepareSandboxes());
    RETURN_IF_ERROR(session_.StartSshAgents());
    RETURN_IF_ERROR(RunStages());
    BuildResult result;
    result.steps_run = steps_run_;
    result.steps_cached = steps_cached_;
    session_.SaveFileDigests();
    // One image per platform; several are an index of them (with their attestations).
    std::vector<Descriptor> manifests;
    std::vector<std::pair<std::string, ImageState>> finals;
    for (size_t t = 0; t < targets_.size(); ++t) {
      const Target& target = targets_[t];
      std::optional<ImageState> final_state =
          session_.DoneState(static_cast<int>(t), target.plan.target);
      if (!final_state) return absl::InternalError("the target stage was not built");
      for (const auto& [k, v] : req_.labels) final_state->config.config.labels[k] = v;
      ASSIGN_OR_RETURN(Descriptor image,
                       Commit(*final_state, &result.config, BaseAnnotations(target.plan)));
      image.platform = final_state->config.platform();
      manifests.push_back(image);
      if (req_.sbom || req_.provenance) {
        ASSIGN_OR_RETURN_CTX(Descriptor att, Attest(image, *final_state), "attestations");
        manifests.push_back(std::move(att));
      }
      finals.emplace_back(PlatformDir(target.platform), *std::move(final_state));
    }
    Descriptor top = manifests[0];
    top.platform.reset();
    if (manifests.size() > 1) {
      ASSIGN_OR_RETURN(top, layers::CommitIndex(store_.blobs(), manifests));
      if (targets_.size() > 1) result.config = Descriptor();  // an index has no one config
    }
    for (const std::string& tag : req_.tags) RETURN_IF_ERROR(store_.Tag(tag, top));
    if (targets_.size() == 1) finals[0].first.clear();
    RETURN_IF_ERROR(WriteOutputs(top, finals));
    RETURN_IF_ERROR(ExportCaches());
    result.manifest_digest = top.digest;
    result.manifest = top;
    for (const Descriptor& m : manifests) {
      if (m.platform && m.platform->os != "unknown") result.platforms.push_back(*m.platform);
    }
    return result;
  }

 private:
  // One platform's build: its plan, and where its steps' numbers start.
  struct Target {
    oci::Platform platform;
    Plan plan;
    int first_step = 0;
  };

  // BuildKit's directory for a platform's files in a multi-platform local or tar output.
  static std::string PlatformDir(const oci::Platform& p) {
    return absl::StrReplaceAll(p.str(), {{"/", "_"}});
  }

  // --output files and locations and, with --push, every tag's registry. `images` are the
  // final states by platform directory (one, with no directory, for a single platform).
  absl::Status WriteOutputs(const Descriptor& top,
                            const std::vector<std::pair<std::string, ImageState>>& images) {
    if (!req_.files_outputs.empty()) {
      for (const auto& [dir, state] : images) {
        RETURN_IF_ERROR_CTX(session_.EnsureLayers(state), "the image's layers");
      }
    }
    for (const FilesOutput& out : req_.files_outputs) {
      session_.Message(absl::StrCat("writing the image's files to ", out.dest));
      RETURN_IF_ERROR_CTX(WriteFilesOutput(store_.blobs(), images, out, req_.source_date_epoch),
                          "--output ", out.tar ? "type=tar" : "type=local", ",dest=", out.dest);
    }
    std::vector<std::string> outputs = req_.outputs;
    if (req_.push) {
      for (const std::string& tag : req_.tags) {
        ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(tag));
        outputs.push_back(absl::StrCat("docker://", ref.String()));
      }
    }
    for (const std::string& output : outputs) {
      ASSIGN_OR_RETURN(transfer::ImageLocation loc, transfer::ParseImageLocation(output));
      session_.Message(absl::StrCat("writing ", loc.String()));
      // Layers left in a registry cache are read from there only if the destination needs
      // their bytes (a registry that has them, or can mount them, does not).
      auto source = transfer::NewStoreSource(&store_, top, req_.transport);
      ASSIGN_OR_RETURN_CTX(auto dest, transfer::OpenImageDestination(loc, &store_, req_.transport),
                           "writing ", output);
      RETURN_IF_ERROR_CTX(layers::CopyImage(*source, *dest, {}).status(), "writing ", output);
    }
    return absl::OkStatus();
  }

  // --cache-to: the records of the final image's stages (mode=min: the target and the stages
  // it is built on) or of every stage (mode=max), as this build used or made them.
  absl::Status ExportCaches() {
    if (req_.cache_to.empty()) return absl::OkStatus();
    std::set<std::pair<int, int>> final_stages;  // by target and stage index
    for (size_t t = 0; t < targets_.size(); ++t) {
      const Plan& plan = targets_[t].plan;
      for (int s = plan.target; s >= 0; s = plan.stages[s].base_stage) {
        final_stages.insert({static_cast<int>(t), s});
      }
    }
    // Each record read once, for every --cache-to.
    layers::NamedRecords all, final_only;
    {
      std::lock_guard<std::mutex> lock(used_mu_);
      layers::BuildCache cache(store_.root());
      for (const auto& [name, stage] : used_) {
        std::optional<layers::CacheRecord> r = cache.Read(name);
        if (!r) continue;
        if (final_stages.count(stage) > 0) final_only[name] = *r;
        all[name] = *std::move(r);
      }
    }
    for (const CacheSpec& to : req_.cache_to) {
      const layers::NamedRecords& records = to.max ? all : final_only;
      session_.Message(
          absl::StrCat("exporting cache to ", to.String(), " (", records.size(), " records)"));
      absl::Status s = session_.remote_cache().Export(records, to);
      if (!s.ok() && to.ignore_error) {
        session_.Message(absl::StrCat("cache ", to.String(), " not written: ", s.message()));
      } else {
        RETURN_IF_ERROR_CTX(s, "exporting cache to ", to.String());
      }
    }
    return absl::OkStatus();
  }

  // A record this build used or made, for --cache-to.
  void Used(const StageRun& run, const std::string& name) {
    std::lock_guard<std::mutex> lock(used_mu_);
    used_.emplace(name, std::pair<int, int>{run.target, run.stage.index});
  }

  // What RUN steps get; the Dockerfile's own RUN --network/--security flags are checked
  // against the build's entitlements before any step runs.
  absl::Status PrepareSandboxes() {
    bool any_run = false;
    for (const Target& t : targets_) {
      for (const Stage& s : t.plan.stages) {
        for (const PlannedInstruction& p : s.instructions) {
          any_run |= p.instruction == "RUN";
        }
      }
    }
    if (!any_run) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::unique_ptr<StepSandboxes> sandboxes,
                     StepSandboxes::Create(req_.sandbox, session_.work()));
    for (const std::string& w : sandboxes->warnings()) session_.Message(w);
    for (const Target& t : targets_) {
      for (const Stage& s : t.plan.stages) {
        for (const PlannedInstruction& p : s.instructions) {
          if (p.instruction != "RUN") continue;
          absl::Status status = sandboxes->NetworkFor(p.flags).status();
          if (status.ok()) status = sandboxes->InsecureFor(p.flags).status();
          // A foreign platform's steps run under emulation: what it needs is checked first.
          if (status.ok()) status = sandboxes->EmulationFor(s.runs_on).status();
          RETURN_IF_ERROR_CTX(status, df_.filename, ":", p.line, ": RUN");
        }
      }
    }
    session_.SetSandboxes(std::move(sandboxes));
    return absl::OkStatus();
  }

  // --- bases ---

  absl::StatusOr<ImageState> Base(const StageRun& run) {
    ASSIGN_OR_RETURN(ImageState state, BaseImage(run));
    // Every stage has a PATH, the default one when its base sets none (scratch included),
    // as BuildKit gives it.
    auto& env = state.config.config.env;
    if (std::none_of(env.begin(), env.end(),
                     [](const std::string& e) { return absl::StartsWith(e, "PATH="); })) {
      env.push_back(absl::StrCat("PATH=", oci::kDefaultPath));
    }
    return state;
  }

  absl::StatusOr<ImageState> BaseImage(const StageRun& run) {
    const Stage& stage = run.stage;
    if (stage.base_stage >= 0) {
      std::optional<ImageState> base = session_.DoneState(run.target, stage.base_stage);
      if (!base) return absl::InternalError("base stage not built yet");
      // The stage's ONBUILD lines ran as this stage's first steps; they are not passed on.
      base->config.config.on_build.clear();
      return *std::move(base);
    }
    if (stage.base == "scratch") return BuildSession::Scratch(stage.runs_on);
    ASSIGN_OR_RETURN(ImageState state, session_.ImportImage(stage.base, stage.runs_on, &run));
    // The plan runs the image's ONBUILD triggers first; they are not passed on.
    state.config.config.on_build.clear();
    return state;
  }

  // --- the stages ---

  // Runs every stage of every platform's plan, each on its own thread as soon as the stages it
  // uses are done, at most as many at once as there are cores (two at least). The first error
  // stops the build: stages not started never start, running ones stop before their next step.
  absl::Status RunStages() {
    std::mutex mu;
    std::condition_variable cv;
    absl::Status first_error;
    std::set<std::pair<int, int>> finished;  // by target and stage index
    std::counting_semaphore<64> slots(
        std::clamp<int>(static_cast<int>(std::thread::hardware_concurrency()), 2, 64));
    std::vector<std::thread> threads;
    for (size_t t = 0; t < targets_.size(); ++t) {
      const int target = static_cast<int>(t);
      int first_step = targets_[t].first_step;
      for (const Stage& stage : targets_[t].plan.stages) {
        threads.emplace_back([&, target, first_step, &stage = stage] {
          std::vector<int> needs = stage.depends_on;
          if (stage.base_stage >= 0) needs.push_back(stage.base_stage);
          {
            std::unique_lock<std::mutex> lock(mu);
            cv.wait(lock, [&] {
              return failed_ || std::all_of(needs.begin(), needs.end(), [&](int n) {
                       return finished.count({target, n}) > 0;
                     });
            });
            if (failed_) return;
          }
          slots.acquire();
          StageRun run{stage, first_step, {}, {}, target};
          absl::StatusOr<ImageState> state = RunStage(run);
          slots.release();
          {
            std::lock_guard<std::mutex> lock(mu);
            if (state.ok()) {
              session_.SetDone(target, stage.index, *std::move(state));
              finished.insert({target, stage.index});
            } else if (!failed_) {
              failed_ = true;
              first_error = state.status();
            }
          }
          cv.notify_all();
        });
        first_step += static_cast<int>(stage.instructions.size());
      }
    }
    for (std::thread& t : threads) t.join();
    return first_error;
  }

  // --- the steps ---

  absl::StatusOr<ImageState> RunStage(StageRun& run) {
    const Stage& stage = run.stage;
    ASSIGN_OR_RETURN(ImageState state, Base(run));
    std::string label = stage.name.empty() ? absl::StrCat("stage-", stage.index) : stage.name;
    // Several platforms: each step says which it is for, as BuildKit's progress does.
    if (targets_.size() > 1) label = absl::StrCat(targets_[run.target].platform.str(), " ", label);
    for (const PlannedInstruction& p : stage.instructions) {
      if (failed_) return absl::CancelledError("another stage failed");
      ++run.step;
      std::string text = p.ToText();
      session_.Event(&run, BuildEvent::Kind::kStepStart, [&](BuildEvent& e) {
        e.total = total_steps_;
        e.stage = label;
        e.text = text;
      });
      if (p.instruction == "ARG") DeclareArgs(p, run);
      RETURN_IF_ERROR(Step(p, run, state));
    }
    return state;
  }

  // An ARG's names and default values join the stage's build args.
  static void DeclareArgs(const PlannedInstruction& p, StageRun& run) {
    for (const std::string& a : p.args) {
      std::pair<std::string, std::string> kv = absl::StrSplit(a, absl::MaxSplits('=', 1));
      if (a.find('=') != std::string::npos) run.args[kv.first] = kv.second;
      std::vector<std::string>& names = run.arg_names;
      if (std::find(names.begin(), names.end(), kv.first) == names.end()) {
        names.push_back(kv.first);
      }
    }
  }

  // One step: restored from the build cache when it can be, else executed and recorded.
  absl::Status Step(const PlannedInstruction& p, StageRun& run, ImageState& state) {
    const bool filtered = session_.NoCacheFilter(run.stage);
    const bool no_cache = req_.no_cache || filtered;
    auto annotate = [&](const absl::Status& s) {
      return Annotate(s, absl::StrCat(df_.filename, ":", p.line, ": ", p.instruction));
    };
    absl::StatusOr<std::string> key = StepKey(session_, run, state, p);
    if (!key.ok()) return annotate(key.status());
    auto start = std::chrono::steady_clock::now();
    std::string link_key;  // COPY --link: the key of its layer on any base
    if (!no_cache) {
      ASSIGN_OR_RETURN(bool hit, FromCache(p, run, *key, &link_key, state));
      if (hit) {
        Used(run, *key);
        if (!IsMetadataStep(p)) ++steps_cached_;
        session_.Event(&run, BuildEvent::Kind::kStepCached);
        return absl::OkStatus();
      }
    }
    if (link_key.empty() && LinkReusable(p)) {
      absl::StatusOr<std::string> k = StepKey(session_, run, state, p, /*link=*/true);
      if (!k.ok()) return annotate(k.status());
      link_key = *k;
    }
    size_t layers_before = state.layers.size();
    if (absl::Status s = Execute(p, run, &state); !s.ok()) return annotate(ImagePaths(run, s));
    // A step run under the no-cache filter passes on a key of what it made, so what builds
    // on it runs again only if that changed.
    state.key = filtered ? ContentKey(*key, state) : *key;
    RETURN_IF_ERROR(IsMetadataStep(p) ? records_.SaveMarker(*key, state.key)
                                      : records_.SaveStep(*key, state));
    Used(run, *key);
    if (!link_key.empty()) {
      RETURN_IF_ERROR(records_.SaveLinkedLayer(link_key, state, layers_before));
      Used(run, "link-" + link_key);
    }
    if (!IsMetadataStep(p)) ++steps_run_;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    session_.Event(&run, BuildEvent::Kind::kStepDone, [&](BuildEvent& e) { e.seconds = secs; });
    return absl::OkStatus();
  }

  // The step's result from the build cache, if it has one. A metadata step only changes the
  // config, which is quick to redo from the state in hand: its record (a marker) just says
  // the step was done (and, under the no-cache filter, the key it passed on), so records cost
  // what a step changes, not the whole config each. A COPY --link layer made on another base
  // is reused through its link record (`link_key`, computed on the way, is kept for the
  // record a miss writes).
  absl::StatusOr<bool> FromCache(const PlannedInstruction& p, StageRun& run, const std::string& key,
                                 std::string* link_key, ImageState& state) {
    if (IsMetadataStep(p)) {
      std::optional<std::string> passed_on = records_.LoadMarker(key);
      if (!passed_on) return false;
      if (absl::Status s = Execute(p, run, &state); !s.ok()) {
        return Annotate(s, absl::StrCat(df_.filename, ":", p.line, ": ", p.instruction));
      }
      state.key = *passed_on;
      return true;
    }
    if (std::optional<ImageState> hit = records_.LoadStep(key); hit) {
      state = std::move(*hit);
      return true;
    }
    if (!LinkReusable(p)) return false;
    ASSIGN_OR_RETURN_CTX(*link_key, StepKey(session_, run, state, p, /*link=*/true), df_.filename,
                         ":", p.line, ": ", p.instruction);
    if (records_.ReuseLinkedLayer(*link_key, session_.created(), CreatedBy(p, state.config.config),
                                  &state)) {
      state.key = key;
      RETURN_IF_ERROR(records_.SaveStep(key, state));
      Used(run, "link-" + *link_key);
      return true;
    }
    return false;
  }

  // `s` with the step's diff directory taken out of the paths it names: what a step writes
  // there is named by its path in the image, as the Dockerfile wrote it.
  absl::Status ImagePaths(const StageRun& run, const absl::Status& s) {
    std::string diff = session_.StepDir(run) + "/diff";
    std::string message(s.message());
    if (message.find(diff) == std::string::npos) return s;
    absl::StrReplaceAll({{diff + "/", "/"}, {diff, "/"}}, &message);
    return absl::Status(s.code(), message);
  }

  // Runs one step, recording it in the image's history as BuildKit words it (history.h).
  absl::Status Execute(const PlannedInstruction& p, StageRun& run, ImageState* state) {
    const std::string& n = p.instruction;
    if (n == "RUN") return RunStep(session_, p, run, state);
    if (n == "COPY" || n == "ADD") return CopyStep(session_, p, run, state);
    if (n == "WORKDIR") return WorkdirStep(session_, p, run, state);
    RETURN_IF_ERROR(ApplyMetadataStep(p, &state->config));
    std::string created_by = CreatedBy(p, state->config.config);
    if (!created_by.empty()) AddHistory(state, session_.created(), created_by, /*empty=*/true);
    return absl::OkStatus();
  }

  // --sbom and --provenance: the attestation manifest of an image, for the index beside it.
  absl::StatusOr<Descriptor> Attest(const Descriptor& image, const ImageState& state) {
    std::vector<trust::Statement> statements;
    std::string name = req_.tags.empty() ? "image" : req_.tags[0];
    if (absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(name); ref.ok()) {
      name = ref->Familiar();
    }
    if (req_.sbom) {
      session_.Message("generating the SBOM");
      auto source = transfer::NewStoreSource(&store_, image, req_.transport);
      ASSIGN_OR_RETURN(trust::Inventory inv, trust::InventoryOf(*source, state.layers));
      trust::SpdxSubject subject{name, image.digest, session_.created(),
                                 absl::StrCat("kiln-", kKilnVersion)};
      statements.push_back({trust::kSpdxPredicate, trust::SpdxJson(inv, subject)});
    }
    if (req_.provenance) {
      ProvenanceInputs in;
      in.dockerfile = dockerfile_digest_;
      in.dockerfile_name = df_.filename;
      ASSIGN_OR_RETURN(in.context, session_.context().DigestOf({"."}, session_.KnownFileDigests()));
      in.target = req_.target;
      in.build_args = req_.build_args;
      in.images = session_.ResolvedImages();
      in.urls = session_.FetchedUrls();
      in.builder_id = absl::StrCat("https://kiln.dev/kiln@", kKilnVersion);
      in.started = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", started_, absl::UTCTimeZone());
      in.finished = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
      in.source_date_epoch = req_.source_date_epoch;
      statements.push_back({trust::kSlsaProvenancePredicate, SlsaProvenance(in)});
    }
    return trust::AttestationManifest(store_.blobs(), name, image, state.config.platform(),
                                      statements);
  }

  absl::StatusOr<Descriptor> Commit(const ImageState& state, Descriptor* config,
                                    const std::map<std::string, std::string>& annotations) {
    RETURN_IF_ERROR_CTX(session_.DeferLayers(state), "the image's layers");
    oci::ImageConfig image_config = state.config;
    image_config.created = session_.created();
    return layers::CommitImage(store_.blobs(), image_config, state.layers, config, annotations);
  }

  // The OCI annotations naming the image the target stage is built on (through the stages it
  // builds on): its reference and the digest it resolved to, so `kiln rebase` knows which
  // layers are the base's. None for an image built from scratch.
  std::map<std::string, std::string> BaseAnnotations(const Plan& plan) {
    auto stage_of = [&](int index) -> const Stage* {
      for (const Stage& s : plan.stages) {
        if (s.index == index) return &s;
      }
      return nullptr;
    };
    const Stage* s = stage_of(plan.target);
    while (s != nullptr && s->base_stage >= 0) s = stage_of(s->base_stage);
    if (s == nullptr || s->base == "scratch") return {};
    for (const auto& [name, digest] : session_.ResolvedImages()) {
      if (name != s->base) continue;
      absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(name);
      return {{"org.opencontainers.image.base.name", ref.ok() ? ref->String() : name},
              {"org.opencontainers.image.base.digest", digest.str()}};
    }
    return {};
  }

  layers::Store& store_;
  const BuildRequest& req_;
  std::optional<layers::Store::Lock> lock_;  // shared, for the whole build
  oci::Digest dockerfile_digest_;
  absl::Time started_;
  BuildSession session_;  // after lock_: its work directory goes first
  StepRecords records_;
  Dockerfile df_;
  std::vector<Target> targets_;  // one per platform, in --platform order
  int total_steps_ = 0;
  std::atomic<bool> failed_{false};  // a stage failed: no step starts after it
  std::atomic<int> steps_run_{0}, steps_cached_{0};
  std::mutex used_mu_;
  std::map<std::string, std::pair<int, int>> used_;  // record name -> target and stage
};

}  // namespace

absl::StatusOr<BuildResult> Build(layers::Store& store, const BuildRequest& request,
                                  const ProgressFn& progress) {
  Executor executor(store, request, progress);
  return executor.Run();
}

}  // namespace kiln::builder
