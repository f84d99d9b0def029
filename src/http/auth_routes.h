// The front door of the server's HTTP API: the OAuth 2.0 token endpoint (`POST /auth/token`,
// client credentials with client_secret_basic, client_secret_post or private_key_jwt as SMART
// Backend Services profiles it, and the user grants AuthorizeRoutes serves), the authorize and
// launch endpoints (AuthorizeRoutes), the JWKS (`GET /auth/jwks`), the SMART and OpenID
// discovery documents, and the gate every other request passes: a Bearer access token verified
// into an access::AccessContext before FhirRoutes sees the request (401 with WWW-Authenticate
// when it is missing or refused). Only /fhir/metadata, the discovery documents and the sign-in
// pages are public.
// Thread-safe: every service it uses is.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "access/access_token.h"
#include "access/authorization_codes.h"
#include "access/client_assertion.h"
#include "access/directory.h"
#include "access/revoked_sign_ins.h"
#include "access/signing_keys.h"
#include "base/status.h"
#include "http/fhir_routes.h"
#include "http/http_message.h"
#include "store/refresh_token_records.h"

namespace carerecord::http {

// The URLs the server names itself by, fixed when it starts: from --public-url, or from the
// address it listens on; never from a request's Host header.
struct AuthEndpoints {
  std::string issuer;     // the server's origin, "https://record.example.org": tokens' iss
  std::string fhir_base;  // "https://record.example.org/fhir": tokens' aud

  // From the FHIR base URL: its origin is the issuer.
  static base::Result<AuthEndpoints> FromFhirBase(std::string_view fhir_base);
  std::string token_endpoint() const { return issuer + "/auth/token"; }
  std::string jwks_uri() const { return issuer + "/auth/jwks"; }
  std::string authorization_endpoint() const { return issuer + "/auth/authorize"; }
};

struct AuthServices {
  access::Directory& directory;
  access::AccessTokens& tokens;
  access::ClientAssertionVerifier& assertions;
  access::SigningKeyRing& keys;
  // User sign-in (AuthorizeRoutes).
  const access::WallClock& clock;
  access::PendingAuthorizations& authorizations;
  access::LaunchContexts& launches;
  store::RefreshTokenRecords& refresh_tokens;
  access::RevokedSignIns& revoked_sign_ins;
};

struct AuthRouteOptions {
  // A regional IdP is configured: the sign-in page offers "Sign in with <label>", linking to
  // /auth/oidc/start?request=<pending id>. Empty: no link.
  std::string external_idp_label;
};

class AuthorizeRoutes;

class AuthRoutes {
 public:
  AuthRoutes(const FhirRoutes& fhir, AuthServices services, AuthEndpoints endpoints,
             AuthRouteOptions options = {});
  ~AuthRoutes();

  // For the HTTP server: a FHIR answer may carry a ResponseHold (FhirRoutes::HandleDeferred),
  // which the server honours; a caller outside it uses Settled on the answer.
  HttpResponse Handle(const HttpRequest& request) const;

  // FhirRoutes' quick reads, and the JWKS and discovery documents (ServerOptions::
  // runs_on_io_thread). Verifying a token is quick: cached, it costs about a microsecond.
  static bool IsQuickRead(const HttpRequest& request);

  const AuthEndpoints& endpoints() const { return endpoints_; }

 private:
  // /auth/token: Token, then its sign-in entry appended (auth_token_routes.cpp).
  HttpResponse TokenEndpoint(const HttpRequest& request) const;
  HttpResponse Token(const HttpRequest& request) const;
  HttpResponse ClientCredentials(const store::ClientRecord& client,
                                 const std::map<std::string, std::string>& form) const;
  // The client a token request authenticates as (HTTP Basic, client_secret_post,
  // private_key_jwt; a public client by its client_id alone when `public_allowed`), enabled,
  // its organisation enabled; or the refusal to answer.
  struct ClientAuthentication {
    std::optional<store::ClientRecord> client;
    HttpResponse refusal;
    bool basic = false;
  };
  ClientAuthentication AuthenticateClient(const HttpRequest& request,
                                          const std::map<std::string, std::string>& form,
                                          bool public_allowed) const;
  // /fhir/metadata with rest.security (SMART's service coding and oauth-uris) added.
  HttpResponse Metadata(const HttpRequest& request) const;
  HttpResponse Jwks() const;
  HttpResponse SmartConfiguration() const;
  HttpResponse OpenIdConfiguration() const;
  // The gate: verifies the Bearer token, then hands the request and its caller to FhirRoutes.
  HttpResponse AuthenticatedFhir(const HttpRequest& request) const;

  const FhirRoutes& fhir_;
  AuthServices services_;
  const AuthEndpoints endpoints_;
  std::unique_ptr<AuthorizeRoutes> authorize_;
  // The CapabilityStatement FhirRoutes answered last and the same with its security section, so
  // the decoration is made once, not per request.
  mutable std::mutex metadata_mutex_;
  mutable std::string metadata_plain_;
  mutable std::string metadata_secured_;
  // Names this instance in each thread's memo of the last token it verified (a keep-alive
  // client sends the same token each time); a memo of another instance is never used.
  const uint64_t instance_;
};

}  // namespace carerecord::http
