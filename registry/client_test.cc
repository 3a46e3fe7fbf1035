// The registry client's protocol logic against an in-memory registry: auth and token refresh,
// the retry policy, resumed downloads and uploads, mounts, redirects and verification. (The
// e2e tests run the same client against Debian's docker-registry.)
#include "registry/client.h"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "gtest/gtest.h"
#include "oci/digest.h"
#include "registry/http.h"

namespace kiln::registry {
namespace {

constexpr char kBase[] = "https://reg.test";
constexpr char kRealm[] = "https://auth.test/token";

std::string Blob(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
  return s;
}

oci::Descriptor DescriptorOf(const std::string& data) {
  oci::Descriptor d;
  d.media_type = "application/octet-stream";
  d.digest = oci::Digest::Of(data);
  d.size = static_cast<int64_t>(data.size());
  return d;
}

std::string HeaderOf(const HttpRequest& r, absl::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

// A registry of one host (reg.test) with a token service (auth.test) and, for redirects, a
// blob host (cdn.test). It keeps blobs, manifests and upload sessions in memory, records
// every request, and lets a test answer any request first (`intercept`) to inject faults.
class FakeRegistry : public HttpTransport {
 public:
  struct Seen {
    std::string method;
    std::string url;
    std::string authorization;
    std::string range;          // Range (downloads)
    std::string content_range;  // Content-Range (chunks)
    int64_t body_size = 0;
  };
  using Intercept = std::function<std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>>(
      const HttpRequest&)>;

  bool bearer = true;
  int tokens_issued = 0;
  // Tokens the registry no longer accepts.
  std::vector<std::string> revoked;
  std::map<std::string, std::string> blobs;      // digest -> bytes
  std::map<std::string, std::string> manifests;  // "repo@ref" -> bytes
  std::map<std::string, std::string> uploads;    // session id -> bytes so far
  std::vector<Seen> seen;
  std::deque<Intercept> intercepts;  // each answers (or declines) requests until it answers
  Intercept always;                  // consulted for every request
  int next_upload = 0;
  // A blob GET's body ends after this many bytes once (a broken transfer), if set.
  std::optional<size_t> cut_blob_after;
  bool honour_range = true;

  absl::StatusOr<std::unique_ptr<HttpResponse>> Send(const HttpRequest& req) override {
    Seen s{req.method,
           req.url,
           HeaderOf(req, "authorization"),
           HeaderOf(req, "range"),
           HeaderOf(req, "content-range"),
           0};
    std::string body;
    if (req.body) body = *req.body;
    if (req.body_reader != nullptr) {
      absl::StatusOr<std::string> b = ReadAllFrom(*req.body_reader, 1 << 30);
      if (!b.ok()) return b.status();
      body = *b;
    }
    s.body_size = static_cast<int64_t>(body.size());
    seen.push_back(s);
    if (always) {
      if (auto r = always(req)) return std::move(*r);
    }
    if (!intercepts.empty()) {
      if (auto r = intercepts.front()(req)) {
        intercepts.pop_front();
        return std::move(*r);
      }
    }
    return Serve(req, body);
  }

  static std::unique_ptr<HttpResponse> Reply(long status, const std::string& url,
                                             Headers headers = {}, std::string body = "") {
    return std::make_unique<BufferedResponse>(status, url, std::move(headers), std::move(body));
  }

  int Count(absl::string_view method, absl::string_view url_part) const {
    int n = 0;
    for (const Seen& s : seen) n += s.method == method && absl::StrContains(s.url, url_part);
    return n;
  }

 private:
  std::unique_ptr<HttpResponse> Serve(const HttpRequest& req, const std::string& body) {
    const std::string& url = req.url;
    if (absl::StartsWith(url, kRealm)) return Token(req);
    if (absl::StartsWith(url, "https://cdn.test/")) {
      std::string digest = url.substr(url.rfind('/') + 1);
      if (!blobs.count(digest)) return Reply(404, url);
      return Reply(200, url, {}, blobs[digest]);
    }
    if (!absl::StartsWith(url, kBase)) return Reply(404, url);
    std::string auth = HeaderOf(req, "authorization");
    bool authorized =
        !bearer || (absl::StartsWith(auth, "Bearer ") &&
                    std::find(revoked.begin(), revoked.end(), auth.substr(7)) == revoked.end());
    if (!authorized) {
      return Reply(401, url,
                   {{"www-authenticate",
                     absl::StrCat("Bearer realm=\"", kRealm, "\",service=\"reg.test\"")}},
                   R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})");
    }
    std::string path = url.substr(strlen(kBase));
    std::string query;
    if (size_t q = path.find('?'); q != std::string::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    if (path == "/v2/") return Reply(200, url);
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    // "", "v2", repo..., kind, ref
    if (parts.size() < 5) return Reply(404, url);
    std::string kind = parts[parts.size() - 2];
    std::string ref = parts.back();
    if (kind == "uploads" || (kind == "blobs" && ref == "uploads")) {
      return Upload(req, url, path, query, body);
    }
    std::string repo;
    for (size_t i = 2; i + 2 < parts.size(); ++i)
      absl::StrAppend(&repo, i > 2 ? "/" : "", parts[i]);
    if (kind == "manifests") return Manifest(req, url, repo, ref, body);
    if (kind == "blobs") return BlobGet(req, url, ref);
    return Reply(404, url);
  }

  std::unique_ptr<HttpResponse> Token(const HttpRequest& req) {
    ++tokens_issued;
    return Reply(200, req.url, {},
                 absl::StrCat(R"({"token":"tok)", tokens_issued, R"(","expires_in":300})"));
  }

  std::unique_ptr<HttpResponse> Manifest(const HttpRequest& req, const std::string& url,
                                         const std::string& repo, const std::string& ref,
                                         const std::string& body) {
    std::string key = repo + "@" + ref;
    if (req.method == "PUT") {
      manifests[key] = body;
      manifests[repo + "@" + oci::Digest::Of(body).str()] = body;
      return Reply(201, url, {{"docker-content-digest", oci::Digest::Of(body).str()}});
    }
    if (!manifests.count(key)) return Reply(404, url);
    const std::string& m = manifests[key];
    Headers h = {{"content-type", "application/vnd.oci.image.manifest.v1+json"},
                 {"docker-content-digest", oci::Digest::Of(m).str()},
                 {"content-length", std::to_string(m.size())}};
    return Reply(200, url, h, req.method == "HEAD" ? "" : m);
  }

  std::unique_ptr<HttpResponse> BlobGet(const HttpRequest& req, const std::string& url,
                                        const std::string& digest) {
    if (!blobs.count(digest)) return Reply(404, url);
    const std::string& b = blobs[digest];
    if (req.method == "HEAD")
      return Reply(200, url, {{"content-length", std::to_string(b.size())}});
    absl::string_view range = HeaderOf(req, "range");
    int64_t start = 0;
    if (honour_range && absl::ConsumePrefix(&range, "bytes=")) {
      (void)absl::SimpleAtoi(range.substr(0, range.find('-')), &start);
      std::string part = b.substr(start);
      return Reply(
          206, url,
          {{"content-range", absl::StrCat("bytes ", start, "-", b.size() - 1, "/", b.size())}},
          part);
    }
    if (cut_blob_after) {
      std::string part = b.substr(0, *cut_blob_after);
      cut_blob_after.reset();
      return Reply(200, url, {}, part);
    }
    return Reply(200, url, {}, b);
  }

  std::unique_ptr<HttpResponse> Upload(const HttpRequest& req, const std::string& url,
                                       const std::string& path, const std::string& query,
                                       const std::string& body) {
    if (req.method == "POST") {
      if (absl::StrContains(query, "mount=")) {
        std::string digest(absl::StripPrefix(query.substr(query.find("mount=")), "mount="));
        digest = digest.substr(0, digest.find('&'));
        absl::StrReplaceAll({{"%3A", ":"}, {"%3a", ":"}}, &digest);
        if (blobs.count(digest) && absl::StrContains(query, "from=lib%2fother")) {
          return Reply(201, url);
        }
      }
      std::string id = absl::StrCat("u", ++next_upload);
      uploads[id] = "";
      return Reply(202, url, {{"location", path + id}, {"range", "0-0"}});
    }
    std::string id = path.substr(path.rfind('/') + 1);
    if (!uploads.count(id)) {
      return Reply(404, url, {},
                   R"({"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"unknown upload"}]})");
    }
    std::string& have = uploads[id];
    if (req.method == "GET") {
      Headers h;
      h.emplace_back("range", absl::StrCat("0-", have.empty() ? 0 : have.size() - 1));
      return Reply(204, url, h);
    }
    if (req.method == "DELETE") {
      uploads.erase(id);
      return Reply(204, url);
    }
    if (req.method == "PATCH") {
      int64_t from = -1;
      std::string cr = HeaderOf(req, "content-range");
      (void)absl::SimpleAtoi(cr.substr(0, cr.find('-')), &from);
      if (from != static_cast<int64_t>(have.size())) return Reply(416, url);
      have += body;
      return Reply(202, url, {{"location", path}});
    }
    if (req.method == "PUT") {
      have += body;
      std::string digest(query.substr(query.find("digest=") + 7));
      absl::StrReplaceAll({{"%3A", ":"}, {"%3a", ":"}}, &digest);
      if (oci::Digest::Of(have).str() != digest) {
        return Reply(400, url, {},
                     R"({"errors":[{"code":"DIGEST_INVALID","message":"digest invalid"}]})");
      }
      blobs[digest] = have;
      uploads.erase(id);
      return Reply(201, url);
    }
    return Reply(405, url);
  }
};

class ClientTest : public ::testing::Test {
 protected:
  std::shared_ptr<Registry> Connect(RegistryOptions options = {}) {
    options.transport = fake_;
    options.credential = Credential{"alice", "secret", ""};
    options.retry.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
    options.retry.initial_backoff = absl::Milliseconds(10);
    absl::StatusOr<std::shared_ptr<Registry>> r = Registry::Connect("reg.test", options);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nullptr;
  }

  std::string Put(const std::string& data) {
    std::string d = oci::Digest::Of(data).str();
    fake_->blobs[d] = data;
    return d;
  }

  static absl::StatusOr<std::string> ReadAll(Registry& reg, const oci::Descriptor& d) {
    ASSIGN_OR_RETURN(std::unique_ptr<Reader> r, reg.OpenBlob("lib/app", d));
    return ReadAllFrom(*r, 1 << 30);
  }

  // Pushes `data` as `d`, counting how often the source is opened.
  static absl::Status Push(Registry& reg, const oci::Descriptor& d, const std::string& data,
                           int* opens = nullptr) {
    return reg.PushBlob("lib/app", d, [&]() -> absl::StatusOr<std::unique_ptr<Reader>> {
      if (opens != nullptr) ++*opens;
      return std::unique_ptr<Reader>(new StringReader(data));
    });
  }

  // The PATCH of the second 1000-byte chunk.
  static bool IsSecondChunk(const HttpRequest& r) {
    return r.method == "PATCH" && absl::StartsWith(HeaderOf(r, "content-range"), "1000-");
  }

  // An intercept that answers `method` requests whose URL contains `part` with `status`.
  static FakeRegistry::Intercept Fail(std::string method, std::string part, long status,
                                      Headers headers = {}) {
    return
        [=](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
          if (r.method != method || !absl::StrContains(r.url, part)) return std::nullopt;
          return absl::StatusOr<std::unique_ptr<HttpResponse>>(
              FakeRegistry::Reply(status, r.url, headers));
        };
  }

  std::shared_ptr<FakeRegistry> fake_ = std::make_shared<FakeRegistry>();
  std::vector<absl::Duration> sleeps_;
};

TEST_F(ClientTest, FetchesOneTokenPerScopeAndSendsItOnlyToTheRegistry) {
  auto reg = Connect();
  std::string data = Blob(100);
  Put(data);
  ASSERT_EQ(ReadAll(*reg, DescriptorOf(data)).value_or(""), data);
  ASSERT_EQ(ReadAll(*reg, DescriptorOf(data)).value_or(""), data);
  EXPECT_EQ(fake_->tokens_issued, 1);
  int token_requests = 0;
  for (const auto& s : fake_->seen) {
    if (absl::StartsWith(s.url, kRealm)) {
      ++token_requests;
      EXPECT_TRUE(absl::StrContains(s.url, "scope=repository%3alib%2fapp%3apull")) << s.url;
      EXPECT_TRUE(absl::StrContains(s.url, "service=reg.test")) << s.url;
      EXPECT_EQ(s.authorization, "Basic YWxpY2U6c2VjcmV0");  // alice:secret
    } else if (absl::StrContains(s.url, "/blobs/")) {
      EXPECT_EQ(s.authorization, "Bearer tok1");
    }
  }
  EXPECT_EQ(token_requests, 1);
}

TEST_F(ClientTest, AnIdentityTokenIsExchangedByTheRefreshTokenPost) {
  RegistryOptions o;
  o.transport = fake_;
  o.credential = Credential{"", "", "refresh-me"};
  o.retry.sleep = [](absl::Duration) {};
  auto reg = Registry::Connect("reg.test", o);
  ASSERT_TRUE(reg.ok()) << reg.status();
  std::string data = Blob(10);
  Put(data);
  ASSERT_EQ(ReadAll(**reg, DescriptorOf(data)).value_or(""), data);
  int posts = 0;
  for (const auto& s : fake_->seen) {
    if (!absl::StartsWith(s.url, kRealm)) continue;
    EXPECT_EQ(s.method, "POST");
    EXPECT_EQ(s.authorization, "");  // the refresh token goes in the form, not a header
    ++posts;
  }
  EXPECT_EQ(posts, 1);
}

TEST_F(ClientTest, A401RefreshesTheTokenOnceThenReportsUnauthenticated) {
  auto reg = Connect();
  std::string data = Blob(10);
  Put(data);
  ASSERT_TRUE(ReadAll(*reg, DescriptorOf(data)).ok());
  fake_->revoked.push_back("tok1");
  EXPECT_EQ(ReadAll(*reg, DescriptorOf(data)).value_or(""), data);
  EXPECT_EQ(fake_->tokens_issued, 2);
  // A registry that refuses every token: one refresh, then the 401 is the answer.
  fake_->revoked = {"tok2", "tok3", "tok4"};
  absl::Status s = ReadAll(*reg, DescriptorOf(data)).status();
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_EQ(fake_->tokens_issued, 3);
}

TEST_F(ClientTest, TransientStatusesAreRetriedHonouringRetryAfter) {
  auto reg = Connect();
  fake_->manifests["lib/app@v1"] = R"({"schemaVersion":2,"mediaType":
      "application/vnd.oci.image.manifest.v1+json","config":{"mediaType":
      "application/vnd.oci.image.config.v1+json","digest":"sha256:)" +
                                   std::string(64, 'a') + R"(","size":2},"layers":[]})";
  fake_->intercepts.push_back(Fail("GET", "/manifests/v1", 503, {{"retry-after", "3"}}));
  fake_->intercepts.push_back(Fail("GET", "/manifests/v1", 429));
  sleeps_.clear();
  absl::StatusOr<oci::ManifestData> m = reg->GetManifest("lib/app", "v1");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(sleeps_.size(), 2u);
  EXPECT_GE(sleeps_[0], absl::Seconds(3));
  EXPECT_LT(sleeps_[1], absl::Seconds(1));
  EXPECT_EQ(fake_->Count("GET", "/manifests/v1"), 3);
}

TEST_F(ClientTest, RetriesStopAfterTheAttemptsAreSpent) {
  RegistryOptions o;
  o.retry.max_attempts = 3;
  auto reg = Connect(o);
  fake_->always = Fail("GET", "/manifests/", 502);
  absl::Status s = reg->GetManifest("lib/app", "v1").status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_EQ(fake_->Count("GET", "/manifests/v1"), 3);
  // A client error is not transient: one request.
  fake_->always = Fail("GET", "/manifests/", 404);
  s = reg->GetManifest("lib/app", "v2").status();
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_EQ(fake_->Count("GET", "/manifests/v2"), 1);
}

TEST_F(ClientTest, ConnectionFailuresAreRetried) {
  auto reg = Connect();
  std::string data = Blob(50);
  Put(data);
  int failures = 2;
  fake_->always =
      [&](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
    if (!absl::StrContains(r.url, "/blobs/") || failures == 0) return std::nullopt;
    --failures;
    return absl::StatusOr<std::unique_ptr<HttpResponse>>(
        absl::UnavailableError("connection reset by peer"));
  };
  EXPECT_EQ(ReadAll(*reg, DescriptorOf(data)).value_or(""), data);
  EXPECT_EQ(failures, 0);
}

TEST_F(ClientTest, ABrokenDownloadResumesAtTheOffsetReached) {
  auto reg = Connect();
  std::string data = Blob(5000);
  Put(data);
  fake_->cut_blob_after = 1234;
  EXPECT_EQ(ReadAll(*reg, DescriptorOf(data)).value_or(""), data);
  ASSERT_EQ(fake_->seen.back().range, "bytes=1234-");
}

TEST_F(ClientTest, AServerIgnoringRangeIsSkippedToTheOffset) {
  auto reg = Connect();
  std::string data = Blob(5000);
  Put(data);
  fake_->cut_blob_after = 999;
  fake_->honour_range = false;
  EXPECT_EQ(ReadAll(*reg, DescriptorOf(data)).value_or(""), data);
}

TEST_F(ClientTest, AResumeAtTheWrongOffsetIsDataLoss) {
  auto reg = Connect();
  std::string data = Blob(5000);
  Put(data);
  fake_->cut_blob_after = 100;
  fake_->intercepts.push_back(
      [&](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
        if (HeaderOf(r, "range").empty()) return std::nullopt;
        return absl::StatusOr<std::unique_ptr<HttpResponse>>(
            FakeRegistry::Reply(206, r.url, {{"content-range", "bytes 0-4999/5000"}}, data));
      });
  absl::Status s = ReadAll(*reg, DescriptorOf(data)).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
}

TEST_F(ClientTest, ADownloadWithOtherBytesFailsVerification) {
  auto reg = Connect();
  std::string data = Blob(300);
  fake_->blobs[oci::Digest::Of(data).str()] = Blob(299) + "!";
  absl::Status s = ReadAll(*reg, DescriptorOf(data)).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
}

TEST_F(ClientTest, RedirectsDropCredentialsAndRefuseDowngrades) {
  auto reg = Connect();
  std::string data = Blob(64);
  std::string digest = Put(data);
  fake_->intercepts.push_back(
      [&](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
        if (!absl::StrContains(r.url, "/blobs/sha256:")) return std::nullopt;
        return absl::StatusOr<std::unique_ptr<HttpResponse>>(
            FakeRegistry::Reply(307, r.url, {{"location", "https://cdn.test/b/" + digest}}));
      });
  EXPECT_EQ(ReadAll(*reg, DescriptorOf(data)).value_or(""), data);
  EXPECT_TRUE(absl::StartsWith(fake_->seen.back().url, "https://cdn.test/"));
  EXPECT_EQ(fake_->seen.back().authorization, "");

  fake_->intercepts.push_back(
      [&](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
        if (!absl::StrContains(r.url, "/blobs/sha256:")) return std::nullopt;
        return absl::StatusOr<std::unique_ptr<HttpResponse>>(
            FakeRegistry::Reply(302, r.url, {{"location", "http://cdn.test/b/" + digest}}));
      });
  absl::Status s = ReadAll(*reg, DescriptorOf(data)).status();
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_EQ(fake_->Count("GET", "http://cdn.test/"), 0);
}

TEST_F(ClientTest, SmallBlobsGoInOnePut) {
  auto reg = Connect();
  std::string data = Blob(2000);
  oci::Descriptor d = DescriptorOf(data);
  absl::Status s = Push(*reg, d, data);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(fake_->blobs[d.digest.str()], data);
  EXPECT_EQ(fake_->Count("POST", "/blobs/uploads/"), 1);
  EXPECT_EQ(fake_->Count("PATCH", "/blobs/uploads/"), 0);
  EXPECT_EQ(fake_->Count("PUT", "/blobs/uploads/"), 1);
}

TEST_F(ClientTest, ASourceThatDoesNotMatchItsDigestIsRefused) {
  auto reg = Connect();
  std::string data = Blob(2000);
  oci::Descriptor d = DescriptorOf(data);
  std::string other = Blob(1999) + "?";
  absl::Status s = Push(*reg, d, other);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "digest mismatch")) << s;
  EXPECT_EQ(fake_->blobs.count(d.digest.str()), 0u);
}

TEST_F(ClientTest, AChunkedUploadResumesFromTheRegistrysOffset) {
  RegistryOptions o;
  o.upload_chunk_size = 1000;
  auto reg = Connect(o);
  std::string data = Blob(3500);
  oci::Descriptor d = DescriptorOf(data);
  // The second chunk fails after the registry kept none of it.
  fake_->intercepts.push_back(
      [](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
        if (!IsSecondChunk(r)) return std::nullopt;
        return absl::StatusOr<std::unique_ptr<HttpResponse>>(
            absl::UnavailableError("connection reset by peer"));
      });
  int opens = 0;
  absl::Status s = Push(*reg, d, data, &opens);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(fake_->blobs[d.digest.str()], data);
  EXPECT_EQ(opens, 2);
  std::vector<std::string> ranges;
  for (const auto& seen : fake_->seen) {
    if (seen.method == "PATCH") ranges.push_back(seen.content_range);
  }
  EXPECT_EQ(ranges, (std::vector<std::string>{"0-999", "1000-1999", "1000-1999", "2000-2999",
                                              "3000-3499"}));
  EXPECT_EQ(fake_->Count("GET", "/blobs/uploads/u1"), 1);  // the upload status asked once
}

TEST_F(ClientTest, AForgottenUploadSessionStartsAgain) {
  RegistryOptions o;
  o.upload_chunk_size = 1000;
  auto reg = Connect(o);
  std::string data = Blob(2500);
  oci::Descriptor d = DescriptorOf(data);
  fake_->intercepts.push_back(
      [&](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
        if (!IsSecondChunk(r)) return std::nullopt;
        fake_->uploads.clear();  // the registry restarted and lost its sessions
        return absl::StatusOr<std::unique_ptr<HttpResponse>>(FakeRegistry::Reply(503, r.url));
      });
  absl::Status s = Push(*reg, d, data);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(fake_->blobs[d.digest.str()], data);
  EXPECT_EQ(fake_->Count("POST", "/blobs/uploads/"), 2);
}

TEST_F(ClientTest, AMountTheRegistryDeclinesCancelsTheUploadItOpened) {
  auto reg = Connect();
  std::string data = Blob(10);
  oci::Descriptor d = DescriptorOf(data);
  Put(data);
  absl::StatusOr<bool> mounted = reg->MountBlob("lib/app", d, "lib/other");
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  EXPECT_TRUE(*mounted);
  mounted = reg->MountBlob("lib/app", d, "lib/elsewhere");
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  EXPECT_FALSE(*mounted);
  EXPECT_EQ(fake_->Count("DELETE", "/v2/lib/app/blobs/uploads/u1"), 1);
  EXPECT_TRUE(fake_->uploads.empty());
}

TEST_F(ClientTest, ManifestsAreVerifiedAgainstTheDigestAskedFor) {
  auto reg = Connect();
  std::string m = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
                  R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":)"
                  R"("sha256:)" +
                  std::string(64, 'b') + R"(","size":2},"layers":[]})";
  std::string wanted = "sha256:" + std::string(64, 'c');
  fake_->manifests["lib/app@" + wanted] = m;
  absl::Status s = reg->GetManifest("lib/app", wanted).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  fake_->manifests["lib/app@old"] = R"({"schemaVersion": 1, "name": "lib/app"})";
  s = reg->GetManifest("lib/app", "old").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "schema 1")) << s;
}

TEST_F(ClientTest, TagListsFollowPaginationOnlyOnTheRegistry) {
  auto reg = Connect();
  fake_->intercepts.push_back(
      [](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
        if (!absl::StrContains(r.url, "/tags/list")) return std::nullopt;
        return absl::StatusOr<std::unique_ptr<HttpResponse>>(FakeRegistry::Reply(
            200, r.url, {{"link", "</v2/lib/app/tags/list?last=b&n=2>; rel=\"next\""}},
            R"({"tags":["a","b"]})"));
      });
  fake_->intercepts.push_back(
      [](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
        if (!absl::StrContains(r.url, "last=b")) return std::nullopt;
        return absl::StatusOr<std::unique_ptr<HttpResponse>>(FakeRegistry::Reply(
            200, r.url, {{"link", "<https://evil.test/v2/x/tags/list?last=c>; rel=\"next\""}},
            R"({"tags":["c"]})"));
      });
  absl::StatusOr<std::vector<std::string>> tags = reg->ListTags("lib/app", 2);
  ASSERT_TRUE(tags.ok()) << tags.status();
  EXPECT_EQ(*tags, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(fake_->Count("GET", "evil.test"), 0);
}

TEST_F(ClientTest, PlainHttpIsTriedOnlyForLoopbackRegistries) {
  // A host whose https port fails: not loopback, so no fallback to http.
  fake_->always =
      [](const HttpRequest& r) -> std::optional<absl::StatusOr<std::unique_ptr<HttpResponse>>> {
    return absl::StatusOr<std::unique_ptr<HttpResponse>>(
        absl::UnavailableError("TLS handshake failed"));
  };
  RegistryOptions o;
  o.transport = fake_;
  o.credential = Credential{};
  absl::Status s = Registry::Connect("reg.test", o).status();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(fake_->Count("GET", "http://reg.test"), 0);
  EXPECT_EQ(fake_->Count("GET", "https://reg.test/v2/"), 1);  // not retried: TLS fails at once
  s = Registry::Connect("127.0.0.1:5000", o).status();
  EXPECT_EQ(fake_->Count("GET", "http://127.0.0.1:5000/v2/"), 1);
}

}  // namespace
}  // namespace kiln::registry
