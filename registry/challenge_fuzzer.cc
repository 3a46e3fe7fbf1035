// Fuzz target: WWW-Authenticate parsing must never crash, and every challenge it returns has a
// scheme.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "registry/challenge.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto chs = kiln::registry::ParseChallenges(text);
  if (!chs.ok()) return 0;
  for (const auto& ch : *chs) {
    if (ch.scheme.empty()) std::abort();
  }
  return 0;
}
