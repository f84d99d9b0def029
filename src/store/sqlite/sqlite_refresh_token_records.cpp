// Refresh tokens in the directory's database file (beside identity_*), on a connection of their
// own like the directory's: no state in memory, so any process on the data folder sees the same
// rotations and revocations.

#include <mutex>

#include "store/refresh_token_records.h"
#include "store/sqlite/sqlite_db.h"

namespace carerecord::store {
namespace {

using base::ErrorCode;
using base::MakeError;

constexpr const char* kRefreshSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS identity_refresh_family (
  family TEXT PRIMARY KEY,
  revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS identity_refresh_token (
  token_hash TEXT PRIMARY KEY,     -- hex SHA-256 of the token
  family TEXT NOT NULL REFERENCES identity_refresh_family (family),
  client_id TEXT NOT NULL,
  username TEXT NOT NULL,
  organisation TEXT NOT NULL,
  role TEXT NOT NULL,
  scope TEXT NOT NULL,
  patient TEXT NOT NULL,
  fhir_user TEXT NOT NULL,
  auth_time INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS identity_refresh_token_family ON identity_refresh_token (family);
CREATE INDEX IF NOT EXISTS identity_refresh_token_expiry ON identity_refresh_token (expires_at);
)sql";

class SqliteRefreshTokenRecords final : public RefreshTokenRecords {
 public:
  explicit SqliteRefreshTokenRecords(std::unique_ptr<SqliteConnection> db) : db_(std::move(db)) {}

  base::Status Add(const RefreshTokenRecord& record) override {
    std::lock_guard lock(mutex_);
    return db_->InWriteTransaction([&]() -> base::Status {
      auto family =
          db_->Cached("INSERT OR IGNORE INTO identity_refresh_family (family) VALUES (?)");
      if (!family.ok()) return family.error();
      (*family)->Bind(1, record.family);
      CR_RETURN_IF_ERROR((*family)->Run());
      return Insert(record);
    });
  }

  base::Result<RefreshRotation> Rotate(
      std::string_view token_hash, int64_t now,
      const std::function<std::optional<RefreshTokenRecord>(const RefreshTokenRecord&)>&
          make_successor) override {
    std::lock_guard lock(mutex_);
    RefreshRotation rotation;
    auto done = db_->InWriteTransaction([&]() -> base::Status {
      auto read = db_->Cached(
          "SELECT t.family, t.client_id, t.username, t.organisation, t.role, t.scope, t.patient, "
          "t.fhir_user, t.auth_time, t.issued_at, t.expires_at, t.used, f.revoked FROM "
          "identity_refresh_token t JOIN identity_refresh_family f ON f.family = t.family WHERE "
          "t.token_hash = ?");
      if (!read.ok()) return read.error();
      SqliteStatement& s = **read;
      s.Bind(1, token_hash);
      auto row = s.Step();
      if (!row.ok()) return row.error();
      if (!row.value()) {
        s.Reset();
        rotation.outcome = RefreshOutcome::kUnknown;
        return base::Status::Ok();
      }
      RefreshTokenRecord& presented = rotation.presented;
      presented.token_hash = std::string(token_hash);
      presented.family = s.Text(0);
      presented.client_id = s.Text(1);
      presented.username = s.Text(2);
      presented.organisation = s.Text(3);
      presented.role = s.Text(4);
      presented.scope = s.Text(5);
      presented.patient = s.Text(6);
      presented.fhir_user = s.Text(7);
      presented.auth_time = s.Int(8);
      presented.issued_at = s.Int(9);
      presented.expires_at = s.Int(10);
      const bool used = s.Int(11) != 0;
      const bool revoked = s.Int(12) != 0;
      s.Reset();
      if (revoked) {
        rotation.outcome = RefreshOutcome::kRevoked;
        return base::Status::Ok();
      }
      if (used) {
        // RFC 9700 section 4.14.2: a used token coming back means it leaked (or the client
        // lost a response); either way neither party's tokens can be trusted now.
        rotation.outcome = RefreshOutcome::kReused;
        return Revoke(presented.family);
      }
      if (now >= presented.expires_at) {
        rotation.outcome = RefreshOutcome::kExpired;
        return base::Status::Ok();
      }
      std::optional<RefreshTokenRecord> successor = make_successor(presented);
      if (!successor) {
        rotation.outcome = RefreshOutcome::kDeclined;
        return base::Status::Ok();
      }
      auto mark = db_->Cached("UPDATE identity_refresh_token SET used = 1 WHERE token_hash = ?");
      if (!mark.ok()) return mark.error();
      (*mark)->Bind(1, token_hash);
      CR_RETURN_IF_ERROR((*mark)->Run());
      successor->family = presented.family;
      CR_RETURN_IF_ERROR(Insert(*successor));
      rotation.outcome = RefreshOutcome::kRotated;
      return base::Status::Ok();
    });
    if (!done.ok()) return done.error();
    return rotation;
  }

  base::Status RevokeFamily(std::string_view family) override {
    std::lock_guard lock(mutex_);
    return db_->InWriteTransaction([&]() -> base::Status { return Revoke(family); });
  }

  base::Result<int64_t> DeleteExpired(int64_t now) override {
    std::lock_guard lock(mutex_);
    int64_t deleted = 0;
    auto done = db_->InWriteTransaction([&]() -> base::Status {
      auto tokens = db_->Cached("DELETE FROM identity_refresh_token WHERE expires_at <= ?");
      if (!tokens.ok()) return tokens.error();
      (*tokens)->Bind(1, now);
      CR_RETURN_IF_ERROR((*tokens)->Run());
      deleted = sqlite3_changes(db_->raw());
      auto families = db_->Cached(
          "DELETE FROM identity_refresh_family WHERE NOT EXISTS (SELECT 1 FROM "
          "identity_refresh_token t WHERE t.family = identity_refresh_family.family)");
      if (!families.ok()) return families.error();
      return (*families)->Run();
    });
    if (!done.ok()) return done.error();
    return deleted;
  }

 private:
  base::Status Insert(const RefreshTokenRecord& r) {
    auto insert = db_->Cached(
        "INSERT INTO identity_refresh_token (token_hash, family, client_id, username, "
        "organisation, role, scope, patient, fhir_user, auth_time, issued_at, expires_at) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert.ok()) return insert.error();
    (*insert)
        ->Bind(1, r.token_hash)
        .Bind(2, r.family)
        .Bind(3, r.client_id)
        .Bind(4, r.username)
        .Bind(5, r.organisation)
        .Bind(6, r.role)
        .Bind(7, r.scope)
        .Bind(8, r.patient)
        .Bind(9, r.fhir_user)
        .Bind(10, r.auth_time)
        .Bind(11, r.issued_at)
        .Bind(12, r.expires_at);
    return (*insert)->Run();
  }

  base::Status Revoke(std::string_view family) {
    auto revoke = db_->Cached("UPDATE identity_refresh_family SET revoked = 1 WHERE family = ?");
    if (!revoke.ok()) return revoke.error();
    (*revoke)->Bind(1, family);
    return (*revoke)->Run();
  }

  std::mutex mutex_;
  std::unique_ptr<SqliteConnection> db_;
};

}  // namespace

base::Result<std::unique_ptr<RefreshTokenRecords>> OpenSqliteRefreshTokenRecords(
    const std::string& directory) {
  auto db = SqliteConnection::OpenSideInDataDir(directory, /*durable=*/true, kRefreshSchemaSql);
  if (!db.ok()) return db.error();
  return std::unique_ptr<RefreshTokenRecords>(new SqliteRefreshTokenRecords(std::move(db).value()));
}

}  // namespace carerecord::store
