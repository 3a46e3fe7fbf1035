#include "builder/copy_sources.h"

#include <sys/stat.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/glob.h"
#include "base/status_macros.h"
#include "builder/dockerfile/quote.h"
#include "builder/image_path.h"

namespace kiln::builder {
namespace {

using context::ContextEntry;
using Kind = CopyAction::Kind;

// Matches come each followed by what is below it: the number of matches.
int CountMatches(const std::vector<ContextEntry>& entries) {
  int matches = 0;
  std::string top;
  for (const ContextEntry& e : entries) {
    if (matches == 0 || !absl::StartsWith(e.path, top + "/")) {
      ++matches;
      top = e.path;
    }
  }
  return matches;
}

// --exclude for one source: see SelectCopies.
class Excluder {
 public:
  Excluder(const context::DockerIgnore* exclude, const std::string& root, bool wildcard)
      : exclude_(exclude) {
    std::string prefix =
        wildcard ? root.substr(0, std::min(root.size(), root.find_first_of("*?["))) : "";
    size_t slash = prefix.rfind('/');
    prefix_ = slash == std::string::npos ? "" : prefix.substr(0, slash);
  }

  // `current_root`: the match being copied ("" before the first).
  bool Excluded(const ContextEntry& e, const std::string& current_root) {
    if (exclude_ == nullptr) return false;
    for (const std::string& d : excluded_dirs_) {
      if (absl::StartsWith(e.path, d + "/")) return true;
    }
    std::vector<std::string> rels;
    if (prefix_.empty()) rels.push_back(e.path);
    if (!prefix_.empty() && absl::StartsWith(e.path, prefix_ + "/")) {
      rels.push_back(e.path.substr(prefix_.size() + 1));
    }
    if (!current_root.empty() && current_root != "." &&
        absl::StartsWith(e.path, current_root + "/")) {
      rels.push_back(e.path.substr(current_root.size() + 1));
    }
    for (const std::string& rel : rels) {
      if (exclude_->Excluded(rel)) {
        if (S_ISDIR(e.mode)) excluded_dirs_.push_back(e.path);
        return true;
      }
    }
    return false;
  }

 private:
  const context::DockerIgnore* exclude_;
  std::string prefix_;
  std::vector<std::string> excluded_dirs_;
};

}  // namespace

std::vector<CopyAction> SelectCopies(const std::vector<ContextEntry>& entries,
                                     const std::string& source, const std::string& dest,
                                     bool dest_is_dir, const context::DockerIgnore* exclude) {
  std::vector<CopyAction> out;
  if (entries.empty()) {
    // Nothing matched (an empty wildcard): the destination directory is made all the same
    // (the destination's parent, when it is a file), as BuildKit makes it before copying.
    out.push_back({Kind::kEnsureDir, nullptr, dest_is_dir ? dest : Dirname(dest)});
    return out;
  }
  const std::string root = context::CleanPath(source);
  const bool wildcard = HasGlobMeta(root);
  if (wildcard && !dest_is_dir) dest_is_dir = CountMatches(entries) > 1;
  Excluder excluder(exclude, root, wildcard);
  std::string current_root;  // the match whose contents are being copied
  for (const ContextEntry& e : entries) {
    bool under_root = !current_root.empty() &&
                      (current_root == "." || absl::StartsWith(e.path, current_root + "/"));
    if (!wildcard && root == ".") {
      under_root = true;
      current_root = ".";
    }
    if (excluder.Excluded(e, under_root ? current_root : "")) continue;
    if (!under_root) {
      current_root = e.path;
      if (S_ISDIR(e.mode)) {
        // A directory's contents go into the destination, which keeps what the image has,
        // or is made 0755 (owned as --chown says, else by root), as BuildKit makes it.
        out.push_back({Kind::kMakeDir, &e, dest});
      } else {
        std::string name = e.path.substr(e.path.rfind('/') + 1);
        out.push_back({Kind::kTopFile, &e, dest_is_dir ? JoinPath(dest, name) : dest});
      }
      continue;
    }
    std::string rel = current_root == "." ? e.path : e.path.substr(current_root.size() + 1);
    out.push_back({Kind::kEntry, &e, JoinPath(dest, rel)});
  }
  return out;
}

std::string ParentsBase(const std::string& source) {
  size_t at = source.find("/./");
  return context::CleanPath(at == std::string::npos ? "." : source.substr(0, at));
}

absl::StatusOr<std::vector<CopyAction>> SelectParentsCopies(
    const std::vector<ContextEntry>& entries, const std::string& source, const std::string& dest,
    const context::DockerIgnore* exclude) {
  const std::string base = ParentsBase(source);
  size_t at = source.find("/./");
  const std::string pattern =
      context::CleanPath(at == std::string::npos ? source : source.substr(at + 3));
  ASSIGN_OR_RETURN(context::DockerIgnore include,
                   context::DockerIgnore::Parse(pattern, "--parents pattern"));
  const bool wildcard = HasGlobMeta(base);
  std::vector<CopyAction> out;
  std::string top;  // the current match of `base` ("." for the whole context)
  bool in_top = false;
  std::map<std::string, const ContextEntry*> dirs;  // below the pivot
  bool copied = false;
  for (const ContextEntry& e : entries) {
    if (base == "." && !wildcard) {
      top = ".";
      in_top = true;
    } else if (!in_top || !absl::StartsWith(e.path, top + "/")) {
      top = e.path;  // a new match: its contents are what the pattern is matched against
      in_top = true;
      dirs.clear();
      continue;
    }
    std::string rel = top == "." ? e.path : e.path.substr(top.size() + 1);
    if (S_ISDIR(e.mode)) dirs[rel] = &e;
    if (!include.Excluded(rel) || (exclude != nullptr && exclude->Excluded(rel))) continue;
    // Its parent directories (below the pivot) first, as the source has them.
    for (size_t slash = rel.find('/'); slash != std::string::npos;
         slash = rel.find('/', slash + 1)) {
      if (auto d = dirs.find(rel.substr(0, slash)); d != dirs.end()) {
        out.push_back({Kind::kEntry, d->second, JoinPath(dest, d->first)});
      }
    }
    out.push_back({Kind::kEntry, &e, JoinPath(dest, rel)});
    copied = true;
  }
  if (!copied && !wildcard && !HasGlobMeta(pattern)) {
    return absl::NotFoundError(absl::StrCat(
        dockerfile::GoQuote("/" + context::CleanPath(JoinPath(base, pattern))), ": not found"));
  }
  if (!copied) out.push_back({Kind::kMakeDir, nullptr, dest});
  return out;
}

}  // namespace kiln::builder
