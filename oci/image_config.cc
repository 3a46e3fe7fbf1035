#include "oci/image_config.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "oci/json_util.h"

namespace kiln::oci {
namespace {

absl::StatusOr<Healthcheck> ParseHealthcheck(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("Healthcheck: expected an object");
  Healthcheck h;
  RETURN_IF_ERROR(GetStringList(j, "Test", &h.test));
  RETURN_IF_ERROR(GetInt64(j, "Interval", &h.interval_ns));
  RETURN_IF_ERROR(GetInt64(j, "Timeout", &h.timeout_ns));
  RETURN_IF_ERROR(GetInt64(j, "StartPeriod", &h.start_period_ns));
  RETURN_IF_ERROR(GetInt64(j, "StartInterval", &h.start_interval_ns));
  RETURN_IF_ERROR(GetInt64(j, "Retries", &h.retries));
  return h;
}

absl::StatusOr<ContainerConfig> ParseContainerConfig(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("config: expected an object");
  ContainerConfig c;
  RETURN_IF_ERROR(GetString(j, "User", &c.user));
  RETURN_IF_ERROR(GetKeySet(j, "ExposedPorts", &c.exposed_ports));
  RETURN_IF_ERROR(GetStringList(j, "Env", &c.env));
  bool present = false;
  std::vector<std::string> list;
  RETURN_IF_ERROR(GetStringList(j, "Entrypoint", &list, &present));
  if (present) c.entrypoint = list;
  RETURN_IF_ERROR(GetStringList(j, "Cmd", &list, &present));
  if (present) c.cmd = list;
  RETURN_IF_ERROR(GetKeySet(j, "Volumes", &c.volumes));
  RETURN_IF_ERROR(GetString(j, "WorkingDir", &c.working_dir));
  RETURN_IF_ERROR(GetStringMap(j, "Labels", &c.labels));
  RETURN_IF_ERROR(GetString(j, "StopSignal", &c.stop_signal));
  RETURN_IF_ERROR(GetStringList(j, "Shell", &c.shell));
  RETURN_IF_ERROR(GetStringList(j, "OnBuild", &c.on_build));
  RETURN_IF_ERROR(GetBool(j, "ArgsEscaped", &c.args_escaped));
  if (auto it = j.find("Healthcheck"); it != j.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(c.healthcheck, ParseHealthcheck(*it));
  }
  return c;
}

nlohmann::json KeySet(const std::vector<std::string>& keys) {
  nlohmann::json j = nlohmann::json::object();
  for (const std::string& k : keys) j[k] = nlohmann::json::object();
  return j;
}

nlohmann::json ContainerConfigJson(const ContainerConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  if (!c.user.empty()) j["User"] = c.user;
  if (!c.exposed_ports.empty()) j["ExposedPorts"] = KeySet(c.exposed_ports);
  if (!c.env.empty()) j["Env"] = c.env;
  if (c.entrypoint) j["Entrypoint"] = *c.entrypoint;
  if (c.cmd) j["Cmd"] = *c.cmd;
  if (!c.volumes.empty()) j["Volumes"] = KeySet(c.volumes);
  if (!c.working_dir.empty()) j["WorkingDir"] = c.working_dir;
  if (!c.labels.empty()) j["Labels"] = c.labels;
  if (!c.stop_signal.empty()) j["StopSignal"] = c.stop_signal;
  if (!c.shell.empty()) j["Shell"] = c.shell;
  if (!c.on_build.empty()) j["OnBuild"] = c.on_build;
  if (c.args_escaped) j["ArgsEscaped"] = true;
  if (c.healthcheck) {
    const Healthcheck& h = *c.healthcheck;
    nlohmann::json hj = nlohmann::json::object();
    hj["Test"] = h.test;
    if (h.interval_ns) hj["Interval"] = h.interval_ns;
    if (h.timeout_ns) hj["Timeout"] = h.timeout_ns;
    if (h.start_period_ns) hj["StartPeriod"] = h.start_period_ns;
    if (h.start_interval_ns) hj["StartInterval"] = h.start_interval_ns;
    if (h.retries) hj["Retries"] = h.retries;
    j["Healthcheck"] = hj;
  }
  return j;
}

}  // namespace

absl::StatusOr<ImageConfig> ImageConfig::Parse(absl::string_view bytes) {
  ASSIGN_OR_RETURN(nlohmann::json doc, ParseJsonObject(bytes, "image config", kMaxConfigSize));
  ImageConfig c;
  auto ctx = [](absl::Status s) { return Annotate(s, "image config"); };
  RETURN_IF_ERROR(ctx(GetString(doc, "created", &c.created)));
  RETURN_IF_ERROR(ctx(GetString(doc, "author", &c.author)));
  RETURN_IF_ERROR(ctx(GetString(doc, "architecture", &c.architecture)));
  RETURN_IF_ERROR(ctx(GetString(doc, "os", &c.os)));
  RETURN_IF_ERROR(ctx(GetString(doc, "variant", &c.variant)));
  RETURN_IF_ERROR(ctx(GetString(doc, "os.version", &c.os_version)));
  if (auto it = doc.find("config"); it != doc.end() && !it->is_null()) {
    ASSIGN_OR_RETURN_CTX(c.config, ParseContainerConfig(*it), "image config");
  }
  auto rootfs = doc.find("rootfs");
  if (rootfs == doc.end() || !rootfs->is_object()) {
    return absl::InvalidArgumentError("image config: missing rootfs");
  }
  std::string type;
  RETURN_IF_ERROR(ctx(GetString(*rootfs, "type", &type)));
  if (type != "layers") {
    return absl::InvalidArgumentError(
        absl::StrCat("image config: rootfs type \"", type, "\" (want \"layers\")"));
  }
  std::vector<std::string> diff_ids;
  RETURN_IF_ERROR(ctx(GetStringList(*rootfs, "diff_ids", &diff_ids)));
  for (const std::string& d : diff_ids) {
    ASSIGN_OR_RETURN_CTX(Digest digest, Digest::Parse(d), "image config: rootfs.diff_ids");
    c.diff_ids.push_back(std::move(digest));
  }
  if (auto it = doc.find("history"); it != doc.end() && !it->is_null()) {
    if (!it->is_array())
      return absl::InvalidArgumentError("image config: history: expected an array");
    for (const auto& h : *it) {
      if (!h.is_object()) {
        return absl::InvalidArgumentError("image config: history: expected objects");
      }
      HistoryEntry e;
      RETURN_IF_ERROR(ctx(GetString(h, "created", &e.created)));
      RETURN_IF_ERROR(ctx(GetString(h, "created_by", &e.created_by)));
      RETURN_IF_ERROR(ctx(GetString(h, "author", &e.author)));
      RETURN_IF_ERROR(ctx(GetString(h, "comment", &e.comment)));
      RETURN_IF_ERROR(ctx(GetBool(h, "empty_layer", &e.empty_layer)));
      c.history.push_back(std::move(e));
    }
  }
  return c;
}

Platform ImageConfig::platform() const {
  Platform p;
  p.os = os;
  p.architecture = architecture;
  p.variant = variant;
  return p;
}

std::string ImageConfig::Serialize() const {
  nlohmann::json j = nlohmann::json::object();
  if (!created.empty()) j["created"] = created;
  if (!author.empty()) j["author"] = author;
  j["architecture"] = architecture;
  j["os"] = os;
  if (!variant.empty()) j["variant"] = variant;
  if (!os_version.empty()) j["os.version"] = os_version;
  j["config"] = ContainerConfigJson(config);
  nlohmann::json ids = nlohmann::json::array();
  for (const Digest& d : diff_ids) ids.push_back(d.str());
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", ids}};
  if (!history.empty()) {
    nlohmann::json hist = nlohmann::json::array();
    for (const HistoryEntry& e : history) {
      nlohmann::json h = nlohmann::json::object();
      if (!e.created.empty()) h["created"] = e.created;
      if (!e.created_by.empty()) h["created_by"] = e.created_by;
      if (!e.author.empty()) h["author"] = e.author;
      if (!e.comment.empty()) h["comment"] = e.comment;
      if (e.empty_layer) h["empty_layer"] = true;
      hist.push_back(std::move(h));
    }
    j["history"] = std::move(hist);
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace kiln::oci
