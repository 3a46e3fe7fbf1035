// Fuzz target: what a registry or a store hands kiln as a signature -- payloads, signature
// manifests, key files -- must parse or fail cleanly.
#include <cstdint>
#include <string>

#include "oci/manifest.h"
#include "trust/keys.h"
#include "trust/simple_signing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)kiln::trust::ParsePayload(text);
  if (auto m = kiln::oci::Manifest::Parse(text); m.ok()) (void)kiln::trust::SignatureLayers(*m);
  (void)kiln::trust::PublicKey::Load(text);
  // Unencrypted key files only: an encrypted one would spend the fuzzer's time in scrypt.
  if (!kiln::trust::IsEncryptedPrivateKey(text)) (void)kiln::trust::PrivateKey::Load(text, "");
  return 0;
}
