#include "builder/build_session.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "layers/extract.h"
#include "layers/image_commit.h"
#include "layers/layer_writer.h"
#include "layers/layout_transport.h"
#include "oci/reference.h"
#include "transfer/transports.h"
#include "trust/enforce.h"

namespace kiln::builder {
namespace {

using oci::Descriptor;

std::string Hex(absl::string_view text) { return oci::Digest::Of(text).hex(); }

}  // namespace

BuildSession::BuildSession(layers::Store& store, const BuildRequest& request,
                           const ProgressFn& progress)
    : store_(store),
      req_(request),
      progress_(progress),
      created_(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                absl::FromUnixSeconds(request.source_date_epoch),
                                absl::UTCTimeZone())),
      snapshots_(store.root()),
      remote_(&store, request.transport),
      origins_(&store, request.transport.registry) {}

BuildSession::~BuildSession() {
  work_dir_.reset();  // while the sandboxes are still there
}

absl::Status BuildSession::Open(const std::string& dockerfile) {
  ASSIGN_OR_RETURN(context_, context::BuildContext::Open(req_.context_dir, dockerfile));
  ASSIGN_OR_RETURN(std::string run_dir, store_.RunDir());
  ASSIGN_OR_RETURN(TempDir work, TempDir::Create(run_dir + "/build-"));
  work_dir_.emplace(std::move(work));
  work_ = work_dir_->path();
  for (const auto& [name, c] : req_.named_contexts) {
    if (c.kind != NamedContext::Kind::kDir) continue;
    ASSIGN_OR_RETURN_CTX(named_dirs_[name], context::BuildContext::Open(c.source),
                         "--build-context ", name);
  }
  if (!req_.cache_from.empty() && !req_.no_cache) {
    remote_.Import(req_.cache_from, [this](const std::string& w) { Message(w); });
  }
  return absl::OkStatus();
}

std::string BuildSession::StepDir(const StageRun& run) const {
  return absl::StrCat(work_, "/step-", run.step);
}

void BuildSession::SetSandboxes(std::unique_ptr<StepSandboxes> sandboxes) {
  sandboxes_ = std::move(sandboxes);
}

std::string BuildSession::SandboxKey(const PlannedInstruction& p) const {
  if (p.instruction != "RUN" || sandboxes_ == nullptr) return "";
  auto network = sandboxes_->NetworkFor(p.flags);
  auto insecure = sandboxes_->InsecureFor(p.flags);
  return absl::StrCat(" network=", network.ok() ? static_cast<int>(*network) : -1,
                      insecure.ok() && *insecure ? " insecure" : "");
}

bool BuildSession::NoCacheFilter(const Stage& stage) const {
  for (const std::string& f : req_.no_cache_filter) {
    if ((!stage.name.empty() && absl::AsciiStrToLower(f) == stage.name) ||
        f == absl::StrCat(stage.index)) {
      return true;
    }
  }
  return false;
}

void BuildSession::Event(const StageRun* run, BuildEvent::Kind kind,
                         const std::function<void(BuildEvent&)>& fill) const {
  BuildEvent e;
  e.kind = kind;
  e.step = run != nullptr ? run->step : 0;
  if (fill) fill(e);
  progress_(e);
}

void BuildSession::Message(const std::string& text, const StageRun* run) const {
  Event(run, BuildEvent::Kind::kMessage, [&](BuildEvent& e) { e.text = text; });
}

ImageState BuildSession::Scratch(const oci::Platform& platform) {
  ImageState state;
  state.config.os = platform.os;
  state.config.architecture = platform.architecture;
  state.config.variant = platform.variant;
  state.config.config.working_dir = "/";  // as BuildKit's empty image has it
  state.key = oci::Digest::Of("scratch " + platform.str()).hex();
  return state;
}

absl::StatusOr<ImageState> BuildSession::ImportImage(const std::string& name,
                                                     const oci::Platform& platform,
                                                     const StageRun* run) {
  std::lock_guard<std::mutex> lock(import_mu_);
  const std::string key = absl::StrCat(name, " ", platform.str());
  if (auto it = imported_.find(key); it != imported_.end()) return it->second;
  const NamedContext* named = FindNamedContext(req_.named_contexts, name);
  if (named == nullptr) return ImportLocked(name, platform, run);
  if (named->kind == NamedContext::Kind::kDir) {
    return absl::InvalidArgumentError(
        absl::StrCat("--build-context ", name, " is a directory, not an image"));
  }
  if (named->source == "scratch") return imported_[key] = Scratch(platform);
  Message(absl::StrCat("[context ", name, "] ", named->source), run);
  ASSIGN_OR_RETURN_CTX(ImageState state, ImportLocked(named->source, platform, run),
                       "--build-context ", name);
  return imported_[key] = state;
}

const context::BuildContext* BuildSession::NamedDir(const std::string& from, int from_stage) const {
  if (from_stage >= 0 || named_dirs_.empty()) return nullptr;
  // named_dirs_ holds the directory contexts by key ("scratch" and "context" are never one).
  absl::StatusOr<std::string> key = NamedContextKey(from);
  if (!key.ok()) return nullptr;
  auto it = named_dirs_.find(*key);
  return it == named_dirs_.end() ? nullptr : it->second.get();
}

absl::StatusOr<std::string> BuildSession::SourceKey(const std::string& from, int from_stage,
                                                    const std::vector<std::string>& sources,
                                                    const StageRun& run) {
  if (const context::BuildContext* dir = NamedDir(from, from_stage)) {
    ASSIGN_OR_RETURN(oci::Digest d, dir->DigestOf(sources, KnownFileDigests()));
    return absl::StrCat("named-context ", d.str());
  }
  ASSIGN_OR_RETURN(ImageState state, SourceState(from, from_stage, run));
  return state.key;
}

namespace {

// True when an image of `config` is for `platform` (or names none).
bool ServesPlatform(const oci::ImageConfig& config, const oci::Platform& platform) {
  return config.architecture.empty() || config.platform().Satisfies(platform);
}

}  // namespace

absl::StatusOr<ImageState> BuildSession::ImportLocked(const std::string& name,
                                                      const oci::Platform& platform,
                                                      const StageRun* run) {
  const std::string key = absl::StrCat(name, " ", platform.str());
  if (auto it = imported_.find(key); it != imported_.end()) return it->second;
  ASSIGN_OR_RETURN(transfer::ImageLocation loc, transfer::ParseImageLocation(name));
  std::unique_ptr<layers::ImageSource> source;
  std::optional<layers::LoadedImage> loaded;
  if (loc.transport == transfer::Transport::kStore) {
    absl::StatusOr<Descriptor> desc = store_.Resolve(name);
    if (desc.ok() && !req_.pull) {
      source = layers::NewBlobStoreSource(&store_.blobs(), *desc);
      absl::StatusOr<layers::LoadedImage> have = layers::LoadImage(*source, platform);
      if (have.ok() && ServesPlatform(have->config, platform)) loaded = *std::move(have);
    }
    if (!loaded) {
      // Not in the store (or not for this platform): a registry image, pulled into the store.
      absl::StatusOr<Descriptor> pulled = PullBase(name, platform, run);
      if (!pulled.ok() && desc.ok() && !req_.pull) {
        return Annotate(pulled.status(),
                        absl::StrCat("base image ", name, ": the store's is not for ",
                                     platform.str(), ", and pulling it failed"));
      }
      RETURN_IF_ERROR(pulled.status());
      source = layers::NewBlobStoreSource(&store_.blobs(), *pulled);
    }
  } else {
    ASSIGN_OR_RETURN(source, transfer::OpenImageSource(loc, &store_, req_.transport));
    RETURN_IF_ERROR_CTX(CheckPolicy(loc, *source), "base image ", name);
    auto sink = layers::NewBlobStoreDestination(&store_.blobs(),
                                                [](const Descriptor&) { return absl::OkStatus(); });
    layers::CopyOptions copy;
    copy.platform = platform;
    RETURN_IF_ERROR_CTX(layers::CopyImage(*source, *sink, copy).status(), "importing ", name);
  }
  if (!loaded) {
    ASSIGN_OR_RETURN_CTX(loaded, layers::LoadImage(*source, platform), "base image ", name);
  }
  const layers::LoadedImage& image = *loaded;
  resolved_[name] = image.top.digest;
  if (image.config.diff_ids.size() != image.parsed.layers.size()) {
    return absl::DataLossError(absl::StrCat("base image ", name, ": ", image.parsed.layers.size(),
                                            " layers but ", image.config.diff_ids.size(),
                                            " DiffIDs"));
  }
  if (!ServesPlatform(image.config, platform)) {
    Message(absl::StrCat("base image ", name, " is for ",
                         image.config.platform().Normalized().str(), ", not ", platform.str()),
            run);
  }
  ImageState state;
  state.config = image.config;
  state.layers = image.parsed.layers;
  state.key = Hex(absl::StrCat("image ", image.manifest.digest.str()));
  imported_[key] = state;
  return state;
}

// Pulls `name` for `platform` from its registry into the store; returns the root the store
// has. The host's platform is named `name` (as `kiln pull` names it); another platform's image
// is named by its manifest's digest (`repo@sha256:…`), so the tag keeps the host's image.
absl::StatusOr<Descriptor> BuildSession::PullBase(const std::string& name,
                                                  const oci::Platform& platform,
                                                  const StageRun* run) {
  absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(name);
  if (!ref.ok()) return Annotate(ref.status(), absl::StrCat("base image ", name));
  const bool host = platform.SameAs(oci::Platform::Host());
  Message(absl::StrCat("pulling ", ref->Familiar(), host ? "" : " for " + platform.str()), run);
  transfer::ImageLocation src{transfer::Transport::kRegistry, "", ref->String()};
  const std::string what = absl::StrCat("base image ", name, " (pulling ", ref->String(), ")");
  transfer::TransportOptions transport = req_.transport;
  transport.notify = [this, run](const std::string& text) { Message(text, run); };
  ASSIGN_OR_RETURN_CTX(auto source, transfer::OpenImageSource(src, &store_, transport), what);
  RETURN_IF_ERROR_CTX(CheckPolicy(src, *source), "base image ", name);
  layers::CopyOptions copy;
  copy.platform = platform;
  if (host) {
    transfer::ImageLocation dst{transfer::Transport::kStore, "", ref->String()};
    ASSIGN_OR_RETURN_CTX(auto dest, transfer::OpenImageDestination(dst, &store_, req_.transport),
                         what);
    ASSIGN_OR_RETURN_CTX(oci::ManifestData top, layers::CopyImage(*source, *dest, copy), what);
    return top.ToDescriptor();
  }
  auto sink = layers::NewBlobStoreDestination(&store_.blobs(),
                                              [](const Descriptor&) { return absl::OkStatus(); });
  ASSIGN_OR_RETURN_CTX(oci::ManifestData top, layers::CopyImage(*source, *sink, copy), what);
  Descriptor root = top.ToDescriptor();
  RETURN_IF_ERROR_CTX(store_.Tag(absl::StrCat(ref->Repository(), "@", root.digest.str()), root),
                      what);
  return root;
}

absl::Status BuildSession::CheckPolicy(const transfer::ImageLocation& loc,
                                       layers::ImageSource& source) {
  if (req_.policy == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(oci::ManifestData top, source.GetManifest());
  return trust::EnforcePolicy(*req_.policy, loc, top.digest, &store_, req_.transport);
}

void BuildSession::SetDone(int target, int index, ImageState state) {
  std::lock_guard<std::mutex> lock(done_mu_);
  done_[{target, index}] = std::move(state);
}

std::optional<ImageState> BuildSession::DoneState(int target, int index) const {
  std::lock_guard<std::mutex> lock(done_mu_);
  auto it = done_.find({target, index});
  if (it == done_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ImageState> BuildSession::SourceState(const std::string& from, int from_stage,
                                                     const StageRun& run) {
  if (from_stage >= 0) {
    std::optional<ImageState> done = DoneState(run.target, from_stage);
    if (!done) return absl::InternalError("source stage not built yet");
    return *std::move(done);
  }
  return ImportImage(from, run.stage.runs_on, &run);
}

absl::StatusOr<std::string> BuildSession::Materialize(const ImageState& state) {
  std::lock_guard<std::mutex> lock(materialize_mu_);
  std::string dir = absl::StrCat(work_, "/rootfs-", state.key);
  if (PathExists(dir)) return dir;
  RETURN_IF_ERROR(EnsureLayers(state));
  RETURN_IF_ERROR(MakeDirs(dir));
  for (const Descriptor& layer : state.layers) {
    ASSIGN_OR_RETURN(auto blob, store_.blobs().Open(layer.digest, layer.size));
    layers::ExtractOptions options;
    options.devices = layers::DevicePolicy::kSkip;
    RETURN_IF_ERROR(layers::ExtractLayer(*blob, dir, options).status());
  }
  return dir;
}

absl::Status BuildSession::EnsureLayers(const ImageState& state) {
  return FetchMissing(state.layers);
}

absl::Status BuildSession::FetchMissing(const std::vector<Descriptor>& layers) {
  std::vector<Descriptor> cached, elsewhere;
  for (const Descriptor& d : layers) {
    if (store_.blobs().Has(d.digest)) continue;
    (remote_.HasBlob(d) ? cached : elsewhere).push_back(d);
  }
  if (!cached.empty()) RETURN_IF_ERROR(remote_.Fetch(cached));
  return origins_.FetchAll(elsewhere);
}

absl::Status BuildSession::DeferLayers(const ImageState& state) {
  std::vector<Descriptor> fetch;
  for (const Descriptor& d : state.layers) {
    if (store_.blobs().Has(d.digest)) continue;
    std::vector<std::string> origins =
        remote_.HasBlob(d) ? remote_.Origins(d) : std::vector<std::string>{};
    if (origins.empty()) {
      fetch.push_back(d);
      continue;
    }
    store_.RecordOrigins(d.digest, std::move(origins));
  }
  return FetchMissing(fetch);
}

absl::StatusOr<std::vector<std::string>> BuildSession::LowerDirs(const ImageState& state) {
  RETURN_IF_ERROR(EnsureLayers(state));
  std::vector<std::string> dirs;
  for (size_t i = state.layers.size(); i-- > 0;) {
    ASSIGN_OR_RETURN(std::string dir,
                     snapshots_.Get(store_.blobs(), state.layers[i], state.config.diff_ids[i]));
    dirs.push_back(std::move(dir));
  }
  return dirs;
}

absl::Status BuildSession::CommitDiff(const StageRun& run, const std::string& dir, bool overlay,
                                      const std::string& text, ImageState* state,
                                      const std::string& note) {
  if (absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
      !names.ok() || names->empty()) {
    AddHistory(state, created_, text, /*empty=*/true, note);
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
  AddHistory(state, created_, text, /*empty=*/false, note);
  // A RUN's upper directory is already in overlay format: it is the layer's snapshot.
  if (overlay) return snapshots_.Adopt(dir, layer.diff_id);
  return absl::OkStatus();
}

std::vector<std::pair<std::string, oci::Digest>> BuildSession::ResolvedImages() {
  std::lock_guard<std::mutex> lock(import_mu_);
  return {resolved_.begin(), resolved_.end()};
}

std::vector<std::pair<std::string, oci::Digest>> BuildSession::FetchedUrls() {
  std::lock_guard<std::mutex> lock(fetch_mu_);
  std::map<std::string, oci::Digest> urls;
  for (const auto& [key, f] : fetched_) urls[key.substr(0, key.find('\n'))] = f.digest;
  return {urls.begin(), urls.end()};
}

absl::StatusOr<FetchedUrl> BuildSession::Fetch(const std::string& url,
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

context::FileDigests* BuildSession::KnownFileDigests() {
  std::call_once(file_digests_once_, [this] {
    file_digests_.emplace(context::FileDigests::Load(store_.FileDigestsPath()));
  });
  return &*file_digests_;
}

void BuildSession::SaveFileDigests() {
  // Called once the stages have ended (their threads joined): none is loading it now.
  if (file_digests_) (void)file_digests_->Save(store_.FileDigestsPath());
}

absl::Status BuildSession::StartSshAgents() {
  for (const auto& [id, source] : req_.ssh) {
    if (source.keys.empty()) continue;
    ASSIGN_OR_RETURN_CTX(agents_[id], OwnAgent::Start(source.keys), "--ssh ", id);
  }
  return absl::OkStatus();
}

std::optional<std::string> BuildSession::SshAgentSocket(const std::string& id) const {
  auto it = req_.ssh.find(id);
  if (it == req_.ssh.end()) return std::nullopt;
  if (!it->second.socket.empty()) return it->second.socket;
  auto agent = agents_.find(id);
  if (agent == agents_.end()) return std::nullopt;
  return agent->second->socket();
}

bool BuildSession::FirstTime(const std::string& what) {
  std::lock_guard<std::mutex> lock(first_mu_);
  return named_.insert(what).second;
}

}  // namespace kiln::builder
