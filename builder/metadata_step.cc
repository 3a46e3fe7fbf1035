#include "builder/metadata_step.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "builder/dockerfile/instructions.h"
#include "builder/run_command.h"

namespace kiln::builder {
namespace {

void AddOnce(std::vector<std::string>* list, const std::string& value) {
  if (std::find(list->begin(), list->end(), value) == list->end()) list->push_back(value);
}

void ApplyEnv(const PlannedInstruction& p, oci::ContainerConfig& c) {
  for (const std::string& kv : p.args) {
    absl::string_view key(kv.data(), kv.find('='));
    std::erase_if(c.env, [&](const std::string& e) {
      return e.size() > key.size() && e[key.size()] == '=' && absl::StartsWith(e, key);
    });
    c.env.push_back(kv);
  }
}

void ApplyCommand(const PlannedInstruction& p, oci::ContainerConfig& c) {
  std::vector<std::string> argv =
      p.json ? p.args : ShellCommand(c, p.args.empty() ? "" : p.args[0]);
  if (p.instruction == "CMD") {
    c.cmd = argv;
  } else {
    c.entrypoint = argv;
    c.cmd.reset();  // a new ENTRYPOINT drops the base image's CMD, as Docker does
  }
}

absl::Status ApplyHealthcheck(const PlannedInstruction& p, oci::ContainerConfig& c) {
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
  if (const std::string* retries = p.Flag("retries")) (void)absl::SimpleAtoi(*retries, &h.retries);
  c.healthcheck = h;
  return absl::OkStatus();
}

}  // namespace

bool IsMetadataStep(const PlannedInstruction& p) {
  const std::string& n = p.instruction;
  return n != "RUN" && n != "COPY" && n != "ADD" && n != "WORKDIR";
}

absl::Status ApplyMetadataStep(const PlannedInstruction& p, oci::ImageConfig* image) {
  const std::string& n = p.instruction;
  oci::ContainerConfig& c = image->config;
  if (n == "ENV") {
    ApplyEnv(p, c);
  } else if (n == "LABEL") {
    for (const std::string& kv : p.args) {
      std::pair<std::string, std::string> label = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      c.labels[label.first] = label.second;
    }
  } else if (n == "ARG") {
    // changes what RUN sees, not the image: recorded in the history only
  } else if (n == "EXPOSE") {
    for (std::string port : p.args) {
      if (port.find('/') == std::string::npos) port += "/tcp";
      AddOnce(&c.exposed_ports, port);
    }
  } else if (n == "VOLUME") {
    for (const std::string& v : p.args) AddOnce(&c.volumes, v);
  } else if (n == "USER") {
    c.user = p.args[0];
  } else if (n == "CMD" || n == "ENTRYPOINT") {
    ApplyCommand(p, c);
  } else if (n == "SHELL") {
    c.shell = p.args;
  } else if (n == "STOPSIGNAL") {
    c.stop_signal = p.args[0];
  } else if (n == "MAINTAINER") {
    image->author = p.args[0];
  } else if (n == "ONBUILD") {
    c.on_build.push_back(p.args[0]);
  } else if (n == "HEALTHCHECK") {
    return ApplyHealthcheck(p, c);
  } else {
    return absl::UnimplementedError(absl::StrCat(n, " is not supported"));
  }
  return absl::OkStatus();
}

}  // namespace kiln::builder
