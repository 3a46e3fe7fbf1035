// Fuzz target: what a RUN step writes where kiln normalizes -- an apk script archive, a log
// -- must be rewritten or left alone cleanly, and rewriting twice changes nothing more.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "builder/normalize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string logs = kiln::builder::ReplaceLogTimes(bytes, 1700000000);
  if (kiln::builder::ReplaceLogTimes(logs, 1700000000) != logs) std::abort();
  if (absl::StatusOr<std::string> tar = kiln::builder::ClampTarTimes(bytes, 1700000000); tar.ok()) {
    absl::StatusOr<std::string> again = kiln::builder::ClampTarTimes(*tar, 1700000000);
    if (!again.ok()) std::abort();
  }
  return 0;
}
