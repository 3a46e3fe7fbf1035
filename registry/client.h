// A client of one registry host speaking the OCI distribution API: ping, manifests, blobs
// (resumable downloads, resumable uploads, cross-repository mounts) and tag listing.
//
// - Endpoint: https, verified against the system CAs plus `<certs_dir>/<host>/ca.crt` (docker's
//   certs.d convention; client.cert/client.key too). Plain http is used only for loopback hosts
//   whose port does not speak TLS, or when TLS verification is switched off by the user; a
//   certificate that does not verify is always an error. `docker.io` is served at
//   registry-1.docker.io.
// - Auth: anonymous, Basic, or Bearer tokens fetched from the realm the registry names, per
//   scope ("repository:a/b:pull,push"), cached until they expire, refreshed on a 401.
// - Retries: by RetryPolicy (registry/retry.h); downloads and uploads resume from the offset
//   reached. Redirects are followed by registry/http's FollowRedirects: credentials go only to
//   the registry itself.
// Thread-safe: several blobs may move at once.
#ifndef KILN_REGISTRY_CLIENT_H_
#define KILN_REGISTRY_CLIENT_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "oci/descriptor.h"
#include "oci/manifest.h"
#include "registry/challenge.h"
#include "registry/credentials.h"
#include "registry/http.h"
#include "registry/retry.h"

namespace kiln::registry {

struct RegistryOptions {
  // False: do not verify certificates, and accept plain http (skopeo's --tls-verify=false).
  bool tls_verify = true;
  // Directories holding `<host[:port]>/ca.crt` (and client.cert/client.key); empty: the
  // defaults /etc/containers/certs.d and /etc/docker/certs.d.
  std::vector<std::string> certs_dirs;
  // Credentials to use instead of the auth file's.
  std::optional<Credential> credential;
  // The auth file; empty: AuthFile::DefaultPath().
  std::string auth_file;
  // When transient failures are retried, and how long kiln waits between attempts.
  RetryPolicy retry;
  // Upload chunk size for PATCH requests; 0 sends the rest of a blob in one request.
  int64_t upload_chunk_size = 0;
  // What sends the requests; unset: an HttpClient (curl). Tests pass a fake registry.
  std::shared_ptr<HttpTransport> transport;
};

// An error a registry reported (its JSON `errors`), or the HTTP status if it sent none.
absl::Status RegistryError(long status, const std::string& body, const std::string& what);

// The host and port that serve `domain` (docker.io -> registry-1.docker.io).
std::string EndpointHost(const std::string& domain);

class Registry {
 public:
  // Pings `domain` (a reference's domain) and learns its scheme and auth challenge.
  static absl::StatusOr<std::shared_ptr<Registry>> Connect(const std::string& domain,
                                                           const RegistryOptions& options);

  const std::string& domain() const { return domain_; }
  const std::string& base_url() const { return base_url_; }

  // A manifest or index by tag or digest ("sha256:..."), verified against the digest asked for
  // or the one the registry reports. Schema 1 manifests are rejected.
  absl::StatusOr<oci::ManifestData> GetManifest(const std::string& repo,
                                                const std::string& reference);
  // Its descriptor, or nullopt if the registry does not have it.
  absl::StatusOr<std::optional<oci::Descriptor>> HeadManifest(const std::string& repo,
                                                              const std::string& reference);
  // Stores a manifest under `reference` (a tag, or its digest).
  // `subject_indexed` (optional) learns whether the registry indexed the manifest's subject
  // for the referrers API (it answered with OCI-Subject, distribution spec 1.1).
  absl::Status PutManifest(const std::string& repo, const std::string& reference,
                           const oci::ManifestData& m, bool* subject_indexed = nullptr);
  // The referrers of `digest` (distribution spec 1.1), of `artifact_type` if not empty;
  // nullopt when the registry has no referrers API (404).
  absl::StatusOr<std::optional<oci::Index>> Referrers(const std::string& repo,
                                                      const oci::Digest& digest,
                                                      const std::string& artifact_type);

  absl::StatusOr<bool> HasBlob(const std::string& repo, const oci::Descriptor& d);
  // A reader of the blob that resumes after a broken transfer (Range requests) and fails with
  // DataLoss at EOF unless size and digest match `d`.
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const std::string& repo,
                                                   const oci::Descriptor& d);
  // The same without the size and digest check, for a consumer that makes it.
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlobUnverified(const std::string& repo,
                                                             const oci::Descriptor& d);
  // Uploads a blob. `open` returns a reader of the blob from its start; it is called again when
  // an upload must resume (the bytes the registry already has are skipped).
  using OpenFn = std::function<absl::StatusOr<std::unique_ptr<Reader>>()>;
  absl::Status PushBlob(const std::string& repo, const oci::Descriptor& d, const OpenFn& open);
  // Asks the registry to link the blob from `from_repo`; false if it would not.
  absl::StatusOr<bool> MountBlob(const std::string& repo, const oci::Descriptor& d,
                                 const std::string& from_repo);
  // Every tag of `repo`, following pagination (`page_size` tags a request).
  absl::StatusOr<std::vector<std::string>> ListTags(const std::string& repo, int page_size = 1000);

  // Checks that the credentials work (a token can be had, or /v2/ accepts them).
  absl::Status CheckLogin();

  // Counters for tests and progress.
  int64_t requests() const { return requests_; }

  Registry(std::string domain, RegistryOptions options);

 private:
  struct Token {
    std::string value;
    absl::Time expires;
  };
  struct Call {
    HttpRequest request;
    std::vector<std::string> scopes;
    // Retried on transient failures only if the body can be sent again (no body_reader).
    bool retry = true;
  };
  absl::Status Ping();
  // Sends without auth, retrying transient statuses (and connection errors if asked).
  absl::StatusOr<std::unique_ptr<HttpResponse>> SendRetrying(const HttpRequest& req,
                                                             bool retry_connection_errors);
  // Sends with the credentials `call.scopes` need, under the retry policy.
  absl::StatusOr<std::unique_ptr<HttpResponse>> Do(Call call);
  // Adopts the challenge of a 401 (a registry may name a new realm or scope).
  void LearnChallenge(const std::string& header);
  absl::StatusOr<std::string> AuthorizationFor(const std::vector<std::string>& scopes,
                                               bool refresh);
  absl::StatusOr<Token> FetchToken(const Challenge& ch, const std::vector<std::string>& scopes);
  absl::StatusOr<Token> ParseToken(const std::string& body) const;
  // The response's Location resolved against the URL that sent it.
  std::string ResolveLocation(const HttpResponse& r) const;
  // Follows redirects; hops to the registry itself keep their credentials.
  absl::StatusOr<std::unique_ptr<HttpResponse>> Redirected(std::unique_ptr<HttpResponse> r,
                                                           const HttpRequest& request);
  absl::StatusOr<std::unique_ptr<HttpResponse>> OpenBlobAt(const std::string& repo,
                                                           const oci::Descriptor& d,
                                                           int64_t offset);

  // A blob upload: a session is started, the blob sent whole (small blobs) or in chunks that
  // resume where the registry's upload status says, and the session finished with
  // `PUT ?digest=`. A session the registry forgot is Aborted.
  absl::StatusOr<std::string> StartUpload(const std::string& repo);
  absl::Status UploadWhole(const std::string& repo, const std::string& location,
                           const oci::Descriptor& d, const OpenFn& open);
  absl::Status UploadChunks(const std::string& repo, std::string location, const oci::Descriptor& d,
                            const OpenFn& open);
  // Sends `n` bytes of `source` at `offset`; the location to send the next one to.
  absl::StatusOr<std::string> SendChunk(const std::string& repo, const std::string& location,
                                        Reader& source, int64_t offset, int64_t n);
  absl::StatusOr<int64_t> UploadOffset(const std::string& repo, const std::string& location);
  absl::Status FinishUpload(const std::string& repo, const std::string& location,
                            const oci::Descriptor& d, std::string body);

  std::string domain_;
  std::string host_;
  RegistryOptions options_;
  TlsOptions tls_;
  std::string base_url_;
  std::shared_ptr<HttpTransport> http_;

  std::mutex mu_;
  std::optional<Challenge> challenge_;
  std::optional<Credential> credential_;
  std::map<std::string, Token> tokens_;
  std::atomic<int64_t> requests_{0};
  friend class BlobReader;
};

// Scope strings for a repository.
std::string PullScope(const std::string& repo);
std::string PushScope(const std::string& repo);

}  // namespace kiln::registry

#endif  // KILN_REGISTRY_CLIENT_H_
