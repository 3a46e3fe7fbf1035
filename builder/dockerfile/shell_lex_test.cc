#include "builder/dockerfile/shell_lex.h"

#include "gtest/gtest.h"

namespace kiln::builder::dockerfile {
namespace {

const Env kEnv = {{"a", "1"},           {"empty", ""}, {"v", "a/b/c"},
                  {"file", "x.tar.gz"}, {"sp", "d e"}, {"PATH", "/usr/bin:/bin"}};

std::string W(absl::string_view in, const Env& env = kEnv) {
  auto r = ShellLex().ProcessWord(in, env);
  EXPECT_TRUE(r.ok()) << in << ": " << r.status();
  return r.ok() ? *r : "<error>";
}

std::string Err(absl::string_view in, ShellLexOptions options = {}) {
  auto r = ShellLex(options).ProcessWord(in, kEnv);
  EXPECT_FALSE(r.ok()) << in << " gave " << (r.ok() ? *r : "");
  return r.ok() ? "" : std::string(r.status().message());
}

TEST(ShellLexTest, QuotesAndEscapes) {
  EXPECT_EQ(W("hello"), "hello");
  EXPECT_EQ(W("'$a b'"), "$a b");
  EXPECT_EQ(W("\"$a b\""), "1 b");
  EXPECT_EQ(W("\\$a"), "$a");
  EXPECT_EQ(W("a\\ b"), "a b");
  EXPECT_EQ(W("\"a\\\"b\""), "a\"b");
  EXPECT_EQ(W("\"a\\nb\""), "a\\nb");
  EXPECT_EQ(W("'a\\'"), "a\\");
  EXPECT_EQ(W("he'll'o"), "hello");
  EXPECT_EQ(W("end\\"), "end");
}

TEST(ShellLexTest, Variables) {
  EXPECT_EQ(W("$a"), "1");
  EXPECT_EQ(W("${a}x"), "1x");
  EXPECT_EQ(W("$ax"), "");
  EXPECT_EQ(W("$"), "$");
  EXPECT_EQ(W("a$"), "a$");
  EXPECT_EQ(W("$1"), "");
  EXPECT_EQ(W("${PATH}:/sbin"), "/usr/bin:/bin:/sbin");
  EXPECT_EQ(W("$unset"), "");
}

TEST(ShellLexTest, Modifiers) {
  EXPECT_EQ(W("${unset:-dflt}"), "dflt");
  EXPECT_EQ(W("${empty:-dflt}"), "dflt");
  EXPECT_EQ(W("${empty-dflt}"), "");
  EXPECT_EQ(W("${unset-dflt}"), "dflt");
  EXPECT_EQ(W("${a:-dflt}"), "1");
  EXPECT_EQ(W("${a:+alt}"), "alt");
  EXPECT_EQ(W("${empty:+alt}"), "");
  EXPECT_EQ(W("${empty+alt}"), "alt");
  EXPECT_EQ(W("${unset+alt}"), "");
  EXPECT_EQ(W("${unset:-${a:-x}y}"), "1y");
  EXPECT_EQ(W("${a:?must}"), "1");
}

TEST(ShellLexTest, Patterns) {
  EXPECT_EQ(W("${v#*/}"), "b/c");
  EXPECT_EQ(W("${v##*/}"), "c");
  EXPECT_EQ(W("${v%/*}"), "a/b");
  EXPECT_EQ(W("${v%%/*}"), "a");
  EXPECT_EQ(W("${file%.*}"), "x.tar");
  EXPECT_EQ(W("${file%%.*}"), "x");
  EXPECT_EQ(W("${v#nomatch}"), "a/b/c");
  EXPECT_EQ(W("${v/b/X}"), "a/X/c");
  EXPECT_EQ(W("${v//\\//-}"), "a-b-c");
  EXPECT_EQ(W("${v/\\//-}"), "a-b/c");
  EXPECT_EQ(W("${v//[ac]/Z}"), "Z/b/Z");
}

TEST(ShellLexTest, Errors) {
  EXPECT_EQ(Err("${a"), "failed to process \"${a\": syntax error: missing '}'");
  EXPECT_EQ(Err("${}"), "failed to process \"${}\": syntax error: bad substitution");
  EXPECT_EQ(Err("${:a}"), "failed to process \"${:a}\": syntax error: bad substitution");
  EXPECT_EQ(Err("'abc"),
            "failed to process \"'abc\": unexpected end of statement while looking for "
            "matching single-quote");
  EXPECT_EQ(Err("\"abc"),
            "failed to process \"\\\"abc\": unexpected end of statement while looking for "
            "matching double-quote");
  EXPECT_EQ(Err("${unset?}"), "failed to process \"${unset?}\": unset: is not allowed to be unset");
  EXPECT_EQ(Err("${empty:?need it}"), "failed to process \"${empty:?need it}\": empty: need it");
  EXPECT_EQ(Err("${a:=x}"),
            "failed to process \"${a:=x}\": unsupported modifier (:=) in substitution");
  EXPECT_EQ(Err("${a:#x}"),
            "failed to process \"${a:#x}\": unsupported modifier (:#) in substitution");
  EXPECT_EQ(Err("${a/x"), "failed to process \"${a/x\": syntax error: missing '/' in ${}");
  EXPECT_EQ(Err("${a*}"), "failed to process \"${a*}\": unsupported modifier (*) in substitution");
}

TEST(ShellLexTest, Words) {
  auto w = ShellLex().ProcessWords("a \"b c\" $sp  'x y'z", kEnv);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, (std::vector<std::string>{"a", "b c", "d", "e", "x yz"}));
}

TEST(ShellLexTest, RawModesForHeredocDetection) {
  ShellLexOptions raw;
  raw.raw_quotes = true;
  raw.raw_escapes = true;
  raw.skip_unset_env = true;
  auto w = ShellLex(raw).ProcessWords("cat <<\"EOF\" $unset ${x:-y} \\$a", kEnv);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*w, (std::vector<std::string>{"cat", "<<\"EOF\"", "$unset", "${x:-y}", "\\$a"}));
}

// Heredoc contents: quotes are text, variables inside them expand, escapes still escape.
TEST(ShellLexTest, SkipQuotes) {
  ShellLexOptions o;
  o.skip_quotes = true;
  auto r = ShellLex(o).ProcessWord("'$a' \"${a}\" \\$a \\\n", {{"a", "1"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "'1' \"1\" $a \n");
  EXPECT_EQ(*ShellLex(o).ProcessWord("it's", {}), "it's");  // no unmatched quote error
}

TEST(ShellLexTest, BacktickEscape) {
  ShellLexOptions o;
  o.escape = '`';
  auto r = ShellLex(o).ProcessWord("C:\\dir`$a", kEnv);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "C:\\dir$a");
}

TEST(ShellLexTest, HostileSubstitutionsAreBounded) {
  Env env = {{"v", std::string(100000, 'a')}};
  auto r = ShellLex().ProcessWord("${v//?/${v//?/${v//?/x}}}", env);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("too"), absl::string_view::npos) << r.status();
  auto t = ShellLex().ProcessWord("${v%%*b*}", env);
  EXPECT_FALSE(t.ok());
}

TEST(ShellLexTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "${a:-";
  EXPECT_FALSE(ShellLex().ProcessWord(deep, kEnv).ok());
}

}  // namespace
}  // namespace kiln::builder::dockerfile
