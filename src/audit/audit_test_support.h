// For the audit tests: a temporary data folder, a log filled with entries, and direct SQL on
// audit.db as an administrator with the sqlite3 tool would do it (triggers dropped first).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "audit/audit_log.h"
#include "audit/audit_verify.h"

namespace carerecord::audit::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("carerecord-audit-" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline AuditRecord SampleRecord(int n) {
  AuditRecord record;
  record.time_ms = 1765000000000 + n * 1000;
  record.principal = "user:user" + std::to_string(n % 3);
  record.user = "user" + std::to_string(n % 3);
  record.organisation = n % 2 ? "A81001" : "B82002";
  record.role = "clinician";
  record.patients = {"p" + std::to_string(n)};
  record.action = "read";
  record.resources = {"Patient/p" + std::to_string(n)};
  record.items = 1;
  record.outcome = "success";
  record.status = 200;
  record.method = "GET";
  record.path = "/fhir/Patient/p" + std::to_string(n);
  record.address = "127.0.0.1";
  return record;
}

// Appends until the log's database (opened with a small max_page_count) is full: large entries,
// then sample ones, then empty ones, so that afterwards no entry fits. Returns the last seq.
inline int64_t FillAuditLog(AuditLog& log) {
  int64_t last = 0;
  AuditRecord large = SampleRecord(1);
  large.detail = std::string(3000, 'x');
  for (const AuditRecord& filler : {large, SampleRecord(1), AuditRecord{}}) {
    for (int i = 0; i < 100000; ++i) {
      auto appended = log.Append(filler);
      if (!appended.ok()) break;
      last = *appended;
    }
  }
  return last;
}

// A closed log of `count` sample entries (its last checkpoint signs entry `count`).
inline void WriteSampleLog(const std::filesystem::path& dir, int count, int first = 1) {
  AuditLogOptions options;
  options.directory = dir;
  options.durable = false;
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.error().message;
  for (int i = first; i < first + count; ++i) {
    auto appended = (*log)->Append(SampleRecord(i));
    ASSERT_TRUE(appended.ok()) << appended.error().message;
  }
  (*log)->Close();
}

inline void Sql(const std::filesystem::path& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / kAuditDatabaseFile).c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const std::string all =
      "DROP TRIGGER IF EXISTS audit_entry_no_update;"
      "DROP TRIGGER IF EXISTS audit_entry_no_delete;" +
      sql;
  EXPECT_EQ(sqlite3_exec(db, all.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

inline VerifyReport Verify(const std::filesystem::path& dir) {
  VerifyOptions options;
  options.directory = dir;
  auto report = VerifyAuditLog(options);
  EXPECT_TRUE(report.ok()) << report.error().message;
  return report.ok() ? report.value() : VerifyReport{};
}

}  // namespace carerecord::audit::testing
