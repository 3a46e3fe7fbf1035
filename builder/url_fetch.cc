#include "builder/url_fetch.h"

#include <fcntl.h>
#include <unistd.h>

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
  std::optional<oci::Digest> want;
  if (checksum) {
    absl::StatusOr<oci::Digest> d = oci::Digest::Parse(*checksum);
    if (!d.ok()) return Annotate(d.status(), absl::StrCat("--checksum=", *checksum));
    want = *d;
  }
  registry::HttpClient http;
  std::string current = url;
  std::unique_ptr<registry::HttpResponse> r;
  for (int hop = 0;; ++hop) {
    registry::HttpRequest req;
    req.url = current;
    ASSIGN_OR_RETURN_CTX(r, http.Send(req), "downloading ", url);
    long s = r->status();
    if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308) break;
    if (hop >= kMaxRedirects)
      return absl::UnavailableError("downloading " + url + ": too many redirects");
    std::string loc = r->Header("location");
    if (loc.empty())
      return absl::UnavailableError("downloading " + url + ": redirect without Location");
    if (absl::StartsWith(loc, "/")) loc = registry::UrlOrigin(current) + loc;
    if (!IsUrl(loc))
      return absl::InvalidArgumentError("downloading " + url + ": bad redirect " + loc);
    if (absl::StartsWith(current, "https://") && absl::StartsWith(loc, "http://")) {
      return absl::PermissionDeniedError(
          absl::StrCat("downloading ", url, ": refusing a redirect from https to http"));
    }
    current = loc;
  }
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
  if (want && *want != out.digest) {
    ::unlink(path.c_str());
    return absl::DataLossError(absl::StrCat("downloading ", url, ": checksum mismatch: got ",
                                            out.digest.str(), ", --checksum wants ", want->str()));
  }
  return out;
}

}  // namespace kiln::builder
