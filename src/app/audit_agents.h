// The audit's agents in the record's terms: a user's Practitioner as the directory sync makes it
// ("Practitioner/carerecord-user-KEY"), a patient user's Patient, and back (for the AuditEvent
// `agent` search). Over the directory's tables; thread-safe (one lock, a cache of users seen).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "audit/audit_event.h"
#include "store/identity_records.h"

namespace carerecord::app {

class DirectoryAuditAgents final : public audit::AgentDirectory {
 public:
  explicit DirectoryAuditAgents(store::IdentityRecords& records) : records_(records) {}
  std::string ReferenceOfUser(std::string_view username) const override;
  std::optional<std::string> UserOfReference(std::string_view reference) const override;

 private:
  store::IdentityRecords& records_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::string, std::less<>> references_;  // username -> reference
};

}  // namespace carerecord::app
