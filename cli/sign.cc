// kiln key generate, kiln sign and kiln verify: cosign-compatible key pairs and signatures of
// images in a registry (docker://REF) or the store.
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "cli/common.h"
#include "nlohmann/json.hpp"
#include "trust/keys.h"
#include "trust/signatures.h"

namespace kiln::cli {
namespace {

// A line read from the terminal without echo.
absl::StatusOr<std::string> ReadHidden(const std::string& prompt) {
  UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty.valid()) {
    return absl::FailedPreconditionError(
        "no terminal to ask for the key's password: set KILN_PASSWORD");
  }
  (void)WriteAll(tty.get(), prompt);
  struct termios old;
  bool restore = ::tcgetattr(tty.get(), &old) == 0;
  if (restore) {
    struct termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty.get(), TCSAFLUSH, &quiet);
  }
  std::string line;
  char c;
  while (::read(tty.get(), &c, 1) == 1 && c != '\n') {
    if (line.size() < 4096) line += c;
  }
  if (restore) ::tcsetattr(tty.get(), TCSAFLUSH, &old);
  (void)WriteAll(tty.get(), "\n");
  return line;
}

// The key's password: $KILN_PASSWORD (or cosign's $COSIGN_PASSWORD), else asked for (twice
// when `confirm`).
absl::StatusOr<std::string> Password(bool confirm) {
  for (const char* name : {"KILN_PASSWORD", "COSIGN_PASSWORD"}) {
    if (const char* v = std::getenv(name); v != nullptr) return std::string(v);
  }
  ASSIGN_OR_RETURN(std::string first, ReadHidden("Enter password for private key: "));
  if (!confirm) return first;
  ASSIGN_OR_RETURN(std::string again, ReadHidden("Enter password for private key again: "));
  if (again != first) return absl::InvalidArgumentError("the passwords do not match");
  return first;
}

void AddKeyCommand(CLI::App& app, Globals& g) {
  struct Options {
    std::string out = "cosign";
    bool force = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* key = app.add_subcommand("key", "Signing keys");
  key->require_subcommand(1);
  CLI::App* gen = key->add_subcommand(
      "generate",
      "Make an ECDSA P-256 key pair: PREFIX.key (encrypted, cosign's format) and "
      "PREFIX.pub");
  gen->add_option("--out", o->out, "Path prefix of the two files (default cosign)");
  gen->add_flag("--force", o->force, "Replace existing files");
  gen->callback([&g, o] {
    g.run = [o]() -> absl::Status {
      const std::string priv = o->out + ".key", pub = o->out + ".pub";
      for (const std::string& f : {priv, pub}) {
        if (!o->force && PathExists(f)) {
          return absl::AlreadyExistsError(absl::StrCat(f, " exists (--force replaces it)"));
        }
      }
      ASSIGN_OR_RETURN(std::string password, Password(/*confirm=*/true));
      ASSIGN_OR_RETURN(trust::KeyPair pair, trust::GenerateKeyPair(password));
      RETURN_IF_ERROR(WriteFileAtomic(priv, pair.private_pem, 0600));
      RETURN_IF_ERROR(WriteFileAtomic(pub, pair.public_pem, 0644));
      std::fprintf(stderr, "private key written to %s\npublic key written to %s\n", priv.c_str(),
                   pub.c_str());
      return absl::OkStatus();
    };
  });
}

void AddSignVerbs(CLI::App& app, Globals& g) {
  struct Options {
    std::string image, key;
    std::vector<std::string> annotations;
    std::string output = "text";
    bool attestations = false;
    RegistryFlags registry;
  };
  auto s = std::make_shared<Options>();
  CLI::App* sign = app.add_subcommand(
      "sign", "Sign an image (docker://REF or a name in the store) as cosign does");
  sign->add_option("IMAGE", s->image, "docker://REFERENCE, or an image in the store")->required();
  sign->add_option("--key", s->key, "Private key file (kiln key generate, cosign)")->required();
  sign->add_option("-a,--annotations", s->annotations, "KEY=VALUE in the payload's optional part")
      ->allow_extra_args(false);
  sign->add_flag("--attestations", s->attestations,
                 "Also sign the image's attestation manifests (--sbom, --provenance)");
  AddRegistryFlags(sign, &s->registry);
  sign->callback([&g, s] {
    g.run = [&g, s]() -> absl::Status {
      std::map<std::string, std::string> annotations;
      for (const std::string& a : s->annotations) {
        std::pair<std::string, std::string> kv = absl::StrSplit(a, absl::MaxSplits('=', 1));
        if (kv.first.empty() || a.find('=') == std::string::npos) {
          return absl::InvalidArgumentError(absl::StrCat("-a ", a, ": want KEY=VALUE"));
        }
        annotations[kv.first] = kv.second;
      }
      ASSIGN_OR_RETURN_CTX(std::string pem, ReadFile(s->key, trust::kMaxKeyFileSize + 1), "--key");
      std::string password;
      if (trust::IsEncryptedPrivateKey(pem)) {
        ASSIGN_OR_RETURN(password, Password(/*confirm=*/false));
      }
      ASSIGN_OR_RETURN_CTX(trust::PrivateKey key, trust::PrivateKey::Load(pem, password), "--key ",
                           s->key);
      ASSIGN_OR_RETURN(transfer::TransportOptions topts, MakeTransportOptions(s->registry));
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN_CTX(trust::SignResult r,
                           trust::SignImage(s->image, key, annotations, store.get(), topts),
                           "signing ", s->image);
      std::fprintf(stderr, "signed %s, signature in %s\n", r.image.str().c_str(),
                   r.signature_location.c_str());
      if (!r.referrer.empty()) {
        std::fprintf(stderr, "attached as an OCI 1.1 referrer through %s\n", r.referrer.c_str());
      }
      std::printf("%s\n", r.signature_manifest.str().c_str());
      if (s->attestations) {
        ASSIGN_OR_RETURN_CTX(
            std::vector<trust::SignResult> signed_attestations,
            trust::SignAttestations(s->image, key, annotations, store.get(), topts),
            "signing the attestations of ", s->image);
        if (signed_attestations.empty()) {
          return absl::NotFoundError(absl::StrCat(s->image, " has no attestations to sign"));
        }
        for (const trust::SignResult& a : signed_attestations) {
          std::fprintf(stderr, "signed attestation manifest %s\n", a.image.str().c_str());
          std::printf("%s\n", a.signature_manifest.str().c_str());
        }
      }
      return absl::OkStatus();
    };
  });

  auto v = std::make_shared<Options>();
  CLI::App* verify = app.add_subcommand(
      "verify", "Check an image's cosign signatures against a public key (exit 1 if none holds)");
  verify->add_option("IMAGE", v->image, "docker://REFERENCE, or an image in the store")->required();
  verify->add_option("--key", v->key, "Public key file (PEM)")->required();
  verify->add_option("-o,--output", v->output, "text or json (the verified payloads)")
      ->check(CLI::IsMember({"text", "json"}));
  AddRegistryFlags(verify, &v->registry);
  verify->callback([&g, v] {
    g.run = [&g, v]() -> absl::Status {
      ASSIGN_OR_RETURN_CTX(std::string pem, ReadFile(v->key, trust::kMaxKeyFileSize + 1), "--key");
      ASSIGN_OR_RETURN_CTX(trust::PublicKey key, trust::PublicKey::Load(pem), "--key ", v->key);
      ASSIGN_OR_RETURN(transfer::TransportOptions topts, MakeTransportOptions(v->registry));
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN_CTX(trust::Verification result,
                           trust::VerifyImage(v->image, key, store.get(), topts), "verifying ",
                           v->image);
      if (v->output == "json") {
        nlohmann::json out = nlohmann::json::array();
        for (const trust::SimpleSigning& p : result.verified) {
          out.push_back(nlohmann::json::parse(trust::EncodePayload(p)));
        }
        std::printf("%s\n", out.dump().c_str());
      } else {
        std::printf("%s: %zu signature(s) verified\n", result.image.str().c_str(),
                    result.verified.size());
        for (const trust::SimpleSigning& p : result.verified) {
          std::printf("  signed as %s\n", p.docker_reference.c_str());
        }
      }
      for (const std::string& r : result.rejected) {
        std::fprintf(stderr, "kiln: also present, not verified: %s\n", r.c_str());
      }
      return absl::OkStatus();
    };
  });
}

}  // namespace

void AddSignCommands(CLI::App& app, Globals& g) {
  AddKeyCommand(app, g);
  AddSignVerbs(app, g);
}

}  // namespace kiln::cli
