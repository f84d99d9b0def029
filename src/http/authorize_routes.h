// Signing users in to SMART apps (SMART App Launch 2, RFC 6749 4.1, RFC 7636): the authorize
// endpoint and its sign-in form (`GET`/`POST /auth/authorize`), EHR launch ids (`POST
// /auth/launch`, for integration clients), and the token endpoint's user grants
// (authorization_code, refresh_token, in user_token_grants.cpp) once AuthRoutes has
// authenticated the client. Tokens it issues are AccessTokens' own; refresh tokens rotate on
// every use and live hashed in the database. Thread-safe: every service it uses is.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "access/access_token.h"
#include "access/authorization_codes.h"
#include "access/directory.h"
#include "access/revoked_sign_ins.h"
#include "access/signing_keys.h"
#include "access/wall_clock.h"
#include "http/fhir_routes.h"
#include "http/http_message.h"
#include "store/identity_records.h"
#include "store/refresh_token_records.h"

namespace carerecord::http {

struct AuthorizeRouteOptions {
  std::string issuer;     // the server's origin
  std::string fhir_base;  // `aud` must name it; fhirUser URLs are made under it
  // A regional IdP is configured: the sign-in page links to /auth/oidc/start with this label
  // ("Sign in with NHS CIS2"); empty: no link.
  std::string external_idp_label;
  // offline_access: each refresh token lives this long (rotation renews it).
  int64_t offline_refresh_seconds = 30 * 24 * 3600;
  // online_access: the refresh tokens of a sign-in end this long after it (a working day).
  int64_t online_refresh_seconds = 12 * 3600;
};

struct AuthorizeServices {
  access::Directory& directory;
  access::AccessTokens& tokens;
  access::SigningKeyRing& keys;
  const access::WallClock& clock;
  access::PendingAuthorizations& authorizations;
  access::LaunchContexts& launches;
  store::RefreshTokenRecords& refresh_tokens;
  access::RevokedSignIns& revoked_sign_ins;
};

// The cookie that ties a sign-in form to the browser that asked for it.
inline constexpr std::string_view kSignInCookie = "carerecord_signin";

class AuthorizeRoutes {
 public:
  AuthorizeRoutes(const FhirRoutes& fhir, AuthorizeServices services,
                  AuthorizeRouteOptions options);

  // /auth/authorize: GET (or POST with the same parameters) starts a sign-in; POST with the
  // form's `pending` field finishes one.
  HttpResponse Authorize(const HttpRequest& request) const;
  // POST /auth/launch.
  HttpResponse Launch(const HttpRequest& request) const;
  // The token endpoint's grant_type authorization_code or refresh_token for `client`, which
  // AuthRoutes authenticated (a public client by its client_id alone).
  HttpResponse Token(const std::string& grant_type, const store::ClientRecord& client,
                     const std::map<std::string, std::string>& form) const;

 private:
  HttpResponse StartSignIn(const HttpRequest& request,
                           const std::map<std::string, std::string>& params,
                           const std::string& duplicated) const;
  HttpResponse FinishSignIn(const HttpRequest& request,
                            const std::map<std::string, std::string>& form) const;
  HttpResponse ExchangeCode(const store::ClientRecord& client,
                            const std::map<std::string, std::string>& form) const;
  HttpResponse Refresh(const store::ClientRecord& client,
                       const std::map<std::string, std::string>& form) const;

  // What a user token response is made of: the grant as signed in, whether to send an ID token
  // nonce, and the refresh token to hand out (empty: none).
  struct UserGrant {
    std::string client_id;
    std::string username;
    std::string organisation;
    std::string role;
    std::string scope;
    std::string patient;
    std::string fhir_user;
    std::string nonce;
    int64_t auth_time = 0;
    std::string sign_in;  // the refresh family: names the sign-in in the access token (`sid`)
  };
  HttpResponse TokenResponse(const UserGrant& grant, const std::string& refresh_token) const;
  // Whether the user still exists and may act (their organisation too), read now.
  base::Result<bool> UserMayAct(const std::string& username) const;
  int64_t RefreshExpiry(const UserGrant& grant, int64_t now) const;
  // A code or refresh token used twice: its refresh tokens and access tokens are revoked.
  void RevokeSignIn(const std::string& family) const;

  static std::string Param(const std::map<std::string, std::string>& form, const char* name);
  static std::string TrimSlashes(std::string text);

  const FhirRoutes& fhir_;
  AuthorizeServices services_;
  const AuthorizeRouteOptions options_;
};

}  // namespace carerecord::http
