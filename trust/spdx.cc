#include "trust/spdx.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace kiln::trust {
namespace {

using nlohmann::ordered_json;

// SPDX identifiers allow letters, digits, '.' and '-'.
std::string Id(absl::string_view text) {
  std::string out;
  for (char c : text) out += absl::ascii_isalnum(c) || c == '.' || c == '-' ? c : '-';
  return out;
}

}  // namespace

nlohmann::ordered_json SpdxJson(const Inventory& inventory, const SpdxSubject& subject) {
  ordered_json doc;
  doc["spdxVersion"] = "SPDX-2.3";
  doc["dataLicense"] = "CC0-1.0";
  doc["SPDXID"] = "SPDXRef-DOCUMENT";
  doc["name"] = subject.name;
  doc["documentNamespace"] =
      absl::StrCat("https://kiln.dev/spdx/", Id(subject.name), "-", subject.digest.hex());
  doc["creationInfo"] = {{"created", subject.created},
                         {"creators", ordered_json::array({"Tool: " + subject.tool})}};
  const std::string image_id = "SPDXRef-Image";
  doc["documentDescribes"] = ordered_json::array({image_id});
  ordered_json packages = ordered_json::array();
  ordered_json image;
  image["name"] = subject.name;
  image["SPDXID"] = image_id;
  image["versionInfo"] = subject.digest.str();
  image["downloadLocation"] = "NOASSERTION";
  image["filesAnalyzed"] = false;
  image["licenseConcluded"] = "NOASSERTION";
  image["licenseDeclared"] = "NOASSERTION";
  image["copyrightText"] = "NOASSERTION";
  image["primaryPackagePurpose"] = "CONTAINER";
  image["checksums"] =
      ordered_json::array({{{"algorithm", "SHA256"}, {"checksumValue", subject.digest.hex()}}});
  packages.push_back(image);
  ordered_json relationships = ordered_json::array();
  relationships.push_back({{"spdxElementId", "SPDXRef-DOCUMENT"},
                           {"relationshipType", "DESCRIBES"},
                           {"relatedSpdxElement", image_id}});
  int n = 0;
  for (const FoundPackage& f : inventory.packages) {
    const Package& p = f.package;
    std::string id = absl::StrCat("SPDXRef-Package-", p.type, "-", Id(p.name), "-", ++n);
    ordered_json j;
    j["name"] = p.name;
    j["SPDXID"] = id;
    j["versionInfo"] = p.version;
    j["downloadLocation"] = "NOASSERTION";
    j["filesAnalyzed"] = false;
    j["licenseConcluded"] = "NOASSERTION";
    j["licenseDeclared"] = p.license.empty() ? "NOASSERTION" : p.license;
    j["copyrightText"] = "NOASSERTION";
    if (!p.source.empty()) j["sourceInfo"] = absl::StrCat("built from source package ", p.source);
    j["externalRefs"] = ordered_json::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                                              {"referenceType", "purl"},
                                              {"referenceLocator", f.purl}}});
    j["annotations"] =
        ordered_json::array({{{"annotationDate", subject.created},
                              {"annotationType", "OTHER"},
                              {"annotator", "Tool: " + subject.tool},
                              {"comment", absl::StrCat("layer ", f.layer.str(), " (", f.layer_index,
                                                       "), ", f.database)}}});
    packages.push_back(std::move(j));
    relationships.push_back({{"spdxElementId", image_id},
                             {"relationshipType", "CONTAINS"},
                             {"relatedSpdxElement", id}});
  }
  doc["packages"] = std::move(packages);
  doc["relationships"] = std::move(relationships);
  return doc;
}

std::string SpdxDocument(const Inventory& inventory, const SpdxSubject& subject) {
  return SpdxJson(inventory, subject).dump(2) + "\n";
}

}  // namespace kiln::trust
