// OpenID Connect ID tokens (OIDC Core 1.0 section 2, SMART App Launch 2 "fhirUser"): ES256 JWTs
// signed by the same key ring as the access tokens, so an app verifies them with the JWKS the
// discovery documents name. Issued by the token endpoint when `openid` was granted. Pure apart
// from the key ring and the clock, both thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "access/signing_keys.h"
#include "access/wall_clock.h"
#include "base/status.h"

namespace carerecord::access {

struct IdTokenClaims {
  std::string issuer;     // iss: this server's issuer URL
  std::string subject;    // sub: the username (unique, never reused)
  std::string client_id;  // aud
  std::string nonce;      // from the authorization request; empty: no nonce claim
  std::string fhir_user;  // absolute URL of the user's Practitioner or Patient; empty: none
  int64_t auth_time = 0;  // when the user signed in
};

// Lives as long as the access tokens (the key ring's lifetime).
base::Result<std::string> IssueIdToken(SigningKeyRing& keys, const WallClock& clock,
                                       const IdTokenClaims& claims);

}  // namespace carerecord::access
