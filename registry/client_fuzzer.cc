// Fuzz target: the registry client against a registry whose answers are the input. The input
// is split at NUL bytes into: the token service's body, a manifest, a tag page, a blob, a
// header value (upload Location, tag Link, Content-Range). Every call must end with a status,
// never a crash, a hang or an unbounded allocation.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/io.h"
#include "oci/digest.h"
#include "registry/client.h"
#include "registry/http.h"

namespace {

using kiln::registry::BufferedResponse;
using kiln::registry::HttpRequest;
using kiln::registry::HttpResponse;

class FuzzedRegistry : public kiln::registry::HttpTransport {
 public:
  explicit FuzzedRegistry(std::vector<std::string> parts) : parts_(std::move(parts)) {
    parts_.resize(5);
  }
  absl::StatusOr<std::unique_ptr<HttpResponse>> Send(const HttpRequest& r) override {
    if (++requests_ > 200) return absl::UnavailableError("enough");
    if (r.body_reader != nullptr) (void)kiln::ReadAllFrom(*r.body_reader, 1 << 20);
    const std::string& url = r.url;
    const std::string& header = parts_[4];
    auto reply = [&](long status, kiln::registry::Headers h, std::string body) {
      return std::unique_ptr<HttpResponse>(
          new BufferedResponse(status, url, std::move(h), std::move(body)));
    };
    if (absl::StartsWith(url, "https://auth.test/")) return reply(200, {}, parts_[0]);
    if (absl::EndsWith(url, "/v2/")) {
      return reply(401, {{"www-authenticate", "Bearer realm=\"https://auth.test/t\""}}, "");
    }
    if (absl::StrContains(url, "/manifests/")) {
      return reply(200,
                   {{"content-type", "application/vnd.oci.image.manifest.v1+json"},
                    {"docker-content-digest", header},
                    {"content-length", header}},
                   r.method == "HEAD" ? "" : parts_[1]);
    }
    if (absl::StrContains(url, "/tags/list")) {
      return reply(200, {{"link", absl::StrCat("<", header, ">; rel=\"next\"")}}, parts_[2]);
    }
    if (absl::StrContains(url, "/blobs/uploads/")) {
      if (r.method == "POST") return reply(202, {{"location", header}}, "");
      if (r.method == "GET") return reply(204, {{"range", header}}, "");
      if (r.method == "PATCH") return reply(requests_ % 3 ? 202 : 503, {{"location", header}}, "");
      return reply(requests_ % 2 ? 201 : 400, {}, parts_[0]);
    }
    if (absl::StrContains(url, "/blobs/")) {
      bool ranged = false;
      for (const auto& [k, v] : r.headers) ranged |= k == "Range";
      if (ranged) return reply(206, {{"content-range", header}}, parts_[3]);
      return reply(200, {}, parts_[3].substr(0, parts_[3].size() / 2));
    }
    return reply(404, {}, parts_[0]);
  }

 private:
  std::vector<std::string> parts_;
  int requests_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 20)) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts = absl::StrSplit(text, absl::ByChar('\0'));
  kiln::registry::RegistryOptions o;
  o.transport = std::make_shared<FuzzedRegistry>(parts);
  o.credential = kiln::registry::Credential{"u", "p", ""};
  o.retry.max_attempts = 2;
  o.retry.sleep = [](absl::Duration) {};
  o.upload_chunk_size = parts.size() % 2 ? 7 : 0;
  auto reg = kiln::registry::Registry::Connect("reg.test", o);
  if (!reg.ok()) return 0;
  (void)(*reg)->GetManifest("lib/app", "v1");
  (void)(*reg)->HeadManifest("lib/app", "v1");
  (void)(*reg)->ListTags("lib/app", 2);
  std::string blob = parts.size() > 3 ? parts[3] : "";
  kiln::oci::Descriptor d;
  d.digest = kiln::oci::Digest::Of(blob);
  d.size = static_cast<int64_t>(blob.size());
  if (auto r = (*reg)->OpenBlob("lib/app", d); r.ok()) (void)kiln::ReadAllFrom(**r, 1 << 20);
  (void)(*reg)->PushBlob("lib/app", d, [&]() -> absl::StatusOr<std::unique_ptr<kiln::Reader>> {
    return std::unique_ptr<kiln::Reader>(new kiln::StringReader(blob));
  });
  (void)(*reg)->MountBlob("lib/app", d, "lib/other");
  return 0;
}
