// Fuzz target: reference parsing must never crash, and what it accepts must re-parse to the
// same normalized reference.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "oci/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto ref = kiln::oci::Reference::Parse(text);
  if (!ref.ok()) return 0;
  auto again = kiln::oci::Reference::Parse(ref->String());
  if (!again.ok() || again->String() != ref->String()) std::abort();
  auto familiar = kiln::oci::Reference::Parse(ref->Familiar());
  if (!familiar.ok() || familiar->String() != ref->String()) std::abort();
  return 0;
}
