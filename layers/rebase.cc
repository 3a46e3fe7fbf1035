#include "layers/rebase.h"

#include <algorithm>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "oci/media_types.h"

namespace kiln::layers {
namespace {

// Docker's gzip layer is the OCI one by another name: the manifest made here is OCI's.
oci::Descriptor AsOciLayer(oci::Descriptor d) {
  if (d.media_type == oci::kDockerLayerGzip) d.media_type = oci::kOciLayerGzip;
  return d;
}

std::string KeyOf(const std::string& env) { return env.substr(0, env.find('=')); }

// The image's settings follow the base where the image left them as the old base had them:
// each such takes the new base's value (an ENV the image set itself stays).
void FollowBase(const oci::ContainerConfig& old, const oci::ContainerConfig& base,
                oci::ContainerConfig* c) {
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  std::vector<std::string> env = base.env;
  for (const std::string& e : c->env) {
    if (has(old.env, e)) continue;  // inherited
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const std::string& x) { return KeyOf(x) == KeyOf(e); });
    if (it != env.end()) {
      *it = e;
    } else {
      env.push_back(e);
    }
  }
  c->env = std::move(env);
  std::map<std::string, std::string> labels = base.labels;
  for (const auto& [k, v] : c->labels) {
    auto it = old.labels.find(k);
    if (it == old.labels.end() || it->second != v) labels[k] = v;
  }
  c->labels = std::move(labels);
  auto merge_set = [&](const std::vector<std::string>& mine, const std::vector<std::string>& was,
                       const std::vector<std::string>& now) {
    std::vector<std::string> out = now;
    for (const std::string& x : mine) {
      if (!has(was, x) && !has(out, x)) out.push_back(x);
    }
    return out;
  };
  c->exposed_ports = merge_set(c->exposed_ports, old.exposed_ports, base.exposed_ports);
  c->volumes = merge_set(c->volumes, old.volumes, base.volumes);
  if (c->user == old.user) c->user = base.user;
  if (c->working_dir == old.working_dir) c->working_dir = base.working_dir;
  if (c->stop_signal == old.stop_signal) c->stop_signal = base.stop_signal;
  if (c->shell == old.shell) c->shell = base.shell;
  if (c->entrypoint == old.entrypoint && c->cmd == old.cmd) {
    c->entrypoint = base.entrypoint;
    c->cmd = base.cmd;
  } else if (c->entrypoint == old.entrypoint) {
    c->entrypoint = base.entrypoint;
  }
}

}  // namespace

absl::StatusOr<Rebased> Rebase(const LoadedImage& image, const LoadedImage& old_base,
                               const LoadedImage& new_base) {
  const std::vector<oci::Digest>& own = image.config.diff_ids;
  const std::vector<oci::Digest>& old = old_base.config.diff_ids;
  if (image.parsed.layers.size() != own.size() || old_base.parsed.layers.size() != old.size() ||
      new_base.parsed.layers.size() != new_base.config.diff_ids.size()) {
    return absl::InvalidArgumentError("a manifest's layers do not match its config's DiffIDs");
  }
  if (old.size() > own.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the image is not built on the old base: it has ", own.size(),
                     " layers, the base ", old.size()));
  }
  for (size_t i = 0; i < old.size(); ++i) {
    if (old[i] != own[i]) {
      return absl::FailedPreconditionError(
          absl::StrCat("the image is not built on the old base: its layer ", i + 1, " (",
                       own[i].str(), ") is not the base's (", old[i].str(), ")"));
    }
  }
  const oci::Platform want = image.config.platform(), have = new_base.config.platform();
  if (!want.os.empty() && !have.os.empty() && !have.Satisfies(want)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the new base is for ", have.str(), ", the image for ", want.str()));
  }
  Rebased out;
  out.config = image.config;
  FollowBase(old_base.config.config, new_base.config.config, &out.config.config);
  out.config.diff_ids = new_base.config.diff_ids;
  for (const oci::Descriptor& d : new_base.parsed.layers) out.layers.push_back(AsOciLayer(d));
  for (size_t i = old.size(); i < own.size(); ++i) {
    out.config.diff_ids.push_back(own[i]);
    out.layers.push_back(AsOciLayer(image.parsed.layers[i]));
  }
  out.own_layers = own.size() - old.size();
  // History: the new base's entries, then the image's own (those after the old base's).
  const std::vector<oci::HistoryEntry>& history = image.config.history;
  size_t skip = std::min(old_base.config.history.size(), history.size());
  out.config.history = new_base.config.history;
  out.config.history.insert(out.config.history.end(), history.begin() + skip, history.end());
  return out;
}

}  // namespace kiln::layers
