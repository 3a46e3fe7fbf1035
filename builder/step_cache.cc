#include "builder/step_cache.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "builder/dockerfile/run_mount.h"
#include "builder/url_fetch.h"
#include "layers/compression.h"

namespace kiln::builder {
namespace {

using oci::Descriptor;
using oci::Digest;

std::string Hex(absl::string_view text) { return Digest::Of(text).hex(); }

}  // namespace

bool LinkReusable(const PlannedInstruction& p) {
  if (!p.BoolFlag("link")) return false;
  const std::string* chown = p.Flag("chown");
  if (chown == nullptr) return true;
  return std::all_of(chown->begin(), chown->end(),
                     [](char ch) { return absl::ascii_isdigit(ch) || ch == ':'; });
}

absl::StatusOr<std::string> StepKey(BuildSession& session, const StageRun& run,
                                    const ImageState& state, const PlannedInstruction& p,
                                    bool link) {
  const BuildRequest& req = session.request();
  std::string parent = link ? absl::StrCat("link ", state.config.config.working_dir) : state.key;
  std::string material =
      absl::StrCat("kiln-step-v4\n", parent, "\n", p.ToText(), "\n", req.source_date_epoch, " ",
                   layers::CompressionName(req.compression), session.SandboxKey(p), "\n",
                   "platform ", run.stage.runs_on.str(), "\n");
  // A RUN's layer depends on whether it is normalized.
  if (p.instruction == "RUN") absl::StrAppend(&material, "normalize ", req.normalize, "\n");
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
        ASSIGN_OR_RETURN(FetchedUrl f, session.Fetch(*it, std::nullopt));
        absl::StrAppend(&material, "url ", *it, " ", f.digest.str(), "\n");
      }
    }
  }
  if ((p.instruction == "COPY" || p.instruction == "ADD") && p.Flag("from") == nullptr) {
    std::vector<std::string> sources(p.args.begin(), p.args.end() - 1);
    std::erase_if(sources,
                  [](const std::string& s) { return absl::StartsWith(s, "<<") || IsUrl(s); });
    if (!sources.empty()) {
      ASSIGN_OR_RETURN(Digest d, session.context().DigestOf(sources, session.KnownFileDigests()));
      absl::StrAppend(&material, "context ", d.str(), "\n");
    }
  }
  if (const std::string* from_flag = p.Flag("from")) {
    std::vector<std::string> sources(p.args.begin(), p.args.end() - 1);
    ASSIGN_OR_RETURN(std::string from, session.SourceKey(*from_flag, p.from_stage, sources, run));
    absl::StrAppend(&material, "from ", from, "\n");
  }
  // What a RUN's bind mounts show is part of its input.
  for (size_t i = 0; i < p.mounts.size(); ++i) {
    const dockerfile::RunMount& m = p.mounts[i];
    if (m.type != dockerfile::MountType::kBind) continue;
    if (!m.from.empty()) {
      ASSIGN_OR_RETURN(std::string from,
                       session.SourceKey(m.from, p.mount_from_stages[i],
                                         {m.source.empty() ? "." : m.source}, run));
      absl::StrAppend(&material, "mount-from ", from, "\n");
    } else {
      ASSIGN_OR_RETURN(Digest d, session.context().DigestOf({m.source.empty() ? "." : m.source},
                                                            session.KnownFileDigests()));
      absl::StrAppend(&material, "mount-context ", d.str(), "\n");
    }
  }
  return Hex(material);
}

std::string ContentKey(const std::string& key, const ImageState& state) {
  std::string material = absl::StrCat("kiln-content-v1\n", key, "\n", state.config.Serialize());
  for (const Descriptor& d : state.layers) absl::StrAppend(&material, "\n", d.digest.str());
  return Hex(material);
}

std::optional<layers::CacheRecord> StepRecords::Read(const std::string& name) const {
  std::optional<layers::CacheRecord> r = cache_.Read(name);
  if (r || remote_ == nullptr) return r;
  r = remote_->Read(name);
  // Kept in the store: it is exported from there, and later builds find it without the cache
  // (a miss again, if its blobs were never fetched). Only a cache: a failure is ignored.
  if (r) (void)cache_.Write(name, *r);
  return r;
}

bool StepRecords::Available(const oci::Descriptor& d) const {
  return blobs_.Has(d.digest) || (remote_ != nullptr && remote_->HasBlob(d));
}

std::optional<std::string> StepRecords::LoadMarker(const std::string& key) const {
  std::optional<layers::CacheRecord> r = Read(key);
  if (!r || r->kind != layers::CacheRecord::Kind::kMarker) return std::nullopt;
  return r->passed_on.empty() ? key : r->passed_on;
}

absl::Status StepRecords::SaveMarker(const std::string& key, const std::string& passed_on) const {
  layers::CacheRecord r;
  r.kind = layers::CacheRecord::Kind::kMarker;
  if (passed_on != key) r.passed_on = passed_on;
  return cache_.Write(key, r);
}

std::optional<ImageState> StepRecords::LoadStep(const std::string& key) const {
  std::optional<layers::CacheRecord> r = Read(key);
  if (!r || r->kind != layers::CacheRecord::Kind::kStep) return std::nullopt;
  ImageState state;
  state.config = std::move(r->image);
  state.key = r->passed_on.empty() ? key : r->passed_on;
  for (Descriptor& d : r->layers) {
    if (!Available(d)) return std::nullopt;  // collected: a miss
    state.layers.push_back(std::move(d));
  }
  return state;
}

absl::Status StepRecords::SaveStep(const std::string& key, const ImageState& state) const {
  layers::CacheRecord r;
  r.config = state.config.Serialize();
  r.layers = state.layers;
  if (state.key != key) r.passed_on = state.key;
  return cache_.Write(key, r);
}

// Link records are named `link-<key>`.
bool StepRecords::ReuseLinkedLayer(const std::string& link_key, const std::string& created,
                                   const std::string& created_by, ImageState* state) const {
  std::optional<layers::CacheRecord> r = Read("link-" + link_key);
  if (!r || r->kind != layers::CacheRecord::Kind::kLink) return false;
  if (r->layers.empty()) {
    AddHistory(state, created, created_by, /*empty=*/true);
    return true;
  }
  if (!Available(r->layers[0])) return false;  // one layer, one DiffID (checked)
  state->layers.push_back(r->layers[0]);
  state->config.diff_ids.push_back(r->diff_ids[0]);
  AddHistory(state, created, created_by, /*empty=*/false);
  return true;
}

absl::Status StepRecords::SaveLinkedLayer(const std::string& link_key, const ImageState& state,
                                          size_t layers_before) const {
  layers::CacheRecord r;
  r.kind = layers::CacheRecord::Kind::kLink;
  for (size_t i = layers_before; i < state.layers.size(); ++i) {
    r.layers.push_back(state.layers[i]);
    r.diff_ids.push_back(state.config.diff_ids[i]);
  }
  return cache_.Write("link-" + link_key, r);
}

}  // namespace kiln::builder
