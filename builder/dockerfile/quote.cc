#include "builder/dockerfile/quote.h"

#include "absl/strings/str_format.h"

namespace kiln::builder::dockerfile {
namespace {

// Decodes one UTF-8 rune at s[i]; returns its length, or 0 for an invalid sequence.
int DecodeRune(absl::string_view s, size_t i, uint32_t* rune) {
  unsigned char c = s[i];
  if (c < 0x80) {
    *rune = c;
    return 1;
  }
  int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (len == 0 || c > 0xF4 || i + len > s.size()) return 0;
  uint32_t r = c & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    unsigned char cc = s[i + k];
    if ((cc & 0xC0) != 0x80) return 0;
    r = (r << 6) | (cc & 0x3F);
  }
  static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (r < kMin[len] || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return 0;
  *rune = r;
  return len;
}

// An approximation of Go's unicode.IsPrint good for Dockerfiles: controls, the C1 block,
// soft hyphen, line/paragraph separators, BOM and non-characters are not printable.
bool IsPrint(uint32_t r) {
  if (r < 0x20 || r == 0x7F) return false;
  if (r >= 0x80 && r < 0xA0) return false;
  if (r == 0xAD || r == 0x2028 || r == 0x2029 || r == 0xFEFF) return false;
  if ((r >= 0x200B && r <= 0x200F) || (r >= 0x202A && r <= 0x202E) ||
      (r >= 0x2060 && r <= 0x206F)) {
    return false;
  }
  if ((r & 0xFFFE) == 0xFFFE || (r >= 0xFDD0 && r <= 0xFDEF)) return false;
  if (r >= 0xE000 && r <= 0xF8FF) return false;  // private use
  return true;
}

}  // namespace

std::string GoQuote(absl::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    uint32_t r;
    int len = DecodeRune(s, i, &r);
    if (len == 0) {
      absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    switch (r) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (IsPrint(r)) {
          out.append(s.data() + i, len);
        } else if (r < 0x80) {
          absl::StrAppendFormat(&out, "\\x%02x", r);
        } else if (r < 0x10000) {
          absl::StrAppendFormat(&out, "\\u%04x", r);
        } else {
          absl::StrAppendFormat(&out, "\\U%08x", r);
        }
    }
    i += len;
  }
  out += "\"";
  return out;
}

std::string GoQuoteList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += " ";
    out += GoQuote(items[i]);
  }
  return out + "]";
}

}  // namespace kiln::builder::dockerfile
