// An IdentityRecords that forwards every call to another and counts the calls of each kind: for
// tests that check what a component reads from the directory (not how fast).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "store/identity_records.h"

namespace carerecord::testing {

class CountingIdentityRecords final : public store::IdentityRecords {
 public:
  explicit CountingIdentityRecords(store::IdentityRecords& inner) : inner_(inner) {}

  int Calls(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(name);
    return it == calls_.end() ? 0 : it->second;
  }

  base::Result<int64_t> ChangeCounter() override {
    return Count("ChangeCounter"), inner_.ChangeCounter();
  }
  base::Result<store::OrganisationRecord> AddOrganisation(store::OrganisationRecord o) override {
    return Count("AddOrganisation"), inner_.AddOrganisation(std::move(o));
  }
  base::Result<store::UserRecord> AddUser(store::UserRecord user) override {
    return Count("AddUser"), inner_.AddUser(std::move(user));
  }
  base::Result<store::ClientRecord> AddClient(store::ClientRecord client) override {
    return Count("AddClient"), inner_.AddClient(std::move(client));
  }
  base::Result<store::UserRecord> UpsertFederatedUser(store::UserRecord user) override {
    return Count("UpsertFederatedUser"), inner_.UpsertFederatedUser(std::move(user));
  }
  base::Result<std::optional<store::OrganisationRecord>> FindOrganisation(
      std::string_view ods_code) override {
    return Count("FindOrganisation"), inner_.FindOrganisation(ods_code);
  }
  base::Result<std::optional<store::UserRecord>> FindUser(std::string_view username) override {
    return Count("FindUser"), inner_.FindUser(username);
  }
  base::Result<std::optional<store::ClientRecord>> FindClient(std::string_view id) override {
    return Count("FindClient"), inner_.FindClient(id);
  }
  base::Result<std::optional<store::UserRecord>> FindUserByKey(int64_t key) override {
    return Count("FindUserByKey"), inner_.FindUserByKey(key);
  }
  base::Result<std::optional<store::UserRecord>> FindUserOfPatient(
      std::string_view patient_id) override {
    return Count("FindUserOfPatient"), inner_.FindUserOfPatient(patient_id);
  }
  base::Result<std::vector<store::OrganisationRecord>> ListOrganisations() override {
    return Count("ListOrganisations"), inner_.ListOrganisations();
  }
  base::Result<std::vector<store::UserRecord>> ListUsers() override {
    return Count("ListUsers"), inner_.ListUsers();
  }
  base::Result<std::vector<store::ClientRecord>> ListClients() override {
    return Count("ListClients"), inner_.ListClients();
  }
  base::Status SetOrganisationEnabled(std::string_view ods_code, bool enabled) override {
    return Count("SetOrganisationEnabled"), inner_.SetOrganisationEnabled(ods_code, enabled);
  }
  base::Status SetUserEnabled(std::string_view username, bool enabled) override {
    return Count("SetUserEnabled"), inner_.SetUserEnabled(username, enabled);
  }
  base::Status SetClientEnabled(std::string_view client_id, bool enabled) override {
    return Count("SetClientEnabled"), inner_.SetClientEnabled(client_id, enabled);
  }
  base::Status SetUserPassword(std::string_view username, std::string_view hash) override {
    return Count("SetUserPassword"), inner_.SetUserPassword(username, hash);
  }
  base::Status UpdateSignInState(std::string_view username,
                                 const std::function<void(store::SignInState&)>& change) override {
    return Count("UpdateSignInState"), inner_.UpdateSignInState(username, change);
  }
  base::Status CountUnknownSignIn(
      std::string_view name_key, int64_t now_ms,
      const std::function<int64_t(store::SignInState&)>& change) override {
    return Count("CountUnknownSignIn"), inner_.CountUnknownSignIn(name_key, now_ms, change);
  }
  base::Result<std::string> KeepSecret(std::string_view name, std::string_view candidate) override {
    return Count("KeepSecret"), inner_.KeepSecret(name, candidate);
  }
  base::Result<int64_t> UnknownSignIns() override {
    return Count("UnknownSignIns"), inner_.UnknownSignIns();
  }
  base::Status MarkOrganisationSynced(int64_t key, int64_t revision,
                                      std::string_view organization_id) override {
    return Count("MarkOrganisationSynced"),
           inner_.MarkOrganisationSynced(key, revision, organization_id);
  }
  base::Status MarkUserSynced(int64_t key, int64_t revision) override {
    return Count("MarkUserSynced"), inner_.MarkUserSynced(key, revision);
  }
  base::Result<bool> RecordHoldsPatient(std::string_view patient_id) override {
    return Count("RecordHoldsPatient"), inner_.RecordHoldsPatient(patient_id);
  }

 private:
  int Count(const std::string& name) {
    std::lock_guard lock(mutex_);
    return ++calls_[name];
  }

  store::IdentityRecords& inner_;
  mutable std::mutex mutex_;
  std::map<std::string, int> calls_;
};

}  // namespace carerecord::testing
