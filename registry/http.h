// HTTP(S) over libcurl, shaped for registry traffic: responses are streamed (a Reader over the
// body), request bodies come from a Reader, redirects are not followed here (the caller decides
// what credentials a new host may see), TLS is verified against the system CAs unless told
// otherwise, and only http/https are ever spoken. Connections, DNS answers and TLS sessions are
// reused across requests. An HttpClient is thread-safe; each HttpResponse belongs to one thread.
#ifndef KILN_REGISTRY_HTTP_H_
#define KILN_REGISTRY_HTTP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/io.h"

namespace kiln::registry {

struct TlsOptions {
  bool verify = true;     // verify the peer's certificate and host name
  std::string ca_file;    // extra CA bundle for this host (besides the system's)
  std::string cert_file;  // client certificate (PEM), with key_file
  std::string key_file;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;
  // The body, from a string or from a reader of `body_size` bytes (not owned).
  std::optional<std::string> body;
  Reader* body_reader = nullptr;
  int64_t body_size = 0;
  TlsOptions tls;
};

// A response whose status and headers have arrived; the body is read with Read (a Reader).
// A transfer that breaks mid-body makes Read fail with Unavailable.
class HttpResponse : public Reader {
 public:
  ~HttpResponse() override = default;
  long status() const { return status_; }
  // The first header called `name` (case-insensitive), or empty.
  std::string Header(absl::string_view name) const;
  // Every value of the header `name`.
  std::vector<std::string> HeaderValues(absl::string_view name) const;
  // The URL the response came from.
  const std::string& url() const { return url_; }
  // Reads the rest of the body, failing if it exceeds `max` bytes.
  absl::StatusOr<std::string> ReadBody(size_t max);

 protected:
  HttpResponse(long status, std::string url, Headers headers)
      : status_(status), url_(std::move(url)), headers_(std::move(headers)) {}

 private:
  long status_;
  std::string url_;
  Headers headers_;
};

// A response whose body is held in memory (made by fakes, and for bodies already read).
class BufferedResponse : public HttpResponse {
 public:
  BufferedResponse(long status, std::string url, Headers headers, std::string body)
      : HttpResponse(status, std::move(url), std::move(headers)), body_(std::move(body)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;

 private:
  std::string body_;
  size_t pos_ = 0;
};

// Something that sends HTTP requests: the curl client below, or a test's fake.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends the request and waits for the response headers. Connection failures (refused,
  // reset, TLS errors, timeouts) are Unavailable.
  virtual absl::StatusOr<std::unique_ptr<HttpResponse>> Send(const HttpRequest& request) = 0;
};

class HttpClient : public HttpTransport {
 public:
  HttpClient();
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Connection failures carry curl's explanation.
  absl::StatusOr<std::unique_ptr<HttpResponse>> Send(const HttpRequest& request) override;

  // A transfer that moves no byte for this long fails (default 60 s; KILN_HTTP_STALL_SECONDS).
  void set_stall_timeout(absl::Duration d) { stall_timeout_ = d; }

 private:
  struct Shared;
  struct Handle;
  struct Transfer;
  friend class CurlResponse;
  std::unique_ptr<Handle> Acquire();
  void Release(std::unique_ptr<Handle> h);
  std::unique_ptr<Shared> shared_;
  absl::Duration stall_timeout_;
};

bool IsRedirect(long status);

// Follows the redirects `response` starts (at most `max_hops`): each Location is resolved
// against the URL that sent it, must be http(s), and may not lead from https to plain http.
// Every hop sends `request` again at the new URL without its Authorization headers (a new
// host never sees the credentials meant for the first), through `send`, which may add its own.
// Returns the first response that is not a redirect.
absl::StatusOr<std::unique_ptr<HttpResponse>> FollowRedirects(
    std::unique_ptr<HttpResponse> response, const HttpRequest& request, int max_hops,
    const std::function<absl::StatusOr<std::unique_ptr<HttpResponse>>(const HttpRequest&)>& send);

// `location` (absolute "scheme://...", origin-relative "/x" or path-relative "x") resolved
// against `base`.
std::string ResolveUrl(absl::string_view base, absl::string_view location);

// The "scheme://host[:port]" part of a URL ("" if it has no scheme).
std::string UrlOrigin(absl::string_view url);

// Percent-encodes a query parameter value.
std::string UrlEncode(absl::string_view s);

}  // namespace kiln::registry

#endif  // KILN_REGISTRY_HTTP_H_
