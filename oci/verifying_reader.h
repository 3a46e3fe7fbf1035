// A reader that checks what it passes on against a digest and a size: the check that makes
// every blob read from a store, an archive or a registry trustworthy.
#ifndef KILN_OCI_VERIFYING_READER_H_
#define KILN_OCI_VERIFYING_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "base/io.h"
#include "oci/digest.h"

namespace kiln::oci {

// Wraps a reader and checks, at EOF, that it produced `expected_size` bytes (if >= 0) with the
// `expected` digest; otherwise the final Read fails with DataLoss naming `what`.
std::unique_ptr<Reader> NewVerifyingReader(std::unique_ptr<Reader> in, oci::Digest expected,
                                           int64_t expected_size, std::string what);

}  // namespace kiln::oci

#endif  // KILN_OCI_VERIFYING_READER_H_
