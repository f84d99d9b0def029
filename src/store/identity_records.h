// The directory of who exists (organisations, users, clients) as stored rows, kept in the record
// store's database file but written through a connection of their own, so the command line can
// change them while a server holds the record store. Rules (roles, hashing, lockout) live in
// src/access/directory.h; this layer only stores. Every method is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace carerecord::store {

struct OrganisationRecord {
  int64_t key = 0;
  std::string ods_code;  // unique, upper case
  std::string name;
  std::string kind;  // gp, hospital, community, hospice, council, other
  bool enabled = true;
  // The FHIR Organization that stands for it in the record, once the sync has written or found
  // one; empty before.
  std::string organization_id;
  int64_t revision = 0;         // the directory change that last changed this row
  int64_t synced_revision = 0;  // the revision the record's FHIR resources were written from
  int64_t created_ms = 0;
};

// How a user's sign-ins have been failing: changed by every sign-in, never a directory change.
struct SignInState {
  int failed_attempts = 0;  // within the window that began at failure_window_start_ms
  int64_t failure_window_start_ms = 0;
  int64_t locked_until_ms = 0;  // 0, or when the lock ends
};

struct UserRecord {
  int64_t key = 0;  // stable; names the user's Practitioner and PractitionerRole
  std::string username;
  std::string ods_code;  // of their organisation
  std::string role;
  std::string display_name;
  std::string patient_id;     // role patient: their Patient in the record
  std::string password_hash;  // argon2id, encoded (PHC string); empty for a federated user
  bool enabled = true;
  // A federated user (signed in by a regional IdP, never with a password): the IdP's issuer and
  // the ID token's subject, unique together. Empty for everyone else.
  std::string federated_issuer;
  std::string federated_subject;
  SignInState sign_in;
  int64_t revision = 0;
  int64_t synced_revision = 0;
  int64_t created_ms = 0;
};

struct ClientRecord {
  int64_t key = 0;
  std::string client_id;  // random, unique
  std::string name;
  std::string ods_code;
  std::string role;         // empty: acts only for a signed-in user
  std::string scope;        // allowed scopes, space-separated
  std::string auth_kind;    // secret, jwks, public
  std::string secret_hash;  // auth_kind secret
  std::string jwks_json;    // auth_kind jwks: the client's public keys
  std::vector<std::string> redirect_uris;
  bool enabled = true;
  int64_t revision = 0;
  int64_t created_ms = 0;
};

class IdentityRecords {
 public:
  virtual ~IdentityRecords() = default;

  // Grows by one with every change to organisations, users or clients (not sign-in state):
  // one indexed row read, for a server to tell cheaply whether anything changed.
  virtual base::Result<int64_t> ChangeCounter() = 0;

  // kConflict when the ODS code, username or client id is taken; kNotFound for an unknown
  // organisation. Each returns the stored row (key and revision set).
  virtual base::Result<OrganisationRecord> AddOrganisation(OrganisationRecord organisation) = 0;
  virtual base::Result<UserRecord> AddUser(UserRecord user) = 0;
  virtual base::Result<ClientRecord> AddClient(ClientRecord client) = 0;
  // The user of `user.federated_issuer` and `user.federated_subject`: added (with
  // `user.username`, no password) on its first sign-in; on a later one its organisation, role
  // and display name are replaced when they differ (a directory change). Its enabled flag is
  // never touched here. kNotFound for an unknown organisation, kConflict when the username is
  // another user's.
  virtual base::Result<UserRecord> UpsertFederatedUser(UserRecord user) = 0;

  virtual base::Result<std::optional<OrganisationRecord>> FindOrganisation(
      std::string_view ods_code) = 0;
  virtual base::Result<std::optional<UserRecord>> FindUser(std::string_view username) = 0;
  virtual base::Result<std::optional<ClientRecord>> FindClient(std::string_view client_id) = 0;
  // The user with `key` (UserRecord::key); the first user (by key) whose Patient is
  // `patient_id`. Each reads that one user (the audit's `agent` search asks for one).
  virtual base::Result<std::optional<UserRecord>> FindUserByKey(int64_t key) = 0;
  virtual base::Result<std::optional<UserRecord>> FindUserOfPatient(
      std::string_view patient_id) = 0;

  // In key order (the order they were added).
  virtual base::Result<std::vector<OrganisationRecord>> ListOrganisations() = 0;
  virtual base::Result<std::vector<UserRecord>> ListUsers() = 0;
  virtual base::Result<std::vector<ClientRecord>> ListClients() = 0;

  // kNotFound when there is no such row. Setting the state it already has is no change.
  virtual base::Status SetOrganisationEnabled(std::string_view ods_code, bool enabled) = 0;
  virtual base::Status SetUserEnabled(std::string_view username, bool enabled) = 0;
  virtual base::Status SetClientEnabled(std::string_view client_id, bool enabled) = 0;
  // Replaces the hash and clears the sign-in state (failures and lock).
  virtual base::Status SetUserPassword(std::string_view username, std::string_view hash) = 0;

  // Reads the user's sign-in state, lets `change` update it and stores it, in one write
  // transaction (so concurrent failures from several threads or processes all count).
  // kNotFound for an unknown user.
  virtual base::Status UpdateSignInState(std::string_view username,
                                         const std::function<void(SignInState&)>& change) = 0;

  // Counts a failed sign-in under a username no one has, in one write transaction: the same
  // work as a known user's failure (UpdateSignInState), so the time of a failed sign-in does
  // not tell whether the username exists; and a count an operator can watch for guessing.
  // `name_key` (a keyed hash of the name as given, never the name) holds the name's lockout
  // state, kept in the database as a known user's is (so it survives a restart) and changed by
  // `change` in that transaction as a known user's is; `change` returns when the state may be
  // forgotten (its window and any lock over). A few forgotten states are removed by each call,
  // so a spray of names keeps no more than the states that have not expired.
  virtual base::Status CountUnknownSignIn(std::string_view name_key, int64_t now_ms,
                                          const std::function<int64_t(SignInState&)>& change) = 0;
  // A secret kept in the directory's database under `name`: the one stored, or `candidate`,
  // stored now, when there is none (so every process on the folder uses the same one).
  virtual base::Result<std::string> KeepSecret(std::string_view name,
                                               std::string_view candidate) = 0;
  virtual base::Result<int64_t> UnknownSignIns() = 0;

  // The sync's bookkeeping: the row's FHIR resources were written from `revision` (a later
  // change keeps the row pending).
  virtual base::Status MarkOrganisationSynced(int64_t key, int64_t revision,
                                              std::string_view organization_id) = 0;
  virtual base::Status MarkUserSynced(int64_t key, int64_t revision) = 0;

  // Whether the record holds a current (not deleted) Patient with this id.
  virtual base::Result<bool> RecordHoldsPatient(std::string_view patient_id) = 0;
};

// Opens (creating the file and tables when absent) the directory in DIRECTORY/carerecord.db.
base::Result<std::unique_ptr<IdentityRecords>> OpenSqliteIdentityRecords(
    const std::string& directory);

}  // namespace carerecord::store
