#include "builder/dockerfile/file_mode.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kiln::builder::dockerfile {
namespace {

constexpr size_t kMaxModeLength = 256;
constexpr mode_t kUser = S_ISUID | S_IRWXU;
constexpr mode_t kGroup = S_ISGID | S_IRWXG;
constexpr mode_t kOther = S_ISVTX | S_IRWXO;

// The bits of class `c` ('u', 'g', 'o') of `mode`, spread to every class.
mode_t ClassBits(mode_t mode, char c) {
  mode_t rwx = c == 'u' ? (mode >> 6) & 7 : c == 'g' ? (mode >> 3) & 7 : mode & 7;
  return rwx * 0111;
}

}  // namespace

// Long by design: the octal form, then each symbolic clause's who, op and perms in turn, as
// chmod(1) reads them; each error sits beside the part it concerns.
absl::StatusOr<FileMode> FileMode::Parse(absl::string_view text) {
  std::string shown(text.substr(0, kMaxModeLength));
  auto numeric = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid chmod parameter: '", shown,
                     "'. it should be octal string and between 0 and 07777"));
  };
  auto symbolic = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid chmod parameter: '", shown, "': ", why,
                     " (want octal, or a symbolic mode like u+x,go-w)"));
  };
  if (text.size() > kMaxModeLength) return symbolic("too long");
  FileMode mode;
  if (!text.empty() && absl::ascii_isdigit(text[0])) {
    uint32_t m;
    if (!absl::numbers_internal::safe_strtou32_base(text, &m, 8) || m > 07777) return numeric();
    mode.octal_ = m;
    return mode;
  }
  size_t i = 0;
  while (true) {  // a clause: [ugoa]* then one or more actions
    mode_t who = 0;
    bool who_given = false;
    for (; i < text.size() && absl::string_view("ugoa").find(text[i]) != absl::string_view::npos;
         ++i) {
      who_given = true;
      who |= text[i] == 'u' ? kUser : text[i] == 'g' ? kGroup : text[i] == 'o' ? kOther : 07777;
    }
    if (i == text.size() || (text[i] != '+' && text[i] != '-' && text[i] != '=')) {
      return symbolic(i == text.size() ? "an operator (+, - or =) is missing"
                                       : absl::StrCat("unexpected '", text.substr(i, 1), "'"));
    }
    while (i < text.size() && (text[i] == '+' || text[i] == '-' || text[i] == '=')) {
      Action a;
      a.who = who_given ? who : 07777;
      a.op = text[i++];
      if (i < text.size() && (text[i] == 'u' || text[i] == 'g' || text[i] == 'o')) {
        a.copy_from = text[i++];
      } else {
        for (; i < text.size(); ++i) {
          char c = text[i];
          if (c == 'r') {
            a.perms |= 0444;
          } else if (c == 'w') {
            a.perms |= 0222;
          } else if (c == 'x') {
            a.perms |= 0111;
          } else if (c == 'X') {
            a.cond_x = true;
          } else if (c == 's') {
            a.perms |= S_ISUID | S_ISGID;
          } else if (c == 't') {
            a.perms |= S_ISVTX;
          } else {
            break;
          }
        }
      }
      mode.actions_.push_back(a);
    }
    if (i == text.size()) break;
    if (text[i] != ',') return symbolic(absl::StrCat("unexpected '", text.substr(i, 1), "'"));
    ++i;
  }
  return mode;
}

mode_t FileMode::Apply(mode_t from, bool is_dir) const {
  if (octal_) return *octal_;
  mode_t mode = from & 07777;
  for (const Action& a : actions_) {
    mode_t bits = a.copy_from ? ClassBits(mode, a.copy_from) : a.perms;
    if (a.cond_x && (is_dir || (mode & 0111) != 0)) bits |= 0111;
    bits &= a.who;  // u: set-uid and rwx of the owner, g: set-gid ..., o: sticky ...
    switch (a.op) {
      case '+':
        mode |= bits;
        break;
      case '-':
        mode &= ~bits;
        break;
      default:  // '=': the classes named lose every bit not given
        mode = (mode & ~a.who) | bits;
        break;
    }
  }
  return mode;
}

}  // namespace kiln::builder::dockerfile
