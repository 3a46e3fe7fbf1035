#include "registry/client.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "oci/json_util.h"
#include "oci/media_types.h"
#include "oci/verifying_reader.h"
#include "registry/retry.h"

namespace kiln::registry {
namespace {

constexpr size_t kMaxErrorBody = 64 << 10;
constexpr size_t kMaxTokenBody = 1 << 20;
constexpr size_t kMaxTagPage = 4 << 20;
constexpr size_t kMaxTags = 100000;
constexpr int kMaxTagPages = 1000;
constexpr int kMaxRedirects = 5;
// Upload sessions started again when a registry forgets one.
constexpr int kMaxUploadRestarts = 3;
// Blobs up to this size are uploaded in one PUT (POST, then PUT with the body).
constexpr int64_t kMonolithicMax = 4 << 20;

const char* const kManifestAccept =
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

// "host:port" -> "host"; "[::1]:5000" -> "::1".
std::string HostOnly(absl::string_view hostport) {
  if (absl::StartsWith(hostport, "[")) {
    size_t end = hostport.find(']');
    return std::string(hostport.substr(1, end == absl::string_view::npos ? end : end - 1));
  }
  size_t colon = hostport.rfind(':');
  if (colon != absl::string_view::npos && hostport.find(':') == colon) {
    return std::string(hostport.substr(0, colon));
  }
  return std::string(hostport);
}

bool IsLoopback(absl::string_view hostport) {
  std::string h = HostOnly(hostport);
  return h == "localhost" || absl::StartsWith(h, "127.") || h == "::1";
}

// The first challenge kiln can answer (Bearer or Basic).
std::optional<Challenge> SupportedChallenge(const std::vector<Challenge>& chs) {
  for (const Challenge& c : chs) {
    if (c.scheme == "bearer" || c.scheme == "basic") return c;
  }
  return std::nullopt;
}

std::string UrlHostPort(absl::string_view url) {
  std::string origin = UrlOrigin(url);
  size_t p = origin.find("://");
  return p == std::string::npos ? "" : origin.substr(p + 3);
}

std::string MediaTypeOf(const std::string& content_type) {
  return std::string(absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';'))));
}

// Reads at most `limit` bytes of another reader.
class LimitedReader : public Reader {
 public:
  LimitedReader(Reader& in, int64_t limit) : in_(in), left_(limit) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (left_ <= 0) return 0;
    ASSIGN_OR_RETURN(size_t got, in_.Read(buf, std::min<int64_t>(n, left_)));
    left_ -= got;
    return got;
  }

 private:
  Reader& in_;
  int64_t left_;
};

absl::Status Skip(Reader& in, int64_t n) {
  char buf[64 << 10];
  while (n > 0) {
    ASSIGN_OR_RETURN(size_t got, in.Read(buf, std::min<int64_t>(n, sizeof buf)));
    if (got == 0) return absl::DataLossError("blob ended before the resume offset");
    n -= got;
  }
  return absl::OkStatus();
}

std::string Manifests(const std::string& base, const std::string& repo, const std::string& ref) {
  return absl::StrCat(base, "/v2/", repo, "/manifests/", ref);
}
std::string Blobs(const std::string& base, const std::string& repo, const oci::Digest& d) {
  return absl::StrCat(base, "/v2/", repo, "/blobs/", d.str());
}

TlsOptions TlsFor(const std::string& hostport, const RegistryOptions& options) {
  TlsOptions tls;
  tls.verify = options.tls_verify;
  std::vector<std::string> dirs = options.certs_dirs;
  if (dirs.empty()) dirs = {"/etc/containers/certs.d", "/etc/docker/certs.d"};
  for (const std::string& dir : dirs) {
    std::string d = absl::StrCat(dir, "/", hostport);
    if (tls.ca_file.empty() && access((d + "/ca.crt").c_str(), R_OK) == 0) {
      tls.ca_file = d + "/ca.crt";
    }
    if (tls.cert_file.empty() && access((d + "/client.cert").c_str(), R_OK) == 0 &&
        access((d + "/client.key").c_str(), R_OK) == 0) {
      tls.cert_file = d + "/client.cert";
      tls.key_file = d + "/client.key";
    }
  }
  return tls;
}

}  // namespace

std::string PullScope(const std::string& repo) {
  return absl::StrCat("repository:", repo, ":pull");
}
std::string PushScope(const std::string& repo) {
  return absl::StrCat("repository:", repo, ":pull,push");
}

std::string EndpointHost(const std::string& domain) {
  return domain == "docker.io" || domain == "index.docker.io" ? "registry-1.docker.io" : domain;
}

absl::Status RegistryError(long status, const std::string& body, const std::string& what) {
  std::string detail;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array()) {
    for (const auto& e : j["errors"]) {
      if (!e.is_object()) continue;
      std::string code =
          e.contains("code") && e["code"].is_string() ? e["code"].get<std::string>() : "";
      std::string msg =
          e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
      absl::StrAppend(&detail, detail.empty() ? "" : "; ", code, code.empty() ? "" : ": ", msg);
      if (detail.size() > 1000) break;
    }
  }
  if (detail.empty()) {
    std::string text(absl::StripAsciiWhitespace(body.substr(0, 200)));
    bool printable = std::all_of(text.begin(), text.end(), [](char c) {
      return absl::ascii_isprint(static_cast<unsigned char>(c));
    });
    if (printable) detail = text;
  }
  std::string message = absl::StrCat(what, ": HTTP ", status, detail.empty() ? "" : " ", detail);
  switch (status) {
    case 400:
      return absl::InvalidArgumentError(message);
    case 401:
      return absl::UnauthenticatedError(message);
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    default:
      if (IsTransientStatus(status)) return absl::UnavailableError(message);
      return absl::UnknownError(message);
  }
}

Registry::Registry(std::string domain, RegistryOptions options)
    : domain_(std::move(domain)), host_(EndpointHost(domain_)), options_(std::move(options)) {
  tls_ = TlsFor(host_, options_);
  http_ = options_.transport != nullptr ? options_.transport : std::make_shared<HttpClient>();
}

absl::StatusOr<std::shared_ptr<Registry>> Registry::Connect(const std::string& domain,
                                                            const RegistryOptions& options) {
  auto r = std::make_shared<Registry>(domain, options);
  if (options.credential.has_value()) {
    r->credential_ = options.credential;
  } else {
    ASSIGN_OR_RETURN(AuthFile file, AuthFile::Load(options.auth_file));
    ASSIGN_OR_RETURN(Credential c, file.Lookup(domain));
    if (!c.empty()) r->credential_ = c;
  }
  RETURN_IF_ERROR(r->Ping());
  return r;
}

absl::StatusOr<std::unique_ptr<HttpResponse>> Registry::SendRetrying(const HttpRequest& req,
                                                                     bool retry_connection_errors) {
  return options_.retry.Send(
      [&] {
        ++requests_;
        return http_->Send(req);
      },
      retry_connection_errors);
}

absl::Status Registry::Ping() {
  const bool plain_ok = !options_.tls_verify || IsLoopback(host_);
  absl::Status first_error;
  for (const char* scheme : {"https://", "http://"}) {
    if (std::string(scheme) == "http://" && !plain_ok) break;
    std::string base = absl::StrCat(scheme, host_);
    HttpRequest req;
    req.url = base + "/v2/";
    req.tls = tls_;
    // A port that does not speak TLS fails at once: that is no reason to wait and retry.
    absl::StatusOr<std::unique_ptr<HttpResponse>> r =
        SendRetrying(req, /*retry_connection_errors=*/false);
    if (!r.ok()) {
      if (first_error.ok()) first_error = r.status();
      continue;
    }
    long status = (*r)->status();
    if (status == 200 || status == 401) {
      base_url_ = base;
      if (status == 401) {
        std::string header = (*r)->Header("www-authenticate");
        if (header.empty()) {
          return absl::PermissionDeniedError(
              absl::StrCat(domain_, " answered 401 without a WWW-Authenticate challenge"));
        }
        ASSIGN_OR_RETURN_CTX(std::vector<Challenge> chs, ParseChallenges(header), domain_);
        challenge_ = SupportedChallenge(chs);
        if (!challenge_) {
          return absl::UnimplementedError(absl::StrCat(domain_, " asks for auth scheme \"",
                                                       chs[0].scheme, "\", which kiln lacks"));
        }
      }
      return absl::OkStatus();
    }
    std::string body = (*r)->ReadBody(kMaxErrorBody).value_or("");
    absl::Status s = RegistryError(status, body, absl::StrCat(req.url, " is not a registry API"));
    if (first_error.ok()) first_error = s;
  }
  return Annotate(first_error, absl::StrCat("cannot reach registry ", domain_));
}

namespace {

// The token request for `scopes`: GET with Basic credentials (or none), or the OAuth2
// refresh-token POST when the credential is an identity token.
HttpRequest TokenRequest(const std::string& realm, const std::string& service,
                         const Credential& cred, const std::vector<std::string>& scopes) {
  HttpRequest req;
  if (!cred.identity_token.empty()) {
    req.method = "POST";
    req.url = realm;
    std::string form = absl::StrCat("grant_type=refresh_token&client_id=kiln&refresh_token=",
                                    UrlEncode(cred.identity_token));
    if (!service.empty()) absl::StrAppend(&form, "&service=", UrlEncode(service));
    if (!scopes.empty()) absl::StrAppend(&form, "&scope=", UrlEncode(absl::StrJoin(scopes, " ")));
    req.body = form;
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    return req;
  }
  std::string url = realm;
  char sep = realm.find('?') == std::string::npos ? '?' : '&';
  if (!service.empty()) {
    absl::StrAppend(&url, std::string(1, sep), "service=", UrlEncode(service));
    sep = '&';
  }
  for (const std::string& s : scopes) {
    absl::StrAppend(&url, std::string(1, sep), "scope=", UrlEncode(s));
    sep = '&';
  }
  req.url = url;
  if (!cred.username.empty()) {
    req.headers.emplace_back(
        "Authorization", absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(cred.username, ":",
                                                                                cred.password))));
  }
  return req;
}

}  // namespace

absl::StatusOr<Registry::Token> Registry::FetchToken(const Challenge& ch,
                                                     const std::vector<std::string>& scopes) {
  std::string realm = ch.Param("realm");
  if (!absl::StartsWith(realm, "https://") && !absl::StartsWith(realm, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(domain_, " names an invalid token realm \"", realm, "\""));
  }
  if (absl::StartsWith(realm, "http://") && options_.tls_verify &&
      !IsLoopback(UrlHostPort(realm))) {
    return absl::FailedPreconditionError(absl::StrCat(domain_, " names a plain-http token realm ",
                                                      realm, " (use --tls-verify=false to allow)"));
  }
  HttpRequest req =
      TokenRequest(realm, ch.Param("service"), credential_.value_or(Credential{}), scopes);
  req.tls = TlsFor(UrlHostPort(realm), options_);
  absl::StatusOr<std::unique_ptr<HttpResponse>> r =
      SendRetrying(req, /*retry_connection_errors=*/true);
  if (!r.ok()) return Annotate(r.status(), absl::StrCat("fetching a token from ", realm));
  ASSIGN_OR_RETURN(std::string body, (*r)->ReadBody(kMaxTokenBody));
  if ((*r)->status() != 200) {
    absl::Status s =
        RegistryError((*r)->status(), body, absl::StrCat("authentication to ", domain_, " failed"));
    if ((*r)->status() == 401 || (*r)->status() == 403) {
      return absl::PermissionDeniedError(s.message());
    }
    return s;
  }
  return ParseToken(body);
}

// {"token": …} or {"access_token": …}, with "expires_in" seconds (default 60, at most a day).
absl::StatusOr<Registry::Token> Registry::ParseToken(const std::string& body) const {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  Token t;
  if (j.is_object()) {
    for (const char* key : {"token", "access_token"}) {
      if (j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty()) {
        t.value = j[key];
        break;
      }
    }
  }
  if (t.value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the token service of ", domain_, " sent no token"));
  }
  int64_t expires_in = 60;
  if (j.contains("expires_in") && j["expires_in"].is_number_integer()) {
    expires_in = std::clamp<int64_t>(j["expires_in"].get<int64_t>(), 0, 86400);
  }
  t.expires = absl::Now() + absl::Seconds(expires_in);
  return t;
}

absl::StatusOr<std::string> Registry::AuthorizationFor(const std::vector<std::string>& scopes,
                                                       bool refresh) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!challenge_) return std::string();
  if (challenge_->scheme == "basic") {
    if (!credential_ || credential_->username.empty()) {
      return absl::PermissionDeniedError(
          absl::StrCat(domain_, " requires a user name and password (kiln login ", domain_, ")"));
    }
    return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(credential_->username, ":",
                                                                  credential_->password)));
  }
  std::string key = absl::StrJoin(scopes, " ");
  auto it = tokens_.find(key);
  if (!refresh && it != tokens_.end() && it->second.expires > absl::Now() + absl::Seconds(5)) {
    return absl::StrCat("Bearer ", it->second.value);
  }
  ASSIGN_OR_RETURN(Token t, FetchToken(*challenge_, scopes));
  tokens_[key] = t;
  return absl::StrCat("Bearer ", t.value);
}

void Registry::LearnChallenge(const std::string& header) {
  if (header.empty()) return;
  absl::StatusOr<std::vector<Challenge>> chs = ParseChallenges(header);
  std::optional<Challenge> ch = chs.ok() ? SupportedChallenge(*chs) : std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  if (ch) challenge_ = std::move(ch);
}

absl::StatusOr<std::unique_ptr<HttpResponse>> Registry::Do(Call call) {
  // A 401 to a request that carried credentials asks once for a fresh token (it may have
  // expired, or the registry may name another scope in its challenge).
  for (bool refreshed = false;; refreshed = true) {
    ASSIGN_OR_RETURN(std::string auth, AuthorizationFor(call.scopes, refreshed));
    HttpRequest req = call.request;
    req.tls = tls_;
    if (!auth.empty() && UrlOrigin(req.url) == base_url_) {
      req.headers.emplace_back("Authorization", auth);
    }
    auto send = [&] {
      ++requests_;
      return http_->Send(req);
    };
    absl::StatusOr<std::unique_ptr<HttpResponse>> r =
        call.retry ? options_.retry.Send(send, /*retry_connection_errors=*/true) : send();
    if (!r.ok()) return Annotate(r.status(), absl::StrCat(req.method, " ", req.url));
    if ((*r)->status() != 401 || refreshed || !call.retry) return r;
    LearnChallenge((*r)->Header("www-authenticate"));
  }
}

std::string Registry::ResolveLocation(const HttpResponse& r) const {
  return ResolveUrl(r.url().empty() ? base_url_ + "/v2/" : r.url(), r.Header("location"));
}

absl::StatusOr<oci::ManifestData> Registry::GetManifest(const std::string& repo,
                                                        const std::string& reference) {
  Call call;
  call.request.url = Manifests(base_url_, repo, reference);
  call.request.headers.emplace_back("Accept", kManifestAccept);
  call.scopes = {PullScope(repo)};
  std::string what = absl::StrCat("manifest ", domain_, "/", repo, ":", reference);
  ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
  ASSIGN_OR_RETURN_CTX(std::string body, r->ReadBody(oci::kMaxManifestSize), what);
  if (r->status() != 200) return RegistryError(r->status(), body, what);
  std::string type = MediaTypeOf(r->Header("content-type"));
  if (type == oci::kDockerSchema1 || type == oci::kDockerSchema1Signed ||
      absl::StrContains(body.substr(0, 200), "\"schemaVersion\": 1") ||
      absl::StrContains(body.substr(0, 200), "\"schemaVersion\":1")) {
    return absl::FailedPreconditionError(absl::StrCat(
        what,
        " is a Docker schema 1 manifest, which kiln does not support (deprecated since "
        "2017; push the image again with a current tool)"));
  }
  ASSIGN_OR_RETURN_CTX(oci::ManifestData m, oci::ManifestData::FromBytes(std::move(body)), what);
  if (absl::StartsWith(reference, "sha256:") || absl::StartsWith(reference, "sha512:")) {
    if (m.digest.str() != reference) {
      return absl::DataLossError(
          absl::StrCat(what, ": the registry sent content with digest ", m.digest.str()));
    }
  } else if (std::string header = r->Header("docker-content-digest");
             absl::StartsWith(header, "sha256:") && header != m.digest.str()) {
    return absl::DataLossError(absl::StrCat(what, ": content digest ", m.digest.str(),
                                            " differs from Docker-Content-Digest ", header));
  }
  return m;
}

absl::StatusOr<std::optional<oci::Descriptor>> Registry::HeadManifest(
    const std::string& repo, const std::string& reference) {
  Call call;
  call.request.method = "HEAD";
  call.request.url = Manifests(base_url_, repo, reference);
  call.request.headers.emplace_back("Accept", kManifestAccept);
  call.scopes = {PullScope(repo)};
  ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
  if (r->status() == 404) return std::optional<oci::Descriptor>();
  if (r->status() != 200) {
    return RegistryError(r->status(), "", absl::StrCat("manifest ", repo, ":", reference));
  }
  absl::StatusOr<oci::Digest> digest = oci::Digest::Parse(r->Header("docker-content-digest"));
  int64_t size = -1;
  if (!digest.ok() || !absl::SimpleAtoi(r->Header("content-length"), &size)) {
    ASSIGN_OR_RETURN(oci::ManifestData m, GetManifest(repo, reference));
    return std::optional<oci::Descriptor>(m.ToDescriptor());
  }
  oci::Descriptor d;
  d.media_type = MediaTypeOf(r->Header("content-type"));
  d.digest = *digest;
  d.size = size;
  return std::optional<oci::Descriptor>(d);
}

absl::Status Registry::PutManifest(const std::string& repo, const std::string& reference,
                                   const oci::ManifestData& m, bool* subject_indexed) {
  Call call;
  call.request.method = "PUT";
  call.request.url = Manifests(base_url_, repo, reference);
  call.request.headers.emplace_back("Content-Type", m.media_type);
  call.request.body = m.bytes;
  call.scopes = {PushScope(repo)};
  std::string what = absl::StrCat("pushing manifest ", domain_, "/", repo, ":", reference);
  ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
  std::string body = r->ReadBody(kMaxErrorBody).value_or("");
  if (r->status() != 201 && r->status() != 200) return RegistryError(r->status(), body, what);
  std::string header = r->Header("docker-content-digest");
  if (!header.empty() && header != m.digest.str()) {
    return absl::DataLossError(
        absl::StrCat(what, ": the registry stored digest ", header, ", expected ", m.digest.str()));
  }
  if (subject_indexed != nullptr) *subject_indexed = !r->Header("oci-subject").empty();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<oci::Index>> Registry::Referrers(const std::string& repo,
                                                              const oci::Digest& digest,
                                                              const std::string& artifact_type) {
  Call call;
  call.request.url = absl::StrCat(base_url_, "/v2/", repo, "/referrers/", digest.str());
  if (!artifact_type.empty()) {
    absl::StrAppend(&call.request.url, "?artifactType=", UrlEncode(artifact_type));
  }
  call.request.headers.emplace_back("Accept", oci::kOciIndex);
  call.scopes = {PullScope(repo)};
  std::string what = absl::StrCat("referrers of ", domain_, "/", repo, "@", digest.str());
  ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
  ASSIGN_OR_RETURN_CTX(std::string body, r->ReadBody(oci::kMaxManifestSize), what);
  if (r->status() == 404) return std::optional<oci::Index>();
  if (r->status() != 200) return RegistryError(r->status(), body, what);
  ASSIGN_OR_RETURN_CTX(oci::Index index, oci::Index::Parse(body), what);
  return std::optional<oci::Index>(std::move(index));
}

absl::StatusOr<bool> Registry::HasBlob(const std::string& repo, const oci::Descriptor& d) {
  Call call;
  call.request.method = "HEAD";
  call.request.url = Blobs(base_url_, repo, d.digest);
  call.scopes = {PullScope(repo)};
  ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
  if (r->status() == 200 || IsRedirect(r->status())) return true;
  if (r->status() == 404) return false;
  return RegistryError(r->status(), "", absl::StrCat("blob ", d.digest.str()));
}

absl::StatusOr<std::unique_ptr<HttpResponse>> Registry::Redirected(std::unique_ptr<HttpResponse> r,
                                                                   const HttpRequest& request) {
  return FollowRedirects(
      std::move(r), request, kMaxRedirects,
      [this](const HttpRequest& hop) -> absl::StatusOr<std::unique_ptr<HttpResponse>> {
        if (UrlOrigin(hop.url) == base_url_) {
          Call call;
          call.request = hop;
          return Do(std::move(call));
        }
        HttpRequest next = hop;
        next.tls = TlsFor(UrlHostPort(hop.url), options_);
        ++requests_;
        return http_->Send(next);
      });
}

absl::StatusOr<std::unique_ptr<HttpResponse>> Registry::OpenBlobAt(const std::string& repo,
                                                                   const oci::Descriptor& d,
                                                                   int64_t offset) {
  Call call;
  call.request.url = Blobs(base_url_, repo, d.digest);
  if (offset > 0) call.request.headers.emplace_back("Range", absl::StrCat("bytes=", offset, "-"));
  call.scopes = {PullScope(repo)};
  HttpRequest plain = call.request;
  ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
  ASSIGN_OR_RETURN(r, Redirected(std::move(r), plain));
  if (r->status() == 200 || (r->status() == 206 && offset > 0)) return r;
  std::string body = r->ReadBody(kMaxErrorBody).value_or("");
  return RegistryError(r->status(), body, absl::StrCat("blob ", d.digest.str()));
}

// Reads a blob, reopening it at the offset reached when the transfer breaks.
class BlobReader : public Reader {
 public:
  BlobReader(Registry* reg, std::string repo, oci::Descriptor d)
      : reg_(reg), repo_(std::move(repo)), d_(std::move(d)), budget_(reg->options_.retry) {}

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    while (true) {
      if (resp_ == nullptr) {
        absl::Status s = Open();
        if (!s.ok()) {
          if (!Retry(s)) return s;
          continue;
        }
      }
      absl::StatusOr<size_t> got = resp_->Read(buf, n);
      if (!got.ok()) {
        resp_.reset();
        if (!Retry(got.status())) return got.status();
        continue;
      }
      if (*got == 0 && d_.size >= 0 && offset_ < d_.size) {
        resp_.reset();
        absl::Status s = absl::UnavailableError(
            absl::StrCat("connection closed after ", offset_, " of ", d_.size, " bytes"));
        if (!Retry(s)) return s;
        continue;
      }
      offset_ += *got;
      return *got;
    }
  }

 private:
  absl::Status Open() {
    ASSIGN_OR_RETURN(resp_, reg_->OpenBlobAt(repo_, d_, offset_));
    if (offset_ > 0 && resp_->status() == 200) {
      // The server ignored the Range: skip what we have.
      RETURN_IF_ERROR(Skip(*resp_, offset_));
    } else if (offset_ > 0) {
      std::string range = resp_->Header("content-range");
      int64_t start = -1;
      absl::string_view rv = range;
      if (absl::ConsumePrefix(&rv, "bytes ")) {
        (void)absl::SimpleAtoi(rv.substr(0, rv.find('-')), &start);
      }
      if (start != offset_) {
        return absl::DataLossError(absl::StrCat("the registry resumed blob ", d_.digest.str(),
                                                " at \"", range, "\", asked for offset ", offset_));
      }
    }
    return absl::OkStatus();
  }

  bool Retry(const absl::Status& s) { return budget_.Again(s); }

  Registry* reg_;
  std::string repo_;
  oci::Descriptor d_;
  std::unique_ptr<HttpResponse> resp_;
  int64_t offset_ = 0;
  RetryBudget budget_;
};

absl::StatusOr<std::unique_ptr<Reader>> Registry::OpenBlob(const std::string& repo,
                                                           const oci::Descriptor& d) {
  auto reader = std::make_unique<BlobReader>(this, repo, d);
  return oci::NewVerifyingReader(
      std::move(reader), d.digest, d.size,
      absl::StrCat("blob ", d.digest.str(), " from ", domain_, "/", repo));
}

absl::StatusOr<std::unique_ptr<Reader>> Registry::OpenBlobUnverified(const std::string& repo,
                                                                     const oci::Descriptor& d) {
  return std::unique_ptr<Reader>(new BlobReader(this, repo, d));
}

absl::StatusOr<int64_t> Registry::UploadOffset(const std::string& repo,
                                               const std::string& location) {
  Call call;
  call.request.url = location;
  call.scopes = {PushScope(repo)};
  ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
  if (r->status() == 404) return absl::AbortedError("the registry forgot the upload session");
  if (r->status() != 204 && r->status() != 200) {
    return RegistryError(r->status(), r->ReadBody(kMaxErrorBody).value_or(""), "upload status");
  }
  std::string range = r->Header("range");
  if (range.empty()) return 0;
  absl::string_view rv = range;
  absl::ConsumePrefix(&rv, "bytes=");
  int64_t end = -1;
  size_t dash = rv.find('-');
  if (dash == absl::string_view::npos || !absl::SimpleAtoi(rv.substr(dash + 1), &end)) {
    return absl::InvalidArgumentError(absl::StrCat("bad upload Range \"", range, "\""));
  }
  // Registries report an empty upload as "0-0" (as they do one of a single byte); resuming
  // at 0 is the reading that cannot skip a byte.
  if (end == 0) return 0;
  return end + 1;
}

absl::StatusOr<std::string> Registry::StartUpload(const std::string& repo) {
  Call start;
  start.request.method = "POST";
  start.request.url = absl::StrCat(base_url_, "/v2/", repo, "/blobs/uploads/");
  start.scopes = {PushScope(repo)};
  ASSIGN_OR_RETURN(auto r, Do(std::move(start)));
  if (r->status() != 202) {
    return RegistryError(r->status(), r->ReadBody(kMaxErrorBody).value_or(""),
                         "starting an upload");
  }
  if (r->Header("location").empty()) return absl::UnknownError("no upload location");
  return ResolveLocation(*r);
}

absl::Status Registry::UploadWhole(const std::string& repo, const std::string& location,
                                   const oci::Descriptor& d, const OpenFn& open) {
  ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, open());
  ASSIGN_OR_RETURN(std::string body, ReadAllFrom(*reader, kMonolithicMax));
  if (static_cast<int64_t>(body.size()) != d.size) {
    return absl::DataLossError(
        absl::StrCat("the source has ", body.size(), " bytes, the descriptor says ", d.size));
  }
  return FinishUpload(repo, location, d, std::move(body));
}

absl::StatusOr<std::string> Registry::SendChunk(const std::string& repo,
                                                const std::string& location, Reader& source,
                                                int64_t offset, int64_t n) {
  LimitedReader chunk(source, n);
  Call patch;
  patch.request.method = "PATCH";
  patch.request.url = location;
  patch.request.headers.emplace_back("Content-Type", "application/octet-stream");
  patch.request.headers.emplace_back("Content-Range", absl::StrCat(offset, "-", offset + n - 1));
  patch.request.body_reader = &chunk;
  patch.request.body_size = n;
  patch.scopes = {PushScope(repo)};
  patch.retry = false;  // the body cannot be sent again: the caller resumes instead
  ASSIGN_OR_RETURN(auto r, Do(std::move(patch)));
  if (r->status() != 202) {
    return RegistryError(r->status(), r->ReadBody(kMaxErrorBody).value_or(""), "sending a chunk");
  }
  return r->Header("location").empty() ? location : ResolveLocation(*r);
}

absl::Status Registry::UploadChunks(const std::string& repo, std::string location,
                                    const oci::Descriptor& d, const OpenFn& open) {
  RetryBudget budget(options_.retry);
  int64_t offset = 0;
  std::unique_ptr<Reader> reader;
  while (true) {
    if (reader == nullptr) {
      ASSIGN_OR_RETURN(reader, open());
      RETURN_IF_ERROR(Skip(*reader, offset));
    }
    if (offset >= d.size) break;
    int64_t n = d.size - offset;
    if (options_.upload_chunk_size > 0) n = std::min(n, options_.upload_chunk_size);
    absl::StatusOr<std::string> next = SendChunk(repo, location, *reader, offset, n);
    if (next.ok()) {
      offset += n;
      location = *next;
      continue;
    }
    if (!budget.Again(next.status())) return next.status();
    // Resume from what the registry has (the source is read again from there).
    reader.reset();
    ASSIGN_OR_RETURN(offset, UploadOffset(repo, location));
    if (offset > d.size) return absl::DataLossError("the registry has more bytes than the blob");
  }
  // The source must end where the descriptor says (the registry checks the digest).
  char probe[1];
  ASSIGN_OR_RETURN(size_t extra, reader->Read(probe, 1));
  if (extra != 0) return absl::DataLossError("the blob is longer than its descriptor");
  return FinishUpload(repo, location, d, "");
}

absl::Status Registry::PushBlob(const std::string& repo, const oci::Descriptor& d,
                                const OpenFn& open) {
  const std::string what =
      absl::StrCat("uploading blob ", d.digest.str(), " to ", domain_, "/", repo);
  // Small blobs go in one PUT whose body can be sent again on a retry; larger ones in PATCH
  // chunks that resume where the registry's upload status says. A session the registry
  // forgets (Aborted) is started again.
  const bool whole = d.size <= kMonolithicMax && options_.upload_chunk_size == 0;
  for (int restart = 0;; ++restart) {
    ASSIGN_OR_RETURN_CTX(std::string location, StartUpload(repo), what);
    absl::Status s =
        whole ? UploadWhole(repo, location, d, open) : UploadChunks(repo, location, d, open);
    if (absl::IsAborted(s) && restart < kMaxUploadRestarts) continue;
    return Annotate(s, what);
  }
}

absl::Status Registry::FinishUpload(const std::string& repo, const std::string& location,
                                    const oci::Descriptor& d, std::string body) {
  Call put;
  put.request.method = "PUT";
  put.request.url = absl::StrCat(location, location.find('?') == std::string::npos ? "?" : "&",
                                 "digest=", UrlEncode(d.digest.str()));
  put.request.body = std::move(body);
  put.request.headers.emplace_back("Content-Type", "application/octet-stream");
  put.scopes = {PushScope(repo)};
  ASSIGN_OR_RETURN(auto r, Do(std::move(put)));
  if (r->status() == 201 || r->status() == 204 || r->status() == 200) return absl::OkStatus();
  std::string err = r->ReadBody(kMaxErrorBody).value_or("");
  if (absl::StrContains(err, "DIGEST_INVALID")) {
    return absl::DataLossError(
        absl::StrCat("digest mismatch: the registry found the uploaded bytes do not match ",
                     d.digest.str(), " (is the source damaged?)"));
  }
  if (r->status() == 404 && absl::StrContains(err, "BLOB_UPLOAD_UNKNOWN")) {
    return absl::AbortedError("the registry forgot the upload session");
  }
  return RegistryError(r->status(), err, "finishing the upload");
}

absl::StatusOr<bool> Registry::MountBlob(const std::string& repo, const oci::Descriptor& d,
                                         const std::string& from_repo) {
  Call call;
  call.request.method = "POST";
  call.request.url =
      absl::StrCat(base_url_, "/v2/", repo, "/blobs/uploads/?mount=", UrlEncode(d.digest.str()),
                   "&from=", UrlEncode(from_repo));
  call.scopes = {PushScope(repo), PullScope(from_repo)};
  ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
  if (r->status() == 201) return true;
  if (r->status() == 202) {
    // The registry opened an ordinary upload instead; cancel it.
    std::string location = r->Header("location").empty() ? "" : ResolveLocation(*r);
    r.reset();
    if (!location.empty()) {
      Call cancel;
      cancel.request.method = "DELETE";
      cancel.request.url = location;
      cancel.scopes = {PushScope(repo)};
      (void)Do(std::move(cancel));
    }
  }
  return false;
}

absl::StatusOr<std::vector<std::string>> Registry::ListTags(const std::string& repo,
                                                            int page_size) {
  std::vector<std::string> tags;
  std::string url = absl::StrCat(base_url_, "/v2/", repo, "/tags/list?n=", page_size);
  for (int page = 0; !url.empty(); ++page) {
    // A registry that sends empty pages each naming another must not keep kiln forever.
    if (page >= kMaxTagPages) {
      return absl::ResourceExhaustedError(
          absl::StrCat("tags of ", domain_, "/", repo, ": more than ", kMaxTagPages, " pages"));
    }
    Call call;
    call.request.url = url;
    call.scopes = {PullScope(repo)};
    std::string what = absl::StrCat("tags of ", domain_, "/", repo);
    ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
    ASSIGN_OR_RETURN_CTX(std::string body, r->ReadBody(kMaxTagPage), what);
    if (r->status() != 200) return RegistryError(r->status(), body, what);
    nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return absl::InvalidArgumentError(what + ": not a JSON object");
    if (j.contains("tags") && j["tags"].is_array()) {
      for (const auto& t : j["tags"]) {
        if (t.is_string()) tags.push_back(t);
      }
    }
    if (tags.size() > kMaxTags) return absl::ResourceExhaustedError(what + ": too many tags");
    const std::string page_url = url;
    url.clear();
    // Link: </v2/x/tags/list?last=a&n=1000>; rel="next"
    for (const std::string& link : r->HeaderValues("link")) {
      if (!absl::StrContains(link, "rel=\"next\"")) continue;
      size_t lt = link.find('<'), gt = link.find('>');
      if (lt == std::string::npos || gt == std::string::npos || gt < lt) continue;
      url = ResolveUrl(page_url, link.substr(lt + 1, gt - lt - 1));
      if (UrlOrigin(url) != base_url_) url.clear();  // never follow pagination off the registry
    }
  }
  return tags;
}

absl::Status Registry::CheckLogin() {
  std::optional<Challenge> ch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ch = challenge_;
  }
  if (!ch) return absl::OkStatus();
  if (ch->scheme == "bearer") return FetchToken(*ch, {}).status();
  Call call;
  call.request.url = base_url_ + "/v2/";
  ASSIGN_OR_RETURN(auto r, Do(std::move(call)));
  if (r->status() == 200) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("login to ", domain_, " failed: HTTP ", r->status()));
}

}  // namespace kiln::registry
