#include "access/client_assertion.h"

#include <array>
#include <boost/json/object.hpp>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace carerecord::access {

namespace json = boost::json;
using base::Invalid;

namespace {

constexpr std::string_view kWhat = "the client assertion";
constexpr size_t kMaxJtiBytes = 256;

using Digest = std::array<unsigned char, 32>;

struct DigestHash {
  size_t operator()(const Digest& digest) const {
    size_t hash;
    std::memcpy(&hash, digest.data(), sizeof hash);
    return hash;
  }
};

}  // namespace

// The jtis of accepted assertions, per client, until they expire: keyed by the SHA-256 of
// client_id NUL jti (fixed size, whatever the jti's length), in shards with a lock each.
class JtiReplayCache {
 public:
  explicit JtiReplayCache(size_t capacity) : per_shard_(std::max<size_t>(1, capacity / kShards)) {}

  // Remembers the jti until `forget_after`; kInvalid when it is remembered already, kUnavailable
  // when the shard is full of unexpired jtis.
  base::Status Remember(std::string_view client_id, std::string_view jti, int64_t forget_after,
                        int64_t now) {
    std::string key(client_id);
    key.push_back('\0');
    key.append(jti);
    std::string hash = Sha256(key);
    Digest digest;
    std::memcpy(digest.data(), hash.data(), digest.size());
    Shard& shard = shards_[digest[31] % kShards];
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(digest);
    if (it != shard.entries.end()) {
      if (now <= it->second) {
        return Invalid("the client assertion's jti has been used before: a replay is refused");
      }
      shard.entries.erase(it);
    }
    if (shard.entries.size() >= per_shard_) {
      std::erase_if(shard.entries, [now](const auto& item) { return now > item.second; });
      if (shard.entries.size() >= per_shard_) {
        return base::MakeError(base::ErrorCode::kUnavailable,
                               "too many client assertions are outstanding; try again shortly");
      }
    }
    shard.entries.emplace(digest, forget_after);
    return base::Status::Ok();
  }

  size_t size() const {
    size_t total = 0;
    for (const Shard& shard : shards_) {
      std::lock_guard lock(shard.mutex);
      total += shard.entries.size();
    }
    return total;
  }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<Digest, int64_t, DigestHash> entries;  // forget after
  };
  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

ClientAssertionVerifier::ClientAssertionVerifier(const WallClock& clock,
                                                 ClientAssertionOptions options)
    : clock_(clock),
      options_(options),
      replay_(std::make_unique<JtiReplayCache>(options.replay_capacity)) {}

ClientAssertionVerifier::~ClientAssertionVerifier() = default;

base::Result<std::string> ClientAssertionVerifier::UnverifiedIssuer(std::string_view assertion) {
  auto jws = ParseCompactJws(assertion, kWhat);
  if (!jws.ok()) return jws.error();
  auto iss = StringClaim(jws->payload, "iss", kWhat);
  if (!iss.ok()) return iss.error();
  if (!iss->has_value() || (*iss)->empty()) return Invalid("the client assertion has no 'iss'");
  return std::move(**iss);
}

base::Result<VerifiedClientAssertion> ClientAssertionVerifier::Verify(
    std::string_view assertion, const ClientAssertionExpectation& expected) {
  auto jws = ParseCompactJws(assertion, kWhat);
  if (!jws.ok()) return jws.error();
  const std::string alg_name(JwsAlgorithmName(jws->algorithm));
  if (!options_.accept_sha256 &&
      (jws->algorithm == JwsAlgorithm::kES256 || jws->algorithm == JwsAlgorithm::kRS256)) {
    return Invalid("the client assertion's alg " + alg_name + " is not accepted (ES384, RS384)");
  }
  if (jws->kid.empty()) {
    return Invalid(
        "the client assertion's header has no 'kid': it must name a key of the "
        "client's registered JWKS");
  }
  JsonWebKeySet::ParseOptions parse_options;
  parse_options.skip_unsupported = true;  // a client's extra (e.g. encryption) keys are not ours
  auto jwks = JsonWebKeySet::Parse(expected.jwks_json, parse_options);
  if (!jwks.ok()) {
    return Invalid("the client's registered JWKS cannot be used: " + jwks.error().message);
  }
  const JsonWebKey* key = jwks->Find(jws->kid, jws->algorithm);
  if (key == nullptr) {
    return Invalid("the client assertion's kid '" + jws->kid + "' names no " + alg_name +
                   " key of client " + expected.client_id + "'s registered JWKS");
  }
  CR_RETURN_IF_ERROR(VerifyCompactJws(*jws, *key, kWhat));

  const json::object& claims = jws->payload;
  auto iss = StringClaim(claims, "iss", kWhat);
  if (!iss.ok()) return iss.error();
  auto sub = StringClaim(claims, "sub", kWhat);
  if (!sub.ok()) return sub.error();
  if (!iss->has_value() || **iss != expected.client_id) {
    return Invalid("the client assertion's iss is not the client_id (" + expected.client_id + ")");
  }
  if (!sub->has_value() || **sub != expected.client_id) {
    return Invalid("the client assertion's sub is not the client_id (" + expected.client_id + ")");
  }
  if (!AudienceContains(claims, expected.token_endpoint)) {
    return Invalid("the client assertion's aud is not this server's token endpoint (" +
                   expected.token_endpoint + ")");
  }
  const int64_t now = clock_.NowSeconds();
  auto exp = NumericDateClaim(claims, "exp", kWhat);
  if (!exp.ok()) return exp.error();
  if (!exp->has_value()) return Invalid("the client assertion has no 'exp'");
  if (now > **exp + options_.leeway_seconds) {
    return Invalid("the client assertion has expired");
  }
  if (**exp - now > options_.max_lifetime_seconds + options_.clock_skew_seconds) {
    return Invalid("the client assertion's exp is " + std::to_string(**exp - now) +
                   " seconds ahead: at most " + std::to_string(options_.max_lifetime_seconds) +
                   " are accepted");
  }
  auto nbf = NumericDateClaim(claims, "nbf", kWhat);
  if (!nbf.ok()) return nbf.error();
  if (nbf->has_value() && now + options_.leeway_seconds < **nbf) {
    return Invalid("the client assertion is not valid yet (nbf)");
  }
  auto jti = StringClaim(claims, "jti", kWhat);
  if (!jti.ok()) return jti.error();
  if (!jti->has_value() || (*jti)->empty()) return Invalid("the client assertion has no 'jti'");
  if ((*jti)->size() > kMaxJtiBytes) {
    return Invalid("the client assertion's jti is longer than " + std::to_string(kMaxJtiBytes) +
                   " bytes");
  }
  CR_RETURN_IF_ERROR(
      replay_->Remember(expected.client_id, **jti, **exp + options_.leeway_seconds, now));
  return VerifiedClientAssertion{expected.client_id, std::move(**jti), jws->kid, jws->algorithm,
                                 **exp};
}

size_t ClientAssertionVerifier::remembered_jtis() const { return replay_->size(); }

}  // namespace carerecord::access
