#include "base/text_diff.h"

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(UnifiedDiffTest, EqualTextsHaveNone) {
  EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "x", "y"), "");
}

TEST(UnifiedDiffTest, AChangedLineWithItsContext) {
  EXPECT_EQ(UnifiedDiff("1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\nfive\n6\n7\n8\n", "a/f", "b/f"),
            "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiffTest, AppendedLinesAndFarApartChangesMakeHunksOfTheirOwn) {
  std::string a, b;
  for (int i = 1; i <= 20; ++i) {
    a += std::to_string(i) + "\n";
    b += (i == 2 ? std::string("two") : std::to_string(i)) + "\n";
  }
  b += "21\n";
  EXPECT_EQ(UnifiedDiff(a, b, "a", "b"),
            "--- a\n+++ b\n@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"
            "@@ -18,3 +18,4 @@\n 18\n 19\n 20\n+21\n");
}

TEST(UnifiedDiffTest, FromAndToNothing) {
  EXPECT_EQ(UnifiedDiff("", "x\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n");
  EXPECT_EQ(UnifiedDiff("x\ny\n", "", "a", "b"), "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n");
}

TEST(UnifiedDiffTest, LongDiffsAreCut) {
  std::string a, b;
  for (int i = 0; i < 100; ++i) b += "line " + std::to_string(i) + "\n";
  std::string d = UnifiedDiff(a, b, "a", "b", 5);
  EXPECT_NE(d.find("+line 3\n"), std::string::npos);
  EXPECT_EQ(d.find("+line 4\n"), std::string::npos);
  EXPECT_NE(d.find("... 96 more lines\n"), std::string::npos);
}

}  // namespace
}  // namespace kiln
