// What a region reports from its audit log: `carerecord audit report`, `audit break-glass` and
// `audit declarations`. Read from the entries' canonical bytes (what the chain protects), never
// from a column the chain does not cover. Plain functions; each call opens its own connection.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_entry.h"
#include "base/status.h"

namespace carerecord::audit {

// "2026-12-01", "2026-12-01T09:30", "2026-12-01T09:30:15Z": UTC milliseconds, or an error
// naming the expected forms.
base::Result<int64_t> ParseSinceDate(std::string_view text);

// Calls `visit` with each entry at or after `since_ms`, in sequence order, one at a time (a
// report over a year of entries never holds them all).
base::Status ForEachAuditEntry(const std::filesystem::path& directory, int64_t since_ms,
                               const std::function<void(AuditRecord&&)>& visit);
// All of them (for tests and small logs).
base::Result<std::vector<AuditRecord>> ReadAuditEntries(const std::filesystem::path& directory,
                                                        int64_t since_ms);

struct MonthlyAccess {
  std::string month;  // "2026-12"
  std::string organisation;
  int64_t accesses = 0;  // entries that returned or changed patient data
  int64_t distinct_users = 0;
  int64_t break_glass = 0;   // break-glass events
  int64_t btg_accesses = 0;  // accesses made with purpose BTG
  int64_t declarations = 0;
  int64_t refused = 0;
};

// Counts entries into per month and organisation rows as they are read.
class MonthlyAccessCounter {
 public:
  void Add(const AuditRecord& entry);
  // Per month and organisation, in that order.
  std::vector<MonthlyAccess> Rows() const;

 private:
  std::map<std::pair<std::string, std::string>, MonthlyAccess> rows_;
  std::map<std::pair<std::string, std::string>, std::set<std::string>> users_;
};

std::vector<MonthlyAccess> MonthlyAccessReport(const std::vector<AuditRecord>& entries);

enum class ReportFormat { kTable, kJson };

std::string FormatMonthlyAccess(const std::vector<MonthlyAccess>& rows, ReportFormat format);
// The entries whose action is `action` ("break-glass", "declare-relationship"): time, who,
// patients, reason, outcome.
std::string FormatEvents(const std::vector<AuditRecord>& entries, std::string_view action,
                         ReportFormat format);

}  // namespace carerecord::audit
