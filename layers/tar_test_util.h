// Test helpers: build tar streams entry by entry (including hostile ones no honest tool
// writes) and read a tar back as a list of entries.
#ifndef KILN_LAYERS_TAR_TEST_UTIL_H_
#define KILN_LAYERS_TAR_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::layers::testing {

struct TarEntry {
  enum Type { kFile, kDir, kSymlink, kHardlink, kCharDev, kFifo };
  Type type = kFile;
  std::string path;
  std::string data;    // file content
  std::string target;  // symlink text or hardlink target
  int mode = 0644;
  int uid = 0;
  int gid = 0;
  int64_t mtime = 0;
  int rdev_major = 0;
  int rdev_minor = 0;
  std::map<std::string, std::string> xattrs;
};

// A tar (pax format) holding `entries` in the given order, uncompressed.
std::string MakeTar(const std::vector<TarEntry>& entries);

// The entries of a tar in any compression (data included, xattrs included).
std::vector<TarEntry> ReadTar(const std::string& tar);

}  // namespace kiln::layers::testing

#endif  // KILN_LAYERS_TAR_TEST_UTIL_H_
