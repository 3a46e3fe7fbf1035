#include "oci/digest.h"

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace kiln::oci {

absl::StatusOr<Digest> Digest::Parse(absl::string_view text) {
  size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid digest \"", absl::CHexEscape(text.substr(0, 100)), "\": no algorithm"));
  }
  absl::string_view algorithm = text.substr(0, colon);
  absl::string_view hex = text.substr(colon + 1);
  size_t want;
  if (algorithm == "sha256") {
    want = 64;
  } else if (algorithm == "sha512") {
    want = 128;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid digest \"", absl::CHexEscape(text.substr(0, 100)), "\": unsupported algorithm"));
  }
  if (hex.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat("invalid digest \"",
                                                   absl::CHexEscape(text.substr(0, 150)),
                                                   "\": want ", want, " hex digits"));
  }
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid digest \"", absl::CHexEscape(text.substr(0, 150)), "\": not lowercase hex"));
    }
  }
  return Digest(std::string(algorithm), std::string(hex));
}

Digest Digest::FromSha256Bytes(const unsigned char bytes[32]) {
  return Digest("sha256", absl::BytesToHexString(
                              absl::string_view(reinterpret_cast<const char*>(bytes), 32)));
}

Digest Digest::Of(absl::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(state_->ctx); }

void Sha256::Update(absl::string_view data) {
  EVP_DigestUpdate(state_->ctx, data.data(), data.size());
}

Digest Sha256::Finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, out, &len);
  return Digest::FromSha256Bytes(out);
}

}  // namespace kiln::oci
