// Fuzz target: any --chmod value parses or fails cleanly, and an applied mode stays in 07777.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "builder/dockerfile/file_mode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto mode = kiln::builder::dockerfile::FileMode::Parse(text);
  if (!mode.ok()) return 0;
  for (mode_t from : {0u, 0644u, 0755u, 07777u}) {
    if ((mode->Apply(from, true) & ~07777u) != 0 || (mode->Apply(from, false) & ~07777u) != 0) {
      std::abort();
    }
  }
  return 0;
}
