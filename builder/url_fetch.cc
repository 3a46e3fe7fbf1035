#include "builder/url_fetch.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "registry/http.h"

namespace kiln::builder {
namespace {

constexpr int kMaxRedirects = 10;

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
  std::string p = url.substr(url.find("://") + 3);
  p = p.substr(0, p.find_first_of("?#"));
  size_t slash = p.find('/');
  std::string url_path = slash == std::string::npos ? "" : p.substr(slash);
  out.file_name = url_path.substr(url_path.rfind('/') + 1);
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", r->Header("last-modified"), &t, &err)) {
    out.last_modified = absl::ToUnixSeconds(t);
  }

  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(absl::StrCat("creating ", path));
  oci::Sha256 hash;
  // A --checksum of another algorithm (sha512) is checked with a hash of its own.
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> other(nullptr, EVP_MD_CTX_free);
  if (checksum && want_algorithm != "sha256") {
    const EVP_MD* md = EVP_get_digestbyname(want_algorithm.c_str());
    if (md == nullptr) return absl::InvalidArgumentError("unsupported digest algorithm");
    other.reset(EVP_MD_CTX_new());
    if (!other || EVP_DigestInit_ex(other.get(), md, nullptr) != 1) {
      return absl::InternalError("EVP_DigestInit_ex failed");
    }
  }
  int64_t total = 0;
  std::string buf(256 << 10, '\0');
  while (true) {
    ASSIGN_OR_RETURN_CTX(size_t n, r->Read(buf.data(), buf.size()), "downloading ", url);
    if (n == 0) break;
    total += n;
    if (total > kMaxUrlDownload) {
      ::unlink(path.c_str());
      return absl::ResourceExhaustedError(
          absl::StrCat("downloading ", url, ": larger than ", kMaxUrlDownload, " bytes"));
    }
    hash.Update(absl::string_view(buf.data(), n));
    if (other) EVP_DigestUpdate(other.get(), buf.data(), n);
    size_t off = 0;
    while (off < n) {
      ssize_t w = ::write(fd.get(), buf.data() + off, n - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        ::unlink(path.c_str());
        return ErrnoError(absl::StrCat("writing ", path));
      }
      off += w;
    }
  }
  out.digest = hash.Finish();
  std::string got = out.digest.str();
  if (other) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(other.get(), md, &len);
    got = absl::StrCat(want_algorithm, ":",
                       absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), len)));
  }
  if (checksum && *checksum != got) {
    ::unlink(path.c_str());
    return absl::DataLossError(
        absl::StrCat("digest mismatch for ", url, ": ", got, " (expected: ", *checksum, ")"));
  }
  return out;
}

}  // namespace kiln::builder
