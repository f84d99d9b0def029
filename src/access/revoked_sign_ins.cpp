#include "access/revoked_sign_ins.h"

namespace carerecord::access {

void RevokedSignIns::Revoke(std::string_view sign_in) {
  if (sign_in.empty()) return;
  const int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mutex_);
  std::erase_if(until_, [now](const auto& entry) { return entry.second <= now; });
  until_[std::string(sign_in)] = now + remember_seconds_;
}

bool RevokedSignIns::IsRevoked(std::string_view sign_in) {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard lock(mutex_);
  auto it = until_.find(std::string(sign_in));
  return it != until_.end() && it->second > now;
}

size_t RevokedSignIns::size() {
  std::lock_guard lock(mutex_);
  return until_.size();
}

base::Status SignInRevocationStatus::CheckEnabled(const VerifiedToken& token) {
  if (!token.sign_in.empty() && revoked_.IsRevoked(token.sign_in)) {
    return base::Invalid(
        "the sign-in this token comes from was revoked (an authorization code or refresh token "
        "of it was used twice)");
  }
  return inner_.CheckEnabled(token);
}

}  // namespace carerecord::access
