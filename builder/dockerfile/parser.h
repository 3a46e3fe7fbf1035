// The Dockerfile parser: bytes to a list of instruction nodes, with BuildKit's rules for
// parser directives (# syntax, # escape, # check), comments, line continuations (also across
// comment and blank lines), CRLF, a UTF-8 BOM, heredocs, builder flags and each
// instruction's argument forms (JSON exec form, name=value lists, whitespace lists).
// Node::Dump() prints BuildKit's parse-tree s-expression, so a parse can be compared line for
// line with the reference parser. Instruction names and flags are checked separately
// (instructions.h). Stateless and thread-safe.
#ifndef KILN_BUILDER_DOCKERFILE_PARSER_H_
#define KILN_BUILDER_DOCKERFILE_PARSER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder::dockerfile {

// Caps on untrusted input.
inline constexpr size_t kMaxDockerfileSize = 32 << 20;
inline constexpr size_t kMaxLineLength = 1 << 20;

struct Heredoc {
  std::string name;     // the delimiter word, quotes removed
  uint32_t fd = 0;      // 3<<EOF: the file descriptor the content goes to
  bool expand = true;   // false when any part of the delimiter was quoted
  bool chomp = false;   // <<- strips leading tabs
  std::string content;  // the lines up to the delimiter, newlines included
};

struct Node {
  std::string keyword;             // lowercased: "from", "run", ...
  std::vector<std::string> flags;  // builder flags as written, quotes removed: "--from=build"
  std::vector<std::string> args;   // the arguments, split by the instruction's rule
  std::vector<Node> sub;           // ONBUILD: its trigger instruction (one node)
  bool json = false;               // JSON (exec) form
  std::vector<Heredoc> heredocs;
  std::string original;  // the logical line, continuations joined
  int start_line = 0;    // 1-based, first physical line
  int end_line = 0;      // last physical line (heredoc bodies included)
  int column = 1;        // 1-based column of the keyword on start_line

  // BuildKit's dump of this node, without the outer parentheses: `from "ubuntu:14.04"`.
  std::string Dump() const;
};

struct Directives {
  std::string syntax;
  int syntax_line = 0;  // where the syntax directive is
  std::string check;
  char escape = '\\';
};

struct Dockerfile {
  std::string filename;            // as given, for messages
  std::vector<std::string> lines;  // physical lines without line endings, for messages
  Directives directives;
  std::vector<Node> nodes;
  std::vector<std::string> warnings;

  // The whole parse tree as BuildKit's dumper prints it: one "(...)" line per instruction.
  std::string Dump() const;
  // An InvalidArgument error at `line`:`column`, showing the source line and a caret:
  //   Dockerfile:3:1: unknown instruction: FOO
  //       FOO bar
  //       ^
  absl::Status ErrorAt(int line, int column, absl::string_view message) const;
};

// Parses `content`. Errors carry `filename:line:column:` and the offending line.
absl::StatusOr<Dockerfile> Parse(absl::string_view content, absl::string_view filename);

// A <<- heredoc's content: the leading tabs of every line removed.
std::string ChompHeredocContent(absl::string_view content);

}  // namespace kiln::builder::dockerfile

#endif  // KILN_BUILDER_DOCKERFILE_PARSER_H_
