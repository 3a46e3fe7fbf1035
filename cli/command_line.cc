#include "cli/command_line.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "builder/dockerfile/instructions.h"

namespace kiln::cli {
namespace {

// docker image VERB → kiln's verb.
const std::map<std::string, std::string>& ImageVerbs() {
  static const auto* verbs = new std::map<std::string, std::string>{
      {"ls", "images"},       {"list", "images"}, {"rm", "rmi"},    {"remove", "rmi"},
      {"inspect", "inspect"}, {"tag", "tag"},     {"push", "push"}, {"pull", "pull"},
      {"history", "history"}, {"save", "save"},   {"load", "load"}, {"build", "build"},
      {"import", "image"},    {"prune", "gc"},
  };
  return *verbs;
}

// Docker verbs kiln has under another name, or has no counterpart for.
const std::map<std::string, std::string>& OtherNames() {
  static const auto* names = new std::map<std::string, std::string>{
      {"ps", "kiln keeps no containers"},
      {"exec", "kiln keeps no containers"},
      {"start", "kiln keeps no containers"},
      {"stop", "kiln keeps no containers"},
      {"kill", "kiln keeps no containers"},
      {"container", "kiln keeps no containers"},
      {"commit", "kiln keeps no containers; build the change with a Dockerfile"},
      {"buildx", "kiln build takes buildx's flags (--platform, --push, --cache-to, -o)"},
      {"builder", "kiln build builds; kiln gc --build-cache is builder prune"},
      {"prune", "kiln gc"},
      {"search", "kiln tags REPOSITORY lists a repository's tags"},
      {"manifest", "kiln inspect shows manifests and indexes; kiln build --platform makes them"},
      {"trust", "kiln sign and kiln verify"},
      {"info", "kiln version"},
      {"rm", "kiln keeps no containers; kiln rmi removes images"},
      {"bud", "kiln build"},  // buildah
  };
  return *names;
}

}  // namespace

size_t VerbIndex(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--root") {
      ++i;  // its value
      continue;
    }
    if (absl::StartsWith(args[i], "-")) continue;
    return i;
  }
  return args.size();
}

std::vector<std::string> KilnSpelling(std::vector<std::string> args) {
  const size_t v = VerbIndex(args);
  // docker system prune and docker builder prune: unused data and the build cache.
  if (v + 1 < args.size() && (args[v] == "system" || args[v] == "builder") &&
      args[v + 1] == "prune") {
    args[v] = "gc";
    args[v + 1] = "--build-cache";
    return args;
  }
  if (v + 1 < args.size() && args[v] == "image") {
    auto it = ImageVerbs().find(args[v + 1]);
    if (it != ImageVerbs().end() && it->second != "image") {
      args[v] = it->second;
      args.erase(args.begin() + static_cast<long>(v) + 1);
    }
  }
  return args;
}

std::optional<std::string> UnknownCommand(const std::vector<std::string>& args,
                                          const std::vector<std::string>& verbs) {
  const size_t v = VerbIndex(args);
  if (v == args.size()) return std::nullopt;
  const std::string& verb = args[v];
  for (const std::string& known : verbs) {
    if (known == verb) return std::nullopt;
  }
  std::string message = absl::StrCat("unknown command \"", verb, "\"");
  auto it = OtherNames().find(verb);
  if (it != OtherNames().end()) return absl::StrCat(message, ": ", it->second);
  std::string hint = builder::dockerfile::Suggest(verb, verbs);
  return absl::StrCat(message, hint.empty() ? " (see kiln --help)" : hint);
}

}  // namespace kiln::cli
