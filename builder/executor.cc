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
#include "builder/dockerfile/file_mode.h"
#include "builder/dockerfile/parser.h"
#include "builder/dockerfile/quote.h"
#include "builder/dockerfile/run_mount.h"
#include "builder/history.h"
#include "builder/layered_fs.h"
#include "builder/plan.h"
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

// `path` made absolute and clean ("/a/./b/../c/" → "/a/c"), as Go's path.Clean makes it.
std::string CleanAbsolute(const std::string& path) {
  std::string clean = context::CleanPath(path);
  return clean == "." ? "/" : "/" + clean;
}

std::string JoinPath(const std::string& dir, const std::string& rel) {
  if (absl::StartsWith(rel, "/")) return rel;
  if (dir.empty() || dir == "/") return "/" + rel;
  return dir + "/" + rel;
}

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

// What the thread running a stage keeps for it: stages run concurrently, one per thread.
struct StageRun {
  int step = 0;                             // the step being run, numbered over the build
  std::map<std::string, std::string> args;  // the stage's ARG values so far
  std::vector<std::string> arg_names;       // the stage's ARGs, in the order declared
};
thread_local StageRun* current_run = nullptr;

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
    RETURN_IF_ERROR(MakeDirs(store_.root() + "/run", 0700));
    // Owned: a build killed before it could clean up is swept by the next one.
    ASSIGN_OR_RETURN(TempDir work, TempDir::Create(store_.root() + "/run/build-"));
    work_dir_.emplace(std::move(work));
    work_ = work_dir_->path();
    for (const Stage& s : plan_.stages) total_steps_ += s.instructions.size();
    RETURN_IF_ERROR(PrepareSandboxes());
    RETURN_IF_ERROR(RunStages());
    result_.steps_run = steps_run_;
    result_.steps_cached = steps_cached_;
    if (file_digests_) {
      // Only a cache: a failure to keep it costs the next build some reading.
      (void)file_digests_->Save(FileDigestsPath());
    }
    ImageState& final_state = done_[plan_.target];
    for (const auto& [k, v] : req_.labels) final_state.config.config.labels[k] = v;
    ASSIGN_OR_RETURN(Descriptor top, Commit(final_state));
    for (const std::string& tag : req_.tags) RETURN_IF_ERROR(store_.Tag(tag, top));
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
    result_.manifest_digest = top.digest;
    return result_;
  }

 private:
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
  absl::StatusOr<ImageState> ImportImage(const std::string& name) {
    std::lock_guard<std::mutex> lock(import_mu_);  // one import (or pull) of each image
    if (auto it = imported_.find(name); it != imported_.end()) return it->second;
    ASSIGN_OR_RETURN(transfer::ImageLocation loc, transfer::ParseImageLocation(name));
    std::unique_ptr<layers::ImageSource> source;
    if (loc.transport == transfer::Transport::kStore) {
      auto desc = store_.Resolve(name);
      if (!desc.ok() || req_.pull) {
        // Not in the store: a registry image, pulled once into the store under its name.
        ASSIGN_OR_RETURN(desc, PullBase(name));
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
  absl::StatusOr<Descriptor> PullBase(const std::string& name) {
    absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(name);
    if (!ref.ok()) return Annotate(ref.status(), absl::StrCat("base image ", name));
    Message(absl::StrCat("pulling ", ref->Familiar()));
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

  absl::StatusOr<ImageState> Base(const Stage& stage) {
    ASSIGN_OR_RETURN(ImageState state, BaseImage(stage));
    // Every stage has a PATH, the default one when its base sets none (scratch included),
    // as BuildKit gives it.
    auto& env = state.config.config.env;
    if (std::none_of(env.begin(), env.end(),
                     [](const std::string& e) { return absl::StartsWith(e, "PATH="); })) {
      env.push_back(absl::StrCat("PATH=", oci::kDefaultPath));
    }
    return state;
  }

  absl::StatusOr<ImageState> BaseImage(const Stage& stage) {
    if (stage.base_stage >= 0) {
      std::optional<ImageState> base = DoneState(stage.base_stage);
      if (!base) return absl::InternalError("base stage not built yet");
      // The stage's ONBUILD lines ran as this stage's first steps; they are not passed on.
      base->config.config.on_build.clear();
      return *std::move(base);
    }
    if (stage.base == "scratch") return Scratch();
    ASSIGN_OR_RETURN(ImageState state, ImportImage(stage.base));
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
        StageRun run;
        run.step = first_step;
        current_run = &run;
        absl::StatusOr<ImageState> state = RunStage(stage);
        current_run = nullptr;
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

  // The stage this thread runs (outside stages: a placeholder at step 0).
  StageRun& Cur() { return current_run != nullptr ? *current_run : outside_; }

  // --- the steps ---

  absl::StatusOr<ImageState> RunStage(const Stage& stage) {
    ASSIGN_OR_RETURN(ImageState state, Base(stage));
    std::string label = stage.name.empty() ? absl::StrCat("stage-", stage.index) : stage.name;
    const bool filtered = NoCacheFor(stage);
    const bool no_cache = req_.no_cache || filtered;
    for (const PlannedInstruction& p : stage.instructions) {
      if (failed_) return absl::CancelledError("another stage failed");
      ++Cur().step;
      std::string text = p.ToText();
      Event(BuildEvent::Kind::kStepStart, [&](BuildEvent& e) {
        e.total = total_steps_;
        e.stage = label;
        e.text = text;
      });
      if (p.instruction == "ARG") {
        for (const std::string& a : p.args) {
          std::pair<std::string, std::string> kv = absl::StrSplit(a, absl::MaxSplits('=', 1));
          if (a.find('=') != std::string::npos) Cur().args[kv.first] = kv.second;
          std::vector<std::string>& names = Cur().arg_names;
          if (std::find(names.begin(), names.end(), kv.first) == names.end()) {
            names.push_back(kv.first);
          }
        }
      }
      ASSIGN_OR_RETURN_CTX(std::string key, StepKey(state, p, stage), df_.filename, ":", p.line,
                           ": ", p.instruction);
      auto start = std::chrono::steady_clock::now();
      auto execute = [&]() -> absl::Status {
        absl::Status s = Execute(p, stage, &state);
        if (s.ok()) return s;
        return Annotate(ImagePaths(s),
                        absl::StrCat(df_.filename, ":", p.line, ": ", p.instruction));
      };
      // A metadata step only changes the config, which is quick to redo from the state in
      // hand: its record just says the step was done (and, under the no-cache filter, the key
      // it passed on), so records cost what a step changes, not the whole config each.
      const bool metadata = IsMetadataStep(p);
      if (!no_cache && metadata) {
        if (std::optional<std::string> passed_on = LoadMarker(key); passed_on) {
          RETURN_IF_ERROR(execute());
          state.key = *passed_on;
          ++steps_cached_;
          Event(BuildEvent::Kind::kStepCached);
          continue;
        }
      }
      if (!no_cache) {
        if (auto hit = LoadCache(key); hit) {
          state = std::move(*hit);
          ++steps_cached_;
          Event(BuildEvent::Kind::kStepCached);
          continue;
        }
      }
      std::string link_key;
      if (LinkReusable(p)) {
        ASSIGN_OR_RETURN_CTX(link_key, StepKey(state, p, stage, /*link=*/true), df_.filename, ":",
                             p.line, ": ", p.instruction);
        if (!no_cache && ReuseLinkedLayer(link_key, CreatedBy(p, state.config.config), &state)) {
          state.key = key;
          RETURN_IF_ERROR(SaveCache(key, state));
          ++steps_cached_;
          Event(BuildEvent::Kind::kStepCached);
          continue;
        }
      }
      size_t layers_before = state.layers.size();
      RETURN_IF_ERROR(execute());
      // A step run under the no-cache filter passes on a key of what it made, so what builds
      // on it runs again only if that changed.
      state.key = filtered ? ContentKey(key, state) : key;
      RETURN_IF_ERROR(metadata ? SaveMarker(key, state.key) : SaveCache(key, state));
      if (!link_key.empty()) RETURN_IF_ERROR(SaveLinkedLayer(link_key, state, layers_before));
      ++steps_run_;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      Event(BuildEvent::Kind::kStepDone, [&](BuildEvent& e) { e.seconds = secs; });
    }
    return state;
  }

  void Message(const std::string& text) {
    Event(BuildEvent::Kind::kMessage, [&](BuildEvent& e) { e.text = text; });
  }

  void Event(BuildEvent::Kind kind, const std::function<void(BuildEvent&)>& fill = nullptr) {
    BuildEvent e;
    e.kind = kind;
    e.step = Cur().step;
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

  absl::StatusOr<std::string> StepKey(const ImageState& state, const PlannedInstruction& p,
                                      const Stage& stage, bool link = false) {
    std::string parent = link ? absl::StrCat("link ", state.config.config.working_dir) : state.key;
    std::string material =
        absl::StrCat("kiln-step-v2\n", parent, "\n", p.ToText(), "\n", req_.source_date_epoch, " ",
                     layers::CompressionName(req_.compression), SandboxKey(p), "\n");
    // ARG values reach RUN's environment; a linked COPY sees only its expanded arguments.
    if (!link) {
      for (const auto& [k, v] : Cur().args) absl::StrAppend(&material, "arg ", k, "=", v, "\n");
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
      ASSIGN_OR_RETURN(ImageState from, SourceState(*from_flag, stage));
      absl::StrAppend(&material, "from ", from.key, "\n");
    }
    // What a RUN's bind mounts show is part of its input.
    if (p.instruction == "RUN") {
      for (const std::string& value : p.FlagValues("mount")) {
        ASSIGN_OR_RETURN(dockerfile::RunMount m, dockerfile::ParseRunMount(value));
        if (m.type != "bind") continue;
        if (!m.from.empty()) {
          ASSIGN_OR_RETURN(ImageState from, SourceState(m.from, stage));
          absl::StrAppend(&material, "mount-from ", from.key, "\n");
        } else {
          ASSIGN_OR_RETURN(Digest d, context_->DigestOf({m.source.empty() ? "." : m.source},
                                                        KnownFileDigests()));
          absl::StrAppend(&material, "mount-context ", d.str(), "\n");
        }
      }
    }
    return Hex(material);
  }

  // `s` with the step's diff directory taken out of the paths it names: what a step writes
  // there is named by its path in the image, as the Dockerfile wrote it.
  absl::Status ImagePaths(const absl::Status& s) {
    std::string diff = absl::StrCat(work_, "/step-", Cur().step, "/diff");
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

  // Steps that change only the image config (no layer, no file read).
  static bool IsMetadataStep(const PlannedInstruction& p) {
    const std::string& n = p.instruction;
    return n != "RUN" && n != "COPY" && n != "ADD" && n != "WORKDIR";
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
  std::vector<std::pair<std::string, std::string>> BuildArgs(const oci::ContainerConfig& c) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const std::string& name : Cur().arg_names) {
      auto it = Cur().args.find(name);
      std::string value = it == Cur().args.end() ? "" : it->second;
      for (const std::string& e : c.env) {
        if (absl::StartsWith(e, name + "=")) value = e.substr(name.size() + 1);
      }
      out.emplace_back(name, std::move(value));
    }
    return out;
  }

  // Runs one step, recording it in the image's history as BuildKit words it (history.h).
  absl::Status Execute(const PlannedInstruction& p, const Stage& stage, ImageState* state) {
    const std::string& n = p.instruction;
    oci::ContainerConfig& c = state->config.config;
    if (n == "RUN") return RunStep(p, stage, state);
    if (n == "COPY" || n == "ADD") return CopyStep(p, stage, state);
    if (n == "WORKDIR") return WorkdirStep(p, state);
    if (n == "ENV") {
      for (const std::string& kv : p.args) {
        absl::string_view key(kv.data(), kv.find('='));
        std::erase_if(c.env, [&](const std::string& e) {
          return e.size() > key.size() && e[key.size()] == '=' && absl::StartsWith(e, key);
        });
        c.env.push_back(kv);
      }
    } else if (n == "LABEL") {
      for (const std::string& kv : p.args) {
        std::pair<std::string, std::string> p2 = absl::StrSplit(kv, absl::MaxSplits('=', 1));
        c.labels[p2.first] = p2.second;
      }
    } else if (n == "ARG") {
      // changes what RUN sees, not the image: recorded in the history only
    } else if (n == "EXPOSE") {
      for (std::string port : p.args) {
        if (port.find('/') == std::string::npos) port += "/tcp";
        if (std::find(c.exposed_ports.begin(), c.exposed_ports.end(), port) ==
            c.exposed_ports.end()) {
          c.exposed_ports.push_back(port);
        }
      }
    } else if (n == "VOLUME") {
      for (const std::string& v : p.args) {
        if (std::find(c.volumes.begin(), c.volumes.end(), v) == c.volumes.end())
          c.volumes.push_back(v);
      }
    } else if (n == "USER") {
      c.user = p.args[0];
    } else if (n == "CMD" || n == "ENTRYPOINT") {
      std::vector<std::string> argv =
          p.json ? p.args : ShellCommand(c, p.args.empty() ? "" : p.args[0]);
      if (n == "CMD") {
        c.cmd = argv;
      } else {
        c.entrypoint = argv;
        c.cmd.reset();  // a new ENTRYPOINT drops the base image's CMD, as Docker does
      }
    } else if (n == "SHELL") {
      c.shell = p.args;
    } else if (n == "STOPSIGNAL") {
      c.stop_signal = p.args[0];
    } else if (n == "MAINTAINER") {
      state->config.author = p.args[0];
    } else if (n == "ONBUILD") {
      c.on_build.push_back(p.args[0]);
    } else if (n == "HEALTHCHECK") {
      oci::Healthcheck h;
      if (absl::AsciiStrToUpper(p.args[0]) == "NONE") {
        h.test = {"NONE"};
      } else if (p.json) {
        h.test = {"CMD"};
        h.test.insert(h.test.end(), p.args.begin() + 1, p.args.end());
      } else {
        h.test = {"CMD-SHELL", p.args[1]};
      }
      auto duration = [&](const char* flag, int64_t* out) -> absl::Status {
        const std::string* v = p.Flag(flag);
        if (v == nullptr) return absl::OkStatus();
        ASSIGN_OR_RETURN(*out, dockerfile::ParseGoDuration(*v));
        return absl::OkStatus();
      };
      RETURN_IF_ERROR(duration("interval", &h.interval_ns));
      RETURN_IF_ERROR(duration("timeout", &h.timeout_ns));
      RETURN_IF_ERROR(duration("start-period", &h.start_period_ns));
      RETURN_IF_ERROR(duration("start-interval", &h.start_interval_ns));
      if (const std::string* retries = p.Flag("retries"))
        (void)absl::SimpleAtoi(*retries, &h.retries);
      c.healthcheck = h;
    } else {
      return absl::UnimplementedError(absl::StrCat(n, " is not supported"));
    }
    std::string created_by = CreatedBy(p, c);
    if (!created_by.empty()) AddHistory(state, created_by, /*empty=*/true);
    return absl::OkStatus();
  }

  // "<<EOF", "<<-EOF", "<<'EOF'" ...: how a heredoc's operator is written (its raw form is not
  // kept, so every spelling is tried).
  static bool IsHeredocOperator(absl::string_view word, const dockerfile::Heredoc& h) {
    if (!absl::ConsumePrefix(&word, "<<")) return false;
    absl::ConsumePrefix(&word, "-");
    if (word.size() >= 2 && (word.front() == '"' || word.front() == '\'') &&
        word.back() == word.front()) {
      word = word.substr(1, word.size() - 2);
    }
    return word == h.name;
  }

  // The interpreter of a "#!" script and its optional argument, reading the script from stdin.
  static absl::StatusOr<std::vector<std::string>> ShebangCommand(const std::string& script) {
    absl::string_view line = absl::string_view(script).substr(2, script.find('\n') - 2);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) return absl::InvalidArgumentError("heredoc script: empty #! line");
    std::vector<std::string> argv;
    size_t space = line.find_first_of(" \t");
    argv.emplace_back(line.substr(0, space));
    if (space != absl::string_view::npos) {
      absl::string_view arg = absl::StripAsciiWhitespace(line.substr(space));
      if (!arg.empty()) argv.emplace_back(arg);  // like the kernel: the rest is one argument
    }
    argv.push_back("/dev/stdin");
    return argv;
  }

  static absl::StatusOr<UniqueFd> MemoryFile(const char* name, absl::string_view content) {
    UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd.valid()) return ErrnoError("memfd_create");
    RETURN_IF_ERROR(WriteAll(fd.get(), content));
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) return ErrnoError("rewind the heredoc");
    return fd;
  }

  static std::vector<std::string> ShellCommand(const oci::ContainerConfig& c,
                                               const std::string& command) {
    std::vector<std::string> argv =
        c.shell.empty() ? std::vector<std::string>{"/bin/sh", "-c"} : c.shell;
    argv.push_back(command);
    return argv;
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
  absl::Status CommitDiff(const std::string& dir, bool overlay, const std::string& text,
                          ImageState* state) {
    if (DirIsEmpty(dir)) {
      AddHistory(state, text, /*empty=*/true);
      return absl::OkStatus();
    }
    layers::LayerOptions options;
    options.compression = req_.compression;
    options.tar.source_date_epoch = req_.source_date_epoch;
    options.tar.overlay_whiteouts = overlay;
    options.on_progress = [this](uint64_t bytes) {
      Event(BuildEvent::Kind::kStepCommit, [&](BuildEvent& e) { e.bytes = bytes; });
    };
    ASSIGN_OR_RETURN(layers::Layer layer, layers::CreateLayer(dir, options, store_.blobs()));
    Event(BuildEvent::Kind::kStepLayer, [&](BuildEvent& e) {
      e.text = layer.descriptor.digest.str();
      e.bytes = layer.descriptor.size;
    });
    state->layers.push_back(layer.descriptor);
    state->config.diff_ids.push_back(layer.diff_id);
    AddHistory(state, text, /*empty=*/false);
    std::string snapshot = snapshots_.PathOf(layer.diff_id);
    if (!PathExists(snapshot) && overlay) {
      RETURN_IF_ERROR(MakeDirs(Dirname(snapshot), 0700));
      if (::rename(dir.c_str(), snapshot.c_str()) != 0 && !PathExists(snapshot)) {
        return ErrnoError(absl::StrCat("keep snapshot ", snapshot));
      }
    }
    return absl::OkStatus();
  }

  // RUN --mount: what the sandbox mounts for it, as BuildKit mounts it. Targets are relative
  // to the working directory. Cache mounts are directories of the store (`cache-mounts/<hex
  // of id>`, kept across builds, never part of a layer), made on first use with uid, gid and
  // mode (root's, 0755 by default) and, with from=, holding a copy of that stage's (or
  // image's) source path. Bind mounts show a path of the build context, a stage or an image,
  // resolved inside that root: read-only, or with rw a scratch copy whose changes are dropped.
  // `scratch` is a directory of the step's own for those copies.
  absl::StatusOr<std::vector<sandbox::SandboxMount>> RunMounts(const PlannedInstruction& p,
                                                               const Stage& stage,
                                                               const ImageState& state,
                                                               const std::string& scratch) {
    std::vector<sandbox::SandboxMount> mounts;
    const std::vector<std::string>& values = p.FlagValues("mount");
    if (values.empty()) return mounts;
    const std::string& workdir = state.config.config.working_dir;
    // The path `source` names in the build context, a stage or an image, resolved there.
    auto resolve_source = [&](const std::string& from,
                              const std::string& source) -> absl::StatusOr<std::string> {
      std::string root = context_->dir();
      if (!from.empty()) {
        ASSIGN_OR_RETURN(ImageState from_state, SourceState(from, stage));
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
    };
    int index = 0;
    for (const std::string& value : values) {
      ASSIGN_OR_RETURN(dockerfile::RunMount m, dockerfile::ParseRunMount(value));
      if (m.type != "bind" && m.type != "cache" && m.type != "tmpfs") {
        return absl::UnimplementedError(absl::StrCat("--mount=type=", m.type, ": not supported"));
      }
      sandbox::SandboxMount mount;
      mount.target = CleanAbsolute(JoinPath(workdir.empty() ? "/" : workdir, m.target));
      if (mount.target == "/") {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid mount target ", dockerfile::GoQuote(mount.target)));
      }
      mount.read_only = m.read_only;
      if (m.type == "tmpfs") {
        mount.type = sandbox::SandboxMount::Type::kTmpfs;
        mount.size = m.size.value_or(0);
      } else if (m.type == "cache") {
        // One cache per id and base: uid, gid, mode and from= make caches of their own.
        std::string key = m.id.empty() ? mount.target : m.id;
        if (m.uid || m.gid || m.mode) {
          absl::StrAppend(&key, "\nowner ", m.uid.value_or(0), ":", m.gid.value_or(0), " mode ",
                          m.mode.value_or(0755));
        }
        if (!m.from.empty()) {
          ASSIGN_OR_RETURN(ImageState from_state, SourceState(m.from, stage));
          absl::StrAppend(&key, "\nfrom ", from_state.key, " ", m.source);
        }
        mount.source = absl::StrCat(store_.root(), "/cache-mounts/", Hex(key));
        // A step run without the build cache starts from an empty cache too, as in BuildKit
        // (once a build: stages running at once share what it then keeps).
        if (req_.no_cache || NoCacheFor(stage)) {
          std::lock_guard<std::mutex> lock(reset_mu_);
          if (reset_caches_.insert(mount.source).second && PathExists(mount.source)) {
            std::string old = absl::StrCat(mount.source, ".old-", ::getpid());
            (void)RemoveAll(old);
            if (::rename(mount.source.c_str(), old.c_str()) != 0) {
              return ErrnoError("rename " + mount.source);
            }
            RETURN_IF_ERROR(RemoveAll(old));
          }
        }
        if (!PathExists(mount.source)) {
          // Made whole beside its place, then renamed there: a failed seed leaves no cache.
          // Unique in the process too: stages running at once may make the same cache.
          std::string fresh =
              absl::StrCat(mount.source, ".new-", ::getpid(), "-", fresh_cache_seq_++);
          (void)RemoveAll(fresh);
          RETURN_IF_ERROR(MakeDirs(Dirname(fresh), 0755));
          if (!m.from.empty()) {
            ASSIGN_OR_RETURN(std::string seed, resolve_source(m.from, m.source));
            RETURN_IF_ERROR_CTX(CopyTree(seed, fresh), "seeding the cache from ", m.from);
          } else if (::mkdir(fresh.c_str(), 0755) != 0) {
            return ErrnoError("mkdir " + fresh);
          }
          if (m.uid || m.gid) {
            if (::lchown(fresh.c_str(), m.uid.value_or(0), m.gid.value_or(0)) != 0) {
              return ErrnoError("chown " + fresh);
            }
          }
          if (m.mode && ::chmod(fresh.c_str(), *m.mode & 07777) != 0) {
            return ErrnoError("chmod " + fresh);
          }
          if (::rename(fresh.c_str(), mount.source.c_str()) != 0) {
            int err = errno;
            (void)RemoveAll(fresh);
            // Another build made it meanwhile: use that one.
            if (err != ENOTEMPTY && err != EEXIST) return ErrnoError("rename " + fresh, err);
          }
        }
      } else if (m.type == "bind") {
        ASSIGN_OR_RETURN(std::string source, resolve_source(m.from, m.source));
        if (!m.read_only) {
          // Writable, with nothing kept: a copy of its own, removed with the step.
          std::string copy = absl::StrCat(scratch, "/mount-", index);
          RETURN_IF_ERROR(MakeDirs(scratch));
          (void)RemoveAll(copy);
          RETURN_IF_ERROR_CTX(CopyTree(source, copy), "copying the --mount source");
          source = copy;
        }
        mount.source = source;
      } else {
        return absl::UnimplementedError(absl::StrCat("--mount=type=", m.type, ": not supported"));
      }
      mounts.push_back(std::move(mount));
      ++index;
    }
    return mounts;
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

  absl::Status RunStep(const PlannedInstruction& p, const Stage& stage, ImageState* state) {
    std::string dir = absl::StrCat(work_, "/step-", Cur().step);
    ASSIGN_OR_RETURN(std::vector<sandbox::SandboxMount> mounts,
                     RunMounts(p, stage, *state, dir + "/mounts"));
    const oci::ContainerConfig& c = state->config.config;
    std::vector<std::string> argv;
    UniqueFd script_fd;  // the step's stdin, when it runs a heredoc with a #! line
    const auto& heredocs = p.node->heredocs;
    if (p.json) {
      argv = p.args;
    } else if (heredocs.size() == 1 &&
               IsHeredocOperator(absl::StripAsciiWhitespace(p.args[0]), heredocs[0])) {
      // RUN <<EOF: the heredoc is the script; one starting with #! runs with its interpreter
      // (reading the script from stdin, as /dev/stdin), else with the shell.
      std::string script =
          heredocs[0].chomp ? dockerfile::ChompHeredocContent(p.heredocs[0]) : p.heredocs[0];
      if (absl::StartsWith(script, "#!")) {
        ASSIGN_OR_RETURN(argv, ShebangCommand(script));
        ASSIGN_OR_RETURN(script_fd, MemoryFile("heredoc", script));
      } else {
        argv = ShellCommand(c, script);
      }
    } else if (!heredocs.empty()) {
      // cmd <<EOF ...: the shell gets the command line with the heredocs after it and feeds
      // them to the command itself (expansion, <<- and fd numbers as in any shell script).
      std::string script = p.args[0];
      for (size_t i = 0; i < heredocs.size(); ++i) {
        absl::StrAppend(&script, "\n", p.heredocs[i], heredocs[i].name);
      }
      argv = ShellCommand(c, script);
    } else {
      argv = ShellCommand(c, p.args[0]);
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
    std::map<std::string, std::string> env;
    // Proxy build arguments reach every RUN without a declaration (and stay out of its key).
    for (const auto& [k, v] : req_.build_args) {
      if (IsProxyArg(k)) env[k] = v;
    }
    for (const auto& [k, v] : Cur().args) env[k] = v;
    for (const std::string& e : c.env) {
      std::pair<std::string, std::string> kv = absl::StrSplit(e, absl::MaxSplits('=', 1));
      env[kv.first] = kv.second;
    }
    if (!env.count("PATH")) env["PATH"] = oci::kDefaultPath;
    if (!env.count("HOME")) env["HOME"] = user.home;
    for (const auto& [k, v] : env) spec.env.push_back(absl::StrCat(k, "=", v));

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    spec.stdout_fd = spec.stderr_fd = write_end.get();
    std::deque<std::string> tail;
    std::thread reader([&, run = current_run] {
      current_run = run;  // its events belong to this stage's step
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
          Event(BuildEvent::Kind::kStepOutput, [&](BuildEvent& e) { e.text = line; });
          tail.push_back(line);
          if (tail.size() > 10) tail.pop_front();
        }
      }
      if (!partial.empty()) {
        Event(BuildEvent::Kind::kStepOutput, [&](BuildEvent& e) { e.text = partial; });
        tail.push_back(partial);
      }
    });
    auto result = sandbox::RunInSandbox(spec);
    write_end.Reset();
    reader.join();
    RETURN_IF_ERROR(result.status());
    if (result->exit_code != 0) {
      if (std::optional<std::string> oom = resources->OutOfMemory()) {
        return absl::ResourceExhaustedError(*oom);
      }
      resources.reset();
      return absl::AbortedError(
          absl::StrCat("process ", dockerfile::GoQuote(absl::StrJoin(spec.argv, " ")),
                       " did not complete successfully: exit code: ", result->exit_code,
                       tail.empty() ? "" : "; last output:\n  " + absl::StrJoin(tail, "\n  ")));
    }
    resources.reset();  // the network and cgroup go back before the layer is written
    (void)RemoveAll(dir + "/mounts");
    RemoveMountStubs(stubs, spec.upper_dir);
    return CommitDiff(spec.upper_dir, /*overlay=*/true, RunCreatedBy(argv, BuildArgs(c)), state);
  }

  // WORKDIR sets the working directory and, as BuildKit does, makes it when the image lacks it
  // (through the image's symlinks, with missing parents), owned by the current USER: a layer
  // of its own, or none when the directory is there.
  absl::Status WorkdirStep(const PlannedInstruction& p, ImageState* state) {
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
    std::string diff = absl::StrCat(work_, "/step-", Cur().step, "/diff");
    RETURN_IF_ERROR(MakeDirs(diff));
    Writer writer;
    writer.diff = diff;
    writer.owner = user;
    writer.image = &image;
    RETURN_IF_ERROR(writer.MakeDir(c.working_dir, 0755, /*keep_source_owner=*/false));
    RETURN_IF_ERROR(CommitDiff(diff, /*overlay=*/false, text, state));
    return RemoveAll(diff);
  }

  // The state a COPY --from refers to: a stage of this build, or an image.
  absl::StatusOr<ImageState> SourceState(const std::string& from, const Stage& stage) {
    std::string lower = absl::AsciiStrToLower(from);
    for (const Stage& s : plan_.stages) {
      int n;
      if ((!s.name.empty() && s.name == lower) ||
          (absl::SimpleAtoi(from, &n) && n == s.index && s.index < stage.index)) {
        std::optional<ImageState> done = DoneState(s.index);
        if (!done) return absl::InternalError("source stage not built yet");
        return *std::move(done);
      }
    }
    return ImportImage(from);
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

  absl::Status CopyStep(const PlannedInstruction& p, const Stage& stage, ImageState* state) {
    const context::BuildContext* ctx = context_.get();
    std::unique_ptr<context::BuildContext> from_ctx;
    if (const std::string* from_flag = p.Flag("from")) {
      ASSIGN_OR_RETURN(ImageState from, SourceState(*from_flag, stage));
      ASSIGN_OR_RETURN(std::string rootfs, Materialize(from));
      ASSIGN_OR_RETURN(from_ctx, context::BuildContext::OpenWithoutIgnore(rootfs));
      ctx = from_ctx.get();
    }
    for (const std::string& s : p.args) {
      if (absl::StartsWith(s, "git@") || absl::EndsWith(s, ".git")) {
        return absl::UnimplementedError("ADD of git repositories is not supported");
      }
    }
    std::vector<std::string> sources(p.args.begin(), p.args.end() - 1);
    std::string dest_arg = p.args.back();
    const oci::ContainerConfig& c = state->config.config;
    std::string dest =
        CleanAbsolute(JoinPath(c.working_dir.empty() ? "/" : c.working_dir, dest_arg));
    // A destination is a directory when spelled as one ("dir/", ".", "dir/.", or empty: the
    // working directory), or when several sources (or a wildcard's several matches) go there.
    bool dest_is_dir = dest_arg.empty() || dest_arg == "." || absl::EndsWith(dest_arg, "/") ||
                       absl::EndsWith(dest_arg, "/.") || sources.size() > 1;

    // --link: the layer is made without looking at the layers below (it can then sit on any
    // base), so the destination's symlinks in the image are not followed.
    std::vector<std::string> lowers;
    if (!p.BoolFlag("link")) {
      ASSIGN_OR_RETURN(lowers, LowerDirs(*state));
    }
    LayeredFs image(lowers);
    const bool parents = p.BoolFlag("parents");
    if (parents) dest_is_dir = true;
    // An existing directory (a symlink to one included) is copied into, whatever the spelling.
    ASSIGN_OR_RETURN(std::string dest_in_image, image.Resolve(dest, /*follow_last=*/true));
    if (auto e = image.Lookup(dest_in_image); e && S_ISDIR(e->st.st_mode)) dest_is_dir = true;
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
    std::optional<context::DockerIgnore> exclude;
    if (const auto& patterns = p.FlagValues("exclude"); !patterns.empty()) {
      ASSIGN_OR_RETURN(exclude,
                       context::DockerIgnore::Parse(absl::StrJoin(patterns, "\n"), "--exclude"));
    }
    std::string diff = absl::StrCat(work_, "/step-", Cur().step, "/diff");
    RETURN_IF_ERROR(MakeDirs(diff));
    Writer writer;
    writer.diff = diff;
    writer.owner = owner;
    // Files from another stage or image keep their owners (unless --chown); the build
    // context's become root's.
    writer.keep_owners = p.flags.count("from") > 0;
    writer.chmod = chmod;
    writer.image = &image;
    for (const std::string& source : sources) {
      if (IsUrl(source)) {
        // Downloaded files are not unpacked and get mode 0600 (unless --chmod), as in Docker.
        std::optional<std::string> checksum;
        if (const std::string* c = p.Flag("checksum")) checksum = *c;
        ASSIGN_OR_RETURN(FetchedUrl f, Fetch(source, checksum));
        if (Unpacks(p, /*url=*/true)) {
          UniqueFd fd(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
          if (!fd.valid()) return ErrnoError("open " + f.path);
          ASSIGN_OR_RETURN(bool archive, IsTarArchive(fd.get()));
          if (archive) {
            RETURN_IF_ERROR(Unpack(fd.get(), dest, writer, source));
            continue;
          }
        }
        // A URL whose path has no last segment gives the file BuildKit's name.
        std::string name = f.file_name.empty() ? "__unnamed__" : f.file_name;
        std::string target = dest_is_dir ? JoinPath(dest, name) : dest;
        RETURN_IF_ERROR(writer.CopyFile(target, f.path, 0600, f.last_modified));
        continue;
      }
      if (absl::StartsWith(source, "<<")) {
        // The delimiter word without "<<", "-" and quotes names the heredoc.
        std::string name = source.substr(2);
        if (absl::StartsWith(name, "-")) name.erase(0, 1);
        name.erase(std::remove_if(name.begin(), name.end(),
                                  [](char ch) { return ch == '\'' || ch == '"'; }),
                   name.end());
        const auto& docs = p.node->heredocs;
        auto doc = std::find_if(docs.begin(), docs.end(),
                                [&](const dockerfile::Heredoc& h) { return h.name == name; });
        if (doc == docs.end()) return absl::InvalidArgumentError("unknown heredoc " + source);
        std::string target = dest_is_dir ? JoinPath(dest, doc->name) : dest;
        RETURN_IF_ERROR(writer.WriteData(target, p.heredocs[doc - docs.begin()], 0644));
        continue;
      }
      if (parents) {
        RETURN_IF_ERROR(CopyWithParents(*ctx, source, dest, writer, exclude));
        continue;
      }
      ASSIGN_OR_RETURN(std::vector<context::ContextEntry> entries, ctx->Select(source));
      std::string root = context::CleanPath(source);
      if (entries.empty()) {
        // Nothing matched (an empty wildcard): the destination directory is made all the same
        // (the destination's parent, when it is a file), as BuildKit makes it before copying.
        std::string dir = dest_is_dir ? dest : Dirname(dest);
        ASSIGN_OR_RETURN(std::string placed, image.Resolve(dir, /*follow_last=*/true));
        if (!image.Lookup(placed)) RETURN_IF_ERROR(writer.MakeDir(dir, 0755, false));
        continue;
      }
      if (HasGlobMeta(root) && !dest_is_dir) {
        // Matches come each followed by what is below it: count the tops.
        int matches = 0;
        std::string top;
        for (const context::ContextEntry& e : entries) {
          if (matches == 0 || !absl::StartsWith(e.path, top + "/")) {
            ++matches;
            top = e.path;
          }
        }
        dest_is_dir = matches > 1;
      }
      std::string root_dest = dest;  // where the current match goes
      bool wildcard = HasGlobMeta(root);
      std::string current_root;  // the selected path entries are copied relative to
      bool root_is_dir = false;
      // --exclude patterns (.dockerignore syntax) match a path relative to the source's
      // directory part before any wildcard, or relative to the directory being copied.
      std::string prefix =
          wildcard ? root.substr(0, std::min(root.size(), root.find_first_of("*?["))) : "";
      prefix = prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/'));
      std::vector<std::string> excluded_dirs;
      auto is_excluded = [&](const context::ContextEntry& e) {
        if (!exclude) return false;
        for (const std::string& d : excluded_dirs) {
          if (absl::StartsWith(e.path, d + "/")) return true;
        }
        std::vector<std::string> rels;
        if (prefix.empty()) rels.push_back(e.path);
        if (!prefix.empty() && absl::StartsWith(e.path, prefix + "/")) {
          rels.push_back(e.path.substr(prefix.size() + 1));
        }
        if (!current_root.empty() && current_root != "." &&
            absl::StartsWith(e.path, current_root + "/")) {
          rels.push_back(e.path.substr(current_root.size() + 1));
        }
        for (const std::string& rel : rels) {
          if (exclude->Excluded(rel)) {
            if (S_ISDIR(e.mode)) excluded_dirs.push_back(e.path);
            return true;
          }
        }
        return false;
      };
      for (const context::ContextEntry& e : entries) {
        bool under_root = !current_root.empty() &&
                          (current_root == "." || absl::StartsWith(e.path, current_root + "/"));
        if (!wildcard && root == ".") {
          under_root = true;
          current_root = ".";
          root_is_dir = true;
        }
        if (!under_root && is_excluded(e)) continue;
        if (!under_root) {
          current_root = e.path;
          root_is_dir = S_ISDIR(e.mode);
          root_dest = dest;
          if (!root_is_dir && p.instruction == "ADD" && S_ISREG(e.mode) &&
              Unpacks(p, /*url=*/false)) {
            ASSIGN_OR_RETURN(UniqueFd fd, ctx->OpenEntry(e));
            ASSIGN_OR_RETURN(bool archive, IsTarArchive(fd.get()));
            if (archive) {
              // ADD unpacks local tar archives (any compression) into the destination.
              RETURN_IF_ERROR(Unpack(fd.get(), dest, writer, e.path));
              continue;
            }
          }
          if (!root_is_dir) {
            std::string name = e.path.substr(e.path.rfind('/') + 1);
            std::string target = dest_is_dir ? JoinPath(dest, name) : dest;
            RETURN_IF_ERROR(writer.CopyEntry(*ctx, e, target));
          } else {
            // A directory's contents go into the destination, which keeps what the image has,
            // or is made 0755 (owned as --chown says, else by root), as BuildKit makes it.
            RETURN_IF_ERROR(writer.MakeDir(root_dest, 0755, /*keep_source_owner=*/false));
          }
          continue;
        }
        if (is_excluded(e)) continue;
        std::string rel = current_root == "." ? e.path : e.path.substr(current_root.size() + 1);
        RETURN_IF_ERROR(writer.CopyEntry(*ctx, e, JoinPath(root_dest, rel)));
      }
    }
    RETURN_IF_ERROR(CommitDiff(diff, /*overlay=*/false, CreatedBy(p, state->config.config), state));
    // Linking and unlinking changed the context files' ctime: tell the file digest cache the
    // files it knows are the same, or the next build would read them all again.
    RETURN_IF_ERROR(RemoveAll(diff));
    if (ctx == context_.get() && file_digests_) {
      for (const auto& [path, before] : writer.linked_files) {
        context::ContextEntry e;
        e.path = path;
        auto fd = ctx->OpenEntry(e);
        struct stat after;
        if (fd.ok() && ::fstat(fd->get(), &after) == 0) file_digests_->Relink(before, after);
      }
    }
    return absl::OkStatus();
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

  // Writes COPY results into a diff directory. Destinations are placed where the image has
  // them: symlinks in the image are followed (a file for /bin/x lands in /usr/bin/x when /bin
  // links to usr/bin), and parent directories the image has keep its modes and owners.
  struct Writer {
    std::string diff;
    std::optional<ResolvedUser> owner;
    std::optional<dockerfile::FileMode> chmod;
    bool keep_owners = false;          // copied entries keep their own owners (COPY --from)
    const LayeredFs* image = nullptr;  // the layers below this step

    struct Dir {
      std::string path;  // in the image, symlinks followed
      bool in_image;     // exists there as a directory
    };
    mutable std::map<std::string, Dir> dirs;
    mutable absl::flat_hash_set<std::pair<dev_t, ino_t>> linked;            // see LinkInstead
    mutable std::vector<std::pair<std::string, struct stat>> linked_files;  // context path, stat

    absl::StatusOr<Dir> PlaceDir(const std::string& dir) const {
      if (dir == "/" || dir.empty()) return Dir{"/", true};
      if (auto it = dirs.find(dir); it != dirs.end()) return it->second;
      ASSIGN_OR_RETURN(Dir parent, PlaceDir(Dirname(dir)));
      Dir place{JoinPath(parent.path, dir.substr(dir.rfind('/') + 1)), false};
      if (parent.in_image) {  // below a directory the image lacks, it has nothing
        auto e = image->Lookup(place.path);
        if (e && S_ISLNK(e->st.st_mode)) {
          ASSIGN_OR_RETURN(place.path, image->Resolve(place.path, /*follow_last=*/true));
          e = image->Lookup(place.path);
        }
        // A file (or a link to one) where a directory must be is an error, as in BuildKit;
        // the image's file is not replaced.
        if (e && !S_ISDIR(e->st.st_mode)) {
          return absl::FailedPreconditionError(
              absl::StrCat("mkdir ", place.path, ": not a directory"));
        }
        place.in_image = e.has_value();
      }
      return dirs[dir] = place;
    }
    // Where `target` goes in the diff (a path inside it, from its root).
    absl::StatusOr<std::string> Place(const std::string& target, bool is_dir) const {
      if (is_dir) {
        ASSIGN_OR_RETURN(Dir d, PlaceDir(target));
        return d.path;
      }
      ASSIGN_OR_RETURN(Dir parent, PlaceDir(Dirname(target)));
      return JoinPath(parent.path, target.substr(target.rfind('/') + 1));
    }

    absl::Status Own(const std::string& path) const { return OwnAs(path, owner); }
    // The owner a copied entry gets: --chown's, else its own (COPY --from), else root.
    absl::Status OwnEntry(const std::string& path, const context::ContextEntry& e) const {
      if (owner || !keep_owners) return Own(path);
      ResolvedUser as_source;
      as_source.uid = e.uid;
      as_source.gid = e.gid;
      return OwnAs(path, as_source);
    }
    absl::Status OwnAs(const std::string& path, const std::optional<ResolvedUser>& who) const {
      uid_t uid = who ? who->uid : 0;
      gid_t gid = who ? who->gid : 0;
      if (::lchown(path.c_str(), uid, gid) != 0) {
        int err = errno;
        RETURN_IF_ERROR_CTX(CheckIdsMapped(uid, gid), "--chown");
        return ErrnoError(absl::StrCat("chown ", path), err);
      }
      return absl::OkStatus();
    }
    // Creates the missing parents of `placed` (a placed path) in the diff: as the image has
    // them, else owned like the copied files (as --chown does).
    absl::Status Parents(const std::string& placed) const {
      std::string path = diff;
      std::string in_image;
      std::string parent = Dirname(placed);
      for (absl::string_view part : absl::StrSplit(parent, '/', absl::SkipEmpty())) {
        absl::StrAppend(&path, "/", part);
        absl::StrAppend(&in_image, "/", part);
        if (PathExists(path)) continue;
        auto e = image->Lookup(in_image);
        if (::mkdir(path.c_str(), 0755) != 0) return ErrnoError("mkdir " + path);
        if (e && S_ISDIR(e->st.st_mode)) {
          ResolvedUser as_in_image;
          as_in_image.uid = e->st.st_uid;
          as_in_image.gid = e->st.st_gid;
          RETURN_IF_ERROR(OwnAs(path, as_in_image));
          if (::chmod(path.c_str(), e->st.st_mode & 07777) != 0) return ErrnoError("chmod " + path);
        } else {
          RETURN_IF_ERROR(Own(path));
          // An octal --chmod is also the mode of the directories the copy creates.
          if (chmod && chmod->octal() && ::chmod(path.c_str(), *chmod->octal()) != 0) {
            return ErrnoError("chmod " + path);
          }
        }
      }
      return absl::OkStatus();
    }
    mode_t ModeOf(mode_t own, bool is_dir) const {
      return chmod ? chmod->Apply(own, is_dir) : own & 07777;
    }
    // A directory at `target`: one the image already has keeps its mode and owner (it is
    // copied into, not replaced); a new one gets `mode` (or --chmod) and the owner --chown
    // names, else the source entry's (`source`, when kept) or root.
    absl::Status MakeDir(const std::string& target, mode_t mode, bool keep_source_owner,
                         const context::ContextEntry* source = nullptr) const {
      ASSIGN_OR_RETURN(std::string placed, Place(target, /*is_dir=*/true));
      std::string path = diff + placed;
      RETURN_IF_ERROR(Parents(placed));
      if (PathExists(path)) return absl::OkStatus();  // made by this step already
      if (auto e = image->Lookup(placed); e && S_ISDIR(e->st.st_mode)) {
        if (::mkdir(path.c_str(), 0755) != 0) return ErrnoError("mkdir " + path);
        ResolvedUser as_in_image;
        as_in_image.uid = e->st.st_uid;
        as_in_image.gid = e->st.st_gid;
        RETURN_IF_ERROR(OwnAs(path, as_in_image));
        if (::chmod(path.c_str(), e->st.st_mode & 07777) != 0) return ErrnoError("chmod " + path);
        return absl::OkStatus();
      }
      if (::mkdir(path.c_str(), 0755) != 0) return ErrnoError("mkdir " + path);
      if (::chmod(path.c_str(), ModeOf(mode, true)) != 0) return ErrnoError("chmod " + path);
      return keep_source_owner && source != nullptr ? OwnEntry(path, *source) : Own(path);
    }
    absl::Status WriteData(const std::string& target, const std::string& data, mode_t mode) const {
      ASSIGN_OR_RETURN(std::string placed, Place(target, /*is_dir=*/false));
      RETURN_IF_ERROR(Parents(placed));
      std::string path = diff + placed;
      RETURN_IF_ERROR(WriteFileAtomic(path, data, ModeOf(mode, false)));
      return Own(path);
    }
    // Copies a downloaded file to `target` (the download may serve other stages too).
    absl::Status CopyFile(const std::string& target, const std::string& from, mode_t mode,
                          std::optional<int64_t> mtime) const {
      ASSIGN_OR_RETURN(std::string placed, Place(target, /*is_dir=*/false));
      RETURN_IF_ERROR(Parents(placed));
      std::string path = diff + placed;
      (void)RemoveAll(path);
      UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
      if (!in.valid()) return ErrnoError("open " + from);
      UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!out.valid()) return ErrnoError("create " + path);
      FdReader reader(in.get());
      FdWriter writer(out.get());
      RETURN_IF_ERROR(Copy(reader, writer).status());
      if (::fchmod(out.get(), ModeOf(mode, false)) != 0) return ErrnoError("chmod " + path);
      if (mtime) {
        struct timespec times[2] = {{*mtime, 0}, {*mtime, 0}};
        if (::futimens(out.get(), times) != 0) return ErrnoError("futimens " + path);
      }
      return Own(path);
    }
    absl::Status CopyEntry(const context::BuildContext& ctx, const context::ContextEntry& e,
                           const std::string& target) const {
      if (S_ISDIR(e.mode)) return MakeDir(target, e.mode & 07777, /*keep_source_owner=*/true, &e);
      ASSIGN_OR_RETURN(std::string placed, Place(target, /*is_dir=*/false));
      std::string path = diff + placed;
      RETURN_IF_ERROR(Parents(placed));
      (void)RemoveAll(path);
      if (S_ISLNK(e.mode)) {
        if (::symlink(e.link_target.c_str(), path.c_str()) != 0)
          return ErrnoError("symlink " + path);
        return OwnEntry(path, e);
      }
      if (S_ISSOCK(e.mode)) {  // a socket becomes an empty file (a tar cannot hold one)
        RETURN_IF_ERROR(WriteFileAtomic(path, "", ModeOf(e.mode, false)));
        return OwnEntry(path, e);
      }
      if (!S_ISREG(e.mode)) return absl::OkStatus();  // devices, fifos: not copied
      ASSIGN_OR_RETURN(UniqueFd in, ctx.OpenEntry(e));
      struct stat st;
      if (::fstat(in.get(), &st) != 0) return ErrnoError("stat " + e.path);
      if (LinkInstead(in.get(), st, e.path, path)) return absl::OkStatus();
      UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!out.valid()) return ErrnoError("create " + path);
      FdReader from(in.get());
      FdWriter to(out.get());
      RETURN_IF_ERROR_CTX(Copy(from, to).status(), "copying ", e.path);
      RETURN_IF_ERROR(OwnEntry(path, e));
      if (::fchmod(out.get(), ModeOf(e.mode, false)) != 0) return ErrnoError("chmod " + path);
      // The source's modification time, as Docker keeps it (the layer clamps it).
      const struct timespec times[2] = {st.st_mtim, st.st_mtim};
      if (::futimens(out.get(), times) != 0) return ErrnoError("set mtime of " + path);
      return absl::OkStatus();
    }

    // The diff only has to hold what the layer's tar will read. When the source file already
    // has exactly the metadata the copy would get (owner, mode, no xattrs), a hard link to it
    // (same file system) stands in for copying its bytes. Nothing writes through such a link:
    // replaced targets are unlinked first, and the diff is removed after the commit. Each
    // source inode is linked once, so the tar never sees hard links the copy would not have.
    bool LinkInstead(int fd, const struct stat& st, const std::string& source_path,
                     const std::string& path) const {
      uid_t uid = owner ? owner->uid : keep_owners ? st.st_uid : 0;
      gid_t gid = owner ? owner->gid : keep_owners ? st.st_gid : 0;
      if (chmod || st.st_uid != uid || st.st_gid != gid) return false;
      if (::flistxattr(fd, nullptr, 0) != 0) return false;  // xattrs (or cannot tell)
      auto inode = std::make_pair(st.st_dev, st.st_ino);
      if (linked.contains(inode)) return false;
      std::string proc = absl::StrCat("/proc/self/fd/", fd);
      if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0) {
        return false;  // another file system, or not allowed: copy
      }
      linked.insert(inode);
      linked_files.emplace_back(source_path, st);
      return true;
    }
  };

  // COPY --parents SOURCE: as BuildKit has it, the part of SOURCE before a "/./" pivot (the
  // context root without one) names the directories (a wildcard may match several, or none)
  // whose contents are copied, and the rest is a pattern (.dockerignore syntax, `**` too) of
  // the paths below it that are: each lands at DEST/<its path below the pivot>, with its
  // parent directories as the source has them. Without wildcards, the path must exist.
  absl::Status CopyWithParents(const context::BuildContext& ctx, const std::string& source,
                               const std::string& dest, const Writer& writer,
                               const std::optional<context::DockerIgnore>& exclude) {
    std::string base = ".";
    std::string pattern = source;
    if (size_t at = source.find("/./"); at != std::string::npos) {
      base = source.substr(0, at);
      pattern = source.substr(at + 3);
    }
    base = context::CleanPath(base);
    pattern = context::CleanPath(pattern);
    ASSIGN_OR_RETURN(context::DockerIgnore include,
                     context::DockerIgnore::Parse(pattern, "--parents pattern"));
    ASSIGN_OR_RETURN(std::vector<context::ContextEntry> entries, ctx.Select(base));
    bool wildcard = HasGlobMeta(base);
    std::string top;  // the current match of `base` ("." for the whole context)
    bool in_top = false;
    std::map<std::string, const context::ContextEntry*> dirs;  // below the pivot
    bool copied = false;
    for (const context::ContextEntry& e : entries) {
      if (base == "." && !wildcard) {
        top = ".";
        in_top = true;
      } else if (!in_top || !absl::StartsWith(e.path, top + "/")) {
        top = e.path;  // a new match: its contents are what the pattern is matched against
        in_top = true;
        dirs.clear();
        continue;
      }
      std::string rel = top == "." ? e.path : e.path.substr(top.size() + 1);
      if (S_ISDIR(e.mode)) dirs[rel] = &e;
      if (!include.Excluded(rel) || (exclude && exclude->Excluded(rel))) continue;
      // Its parent directories (below the pivot) first, as the source has them.
      for (size_t slash = rel.find('/'); slash != std::string::npos;
           slash = rel.find('/', slash + 1)) {
        if (auto d = dirs.find(rel.substr(0, slash)); d != dirs.end()) {
          RETURN_IF_ERROR(writer.CopyEntry(ctx, *d->second, JoinPath(dest, d->first)));
        }
      }
      RETURN_IF_ERROR(writer.CopyEntry(ctx, e, JoinPath(dest, rel)));
      copied = true;
    }
    if (!copied && !wildcard && !HasGlobMeta(pattern)) {
      return absl::NotFoundError(absl::StrCat(
          dockerfile::GoQuote("/" + context::CleanPath(JoinPath(base, pattern))), ": not found"));
    }
    if (!copied) RETURN_IF_ERROR(writer.MakeDir(dest, 0755, /*keep_source_owner=*/false));
    return absl::OkStatus();
  }

  // ADD's unpacking of a tar archive (any compression) into `dest`, as BuildKit unpacks it:
  // onto the image (its symlinks followed, its directories keeping their metadata), entries
  // keeping the archive's owners unless --chown gives one, hard links kept. The archive is
  // unpacked into a scratch directory first and copied from there like a COPY.
  absl::Status Unpack(int archive_fd, const std::string& dest, const Writer& writer,
                      const std::string& what) {
    RETURN_IF_ERROR(writer.MakeDir(dest, 0755, /*keep_source_owner=*/false));
    std::string scratch = absl::StrCat(writer.diff, ".unpack-", unpack_seq_++);
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
    Writer archive = writer;
    archive.keep_owners = true;
    std::map<ino_t, std::string> first_of_inode;  // where a hard-linked file was placed
    for (const context::ContextEntry& e : entries) {
      if (e.path == ".") continue;
      std::string target = JoinPath(dest, e.path);
      if (S_ISREG(e.mode) && e.nlink > 1) {
        ASSIGN_OR_RETURN(std::string placed, archive.Place(target, /*is_dir=*/false));
        std::string path = archive.diff + placed;
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

  std::string FileDigestsPath() const { return store_.root() + "/file-digests"; }
  // The file digest cache, loaded by the first step that hashes context files.
  context::FileDigests* KnownFileDigests() {
    std::call_once(file_digests_once_, [this] {
      file_digests_.emplace(context::FileDigests::Load(FileDigestsPath()));
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
  StageRun outside_;
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
