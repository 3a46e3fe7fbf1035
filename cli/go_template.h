// The forms of Go's text/template that docker's --format flags are used with, over a JSON
// value: `{{.Field.Sub}}` (Go's %v printing: strings bare, lists "[a b]", maps "map[k:v]"),
// `{{json .Field}}`, `{{.}}`, and the escapes `\t` and `\n` in the text around them. Anything
// else between braces is an error naming it. Stateless.
#ifndef KILN_CLI_GO_TEMPLATE_H_
#define KILN_CLI_GO_TEMPLATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {

absl::StatusOr<std::string> RenderTemplate(absl::string_view tmpl, const nlohmann::json& data);

// Docker's "2 years ago" form of how long ago `seconds` were ("Less than a second ago", "About
// an hour ago", "3 weeks ago").
std::string HumanAgo(int64_t seconds);
// HumanAgo of an RFC 3339 time until now; "N/A" when `rfc3339` is empty or not one.
std::string HumanAgoOf(const std::string& rfc3339);

}  // namespace kiln::cli

#endif  // KILN_CLI_GO_TEMPLATE_H_
