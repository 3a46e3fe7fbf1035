// Fuzz target: Docker-format seccomp profiles (--security-opt seccomp=FILE), parsed and, when
// valid, compiled for the default capability set.
#include <cstddef>
#include <cstdint>

#include "builder/sandbox/seccomp_filter.h"
#include "builder/sandbox/seccomp_profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln::builder::sandbox;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto profile = ParseSeccompProfile(text);
  if (profile.ok()) (void)SeccompFilter::Compile(*profile, CapabilitySet::Default());
  return 0;
}
