// Declared relationships and break-glass (issue 20): a staff user's own, time-limited opening of
// one patient's record, kept durably in the record database (table access_grant) and in memory
// for the per-item decision. Written by the $declare-relationship and $break-glass operations,
// read by RecordCareRelationships. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace carerecord::store {
class SqliteConnection;
}

namespace carerecord::access {

enum class GrantKind { kDeclared, kBreakGlass };

struct AccessGrant {
  GrantKind kind = GrantKind::kDeclared;
  std::string principal;     // "user:NAME": the grant opens the record to this user alone
  std::string organisation;  // the ODS code the user acted for; another organisation's session
                             // of the same user is not opened
  std::string patient;       // Patient id
  std::string reason;
  int64_t granted_at = 0;  // seconds since the epoch
  int64_t until = 0;       // seconds since the epoch, exclusive
};

class AccessGrants {
 public:
  // Opens (creating when absent) the table in DIR/carerecord.db and loads the grants still
  // running at `now` (expired ones stay in the table, for the record, and are not loaded).
  static base::Result<std::unique_ptr<AccessGrants>> Open(const std::string& data_directory,
                                                          bool durable, int64_t now);
  ~AccessGrants();

  // Durable before it returns; then in force.
  base::Status Add(const AccessGrant& grant);
  // The latest `until` of a grant of `kind` to (principal, organisation) for `patient`; 0 when
  // there is none.
  int64_t Until(GrantKind kind, std::string_view principal, std::string_view organisation,
                std::string_view patient) const;

 private:
  struct Held {
    GrantKind kind;
    std::string principal;
    std::string organisation;
    int64_t until;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  explicit AccessGrants(std::unique_ptr<store::SqliteConnection> db);
  void Hold(const AccessGrant& grant);

  std::mutex write_mutex_;
  std::unique_ptr<store::SqliteConnection> db_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::vector<Held>, Hash, std::equal_to<>> by_patient_;
};

std::string_view GrantKindName(GrantKind kind);

}  // namespace carerecord::access
