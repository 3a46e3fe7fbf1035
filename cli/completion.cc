// kiln completion bash|zsh: a completion script made from the command line's own tree, so it
// lists every verb, sub-verb and flag kiln has: verbs after `kiln`, sub-verbs after those that
// have them (system, key, image, layer, dockerfile), a verb's flags after `-`, and for verbs
// that take images the names in the store (`kiln images --format`), else file names.
// Install: `kiln completion bash > /etc/bash_completion.d/kiln`, or for zsh
// `kiln completion zsh > "${fpath[1]}/_kiln"`.
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "cli/common.h"

namespace kiln::cli {
namespace {

// Verbs whose positional arguments are images (names in the store).
const std::set<std::string>& ImageVerbs() {
  static const auto* verbs =
      new std::set<std::string>{"copy", "diff", "history", "images", "inspect", "push", "rebase",
                                "rmi",  "run",  "save",    "sbom",   "sign",    "tag",  "verify"};
  return *verbs;
}

std::vector<std::string> Flags(const CLI::App& cmd) {
  std::vector<std::string> flags;
  for (const CLI::Option* o : cmd.get_options()) {
    for (const std::string& s : o->get_snames()) flags.push_back("-" + s);
    for (const std::string& l : o->get_lnames()) flags.push_back("--" + l);
  }
  return flags;
}

std::vector<std::string> Verbs(const CLI::App& cmd) {
  std::vector<std::string> verbs;
  for (const CLI::App* sub : cmd.get_subcommands([](const CLI::App*) { return true; })) {
    verbs.push_back(sub->get_name());
  }
  return verbs;
}

// The shell case arms both scripts share: "verb) flags='...'; subs='...'; images=0|1 ;;", or
// for the sub-verbs of `parent`, "'parent sub') ...".
std::string Cases(const CLI::App& app, const std::string& parent = "") {
  std::string out;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    const std::string pattern =
        parent.empty() ? sub->get_name() : absl::StrCat("'", parent, " ", sub->get_name(), "'");
    absl::StrAppend(&out, "    ", pattern, ") flags='", absl::StrJoin(Flags(*sub), " "),
                    "'; subs='", absl::StrJoin(Verbs(*sub), " "),
                    "'; images=", parent.empty() && ImageVerbs().count(sub->get_name()) ? 1 : 0,
                    " ;;\n");
  }
  return out;
}

std::string NestedCases(const CLI::App& app) {
  std::string out;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (!Verbs(*sub).empty()) absl::StrAppend(&out, Cases(*sub, sub->get_name()));
  }
  return out;
}

// Finding the verb (the first word that is not --root's or a flag) and what it takes.
std::string Preamble(const CLI::App& app, const std::string& words, const std::string& first,
                     const std::string& current) {
  return absl::StrCat(
      "  local verb='' sub='' i flags='' subs='' images=0\n"
      "  for ((i = ",
      first, "; i < ", current, "; i++)); do\n", "    case ${", words,
      "[i]} in\n"
      "      --root) ((i++)) ;;\n"
      "      -*) ;;\n"
      "      *) if [[ -z $verb ]]; then verb=${",
      words, "[i]}; elif [[ -z $sub ]]; then sub=${", words,
      "[i]}; fi ;;\n"
      "    esac\n"
      "  done\n"
      "  case $verb in\n",
      Cases(app), "    *) flags='", absl::StrJoin(Flags(app), " "), "'; subs='",
      absl::StrJoin(Verbs(app), " "),
      "' ;;\n"
      "  esac\n"
      "  if [[ -n $subs && -n $sub ]]; then\n"
      "    case \"$verb $sub\" in\n",
      NestedCases(app),
      "    esac\n"
      "    subs=''\n"
      "  fi\n");
}

// What differs between the shells; the rest of the script is the same.
struct Shell {
  const char* header;   // up to and including "_kiln() {"
  const char* words;    // the array of the command line's words
  const char* first;    // the index of the word after "kiln"
  const char* current;  // the index of the word being completed
  const char* offer;    // offers the words of the variable @W@ names
  const char* images;   // offers the store's image names
  const char* files;    // offers file names
  const char* footer;   // after the function
};

std::string Script(const CLI::App& app, const Shell& sh) {
  return absl::StrCat(
      sh.header, "\n  local cur=${", sh.words, "[", sh.current, "]}\n",
      Preamble(app, sh.words, sh.first, sh.current), "  if [[ $cur == -* ]]; then\n    ",
      absl::StrReplaceAll(sh.offer, {{"@W@", "flags"}}),
      "\n  elif [[ -z $verb || -n $subs ]]; then\n    ",
      absl::StrReplaceAll(sh.offer, {{"@W@", "subs"}}), "\n  elif [[ $images == 1 ]]; then\n    ",
      sh.images, "\n  else\n    ", sh.files, "\n  fi\n}\n", sh.footer);
}

constexpr char kImageNames[] =
    "command kiln images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null";

std::string Bash(const CLI::App& app) {
  const std::string images =
      absl::StrCat("COMPREPLY=($(compgen -W \"$(", kImageNames, ")\" -- \"$cur\"))");
  return Script(app,
                {"# kiln completion for bash: source it, or put it in "
                 "/etc/bash_completion.d/kiln\n_kiln() {",
                 "COMP_WORDS", "1", "COMP_CWORD", "COMPREPLY=($(compgen -W \"$@W@\" -- \"$cur\"))",
                 images.c_str(), "COMPREPLY=($(compgen -f -- \"$cur\"))",
                 "complete -o default -F _kiln kiln\n"});
}

std::string Zsh(const CLI::App& app) {
  const std::string images = absl::StrCat("compadd -- ${(f)\"$(", kImageNames, ")\"}");
  return Script(app, {"#compdef kiln\n# kiln completion for zsh: put it in a directory of $fpath "
                      "as _kiln\n_kiln() {",
                      "words", "2", "CURRENT", "compadd -- ${=@W@}", images.c_str(), "_files",
                      "if [[ $funcstack[1] == _kiln ]]; then _kiln \"$@\"; else compdef _kiln "
                      "kiln; fi\n"});
}

}  // namespace

void AddCompletionCommand(CLI::App& app, Globals& g) {
  auto shell = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("completion", "Print a shell completion script: kiln completion bash|zsh");
  cmd->add_option("SHELL", *shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  cmd->callback([&g, &app, shell] {
    g.run = [&app, shell]() -> absl::Status {
      const std::string script = *shell == "bash" ? Bash(app) : Zsh(app);
      std::fwrite(script.data(), 1, script.size(), stdout);
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
