// kiln login / kiln logout: record or forget registry credentials in docker's auth file format.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "oci/reference.h"
#include "registry/client.h"
#include "registry/credentials.h"

namespace kiln::cli {
namespace {

// "https://index.docker.io/v1/" or "registry:5000/x" -> the registry's domain.
std::string RegistryDomain(std::string server) {
  for (const char* p : {"https://", "http://"}) {
    if (server.rfind(p, 0) == 0) server = server.substr(std::string(p).size());
  }
  server = server.substr(0, server.find('/'));
  if (server.empty() || server == "index.docker.io" || server == "registry-1.docker.io") {
    return "docker.io";
  }
  return server;
}

// A line typed at the terminal after `prompt` (on stderr), echoed unless `secret`; nullopt when
// stdin is not a terminal.
std::optional<std::string> Prompt(const char* prompt, bool secret) {
  if (!::isatty(STDIN_FILENO)) return std::nullopt;
  std::fprintf(stderr, "%s", prompt);
  std::fflush(stderr);
  struct termios saved;
  const bool quiet = secret && ::tcgetattr(STDIN_FILENO, &saved) == 0;
  if (quiet) {
    struct termios off = saved;
    off.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &off);
  }
  std::string line;
  std::getline(std::cin, line);
  if (quiet) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::fprintf(stderr, "\n");
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

}  // namespace

void AddLoginCommands(CLI::App& app, Globals& g) {
  struct Options {
    std::string server, username, password;
    bool password_stdin = false;
    RegistryFlags registry;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* login = app.add_subcommand("login", "Log in to a registry (saves the credentials)");
  login->add_option("SERVER", opts->server, "Registry (default docker.io)");
  login->add_option("-u,--username", opts->username, "User name (asked for on a terminal)");
  login->add_option("-p,--password", opts->password, "Password (prefer --password-stdin)");
  login->add_flag("--password-stdin", opts->password_stdin, "Read the password from stdin");
  login->add_option("--tls-verify", opts->registry.tls_verify,
                    "Verify registry certificates; false also allows plain http");
  login->add_option("--cert-dir", opts->registry.cert_dir, "Directory of <host[:port]>/ca.crt");
  login->add_option("--authfile", opts->registry.authfile,
                    "Auth file (default $REGISTRY_AUTH_FILE, else ~/.docker/config.json)");
  login->callback([&g, opts] {
    g.run = [opts]() -> absl::Status {
      std::string domain = RegistryDomain(opts->server);
      registry::Credential cred;
      cred.username = opts->username;
      if (cred.username.empty()) {
        std::optional<std::string> typed = Prompt("Username: ", /*secret=*/false);
        if (!typed) return absl::InvalidArgumentError("a user name is required: -u USER");
        cred.username = *typed;
      }
      if (!opts->password.empty()) {
        std::fprintf(stderr,
                     "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
      }
      if (opts->password_stdin) {
        if (!opts->password.empty()) {
          return absl::InvalidArgumentError("--password and --password-stdin are exclusive");
        }
        FdReader in(0);
        ASSIGN_OR_RETURN(std::string pw, ReadAllFrom(in, 64 << 10));
        while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
        cred.password = pw;
      } else if (!opts->password.empty()) {
        cred.password = opts->password;
      } else if (std::optional<std::string> typed = Prompt("Password: ", /*secret=*/true)) {
        cred.password = *typed;
      }
      if (cred.password.empty()) {
        return absl::InvalidArgumentError("a password is required: --password-stdin or -p");
      }
      ASSIGN_OR_RETURN(transfer::TransportOptions topts, MakeTransportOptions(opts->registry));
      topts.registry.credential = cred;
      ASSIGN_OR_RETURN(auto reg, registry::Registry::Connect(domain, topts.registry));
      if (absl::Status s = reg->CheckLogin(); !s.ok()) {
        if (s.code() != absl::StatusCode::kPermissionDenied &&
            s.code() != absl::StatusCode::kUnauthenticated) {
          return s;
        }
        return absl::PermissionDeniedError(
            absl::StrCat("login to ", domain, ": unauthorized: incorrect username or password"));
      }
      ASSIGN_OR_RETURN(registry::AuthFile file, registry::AuthFile::Load(opts->registry.authfile));
      RETURN_IF_ERROR_CTX(file.Store(domain, cred), "saving credentials to ", file.path());
      std::printf("Login Succeeded\n");
      return absl::OkStatus();
    };
  });

  auto out = std::make_shared<Options>();
  CLI::App* logout = app.add_subcommand("logout", "Forget the credentials of a registry");
  logout->add_option("SERVER", out->server, "Registry (default docker.io)");
  logout->add_option("--authfile", out->registry.authfile, "Auth file");
  logout->callback([&g, out] {
    g.run = [out]() -> absl::Status {
      std::string domain = RegistryDomain(out->server);
      ASSIGN_OR_RETURN(registry::AuthFile file, registry::AuthFile::Load(out->registry.authfile));
      // As docker: logging out where there is no login is said, not an error.
      if (absl::Status s = file.Erase(domain); absl::IsNotFound(s)) {
        std::printf("Not logged in to %s\n", domain.c_str());
        return absl::OkStatus();
      } else if (!s.ok()) {
        return s;
      }
      std::printf("Removed login credentials for %s\n", domain.c_str());
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
