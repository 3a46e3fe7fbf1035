#include "builder/image_path.h"

#include "absl/strings/match.h"
#include "builder/context/dockerignore.h"

namespace kiln::builder {

std::string CleanAbsolute(const std::string& path) {
  std::string clean = context::CleanPath(path);
  return clean == "." ? "/" : "/" + clean;
}

std::string JoinPath(const std::string& dir, const std::string& rel) {
  if (absl::StartsWith(rel, "/")) return rel;
  if (dir.empty() || dir == "/") return "/" + rel;
  return dir + "/" + rel;
}

}  // namespace kiln::builder
