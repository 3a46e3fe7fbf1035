#include "builder/provenance.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "builder/secrets.h"
#include "oci/reference.h"

namespace kiln::builder {

nlohmann::ordered_json SlsaProvenance(const ProvenanceInputs& in) {
  using nlohmann::ordered_json;
  ordered_json args = ordered_json::object();
  for (const auto& [k, v] : in.build_args) args[k] = LooksLikeSecret(k) ? "[redacted]" : v;
  ordered_json deps = ordered_json::array();
  for (const auto& [name, digest] : in.images) {
    std::string uri = name;
    if (absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(name); ref.ok()) {
      uri = absl::StrCat("pkg:docker/", ref->Familiar());
    }
    deps.push_back({{"uri", uri}, {"digest", {{"sha256", digest.hex()}}}});
  }
  for (const auto& [url, digest] : in.urls) {
    deps.push_back({{"uri", url}, {"digest", {{"sha256", digest.hex()}}}});
  }
  ordered_json p;
  p["buildDefinition"]["buildType"] = "https://kiln.dev/build/dockerfile@v1";
  p["buildDefinition"]["externalParameters"] = {
      {"configSource",
       {{"path", in.dockerfile_name}, {"digest", {{"sha256", in.dockerfile.hex()}}}}},
      {"context", {{"digest", {{"sha256", in.context.hex()}}}}},
      {"request", {{"frontend", "dockerfile.v0"}, {"target", in.target}, {"args", args}}},
  };
  p["buildDefinition"]["internalParameters"] = {{"sourceDateEpoch", in.source_date_epoch}};
  p["buildDefinition"]["resolvedDependencies"] = deps;
  p["runDetails"]["builder"]["id"] = in.builder_id;
  p["runDetails"]["metadata"] = {{"startedOn", in.started},
                                 {"finishedOn", in.finished},
                                 // Every timestamp of the image is the source date.
                                 {"https://kiln.dev/reproducible", true}};
  return p;
}

}  // namespace kiln::builder
