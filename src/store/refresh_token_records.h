// Refresh tokens as stored rows: only the SHA-256 of each token, with the grant it stands for
// and the family (one sign-in) it belongs to, in the directory's database file on a connection
// of their own. Rotation, reuse detection and revocation are each one write transaction, so two
// servers or threads presenting the same token cannot both win. Every method is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace carerecord::store {

// What a refresh token stands for: the grant of one sign-in, carried from token to token.
struct RefreshTokenRecord {
  std::string token_hash;  // hex SHA-256 of the token; the token itself is never stored
  std::string family;      // the sign-in it descends from; revoked as a whole
  std::string client_id;
  std::string username;
  std::string organisation;
  std::string role;
  std::string scope;  // as granted at sign-in
  std::string patient;
  std::string fhir_user;
  int64_t auth_time = 0;   // seconds: when the user signed in
  int64_t issued_at = 0;   // seconds
  int64_t expires_at = 0;  // seconds
};

enum class RefreshOutcome {
  kRotated,  // the token was current: it is now used, and its successor stored
  kUnknown,  // no such token (or its family was deleted)
  kExpired,
  kRevoked,   // its family was revoked before (a reuse, a replayed code, a sign-out)
  kReused,    // it had been used already: the whole family is now revoked
  kDeclined,  // it was current, and `make_successor` declined to rotate it: it stays current
};

struct RefreshRotation {
  RefreshOutcome outcome = RefreshOutcome::kUnknown;
  RefreshTokenRecord presented;  // the stored row of the presented token, when known
};

class RefreshTokenRecords {
 public:
  virtual ~RefreshTokenRecords() = default;

  // Stores the first token of a family.
  virtual base::Status Add(const RefreshTokenRecord& record) = 0;

  // In one write transaction: looks the presented token up by its hash and, when it is current
  // (unused, unexpired at `now`, family not revoked), marks it used and stores `successor`
  // (whose family is set to the presented one's). A token used before revokes its family.
  // `successor` is built from the presented row by `make_successor`; when it gives none (a
  // request the caller refuses before it uses the token up), nothing changes: kDeclined.
  virtual base::Result<RefreshRotation> Rotate(
      std::string_view token_hash, int64_t now,
      const std::function<std::optional<RefreshTokenRecord>(const RefreshTokenRecord&)>&
          make_successor) = 0;

  // Revokes every token of the family (a replayed authorization code). No such family: no-op.
  virtual base::Status RevokeFamily(std::string_view family) = 0;

  // Deletes rows that expired before `now` (their families keep any later rows).
  virtual base::Result<int64_t> DeleteExpired(int64_t now) = 0;
};

// Opens (creating the tables when absent) the refresh tokens in DIRECTORY/carerecord.db.
base::Result<std::unique_ptr<RefreshTokenRecords>> OpenSqliteRefreshTokenRecords(
    const std::string& directory);

}  // namespace carerecord::store
