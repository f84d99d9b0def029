// The directory of who exists: organisations, users and clients, with the rules that guard them
// (validation, password hashing, lockout) over the stored rows of store/identity_records.h. The
// command line adds and changes entries; the token endpoint and token checks (issue 19's next
// steps) ask it who someone is and whether they are still enabled.
// A Directory is shared by all request threads; every method is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "access/directory_values.h"
#include "access/passwords.h"
#include "access/roles.h"
#include "base/status.h"
#include "store/identity_records.h"

namespace carerecord::access {

struct DirectoryOptions {
  // Lockout: this many wrong passwords within the window lock the account for lock_duration.
  int max_failed_sign_ins = 5;
  std::chrono::milliseconds failure_window = std::chrono::minutes(15);
  std::chrono::milliseconds lock_duration = std::chrono::minutes(15);
  PasswordHashOptions password_hashing;
  // UserEnabled/ClientEnabled read the change counter at most this often, so a disable is seen
  // within it (and a reload).
  std::chrono::milliseconds enabled_refresh = std::chrono::seconds(1);
  // Wall-clock time in milliseconds since the epoch; tests replace it.
  std::function<int64_t()> now_ms;
};

inline constexpr std::string_view kOrganisationKinds[] = {"gp",      "hospital", "community",
                                                          "hospice", "council",  "other"};

struct NewOrganisation {
  std::string ods_code;
  std::string name;
  std::string kind = "other";
};

struct NewUser {
  std::string username;
  std::string ods_code;
  std::string role;
  std::string display_name;
  std::string patient_id;  // required for role patient, refused for any other
  std::string password;
};

struct NewClient {
  std::string name;
  std::string ods_code;
  std::string role;       // optional: the role of its own (client-credentials) tokens
  std::string scope;      // the scopes it may be granted, space-separated
  std::string auth_kind;  // secret, jwks or public
  std::string jwks_json;  // auth_kind jwks: a JWK Set of public keys
  std::vector<std::string> redirect_uris;  // required for public clients
};

struct AddedClient {
  store::ClientRecord client;
  std::string secret;  // auth_kind secret: shown once, stored only as its hash
};

// Who a regional IdP signed in (access/oidc_rp.h), with the organisation and role chosen.
struct FederatedSignIn {
  std::string issuer;
  std::string subject;
  std::string display_name;
  std::string ods_code;
  std::string role;  // a staff role
};

enum class SignInOutcome {
  kSignedIn,
  kWrongCredentials,  // unknown user or wrong password
  kLocked,            // too many wrong passwords lately (the password was not looked at)
  kDisabled,          // the user or their organisation is disabled
  kUnavailable,       // the directory could not be read or written
};
// "signed in", "wrong username or password", ...: for the audit and logs.
std::string_view SignInOutcomeText(SignInOutcome outcome);

struct SignInResult {
  SignInOutcome outcome = SignInOutcome::kWrongCredentials;
  std::optional<store::UserRecord> user;  // when signed in
  int64_t locked_until_ms = 0;            // when locked
};

class Directory {
 public:
  explicit Directory(store::IdentityRecords& records, DirectoryOptions options = {});

  // Each validates its input (kInvalid naming the option at fault), refuses duplicates
  // (kConflict) and unknown organisations (kNotFound), then stores.
  base::Result<store::OrganisationRecord> AddOrganisation(const NewOrganisation& organisation);
  base::Result<store::UserRecord> AddUser(const NewUser& user);
  base::Result<AddedClient> AddClient(const NewClient& client);

  base::Status SetOrganisationEnabled(std::string_view ods_code, bool enabled);
  base::Status SetUserEnabled(std::string_view username, bool enabled);
  base::Status SetClientEnabled(std::string_view client_id, bool enabled);
  base::Status ResetPassword(std::string_view username, std::string_view password);

  // Checks a username and password. A failure costs one argon2id verify and one write
  // transaction whether or not the username exists, so its time does not tell which. Wrong
  // passwords count towards lockout. The outcome is for the audit: a sign-in page should show
  // one message for every failure but a lock.
  SignInResult Authenticate(std::string_view username, std::string_view password);

  // The carerecord user of a federated identity, made on its first sign-in (username
  // FederatedUsername, no password: password sign-in always fails for it) and given this
  // sign-in's organisation, role and display name. kNotFound for an unknown organisation,
  // kForbidden when the user or their organisation is disabled, kInvalid for a role that is not
  // a staff role.
  base::Result<store::UserRecord> SignInFederated(const FederatedSignIn& who);

  base::Result<std::optional<store::ClientRecord>> FindClient(std::string_view client_id);
  base::Result<std::optional<store::UserRecord>> FindUser(std::string_view username);
  // True when `client` authenticates with a secret and `secret` is it (constant time).
  static bool VerifyClientSecret(const store::ClientRecord& client, std::string_view secret);

  // Whether the user (and their organisation) or client exists and is enabled, from a snapshot
  // in memory that is reloaded when the directory changed, checked at most every
  // enabled_refresh: cheap enough for every request.
  bool UserEnabled(std::string_view username);
  bool ClientEnabled(std::string_view client_id);

  store::IdentityRecords& records() { return records_; }

  // The key of the audit's labels for names no user or client has (http::UnknownUserLabel):
  // kept in the directory's database ("audit_unknown_user_key", made on first use), read once
  // and then held; an error (retried at the next call) when it cannot be read.
  base::Result<std::string> AuditLabelKey();

 private:
  int64_t Now() const;
  // Counts a failed sign-in of a username that does not exist, as a known user's is counted
  // and in the database as a known user's is (under a keyed hash of the name, so a restart or
  // a spray of other names does not reset it): when it locks (or is locked), the time the lock
  // ends; else 0.
  base::Result<int64_t> CountUnknownFailure(std::string_view name, int64_t now);
  // The key of those hashes, kept in the directory's database (made on first use).
  base::Result<std::string> UnknownNameKey();
  // One more failed sign-in on `state` at `now`: restarts the window when it has passed, and
  // locks at the limit. Returns until when it locked, or 0.
  int64_t CountFailure(store::SignInState& state, int64_t now) const;
  int64_t Window() const { return options_.failure_window.count(); }
  void RefreshEnabledIfDue();
  const std::string& DummyHash();

  store::IdentityRecords& records_;
  DirectoryOptions options_;
  std::once_flag dummy_hash_once_;
  std::string dummy_hash_;

  std::mutex unknown_mutex_;
  std::string unknown_name_key_;  // empty until read
  std::string audit_label_key_;   // empty until read (under unknown_mutex_)

  std::mutex refresh_mutex_;  // one thread reloads; the others read the snapshot meanwhile
  std::chrono::steady_clock::time_point next_refresh_{};
  int64_t loaded_change_ = -1;
  std::atomic<bool> loaded_{false};
  std::shared_mutex enabled_mutex_;
  std::unordered_map<std::string, bool> user_enabled_;
  std::unordered_map<std::string, bool> client_enabled_;
};

// "fed-" and 24 hex digits of SHA-256(issuer, subject): a federated user's username.
std::string FederatedUsername(std::string_view issuer, std::string_view subject);

}  // namespace carerecord::access
