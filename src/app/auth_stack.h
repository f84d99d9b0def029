// Everything sign-in needs in a running server, built in one place for `serve`, the test server
// and the benchmarks: the directory (on its own connection to the data folder's database), the
// signing key ring, the access tokens (checked against the directory for disabled principals),
// the client assertion verifier, the user sign-in's pending requests, codes, launches and
// refresh tokens, and the AuthRoutes in front of FhirRoutes. Built once the FHIR
// base is known (after the listening port is bound). Thread-safe once built.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "access/access_token.h"
#include "access/authorization_codes.h"
#include "access/client_assertion.h"
#include "access/directory.h"
#include "access/directory_principal_status.h"
#include "access/revoked_sign_ins.h"
#include "access/signing_keys.h"
#include "access/wall_clock.h"
#include "base/status.h"
#include "http/auth_routes.h"
#include "http/fhir_routes.h"
#include "store/identity_records.h"
#include "store/refresh_token_records.h"

namespace carerecord::app {

struct AuthStackOptions {
  std::filesystem::path data_dir;
  std::string fhir_base;  // the base clients see: tokens' audience; its origin is the issuer
  int64_t token_ttl_seconds = 300;
  const access::WallClock* clock = nullptr;  // the system clock when null (tests set one)
  // How long a cached token's "client and user enabled" answer is trusted (AccessTokenOptions).
  int64_t status_recheck_seconds = 30;
  access::DirectoryOptions directory;
  // The sign-in page's "Sign in with <label>" link to the regional IdP; empty: none.
  std::string external_idp_label;
};

class AuthStack {
 public:
  static base::Result<std::unique_ptr<AuthStack>> Open(const AuthStackOptions& options,
                                                       const http::FhirRoutes& fhir);
  ~AuthStack();

  http::AuthRoutes& routes() { return *routes_; }
  access::Directory& directory() { return *directory_; }
  access::AccessTokens& tokens() { return *tokens_; }
  access::SigningKeyRing& keys() { return *keys_; }
  access::PendingAuthorizations& authorizations() { return *authorizations_; }
  access::LaunchContexts& launches() { return *launches_; }
  store::RefreshTokenRecords& refresh_tokens() { return *refresh_tokens_; }
  access::RevokedSignIns& revoked_sign_ins() { return *revoked_sign_ins_; }
  const http::AuthEndpoints& endpoints() const { return routes_->endpoints(); }

 private:
  AuthStack() = default;

  access::SystemWallClock system_clock_;
  std::unique_ptr<store::IdentityRecords> records_;
  std::unique_ptr<access::Directory> directory_;
  std::unique_ptr<access::DirectoryPrincipalStatus> status_;
  std::unique_ptr<access::RevokedSignIns> revoked_sign_ins_;
  std::unique_ptr<access::SignInRevocationStatus> revocation_status_;
  std::unique_ptr<access::SigningKeyRing> keys_;
  std::unique_ptr<access::AccessTokens> tokens_;
  std::unique_ptr<access::ClientAssertionVerifier> assertions_;
  std::unique_ptr<access::PendingAuthorizations> authorizations_;
  std::unique_ptr<access::LaunchContexts> launches_;
  std::unique_ptr<store::RefreshTokenRecords> refresh_tokens_;
  std::unique_ptr<http::AuthRoutes> routes_;
};

}  // namespace carerecord::app
