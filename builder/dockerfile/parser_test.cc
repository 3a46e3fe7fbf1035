#include "builder/dockerfile/parser.h"

#include "gtest/gtest.h"

namespace kiln::builder::dockerfile {
namespace {

Dockerfile MustParse(absl::string_view text) {
  auto df = Parse(text, "Dockerfile");
  EXPECT_TRUE(df.ok()) << df.status();
  return df.ok() ? *df : Dockerfile{};
}

TEST(ParserTest, DirectivesAndLines) {
  Dockerfile df =
      MustParse("# syntax=docker/dockerfile:1\n# check=skip=all\n\nFROM a\n  RUN b \\\n c\n");
  EXPECT_EQ(df.directives.syntax, "docker/dockerfile:1");
  EXPECT_EQ(df.directives.check, "skip=all");
  ASSERT_EQ(df.nodes.size(), 2u);
  EXPECT_EQ(df.nodes[0].start_line, 4);
  EXPECT_EQ(df.nodes[1].start_line, 5);
  EXPECT_EQ(df.nodes[1].end_line, 6);
  EXPECT_EQ(df.nodes[1].column, 3);
}

TEST(ParserTest, DirectivesOnlyAtTheTop) {
  Dockerfile df = MustParse("FROM a\n# escape=`\nRUN x \\\n y\n");
  EXPECT_EQ(df.directives.escape, '\\');
  EXPECT_EQ(df.nodes[1].args[0], "x  y");
}

TEST(ParserTest, HeredocContent) {
  Dockerfile df =
      MustParse("FROM a\nRUN <<EOF cat <<-'END'\nline $x\nEOF\n\tindented\n\tEND\nCMD x\n");
  ASSERT_EQ(df.nodes.size(), 3u);
  const Node& run = df.nodes[1];
  ASSERT_EQ(run.heredocs.size(), 2u);
  EXPECT_EQ(run.heredocs[0].name, "EOF");
  EXPECT_EQ(run.heredocs[0].content, "line $x\n");
  EXPECT_TRUE(run.heredocs[0].expand);
  EXPECT_EQ(run.heredocs[1].name, "END");
  EXPECT_TRUE(run.heredocs[1].chomp);
  EXPECT_FALSE(run.heredocs[1].expand);
  EXPECT_EQ(run.heredocs[1].content, "\tindented\n");
  EXPECT_EQ(run.end_line, 6);
  EXPECT_EQ(df.nodes[2].start_line, 7);
}

TEST(ParserTest, HeredocFileDescriptorAndCrlf) {
  Dockerfile df = MustParse("FROM a\r\nRUN 3<<X cat\r\nbody\r\nX\r\n");
  ASSERT_EQ(df.nodes[1].heredocs.size(), 1u);
  EXPECT_EQ(df.nodes[1].heredocs[0].fd, 3u);
  EXPECT_EQ(df.nodes[1].heredocs[0].content, "body\r\n");
}

TEST(ParserTest, EmptyContinuationWarns) {
  Dockerfile df = MustParse("FROM a\nRUN a \\\n\n b\n");
  ASSERT_EQ(df.warnings.size(), 1u);
  EXPECT_EQ(df.nodes[1].args[0], "a  b");
}

TEST(ParserTest, ErrorShowsLineAndCaret) {
  auto df = Parse("FROM a\n\tENV\tA=1 B\n", "x/Dockerfile");
  ASSERT_FALSE(df.ok());
  EXPECT_EQ(df.status().message(),
            "x/Dockerfile:2:2: Syntax error - can't find = in \"B\". Must be of the form: "
            "name=value\n    \tENV\tA=1 B\n    \t^");
}

TEST(ParserTest, LimitsAndHostileBytes) {
  EXPECT_FALSE(Parse(std::string(kMaxDockerfileSize + 1, 'a'), "D").ok());
  std::string nul("FROM a\nRUN \0\xff\xfe\n", 15);
  auto df = Parse(nul, "D");
  ASSERT_TRUE(df.ok()) << df.status();
  EXPECT_EQ(df->nodes[1].Dump(), "run \"\\x00\\xff\\xfe\"");
  std::string deep = "FROM a\nCMD " + std::string(100000, '[') + "\n";
  EXPECT_TRUE(Parse(deep, "D").ok());
}

}  // namespace
}  // namespace kiln::builder::dockerfile
