// Go's strconv.Quote, so that kiln prints Dockerfile values exactly as BuildKit's tools do
// (the parse-tree dump and error messages). Stateless.
#ifndef KILN_BUILDER_DOCKERFILE_QUOTE_H_
#define KILN_BUILDER_DOCKERFILE_QUOTE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kiln::builder::dockerfile {

// A double-quoted string literal: printable UTF-8 kept, the rest escaped (\n, \t, \x00,
// \u00ad, ...); invalid UTF-8 bytes become \xNN.
std::string GoQuote(absl::string_view s);

// Go's fmt "%q" of a []string: ["a" "b"].
std::string GoQuoteList(const std::vector<std::string>& items);

}  // namespace kiln::builder::dockerfile

#endif  // KILN_BUILDER_DOCKERFILE_QUOTE_H_
