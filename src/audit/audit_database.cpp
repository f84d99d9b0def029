#include "audit/audit_database.h"

#include <sqlite3.h>

#include "audit/audit_log.h"

namespace carerecord::audit {

base::Result<sqlite3*> OpenAuditDatabaseToRead(const std::filesystem::path& directory) {
  const std::filesystem::path path = directory / kAuditDatabaseFile;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return base::MakeError(base::ErrorCode::kNotFound, "there is no audit log at " + path.string());
  }
  sqlite3* db = nullptr;
  // Read-write without create: a reader of a WAL database needs its -shm, which it may have to
  // make when no server runs. Nothing here writes.
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string message = "cannot open " + path.string() + ": " + sqlite3_errmsg(db);
    sqlite3_close_v2(db);
    return base::MakeError(base::ErrorCode::kUnavailable, std::move(message));
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

}  // namespace carerecord::audit
