#include "builder/plan.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "builder/dockerfile/file_mode.h"
#include "builder/dockerfile/quote.h"
#include "builder/dockerfile/run_mount.h"
#include "builder/secrets.h"
#include "oci/image_config.h"

namespace kiln::builder {

using dockerfile::Dockerfile;
using dockerfile::Env;
using dockerfile::Instruction;
using dockerfile::Node;
using dockerfile::ShellLex;
using dockerfile::ShellLexOptions;

namespace {

// Why an EXPOSE value is not a port spec Docker takes ([IP:[HOST:]]PORT[-PORT][/tcp|udp|sctp]),
// in Docker's words; empty when it is one.
std::string BadPort(const std::string& spec) {
  std::string port = spec, proto = "tcp";
  if (size_t slash = port.rfind('/'); slash != std::string::npos) {
    proto = absl::AsciiStrToLower(port.substr(slash + 1));
    port = port.substr(0, slash);
  }
  if (proto != "tcp" && proto != "udp" && proto != "sctp") return "invalid proto: " + proto;
  if (size_t colon = port.rfind(':'); colon != std::string::npos) port = port.substr(colon + 1);
  std::vector<std::string> range = absl::StrSplit(port, absl::MaxSplits('-', 1));
  for (const std::string& r : range) {
    uint32_t v = 0;
    if (r.empty() || !absl::SimpleAtoi(r, &v) || v > 65535 ||
        r.find_first_not_of("0123456789") != std::string::npos) {
      return "invalid containerPort: " + port;
    }
  }
  return "";
}

const std::set<std::string>& ProxyArgs() {
  static const auto* args = new std::set<std::string>{
      "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
      "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy"};
  return *args;
}

}  // namespace

bool IsProxyArg(const std::string& name) { return ProxyArgs().count(name) > 0; }

namespace {

void AddPlatformArgs(const std::string& prefix, const oci::Platform& p, Env* env) {
  (*env)[prefix + "PLATFORM"] = p.str();
  (*env)[prefix + "OS"] = p.os;
  (*env)[prefix + "ARCH"] = p.architecture;
  (*env)[prefix + "VARIANT"] = p.variant;
}

// TARGETPLATFORM, BUILDARCH, ...: set for every build.
bool IsPlatformArg(const std::string& name) {
  for (const char* prefix : {"TARGET", "BUILD"}) {
    for (const char* part : {"PLATFORM", "OS", "ARCH", "VARIANT"}) {
      if (name == absl::StrCat(prefix, part)) return true;
    }
  }
  return false;
}

// Flags whose values the reference expands, per instruction.
bool FlagExpands(const std::string& instruction, const std::string& flag) {
  if (instruction == "COPY" || instruction == "ADD") {
    return flag == "chown" || flag == "chmod" || flag == "checksum" || flag == "exclude";
  }
  if (instruction == "RUN") return flag == "mount";
  return false;
}

bool IsCopyOrAdd(const std::string& instruction) {
  return instruction == "COPY" || instruction == "ADD";
}

class Planner {
 public:
  Planner(const Dockerfile& df, const PlanOptions& options)
      : df_(df), options_(options), lex_(ShellLexOptions{df.directives.escape}) {}

  absl::StatusOr<Plan> Run() {
    RETURN_IF_ERROR(CheckSyntax());
    ASSIGN_OR_RETURN(std::vector<Instruction> all, dockerfile::CheckInstructions(df_));
    WarnSecretNames(all);
    AddPlatformArgs("TARGET", options_.target_platform, &meta_);
    AddPlatformArgs("BUILD", options_.build_platform, &meta_);
    // The stage being built, for stages that declare it.
    meta_["TARGETSTAGE"] = options_.target.empty() ? "default" : options_.target;
    size_t i = 0;
    for (; i < all.size() && all[i].name != "FROM"; ++i) {
      if (all[i].name != "ARG") {
        return Error(*all[i].node, absl::StrCat(all[i].name,
                                                " is not allowed before the first FROM (no build "
                                                "stage in current context)"));
      }
      RETURN_IF_ERROR(DeclareArgs(all[i], &meta_, &meta_, /*global=*/true));
    }
    if (i == all.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(df_.filename, ": dockerfile contains no stages to build (no FROM)"));
    }
    for (; i < all.size(); ++i) {
      if (all[i].name == "FROM") {
        RETURN_IF_ERROR(StartStage(all[i]));
      } else if (!replaced_) {
        RETURN_IF_ERROR(AddInstruction(all[i]));
      }
    }
    RETURN_IF_ERROR(ResolveDependencies());
    return Finish();
  }

 private:
  // ARG and ENV names that look like secrets (builder/secrets.h): their values stay in the
  // image, so the warning points to --secret.
  void WarnSecretNames(const std::vector<Instruction>& all) {
    std::set<std::string> warned;
    for (const Instruction& ins : all) {
      if (ins.name != "ARG" && ins.name != "ENV") continue;
      const std::vector<std::string>& args = ins.node->args;
      for (size_t i = 0; i < args.size(); i += ins.name == "ENV" ? 3 : 1) {
        std::string name =
            args[i].substr(0, ins.name == "ARG" ? args[i].find('=') : args[i].size());
        if (LooksLikeSecret(name) && warned.insert(name).second) {
          warnings_.push_back(absl::StrCat(df_.filename, ":", ins.node->start_line, ": ",
                                           SecretNameWarning(ins.name, name)));
        }
      }
    }
  }

  absl::Status Error(const Node& node, absl::string_view message) {
    return df_.ErrorAt(node.start_line, node.column, message);
  }

  absl::StatusOr<std::string> Expand(const Node& node, const std::string& word, const Env& env) {
    auto v = lex_.ProcessWord(word, env);
    if (!v.ok()) return Error(node, v.status().message());
    return *v;
  }

  // The environment expansion sees inside the current stage: its ARGs, overridden by ENV.
  // What the current stage's words expand with, kept as instructions change it (a copy per
  // instruction would make long Dockerfiles quadratic): the stage's ARGs, ENV over them.
  void SetStageEnv(const std::string& name) {
    const Env& stage_env = stages_.back().env;
    if (auto e = stage_env.find(name); e != stage_env.end()) {
      env_[name] = e->second;
    } else if (auto a = stage_args_.find(name); a != stage_args_.end()) {
      env_[name] = a->second;
    } else {
      env_.erase(name);
    }
  }

  // ARG name[=default] ... into `args`; defaults expand with `expand_env`.
  absl::Status DeclareArgs(const Instruction& ins, Env* args, const Env* expand_env, bool global) {
    Env env = *expand_env;
    for (const std::string& word : ins.node->args) {
      size_t eq = word.find('=');
      ASSIGN_OR_RETURN(std::string name, Expand(*ins.node, word.substr(0, eq), env));
      std::optional<std::string> value;
      // A value given with --build-arg wins, and the default is then not even expanded (a
      // "${X:?msg}" default only fails when nothing is given).
      if (auto it = options_.build_args.find(name); it != options_.build_args.end()) {
        value = it->second;
        used_build_args_.insert(name);
      } else if (eq != std::string::npos) {
        ASSIGN_OR_RETURN(value, Expand(*ins.node, word.substr(eq + 1), env));
      } else if (!global && meta_.count(name)) {
        value = meta_.at(name);  // a global ARG re-declared without a value
      } else if (global && IsPlatformArg(name)) {
        value = meta_.at(name);  // declared bare, an automatic ARG keeps its value
      }
      if (value) {
        (*args)[name] = *value;
        env[name] = *value;
      } else {
        args->erase(name);
      }
      if (global) declared_meta_.insert(name);
    }
    return absl::OkStatus();
  }

  absl::Status StartStage(const Instruction& ins) {
    const Node& node = *ins.node;
    Stage stage;
    stage.index = static_cast<int>(stages_.size());
    stage.line = node.start_line;
    ASSIGN_OR_RETURN(stage.base, Expand(node, node.args[0], meta_));
    if (stage.base.empty()) {
      return Error(node, absl::StrCat("base name (", node.args[0], ") should not be blank"));
    }
    stage.runs_on = options_.target_platform;
    if (std::string p = ins.Flag("platform"); !p.empty()) {
      ASSIGN_OR_RETURN(stage.platform, Expand(node, p, meta_));
      absl::StatusOr<oci::Platform> parsed = oci::Platform::Parse(stage.platform);
      if (!parsed.ok()) {
        return Error(node, absl::StrCat("invalid --platform ", dockerfile::GoQuote(stage.platform),
                                        ": want os/arch[/variant]"));
      }
      stage.runs_on = *parsed;
    }
    if (node.args.size() == 3) {
      stage.name = absl::AsciiStrToLower(node.args[2]);
      for (const Stage& s : stages_) {
        if (s.name == stage.name) {
          return Error(node, absl::StrCat("duplicate stage name ", dockerfile::GoQuote(stage.name),
                                          " (first defined on line ", s.line, ")"));
        }
      }
    }
    // A --build-context of the stage's name replaces the stage; one of its base's name (when
    // that is no stage) replaces the base image.
    const NamedContext* context = nullptr;
    replaced_ = false;
    if (!stage.name.empty()) context = FindNamedContext(options_.named_contexts, stage.name);
    if (context != nullptr) {
      replaced_ = true;
      stage.base = stage.name;
    } else if (!StageByName(stage.base).ok()) {
      context = FindNamedContext(options_.named_contexts, stage.base);
    }
    if (context != nullptr && context->kind == NamedContext::Kind::kDir) {
      // A directory: its files copied onto scratch, as the stage's first step.
      std::string name = stage.base;
      stage.base = "scratch";
      PlannedInstruction copy;
      copy.node = &node;
      copy.line = node.start_line;
      copy.instruction = "COPY";
      copy.args = {".", "/"};
      copy.flags["from"] = {name};
      copy.from_named_context = true;
      stage.instructions.push_back(std::move(copy));
    }
    std::string base_lower = absl::AsciiStrToLower(stage.base);
    for (const Stage& s : stages_) {
      if (context == nullptr && !s.name.empty() && s.name == base_lower) {
        stage.base_stage = s.index;
        stage.env = s.env;
        if (stage.platform.empty()) stage.runs_on = s.runs_on;
        stage.depends_on.push_back(s.index);
      }
    }
    if (stage.base_stage < 0 && stage.base != "scratch" && options_.image_env) {
      ASSIGN_OR_RETURN(std::vector<std::string> env, options_.image_env(stage.base, stage.runs_on));
      for (const std::string& kv : env) {
        std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
        stage.env[p.first] = p.second;
      }
    }
    // Every stage has a PATH, the default one when its base sets none (scratch included).
    if (!stage.env.count("PATH")) stage.env["PATH"] = oci::kDefaultPath;
    stage_args_.clear();
    bool image_base = stage.base_stage < 0 && stage.base != "scratch";
    std::string base = stage.base;
    oci::Platform runs_on = stage.runs_on;
    stages_.push_back(std::move(stage));
    env_ = stages_.back().env;
    std::vector<std::string> triggers;
    if (image_base && options_.image_triggers) {
      ASSIGN_OR_RETURN(triggers, options_.image_triggers(base, runs_on));
    } else if (int b = stages_.back().base_stage; b >= 0) {
      // A stage built on a stage runs the ONBUILD lines that stage wrote, as BuildKit does.
      for (const PlannedInstruction& p : stages_[b].instructions) {
        if (p.instruction == "ONBUILD") triggers.push_back(p.args[0]);
      }
    }
    for (const std::string& trigger : triggers) RETURN_IF_ERROR(AddTrigger(node, base, trigger));
    return absl::OkStatus();
  }

  // An ONBUILD trigger of the base image, run as if written right after FROM (errors point
  // there).
  absl::Status AddTrigger(const Node& from, const std::string& image, const std::string& text) {
    auto fail = [&](absl::string_view why) {
      return Error(from, absl::StrCat("ONBUILD trigger \"", text, "\" of ", image, ": ", why));
    };
    absl::StatusOr<Dockerfile> parsed = dockerfile::Parse(text, df_.filename);
    if (!parsed.ok()) return fail(parsed.status().message());
    if (parsed->nodes.size() != 1) return fail("not one instruction");
    auto df = std::make_shared<Dockerfile>(*std::move(parsed));
    df->lines = df_.lines;
    for (Node& n : df->nodes) {
      n.start_line = from.start_line;
      n.end_line = from.start_line;
      n.column = from.column;
    }
    ASSIGN_OR_RETURN(std::vector<Instruction> ins, dockerfile::CheckInstructions(*df));
    const std::string& name = ins[0].name;
    if (name == "FROM" || name == "ONBUILD" || name == "MAINTAINER") {
      return fail(absl::StrCat(name, " is not allowed as an ONBUILD trigger"));
    }
    triggers_.push_back(df);
    return AddInstruction(ins[0]);
  }

  // Long by design: one pass over an instruction's expansion rules in BuildKit's order (flags,
  // args, heredocs, checks); split, the order would be spread over several functions.
  absl::Status AddInstruction(const Instruction& ins) {
    const Node& node = *ins.node;
    Stage& stage = stages_.back();
    PlannedInstruction p;
    p.node = &node;
    p.line = node.start_line;
    p.instruction = ins.name;
    p.json = node.json;
    p.flags = ins.flags;
    const Env& env = env_;
    // COPY --from names a stage or image as written: BuildKit expands no variable there.
    if (auto it = p.flags.find("from"); it != p.flags.end() && IsCopyOrAdd(ins.name)) {
      for (const std::string& v : it->second) {
        auto as_is = lex_.ProcessWord(v, Env());
        if (!as_is.ok() || *as_is != v) {
          return Error(node,
                       "variable expansion is not supported for --from, define a new stage with "
                       "FROM using ARG from global scope as a workaround");
        }
      }
    }
    for (auto& [flag, values] : p.flags) {
      if (!FlagExpands(ins.name, flag)) continue;
      for (std::string& v : values) {
        if (ins.name == "RUN" && flag == "mount") {
          // Each field's value expands on its own, as BuildKit expands them (not `from`).
          auto expanded = dockerfile::ExpandRunMount(
              v, [&](const std::string& word) { return lex_.ProcessWord(word, env); });
          if (!expanded.ok()) return Error(node, expanded.status().message());
          auto parsed = dockerfile::ParseRunMount(*expanded);
          if (!parsed.ok()) return Error(node, parsed.status().message());
          p.mounts.push_back(*std::move(parsed));
          p.mount_from_stages.push_back(-1);  // resolved with the stages
          v = *std::move(expanded);
          continue;
        }
        ASSIGN_OR_RETURN(v, Expand(node, v, env));
      }
    }
    if (auto it = p.flags.find("chmod"); it != p.flags.end() && IsCopyOrAdd(ins.name)) {
      if (!it->second.back().empty()) {
        if (auto mode = dockerfile::FileMode::Parse(it->second.back()); !mode.ok()) {
          return Error(node, mode.status().message());
        }
      }
    }
    const std::string& n = ins.name;
    if (auto it = p.flags.find("checksum"); it != p.flags.end() && n == "ADD") {
      RETURN_IF_ERROR(CheckChecksum(node, it->second.back(), env));
    }
    for (const dockerfile::Heredoc& h : node.heredocs) {
      std::string content = h.content;
      if (IsCopyOrAdd(n)) {
        if (h.chomp) content = dockerfile::ChompHeredocContent(content);
        if (h.expand) {
          // Quotes are plain text here; the escape character is always the backslash.
          ShellLexOptions raw;
          raw.skip_quotes = true;
          auto v = ShellLex(raw).ProcessWord(content, env);
          if (!v.ok()) return Error(node, v.status().message());
          content = *std::move(v);
        }
      }
      p.heredocs.push_back(std::move(content));
    }
    if (n == "ENV" || n == "LABEL") {
      std::vector<std::pair<std::string, std::string>> pairs;
      for (size_t i = 0; i + 1 < node.args.size(); i += 3) {
        ASSIGN_OR_RETURN(std::string key, Expand(node, node.args[i], env));
        ASSIGN_OR_RETURN(std::string value, Expand(node, node.args[i + 1], env));
        if (key.empty()) return Error(node, absl::StrCat(n, " names can not be blank"));
        p.args.push_back(absl::StrCat(key, "=", value));
        pairs.emplace_back(key, value);
      }
      if (n == "ENV") {
        for (auto& [k, v] : pairs) {
          stage.env[k] = v;
          env_[k] = v;
        }
      }
    } else if (n == "ARG") {
      RETURN_IF_ERROR(DeclareArgs(ins, &stage_args_, &env, /*global=*/false));
      for (const std::string& word : node.args) {
        std::string name = word.substr(0, word.find('='));
        auto it = stage_args_.find(name);
        p.args.push_back(it == stage_args_.end() ? name : absl::StrCat(name, "=", it->second));
        SetStageEnv(name);
      }
    } else if (n == "COPY" || n == "ADD" || n == "VOLUME") {
      for (const std::string& a : node.args) {
        if (!node.heredocs.empty() && a.find("<<") != std::string::npos) {
          p.args.push_back(a);  // a heredoc source: its content is the source, not a path
          continue;
        }
        ASSIGN_OR_RETURN(std::string v, Expand(node, a, env));
        p.args.push_back(std::move(v));
      }
    } else if (n == "EXPOSE") {
      for (const std::string& a : node.args) {
        auto words = lex_.ProcessWords(a, env);
        if (!words.ok()) return Error(node, words.status().message());
        for (const std::string& w : *words) {
          if (std::string bad = BadPort(w); !bad.empty()) return Error(node, bad);
        }
        p.args.insert(p.args.end(), words->begin(), words->end());
      }
    } else if (n == "USER" || n == "WORKDIR" || n == "STOPSIGNAL") {
      ASSIGN_OR_RETURN(std::string v, Expand(node, node.args[0], env));
      // As in BuildKit, USER and WORKDIR may expand to nothing (the default user; the
      // working directory unchanged); a signal may not.
      if (v.empty() && n == "STOPSIGNAL") {
        return Error(node, absl::StrCat(n, " requires a non-empty argument"));
      }
      p.args.push_back(std::move(v));
    } else if (n == "ONBUILD") {
      const Node& trigger = node.sub[0];
      size_t start = trigger.original.find_first_not_of(" \t");
      std::string text = start == std::string::npos ? "" : trigger.original.substr(start);
      // The trigger keeps its heredocs, each after the line with its delimiter.
      for (const dockerfile::Heredoc& h : node.heredocs)
        absl::StrAppend(&text, "\n", h.content, h.name);
      p.args.push_back(std::move(text));
    } else {
      p.args = node.args;  // RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER: not expanded
    }
    stage.instructions.push_back(std::move(p));
    return absl::OkStatus();
  }

  // `# syntax=` names the frontend image BuildKit would run. kiln is the Dockerfile frontend
  // itself: docker/dockerfile (and -upstream), any version, is accepted; another frontend
  // cannot be run, which is an error at the directive, as BuildKit fails to resolve one.
  absl::Status CheckSyntax() const {
    std::string ref = df_.directives.syntax;
    if (ref.empty()) return absl::OkStatus();
    for (const char* registry : {"docker.io/", "index.docker.io/", "registry-1.docker.io/"}) {
      if (absl::StartsWith(ref, registry)) ref = ref.substr(std::string(registry).size());
    }
    std::string repo = ref.substr(0, ref.find_first_of(":@"));
    if (repo == "docker/dockerfile" || repo == "docker/dockerfile-upstream") {
      return absl::OkStatus();
    }
    return df_.ErrorAt(
        df_.directives.syntax_line, 1,
        absl::StrCat("unsupported frontend ", dockerfile::GoQuote(df_.directives.syntax),
                     ": kiln reads Dockerfiles itself; it accepts only "
                     "docker/dockerfile (any version) here"));
  }

  // ADD --checksum: one source, downloaded, and a digest (go-digest's errors, as BuildKit's).
  absl::Status CheckChecksum(const Node& node, const std::string& checksum, const Env& env) {
    if (node.args.size() != 2) {
      return Error(node, "checksum can't be specified for multiple sources");
    }
    ASSIGN_OR_RETURN(std::string source, Expand(node, node.args[0], env));
    if (!absl::StartsWith(source, "http://") && !absl::StartsWith(source, "https://")) {
      return Error(node, "checksum requires HTTP(S) or Git sources");
    }
    size_t colon = checksum.find(':');
    std::string algorithm = checksum.substr(0, colon);
    bool well_formed = colon != std::string::npos && !algorithm.empty() &&
                       std::all_of(algorithm.begin(), algorithm.end(), [](char c) {
                         return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '+' ||
                                c == '.' || c == '_' || c == '-';
                       });
    if (!well_formed) return Error(node, "invalid checksum digest format");
    size_t want = algorithm == "sha256"   ? 64
                  : algorithm == "sha384" ? 96
                  : algorithm == "sha512" ? 128
                                          : 0;
    if (want == 0) return Error(node, "unsupported digest algorithm");
    std::string hex = checksum.substr(colon + 1);
    if (hex.size() != want) return Error(node, "invalid checksum digest length");
    if (!std::all_of(hex.begin(), hex.end(),
                     [](char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'); })) {
      return Error(node, "invalid checksum digest format");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int> StageByName(const std::string& name) const {
    std::string lower = absl::AsciiStrToLower(name);
    for (const Stage& s : stages_) {
      if (!s.name.empty() && s.name == lower) return s.index;
    }
    return absl::NotFoundError(name);
  }

  // A COPY --from / RUN --mount from= source: a stage (by name or earlier index; its index is
  // returned) or an image (-1).
  absl::StatusOr<int> AddSource(Stage& stage, const PlannedInstruction& p,
                                const std::string& from) {
    auto by_name = StageByName(from);
    int index = -1;
    if (by_name.ok()) {
      index = *by_name;
      if (index > stage.index && p.instruction == "COPY") {
        return Error(*p.node, absl::StrCat("cannot copy from stage ", dockerfile::GoQuote(from),
                                           ", it needs to be defined before current stage ",
                                           dockerfile::GoQuote(stage.name)));
      }
      if (index > stage.index) {
        return Error(*p.node, absl::StrCat("cannot mount from stage ", dockerfile::GoQuote(from),
                                           ", stage needs to be defined before current command"));
      }
    } else if (int n; absl::SimpleAtoi(from, &n) &&
                      from.find_first_not_of("0123456789") == std::string::npos) {
      if (n >= stage.index) {
        return Error(*p.node, absl::StrCat(p.instruction, " --from=", from, ": stage ", n,
                                           n == stage.index ? " is this stage"
                                                            : " is not defined before this one"));
      }
      index = n;
    }
    if (index < 0) {
      stage.images.push_back(from);
      return -1;
    }
    if (index == stage.index) {
      return Error(*p.node,
                   absl::StrCat("circular dependency detected on stage: ",
                                stage.name.empty() ? std::to_string(stage.index) : stage.name));
    }
    stage.depends_on.push_back(index);
    return index;
  }

  absl::Status ResolveDependencies() {
    for (Stage& stage : stages_) {
      for (PlannedInstruction& p : stage.instructions) {
        if (p.instruction == "COPY" && !p.from_named_context) {
          if (const std::string* from = p.Flag("from"); from != nullptr) {
            ASSIGN_OR_RETURN(p.from_stage, AddSource(stage, p, *from));
          }
        } else if (p.instruction == "RUN") {
          for (size_t i = 0; i < p.mounts.size(); ++i) {
            const dockerfile::RunMount& m = p.mounts[i];
            if (m.from.empty() || m.type == dockerfile::MountType::kSecret ||
                m.type == dockerfile::MountType::kSsh) {
              continue;
            }
            ASSIGN_OR_RETURN(p.mount_from_stages[i], AddSource(stage, p, m.from));
          }
        }
      }
      std::sort(stage.depends_on.begin(), stage.depends_on.end());
      stage.depends_on.erase(std::unique(stage.depends_on.begin(), stage.depends_on.end()),
                             stage.depends_on.end());
    }
    return absl::OkStatus();
  }

  // Post-order DFS from the target: dependencies come first. Grey nodes on the stack reveal a
  // cycle.
  absl::Status Visit(int index, std::vector<int>* state, std::vector<int>* order) {
    if ((*state)[index] == 2) return absl::OkStatus();
    const Stage& stage = stages_[index];
    if ((*state)[index] == 1) {
      return df_.ErrorAt(stage.line, 1,
                         absl::StrCat("circular dependency detected on stage: ",
                                      stage.name.empty() ? std::to_string(index) : stage.name));
    }
    (*state)[index] = 1;
    for (int dep : stage.depends_on) RETURN_IF_ERROR(Visit(dep, state, order));
    (*state)[index] = 2;
    order->push_back(index);
    return absl::OkStatus();
  }

  absl::StatusOr<Plan> Finish() {
    Plan plan;
    plan.warnings = warnings_;
    plan.target = static_cast<int>(stages_.size()) - 1;
    if (!options_.target.empty()) {
      auto t = StageByName(options_.target);
      if (!t.ok()) {
        std::vector<std::string> names;
        for (const Stage& s : stages_) {
          if (!s.name.empty()) names.push_back(s.name);
        }
        return absl::NotFoundError(
            absl::StrCat("target stage ", dockerfile::GoQuote(options_.target),
                         " could not be found", dockerfile::Suggest(options_.target, names)));
      }
      plan.target = *t;
    }
    std::vector<int> state(stages_.size(), 0), order;
    RETURN_IF_ERROR(Visit(plan.target, &state, &order));
    for (int i : order) plan.stages.push_back(stages_[i]);
    plan.triggers = triggers_;
    for (const std::string& name : declared_meta_) {
      if (auto it = meta_.find(name); it != meta_.end()) plan.meta_args[name] = it->second;
    }
    std::vector<std::string> unused;
    for (const auto& [k, v] : options_.build_args) {
      // BUILDKIT_SANDBOX_HOSTNAME and SOURCE_DATE_EPOCH are read by the build itself (the
      // RUN steps' hostname; the timestamps).
      if (!used_build_args_.count(k) && !ProxyArgs().count(k) && k != "BUILDKIT_SANDBOX_HOSTNAME" &&
          k != "SOURCE_DATE_EPOCH") {
        unused.push_back(k);
      }
    }
    if (!unused.empty()) {
      plan.warnings.push_back(absl::StrCat("[Warning] One or more build-args [",
                                           absl::StrJoin(unused, " "), "] were not consumed"));
    }
    return plan;
  }

  const Dockerfile& df_;
  const PlanOptions& options_;
  ShellLex lex_;
  Env meta_;
  std::set<std::string> declared_meta_;
  std::set<std::string> used_build_args_;
  std::vector<std::string> warnings_;
  Env stage_args_;
  Env env_;                // see SetStageEnv
  bool replaced_ = false;  // the current stage is replaced by a --build-context
  std::vector<Stage> stages_;
  std::vector<std::shared_ptr<const Dockerfile>> triggers_;
};

}  // namespace

const std::string* PlannedInstruction::Flag(const std::string& name) const {
  auto it = flags.find(name);
  return it == flags.end() || it->second.empty() ? nullptr : &it->second.back();
}

const std::vector<std::string>& PlannedInstruction::FlagValues(const std::string& name) const {
  static const std::vector<std::string> kNone;
  auto it = flags.find(name);
  return it == flags.end() ? kNone : it->second;
}

std::string PlannedInstruction::ToText() const {
  std::vector<std::string> words;
  for (const auto& [k, vs] : flags) {
    for (const std::string& v : vs) words.push_back(absl::StrCat("--", k, "=", v));
  }
  return absl::StrCat(instruction, words.empty() ? "" : " " + absl::StrJoin(words, " "), " ",
                      json ? dockerfile::GoQuoteList(args) : absl::StrJoin(args, " "));
}

bool PlannedInstruction::BoolFlag(const std::string& name) const {
  const std::string* v = Flag(name);
  return v != nullptr && *v == "true";
}

absl::StatusOr<Plan> MakePlan(const Dockerfile& df, const PlanOptions& options) {
  return Planner(df, options).Run();
}

nlohmann::json Plan::ToJson() const {
  nlohmann::json stages_json = nlohmann::json::array();
  for (const Stage& s : stages) {
    nlohmann::json instructions = nlohmann::json::array();
    for (const PlannedInstruction& p : s.instructions) {
      nlohmann::json flags = nlohmann::json::object();
      for (const auto& [k, v] : p.flags) {
        if (k == "mount" || k == "exclude") {
          flags[k] = v;
        } else if (!v.empty()) {
          flags[k] = v.back();
        }
      }
      nlohmann::json j = {
          {"line", p.line}, {"instruction", p.instruction}, {"args", p.args}, {"flags", flags}};
      if (p.json) j["json"] = true;
      if (!p.node->heredocs.empty()) {
        nlohmann::json docs = nlohmann::json::array();
        for (const auto& h : p.node->heredocs) {
          docs.push_back({{"name", h.name},
                          {"content", h.content},
                          {"expand", h.expand},
                          {"chomp", h.chomp},
                          {"fd", h.fd}});
        }
        j["heredocs"] = docs;
      }
      instructions.push_back(std::move(j));
    }
    nlohmann::json sj = {
        {"index", s.index}, {"name", s.name}, {"base", s.base}, {"instructions", instructions}};
    if (!s.platform.empty()) sj["platform"] = s.platform;
    if (s.base_stage >= 0) sj["baseStage"] = s.base_stage;
    if (!s.depends_on.empty()) sj["dependsOn"] = s.depends_on;
    stages_json.push_back(std::move(sj));
  }
  return {{"stages", stages_json}};
}

std::string Plan::ToText() const {
  std::string out;
  for (const Stage& s : stages) {
    absl::StrAppend(&out, "stage ", s.index, s.name.empty() ? "" : " (" + s.name + ")", ": FROM ",
                    s.base, s.platform.empty() ? "" : " --platform=" + s.platform, "\n");
    for (const PlannedInstruction& p : s.instructions) {
      absl::StrAppend(&out, "  ", p.line, ": ", p.ToText(), "\n");
    }
  }
  return out;
}

}  // namespace kiln::builder
