// Status propagation helpers. Errors gain context at each hop through Annotate().
#ifndef KILN_BASE_STATUS_MACROS_H_
#define KILN_BASE_STATUS_MACROS_H_

#include <cerrno>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kiln {

// Returns `status` with "context: " prepended to its message; OK stays OK.
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

// An error carrying errno's code and text, e.g. "open /x: No such file or directory".
inline absl::Status ErrnoError(absl::string_view what, int err = errno) {
  return absl::ErrnoToStatus(err, what);
}

}  // namespace kiln

#define KILN_CONCAT_INNER_(a, b) a##b
#define KILN_CONCAT_(a, b) KILN_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status kiln_status_ = (expr);        \
    if (!kiln_status_.ok()) return kiln_status_; \
  } while (0)

// RETURN_IF_ERROR_CTX(expr, context...) prepends StrCat(context...) to the error.
#define RETURN_IF_ERROR_CTX(expr, ...)                                                          \
  do {                                                                                          \
    ::absl::Status kiln_status_ = (expr);                                                       \
    if (!kiln_status_.ok()) return ::kiln::Annotate(kiln_status_, ::absl::StrCat(__VA_ARGS__)); \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(KILN_CONCAT_(kiln_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_CTX_IMPL_(tmp, lhs, expr, ...)                              \
  auto tmp = (expr);                                                                 \
  if (!tmp.ok()) return ::kiln::Annotate(tmp.status(), ::absl::StrCat(__VA_ARGS__)); \
  lhs = std::move(tmp).value()

// ASSIGN_OR_RETURN_CTX(lhs, expr, context...) prepends StrCat(context...) to the error.
#define ASSIGN_OR_RETURN_CTX(lhs, expr, ...) \
  ASSIGN_OR_RETURN_CTX_IMPL_(KILN_CONCAT_(kiln_statusor_, __LINE__), lhs, expr, __VA_ARGS__)

#endif  // KILN_BASE_STATUS_MACROS_H_
