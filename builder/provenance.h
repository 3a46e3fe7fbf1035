// The SLSA v1 provenance predicate (https://slsa.dev/provenance/v1) of a build: what it was
// asked (the Dockerfile's digest, the context's content digest, the target, build args with the
// values of those named like secrets redacted), what it read (every base and COPY --from image
// and ADD URL with its digest, as resolvedDependencies), and who ran it when.
#ifndef KILN_BUILDER_PROVENANCE_H_
#define KILN_BUILDER_PROVENANCE_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"
#include "oci/digest.h"

namespace kiln::builder {

struct ProvenanceInputs {
  oci::Digest dockerfile;
  std::string dockerfile_name;
  oci::Digest context;
  std::string target;
  std::map<std::string, std::string> build_args;
  std::vector<std::pair<std::string, oci::Digest>> images;
  std::vector<std::pair<std::string, oci::Digest>> urls;
  std::string builder_id;         // "https://kiln.dev/kiln@0.1.0"
  std::string started, finished;  // RFC 3339
  int64_t source_date_epoch = 0;
};

nlohmann::ordered_json SlsaProvenance(const ProvenanceInputs& in);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_PROVENANCE_H_
