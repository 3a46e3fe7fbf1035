// Downloads for `ADD <http(s) URL>`: follows redirects (never from https to http), verifies
// TLS against the system CAs, caps the size, and hashes while writing.
#ifndef KILN_BUILDER_URL_FETCH_H_
#define KILN_BUILDER_URL_FETCH_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "oci/digest.h"

namespace kiln::builder {

struct FetchedUrl {
  std::string path;                      // the downloaded file
  oci::Digest digest;                    // sha256 of its content
  std::string file_name;                 // the last segment of the URL's path ("" for "/")
  std::optional<int64_t> last_modified;  // from Last-Modified, seconds since the epoch
};

inline constexpr int64_t kMaxUrlDownload = int64_t{16} << 30;

bool IsUrl(const std::string& s);

// Downloads `url` into the file `path`; with `checksum` ("sha256:..."), a mismatch is an error
// and the file is removed.
absl::StatusOr<FetchedUrl> FetchUrl(const std::string& url, const std::string& path,
                                    const std::optional<std::string>& checksum);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_URL_FETCH_H_
