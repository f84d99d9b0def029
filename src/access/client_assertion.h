// Client authentication by signed assertion (`private_key_jwt`, RFC 7523, as SMART Backend
// Services profiles it): a JWT the client signs with a key from its registered JWKS, for the
// token endpoint only, once. ClientAssertionVerifier checks one and remembers its jti until it
// expires, so a replay is refused. Thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "access/jwt.h"
#include "access/wall_clock.h"
#include "base/status.h"

namespace carerecord::access {

// What the assertion must match: the client the token request names, its registered JWKS (JSON
// text from the directory) and the token endpoint's URL.
struct ClientAssertionExpectation {
  std::string client_id;
  std::string jwks_json;
  std::string token_endpoint;
};

struct VerifiedClientAssertion {
  std::string client_id;
  std::string jti;
  std::string key_id;
  JwsAlgorithm algorithm = JwsAlgorithm::kES384;
  int64_t expires_at = 0;
};

struct ClientAssertionOptions {
  int64_t max_lifetime_seconds = 300;  // SMART: exp no more than five minutes ahead
  // How far a client's clock may run ahead of ours: exp up to max_lifetime + this ahead is taken.
  int64_t clock_skew_seconds = 10;
  // How long after exp an assertion is still taken (and its jti remembered).
  int64_t leeway_seconds = 30;
  // ES384 and RS384 are what SMART asks clients to support; ES256 and RS256 are accepted too.
  bool accept_sha256 = true;
  // Unexpired jtis remembered at most (about 80 bytes each). When full, new assertions are
  // refused (503) until old ones expire: forgetting one would allow its replay.
  size_t replay_capacity = 1'000'000;
};

class JtiReplayCache;

class ClientAssertionVerifier {
 public:
  ClientAssertionVerifier(const WallClock& clock, ClientAssertionOptions options = {});
  ~ClientAssertionVerifier();

  // Checks, in order: a compact JWS with an accepted alg and a kid naming a key of that alg in
  // the client's JWKS, its signature, iss == sub == client_id, aud == the token endpoint, exp
  // present and neither past nor too far ahead, nbf if present, a jti never seen for this client
  // (then remembered until exp). A refusal is kInvalid with the reason (the caller answers 401
  // invalid_client); a full replay cache is kUnavailable.
  base::Result<VerifiedClientAssertion> Verify(std::string_view assertion,
                                               const ClientAssertionExpectation& expected);

  // The assertion's iss, unverified: to find the client when the request has no client_id.
  static base::Result<std::string> UnverifiedIssuer(std::string_view assertion);

  size_t remembered_jtis() const;

 private:
  const WallClock& clock_;
  const ClientAssertionOptions options_;
  std::unique_ptr<JtiReplayCache> replay_;
};

}  // namespace carerecord::access
