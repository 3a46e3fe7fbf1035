// kiln build --check-reproducible and --check-against IMAGE: the image just built compared
// with the same build made again in a scratch store, or with an image made before. A
// difference fails the build with `kiln diff`'s account of it (on stderr) and its summary.
#ifndef KILN_CLI_BUILD_CHECK_H_
#define KILN_CLI_BUILD_CHECK_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "builder/build_request.h"
#include "layers/store.h"
#include "transfer/transports.h"

namespace kiln::cli {

// Builds `req` again in a scratch store beside `store` that holds the store's images (blobs
// linked, names copied) and none of its build state (no step cache, no unpacked layers), and
// compares each platform's image with `first`'s. `say` gets one line of progress.
absl::Status CheckReproducible(layers::Store& store, builder::BuildRequest req,
                               const builder::BuildResult& first,
                               const std::function<void(const std::string&)>& say);

// Compares each platform's image of `first` with the image at `against` (any location).
absl::Status CheckAgainst(layers::Store& store, const std::string& against,
                          const transfer::TransportOptions& options,
                          const builder::BuildResult& first,
                          const std::function<void(const std::string&)>& say);

}  // namespace kiln::cli

#endif  // KILN_CLI_BUILD_CHECK_H_
