// Fuzz target: the parsers of registry and layout JSON (manifest, index, image config) must
// never crash; what they accept must serialize and parse again.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "oci/image_config.h"
#include "oci/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)kiln::oci::DetectManifestMediaType(text);
  if (auto m = kiln::oci::Manifest::Parse(text); m.ok()) {
    if (!kiln::oci::Manifest::Parse(m->Serialize()).ok()) std::abort();
  }
  if (auto i = kiln::oci::Index::Parse(text); i.ok()) {
    if (!kiln::oci::Index::Parse(i->Serialize()).ok()) std::abort();
  }
  if (auto c = kiln::oci::ImageConfig::Parse(text); c.ok()) {
    if (!kiln::oci::ImageConfig::Parse(c->Serialize()).ok()) std::abort();
  }
  return 0;
}
