// HTTP(S) over libcurl, shaped for registry traffic: responses are streamed (a Reader over the
// body), request bodies come from a Reader, redirects are not followed here (the caller decides
// what credentials a new host may see), TLS is verified against the system CAs unless told
// otherwise, and only http/https are ever spoken. Connections, DNS answers and TLS sessions are
// reused across requests. An HttpClient is thread-safe; each HttpResponse belongs to one thread.
#ifndef KILN_REGISTRY_HTTP_H_
#define KILN_REGISTRY_HTTP_H_

#include <cstdint>
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
  ~HttpResponse() override;
  long status() const { return status_; }
  // The first header called `name` (case-insensitive), or empty.
  std::string Header(absl::string_view name) const;
  // Every value of the header `name`.
  std::vector<std::string> HeaderValues(absl::string_view name) const;
  const std::string& url() const { return url_; }
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;
  // Reads the rest of the body, failing if it exceeds `max` bytes.
  absl::StatusOr<std::string> ReadBody(size_t max);

 private:
  friend class HttpClient;
  struct Transfer;
  explicit HttpResponse(std::unique_ptr<Transfer> t);
  std::unique_ptr<Transfer> t_;
  long status_ = 0;
  std::string url_;
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request and waits for the response headers. Connection failures (refused,
  // reset, TLS errors, timeouts) are Unavailable, with curl's explanation.
  absl::StatusOr<std::unique_ptr<HttpResponse>> Send(const HttpRequest& request);

  // A transfer that moves no byte for this long fails (default 60 s; KILN_HTTP_STALL_SECONDS).
  void set_stall_timeout(absl::Duration d) { stall_timeout_ = d; }

 private:
  struct Shared;
  struct Handle;
  friend class HttpResponse;
  std::unique_ptr<Handle> Acquire();
  void Release(std::unique_ptr<Handle> h);
  std::unique_ptr<Shared> shared_;
  absl::Duration stall_timeout_;
};

// The "scheme://host[:port]" part of a URL ("" if it has no scheme).
std::string UrlOrigin(absl::string_view url);

// Percent-encodes a query parameter value.
std::string UrlEncode(absl::string_view s);

}  // namespace kiln::registry

#endif  // KILN_REGISTRY_HTTP_H_
