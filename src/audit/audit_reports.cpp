#include "audit/audit_reports.h"

#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <sstream>

#include "audit/audit_database.h"
#include "base/terminal_text.h"

namespace carerecord::audit {

namespace json = boost::json;

base::Result<int64_t> ParseSinceDate(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char tail[8] = {0};
  const std::string copy(text);
  int fields = std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%7s", &year, &month, &day, &hour,
                           &minute, &second, tail);
  const bool shape_ok = (fields == 3 && copy.size() == 10) || fields == 5 || fields == 6 ||
                        (fields == 7 && std::string_view(tail) == "Z");
  if (!shape_ok || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60 || year < 1970) {
    return base::Invalid(
        "'" + copy + "' is not a date: give YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z] (UTC)",
        "--since");
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

base::Status ForEachAuditEntry(const std::filesystem::path& directory, int64_t since_ms,
                               const std::function<void(AuditRecord&&)>& visit) {
  auto db = OpenAuditDatabaseToRead(directory);
  if (!db.ok()) return db.error();
  sqlite3_stmt* statement = nullptr;
  // The time column only narrows the scan; the time reported is the one in the entry's bytes.
  int rc =
      sqlite3_prepare_v2(*db, "SELECT canonical FROM audit_entry WHERE time_ms >= ?1 ORDER BY seq",
                         -1, &statement, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(statement, 1, since_ms);
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
      std::string_view canonical(static_cast<const char*>(sqlite3_column_blob(statement, 0)),
                                 static_cast<size_t>(sqlite3_column_bytes(statement, 0)));
      auto record = ParseCanonical(canonical);
      if (record.ok() && record->time_ms >= since_ms) visit(std::move(record).value());
    }
  }
  std::string error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(*db);
  sqlite3_finalize(statement);
  sqlite3_close_v2(*db);
  if (!error.empty()) {
    return base::MakeError(base::ErrorCode::kUnavailable, "cannot read the audit log: " + error);
  }
  return base::Status::Ok();
}

base::Result<std::vector<AuditRecord>> ReadAuditEntries(const std::filesystem::path& directory,
                                                        int64_t since_ms) {
  std::vector<AuditRecord> out;
  auto read = ForEachAuditEntry(directory, since_ms,
                                [&](AuditRecord&& entry) { out.push_back(std::move(entry)); });
  if (!read.ok()) return read.error();
  return out;
}

void MonthlyAccessCounter::Add(const AuditRecord& entry) {
  const std::string month = UtcTimeText(entry.time_ms).substr(0, 7);
  const auto key = std::make_pair(month, entry.organisation);
  MonthlyAccess& row = rows_[key];
  row.month = month;
  row.organisation = entry.organisation;
  const bool refused = entry.outcome == "refused";
  // Only what succeeded counts: a break-glass refused for its reason (a 400, outcome "failed")
  // opened nothing, and a 404 on a Patient/ID path returned nothing.
  const bool succeeded = entry.outcome == "success";
  if (refused) ++row.refused;
  if (entry.action == "break-glass" && succeeded) ++row.break_glass;
  if (entry.action == "declare-relationship" && succeeded) ++row.declarations;
  const bool access =
      succeeded && (entry.items > 0 || !entry.patients.empty() || !entry.resources.empty());
  if (access && entry.action.rfind("sign-in", 0) != 0) {
    ++row.accesses;
    if (entry.purpose == "BTG") ++row.btg_accesses;
    users_[key].insert(entry.principal);
  }
}

std::vector<MonthlyAccess> MonthlyAccessCounter::Rows() const {
  std::vector<MonthlyAccess> out;
  for (const auto& [key, row] : rows_) {
    out.push_back(row);
    auto users = users_.find(key);
    out.back().distinct_users =
        users == users_.end() ? 0 : static_cast<int64_t>(users->second.size());
  }
  return out;
}

std::vector<MonthlyAccess> MonthlyAccessReport(const std::vector<AuditRecord>& entries) {
  MonthlyAccessCounter counter;
  for (const AuditRecord& entry : entries) counter.Add(entry);
  return counter.Rows();
}

namespace {

// Columns padded to their widest cell; cells are shown as JSON strings when they hold anything
// a terminal would act on, so a report cannot be forged by a field's content either.
std::string Table(const std::vector<std::vector<std::string>>& cells) {
  std::vector<size_t> widths;
  for (const auto& row : cells) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::ostringstream out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
  return out.str();
}

using base::EscapeBidi;
using base::TerminalCell;

std::string Joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& value : values) out += (out.empty() ? "" : ",") + value;
  return out;
}

}  // namespace

std::string FormatMonthlyAccess(const std::vector<MonthlyAccess>& rows, ReportFormat format) {
  if (format == ReportFormat::kJson) {
    std::string out;
    for (const MonthlyAccess& row : rows) {
      out += EscapeBidi(json::serialize(json::object{{"month", row.month},
                                                     {"organisation", row.organisation},
                                                     {"accesses", row.accesses},
                                                     {"distinct_users", row.distinct_users},
                                                     {"break_glass", row.break_glass},
                                                     {"btg_accesses", row.btg_accesses},
                                                     {"declarations", row.declarations},
                                                     {"refused", row.refused}})) +
             "\n";
    }
    return out;
  }
  std::vector<std::vector<std::string>> cells{{"MONTH", "ORGANISATION", "ACCESSES", "USERS",
                                               "BREAK-GLASS", "BTG-ACCESSES", "DECLARATIONS",
                                               "REFUSED"}};
  for (const MonthlyAccess& row : rows) {
    cells.push_back({row.month, TerminalCell(row.organisation), std::to_string(row.accesses),
                     std::to_string(row.distinct_users), std::to_string(row.break_glass),
                     std::to_string(row.btg_accesses), std::to_string(row.declarations),
                     std::to_string(row.refused)});
  }
  return Table(cells);
}

std::string FormatEvents(const std::vector<AuditRecord>& entries, std::string_view action,
                         ReportFormat format) {
  std::string out;
  std::vector<std::vector<std::string>> cells{
      {"TIME", "USER", "ORGANISATION", "ROLE", "PATIENTS", "OUTCOME", "REASON"}};
  for (const AuditRecord& entry : entries) {
    if (entry.action != action) continue;
    const std::string who = entry.user.empty() ? entry.principal : entry.user;
    if (format == ReportFormat::kJson) {
      json::array patients;
      for (const auto& patient : entry.patients) patients.emplace_back(patient);
      out += EscapeBidi(json::serialize(json::object{{"time", UtcTimeText(entry.time_ms)},
                                                     {"user", who},
                                                     {"organisation", entry.organisation},
                                                     {"role", entry.role},
                                                     {"patients", std::move(patients)},
                                                     {"outcome", entry.outcome},
                                                     {"reason", entry.reason}})) +
             "\n";
    } else {
      cells.push_back({UtcTimeText(entry.time_ms), TerminalCell(who),
                       TerminalCell(entry.organisation), TerminalCell(entry.role),
                       TerminalCell(Joined(entry.patients)), TerminalCell(entry.outcome),
                       TerminalCell(entry.reason)});
    }
  }
  return format == ReportFormat::kJson ? out : Table(cells);
}

}  // namespace carerecord::audit
