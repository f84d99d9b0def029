#include "access/directory.h"

#include <algorithm>

#include "access/jwt.h"
#include "base/utf8.h"
#include "fhir/resource_validation.h"

namespace carerecord::access {
namespace {

using base::ErrorCode;
using base::Invalid;
using base::MakeError;

// A name or display name: 1 to 200 bytes of UTF-8, no control characters.
base::Status CheckName(std::string_view name, const std::string& option, bool required) {
  if (name.empty()) {
    if (!required) return base::Status::Ok();
    return Invalid(option + " must not be empty", option);
  }
  if (name.size() > 200) return Invalid(option + " must be at most 200 bytes long", option);
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return Invalid(option + " must not hold control characters", option);
  }
  if (!base::IsValidUtf8(name)) return Invalid(option + " must be valid UTF-8 text", option);
  return base::Status::Ok();
}

std::string RoleList(bool (*admits)(Role)) {
  std::string list;
  for (Role role : AllRoles()) {
    if (!admits(role)) continue;
    if (!list.empty()) list += ", ";
    list += RoleName(role);
  }
  return list;
}

}  // namespace

std::string_view SignInOutcomeText(SignInOutcome outcome) {
  switch (outcome) {
    case SignInOutcome::kSignedIn:
      return "signed in";
    case SignInOutcome::kWrongCredentials:
      return "wrong username or password";
    case SignInOutcome::kLocked:
      return "account locked after too many wrong passwords";
    case SignInOutcome::kDisabled:
      return "account disabled";
    case SignInOutcome::kUnavailable:
      return "the directory is unavailable";
  }
  return "unknown";
}

Directory::Directory(store::IdentityRecords& records, DirectoryOptions options)
    : records_(records), options_(std::move(options)) {}

int64_t Directory::Now() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

base::Result<store::OrganisationRecord> Directory::AddOrganisation(
    const NewOrganisation& organisation) {
  auto code = NormaliseOdsCode(organisation.ods_code);
  if (!code.ok()) return code.error();
  CR_RETURN_IF_ERROR(CheckName(organisation.name, "--name", true));
  if (std::find(std::begin(kOrganisationKinds), std::end(kOrganisationKinds), organisation.kind) ==
      std::end(kOrganisationKinds)) {
    return Invalid("--kind must be one of gp, hospital, community, hospice, council, other, not '" +
                       organisation.kind.substr(0, 64) + "'",
                   "--kind");
  }
  store::OrganisationRecord record;
  record.ods_code = code.value();
  record.name = organisation.name;
  record.kind = organisation.kind;
  return records_.AddOrganisation(std::move(record));
}

base::Result<store::UserRecord> Directory::AddUser(const NewUser& user) {
  auto username = NormaliseUsername(user.username);
  if (!username.ok()) return username.error();
  auto code = NormaliseOdsCode(user.ods_code);
  if (!code.ok()) return MakeError(ErrorCode::kInvalid, code.error().message, "--org");
  auto role = ParseRole(user.role);
  if (!role || !IsUserRole(*role)) {
    return Invalid("--role must be one of " + RoleList(&IsUserRole) + ", not '" +
                       user.role.substr(0, 64) + "'",
                   "--role");
  }
  CR_RETURN_IF_ERROR(CheckName(user.display_name, "--name", false));
  if (*role == Role::kPatient) {
    if (user.patient_id.empty()) {
      return Invalid("a user with role patient needs --patient, the id of their Patient",
                     "--patient");
    }
    if (!fhir::IsValidId(user.patient_id)) {
      return Invalid("--patient must be a FHIR id (1 to 64 of A-Z a-z 0-9 - .), not '" +
                         user.patient_id.substr(0, 64) + "'",
                     "--patient");
    }
    auto exists = records_.RecordHoldsPatient(user.patient_id);
    if (!exists.ok()) return exists.error();
    if (!exists.value()) {
      return MakeError(ErrorCode::kNotFound,
                       "the record holds no Patient/" + user.patient_id + ": load it first",
                       "--patient");
    }
  } else if (!user.patient_id.empty()) {
    return Invalid("--patient is only for a user with role patient", "--patient");
  }
  CR_RETURN_IF_ERROR(CheckPasswordStrength(user.password));
  auto organisation = records_.FindOrganisation(code.value());
  if (!organisation.ok()) return organisation.error();
  if (!organisation.value()) {
    return MakeError(ErrorCode::kNotFound,
                     "no organisation has ODS code " + code.value() + " (add it with orgs add)",
                     "--org");
  }
  auto hash = HashPassword(user.password, options_.password_hashing);
  if (!hash.ok()) return hash.error();
  store::UserRecord record;
  record.username = username.value();
  record.ods_code = code.value();
  record.role = user.role;
  record.display_name = user.display_name;
  record.patient_id = user.patient_id;
  record.password_hash = std::move(hash).value();
  return records_.AddUser(std::move(record));
}

base::Result<AddedClient> Directory::AddClient(const NewClient& client) {
  CR_RETURN_IF_ERROR(CheckName(client.name, "--name", true));
  auto code = NormaliseOdsCode(client.ods_code);
  if (!code.ok()) return MakeError(ErrorCode::kInvalid, code.error().message, "--org");
  if (!client.role.empty()) {
    auto role = ParseRole(client.role);
    if (!role || !IsClientRole(*role)) {
      return Invalid("--role must be one of " + RoleList(&IsClientRole) + ", not '" +
                         client.role.substr(0, 64) + "'",
                     "--role");
    }
  }
  auto scope = NormaliseScope(client.scope);
  if (!scope.ok()) return scope.error();
  for (const std::string& uri : client.redirect_uris) CR_RETURN_IF_ERROR(CheckRedirectUri(uri));
  AddedClient added;
  store::ClientRecord& record = added.client;
  if (client.auth_kind == "secret") {
    added.secret = RandomToken(32);
    record.secret_hash = HashClientSecret(added.secret);
  } else if (client.auth_kind == "jwks") {
    CR_RETURN_IF_ERROR(CheckPublicJwks(client.jwks_json));
    record.jwks_json = client.jwks_json;
  } else if (client.auth_kind == "public") {
    if (client.redirect_uris.empty()) {
      return Invalid("a public client needs at least one --redirect-uri", "--redirect-uri");
    }
    if (!client.role.empty()) {
      return Invalid("a public client acts only for a signed-in user: it takes no --role",
                     "--role");
    }
  } else {
    return Invalid("a client authenticates with --secret, --jwks-file FILE or --public",
                   "--secret");
  }
  auto organisation = records_.FindOrganisation(code.value());
  if (!organisation.ok()) return organisation.error();
  if (!organisation.value()) {
    return MakeError(ErrorCode::kNotFound,
                     "no organisation has ODS code " + code.value() + " (add it with orgs add)",
                     "--org");
  }
  record.client_id = RandomHex(16);
  record.name = client.name;
  record.ods_code = code.value();
  record.role = client.role;
  record.scope = std::move(scope).value();
  record.auth_kind = client.auth_kind;
  record.redirect_uris = client.redirect_uris;
  auto stored = records_.AddClient(std::move(record));
  if (!stored.ok()) return stored.error();
  added.client = std::move(stored).value();
  return added;
}

base::Status Directory::SetOrganisationEnabled(std::string_view ods_code, bool enabled) {
  auto code = NormaliseOdsCode(ods_code);
  if (!code.ok()) return code.error();
  return records_.SetOrganisationEnabled(code.value(), enabled);
}

base::Status Directory::SetUserEnabled(std::string_view username, bool enabled) {
  auto name = NormaliseUsername(username);
  if (!name.ok()) return name.error();
  return records_.SetUserEnabled(name.value(), enabled);
}

base::Status Directory::SetClientEnabled(std::string_view client_id, bool enabled) {
  return records_.SetClientEnabled(client_id, enabled);
}

base::Status Directory::ResetPassword(std::string_view username, std::string_view password) {
  auto name = NormaliseUsername(username);
  if (!name.ok()) return name.error();
  CR_RETURN_IF_ERROR(CheckPasswordStrength(password));
  auto user = records_.FindUser(name.value());
  if (!user.ok()) return user.error();
  if (!user.value()) {
    return MakeError(ErrorCode::kNotFound, "no such user: " + name.value(), "--username");
  }
  if (!user.value()->federated_issuer.empty()) {
    return Invalid("user " + name.value() + " signs in through " + user.value()->federated_issuer +
                       " and has no password",
                   "--username");
  }
  auto hash = HashPassword(password, options_.password_hashing);
  if (!hash.ok()) return hash.error();
  return records_.SetUserPassword(name.value(), hash.value());
}

std::string FederatedUsername(std::string_view issuer, std::string_view subject) {
  static constexpr char kDigits[] = "0123456789abcdef";
  // The length first, so no (issuer, subject) pair reads as another.
  const std::string digest =
      Sha256(std::to_string(issuer.size()) + ":" + std::string(issuer) + std::string(subject));
  std::string name = "fed-";
  for (size_t i = 0; i < 12; ++i) {
    name += kDigits[static_cast<unsigned char>(digest[i]) >> 4];
    name += kDigits[static_cast<unsigned char>(digest[i]) & 15];
  }
  return name;
}

base::Result<store::UserRecord> Directory::SignInFederated(const FederatedSignIn& who) {
  if (who.issuer.empty() || who.subject.empty()) {
    return Invalid("a federated sign-in needs the IdP's issuer and the user's subject");
  }
  auto code = NormaliseOdsCode(who.ods_code);
  if (!code.ok()) return code.error();
  auto role = ParseRole(who.role);
  if (!role || !IsStaffRole(*role)) {
    return Invalid("a federated user's role must be a staff role, not '" + who.role.substr(0, 64) +
                   "'");
  }
  // The IdP's name is shown, not trusted: control characters become spaces, and it is cut
  // to 200 bytes on a character boundary.
  std::string name;
  for (char c : who.display_name) {
    const auto byte = static_cast<unsigned char>(c);
    name.push_back(byte < 0x20 || byte == 0x7f ? ' ' : c);
  }
  if (name.size() > 200) {
    size_t cut = 200;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
    name.resize(cut);
  }
  if (!base::IsValidUtf8(name)) name.clear();
  auto organisation = records_.FindOrganisation(code.value());
  if (!organisation.ok()) return organisation.error();
  if (!organisation.value()) {
    return MakeError(ErrorCode::kNotFound, "carerecord has no organisation with ODS code " +
                                               code.value() + " (ask the region to add it)");
  }
  if (!organisation.value()->enabled) {
    return MakeError(ErrorCode::kForbidden,
                     "organisation " + code.value() + " is disabled in carerecord");
  }
  store::UserRecord record;
  record.username = FederatedUsername(who.issuer, who.subject);
  record.ods_code = code.value();
  record.role = std::string(RoleName(*role));
  record.display_name = std::move(name);
  record.federated_issuer = who.issuer;
  record.federated_subject = who.subject;
  auto stored = records_.UpsertFederatedUser(std::move(record));
  if (!stored.ok()) return stored.error();
  if (!stored->enabled) {
    return MakeError(ErrorCode::kForbidden,
                     "user " + stored->username + " is disabled in carerecord");
  }
  return stored;
}

const std::string& Directory::DummyHash() {
  std::call_once(dummy_hash_once_, [this] {
    auto hash = HashPassword(RandomToken(16), options_.password_hashing);
    if (hash.ok()) dummy_hash_ = std::move(hash).value();
  });
  return dummy_hash_;
}

base::Result<std::string> Directory::UnknownNameKey() {
  std::lock_guard lock(unknown_mutex_);
  if (unknown_name_key_.empty()) {
    auto kept = records_.KeepSecret("unknown_sign_in_name_key", RandomToken(32));
    if (!kept.ok()) return kept.error();
    unknown_name_key_ = std::move(kept).value();
  }
  return unknown_name_key_;
}

base::Result<std::string> Directory::AuditLabelKey() {
  std::lock_guard lock(unknown_mutex_);
  if (audit_label_key_.empty()) {
    auto kept = records_.KeepSecret("audit_unknown_user_key", RandomToken(32));
    if (!kept.ok()) return kept.error();
    audit_label_key_ = std::move(kept).value();
  }
  return audit_label_key_;
}

int64_t Directory::CountFailure(store::SignInState& state, int64_t now) const {
  if (state.failed_attempts == 0 || now - state.failure_window_start_ms >= Window()) {
    state.failed_attempts = 0;
    state.failure_window_start_ms = now;
  }
  if (++state.failed_attempts < std::max(1, options_.max_failed_sign_ins)) return 0;
  state.locked_until_ms = now + options_.lock_duration.count();
  state.failed_attempts = 0;
  state.failure_window_start_ms = 0;
  return state.locked_until_ms;
}

base::Result<int64_t> Directory::CountUnknownFailure(std::string_view name, int64_t now) {
  auto key = UnknownNameKey();
  if (!key.ok()) return key.error();
  auto digest = HmacSha256(key.value(), name);
  if (!digest) return MakeError(ErrorCode::kInternal, "HMAC-SHA256 of a sign-in name failed");
  int64_t locked_until = 0;
  // The same steps as a known user's failure (Authenticate), on the name's stored state.
  auto counted =
      records_.CountUnknownSignIn(*digest, now, [&](store::SignInState& state) -> int64_t {
        if (state.locked_until_ms > now) {
          locked_until = state.locked_until_ms;
          return state.locked_until_ms;
        }
        locked_until = CountFailure(state, now);
        return locked_until ? locked_until : state.failure_window_start_ms + Window();
      });
  if (!counted.ok()) return counted.error();
  return locked_until;
}

SignInResult Directory::Authenticate(std::string_view username, std::string_view password) {
  SignInResult result;
  auto name = NormaliseUsername(username);
  std::optional<store::UserRecord> user;
  if (name.ok()) {
    auto found = records_.FindUser(name.value());
    if (!found.ok()) {
      result.outcome = SignInOutcome::kUnavailable;
      return result;
    }
    user = std::move(found).value();
  }
  // The verify runs whether or not the user exists (then against a hash of a random password,
  // with the same parameters), and whatever the outcome will be.
  const bool matches = VerifyPassword(user ? user->password_hash : DummyHash(), password);
  const int64_t now = Now();
  if (!user) {
    // A known user's failure writes its count; so does this, at the same cost, and it locks
    // as a known user's would, so a lock does not tell which usernames exist.
    auto locked_until = CountUnknownFailure(name.ok() ? name.value() : username, now);
    if (!locked_until.ok()) {
      result.outcome = SignInOutcome::kUnavailable;
      return result;
    }
    result.locked_until_ms = *locked_until;
    if (result.locked_until_ms != 0) result.outcome = SignInOutcome::kLocked;
    return result;
  }
  if (user->sign_in.locked_until_ms > now) {
    result.outcome = SignInOutcome::kLocked;
    result.locked_until_ms = user->sign_in.locked_until_ms;
    return result;
  }
  if (!matches) {
    int64_t locked_until = 0;
    auto counted = records_.UpdateSignInState(user->username, [&](store::SignInState& state) {
      if (state.locked_until_ms > now) return;  // a concurrent failure locked it already
      locked_until = CountFailure(state, now);
    });
    if (!counted.ok()) result.outcome = SignInOutcome::kUnavailable;
    if (locked_until) {
      result.outcome = SignInOutcome::kLocked;
      result.locked_until_ms = locked_until;
    }
    return result;
  }
  auto organisation = records_.FindOrganisation(user->ods_code);
  if (!organisation.ok()) {
    result.outcome = SignInOutcome::kUnavailable;
    return result;
  }
  if (!user->enabled || !organisation.value() || !organisation.value()->enabled) {
    result.outcome = SignInOutcome::kDisabled;
    return result;
  }
  if (user->sign_in.failed_attempts != 0 || user->sign_in.locked_until_ms != 0) {
    auto cleared = records_.UpdateSignInState(
        user->username, [](store::SignInState& state) { state = store::SignInState{}; });
    if (!cleared.ok()) {
      result.outcome = SignInOutcome::kUnavailable;
      return result;
    }
    user->sign_in = {};
  }
  result.outcome = SignInOutcome::kSignedIn;
  result.user = std::move(user);
  return result;
}

base::Result<std::optional<store::ClientRecord>> Directory::FindClient(std::string_view client_id) {
  return records_.FindClient(client_id);
}

base::Result<std::optional<store::UserRecord>> Directory::FindUser(std::string_view username) {
  auto name = NormaliseUsername(username);
  if (!name.ok()) return std::optional<store::UserRecord>();
  return records_.FindUser(name.value());
}

bool Directory::VerifyClientSecret(const store::ClientRecord& client, std::string_view secret) {
  return client.auth_kind == "secret" && access::VerifyClientSecret(client.secret_hash, secret);
}

void Directory::RefreshEnabledIfDue() {
  // Before the first load every thread waits for it; after, one reloads while the others read
  // the snapshot it replaces.
  std::unique_lock refresh(refresh_mutex_, std::defer_lock);
  if (loaded_.load(std::memory_order_acquire)) {
    if (!refresh.try_lock()) return;
  } else {
    refresh.lock();
  }
  const auto now = std::chrono::steady_clock::now();
  if (now < next_refresh_) return;
  next_refresh_ = now + options_.enabled_refresh;
  auto change = records_.ChangeCounter();
  if (!change.ok() || change.value() == loaded_change_) return;
  auto organisations = records_.ListOrganisations();
  auto users = records_.ListUsers();
  auto clients = records_.ListClients();
  if (!organisations.ok() || !users.ok() || !clients.ok()) return;
  std::unordered_map<std::string, bool> organisation_enabled;
  for (const auto& o : organisations.value()) organisation_enabled[o.ods_code] = o.enabled;
  std::unordered_map<std::string, bool> user_enabled, client_enabled;
  for (const auto& u : users.value()) {
    user_enabled[u.username] = u.enabled && organisation_enabled[u.ods_code];
  }
  for (const auto& c : clients.value()) {
    client_enabled[c.client_id] = c.enabled && organisation_enabled[c.ods_code];
  }
  std::unique_lock write(enabled_mutex_);
  user_enabled_.swap(user_enabled);
  client_enabled_.swap(client_enabled);
  loaded_change_ = change.value();
  loaded_.store(true, std::memory_order_release);
}

bool Directory::UserEnabled(std::string_view username) {
  RefreshEnabledIfDue();
  auto name = NormaliseUsername(username);
  if (!name.ok()) return false;
  std::shared_lock read(enabled_mutex_);
  auto it = user_enabled_.find(name.value());
  return it != user_enabled_.end() && it->second;
}

bool Directory::ClientEnabled(std::string_view client_id) {
  RefreshEnabledIfDue();
  std::shared_lock read(enabled_mutex_);
  auto it = client_enabled_.find(std::string(client_id));
  return it != client_enabled_.end() && it->second;
}

}  // namespace carerecord::access
