// Sign-ins revoked while their access tokens may still be alive: an authorization code or
// refresh token used twice has leaked, so every token of that sign-in (claim `sid`) is refused
// from then on, not only its refresh tokens. Kept in memory for as long as a token can live
// (tokens are short-lived, and codes, which start sign-ins, are in memory too).
// SignInRevocationStatus puts the check in front of another PrincipalStatus, so a cached token
// is refused within AccessTokenOptions::status_recheck_seconds and a new one at once.
// Both are thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "access/access_token.h"
#include "access/wall_clock.h"

namespace carerecord::access {

class RevokedSignIns {
 public:
  // `remember_seconds`: the longest a token of a revoked sign-in may live (lifetime + leeway).
  RevokedSignIns(const WallClock& clock, int64_t remember_seconds)
      : clock_(clock), remember_seconds_(remember_seconds) {}

  void Revoke(std::string_view sign_in);
  bool IsRevoked(std::string_view sign_in);
  size_t size();

 private:
  const WallClock& clock_;
  const int64_t remember_seconds_;
  std::mutex mutex_;
  std::unordered_map<std::string, int64_t> until_;  // sign-in -> when to forget it
};

class SignInRevocationStatus final : public PrincipalStatus {
 public:
  SignInRevocationStatus(PrincipalStatus& inner, RevokedSignIns& revoked)
      : inner_(inner), revoked_(revoked) {}
  base::Status CheckEnabled(const VerifiedToken& token) override;

 private:
  PrincipalStatus& inner_;
  RevokedSignIns& revoked_;
};

}  // namespace carerecord::access
