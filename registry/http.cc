#include "registry/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"

namespace kiln::registry {
namespace {

constexpr size_t kMaxHeaderBytes = 256 << 10;
// Body bytes held for the reader before the transfer pauses (bounds memory per response).
constexpr size_t kMaxBuffered = 1 << 20;

std::once_flag global_init;

absl::Duration DefaultStallTimeout() {
  const char* env = std::getenv("KILN_HTTP_STALL_SECONDS");
  int secs = 0;
  if (env != nullptr && absl::SimpleAtoi(env, &secs) && secs > 0) return absl::Seconds(secs);
  return absl::Seconds(60);
}

}  // namespace

// DNS answers, TLS sessions and connections shared by every handle of a client.
struct HttpClient::Shared {
  CURLSH* share = nullptr;
  std::mutex locks[CURL_LOCK_DATA_LAST];
  std::mutex pool_mu;
  std::vector<std::unique_ptr<Handle>> pool;
};

// One easy handle in its own multi handle (so a response can be read a piece at a time).
struct HttpClient::Handle {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  ~Handle() {
    if (multi != nullptr) curl_multi_cleanup(multi);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

struct HttpClient::Transfer {
  HttpClient* client = nullptr;
  std::unique_ptr<HttpClient::Handle> handle;
  curl_slist* headers_out = nullptr;
  bool attached = false;
  // Request body.
  std::unique_ptr<StringReader> string_body;
  std::string body_storage;
  Reader* body = nullptr;
  absl::Status body_error;
  // Response.
  long status = 0;
  Headers headers;
  size_t header_bytes = 0;
  bool headers_done = false;
  bool want_headers = true;  // Pump stops at the headers, else at body bytes
  bool paused = false;
  std::string buffer;
  size_t buffer_pos = 0;
  bool done = false;
  CURLcode result = CURLE_OK;
  char error[CURL_ERROR_SIZE] = {0};

  ~Transfer() {
    if (attached) curl_multi_remove_handle(handle->multi, handle->easy);
    if (headers_out != nullptr) curl_slist_free_all(headers_out);
    if (handle != nullptr) client->Release(std::move(handle));
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    size_t len = size * n;
    self->header_bytes += len;
    if (self->header_bytes > kMaxHeaderBytes) return 0;
    absl::string_view line(data, len);
    line = absl::StripTrailingAsciiWhitespace(line);
    if (absl::StartsWith(line, "HTTP/")) {
      self->headers.clear();
      self->status = 0;
      size_t sp = line.find(' ');
      if (sp != absl::string_view::npos) {
        absl::string_view code = line.substr(sp + 1, 3);
        int v = 0;
        if (absl::SimpleAtoi(code, &v)) self->status = v;
      }
      return len;
    }
    if (line.empty()) {
      if (self->status >= 200) self->headers_done = true;
      return len;
    }
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return len;
    self->headers.emplace_back(absl::AsciiStrToLower(line.substr(0, colon)),
                               std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
    return len;
  }

  static size_t OnData(char* data, size_t size, size_t n, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    self->headers_done = true;
    if (self->buffer.size() - self->buffer_pos >= kMaxBuffered) {
      self->paused = true;
      return CURL_WRITEFUNC_PAUSE;  // curl delivers these bytes again after the unpause
    }
    if (self->buffer_pos == self->buffer.size()) {
      self->buffer.clear();
      self->buffer_pos = 0;
    }
    self->buffer.append(data, size * n);
    return size * n;
  }

  static size_t OnRead(char* buf, size_t size, size_t n, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    absl::StatusOr<size_t> got = self->body->Read(buf, size * n);
    if (!got.ok()) {
      self->body_error = got.status();
      return CURL_READFUNC_ABORT;
    }
    return *got;
  }

  absl::Status Failure() const {
    if (!body_error.ok()) return Annotate(body_error, "reading the request body");
    return absl::UnavailableError(absl::StrCat(error[0] != 0 ? error : curl_easy_strerror(result)));
  }

  // Moves the transfer along: waits up to a second for the socket, then processes it.
  absl::Status Pump() {
    int running = 0;
    CURLMcode mc = curl_multi_perform(handle->multi, &running);
    if (mc != CURLM_OK) return absl::InternalError(curl_multi_strerror(mc));
    if (running == 0) {
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(handle->multi, &left)) {
        if (msg->msg == CURLMSG_DONE) result = msg->data.result;
      }
      done = true;
      return absl::OkStatus();
    }
    if (buffer_pos < buffer.size() || (want_headers && headers_done)) return absl::OkStatus();
    mc = curl_multi_poll(handle->multi, nullptr, 0, 1000, nullptr);
    if (mc != CURLM_OK) return absl::InternalError(curl_multi_strerror(mc));
    return absl::OkStatus();
  }
};

// A response whose body streams from its curl transfer.
class CurlResponse : public HttpResponse {
 public:
  explicit CurlResponse(std::unique_ptr<HttpClient::Transfer> t)
      : HttpResponse(t->status, EffectiveUrl(*t), t->headers), t_(std::move(t)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;

 private:
  static std::string EffectiveUrl(const HttpClient::Transfer& t) {
    char* url = nullptr;
    curl_easy_getinfo(t.handle->easy, CURLINFO_EFFECTIVE_URL, &url);
    return url != nullptr ? url : "";
  }
  std::unique_ptr<HttpClient::Transfer> t_;
};

std::string HttpResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers_) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

std::vector<std::string> HttpResponse::HeaderValues(absl::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers_) {
    if (absl::EqualsIgnoreCase(k, name)) out.push_back(v);
  }
  return out;
}

absl::StatusOr<size_t> BufferedResponse::Read(char* buf, size_t n) {
  size_t k = std::min(n, body_.size() - pos_);
  std::memcpy(buf, body_.data() + pos_, k);
  pos_ += k;
  return k;
}

absl::StatusOr<size_t> CurlResponse::Read(char* buf, size_t n) {
  HttpClient::Transfer& t = *t_;
  while (t.buffer_pos == t.buffer.size() && !t.done) {
    t.want_headers = false;
    RETURN_IF_ERROR(t.Pump());
  }
  if (t.buffer_pos < t.buffer.size()) {
    size_t k = std::min(n, t.buffer.size() - t.buffer_pos);
    std::memcpy(buf, t.buffer.data() + t.buffer_pos, k);
    t.buffer_pos += k;
    if (t.paused && t.buffer_pos == t.buffer.size()) {
      t.paused = false;
      curl_easy_pause(t.handle->easy, CURLPAUSE_CONT);
    }
    return k;
  }
  if (t.result != CURLE_OK) return t.Failure();
  return 0;
}

absl::StatusOr<std::string> HttpResponse::ReadBody(size_t max) { return ReadAllFrom(*this, max); }

HttpClient::HttpClient() : shared_(std::make_unique<Shared>()) {
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  stall_timeout_ = DefaultStallTimeout();
  shared_->share = curl_share_init();
  curl_share_setopt(shared_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(shared_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(shared_->share, CURLSHOPT_USERDATA, shared_.get());
  curl_share_setopt(
      shared_->share, CURLSHOPT_LOCKFUNC,
      +[](CURL*, curl_lock_data data, curl_lock_access, void* p) {
        static_cast<Shared*>(p)->locks[data].lock();
      });
  curl_share_setopt(
      shared_->share, CURLSHOPT_UNLOCKFUNC,
      +[](CURL*, curl_lock_data data, void* p) { static_cast<Shared*>(p)->locks[data].unlock(); });
}

HttpClient::~HttpClient() {
  shared_->pool.clear();
  curl_share_cleanup(shared_->share);
}

std::unique_ptr<HttpClient::Handle> HttpClient::Acquire() {
  {
    std::lock_guard<std::mutex> lock(shared_->pool_mu);
    if (!shared_->pool.empty()) {
      auto h = std::move(shared_->pool.back());
      shared_->pool.pop_back();
      curl_easy_reset(h->easy);
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  h->easy = curl_easy_init();
  h->multi = curl_multi_init();
  return h;
}

void HttpClient::Release(std::unique_ptr<Handle> h) {
  std::lock_guard<std::mutex> lock(shared_->pool_mu);
  if (shared_->pool.size() < 16) shared_->pool.push_back(std::move(h));
}

// Long by design: the curl options of one transfer, set in one place.
absl::StatusOr<std::unique_ptr<HttpResponse>> HttpClient::Send(const HttpRequest& request) {
  if (!absl::StartsWith(request.url, "https://") && !absl::StartsWith(request.url, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("not an http(s) URL: ", request.url));
  }
  auto t = std::make_unique<Transfer>();
  t->client = this;
  t->handle = Acquire();
  if (t->handle->easy == nullptr || t->handle->multi == nullptr) {
    return absl::ResourceExhaustedError("cannot create an HTTP handle");
  }
  CURL* e = t->handle->easy;
  curl_easy_setopt(e, CURLOPT_SHARE, shared_->share);
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(absl::ToInt64Seconds(stall_timeout_)));
  curl_easy_setopt(e, CURLOPT_USERAGENT, "kiln/0.1");
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::OnData);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L << 10);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, request.tls.verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, request.tls.verify ? 2L : 0L);
  if (!request.tls.ca_file.empty()) {
    curl_easy_setopt(e, CURLOPT_CAINFO, request.tls.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  if (!request.tls.cert_file.empty()) {
    curl_easy_setopt(e, CURLOPT_SSLCERT, request.tls.cert_file.c_str());
    curl_easy_setopt(e, CURLOPT_SSLKEY, request.tls.key_file.c_str());
  }

  for (const auto& [k, v] : request.headers) {
    t->headers_out = curl_slist_append(t->headers_out, absl::StrCat(k, ": ", v).c_str());
  }
  t->headers_out = curl_slist_append(t->headers_out, "Expect:");

  if (request.body.has_value()) {
    t->body_storage = *request.body;
    t->string_body = std::make_unique<StringReader>(t->body_storage);
    t->body = t->string_body.get();
  } else if (request.body_reader != nullptr) {
    t->body = request.body_reader;
  }
  const int64_t body_size =
      request.body.has_value() ? static_cast<int64_t>(request.body->size()) : request.body_size;
  if (request.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET") {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(t->body != nullptr ? body_size : 0));
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (t->body == nullptr) {
      t->string_body = std::make_unique<StringReader>("");
      t->body = t->string_body.get();
    }
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &Transfer::OnRead);
    curl_easy_setopt(e, CURLOPT_READDATA, t.get());
  }
  if (t->body != nullptr && request.method == "GET") {
    return absl::InvalidArgumentError("a GET request has no body");
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers_out);

  CURLMcode mc = curl_multi_add_handle(t->handle->multi, e);
  if (mc != CURLM_OK) return absl::InternalError(curl_multi_strerror(mc));
  t->attached = true;
  while (!t->headers_done && !t->done) RETURN_IF_ERROR(t->Pump());
  if (!t->headers_done && t->result != CURLE_OK) return t->Failure();
  if (t->status == 0) return absl::UnavailableError("no HTTP response");
  return std::unique_ptr<HttpResponse>(new CurlResponse(std::move(t)));
}

std::string UrlOrigin(absl::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return "";
  size_t path = url.find('/', scheme_end + 3);
  return std::string(url.substr(0, path));
}

std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string ResolveUrl(absl::string_view base, absl::string_view location) {
  // "scheme://...": absolute, whatever the scheme (the caller decides what it accepts).
  size_t scheme_end = location.find("://");
  if (scheme_end != absl::string_view::npos && scheme_end > 0 &&
      location.substr(0, scheme_end).find_first_of("/?#") == absl::string_view::npos) {
    return std::string(location);
  }
  std::string origin = UrlOrigin(base);
  if (absl::StartsWith(location, "/")) return absl::StrCat(origin, location);
  absl::string_view path = base.substr(origin.size());
  path = path.substr(0, path.find_first_of("?#"));
  size_t slash = path.rfind('/');
  absl::string_view dir = slash == absl::string_view::npos ? "/" : path.substr(0, slash + 1);
  return absl::StrCat(origin, dir, location);
}

absl::StatusOr<std::unique_ptr<HttpResponse>> FollowRedirects(
    std::unique_ptr<HttpResponse> response, const HttpRequest& request, int max_hops,
    const std::function<absl::StatusOr<std::unique_ptr<HttpResponse>>(const HttpRequest&)>& send) {
  std::string current = request.url;
  for (int hop = 0; IsRedirect(response->status()); ++hop) {
    if (hop >= max_hops) return absl::UnavailableError("too many redirects");
    std::string location = response->Header("location");
    if (location.empty()) return absl::UnavailableError("a redirect without a Location");
    std::string url = ResolveUrl(current, location);
    if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat("a redirect to a non-http URL \"", url, "\""));
    }
    if (absl::StartsWith(url, "http://") && absl::StartsWith(current, "https://")) {
      return absl::PermissionDeniedError(
          absl::StrCat("refusing a redirect from https to plain http (", url, ")"));
    }
    HttpRequest next = request;
    next.url = url;
    next.headers.erase(std::remove_if(next.headers.begin(), next.headers.end(),
                                      [](const auto& h) {
                                        return absl::EqualsIgnoreCase(h.first, "authorization");
                                      }),
                       next.headers.end());
    current = url;
    response.reset();
    ASSIGN_OR_RETURN(response, send(next));
  }
  return response;
}

}  // namespace kiln::registry
