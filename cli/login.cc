// kiln login / kiln logout: record or forget registry credentials in docker's auth file format.
#include <unistd.h>

#include <cstdio>
#include <iostream>

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
  login->add_option("-u,--username", opts->username, "User name")->required();
  login->add_option("-p,--password", opts->password, "Password (prefer --password-stdin)");
  login->add_flag("--password-stdin", opts->password_stdin, "Read the password from stdin");
  AddRegistryFlags(login, &opts->registry);
  login->callback([&g, opts] {
    g.run = [opts]() -> absl::Status {
      std::string domain = RegistryDomain(opts->server);
      registry::Credential cred;
      cred.username = opts->username;
      if (opts->password_stdin) {
        if (!opts->password.empty()) {
          return absl::InvalidArgumentError("--password and --password-stdin are exclusive");
        }
        FdReader in(0);
        ASSIGN_OR_RETURN(std::string pw, ReadAllFrom(in, 64 << 10));
        while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
        cred.password = pw;
      } else {
        cred.password = opts->password;
      }
      if (cred.password.empty()) return absl::InvalidArgumentError("a password is required");
      ASSIGN_OR_RETURN(transfer::TransportOptions topts, MakeTransportOptions(opts->registry));
      topts.registry.credential = cred;
      ASSIGN_OR_RETURN(auto reg, registry::Registry::Connect(domain, topts.registry));
      RETURN_IF_ERROR(reg->CheckLogin());
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
      RETURN_IF_ERROR(file.Erase(domain));
      std::printf("Removed login credentials for %s\n", domain.c_str());
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
