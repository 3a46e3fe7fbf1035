#include "builder/secrets.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace kiln::builder {

absl::Status AddSecret(absl::string_view spec,
                       const std::function<std::optional<std::string>(const std::string&)>& getenv,
                       Secrets* out) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--secret \"", spec, "\": ", why));
  };
  std::string id, src, env, type;
  for (absl::string_view field : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(field, absl::MaxSplits('=', 1));
    std::string key = absl::AsciiStrToLower(kv.first);
    if (field.find('=') == absl::string_view::npos)
      return bad(absl::StrCat("\"", field, "\" is not KEY=VALUE"));
    if (key == "id") {
      id = kv.second;
    } else if (key == "src" || key == "source") {
      src = kv.second;
    } else if (key == "env") {
      env = kv.second;
    } else if (key == "type") {
      type = kv.second;
      if (type != "file" && type != "env") return bad("type must be file or env");
    } else {
      return bad(absl::StrCat("unknown key \"", kv.first, "\""));
    }
  }
  if (type == "env" && env.empty()) std::swap(env, src);  // type=env,src=VAR names a variable
  if (!src.empty() && !env.empty()) return bad("give src or env, not both");
  if (id.empty()) id = !env.empty() ? env : src.substr(src.rfind('/') + 1);
  if (id.empty()) return bad("no id");
  if (src.empty() && env.empty()) env = id;
  std::string value;
  if (!src.empty()) {
    ASSIGN_OR_RETURN_CTX(value, ReadFile(src, kMaxSecretSize), "--secret id=", id);
  } else {
    std::optional<std::string> v = getenv(env);
    if (!v) return bad(absl::StrCat("the variable ", env, " is not set"));
    if (v->size() > kMaxSecretSize) return bad("over 500 KiB");
    value = *std::move(v);
  }
  (*out)[id] = std::move(value);
  return absl::OkStatus();
}

bool LooksLikeSecret(absl::string_view name) {
  static const char* const kWords[] = {"apikey", "auth",   "credential", "credentials",
                                       "key",    "pass",   "passwd",     "password",
                                       "pword",  "secret", "token"};
  bool secret = false;
  std::vector<std::string> words(1);
  for (char ch : name) {
    if (absl::ascii_isalnum(ch)) {
      words.back().push_back(absl::ascii_tolower(ch));
    } else if (!words.back().empty()) {
      words.emplace_back();
    }
  }
  for (const std::string& w : words) {
    if (w == "public") return false;
    for (const char* k : kWords) secret |= w == k;
  }
  return secret;
}

std::string SecretNameWarning(absl::string_view what, absl::string_view name) {
  return absl::StrCat(what, " \"", name,
                      "\" looks like a secret: its value is kept in the image's config or "
                      "history; pass it with --secret and RUN --mount=type=secret instead");
}

}  // namespace kiln::builder
