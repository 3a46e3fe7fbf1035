// Runs every case of testdata/dockerfiles: the parse tree must equal `dump`, or the error
// must equal `error`, word for word.
#include <dirent.h>

#include <string>
#include <vector>

#include "base/file_util.h"
#include "builder/dockerfile/instructions.h"
#include "builder/dockerfile/parser.h"
#include "gtest/gtest.h"

namespace kiln::builder::dockerfile {
namespace {

constexpr char kRoot[] = "testdata/dockerfiles";

std::vector<std::string> Cases() {
  std::vector<std::string> out;
  DIR* d = ::opendir(kRoot);
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name[0] != '.' && PathExists(std::string(kRoot) + "/" + name + "/Dockerfile")) {
      out.push_back(name);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string TrimTrailingNewline(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

TEST(GoldenTest, EveryCase) {
  std::vector<std::string> cases = Cases();
  ASSERT_GE(cases.size(), 20u) << "golden cases missing from the runfiles";
  for (const std::string& name : cases) {
    std::string dir = std::string(kRoot) + "/" + name;
    auto content = ReadFile(dir + "/Dockerfile", 1 << 20);
    ASSERT_TRUE(content.ok()) << name;
    auto df = Parse(*content, "Dockerfile");
    absl::Status status = df.status();
    if (df.ok()) status = CheckInstructions(*df).status();
    if (PathExists(dir + "/error")) {
      ASSERT_FALSE(status.ok()) << name << " parsed but should fail";
      EXPECT_EQ(std::string(status.message()),
                TrimTrailingNewline(*ReadFile(dir + "/error", 1 << 20)))
          << name;
    } else {
      ASSERT_TRUE(status.ok()) << name << ": " << status;
      EXPECT_EQ(df->Dump(), *ReadFile(dir + "/dump", 1 << 20)) << name;
    }
  }
}

}  // namespace
}  // namespace kiln::builder::dockerfile
