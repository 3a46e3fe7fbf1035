// The image configuration: how to run the image (container config), its layer DiffIDs and its
// history. Fields kiln does not model are dropped when a config is re-serialized; configs
// received from elsewhere are stored as received.
#ifndef KILN_OCI_IMAGE_CONFIG_H_
#define KILN_OCI_IMAGE_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "oci/digest.h"
#include "oci/platform.h"

namespace kiln::oci {

// The PATH of an image that sets none, and of a process started without one: BuildKit's and
// Docker's default for Linux.
inline constexpr char kDefaultPath[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Healthcheck {
  std::vector<std::string> test;  // {"NONE"}, {"CMD", ...} or {"CMD-SHELL", "..."}
  int64_t interval_ns = 0;
  int64_t timeout_ns = 0;
  int64_t start_period_ns = 0;
  int64_t start_interval_ns = 0;
  int64_t retries = 0;
};

struct ContainerConfig {
  std::string user;
  std::vector<std::string> exposed_ports;  // "80/tcp"
  std::vector<std::string> env;            // "KEY=value"
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::vector<std::string> volumes;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  std::optional<Healthcheck> healthcheck;
  std::vector<std::string> shell;
  std::vector<std::string> on_build;
  bool args_escaped = false;
};

struct HistoryEntry {
  std::string created;  // RFC 3339
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
};

struct ImageConfig {
  std::string created;  // RFC 3339, empty if unknown
  std::string author;
  std::string architecture;
  std::string os;
  std::string variant;
  std::string os_version;
  ContainerConfig config;
  std::vector<Digest> diff_ids;  // rootfs.diff_ids, bottom layer first
  std::vector<HistoryEntry> history;

  // Validates types, the rootfs type ("layers") and every DiffID.
  static absl::StatusOr<ImageConfig> Parse(absl::string_view bytes);
  std::string Serialize() const;
  // The platform the config names (os, architecture, variant; empty where it names none).
  Platform platform() const;
};

}  // namespace kiln::oci

#endif  // KILN_OCI_IMAGE_CONFIG_H_
