#include "builder/url_fetch.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "oci/hashing.h"
#include "registry/http.h"

namespace kiln::builder {
namespace {

constexpr int kMaxRedirects = 10;

// Hashes with an OpenSSL digest of any algorithm (a --checksum's sha512), passing data on.
class EvpWriter : public Writer {
 public:
  explicit EvpWriter(Writer* next) : next_(next), ctx_(nullptr, EVP_MD_CTX_free) {}
  absl::Status Init(const std::string& algorithm) {
    const EVP_MD* md = EVP_get_digestbyname(algorithm.c_str());
    if (md == nullptr) return absl::InvalidArgumentError("unsupported digest algorithm");
    ctx_.reset(EVP_MD_CTX_new());
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), md, nullptr) != 1) {
      return absl::InternalError("EVP_DigestInit_ex failed");
    }
    algorithm_ = algorithm;
    return absl::OkStatus();
  }
  absl::Status Write(absl::string_view data) override {
    EVP_DigestUpdate(ctx_.get(), data.data(), data.size());
    return next_->Write(data);
  }
  // "algorithm:hex".
  std::string Finish() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    return absl::StrCat(
        algorithm_, ":",
        absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), len)));
  }

 private:
  Writer* next_;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
  std::string algorithm_;
};

// The name a download gets: the last segment of the URL's path (empty when it has none).
std::string FileNameOf(const std::string& url) {
  std::string p = url.substr(url.find("://") + 3);
  p = p.substr(0, p.find_first_of("?#"));
  size_t slash = p.find('/');
  std::string url_path = slash == std::string::npos ? "" : p.substr(slash);
  return url_path.substr(url_path.rfind('/') + 1);
}

// Copies the body to `to`, failing past kMaxUrlDownload bytes.
absl::Status SaveBody(Reader& body, Writer& to) {
  int64_t total = 0;
  std::string buf(256 << 10, '\0');
  while (true) {
    ASSIGN_OR_RETURN(size_t n, body.Read(buf.data(), buf.size()));
    if (n == 0) return absl::OkStatus();
    total += n;
    if (total > kMaxUrlDownload) {
      return absl::ResourceExhaustedError(absl::StrCat("larger than ", kMaxUrlDownload, " bytes"));
    }
    RETURN_IF_ERROR(to.Write(absl::string_view(buf.data(), n)));
  }
}

}  // namespace

bool IsUrl(const std::string& s) {
  return absl::StartsWith(s, "http://") || absl::StartsWith(s, "https://");
}

absl::StatusOr<FetchedUrl> FetchUrl(const std::string& url, const std::string& path,
                                    const std::optional<std::string>& checksum) {
  // "algorithm:hex" (the plan checked its form); sha256 is hashed anyway, others besides.
  std::string want_algorithm = checksum ? checksum->substr(0, checksum->find(':')) : "";
  registry::HttpClient http;
  registry::HttpRequest req;
  req.url = url;
  ASSIGN_OR_RETURN_CTX(std::unique_ptr<registry::HttpResponse> r, http.Send(req), "downloading ",
                       url);
  ASSIGN_OR_RETURN_CTX(r,
                       registry::FollowRedirects(
                           std::move(r), req, kMaxRedirects,
                           [&http](const registry::HttpRequest& hop) { return http.Send(hop); }),
                       "downloading ", url);
  if (r->status() != 200) {
    return absl::NotFoundError(absl::StrCat("downloading ", url, ": HTTP ", r->status()));
  }
  FetchedUrl out;
  out.path = path;
  out.file_name = FileNameOf(url);
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", r->Header("last-modified"), &t, &err)) {
    out.last_modified = absl::ToUnixSeconds(t);
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(absl::StrCat("creating ", path));
  FdWriter file(fd.get());
  oci::HashingWriter sha256(&file);
  // A --checksum of another algorithm (sha512) is checked with a hash of its own.
  EvpWriter other(&sha256);
  const bool other_hash = checksum && want_algorithm != "sha256";
  if (other_hash) RETURN_IF_ERROR(other.Init(want_algorithm));
  absl::Status saved = SaveBody(*r, other_hash ? static_cast<Writer&>(other) : sha256);
  if (!saved.ok()) {
    ::unlink(path.c_str());
    return Annotate(saved, absl::StrCat("downloading ", url));
  }
  out.digest = sha256.Finish();
  std::string got = other_hash ? other.Finish() : out.digest.str();
  if (checksum && *checksum != got) {
    ::unlink(path.c_str());
    return absl::DataLossError(
        absl::StrCat("digest mismatch for ", url, ": ", got, " (expected: ", *checksum, ")"));
  }
  return out;
}

}  // namespace kiln::builder
