// Paths inside an image, as Dockerfile instructions name them.
#ifndef KILN_BUILDER_IMAGE_PATH_H_
#define KILN_BUILDER_IMAGE_PATH_H_

#include <string>

namespace kiln::builder {

// `path` made absolute and clean ("/a/./b/../c/" → "/a/c"), as Go's path.Clean makes it.
std::string CleanAbsolute(const std::string& path);

// `rel` below `dir` (an absolute `rel` stands alone; an empty `dir` is the root).
std::string JoinPath(const std::string& dir, const std::string& rel);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_IMAGE_PATH_H_
