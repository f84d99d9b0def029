#include "app/audit_agents.h"

#include "app/directory_sync.h"

namespace carerecord::app {

namespace {

std::string ReferenceOf(const store::UserRecord& user) {
  return user.patient_id.empty() ? "Practitioner/" + PractitionerIdFor(user)
                                 : "Patient/" + user.patient_id;
}

}  // namespace

std::string DirectoryAuditAgents::ReferenceOfUser(std::string_view username) const {
  std::lock_guard lock(mutex_);
  if (auto known = references_.find(username); known != references_.end()) return known->second;
  auto user = records_.FindUser(username);
  if (!user.ok() || !user.value()) return {};  // a user no longer (or never) in the directory
  // A user's key, and so their Practitioner, never changes: the answer is kept.
  if (references_.size() >= 100000) references_.clear();
  return references_.emplace(std::string(username), ReferenceOf(*user.value())).first->second;
}

std::optional<std::string> DirectoryAuditAgents::UserOfReference(std::string_view reference) const {
  if (!reference.starts_with("Practitioner/") && !reference.starts_with("Patient/")) {
    return std::nullopt;
  }
  std::lock_guard lock(mutex_);
  auto users = records_.ListUsers();  // a search by agent is rare; the directory is small
  if (!users.ok()) return std::nullopt;
  for (const store::UserRecord& user : users.value()) {
    if (ReferenceOf(user) == reference) return user.username;
  }
  return std::nullopt;
}

}  // namespace carerecord::app
