// The regional IdP's part of `serve`: the --oidc-* options, and while the server runs the
// relying party (access/oidc_rp.h) with its outbound client and the /auth/oidc/ routes. Built
// after the sign-in stack, whose directory and issuer it uses. Thread-safe once started.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "access/directory.h"
#include "access/oidc_rp.h"
#include "access/wall_clock.h"
#include "base/status.h"
#include "http/oidc_routes.h"
#include "http/outbound_https.h"

namespace carerecord::app {

struct OidcServeSettings {
  std::string issuer;  // empty: no IdP
  std::string client_id;
  std::string client_secret_file;
  std::string role_claim = "nhsid_nrbac_roles";
  std::string role_map_file;  // empty: the default map
  std::string label;          // the IdP's name: the sign-in page says "Sign in with <label>"
  std::string ca_file;        // PEM CAs to trust for the IdP instead of the system's (tests)
};

void AddOidcServeOptions(CLI::App& serve, OidcServeSettings& settings);

// The client secret in `path`: the file's first line. Refused when the file can be read or
// written by others than its owner and group (chmod 600 or 640), or when it is empty.
base::Result<std::string> ReadClientSecretFile(const std::string& path);
// The settings checked and read (the issuer's URL, the secret file, the role map), before the
// server starts: errors name the option.
base::Result<access::OidcSettings> LoadOidcSettings(const OidcServeSettings& settings);

class OidcServing {
 public:
  // Does nothing when no issuer is configured. `own_issuer` is the server's origin (the
  // callback is own_issuer + "/auth/oidc/callback"). `sink` receives the signed-in users (the
  // PendingAuthorizationSink over the sign-in page's requests); it must outlive this.
  base::Status Start(access::OidcSettings settings, const std::string& ca_file,
                     const std::string& own_issuer, access::Directory& directory,
                     http::FederatedSignInSink& sink);
  // Null when no IdP is configured.
  http::OidcRoutes* routes() { return routes_.get(); }

 private:
  access::SystemWallClock clock_;
  std::unique_ptr<http::OutboundHttpsClient> transport_;
  std::unique_ptr<access::OidcRelyingParty> relying_party_;
  std::unique_ptr<http::OidcRoutes> routes_;
};

}  // namespace carerecord::app
