// What a docker or buildah user types, read as kiln reads it: docker's two-word image verbs
// (`image ls`, `image rm`, ...) become kiln's verbs, and a verb kiln does not have is one line
// saying what kiln calls it, or which verb was meant. Stateless.
#ifndef KILN_CLI_COMMAND_LINE_H_
#define KILN_CLI_COMMAND_LINE_H_

#include <optional>
#include <string>
#include <vector>

namespace kiln::cli {

// The index in `args` (args[0] is the program) of the verb: the first word that is not a
// global option or its value; args.size() when there is none.
size_t VerbIndex(const std::vector<std::string>& args);

// `args` with docker's spellings of image verbs replaced by kiln's ("image ls" → "images").
std::vector<std::string> KilnSpelling(std::vector<std::string> args);

// The error for a verb that is not one of `verbs` ("unknown command \"ps\": kiln keeps no
// containers"); nullopt for a known verb or none.
std::optional<std::string> UnknownCommand(const std::vector<std::string>& args,
                                          const std::vector<std::string>& verbs);

}  // namespace kiln::cli

#endif  // KILN_CLI_COMMAND_LINE_H_
