#include "app/audit_agents.h"

#include <charconv>

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
  // Only the user the reference names is read: "Practitioner/carerecord-user-KEY" by its key
  // (PractitionerIdFor), "Patient/ID" by the patient's id.
  base::Result<std::optional<store::UserRecord>> user = std::optional<store::UserRecord>();
  constexpr std::string_view kPractitioner = "Practitioner/carerecord-user-";
  if (reference.starts_with(kPractitioner)) {
    const std::string_view digits = reference.substr(kPractitioner.size());
    int64_t key = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), key);
    if (error != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
        digits.front() == '0' || key <= 0) {
      return std::nullopt;
    }
    user = records_.FindUserByKey(key);
  } else if (reference.starts_with("Patient/")) {
    user = records_.FindUserOfPatient(reference.substr(8));
  } else {
    return std::nullopt;
  }
  if (!user.ok() || !user.value()) return std::nullopt;
  // The reference must be the user's own (a patient user has no Practitioner).
  if (ReferenceOf(*user.value()) != reference) return std::nullopt;
  return user.value()->username;
}

}  // namespace carerecord::app
