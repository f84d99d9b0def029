#include "access/access_token.h"

#include <openssl/evp.h>

#include <array>
#include <boost/json/object.hpp>
#include <cstring>
#include <ctime>
#include <mutex>
#include <unordered_map>

#include "access/jwt.h"
#include "access/passwords.h"

namespace carerecord::access {

namespace json = boost::json;
using base::Invalid;

namespace {

constexpr std::string_view kWhat = "the access token";
constexpr std::string_view kTokenType = "at+jwt";  // RFC 9068: never mistaken for an ID token

using Digest = std::array<unsigned char, 32>;

struct DigestHash {
  size_t operator()(const Digest& digest) const {
    size_t hash;
    std::memcpy(&hash, digest.data(), sizeof hash);  // already uniformly distributed
    return hash;
  }
};

Digest TokenDigest(std::string_view token) {
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  Digest digest;
  unsigned int length = 0;
  EVP_Digest(token.data(), token.size(), digest.data(), &length, sha256, nullptr);
  return digest;
}

std::string IsoTime(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

base::Status CheckExpiry(const VerifiedToken& token, int64_t now, int64_t leeway) {
  if (now > token.expires_at + leeway) {
    return Invalid("the access token expired at " + IsoTime(token.expires_at));
  }
  return base::Status::Ok();
}

base::Result<std::string> RequiredString(const json::object& claims, std::string_view name) {
  auto value = StringClaim(claims, name, kWhat);
  if (!value.ok()) return value.error();
  if (!value->has_value() || (*value)->empty()) {
    return Invalid("the access token has no '" + std::string(name) + "' claim");
  }
  return std::move(**value);
}

std::string OptionalString(const json::object& claims, std::string_view name) {
  auto value = StringClaim(claims, name, kWhat);
  return value.ok() ? value->value_or("") : "";
}

}  // namespace

// Verified tokens by the SHA-256 of their text, in shards with a lock each. A shard that is full
// drops its expired entries, then any entry: the cache only saves work, it never decides.
class VerifiedTokenCache {
 public:
  struct Entry {
    std::shared_ptr<const VerifiedToken> token;
    uint64_t key_generation = 0;
    int64_t status_checked_at = 0;
  };

  explicit VerifiedTokenCache(size_t capacity)
      : per_shard_(std::max<size_t>(1, capacity / kShards)) {}

  std::optional<Entry> Find(const Digest& digest) {
    Shard& shard = ShardOf(digest);
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(digest);
    if (it == shard.entries.end()) return std::nullopt;
    return it->second;
  }

  void Put(const Digest& digest, Entry entry, int64_t now, int64_t leeway) {
    Shard& shard = ShardOf(digest);
    std::lock_guard lock(shard.mutex);
    if (shard.entries.size() >= per_shard_ && !shard.entries.contains(digest)) {
      std::erase_if(shard.entries,
                    [&](const auto& item) { return now > item.second.token->expires_at + leeway; });
      if (shard.entries.size() >= per_shard_) shard.entries.erase(shard.entries.begin());
    }
    shard.entries[digest] = std::move(entry);
  }

  void SetStatusCheckedAt(const Digest& digest, int64_t now) {
    Shard& shard = ShardOf(digest);
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(digest);
    if (it != shard.entries.end()) it->second.status_checked_at = now;
  }

  void Erase(const Digest& digest) {
    Shard& shard = ShardOf(digest);
    std::lock_guard lock(shard.mutex);
    shard.entries.erase(digest);
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
    std::unordered_map<Digest, Entry, DigestHash> entries;
  };
  Shard& ShardOf(const Digest& digest) { return shards_[digest[31] % kShards]; }

  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

std::string_view PrincipalKindName(PrincipalKind kind) {
  return kind == PrincipalKind::kUser ? "user" : "client";
}

ScopeLevel VerifiedToken::LevelForMessages() const {
  if (!patient.empty()) return ScopeLevel::kPatient;
  return kind == PrincipalKind::kClient ? ScopeLevel::kSystem : ScopeLevel::kUser;
}

AccessContext ContextOf(const std::shared_ptr<const VerifiedToken>& t) {
  AccessContext who;
  who.kind = t->kind;
  who.principal =
      (t->kind == PrincipalKind::kUser ? "user:" + t->subject : "client:" + t->client_id);
  if (t->kind == PrincipalKind::kUser) who.user = t->subject;
  who.client_id = t->client_id;
  who.organisation = t->organisation;
  who.role = t->role;
  who.scopes = std::shared_ptr<const ScopeSet>(t, &t->scopes);
  who.patient = t->patient;
  who.fhir_user = t->fhir_user;
  who.purpose = t->purpose;
  return who;
}

AccessTokens::AccessTokens(SigningKeyRing& keys, const WallClock& clock, AccessTokenOptions options,
                           PrincipalStatus* status)
    : keys_(keys),
      clock_(clock),
      options_(std::move(options)),
      status_(status),
      cache_(std::make_unique<VerifiedTokenCache>(options_.cache_capacity)) {}

AccessTokens::~AccessTokens() = default;

base::Result<IssuedAccessToken> AccessTokens::Issue(const AccessTokenGrant& grant) {
  if (grant.subject.empty() || grant.client_id.empty() || grant.organisation.empty() ||
      grant.role.empty()) {
    return base::MakeError(base::ErrorCode::kInternal,
                           "an access token needs a subject, client, organisation and role");
  }
  auto scopes = ScopeSet::Parse(grant.scope);
  if (!scopes.ok()) return scopes.error();
  const std::string jti = RandomToken(16);
  const int64_t now = clock_.NowSeconds();
  const int64_t ttl = keys_.options().token_ttl_seconds;
  json::object claims{{"iss", options_.issuer},
                      {"aud", options_.audience},
                      {"sub", grant.subject},
                      {"client_id", grant.client_id},
                      {"scope", grant.scope},
                      {"iat", now},
                      {"nbf", now},
                      {"exp", now + ttl},
                      {"jti", jti},
                      {"principal", PrincipalKindName(grant.kind)},
                      {"org", grant.organisation},
                      {"role", grant.role}};
  if (!grant.patient.empty()) claims["patient"] = grant.patient;
  if (!grant.fhir_user.empty()) claims["fhirUser"] = grant.fhir_user;
  if (!grant.purpose.empty()) claims["purpose"] = grant.purpose;
  if (!grant.sign_in.empty()) claims["sid"] = grant.sign_in;
  std::shared_ptr<const SigningKeyRing::Keys> keys = keys_.Current();
  auto token = SignCompactJws(keys->current, claims, kTokenType);
  if (!token.ok()) return token.error();
  return IssuedAccessToken{std::move(token).value(), jti, now + ttl, ttl};
}

base::Result<std::shared_ptr<const VerifiedToken>> AccessTokens::VerifyUncached(
    std::string_view token) {
  auto jws = ParseCompactJws(token, kWhat);
  if (!jws.ok()) return jws.error();
  auto typ = StringClaim(jws->header, "typ", "the access token's header");
  if (!typ.ok()) return typ.error();
  if (!typ->has_value() || **typ != kTokenType) {
    return Invalid("the access token's header 'typ' is not '" + std::string(kTokenType) +
                   "': it is not an access token of this server");
  }
  const int64_t now = clock_.NowSeconds();
  const int64_t leeway = keys_.options().leeway_seconds;
  std::shared_ptr<const SigningKeyRing::Keys> keys = keys_.Current();
  const JsonWebKey* key = jws->kid.empty() ? nullptr : keys->VerifierFor(jws->kid, now);
  if (key == nullptr) {
    return Invalid("the access token's key ('kid' " +
                   (jws->kid.empty() ? std::string("absent") : "'" + jws->kid + "'") +
                   ") is not one of this server's signing keys");
  }
  CR_RETURN_IF_ERROR(VerifyCompactJws(*jws, *key, kWhat));

  const json::object& claims = jws->payload;
  auto iss = StringClaim(claims, "iss", kWhat);
  if (!iss.ok()) return iss.error();
  if (!iss->has_value() || **iss != options_.issuer) {
    return Invalid("the access token's issuer is not this server (" + options_.issuer + ")");
  }
  if (!AudienceContains(claims, options_.audience)) {
    return Invalid("the access token's audience is not this server's FHIR base (" +
                   options_.audience + ")");
  }
  auto verified = std::make_shared<VerifiedToken>();
  auto exp = NumericDateClaim(claims, "exp", kWhat);
  if (!exp.ok()) return exp.error();
  if (!exp->has_value()) return Invalid("the access token has no 'exp' claim");
  verified->expires_at = **exp;
  auto nbf = NumericDateClaim(claims, "nbf", kWhat);
  if (!nbf.ok()) return nbf.error();
  auto iat = NumericDateClaim(claims, "iat", kWhat);
  if (!iat.ok()) return iat.error();
  verified->not_before = nbf->value_or(0);
  verified->issued_at = iat->value_or(0);
  CR_RETURN_IF_ERROR(CheckExpiry(*verified, now, leeway));
  if (now + leeway < verified->not_before) {
    return Invalid("the access token is not valid before " + IsoTime(verified->not_before));
  }
  if (now + leeway < verified->issued_at) {
    return Invalid("the access token was issued in the future (" + IsoTime(verified->issued_at) +
                   ")");
  }

  auto principal = RequiredString(claims, "principal");
  if (!principal.ok()) return principal.error();
  if (*principal == "user") {
    verified->kind = PrincipalKind::kUser;
  } else if (*principal == "client") {
    verified->kind = PrincipalKind::kClient;
  } else {
    return Invalid("the access token's 'principal' is neither user nor client");
  }
  std::pair<const char*, std::string*> required[] = {{"sub", &verified->subject},
                                                     {"client_id", &verified->client_id},
                                                     {"org", &verified->organisation},
                                                     {"role", &verified->role},
                                                     {"jti", &verified->jti}};
  for (auto [name, field] : required) {
    auto value = RequiredString(claims, name);
    if (!value.ok()) return value.error();
    *field = std::move(value).value();
  }
  auto scope = StringClaim(claims, "scope", kWhat);
  if (!scope.ok()) return scope.error();
  if (!scope->has_value()) return Invalid("the access token has no 'scope' claim");
  verified->scope = std::move(**scope);
  auto scopes = ScopeSet::Parse(verified->scope);
  if (!scopes.ok()) return Invalid("the access token's scope: " + scopes.error().message);
  verified->scopes = std::move(scopes).value();
  verified->patient = OptionalString(claims, "patient");
  verified->fhir_user = OptionalString(claims, "fhirUser");
  verified->purpose = OptionalString(claims, "purpose");
  verified->sign_in = OptionalString(claims, "sid");
  verified->key_id = jws->kid;

  if (status_ != nullptr) CR_RETURN_IF_ERROR(status_->CheckEnabled(*verified));
  return std::shared_ptr<const VerifiedToken>(std::move(verified));
}

base::Status AccessTokens::Recheck(const VerifiedToken& token, int64_t now, int64_t& checked_at) {
  CR_RETURN_IF_ERROR(CheckExpiry(token, now, keys_.options().leeway_seconds));
  if (status_ != nullptr && now - checked_at >= options_.status_recheck_seconds) {
    CR_RETURN_IF_ERROR(status_->CheckEnabled(token));
    checked_at = now;
  }
  return base::Status::Ok();
}

base::Result<AccessTokens::Checked> AccessTokens::VerifyShared(std::string_view token, int64_t now,
                                                               uint64_t generation) {
  if (token.size() > kMaxCompactJwsBytes) {  // refused there, without hashing it
    auto refused = VerifyUncached(token);
    if (!refused.ok()) return refused.error();
    return Checked{*refused, now};
  }
  const Digest digest = TokenDigest(token);
  if (std::optional<VerifiedTokenCache::Entry> entry = cache_->Find(digest)) {
    // After the key file changed the token is checked again: its key may have been removed.
    if (entry->key_generation == generation) {
      int64_t checked_at = entry->status_checked_at;
      if (base::Status still = Recheck(*entry->token, now, checked_at); !still.ok()) {
        cache_->Erase(digest);
        return still.error();
      }
      if (checked_at != entry->status_checked_at) cache_->SetStatusCheckedAt(digest, checked_at);
      return Checked{std::move(entry->token), checked_at};
    }
  }
  auto verified = VerifyUncached(token);
  if (!verified.ok()) return verified.error();
  cache_->Put(digest, {*verified, generation, now}, now, keys_.options().leeway_seconds);
  return Checked{std::move(verified).value(), now};
}

base::Result<std::shared_ptr<const VerifiedToken>> AccessTokens::Verify(std::string_view token) {
  const int64_t now = clock_.NowSeconds();
  auto checked = VerifyShared(token, now, keys_.CurrentGeneration());
  if (!checked.ok()) return checked.error();
  return std::move(checked->token);
}

base::Result<std::shared_ptr<const VerifiedToken>> AccessTokens::Verify(std::string_view token,
                                                                        VerifiedTokenMemo& memo) {
  const int64_t now = clock_.NowSeconds();
  const uint64_t generation = keys_.CurrentGeneration();
  if (memo.verified_ && memo.key_generation_ == generation && memo.token_ == token) {
    if (base::Status still = Recheck(*memo.verified_, now, memo.status_checked_at_); !still.ok()) {
      memo.verified_.reset();
      return still.error();
    }
    return memo.verified_;
  }
  memo.verified_.reset();
  auto checked = VerifyShared(token, now, generation);
  if (!checked.ok()) return checked.error();
  memo.token_.assign(token);
  memo.verified_ = checked->token;
  memo.key_generation_ = generation;
  memo.status_checked_at_ = checked->status_checked_at;
  return std::move(checked->token);
}

size_t AccessTokens::cached_tokens() const { return cache_->size(); }

}  // namespace carerecord::access
