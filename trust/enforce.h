// Applying a signature policy (trust/policy.h) to an image about to enter the store: what
// pull, copy and build run before an image from a registry, a layout or an archive is used.
#ifndef KILN_TRUST_ENFORCE_H_
#define KILN_TRUST_ENFORCE_H_

#include "absl/status/status.h"
#include "layers/store.h"
#include "oci/digest.h"
#include "transfer/image_location.h"
#include "transfer/transports.h"
#include "trust/policy.h"

namespace kiln::trust {

// OK when every requirement of the scope `source` falls in holds for the image `digest`
// there (sigstoreSigned: a signature beside it that one of the keys verifies, for that digest,
// whose identity the signedIdentity accepts). PermissionDenied otherwise, in one line naming
// the image, the policy's scope and what is missing. Images from the store itself pass.
absl::Status EnforcePolicy(const Policy& policy, const transfer::ImageLocation& source,
                           const oci::Digest& digest, layers::Store* store,
                           const transfer::TransportOptions& options);

}  // namespace kiln::trust

#endif  // KILN_TRUST_ENFORCE_H_
