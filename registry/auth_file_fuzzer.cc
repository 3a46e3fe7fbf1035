// Fuzz target: untrusted JSON kiln reads about registries -- auth files and registry error
// bodies -- must never crash the parser or the lookups built on it.
#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "registry/credentials.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)kiln::registry::RegistryError(404, text, "fuzz");
  auto file = kiln::registry::AuthFile::Parse(text, "fuzz.json");
  if (!file.ok()) return 0;
  // Lookups that would run a credential helper are skipped: only "auths" is exercised.
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && (j.contains("credHelpers") || j.contains("credsStore"))) return 0;
  for (const char* host : {"localhost:5000", "docker.io", "x", "gcr.io"}) {
    (void)file->Lookup(host);
  }
  return 0;
}
