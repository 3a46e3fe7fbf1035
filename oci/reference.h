// Image references by Docker's rules: "busybox" is docker.io/library/busybox:latest,
// "localhost:5000/a/b:1" has a registry with a port, "x@sha256:..." pins a digest.
// An immutable value; parsing validates every part and caps the length.
#ifndef KILN_OCI_REFERENCE_H_
#define KILN_OCI_REFERENCE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "oci/digest.h"

namespace kiln::oci {

inline constexpr char kDockerHubDomain[] = "docker.io";

class Reference {
 public:
  // Parses and normalizes (adds docker.io and library/ where Docker would).
  static absl::StatusOr<Reference> Parse(absl::string_view text);

  const std::string& domain() const { return domain_; }
  const std::string& path() const { return path_; }
  // The tag as given; empty when the reference had none.
  const std::string& tag() const { return tag_; }
  const std::optional<Digest>& digest() const { return digest_; }

  // "docker.io/library/busybox".
  std::string Repository() const { return domain_ + "/" + path_; }
  // Fully qualified: "docker.io/library/busybox:latest" (tag "latest" added only when the
  // reference has neither tag nor digest).
  std::string String() const;
  // Docker's short form: "busybox:latest", "me/app:1", "localhost:5000/x@sha256:...".
  std::string Familiar() const;
  // The tag, or "latest" when there is neither tag nor digest; empty for digest-only references.
  std::string TagOrDefault() const;

 private:
  std::string domain_;
  std::string path_;
  std::string tag_;
  std::optional<Digest> digest_;
};

// True iff `tag` matches Docker's tag grammar [\w][\w.-]{0,127}.
bool IsValidTag(absl::string_view tag);

}  // namespace kiln::oci

#endif  // KILN_OCI_REFERENCE_H_
