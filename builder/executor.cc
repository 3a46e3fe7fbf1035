#include "builder/executor.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <semaphore>
#include <set>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/copy_tree.h"
#include "base/file_util.h"
#include "base/glob.h"
#include "base/id_map.h"
#include "base/in_root.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "builder/context/build_context.h"
#include "builder/context/dockerignore.h"
#include "builder/copy_sources.h"
#include "builder/diff_writer.h"
#include "builder/dockerfile/file_mode.h"
#include "builder/dockerfile/parser.h"
#include "builder/dockerfile/quote.h"
#include "builder/dockerfile/run_mount.h"
#include "builder/history.h"
#include "builder/image_path.h"
#include "builder/layered_fs.h"
#include "builder/metadata_step.h"
#include "builder/plan.h"
#include "builder/run_command.h"
#include "builder/sandbox/sandbox.h"
#include "builder/url_fetch.h"
#include "builder/user.h"
#include "layers/build_cache.h"
#include "layers/extract.h"
#include "layers/image_commit.h"
#include "layers/layer_writer.h"
#include "layers/layout_transport.h"
#include "layers/snapshots.h"
#include "nlohmann/json.hpp"
#include "oci/image_config.h"
#include "oci/json_util.h"
#include "oci/manifest.h"
#include "oci/reference.h"
#include "transfer/transports.h"

namespace kiln::builder {
namespace {

using dockerfile::Dockerfile;
using oci::Descriptor;
using oci::Digest;

// The image as the build has it so far.
struct ImageState {
  oci::ImageConfig config;
  std::vector<Descriptor> layers;  // bottom first, one per config.diff_ids entry
  std::string key;                 // the cache key chain up to here
};

bool DirIsEmpty(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return true;
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

std::string Hex(absl::string_view text) { return Digest::Of(text).hex(); }

// A stage being run, passed to each of its steps: stages run concurrently, one per thread.
struct StageRun {
  const Stage& stage;
  int step = 0;                             // the step being run, numbered over the build
  std::map<std::string, std::string> args;  // the stage's ARG values so far
  std::vector<std::string> arg_names;       // the stage's ARGs, in the order declared
};

class Executor {
 public:
  Executor(layers::Store& store, const BuildRequest& request, const ProgressFn& progress)
      : store_(store), req_(request), progress_(progress), snapshots_(store.root()) {}

  ~Executor() { work_dir_.reset(); }  // before the members that use it go

  absl::StatusOr<BuildResult> Run() {
    // Held for the whole build: blobs imported or written before they are named must not be
    // collected, nor the work directory.
    ASSIGN_OR_RETURN(lock_, store_.LockShared());
    std::string dockerfile =
        req_.dockerfile.empty() ? req_.context_dir + "/Dockerfile" : req_.dockerfile;
    ASSIGN_OR_RETURN(std::string text, ReadFile(dockerfile, dockerfile::kMaxDockerfileSize));
    ASSIGN_OR_RETURN(df_, dockerfile::Parse(text, dockerfile));
    for (const std::string& w : df_.warnings) Message(w);
    ASSIGN_OR_RETURN(context_, context::BuildContext::Open(req_.context_dir, dockerfile));
    PlanOptions options;
    options.target = req_.target;
    options.build_args = req_.build_args;
    options.image_env =
        [this](const std::string& image) -> absl::StatusOr<std::vector<std::string>> {
      ASSIGN_OR_RETURN(ImageState state, ImportImage(image));
      return state.config.config.env;
    };
    options.image_triggers =
        [this](const std::string& image) -> absl::StatusOr<std::vector<std::string>> {
      ASSIGN_OR_RETURN(ImageState state, ImportImage(image));
      return state.config.config.on_build;
    };
    ASSIGN_OR_RETURN(plan_, MakePlan(df_, options));
    for (const std::string& w : plan_.warnings) Message(w);
    created_ = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(req_.source_date_epoch),
                                absl::UTCTimeZone());
    ASSIGN_OR_RETURN(std::string run_dir, store_.RunDir());
    // Owned: a build killed before it could clean up is swept by the next one.
    ASSIGN_OR_RETURN(TempDir work, TempDir::Create(run_dir + "/build-"));
    work_dir_.emplace(std::move(work));
    work_ = work_dir_->path();
    for (const Stage& s : plan_.stages) total_steps_ += s.instructions.size();
    RETURN_IF_ERROR(PrepareSandboxes());
    RETURN_IF_ERROR(RunStages());
    result_.steps_run = steps_run_;
    result_.steps_cached = steps_cached_;
    if (file_digests_) {
      // Only a cache: a failure to keep it costs the next build some reading.
      (void)file_digests_->Save(store_.FileDigestsPath());
    }
    ImageState& final_state = done_[plan_.target];
    for (const auto& [k, v] : req_.labels) final_state.config.config.labels[k] = v;
    ASSIGN_OR_RETURN(Descriptor top, Commit(final_state));
    for (const std::string& tag : req_.tags) RETURN_IF_ERROR(store_.Tag(tag, top));
    RETURN_IF_ERROR(WriteOutputs(top));
    result_.manifest_digest = top.digest;
    return result_;
  }

 private:
  // --output locations and, with --push, every tag's registry.
  absl::Status WriteOutputs(const Descriptor& top) {
    std::vector<std::string> outputs = req_.outputs;
    if (req_.push) {
      for (const std::string& tag : req_.tags) {
        ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(tag));
        outputs.push_back(absl::StrCat("docker://", ref.String()));
      }
    }
    for (const std::string& output : outputs) {
      ASSIGN_OR_RETURN(transfer::ImageLocation loc, transfer::ParseImageLocation(output));
      Message(absl::StrCat("writing ", loc.String()));
      auto source = layers::NewBlobStoreSource(&store_.blobs(), top, /*verified=*/true);
      ASSIGN_OR_RETURN_CTX(auto dest, transfer::OpenImageDestination(loc, &store_, req_.transport),
                           "writing ", output);
      RETURN_IF_ERROR_CTX(layers::CopyImage(*source, *dest, {}).status(), "writing ", output);
    }
    return absl::OkStatus();
  }

  // What RUN steps get; the Dockerfile's own RUN --network/--security flags are checked
  // against the build's entitlements before any step runs.
  absl::Status PrepareSandboxes() {
    bool any_run = false;
    for (const Stage& s : plan_.stages) {
      for (const PlannedInstruction& p : s.instructions) {
        any_run |= p.instruction == "RUN";
      }
    }
    if (!any_run) return absl::OkStatus();
    ASSIGN_OR_RETURN(sandboxes_, StepSandboxes::Create(req_.sandbox, work_));
    for (const std::string& w : sandboxes_->warnings()) Message(w);
    for (const Stage& s : plan_.stages) {
      for (const PlannedInstruction& p : s.instructions) {
        if (p.instruction != "RUN") continue;
        absl::Status status = sandboxes_->NetworkFor(p.flags).status();
        if (status.ok()) status = sandboxes_->InsecureFor(p.flags).status();
        RETURN_IF_ERROR_CTX(status, df_.filename, ":", p.line, ": RUN");
      }
    }
    return absl::OkStatus();
  }

  // The network and security mode a step runs with, for its cache key.
  std::string SandboxKey(const PlannedInstruction& p) {
    if (p.instruction != "RUN" || sandboxes_ == nullptr) return "";
    auto network = sandboxes_->NetworkFor(p.flags);
    auto insecure = sandboxes_->InsecureFor(p.flags);
    return absl::StrCat(" network=", network.ok() ? static_cast<int>(*network) : -1,
                        insecure.ok() && *insecure ? " insecure" : "");
  }

  // --- bases ---

  absl::StatusOr<ImageState> Scratch() {
    ImageState state;
    oci::Platform host = oci::Platform::Host();
    state.config.os = host.os;
    state.config.architecture = host.architecture;
    state.config.variant = host.variant;
    state.config.config.working_dir = "/";  // as BuildKit's empty image has it
    state.key = Hex("scratch " + host.str());
    return state;
  }

  // An image from the store or a transport location; its blobs are added to the store.
  absl::StatusOr<ImageState> ImportImage(const std::string& name, const StageRun* run = nullptr) {
    std::lock_guard<std::mutex> lock(import_mu_);  // one import (or pull) of each image
    if (auto it = imported_.find(name); it != imported_.end()) return it->second;
    ASSIGN_OR_RETURN(transfer::ImageLocation loc, transfer::ParseImageLocation(name));
    std::unique_ptr<layers::ImageSource> source;
    if (loc.transport == transfer::Transport::kStore) {
      auto desc = store_.Resolve(name);
      if (!desc.ok() || req_.pull) {
        // Not in the store: a registry image, pulled once into the store under its name.
        ASSIGN_OR_RETURN(desc, PullBase(name, run));
      }
      source = layers::NewBlobStoreSource(&store_.blobs(), *desc);
    } else {
      ASSIGN_OR_RETURN(source, transfer::OpenImageSource(loc, &store_, req_.transport));
      auto sink = layers::NewBlobStoreDestination(
          &store_.blobs(), [](const Descriptor&) { return absl::OkStatus(); });
      layers::CopyOptions copy;
      copy.platform = oci::Platform::Host();
      RETURN_IF_ERROR_CTX(layers::CopyImage(*source, *sink, copy).status(), "importing ", name);
    }
    ASSIGN_OR_RETURN_CTX(layers::LoadedImage image,
                         layers::LoadImage(*source, oci::Platform::Host()), "base image ", name);
    if (image.config.diff_ids.size() != image.parsed.layers.size()) {
      return absl::DataLossError(absl::StrCat("base image ", name, ": ", image.parsed.layers.size(),
                                              " layers but ", image.config.diff_ids.size(),
                                              " DiffIDs"));
    }
    ImageState state;
    state.config = image.config;
    state.layers = image.parsed.layers;
    state.key = Hex(absl::StrCat("image ", image.manifest.digest.str()));
    imported_[name] = state;
    return state;
  }

  // Downloads an ADD URL once per build step (kept until the step moves it into its diff).
  absl::StatusOr<FetchedUrl> Fetch(const std::string& url,
                                   const std::optional<std::string>& checksum) {
    std::lock_guard<std::mutex> lock(fetch_mu_);
    // Once per URL and --checksum: each checksum is checked against what was downloaded.
    std::string key = absl::StrCat(url, "\n", checksum.value_or(""));
    auto it = fetched_.find(key);
    if (it != fetched_.end()) return it->second;
    std::string path = absl::StrCat(work_, "/fetch-", Hex(key));
    ASSIGN_OR_RETURN(FetchedUrl f, FetchUrl(url, path, checksum));
    return fetched_[key] = std::move(f);
  }

  // Pulls `name` from its registry into the store (this host's platform); returns its root.
  absl::StatusOr<Descriptor> PullBase(const std::string& name, const StageRun* run) {
    absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(name);
    if (!ref.ok()) return Annotate(ref.status(), absl::StrCat("base image ", name));
    Message(absl::StrCat("pulling ", ref->Familiar()), run);
    transfer::ImageLocation src{transfer::Transport::kRegistry, "", ref->String()};
    transfer::ImageLocation dst{transfer::Transport::kStore, "", ref->String()};
    const std::string what = absl::StrCat("base image ", name, " (pulling ", ref->String(), ")");
    ASSIGN_OR_RETURN_CTX(auto source, transfer::OpenImageSource(src, &store_, req_.transport),
                         what);
    ASSIGN_OR_RETURN_CTX(auto dest, transfer::OpenImageDestination(dst, &store_, req_.transport),
                         what);
    layers::CopyOptions copy;
    copy.platform = oci::Platform::Host();
    ASSIGN_OR_RETURN_CTX(oci::ManifestData top, layers::CopyImage(*source, *dest, copy), what);
    return top.ToDescriptor();
  }

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
      std::optional<ImageState> base = DoneState(stage.base_stage);
      if (!base) return absl::InternalError("base stage not built yet");
      // The stage's ONBUILD lines ran as this stage's first steps; they are not passed on.
      base->config.config.on_build.clear();
      return *std::move(base);
    }
    if (stage.base == "scratch") return Scratch();
    ASSIGN_OR_RETURN(ImageState state, ImportImage(stage.base, &run));
    // The plan runs the image's ONBUILD triggers first; they are not passed on.
    state.config.config.on_build.clear();
    return state;
  }

  // --- the stages ---

  // Runs every stage of the plan, each on its own thread as soon as the stages it uses are
  // done, at most as many at once as there are cores (two at least). The first error stops the
  // build: stages not started never start, running ones stop before their next step.
  absl::Status RunStages() {
    std::mutex mu;
    std::condition_variable cv;
    absl::Status first_error;
    std::set<int> finished;
    std::counting_semaphore<64> slots(
        std::clamp<int>(static_cast<int>(std::thread::hardware_concurrency()), 2, 64));
    std::vector<std::thread> threads;
    int first_step = 0;
    for (const Stage& stage : plan_.stages) {
      threads.emplace_back([&, first_step, &stage = stage] {
        std::vector<int> needs = stage.depends_on;
        if (stage.base_stage >= 0) needs.push_back(stage.base_stage);
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] {
            return failed_ || std::all_of(needs.begin(), needs.end(),
                                          [&](int n) { return finished.count(n) > 0; });
          });
          if (failed_) return;
        }
        slots.acquire();
        StageRun run{stage, first_step, {}, {}};
        absl::StatusOr<ImageState> state = RunStage(run);
        slots.release();
        {
          std::lock_guard<std::mutex> lock(mu);
          if (state.ok()) {
            SetDone(stage.index, *std::move(state));
            finished.insert(stage.index);
          } else if (!failed_) {
            failed_ = true;
            first_error = state.status();
          }
        }
        cv.notify_all();
      });
      first_step += static_cast<int>(stage.instructions.size());
    }
    for (std::thread& t : threads) t.join();
    return first_error;
  }

  void SetDone(int index, ImageState state) {
    std::lock_guard<std::mutex> lock(done_mu_);
    done_[index] = std::move(state);
  }
  std::optional<ImageState> DoneState(int index) {
    std::lock_guard<std::mutex> lock(done_mu_);
    auto it = done_.find(index);
    if (it == done_.end()) return std::nullopt;
    return it->second;
  }

  // --- the steps ---

  absl::StatusOr<ImageState> RunStage(StageRun& run) {
    const Stage& stage = run.stage;
    ASSIGN_OR_RETURN(ImageState state, Base(run));
    std::string label = stage.name.empty() ? absl::StrCat("stage-", stage.index) : stage.name;
    for (const PlannedInstruction& p : stage.instructions) {
      if (failed_) return absl::CancelledError("another stage failed");
      ++run.step;
      std::string text = p.ToText();
      Event(&run, BuildEvent::Kind::kStepStart, [&](BuildEvent& e) {
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
    const bool filtered = NoCacheFor(run.stage);
    const bool no_cache = req_.no_cache || filtered;
    auto annotate = [&](const absl::Status& s) {
      return Annotate(s, absl::StrCat(df_.filename, ":", p.line, ": ", p.instruction));
    };
    absl::StatusOr<std::string> key = StepKey(run, state, p);
    if (!key.ok()) return annotate(key.status());
    auto start = std::chrono::steady_clock::now();
    std::string link_key;  // COPY --link: the key of its layer on any base
    if (!no_cache) {
      ASSIGN_OR_RETURN(bool hit, FromCache(p, run, *key, &link_key, state));
      if (hit) {
        ++steps_cached_;
        Event(&run, BuildEvent::Kind::kStepCached);
        return absl::OkStatus();
      }
    }
    if (link_key.empty() && LinkReusable(p)) {
      absl::StatusOr<std::string> k = StepKey(run, state, p, /*link=*/true);
      if (!k.ok()) return annotate(k.status());
      link_key = *k;
    }
    size_t layers_before = state.layers.size();
    if (absl::Status s = Execute(p, run, &state); !s.ok()) return annotate(ImagePaths(run, s));
    // A step run under the no-cache filter passes on a key of what it made, so what builds
    // on it runs again only if that changed.
    state.key = filtered ? ContentKey(*key, state) : *key;
    RETURN_IF_ERROR(IsMetadataStep(p) ? SaveMarker(*key, state.key) : SaveCache(*key, state));
    if (!link_key.empty()) RETURN_IF_ERROR(SaveLinkedLayer(link_key, state, layers_before));
    ++steps_run_;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Event(&run, BuildEvent::Kind::kStepDone, [&](BuildEvent& e) { e.seconds = secs; });
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
      std::optional<std::string> passed_on = LoadMarker(key);
      if (!passed_on) return false;
      if (absl::Status s = Execute(p, run, &state); !s.ok()) {
        return Annotate(s, absl::StrCat(df_.filename, ":", p.line, ": ", p.instruction));
      }
      state.key = *passed_on;
      return true;
    }
    if (std::optional<ImageState> hit = LoadCache(key); hit) {
      state = std::move(*hit);
      return true;
    }
    if (!LinkReusable(p)) return false;
    ASSIGN_OR_RETURN_CTX(*link_key, StepKey(run, state, p, /*link=*/true), df_.filename, ":",
                         p.line, ": ", p.instruction);
    if (ReuseLinkedLayer(*link_key, CreatedBy(p, state.config.config), &state)) {
      state.key = key;
      RETURN_IF_ERROR(SaveCache(key, state));
      return true;
    }
    return false;
  }

  // A message of the build (`run` null) or of a stage's current step.
  void Message(const std::string& text, const StageRun* run = nullptr) {
    Event(run, BuildEvent::Kind::kMessage, [&](BuildEvent& e) { e.text = text; });
  }

  void Event(const StageRun* run, BuildEvent::Kind kind,
             const std::function<void(BuildEvent&)>& fill = nullptr) {
    BuildEvent e;
    e.kind = kind;
    e.step = run != nullptr ? run->step : 0;
    if (fill) fill(e);
    progress_(e);
  }

  // sha256(parent key, the expanded instruction, ARG values, COPY sources, heredocs, options).
  // A COPY --link step's layer does not depend on the layers below it: its key names only
  // what it copies and where (the working directory), so the layer is reused on any base.
  // Names in --chown are resolved in the base, so only numeric owners qualify.
  static bool LinkReusable(const PlannedInstruction& p) {
    if (!p.BoolFlag("link")) return false;
    const std::string* chown = p.Flag("chown");
    if (chown == nullptr) return true;
    return std::all_of(chown->begin(), chown->end(),
                       [](char ch) { return absl::ascii_isdigit(ch) || ch == ':'; });
  }

  absl::StatusOr<std::string> StepKey(const StageRun& run, const ImageState& state,
                                      const PlannedInstruction& p, bool link = false) {
    std::string parent = link ? absl::StrCat("link ", state.config.config.working_dir) : state.key;
    std::string material =
        absl::StrCat("kiln-step-v2\n", parent, "\n", p.ToText(), "\n", req_.source_date_epoch, " ",
                     layers::CompressionName(req_.compression), SandboxKey(p), "\n");
    // ARG values reach RUN's environment; a linked COPY sees only its expanded arguments.
    if (!link) {
      for (const auto& [k, v] : run.args) absl::StrAppend(&material, "arg ", k, "=", v, "\n");
    }
    for (const std::string& h : p.heredocs) absl::StrAppend(&material, "heredoc ", h, "\n");
    if (p.instruction == "ADD") {
      // A URL is keyed by its content: the --checksum if given, else the bytes downloaded now.
      for (auto it = p.args.begin(); it + 1 < p.args.end(); ++it) {
        if (!IsUrl(*it)) continue;
        if (const std::string* c = p.Flag("checksum")) {
          absl::StrAppend(&material, "url ", *it, " ", *c, "\n");
        } else {
          ASSIGN_OR_RETURN(FetchedUrl f, Fetch(*it, std::nullopt));
          absl::StrAppend(&material, "url ", *it, " ", f.digest.str(), "\n");
        }
      }
    }
    if ((p.instruction == "COPY" || p.instruction == "ADD") && p.Flag("from") == nullptr) {
      std::vector<std::string> sources(p.args.begin(), p.args.end() - 1);
      std::erase_if(sources,
                    [](const std::string& s) { return absl::StartsWith(s, "<<") || IsUrl(s); });
      if (!sources.empty()) {
        ASSIGN_OR_RETURN(Digest d, context_->DigestOf(sources, KnownFileDigests()));
        absl::StrAppend(&material, "context ", d.str(), "\n");
      }
    }
    if (const std::string* from_flag = p.Flag("from")) {
      ASSIGN_OR_RETURN(ImageState from, SourceState(*from_flag, p.from_stage, run));
      absl::StrAppend(&material, "from ", from.key, "\n");
    }
    // What a RUN's bind mounts show is part of its input.
    for (size_t i = 0; i < p.mounts.size(); ++i) {
      const dockerfile::RunMount& m = p.mounts[i];
      if (m.type != dockerfile::MountType::kBind) continue;
      if (!m.from.empty()) {
        ASSIGN_OR_RETURN(ImageState from, SourceState(m.from, p.mount_from_stages[i], run));
        absl::StrAppend(&material, "mount-from ", from.key, "\n");
      } else {
        ASSIGN_OR_RETURN(
            Digest d, context_->DigestOf({m.source.empty() ? "." : m.source}, KnownFileDigests()));
        absl::StrAppend(&material, "mount-context ", d.str(), "\n");
      }
    }
    return Hex(material);
  }

  // `s` with the step's diff directory taken out of the paths it names: what a step writes
  // there is named by its path in the image, as the Dockerfile wrote it.
  absl::Status ImagePaths(const StageRun& run, const absl::Status& s) {
    std::string diff = absl::StrCat(work_, "/step-", run.step, "/diff");
    std::string message(s.message());
    if (message.find(diff) == std::string::npos) return s;
    absl::StrReplaceAll({{diff + "/", "/"}, {diff, "/"}}, &message);
    return absl::Status(s.code(), message);
  }

  bool NoCacheFor(const Stage& stage) const {
    for (const std::string& f : req_.no_cache_filter) {
      if ((!stage.name.empty() && absl::AsciiStrToLower(f) == stage.name) ||
          f == absl::StrCat(stage.index)) {
        return true;
      }
    }
    return false;
  }

  // The key of a step's result by content: its step key, config and layers.
  static std::string ContentKey(const std::string& key, const ImageState& state) {
    std::string material = absl::StrCat("kiln-content-v1\n", key, "\n", state.config.Serialize());
    for (const Descriptor& d : state.layers) absl::StrAppend(&material, "\n", d.digest.str());
    return Hex(material);
  }

  // The records of the build cache (layers/build_cache.h). A marker: the metadata step was
  // done; the key it passed on.
  std::optional<std::string> LoadMarker(const std::string& key) {
    std::optional<layers::CacheRecord> r = cache_.Read(key);
    if (!r || r->kind != layers::CacheRecord::Kind::kMarker) return std::nullopt;
    return r->passed_on.empty() ? key : r->passed_on;
  }

  absl::Status SaveMarker(const std::string& key, const std::string& passed_on) {
    layers::CacheRecord r;
    r.kind = layers::CacheRecord::Kind::kMarker;
    if (passed_on != key) r.passed_on = passed_on;
    return cache_.Write(key, r);
  }

  std::optional<ImageState> LoadCache(const std::string& key) {
    std::optional<layers::CacheRecord> r = cache_.Read(key);
    if (!r || r->kind != layers::CacheRecord::Kind::kStep) return std::nullopt;
    ImageState state;
    state.config = std::move(r->image);
    state.key = r->passed_on.empty() ? key : r->passed_on;
    for (Descriptor& d : r->layers) {
      if (!store_.blobs().Has(d.digest)) return std::nullopt;  // collected: a miss
      state.layers.push_back(std::move(d));
    }
    return state;
  }

  absl::Status SaveCache(const std::string& key, const ImageState& state) {
    layers::CacheRecord r;
    r.config = state.config.Serialize();
    r.layers = state.layers;
    if (state.key != key) r.passed_on = state.key;
    return cache_.Write(key, r);
  }

  // Link records (`link-<key>`): the layer a COPY --link made, or none when it copied
  // nothing, for any base.
  bool ReuseLinkedLayer(const std::string& link_key, const std::string& text, ImageState* state) {
    std::optional<layers::CacheRecord> r = cache_.Read("link-" + link_key);
    if (!r || r->kind != layers::CacheRecord::Kind::kLink) return false;
    if (r->layers.empty()) {
      AddHistory(state, text, /*empty=*/true);
      return true;
    }
    if (!store_.blobs().Has(r->layers[0].digest)) return false;
    state->layers.push_back(r->layers[0]);
    state->config.diff_ids.push_back(r->diff_ids[0]);
    AddHistory(state, text, /*empty=*/false);
    return true;
  }

  absl::Status SaveLinkedLayer(const std::string& link_key, const ImageState& state,
                               size_t layers_before) {
    layers::CacheRecord r;
    r.kind = layers::CacheRecord::Kind::kLink;
    for (size_t i = layers_before; i < state.layers.size(); ++i) {
      r.layers.push_back(state.layers[i]);
      r.diff_ids.push_back(state.config.diff_ids[i]);
    }
    return cache_.Write("link-" + link_key, r);
  }

  void AddHistory(ImageState* state, const std::string& created_by, bool empty) {
    state->config.history.push_back({created_, created_by, "", "kiln", empty});
  }

  // The stage's build args as a RUN's history lists them: in the order declared, an ENV of
  // the same name taking precedence.
  static std::vector<std::pair<std::string, std::string>> BuildArgs(const StageRun& run,
                                                                    const oci::ContainerConfig& c) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const std::string& name : run.arg_names) {
      auto it = run.args.find(name);
      std::string value = it == run.args.end() ? "" : it->second;
      for (const std::string& e : c.env) {
        if (absl::StartsWith(e, name + "=")) value = e.substr(name.size() + 1);
      }
      out.emplace_back(name, std::move(value));
    }
    return out;
  }

  // Runs one step, recording it in the image's history as BuildKit words it (history.h).
  absl::Status Execute(const PlannedInstruction& p, StageRun& run, ImageState* state) {
    const std::string& n = p.instruction;
    if (n == "RUN") return RunStep(p, run, state);
    if (n == "COPY" || n == "ADD") return CopyStep(p, run, state);
    if (n == "WORKDIR") return WorkdirStep(p, run, state);
    RETURN_IF_ERROR(ApplyMetadataStep(p, &state->config));
    std::string created_by = CreatedBy(p, state->config.config);
    if (!created_by.empty()) AddHistory(state, created_by, /*empty=*/true);
    return absl::OkStatus();
  }

  static absl::StatusOr<UniqueFd> MemoryFile(const char* name, absl::string_view content) {
    UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd.valid()) return ErrnoError("memfd_create");
    RETURN_IF_ERROR(WriteAll(fd.get(), content));
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) return ErrnoError("rewind the heredoc");
    return fd;
  }

  // Unpacked layers of `state`, topmost first (overlay lowerdir order).
  absl::StatusOr<std::vector<std::string>> LowerDirs(const ImageState& state) {
    std::vector<std::string> dirs;
    for (size_t i = state.layers.size(); i-- > 0;) {
      ASSIGN_OR_RETURN(std::string dir,
                       snapshots_.Get(store_.blobs(), state.layers[i], state.config.diff_ids[i]));
      dirs.push_back(std::move(dir));
    }
    return dirs;
  }

  // Adds the layer made from `dir` (or an empty history entry when nothing changed), and keeps
  // `dir` as the layer's snapshot so later steps need not unpack it.
  absl::Status CommitDiff(const StageRun& run, const std::string& dir, bool overlay,
                          const std::string& text, ImageState* state) {
    if (DirIsEmpty(dir)) {
      AddHistory(state, text, /*empty=*/true);
      return absl::OkStatus();
    }
    layers::LayerOptions options;
    options.compression = req_.compression;
    options.tar.source_date_epoch = req_.source_date_epoch;
    options.tar.overlay_whiteouts = overlay;
    options.on_progress = [this, &run](uint64_t bytes) {
      Event(&run, BuildEvent::Kind::kStepCommit, [&](BuildEvent& e) { e.bytes = bytes; });
    };
    ASSIGN_OR_RETURN(layers::Layer layer, layers::CreateLayer(dir, options, store_.blobs()));
    Event(&run, BuildEvent::Kind::kStepLayer, [&](BuildEvent& e) {
      e.text = layer.descriptor.digest.str();
      e.bytes = layer.descriptor.size;
    });
    state->layers.push_back(layer.descriptor);
    state->config.diff_ids.push_back(layer.diff_id);
    AddHistory(state, text, /*empty=*/false);
    // A RUN's upper directory is already in overlay format: it is the layer's snapshot.
    if (overlay) return snapshots_.Adopt(dir, layer.diff_id);
    return absl::OkStatus();
  }

  // RUN --mount: what the sandbox mounts for it, as BuildKit mounts it. Targets are relative
  // to the working directory. `scratch` is a directory of the step's own for rw bind copies.
  absl::StatusOr<std::vector<sandbox::SandboxMount>> RunMounts(const PlannedInstruction& p,
                                                               const StageRun& run,
                                                               const ImageState& state,
                                                               const std::string& scratch) {
    std::vector<sandbox::SandboxMount> mounts;
    const std::string& workdir = state.config.config.working_dir;
    for (size_t i = 0; i < p.mounts.size(); ++i) {
      const dockerfile::RunMount& m = p.mounts[i];
      const int from_stage = p.mount_from_stages[i];
      if (m.type == dockerfile::MountType::kSecret || m.type == dockerfile::MountType::kSsh) {
        return absl::UnimplementedError(
            absl::StrCat("--mount=type=", dockerfile::MountTypeName(m.type), ": not supported"));
      }
      sandbox::SandboxMount mount;
      mount.target = CleanAbsolute(JoinPath(workdir.empty() ? "/" : workdir, m.target));
      if (mount.target == "/") {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid mount target ", dockerfile::GoQuote(mount.target)));
      }
      mount.read_only = m.read_only;
      switch (m.type) {
        case dockerfile::MountType::kTmpfs:
          mount.type = sandbox::SandboxMount::Type::kTmpfs;
          mount.size = m.size.value_or(0);
          break;
        case dockerfile::MountType::kCache: {
          ASSIGN_OR_RETURN(mount.source, CacheMount(m, from_stage, mount.target, run));
          break;
        }
        case dockerfile::MountType::kBind: {
          ASSIGN_OR_RETURN(mount.source, MountSource(m.from, from_stage, m.source, run));
          if (!m.read_only) {
            // Writable, with nothing kept: a copy of its own, removed with the step.
            std::string copy = absl::StrCat(scratch, "/mount-", i);
            RETURN_IF_ERROR(MakeDirs(scratch));
            (void)RemoveAll(copy);
            RETURN_IF_ERROR_CTX(CopyTree(mount.source, copy), "copying the --mount source");
            mount.source = copy;
          }
          break;
        }
        default:
          break;  // refused above
      }
      mounts.push_back(std::move(mount));
    }
    return mounts;
  }

  // The host path of `source` in the build context, a stage or an image (a bind mount's
  // source, a cache's seed), resolved inside that root.
  absl::StatusOr<std::string> MountSource(const std::string& from, int from_stage,
                                          const std::string& source, const StageRun& run) {
    std::string root = context_->dir();
    if (!from.empty()) {
      ASSIGN_OR_RETURN(ImageState from_state, SourceState(from, from_stage, run));
      ASSIGN_OR_RETURN(root, Materialize(from_state));
    }
    UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd.valid()) return ErrnoError("open " + root);
    ASSIGN_OR_RETURN_CTX(UniqueFd fd,
                         OpenInRoot(root_fd.get(), source.empty() ? "." : source, O_PATH),
                         "--mount source \"", source, "\"");
    char real[4096];
    std::string proc = absl::StrCat("/proc/self/fd/", fd.get());
    ssize_t n = ::readlink(proc.c_str(), real, sizeof real - 1);
    if (n < 0) return ErrnoError("resolve --mount source");
    return std::string(real, n);
  }

  // A cache mount's directory: `cache-mounts/<hex of its key>` of the store, kept across
  // builds and never part of a layer. One cache per id (default: the target) and base: uid,
  // gid, mode and from= make caches of their own. A step run without the build cache starts
  // from an empty cache, as in BuildKit (once a build: stages running at once share it).
  absl::StatusOr<std::string> CacheMount(const dockerfile::RunMount& m, int from_stage,
                                         const std::string& target, const StageRun& run) {
    std::string key = m.id.empty() ? target : m.id;
    if (m.uid || m.gid || m.mode) {
      absl::StrAppend(&key, "\nowner ", m.uid.value_or(0), ":", m.gid.value_or(0), " mode ",
                      m.mode.value_or(0755));
    }
    if (!m.from.empty()) {
      ASSIGN_OR_RETURN(ImageState from_state, SourceState(m.from, from_stage, run));
      absl::StrAppend(&key, "\nfrom ", from_state.key, " ", m.source);
    }
    std::string dir = store_.CacheMountDir(Hex(key));
    if (req_.no_cache || NoCacheFor(run.stage)) {
      std::lock_guard<std::mutex> lock(reset_mu_);
      if (reset_caches_.insert(dir).second && PathExists(dir)) {
        std::string old = absl::StrCat(dir, ".old-", ::getpid());
        (void)RemoveAll(old);
        if (::rename(dir.c_str(), old.c_str()) != 0) return ErrnoError("rename " + dir);
        RETURN_IF_ERROR(RemoveAll(old));
      }
    }
    if (!PathExists(dir)) RETURN_IF_ERROR(MakeCacheMount(m, from_stage, dir, run));
    return dir;
  }

  // Makes a cache directory whole beside its place (seeded from from=, with uid, gid and
  // mode: root's, 0755 by default), then renames it there: a failed seed leaves no cache.
  // Unique in the process too: stages running at once may make the same cache.
  absl::Status MakeCacheMount(const dockerfile::RunMount& m, int from_stage, const std::string& dir,
                              const StageRun& run) {
    std::string fresh = absl::StrCat(dir, ".new-", ::getpid(), "-", fresh_cache_seq_++);
    (void)RemoveAll(fresh);
    RETURN_IF_ERROR(MakeDirs(Dirname(fresh), 0755));
    if (!m.from.empty()) {
      ASSIGN_OR_RETURN(std::string seed, MountSource(m.from, from_stage, m.source, run));
      RETURN_IF_ERROR_CTX(CopyTree(seed, fresh), "seeding the cache from ", m.from);
    } else if (::mkdir(fresh.c_str(), 0755) != 0) {
      return ErrnoError("mkdir " + fresh);
    }
    if ((m.uid || m.gid) && ::lchown(fresh.c_str(), m.uid.value_or(0), m.gid.value_or(0)) != 0) {
      return ErrnoError("chown " + fresh);
    }
    if (m.mode && ::chmod(fresh.c_str(), *m.mode & 07777) != 0) {
      return ErrnoError("chmod " + fresh);
    }
    if (::rename(fresh.c_str(), dir.c_str()) != 0) {
      int err = errno;
      (void)RemoveAll(fresh);
      // Another build made it meanwhile: use that one.
      if (err != ENOTEMPTY && err != EEXIST) return ErrnoError("rename " + fresh, err);
    }
    return absl::OkStatus();
  }

  // The paths a step's mounts will create in its root because the image lacks them (a
  // target and its missing parents, deepest first): after the run, the ones still empty are
  // taken out of the step's changes, so a mount leaves no trace, as with BuildKit.
  static absl::StatusOr<std::vector<std::string>> MountStubs(
      const std::vector<sandbox::SandboxMount>& mounts, const LayeredFs& image) {
    std::vector<std::string> stubs;
    for (const sandbox::SandboxMount& m : mounts) {
      std::string path = m.target;
      while (path != "/" && !path.empty()) {
        ASSIGN_OR_RETURN(std::string parent, image.Resolve(Dirname(path), /*follow_last=*/true));
        std::string placed = JoinPath(parent, path.substr(path.rfind('/') + 1));
        if (image.Lookup(placed)) break;
        stubs.push_back(placed);
        path = Dirname(path);
      }
    }
    return stubs;
  }
  static void RemoveMountStubs(const std::vector<std::string>& stubs, const std::string& upper) {
    for (const std::string& stub : stubs) {
      std::string path = upper + stub;
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        ::rmdir(path.c_str());  // only when empty
      } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
        ::unlink(path.c_str());
      }
    }
  }

  absl::Status RunStep(const PlannedInstruction& p, StageRun& run, ImageState* state) {
    std::string dir = absl::StrCat(work_, "/step-", run.step);
    ASSIGN_OR_RETURN(std::vector<sandbox::SandboxMount> mounts,
                     RunMounts(p, run, *state, dir + "/mounts"));
    const oci::ContainerConfig& c = state->config.config;
    ASSIGN_OR_RETURN(RunCommand command, CommandOf(p, c));
    const std::vector<std::string>& argv = command.argv;
    UniqueFd script_fd;  // the step's stdin, when it runs a heredoc with a #! line
    if (command.has_stdin_script) {
      ASSIGN_OR_RETURN(script_fd, MemoryFile("heredoc", command.stdin_script));
    }
    ASSIGN_OR_RETURN(std::vector<std::string> lowers, LowerDirs(*state));
    sandbox::SandboxSpec spec;
    spec.lower_dirs = lowers;
    spec.upper_dir = dir + "/upper";
    spec.work_dir = dir + "/work";
    spec.root_mount = dir + "/root";
    RETURN_IF_ERROR(MakeDirs(spec.upper_dir));
    RETURN_IF_ERROR(MakeDirs(spec.work_dir));
    spec.argv = argv;
    spec.stdin_fd = script_fd.valid() ? script_fd.get() : -1;
    spec.mounts = std::move(mounts);
    ASSIGN_OR_RETURN(std::unique_ptr<StepResources> resources, sandboxes_->Prepare(p.flags, &spec));
    const LayeredFs image(lowers);
    ASSIGN_OR_RETURN(std::vector<std::string> stubs, MountStubs(spec.mounts, image));
    ASSIGN_OR_RETURN(ResolvedUser user, ResolveUser(c.user, [&](const std::string& path) {
                       return image.ReadFile(path);
                     }));
    spec.uid = user.uid;
    spec.gid = user.gid;
    spec.groups = user.groups;
    spec.cwd = c.working_dir.empty() ? "/" : c.working_dir;
    // Proxy build arguments stay out of the step's key (they are not in run.args).
    spec.env = RunEnvironment(req_.build_args, run.args, c.env, user.home);
    std::deque<std::string> tail;
    ASSIGN_OR_RETURN(sandbox::SandboxResult result, RunWithOutput(run, spec, &tail));
    if (result.exit_code != 0) {
      if (std::optional<std::string> oom = resources->OutOfMemory()) {
        return absl::ResourceExhaustedError(*oom);
      }
      resources.reset();
      return absl::AbortedError(
          absl::StrCat("process ", dockerfile::GoQuote(absl::StrJoin(spec.argv, " ")),
                       " did not complete successfully: exit code: ", result.exit_code,
                       tail.empty() ? "" : "; last output:\n  " + absl::StrJoin(tail, "\n  ")));
    }
    resources.reset();  // the network and cgroup go back before the layer is written
    (void)RemoveAll(dir + "/mounts");
    RemoveMountStubs(stubs, spec.upper_dir);
    return CommitDiff(run, spec.upper_dir, /*overlay=*/true, RunCreatedBy(argv, BuildArgs(run, c)),
                      state);
  }

  // Runs the step's process with its stdout and stderr read line by line into kStepOutput
  // events (on a thread of its own, so a chatty step never blocks); `tail` keeps the last ten
  // lines for the error message.
  absl::StatusOr<sandbox::SandboxResult> RunWithOutput(const StageRun& run,
                                                       sandbox::SandboxSpec& spec,
                                                       std::deque<std::string>* tail_out) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    spec.stdout_fd = spec.stderr_fd = write_end.get();
    std::deque<std::string>& tail = *tail_out;
    std::thread reader([&] {
      std::string partial;
      char buf[4096];
      while (true) {
        ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n <= 0) break;
        partial.append(buf, n);
        size_t nl;
        while ((nl = partial.find('\n')) != std::string::npos) {
          std::string line = partial.substr(0, nl);
          partial.erase(0, nl + 1);
          Event(&run, BuildEvent::Kind::kStepOutput, [&](BuildEvent& e) { e.text = line; });
          tail.push_back(line);
          if (tail.size() > 10) tail.pop_front();
        }
      }
      if (!partial.empty()) {
        Event(&run, BuildEvent::Kind::kStepOutput, [&](BuildEvent& e) { e.text = partial; });
        tail.push_back(partial);
      }
    });
    absl::StatusOr<sandbox::SandboxResult> result = sandbox::RunInSandbox(spec);
    write_end.Reset();
    reader.join();
    return result;
  }

  // WORKDIR sets the working directory and, as BuildKit does, makes it when the image lacks it
  // (through the image's symlinks, with missing parents), owned by the current USER: a layer
  // of its own, or none when the directory is there.
  absl::Status WorkdirStep(const PlannedInstruction& p, const StageRun& run, ImageState* state) {
    oci::ContainerConfig& c = state->config.config;
    c.working_dir = CleanAbsolute(JoinPath(c.working_dir.empty() ? "/" : c.working_dir, p.args[0]));
    const std::string text = CreatedBy(p, c);
    ASSIGN_OR_RETURN(std::vector<std::string> lowers, LowerDirs(*state));
    LayeredFs image(lowers);
    ASSIGN_OR_RETURN(std::string in_image, image.Resolve(c.working_dir, /*follow_last=*/true));
    if (auto e = image.Lookup(in_image); e && S_ISDIR(e->st.st_mode)) {
      AddHistory(state, text, /*empty=*/true);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(ResolvedUser user, ResolveUser(c.user, [&](const std::string& path) {
                       return image.ReadFile(path);
                     }));
    std::string diff = absl::StrCat(work_, "/step-", run.step, "/diff");
    RETURN_IF_ERROR(MakeDirs(diff));
    DiffWriter writer({.diff = diff,
                       .owner = user,
                       .chmod = std::nullopt,
                       .keep_owners = false,
                       .image = &image});
    RETURN_IF_ERROR(writer.MakeDir(c.working_dir, 0755, /*keep_source_owner=*/false));
    RETURN_IF_ERROR(CommitDiff(run, diff, /*overlay=*/false, text, state));
    return RemoveAll(diff);
  }

  // The state a COPY --from refers to: a stage of this build, or an image.
  // The state a COPY --from or a mount's from= refers to: the stage the plan resolved it to,
  // or an image.
  absl::StatusOr<ImageState> SourceState(const std::string& from, int from_stage,
                                         const StageRun& run) {
    if (from_stage >= 0) {
      std::optional<ImageState> done = DoneState(from_stage);
      if (!done) return absl::InternalError("source stage not built yet");
      return *std::move(done);
    }
    return ImportImage(from, &run);
  }

  // The root filesystem of a state, unpacked once per build.
  absl::StatusOr<std::string> Materialize(const ImageState& state) {
    std::lock_guard<std::mutex> lock(materialize_mu_);
    std::string dir = absl::StrCat(work_, "/rootfs-", state.key);
    if (PathExists(dir)) return dir;
    RETURN_IF_ERROR(MakeDirs(dir));
    for (const Descriptor& layer : state.layers) {
      ASSIGN_OR_RETURN(auto blob, store_.blobs().Open(layer.digest, layer.size));
      layers::ExtractOptions options;
      options.devices = layers::DevicePolicy::kSkip;
      RETURN_IF_ERROR(layers::ExtractLayer(*blob, dir, options).status());
    }
    return dir;
  }

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

  // The writer of a COPY's diff: --chown and --chmod applied; files from another stage or
  // image keep their owners (unless --chown), the build context's become root's.
  absl::StatusOr<DiffWriter> CopyWriter(const PlannedInstruction& p, const std::string& diff,
                                        const LayeredFs& image) {
    std::optional<ResolvedUser> owner;
    if (const std::string* chown = p.Flag("chown")) {
      ASSIGN_OR_RETURN(owner, ResolveUser(*chown, [&](const std::string& path) {
                         return image.ReadFile(path);
                       }));
    }
    std::optional<dockerfile::FileMode> chmod;
    if (const std::string* mode = p.Flag("chmod"); mode != nullptr && !mode->empty()) {
      ASSIGN_OR_RETURN(chmod, dockerfile::FileMode::Parse(*mode));
    }
    return DiffWriter({.diff = diff,
                       .owner = owner,
                       .chmod = chmod,
                       .keep_owners = p.Flag("from") != nullptr,
                       .image = &image});
  }

  // The build context, or the root of the stage or image --from names.
  absl::StatusOr<const context::BuildContext*> CopyContext(
      const PlannedInstruction& p, const StageRun& run,
      std::unique_ptr<context::BuildContext>* holder) {
    const std::string* from_flag = p.Flag("from");
    if (from_flag == nullptr) return context_.get();
    ASSIGN_OR_RETURN(ImageState from, SourceState(*from_flag, p.from_stage, run));
    ASSIGN_OR_RETURN(std::string rootfs, Materialize(from));
    ASSIGN_OR_RETURN(*holder, context::BuildContext::OpenWithoutIgnore(rootfs));
    return holder->get();
  }

  absl::Status CopyStep(const PlannedInstruction& p, const StageRun& run, ImageState* state) {
    for (const std::string& s : p.args) {
      if (absl::StartsWith(s, "git@") || absl::EndsWith(s, ".git")) {
        return absl::UnimplementedError("ADD of git repositories is not supported");
      }
    }
    std::unique_ptr<context::BuildContext> from_ctx;
    ASSIGN_OR_RETURN(const context::BuildContext* ctx, CopyContext(p, run, &from_ctx));
    // --link: the layer is made without looking at the layers below (it can then sit on any
    // base), so the destination's symlinks in the image are not followed.
    std::vector<std::string> lowers;
    if (!p.BoolFlag("link")) {
      ASSIGN_OR_RETURN(lowers, LowerDirs(*state));
    }
    const LayeredFs image(lowers);
    ASSIGN_OR_RETURN(CopyTarget target, CopyTargetOf(p, *state, image));
    std::string diff = absl::StrCat(work_, "/step-", run.step, "/diff");
    RETURN_IF_ERROR(MakeDirs(diff));
    ASSIGN_OR_RETURN(DiffWriter writer, CopyWriter(p, diff, image));
    for (auto source = p.args.begin(); source + 1 < p.args.end(); ++source) {
      RETURN_IF_ERROR(CopySource(p, *ctx, *source, target, image, writer));
    }
    RETURN_IF_ERROR(
        CommitDiff(run, diff, /*overlay=*/false, CreatedBy(p, state->config.config), state));
    RETURN_IF_ERROR(RemoveAll(diff));
    if (ctx == context_.get()) KeepFileDigests(*ctx, writer);
    return absl::OkStatus();
  }

  // Linking and unlinking changed the context files' ctime: tell the file digest cache the
  // files it knows are the same, or the next build would read them all again.
  void KeepFileDigests(const context::BuildContext& ctx, const DiffWriter& writer) {
    if (!file_digests_) return;
    for (const auto& [path, before] : writer.linked_files()) {
      context::ContextEntry e;
      e.path = path;
      auto fd = ctx.OpenEntry(e);
      struct stat after;
      if (fd.ok() && ::fstat(fd->get(), &after) == 0) file_digests_->Relink(before, after);
    }
  }

  // One source of a COPY or ADD: a URL, a heredoc, or paths of the context.
  absl::Status CopySource(const PlannedInstruction& p, const context::BuildContext& ctx,
                          const std::string& source, const CopyTarget& target,
                          const LayeredFs& image, const DiffWriter& writer) {
    if (IsUrl(source)) return CopyUrl(p, source, target, writer);
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
            ASSIGN_OR_RETURN(bool archive, IsTarArchive(fd.get()));
            if (archive) {
              RETURN_IF_ERROR(Unpack(fd.get(), target.dest, writer, a.entry->path));
              break;
            }
          }
          RETURN_IF_ERROR(writer.CopyEntry(ctx, *a.entry, a.target));
          break;
      }
    }
    return absl::OkStatus();
  }

  // ADD URL: downloaded files are not unpacked (unless --unpack) and get mode 0600 (unless
  // --chmod), as in Docker; a URL whose path has no last segment gives BuildKit's name.
  absl::Status CopyUrl(const PlannedInstruction& p, const std::string& url,
                       const CopyTarget& target, const DiffWriter& writer) {
    std::optional<std::string> checksum;
    if (const std::string* c = p.Flag("checksum")) checksum = *c;
    ASSIGN_OR_RETURN(FetchedUrl f, Fetch(url, checksum));
    if (Unpacks(p, /*url=*/true)) {
      UniqueFd fd(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) return ErrnoError("open " + f.path);
      ASSIGN_OR_RETURN(bool archive, IsTarArchive(fd.get()));
      if (archive) return Unpack(fd.get(), target.dest, writer, url);
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

  // ADD --unpack: given (or "true" when bare), else local archives are unpacked and
  // downloads are not.
  static bool Unpacks(const PlannedInstruction& p, bool url) {
    const std::string* unpack = p.Flag("unpack");
    return unpack == nullptr ? !url : *unpack == "true";
  }

  // True iff the open file is a tar archive, compressed or not (as ADD decides what to
  // unpack). Reads from offset 0 and leaves the offset there.
  static absl::StatusOr<bool> IsTarArchive(int fd) {
    if (::lseek(fd, 0, SEEK_SET) != 0) return ErrnoError("seek");
    UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!dup.valid()) return ErrnoError("dup");
    auto plain = layers::NewDecompressor(std::make_unique<OwnedFdReader>(std::move(dup)));
    bool archive = false;
    if (plain.ok()) {
      char header[512];
      size_t got = 0;
      while (got < sizeof header) {
        auto n = (*plain)->Read(header + got, sizeof header - got);
        if (!n.ok() || *n == 0) break;
        got += *n;
      }
      archive = got == sizeof header && std::memcmp(header + 257, "ustar", 5) == 0;
    }
    if (::lseek(fd, 0, SEEK_SET) != 0) return ErrnoError("seek");
    return archive;
  }

  // ADD's unpacking of a tar archive (any compression) into `dest`, as BuildKit unpacks it:
  // onto the image (its symlinks followed, its directories keeping their metadata), entries
  // keeping the archive's owners unless --chown gives one, hard links kept. The archive is
  // unpacked into a scratch directory first and copied from there like a COPY.
  absl::Status Unpack(int archive_fd, const std::string& dest, const DiffWriter& writer,
                      const std::string& what) {
    RETURN_IF_ERROR(writer.MakeDir(dest, 0755, /*keep_source_owner=*/false));
    std::string scratch = absl::StrCat(writer.diff(), ".unpack-", unpack_seq_++);
    (void)RemoveAll(scratch);
    RETURN_IF_ERROR(MakeDirs(scratch));
    absl::Cleanup remove_scratch = [&] { (void)RemoveAll(scratch); };
    FdReader reader(archive_fd);
    layers::ExtractOptions options;
    options.whiteouts = layers::WhiteoutMode::kLiteral;
    options.devices = layers::DevicePolicy::kSkip;
    RETURN_IF_ERROR_CTX(layers::ExtractLayer(reader, scratch, options).status(), "unpacking ",
                        what);
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

  absl::StatusOr<Descriptor> Commit(const ImageState& state) {
    oci::ImageConfig image_config = state.config;
    image_config.created = created_;
    return layers::CommitImage(store_.blobs(), image_config, state.layers);
  }

  // The file digest cache, loaded by the first step that hashes context files.
  context::FileDigests* KnownFileDigests() {
    std::call_once(file_digests_once_, [this] {
      file_digests_.emplace(context::FileDigests::Load(store_.FileDigestsPath()));
    });
    return &*file_digests_;
  }

  layers::Store& store_;
  const BuildRequest& req_;
  std::optional<context::FileDigests> file_digests_;  // loaded at the first COPY
  const ProgressFn& progress_;
  layers::Snapshots snapshots_;
  std::unique_ptr<context::BuildContext> context_;
  Dockerfile df_;
  Plan plan_;
  std::mutex done_mu_;
  std::map<int, ImageState> done_;  // finished stages' states, under done_mu_
  std::mutex import_mu_, fetch_mu_, materialize_mu_;
  std::once_flag file_digests_once_;
  std::atomic<bool> failed_{false};
  std::atomic<int> unpack_seq_{0};  // names ADD's scratch directories
  std::atomic<int> steps_run_{0}, steps_cached_{0};
  std::mutex reset_mu_;
  std::set<std::string> reset_caches_;
  std::atomic<int> fresh_cache_seq_{0};  // names of cache mounts being made  // cache mounts
                                         // emptied by this build (guarded by reset_mu_)
  std::map<std::string, ImageState> imported_;
  std::map<std::string, FetchedUrl> fetched_;  // ADD URLs downloaded, by URL
  std::optional<layers::Store::Lock> lock_;
  std::string created_;
  layers::BuildCache cache_{store_.root()};
  std::optional<TempDir> work_dir_;           // run/build-*, owned (swept when a build was killed)
  std::string work_;                          // its path
  std::unique_ptr<StepSandboxes> sandboxes_;  // when the plan has RUN steps
  int total_steps_ = 0;
  BuildResult result_;
};

}  // namespace

absl::StatusOr<BuildResult> Build(layers::Store& store, const BuildRequest& request,
                                  const ProgressFn& progress) {
  Executor executor(store, request, progress);
  return executor.Run();
}

}  // namespace kiln::builder
