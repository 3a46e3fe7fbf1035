#include "builder/history.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "builder/dockerfile/quote.h"

namespace kiln::builder {
namespace {

// Go's %v of a []string: "[a b c]".
std::string GoList(const std::vector<std::string>& items) {
  return absl::StrCat("[", absl::StrJoin(items, " "), "]");
}

// The trimmed decimal fraction of `v`'s low `prec` digits (".25", or "" when zero), with
// `v` left holding the integer part: Go's fmtFrac.
std::string Fraction(uint64_t* v, int prec) {
  std::string digits;
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    int digit = static_cast<int>(*v % 10);
    print = print || digit != 0;
    if (print) digits.insert(digits.begin(), static_cast<char>('0' + digit));
    *v /= 10;
  }
  return digits.empty() ? "" : "." + digits;
}

}  // namespace

std::string GoDurationString(int64_t ns) {
  if (ns == 0) return "0s";
  uint64_t u = ns < 0 ? -static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  std::string out;
  if (u < 1'000'000'000) {
    int prec = u < 1000 ? 0 : u < 1'000'000 ? 3 : 6;
    const char* unit = u < 1000 ? "ns" : u < 1'000'000 ? "µs" : "ms";
    std::string frac = Fraction(&u, prec);
    out = absl::StrCat(u, frac, unit);
  } else {
    std::string frac = Fraction(&u, 9);
    out = absl::StrCat(u % 60, frac, "s");
    uint64_t minutes = u / 60;
    if (minutes > 0) {
      out = absl::StrCat(minutes % 60, "m", out);
      if (minutes / 60 > 0) out = absl::StrCat(minutes / 60, "h", out);
    }
  }
  return ns < 0 ? "-" + out : out;
}

std::string RunCreatedBy(const std::vector<std::string>& argv,
                         const std::vector<std::pair<std::string, std::string>>& build_args) {
  std::vector<std::string> words;
  if (!build_args.empty()) {
    words.push_back(absl::StrCat("|", build_args.size()));
    for (const auto& [k, v] : build_args) words.push_back(absl::StrCat(k, "=", v));
  }
  words.insert(words.end(), argv.begin(), argv.end());
  return absl::StrCat("RUN ", absl::StrJoin(words, " "));
}

std::string CreatedBy(const PlannedInstruction& p, const oci::ContainerConfig& after) {
  const std::string& n = p.instruction;
  if (n == "COPY" || n == "ADD") {
    std::string out = n;
    if (const std::string* v = p.Flag("parents"); v != nullptr && *v == "true") out += " --parents";
    if (const std::string* v = p.Flag("chown"); v != nullptr && !v->empty()) {
      absl::StrAppend(&out, " --chown=", *v);
    }
    if (const std::string* v = p.Flag("chmod"); v != nullptr && !v->empty()) {
      absl::StrAppend(&out, " --chmod=", *v);
    }
    // Paths first, then the heredocs by name, as BuildKit lists them.
    std::vector<std::string> heredocs;
    for (size_t i = 0; i + 1 < p.args.size(); ++i) {
      const std::string& a = p.args[i];
      if (p.node != nullptr && !p.node->heredocs.empty() && a.find("<<") != std::string::npos) {
        if (heredocs.size() < p.node->heredocs.size()) {
          heredocs.push_back("<<" + p.node->heredocs[heredocs.size()].name);
        }
        continue;
      }
      absl::StrAppend(&out, " ", a);
    }
    for (const std::string& h : heredocs) absl::StrAppend(&out, " ", h);
    if (!p.args.empty()) absl::StrAppend(&out, " ", p.args.back());
    return out;
  }
  if (n == "ENV" || n == "LABEL" || n == "ARG") {
    return absl::StrCat(n, " ", absl::StrJoin(p.args, " "));
  }
  if (n == "WORKDIR") return "WORKDIR " + after.working_dir;
  if (n == "CMD")
    return "CMD " + dockerfile::GoQuoteList(after.cmd.value_or(std::vector<std::string>{}));
  if (n == "ENTRYPOINT") {
    return "ENTRYPOINT " +
           dockerfile::GoQuoteList(after.entrypoint.value_or(std::vector<std::string>{}));
  }
  if (n == "EXPOSE") {
    std::vector<std::string> ports;
    for (std::string port : p.args) {
      if (port.find('/') == std::string::npos) port += "/tcp";
      ports.push_back(std::move(port));
    }
    std::sort(ports.begin(), ports.end());
    ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
    return "EXPOSE " + GoList(ports);
  }
  if (n == "VOLUME") return "VOLUME " + GoList(p.args);
  if (n == "SHELL") return "SHELL " + GoList(p.args);
  if (n == "HEALTHCHECK" && after.healthcheck) {
    const oci::Healthcheck& h = *after.healthcheck;
    return absl::StrCat(
        "HEALTHCHECK {Test:", GoList(h.test), " Interval:", GoDurationString(h.interval_ns),
        " Timeout:", GoDurationString(h.timeout_ns),
        " StartPeriod:", GoDurationString(h.start_period_ns),
        " StartInterval:", GoDurationString(h.start_interval_ns), " Retries:", h.retries, "}");
  }
  if (n == "ONBUILD") return "";
  return absl::StrCat(n, " ", absl::StrJoin(p.args, " "));  // USER, STOPSIGNAL, MAINTAINER
}

}  // namespace kiln::builder
