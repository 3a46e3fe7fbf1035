// Fuzz target: policy files must parse or fail cleanly, and scope lookups and identity
// checks over what they give must never crash.
#include <cstdint>
#include <string>

#include "oci/reference.h"
#include "trust/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // keyPath names files; the fuzzer reads none (an empty directory of keys).
  auto policy = kiln::trust::Policy::Parse(text, "fuzz.json", "/nonexistent");
  if (!policy.ok()) return 0;
  for (const char* name : {"busybox", "registry.example.com/team/app:1", "a.b.c:5000/x"}) {
    kiln::trust::PolicyScope scope = policy->For("docker", name);
    for (const kiln::trust::Requirement& r : *scope.requirements) {
      (void)kiln::trust::IdentityMatches(r.identity, *kiln::oci::Reference::Parse(name), text);
    }
  }
  (void)policy->For("oci", text);
  return 0;
}
