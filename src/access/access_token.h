// This server's access tokens: ES256 JWTs (RFC 9068 `at+jwt`) it issues at its token endpoint and
// checks on every request. A check trusts only the server's own keys (SigningKeyRing) and the
// alg each key fixes, and checks iss, aud (the FHIR base), exp and nbf with a bounded leeway, the
// claims the policy needs and, through PrincipalStatus, that the user and client are still
// enabled. Verified tokens are cached by their SHA-256 until they expire. AccessTokens is
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "access/access_context.h"
#include "access/scopes.h"
#include "access/signing_keys.h"
#include "access/wall_clock.h"
#include "base/status.h"

namespace carerecord::access {

std::string_view PrincipalKindName(PrincipalKind kind);

// What one token grants, as the token endpoint decided it.
struct AccessTokenGrant {
  PrincipalKind kind = PrincipalKind::kClient;
  std::string subject;       // the user's id, or the client_id for a client acting for itself
  std::string client_id;     // the client that asked
  std::string organisation;  // ODS code of the organisation the principal acts for
  std::string role;          // clinician, nurse, ..., integration
  std::string scope;         // the granted scopes, space-separated (must parse)
  std::string patient;       // launch context: the patient's id; empty when none
  std::string fhir_user;     // "Practitioner/ID" or "Patient/ID"; empty when none
  std::string purpose;       // purpose of use when not the default; empty when none
  // The user sign-in the token descends from (claim `sid`), so revoking the sign-in revokes it
  // (RevokedSignIns); empty for a client's own tokens.
  std::string sign_in;
};

struct IssuedAccessToken {
  std::string token;
  std::string jti;
  int64_t expires_at = 0;
  int64_t expires_in = 0;  // seconds, for the token response
};

// Everything the policy needs from a verified token. Immutable once made.
struct VerifiedToken {
  PrincipalKind kind = PrincipalKind::kClient;
  std::string subject;
  std::string client_id;
  std::string organisation;
  std::string role;
  std::string scope;  // as granted
  ScopeSet scopes;    // the same, parsed
  std::string patient;
  std::string fhir_user;
  std::string purpose;
  std::string sign_in;
  std::string jti;
  std::string key_id;
  int64_t issued_at = 0;
  int64_t not_before = 0;
  int64_t expires_at = 0;

  // The level a missing scope is named at in a 403: patient with a patient context, system for
  // a client acting for itself, user otherwise.
  ScopeLevel LevelForMessages() const;
};

// The caller a verified token names, for the policy (shares the token's parsed scopes).
AccessContext ContextOf(const std::shared_ptr<const VerifiedToken>& token);

// Whether the principals a token names may still act: the directory answers (a disabled user or
// client is refused even with an unexpired token). An error Status refuses the token; its
// message is shown to the caller. Must be thread-safe.
class PrincipalStatus {
 public:
  virtual ~PrincipalStatus() = default;
  virtual base::Status CheckEnabled(const VerifiedToken& token) = 0;
};

struct AccessTokenOptions {
  std::string issuer;    // iss: this server's issuer URL
  std::string audience;  // aud: this server's FHIR base URL
  size_t cache_capacity = 100'000;
  // A cached token asks PrincipalStatus again when its last answer is older than this, so a
  // disabled user or client is refused within this time (plus however long the directory's own
  // view lags).
  int64_t status_recheck_seconds = 30;
};

class VerifiedTokenCache;

// One connection's last verified token. A keep-alive client sends the same token with every
// request, and comparing its text costs less than hashing it for the shared cache. Belongs to
// one connection: used by one thread at a time.
class VerifiedTokenMemo {
 private:
  friend class AccessTokens;
  std::string token_;
  std::shared_ptr<const VerifiedToken> verified_;
  uint64_t key_generation_ = 0;
  int64_t status_checked_at_ = 0;
};

// Issues and verifies access tokens. Lifetime and leeway are the key ring's (a retired key must
// outlive the tokens it signed). Every refusal is an ErrorCode::kInvalid error whose message says
// what was wrong (the caller answers 401 invalid_token with it); a failure of the server's own
// (no random bytes, no key) is kInternal or kUnavailable.
class AccessTokens {
 public:
  AccessTokens(SigningKeyRing& keys, const WallClock& clock, AccessTokenOptions options,
               PrincipalStatus* status = nullptr);
  ~AccessTokens();

  base::Result<IssuedAccessToken> Issue(const AccessTokenGrant& grant);

  // Checks `token` (the text after "Bearer "), from the cache when it was verified before under
  // the same keys: then only its expiry, and the principals' status when the last answer is
  // older than status_recheck_seconds, are checked again.
  base::Result<std::shared_ptr<const VerifiedToken>> Verify(std::string_view token);
  // The same, first from `memo` (the connection's last token), which it then updates.
  base::Result<std::shared_ptr<const VerifiedToken>> Verify(std::string_view token,
                                                            VerifiedTokenMemo& memo);
  // The same checks without the cache (and without filling it).
  base::Result<std::shared_ptr<const VerifiedToken>> VerifyUncached(std::string_view token);

  size_t cached_tokens() const;
  const AccessTokenOptions& options() const { return options_; }

 private:
  struct Checked {
    std::shared_ptr<const VerifiedToken> token;
    int64_t status_checked_at = 0;
  };
  base::Result<Checked> VerifyShared(std::string_view token, int64_t now, uint64_t generation);
  // A token verified before: still unexpired, and its principals still enabled when their
  // status was last asked at least status_recheck_seconds ago (then `checked_at` is now).
  base::Status Recheck(const VerifiedToken& token, int64_t now, int64_t& checked_at);

  SigningKeyRing& keys_;
  const WallClock& clock_;
  const AccessTokenOptions options_;
  PrincipalStatus* status_;
  std::unique_ptr<VerifiedTokenCache> cache_;
};

}  // namespace carerecord::access
