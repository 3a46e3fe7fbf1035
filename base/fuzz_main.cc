// A driver for fuzz targets built without libFuzzer: feeds each file named on the command line
// (or every file in a named directory) to LLVMFuzzerTestOneInput once.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/file_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    struct stat st;
    if (::stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      DIR* d = ::opendir(argv[i]);
      while (d != nullptr) {
        struct dirent* e = ::readdir(d);
        if (e == nullptr) break;
        if (e->d_name[0] == '.') continue;
        files.push_back(std::string(argv[i]) + "/" + e->d_name);
      }
      if (d) ::closedir(d);
    } else {
      files.push_back(argv[i]);
    }
  }
  for (const std::string& f : files) {
    auto data = kiln::ReadFile(f, 64 << 20);
    if (!data.ok()) {
      std::fprintf(stderr, "%s\n", data.status().ToString().c_str());
      return 1;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data->data()), data->size());
  }
  std::printf("ran %zu inputs\n", files.size());
  return 0;
}
