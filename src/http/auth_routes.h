// The front door of the server's HTTP API: the OAuth 2.0 token endpoint (`POST /auth/token`,
// client credentials with client_secret_basic, client_secret_post or private_key_jwt as SMART
// Backend Services profiles it), the JWKS (`GET /auth/jwks`), the SMART and OpenID discovery
// documents, and the gate every other request passes: a Bearer access token verified into an
// access::AccessContext before FhirRoutes sees the request (401 with WWW-Authenticate when it
// is missing or refused). Only /fhir/metadata and the discovery documents are public.
// Thread-safe: every service it uses is.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "access/access_token.h"
#include "access/client_assertion.h"
#include "access/directory.h"
#include "access/signing_keys.h"
#include "base/status.h"
#include "http/fhir_routes.h"
#include "http/http_message.h"

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
};

class AuthRoutes {
 public:
  AuthRoutes(const FhirRoutes& fhir, AuthServices services, AuthEndpoints endpoints);

  HttpResponse Handle(const HttpRequest& request) const;

  // FhirRoutes' quick reads, and the JWKS and discovery documents (ServerOptions::
  // runs_on_io_thread). Verifying a token is quick: cached, it costs about a microsecond.
  static bool IsQuickRead(const HttpRequest& request);

  const AuthEndpoints& endpoints() const { return endpoints_; }

 private:
  HttpResponse Token(const HttpRequest& request) const;
  HttpResponse Jwks() const;
  HttpResponse SmartConfiguration() const;
  HttpResponse OpenIdConfiguration() const;
  // The gate: verifies the Bearer token, then hands the request and its caller to FhirRoutes.
  HttpResponse AuthenticatedFhir(const HttpRequest& request) const;

  const FhirRoutes& fhir_;
  AuthServices services_;
  const AuthEndpoints endpoints_;
  // Names this instance in each thread's memo of the last token it verified (a keep-alive
  // client sends the same token each time); a memo of another instance is never used.
  const uint64_t instance_;
};

}  // namespace carerecord::http
