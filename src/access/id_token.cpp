#include "access/id_token.h"

#include <boost/json/object.hpp>

#include "access/jwt.h"

namespace carerecord::access {

base::Result<std::string> IssueIdToken(SigningKeyRing& keys, const WallClock& clock,
                                       const IdTokenClaims& claims) {
  if (claims.issuer.empty() || claims.subject.empty() || claims.client_id.empty()) {
    return base::MakeError(base::ErrorCode::kInternal,
                           "an ID token needs an issuer, a subject and an audience");
  }
  const int64_t now = clock.NowSeconds();
  boost::json::object payload{{"iss", claims.issuer},
                              {"sub", claims.subject},
                              {"aud", claims.client_id},
                              {"azp", claims.client_id},
                              {"iat", now},
                              {"exp", now + keys.options().token_ttl_seconds}};
  if (claims.auth_time > 0) payload["auth_time"] = claims.auth_time;
  if (!claims.nonce.empty()) payload["nonce"] = claims.nonce;
  if (!claims.fhir_user.empty()) payload["fhirUser"] = claims.fhir_user;
  std::shared_ptr<const SigningKeyRing::Keys> current = keys.Current();
  return SignCompactJws(current->current, payload, "JWT");
}

}  // namespace carerecord::access
