// Fuzz target: registries.conf files (TOML) must parse or fail cleanly, and the pull
// sources of any reference they give must never crash.
#include <cstdint>
#include <string>

#include "oci/reference.h"
#include "registry/registries_conf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto conf = kiln::registry::RegistriesConf::Parse(text, "fuzz.conf");
  if (!conf.ok()) return 0;
  for (const char* name : {"busybox",
                           "docker.io/library/alpine@sha256:"
                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                           "localhost:5000/a/b:1", "a.example.com/x"}) {
    auto ref = kiln::oci::Reference::Parse(name);
    if (ref.ok()) (void)conf->PullSources(*ref);
  }
  return 0;
}
