// JSON Web Signatures in compact form (RFC 7515/7519) and the keys that make and check them (RFC
// 7517/7518), over OpenSSL 3: ES256, ES384, RS256, RS384 and nothing else (never `none`, never
// HMAC). A key fixes its algorithm: an EC key by its curve, an RSA key by its JWK `alg` (RS256
// or RS384 when it has none). Used by the access tokens, the client assertions and, later, the
// regional IdP's ID tokens. Keys are immutable and may be shared by threads; so are key sets.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace carerecord::access {

enum class JwsAlgorithm { kES256, kES384, kRS256, kRS384 };

std::string_view JwsAlgorithmName(JwsAlgorithm alg);
// The algorithm a JOSE header names; an error naming why for `none`, HS*, and anything else.
base::Result<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name);

// Whether a key read from a JWK may hold private members. A key that arrives where a public key
// is expected (a client's registered JWKS, an issuer's JWKS) must not: its owner has leaked it.
enum class KeyMaterial { kPublicOnly, kPrivateAllowed };

class JsonWebKey {
 public:
  JsonWebKey() = default;  // no key: accepts, verifies and signs nothing
  // EC (crv P-256 or P-384, x, y) or RSA (n, e; at least 2,048 bits). `use`, when present, must
  // be "sig"; `alg`, when present, must be one the key can make. Errors name the member.
  static base::Result<JsonWebKey> FromJwk(const boost::json::object& jwk, KeyMaterial material);
  // A PEM private key (PKCS#8 or traditional) or public key (SubjectPublicKeyInfo), as the
  // openssl command line writes them. `alg` is needed only to pin an RSA key to one algorithm.
  static base::Result<JsonWebKey> FromPem(std::string_view pem, std::string kid,
                                          std::optional<JwsAlgorithm> alg = std::nullopt);
  // A fresh key from OpenSSL's generator (P-256, P-384 or RSA 2,048) pinned to `alg`; its kid is
  // its RFC 7638 thumbprint.
  static base::Result<JsonWebKey> Generate(JwsAlgorithm alg);
  static base::Result<JsonWebKey> GenerateEs256() { return Generate(JwsAlgorithm::kES256); }

  const std::string& kid() const { return kid_; }
  bool has_private_key() const { return has_private_; }
  // The one algorithm this key signs and verifies with; for an RSA key without a JWK `alg`,
  // nullopt (it verifies RS256 and RS384, and does not sign).
  std::optional<JwsAlgorithm> algorithm() const { return alg_; }
  bool Accepts(JwsAlgorithm alg) const;

  // kty and its public members, then kid, alg and use=sig: never a private member.
  boost::json::object PublicJwk() const;
  // RFC 7638: base64url of the SHA-256 of the required public members in canonical JSON.
  std::string Thumbprint() const;
  base::Result<std::string> PrivateKeyPem() const;

  // The JOSE signature of `signing_input` (raw r||s for ECDSA, PKCS#1 v1.5 for RSA).
  base::Result<std::string> Sign(std::string_view signing_input) const;
  // Whether `signature` (JOSE form) is this key's signature of `signing_input` under `alg`;
  // false too when the key does not accept `alg`.
  bool Verify(JwsAlgorithm alg, std::string_view signing_input, std::string_view signature) const;

 private:
  static base::Result<JsonWebKey> FromPkey(evp_pkey_st* pkey, std::string kid,
                                           std::optional<JwsAlgorithm> alg, bool has_private);

  std::shared_ptr<evp_pkey_st> key_;
  std::string kid_;
  std::optional<JwsAlgorithm> alg_;
  bool is_ec_ = false;
  size_t coordinate_bytes_ = 0;  // EC: 32 or 48
  bool has_private_ = false;
};

// A JWK Set ({"keys": [...]}) with lookup by kid. kids are unique within a set.
class JsonWebKeySet {
 public:
  struct ParseOptions {
    KeyMaterial material = KeyMaterial::kPublicOnly;
    // Keys of a kind this server does not use (OKP, oct, use=enc, P-521) are left out rather
    // than refused: for an IdP's published set. A client's registered set is held to all.
    bool skip_unsupported = false;
    size_t max_bytes = 64 * 1024;
    size_t max_keys = 100;
  };
  JsonWebKeySet() = default;
  explicit JsonWebKeySet(std::vector<JsonWebKey> keys) : keys_(std::move(keys)) {}
  static base::Result<JsonWebKeySet> Parse(std::string_view json_text, const ParseOptions& options);
  static base::Result<JsonWebKeySet> FromJson(const boost::json::value& jwks,
                                              const ParseOptions& options);

  // The key with this kid that accepts `alg`, or nullptr.
  const JsonWebKey* Find(std::string_view kid, JwsAlgorithm alg) const;
  const JsonWebKey* FindByKid(std::string_view kid) const;
  const std::vector<JsonWebKey>& keys() const { return keys_; }
  // {"keys": [public JWKs]}
  boost::json::object PublicJson() const;

 private:
  std::vector<JsonWebKey> keys_;
};

inline constexpr size_t kMaxCompactJwsBytes = 16 * 1024;

// A compact JWS taken apart, its signature not yet checked.
struct CompactJws {
  boost::json::object header;
  boost::json::object payload;
  JwsAlgorithm algorithm = JwsAlgorithm::kES256;  // the header's alg, known to be one we use
  std::string kid;                                // the header's kid; empty when absent
  std::string signing_input;                      // BASE64URL(header) '.' BASE64URL(payload)
  std::string signature;                          // decoded
};

// Exactly three non-empty base64url parts, header and payload JSON objects (no key twice), an
// alg of ours, no `crit`, at most `max_bytes`. `what` names the token in errors ("the access
// token", "the client assertion").
base::Result<CompactJws> ParseCompactJws(std::string_view token, std::string_view what,
                                         size_t max_bytes = kMaxCompactJwsBytes);

// header {"alg": the key's, "kid": the key's, "typ": typ} and the payload, signed.
base::Result<std::string> SignCompactJws(const JsonWebKey& key, const boost::json::object& payload,
                                         std::string_view typ = "JWT");

// The JWS's signature under `key`: refused when the key does not accept the header's alg.
base::Status VerifyCompactJws(const CompactJws& jws, const JsonWebKey& key, std::string_view what);

// Claim readers: errors name the claim and `what`.
// A string claim: nullopt when absent; an error when present but not a string.
base::Result<std::optional<std::string>> StringClaim(const boost::json::object& claims,
                                                     std::string_view name, std::string_view what);
// A NumericDate claim (seconds, whole or not; read to the second below): nullopt when absent.
base::Result<std::optional<int64_t>> NumericDateClaim(const boost::json::object& claims,
                                                      std::string_view name, std::string_view what);
// Whether `aud` (a string or an array of strings) names `audience`.
bool AudienceContains(const boost::json::object& claims, std::string_view audience);

// The SHA-256 of `bytes`.
std::string Sha256(std::string_view bytes);

}  // namespace carerecord::access
