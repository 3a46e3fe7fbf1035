#include "builder/run_command.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "builder/dockerfile/parser.h"

namespace kiln::builder {
namespace {

// "<<EOF", "<<-EOF", "<<'EOF'" ...: how a heredoc's operator is written (its raw form is not
// kept, so every spelling is tried).
bool IsHeredocOperator(absl::string_view word, const dockerfile::Heredoc& h) {
  if (!absl::ConsumePrefix(&word, "<<")) return false;
  absl::ConsumePrefix(&word, "-");
  if (word.size() >= 2 && (word.front() == '"' || word.front() == '\'') &&
      word.back() == word.front()) {
    word = word.substr(1, word.size() - 2);
  }
  return word == h.name;
}

// The interpreter of a "#!" script and its optional argument, reading the script from stdin.
absl::StatusOr<std::vector<std::string>> ShebangCommand(const std::string& script) {
  absl::string_view line = absl::string_view(script).substr(2, script.find('\n') - 2);
  line = absl::StripAsciiWhitespace(line);
  if (line.empty()) return absl::InvalidArgumentError("heredoc script: empty #! line");
  std::vector<std::string> argv;
  size_t space = line.find_first_of(" \t");
  argv.emplace_back(line.substr(0, space));
  if (space != absl::string_view::npos) {
    absl::string_view arg = absl::StripAsciiWhitespace(line.substr(space));
    if (!arg.empty()) argv.emplace_back(arg);  // like the kernel: the rest is one argument
  }
  argv.push_back("/dev/stdin");
  return argv;
}

}  // namespace

std::vector<std::string> ShellCommand(const oci::ContainerConfig& c, const std::string& command) {
  std::vector<std::string> argv =
      c.shell.empty() ? std::vector<std::string>{"/bin/sh", "-c"} : c.shell;
  argv.push_back(command);
  return argv;
}

absl::StatusOr<RunCommand> CommandOf(const PlannedInstruction& p, const oci::ContainerConfig& c) {
  RunCommand out;
  const std::vector<dockerfile::Heredoc> none;
  const auto& heredocs = p.node != nullptr ? p.node->heredocs : none;
  if (p.json) {
    out.argv = p.args;
  } else if (heredocs.size() == 1 &&
             IsHeredocOperator(absl::StripAsciiWhitespace(p.args[0]), heredocs[0])) {
    std::string script =
        heredocs[0].chomp ? dockerfile::ChompHeredocContent(p.heredocs[0]) : p.heredocs[0];
    if (absl::StartsWith(script, "#!")) {
      ASSIGN_OR_RETURN(out.argv, ShebangCommand(script));
      out.stdin_script = std::move(script);
      out.has_stdin_script = true;
    } else {
      out.argv = ShellCommand(c, script);
    }
  } else if (!heredocs.empty()) {
    std::string script = p.args[0];
    for (size_t i = 0; i < heredocs.size(); ++i) {
      absl::StrAppend(&script, "\n", p.heredocs[i], heredocs[i].name);
    }
    out.argv = ShellCommand(c, script);
  } else {
    out.argv = ShellCommand(c, p.args.empty() ? "" : p.args[0]);
  }
  return out;
}

std::vector<std::string> RunEnvironment(const std::map<std::string, std::string>& build_args,
                                        const std::map<std::string, std::string>& stage_args,
                                        const std::vector<std::string>& image_env,
                                        const std::string& home, int64_t source_date_epoch) {
  std::map<std::string, std::string> env;
  for (const auto& [k, v] : build_args) {
    if (IsProxyArg(k)) env[k] = v;
  }
  for (const auto& [k, v] : stage_args) env[k] = v;
  for (const std::string& e : image_env) {
    std::pair<std::string, std::string> kv = absl::StrSplit(e, absl::MaxSplits('=', 1));
    env[kv.first] = kv.second;
  }
  if (!env.count("PATH")) env["PATH"] = oci::kDefaultPath;
  if (!env.count("HOME")) env["HOME"] = home;
  // Tools that honour it (Python's bytecode, shadow's password dates, gzip, …) date what they
  // write by the build's source date.
  if (!env.count("SOURCE_DATE_EPOCH")) env["SOURCE_DATE_EPOCH"] = absl::StrCat(source_date_epoch);
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(absl::StrCat(k, "=", v));
  return out;
}

}  // namespace kiln::builder
