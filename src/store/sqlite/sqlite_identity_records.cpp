// The directory's tables in the record store's database file, on a connection of their own: no
// in-memory state, so the command line may write them while a server holds the record store
// (WAL lets the two interleave; the busy timeout waits out the other's write transactions).

#include <chrono>
#include <mutex>

#include "fhir/fhir_date.h"
#include "store/identity_records.h"
#include "store/sqlite/sqlite_db.h"

namespace carerecord::store {
namespace {

using base::ErrorCode;
using base::MakeError;

constexpr const char* kIdentitySchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS identity_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO identity_state (key, value) VALUES ('change', 0);
INSERT OR IGNORE INTO identity_state (key, value) VALUES ('unknown_sign_ins', 0);
CREATE TABLE IF NOT EXISTS identity_unknown_sign_in (
  name_hash BLOB PRIMARY KEY,
  failed_attempts INTEGER NOT NULL,
  failure_window_start_ms INTEGER NOT NULL,
  locked_until_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identity_unknown_sign_in_expiry
  ON identity_unknown_sign_in (expires_ms);
CREATE TABLE IF NOT EXISTS identity_secret (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS identity_organisation (
  key INTEGER PRIMARY KEY,
  ods_code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  organization_id TEXT NOT NULL DEFAULT '',
  revision INTEGER NOT NULL,
  synced_revision INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS identity_user (
  key INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  org_key INTEGER NOT NULL REFERENCES identity_organisation (key),
  role TEXT NOT NULL,
  display_name TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  failed_attempts INTEGER NOT NULL DEFAULT 0,
  failure_window_start_ms INTEGER NOT NULL DEFAULT 0,
  locked_until_ms INTEGER NOT NULL DEFAULT 0,
  revision INTEGER NOT NULL,
  synced_revision INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS identity_federated_user (
  user_key INTEGER PRIMARY KEY REFERENCES identity_user (key),
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  UNIQUE (issuer, subject)
);
-- A patient user by their Patient (the audit's agent search).
CREATE INDEX IF NOT EXISTS identity_user_patient ON identity_user (patient_id) WHERE patient_id != '';
CREATE TABLE IF NOT EXISTS identity_client (
  key INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  org_key INTEGER NOT NULL REFERENCES identity_organisation (key),
  role TEXT NOT NULL,
  scope TEXT NOT NULL,
  auth_kind TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  jwks_json TEXT NOT NULL,
  redirect_uris TEXT NOT NULL,     -- one per line (a URI holds no line break)
  enabled INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
)sql";

constexpr const char* kOrganisationColumns =
    "o.key, o.ods_code, o.name, o.kind, o.enabled, o.organization_id, o.revision, "
    "o.synced_revision, o.created_ms FROM identity_organisation o";
constexpr const char* kUserColumns =
    "u.key, u.username, o.ods_code, u.role, u.display_name, u.patient_id, u.password_hash, "
    "u.enabled, u.failed_attempts, u.failure_window_start_ms, u.locked_until_ms, u.revision, "
    "u.synced_revision, u.created_ms, coalesce(f.issuer, ''), coalesce(f.subject, '') FROM "
    "identity_user u JOIN identity_organisation o ON o.key = u.org_key LEFT JOIN "
    "identity_federated_user f ON f.user_key = u.key";
constexpr const char* kClientColumns =
    "c.key, c.client_id, c.name, o.ods_code, c.role, c.scope, c.auth_kind, c.secret_hash, "
    "c.jwks_json, c.redirect_uris, c.enabled, c.revision, c.created_ms FROM identity_client c "
    "JOIN identity_organisation o ON o.key = c.org_key";

OrganisationRecord ReadOrganisation(const SqliteStatement& s) {
  OrganisationRecord o;
  o.key = s.Int(0);
  o.ods_code = s.Text(1);
  o.name = s.Text(2);
  o.kind = s.Text(3);
  o.enabled = s.Int(4) != 0;
  o.organization_id = s.Text(5);
  o.revision = s.Int(6);
  o.synced_revision = s.Int(7);
  o.created_ms = s.Int(8);
  return o;
}

UserRecord ReadUser(const SqliteStatement& s) {
  UserRecord u;
  u.key = s.Int(0);
  u.username = s.Text(1);
  u.ods_code = s.Text(2);
  u.role = s.Text(3);
  u.display_name = s.Text(4);
  u.patient_id = s.Text(5);
  u.password_hash = s.Text(6);
  u.enabled = s.Int(7) != 0;
  u.sign_in.failed_attempts = static_cast<int>(s.Int(8));
  u.sign_in.failure_window_start_ms = s.Int(9);
  u.sign_in.locked_until_ms = s.Int(10);
  u.revision = s.Int(11);
  u.synced_revision = s.Int(12);
  u.created_ms = s.Int(13);
  u.federated_issuer = s.Text(14);
  u.federated_subject = s.Text(15);
  return u;
}

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

ClientRecord ReadClient(const SqliteStatement& s) {
  ClientRecord c;
  c.key = s.Int(0);
  c.client_id = s.Text(1);
  c.name = s.Text(2);
  c.ods_code = s.Text(3);
  c.role = s.Text(4);
  c.scope = s.Text(5);
  c.auth_kind = s.Text(6);
  c.secret_hash = s.Text(7);
  c.jwks_json = s.Text(8);
  c.redirect_uris = SplitLines(s.Text(9));
  c.enabled = s.Int(10) != 0;
  c.revision = s.Int(11);
  c.created_ms = s.Int(12);
  return c;
}

class SqliteIdentityRecords final : public IdentityRecords {
 public:
  explicit SqliteIdentityRecords(std::unique_ptr<SqliteConnection> db) : db_(std::move(db)) {}

  base::Result<int64_t> ChangeCounter() override {
    std::lock_guard lock(mutex_);
    return StateValue("change");
  }
  base::Result<int64_t> UnknownSignIns() override {
    std::lock_guard lock(mutex_);
    return StateValue("unknown_sign_ins");
  }

  base::Result<OrganisationRecord> AddOrganisation(OrganisationRecord org) override {
    std::lock_guard lock(mutex_);
    auto done = db_->InWriteTransaction([&]() -> base::Status {
      auto existing = OrganisationKey(org.ods_code);
      if (!existing.ok()) return existing.error();
      if (existing.value()) {
        return MakeError(ErrorCode::kConflict,
                         "an organisation with ODS code " + org.ods_code + " already exists",
                         "--ods");
      }
      auto revision = NextRevision();
      if (!revision.ok()) return revision.error();
      org.revision = revision.value();
      org.synced_revision = 0;
      org.created_ms = fhir::NowMs();
      auto stmt = db_->Prepare(
          "INSERT INTO identity_organisation (ods_code, name, kind, enabled, revision, "
          "created_ms) VALUES (?, ?, ?, ?, ?, ?)");
      if (!stmt.ok()) return stmt.error();
      stmt->Bind(1, org.ods_code)
          .Bind(2, org.name)
          .Bind(3, org.kind)
          .Bind(4, int64_t{org.enabled})
          .Bind(5, org.revision)
          .Bind(6, org.created_ms);
      CR_RETURN_IF_ERROR(stmt->Run());
      org.key = sqlite3_last_insert_rowid(db_->raw());
      return base::Status::Ok();
    });
    if (!done.ok()) return done.error();
    return org;
  }

  base::Result<UserRecord> AddUser(UserRecord user) override {
    std::lock_guard lock(mutex_);
    auto done = db_->InWriteTransaction([&]() -> base::Status {
      auto org_key = OrganisationKey(user.ods_code);
      if (!org_key.ok()) return org_key.error();
      if (!org_key.value()) {
        return MakeError(ErrorCode::kNotFound, "no organisation has ODS code " + user.ods_code,
                         "--org");
      }
      auto existing = Exists("SELECT 1 FROM identity_user WHERE username = ?", user.username);
      if (!existing.ok()) return existing.error();
      if (existing.value()) {
        return MakeError(ErrorCode::kConflict, "user " + user.username + " already exists",
                         "--username");
      }
      auto revision = NextRevision();
      if (!revision.ok()) return revision.error();
      user.revision = revision.value();
      user.synced_revision = 0;
      user.created_ms = fhir::NowMs();
      user.sign_in = {};
      auto stmt = db_->Prepare(
          "INSERT INTO identity_user (username, org_key, role, display_name, patient_id, "
          "password_hash, enabled, revision, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      if (!stmt.ok()) return stmt.error();
      stmt->Bind(1, user.username)
          .Bind(2, org_key.value())
          .Bind(3, user.role)
          .Bind(4, user.display_name)
          .Bind(5, user.patient_id)
          .Bind(6, user.password_hash)
          .Bind(7, int64_t{user.enabled})
          .Bind(8, user.revision)
          .Bind(9, user.created_ms);
      CR_RETURN_IF_ERROR(stmt->Run());
      user.key = sqlite3_last_insert_rowid(db_->raw());
      return base::Status::Ok();
    });
    if (!done.ok()) return done.error();
    return user;
  }

  base::Result<ClientRecord> AddClient(ClientRecord client) override {
    std::lock_guard lock(mutex_);
    auto done = db_->InWriteTransaction([&]() -> base::Status {
      auto org_key = OrganisationKey(client.ods_code);
      if (!org_key.ok()) return org_key.error();
      if (!org_key.value()) {
        return MakeError(ErrorCode::kNotFound, "no organisation has ODS code " + client.ods_code,
                         "--org");
      }
      auto existing = Exists("SELECT 1 FROM identity_client WHERE client_id = ?", client.client_id);
      if (!existing.ok()) return existing.error();
      if (existing.value()) {
        return MakeError(ErrorCode::kConflict, "client " + client.client_id + " already exists",
                         "--client-id");
      }
      auto revision = NextRevision();
      if (!revision.ok()) return revision.error();
      client.revision = revision.value();
      client.created_ms = fhir::NowMs();
      std::string uris;
      for (const std::string& uri : client.redirect_uris) {
        if (!uris.empty()) uris += '\n';
        uris += uri;
      }
      auto stmt = db_->Prepare(
          "INSERT INTO identity_client (client_id, name, org_key, role, scope, auth_kind, "
          "secret_hash, jwks_json, redirect_uris, enabled, revision, created_ms) VALUES (?, ?, "
          "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      if (!stmt.ok()) return stmt.error();
      stmt->Bind(1, client.client_id)
          .Bind(2, client.name)
          .Bind(3, org_key.value())
          .Bind(4, client.role)
          .Bind(5, client.scope)
          .Bind(6, client.auth_kind)
          .Bind(7, client.secret_hash)
          .Bind(8, client.jwks_json)
          .Bind(9, uris)
          .Bind(10, int64_t{client.enabled})
          .Bind(11, client.revision)
          .Bind(12, client.created_ms);
      CR_RETURN_IF_ERROR(stmt->Run());
      client.key = sqlite3_last_insert_rowid(db_->raw());
      return base::Status::Ok();
    });
    if (!done.ok()) return done.error();
    return client;
  }

  base::Result<UserRecord> UpsertFederatedUser(UserRecord user) override {
    std::lock_guard lock(mutex_);
    int64_t user_key = 0;
    auto done = db_->InWriteTransaction([&]() -> base::Status {
      auto org_key = OrganisationKey(user.ods_code);
      if (!org_key.ok()) return org_key.error();
      if (!org_key.value()) {
        return MakeError(ErrorCode::kNotFound, "no organisation has ODS code " + user.ods_code);
      }
      auto find = db_->Prepare(
          "SELECT u.key, u.org_key, u.role, u.display_name FROM identity_federated_user f JOIN "
          "identity_user u ON u.key = f.user_key WHERE f.issuer = ? AND f.subject = ?");
      if (!find.ok()) return find.error();
      find->Bind(1, user.federated_issuer).Bind(2, user.federated_subject);
      auto row = find->Step();
      if (!row.ok()) return row.error();
      if (row.value()) {
        user_key = find->Int(0);
        if (find->Int(1) == org_key.value() && find->Text(2) == user.role &&
            find->Text(3) == user.display_name) {
          return base::Status::Ok();
        }
        auto revision = NextRevision();
        if (!revision.ok()) return revision.error();
        auto update = db_->Prepare(
            "UPDATE identity_user SET org_key = ?, role = ?, display_name = ?, revision = ? "
            "WHERE key = ?");
        if (!update.ok()) return update.error();
        update->Bind(1, org_key.value())
            .Bind(2, user.role)
            .Bind(3, user.display_name)
            .Bind(4, revision.value())
            .Bind(5, user_key);
        return update->Run();
      }
      auto taken = Exists("SELECT 1 FROM identity_user WHERE username = ?", user.username);
      if (!taken.ok()) return taken.error();
      if (taken.value()) {
        return MakeError(ErrorCode::kConflict, "user " + user.username + " already exists");
      }
      auto revision = NextRevision();
      if (!revision.ok()) return revision.error();
      auto insert = db_->Prepare(
          "INSERT INTO identity_user (username, org_key, role, display_name, patient_id, "
          "password_hash, enabled, revision, created_ms) VALUES (?, ?, ?, ?, '', '', 1, ?, ?)");
      if (!insert.ok()) return insert.error();
      insert->Bind(1, user.username)
          .Bind(2, org_key.value())
          .Bind(3, user.role)
          .Bind(4, user.display_name)
          .Bind(5, revision.value())
          .Bind(6, fhir::NowMs());
      CR_RETURN_IF_ERROR(insert->Run());
      user_key = sqlite3_last_insert_rowid(db_->raw());
      auto link = db_->Prepare(
          "INSERT INTO identity_federated_user (user_key, issuer, subject) VALUES (?, ?, ?)");
      if (!link.ok()) return link.error();
      link->Bind(1, user_key).Bind(2, user.federated_issuer).Bind(3, user.federated_subject);
      return link->Run();
    });
    if (!done.ok()) return done.error();
    auto stored = FindOne<UserRecord>(std::string("SELECT ") + kUserColumns + " WHERE u.key = ?",
                                      std::to_string(user_key), &ReadUser);
    if (!stored.ok()) return stored.error();
    if (!stored.value()) return MakeError(ErrorCode::kInternal, "the federated user vanished");
    return std::move(stored.value()).value();
  }

  base::Result<std::optional<OrganisationRecord>> FindOrganisation(
      std::string_view ods_code) override {
    std::lock_guard lock(mutex_);
    return FindOne<OrganisationRecord>(
        std::string("SELECT ") + kOrganisationColumns + " WHERE o.ods_code = ?", ods_code,
        &ReadOrganisation);
  }
  base::Result<std::optional<UserRecord>> FindUser(std::string_view username) override {
    std::lock_guard lock(mutex_);
    return FindOne<UserRecord>(std::string("SELECT ") + kUserColumns + " WHERE u.username = ?",
                               username, &ReadUser);
  }
  base::Result<std::optional<UserRecord>> FindUserByKey(int64_t key) override {
    std::lock_guard lock(mutex_);
    return FindOne<UserRecord>(std::string("SELECT ") + kUserColumns + " WHERE u.key = ?",
                               std::to_string(key), &ReadUser);
  }
  base::Result<std::optional<UserRecord>> FindUserOfPatient(std::string_view patient_id) override {
    std::lock_guard lock(mutex_);
    if (patient_id.empty()) return std::optional<UserRecord>();
    return FindOne<UserRecord>(std::string("SELECT ") + kUserColumns +
                                   " WHERE u.patient_id = ? AND u.patient_id != '' "
                                   "ORDER BY u.key LIMIT 1",
                               patient_id, &ReadUser);
  }
  base::Result<std::optional<ClientRecord>> FindClient(std::string_view client_id) override {
    std::lock_guard lock(mutex_);
    return FindOne<ClientRecord>(std::string("SELECT ") + kClientColumns + " WHERE c.client_id = ?",
                                 client_id, &ReadClient);
  }

  base::Result<std::vector<OrganisationRecord>> ListOrganisations() override {
    std::lock_guard lock(mutex_);
    return ListAll<OrganisationRecord>(
        std::string("SELECT ") + kOrganisationColumns + " ORDER BY o.key", &ReadOrganisation);
  }
  base::Result<std::vector<UserRecord>> ListUsers() override {
    std::lock_guard lock(mutex_);
    return ListAll<UserRecord>(std::string("SELECT ") + kUserColumns + " ORDER BY u.key",
                               &ReadUser);
  }
  base::Result<std::vector<ClientRecord>> ListClients() override {
    std::lock_guard lock(mutex_);
    return ListAll<ClientRecord>(std::string("SELECT ") + kClientColumns + " ORDER BY c.key",
                                 &ReadClient);
  }

  base::Status SetOrganisationEnabled(std::string_view ods_code, bool enabled) override {
    return SetEnabled("identity_organisation", "ods_code", ods_code, enabled,
                      "no organisation has ODS code ");
  }
  base::Status SetUserEnabled(std::string_view username, bool enabled) override {
    return SetEnabled("identity_user", "username", username, enabled, "no such user: ");
  }
  base::Status SetClientEnabled(std::string_view client_id, bool enabled) override {
    return SetEnabled("identity_client", "client_id", client_id, enabled, "no such client: ");
  }

  base::Status SetUserPassword(std::string_view username, std::string_view hash) override {
    std::lock_guard lock(mutex_);
    return db_->InWriteTransaction([&]() -> base::Status {
      auto stmt = db_->Prepare(
          "UPDATE identity_user SET password_hash = ?, failed_attempts = 0, "
          "failure_window_start_ms = 0, locked_until_ms = 0 WHERE username = ?");
      if (!stmt.ok()) return stmt.error();
      stmt->Bind(1, hash).Bind(2, username);
      CR_RETURN_IF_ERROR(stmt->Run());
      if (sqlite3_changes(db_->raw()) == 0) {
        return MakeError(ErrorCode::kNotFound, "no such user: " + std::string(username),
                         "--username");
      }
      return base::Status::Ok();
    });
  }

  base::Status UpdateSignInState(std::string_view username,
                                 const std::function<void(SignInState&)>& change) override {
    std::lock_guard lock(mutex_);
    return db_->InWriteTransaction([&]() -> base::Status {
      auto read = db_->Cached(
          "SELECT failed_attempts, failure_window_start_ms, locked_until_ms FROM identity_user "
          "WHERE username = ?");
      if (!read.ok()) return read.error();
      (*read)->Bind(1, username);
      auto row = (*read)->Step();
      if (!row.ok()) return row.error();
      if (!row.value()) {
        (*read)->Reset();
        return MakeError(ErrorCode::kNotFound, "no such user: " + std::string(username));
      }
      SignInState state;
      state.failed_attempts = static_cast<int>((*read)->Int(0));
      state.failure_window_start_ms = (*read)->Int(1);
      state.locked_until_ms = (*read)->Int(2);
      (*read)->Reset();
      change(state);
      auto write = db_->Cached(
          "UPDATE identity_user SET failed_attempts = ?, failure_window_start_ms = ?, "
          "locked_until_ms = ? WHERE username = ?");
      if (!write.ok()) return write.error();
      (*write)
          ->Bind(1, int64_t{state.failed_attempts})
          .Bind(2, state.failure_window_start_ms)
          .Bind(3, state.locked_until_ms)
          .Bind(4, username);
      return (*write)->Run();
    });
  }

  base::Status CountUnknownSignIn(std::string_view name_key, int64_t now_ms,
                                  const std::function<int64_t(SignInState&)>& change) override {
    // Each call removes up to this many forgotten states: more than the one it may add, so the
    // table shrinks back to the states still within their window once a spray stops.
    constexpr int64_t kForgottenPerCall = 8;
    std::lock_guard lock(mutex_);
    return db_->InWriteTransaction([&]() -> base::Status {
      auto count =
          db_->Cached("UPDATE identity_state SET value = value + 1 WHERE key = 'unknown_sign_ins'");
      if (!count.ok()) return count.error();
      CR_RETURN_IF_ERROR((*count)->Run());
      auto forget = db_->Cached(
          "DELETE FROM identity_unknown_sign_in WHERE name_hash IN (SELECT name_hash FROM "
          "identity_unknown_sign_in WHERE expires_ms <= ? ORDER BY expires_ms LIMIT ?)");
      if (!forget.ok()) return forget.error();
      (*forget)->Bind(1, now_ms).Bind(2, kForgottenPerCall);
      CR_RETURN_IF_ERROR((*forget)->Run());
      auto read = db_->Cached(
          "SELECT failed_attempts, failure_window_start_ms, locked_until_ms, expires_ms FROM "
          "identity_unknown_sign_in WHERE name_hash = ?");
      if (!read.ok()) return read.error();
      (*read)->BindBlob(1, name_key);
      auto row = (*read)->Step();
      if (!row.ok()) return row.error();
      SignInState state;
      if (row.value() && (*read)->Int(3) > now_ms) {
        state.failed_attempts = static_cast<int>((*read)->Int(0));
        state.failure_window_start_ms = (*read)->Int(1);
        state.locked_until_ms = (*read)->Int(2);
      }
      (*read)->Reset();
      const int64_t expires_ms = change(state);
      auto write = db_->Cached(
          "INSERT OR REPLACE INTO identity_unknown_sign_in (name_hash, failed_attempts, "
          "failure_window_start_ms, locked_until_ms, expires_ms) VALUES (?, ?, ?, ?, ?)");
      if (!write.ok()) return write.error();
      (*write)
          ->BindBlob(1, name_key)
          .Bind(2, int64_t{state.failed_attempts})
          .Bind(3, state.failure_window_start_ms)
          .Bind(4, state.locked_until_ms)
          .Bind(5, expires_ms);
      return (*write)->Run();
    });
  }

  base::Result<std::string> KeepSecret(std::string_view name, std::string_view candidate) override {
    std::lock_guard lock(mutex_);
    std::string kept;
    auto done = db_->InWriteTransaction([&]() -> base::Status {
      auto insert =
          db_->Cached("INSERT OR IGNORE INTO identity_secret (name, value) VALUES (?, ?)");
      if (!insert.ok()) return insert.error();
      (*insert)->Bind(1, name).BindBlob(2, candidate);
      CR_RETURN_IF_ERROR((*insert)->Run());
      auto read = db_->Cached("SELECT value FROM identity_secret WHERE name = ?");
      if (!read.ok()) return read.error();
      (*read)->Bind(1, name);
      auto row = (*read)->Step();
      if (!row.ok()) return row.error();
      if (row.value()) kept = std::string((*read)->Blob(0));
      (*read)->Reset();
      return base::Status::Ok();
    });
    if (!done.ok()) return done.error();
    return kept;
  }

  base::Status MarkOrganisationSynced(int64_t key, int64_t revision,
                                      std::string_view organization_id) override {
    std::lock_guard lock(mutex_);
    auto stmt = db_->Prepare(
        "UPDATE identity_organisation SET synced_revision = ?, organization_id = ? WHERE key = ?");
    if (!stmt.ok()) return stmt.error();
    stmt->Bind(1, revision).Bind(2, organization_id).Bind(3, key);
    return stmt->Run();
  }

  base::Status MarkUserSynced(int64_t key, int64_t revision) override {
    std::lock_guard lock(mutex_);
    auto stmt = db_->Prepare("UPDATE identity_user SET synced_revision = ? WHERE key = ?");
    if (!stmt.ok()) return stmt.error();
    stmt->Bind(1, revision).Bind(2, key);
    return stmt->Run();
  }

  base::Result<bool> RecordHoldsPatient(std::string_view patient_id) override {
    std::lock_guard lock(mutex_);
    // The record's tables exist once a store has been opened on this folder.
    auto tables =
        Exists("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", "resource");
    if (!tables.ok() || !tables.value()) return tables;
    return Exists(
        "SELECT 1 FROM resource r JOIN res_type t ON t.id = r.type_id WHERE t.name = 'Patient' "
        "AND r.id = ? AND r.deleted = 0",
        patient_id);
  }

 private:
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back when it fails.
  base::Result<int64_t> StateValue(std::string_view key) {
    auto stmt = db_->Cached("SELECT value FROM identity_state WHERE key = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, key);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    int64_t value = row.value() ? (*stmt)->Int(0) : 0;
    (*stmt)->Reset();
    return value;
  }

  // The next directory change's number; inside a write transaction.
  base::Result<int64_t> NextRevision() {
    auto stmt = db_->Cached(
        "UPDATE identity_state SET value = value + 1 WHERE key = 'change' RETURNING value");
    if (!stmt.ok()) return stmt.error();
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) return MakeError(ErrorCode::kInternal, "identity_state has no change row");
    int64_t value = (*stmt)->Int(0);
    CR_RETURN_IF_ERROR((*stmt)->Run());
    return value;
  }

  base::Result<int64_t> OrganisationKey(std::string_view ods_code) {
    auto stmt = db_->Cached("SELECT key FROM identity_organisation WHERE ods_code = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, ods_code);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    int64_t key = row.value() ? (*stmt)->Int(0) : 0;
    (*stmt)->Reset();
    return key;
  }

  base::Result<bool> Exists(const std::string& sql, std::string_view value) {
    auto stmt = db_->Cached(sql);
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, value);
    auto row = (*stmt)->Step();
    (*stmt)->Reset();
    if (!row.ok()) return row.error();
    return row.value();
  }

  template <typename Record>
  base::Result<std::optional<Record>> FindOne(const std::string& sql, std::string_view value,
                                              Record (*read)(const SqliteStatement&)) {
    auto stmt = db_->Cached(sql);
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, value);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    std::optional<Record> found;
    if (row.value()) found = read(**stmt);
    (*stmt)->Reset();
    return found;
  }

  template <typename Record>
  base::Result<std::vector<Record>> ListAll(const std::string& sql,
                                            Record (*read)(const SqliteStatement&)) {
    auto stmt = db_->Cached(sql);
    if (!stmt.ok()) return stmt.error();
    std::vector<Record> records;
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!row.value()) break;
      records.push_back(read(**stmt));
    }
    (*stmt)->Reset();
    return records;
  }

  base::Status SetEnabled(const std::string& table, const std::string& column,
                          std::string_view value, bool enabled, const std::string& missing) {
    std::lock_guard lock(mutex_);
    return db_->InWriteTransaction([&]() -> base::Status {
      auto current = db_->Prepare("SELECT enabled FROM " + table + " WHERE " + column + " = ?");
      if (!current.ok()) return current.error();
      current->Bind(1, value);
      auto row = current->Step();
      if (!row.ok()) return row.error();
      if (!row.value()) return MakeError(ErrorCode::kNotFound, missing + std::string(value));
      if ((current->Int(0) != 0) == enabled) return base::Status::Ok();
      auto revision = NextRevision();
      if (!revision.ok()) return revision.error();
      auto stmt = db_->Prepare("UPDATE " + table + " SET enabled = ?, revision = ? WHERE " +
                               column + " = ?");
      if (!stmt.ok()) return stmt.error();
      stmt->Bind(1, int64_t{enabled}).Bind(2, revision.value()).Bind(3, value);
      return stmt->Run();
    });
  }

  std::mutex mutex_;
  std::unique_ptr<SqliteConnection> db_;
};

}  // namespace

base::Result<std::unique_ptr<IdentityRecords>> OpenSqliteIdentityRecords(
    const std::string& directory) {
  auto db = SqliteConnection::OpenSideInDataDir(directory, /*durable=*/true, kIdentitySchemaSql);
  if (!db.ok()) return db.error();
  return std::unique_ptr<IdentityRecords>(new SqliteIdentityRecords(std::move(db).value()));
}

}  // namespace carerecord::store
