// Fuzz target: the word processor must never crash on any word, in any mode.
#include <cstdint>
#include <string>

#include "builder/dockerfile/shell_lex.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the options; the rest is the word.
  uint8_t mode = data[0];
  std::string word(reinterpret_cast<const char*>(data + 1), size - 1);
  kiln::builder::dockerfile::ShellLexOptions options;
  options.escape = (mode & 1) ? '`' : '\\';
  options.raw_quotes = mode & 2;
  options.raw_escapes = mode & 4;
  options.skip_unset_env = mode & 8;
  options.skip_quotes = mode & 16;
  kiln::builder::dockerfile::Env env = {{"a", "1"}, {"v", "a/b/c"}, {"empty", ""}};
  kiln::builder::dockerfile::ShellLex lex(options);
  (void)lex.ProcessWord(word, env);
  (void)lex.ProcessWords(word, env);
  return 0;
}
