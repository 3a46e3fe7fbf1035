// Checks parsed nodes against the Dockerfile reference: the instruction is known, its flags
// are ones it takes (with the right value form), and its arguments have the right shape.
// Produces Instructions with parsed flags; every error names file:line:column.
// Stateless and thread-safe.
#ifndef KILN_BUILDER_DOCKERFILE_INSTRUCTIONS_H_
#define KILN_BUILDER_DOCKERFILE_INSTRUCTIONS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "builder/dockerfile/parser.h"

namespace kiln::builder::dockerfile {

struct Instruction {
  const Node* node = nullptr;  // points into the Dockerfile, which must outlive this
  std::string name;            // upper case: "COPY"
  // Flags given, by name without "--". Repeatable flags (--mount, --exclude) may have several
  // values; a boolean flag given bare has the value "true".
  std::map<std::string, std::vector<std::string>> flags;

  // The single value of flag `name`, or `fallback` when absent.
  std::string Flag(const std::string& name, const std::string& fallback = "") const;
  bool BoolFlag(const std::string& name) const { return Flag(name, "false") == "true"; }
};

// Checks one node (and an ONBUILD's trigger).
absl::StatusOr<Instruction> CheckInstruction(const Dockerfile& df, const Node& node);

// Checks every node of the file, in order.
absl::StatusOr<std::vector<Instruction>> CheckInstructions(const Dockerfile& df);

// Go's time.ParseDuration for HEALTHCHECK flags, in nanoseconds ("1m30s", "250ms").
absl::StatusOr<int64_t> ParseGoDuration(absl::string_view text);

// " (did you mean X?)" for the candidate closest to `got` (within an edit distance of 2,
// ignoring case), else "".
std::string Suggest(absl::string_view got, const std::vector<std::string>& candidates);

}  // namespace kiln::builder::dockerfile

#endif  // KILN_BUILDER_DOCKERFILE_INSTRUCTIONS_H_
