// `audit verify`'s second part: the search index against the log (audit_verify.h).

#include <sqlite3.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "audit/audit_database.h"
#include "audit/audit_event.h"
#include "audit/audit_indexer.h"
#include "audit/audit_search.h"
#include "audit/audit_verify.h"

namespace carerecord::audit {

namespace fs = std::filesystem;
using base::ErrorCode;
using base::MakeError;

namespace {

// One statement over one connection, in one read transaction.
class Snapshot {
 public:
  ~Snapshot() {
    sqlite3_finalize(statement_);
    if (db_) {
      sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close_v2(db_);
    }
  }
  base::Status Open(sqlite3* db, const char* sql, int64_t bound) {
    db_ = db;
    if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, sql, -1, &statement_, nullptr) != SQLITE_OK) {
      return Failed();
    }
    sqlite3_bind_int64(statement_, 1, bound);
    return base::Status::Ok();
  }
  // False at the end or on an error (failed() then says so).
  bool Next() {
    const int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    failed_ = rc != SQLITE_DONE;
    return false;
  }
  bool failed() const { return failed_; }
  base::Error Failed() const {
    return MakeError(
        ErrorCode::kUnavailable,
        std::string("cannot read the audit search index or log: ") + sqlite3_errmsg(db_));
  }
  sqlite3_stmt* row() const { return statement_; }
  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* statement_ = nullptr;
  bool failed_ = false;
};

using Row = std::pair<std::string, int64_t>;  // key, time_ms

// A tags row is a Row whose key is its tags (they begin with kTagEnd, no key row's key does).
std::string Describe(const Row& row) {
  if (row.first.starts_with(kTagEnd)) {
    std::string tags = row.first.substr(1);
    if (!tags.empty()) tags.pop_back();
    std::replace(tags.begin(), tags.end(), kTagEnd, ' ');
    return "tags row '" + tags + "' at time_ms " + std::to_string(row.second);
  }
  return "'" + row.first + "' at time_ms " + std::to_string(row.second);
}

}  // namespace

std::string IndexVerifyReport::Summary() const {
  if (!present) return "index absent: it is built from the log at the next start";
  if (other_format) {
    return "index " + why + ": it is rebuilt from the log at the next start (searches read the " +
           "log directly until then)";
  }
  if (ok) {
    return "index ok: " + std::to_string(indexed) + " entries, " + std::to_string(rows) + " rows";
  }
  return "index: first entry whose rows differ: " + std::to_string(first_bad_seq) + " (" + why +
         "); the index is derived from the log and can be rebuilt: stop the server, remove " +
         std::string(kAuditSearchDatabaseFile) + " (and its -wal and -shm files) from the data " +
         "folder and start it again";
}

base::Result<IndexVerifyReport> VerifyAuditSearchIndex(const fs::path& directory) {
  IndexVerifyReport report;
  const fs::path path = directory / kAuditSearchDatabaseFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return report;
  report.present = true;
  sqlite3* index_db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &index_db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string why = index_db ? sqlite3_errmsg(index_db) : "out of memory";
    sqlite3_close_v2(index_db);
    return MakeError(ErrorCode::kUnavailable, "cannot open " + path.string() + ": " + why);
  }
  sqlite3_busy_timeout(index_db, 5000);
  Snapshot index;
  // The format first: an index of another format is not read by searches and is rebuilt at the
  // next start, and its rows are not this build's to compare.
  {
    int64_t format = 1;  // no column, or NULL: format 1
    sqlite3_stmt* state = nullptr;
    if (sqlite3_prepare_v2(index_db, "SELECT format FROM audit_search_state WHERE id = 1", -1,
                           &state, nullptr) == SQLITE_OK) {
      if (sqlite3_step(state) == SQLITE_ROW && sqlite3_column_type(state, 0) != SQLITE_NULL) {
        format = sqlite3_column_int64(state, 0);
      }
    }
    sqlite3_finalize(state);
    if (format != kAuditSearchFormat) {
      sqlite3_close_v2(index_db);
      report.other_format = true;
      report.why = "of format " + std::to_string(format) + " (this build's is " +
                   std::to_string(kAuditSearchFormat) + ")";
      return report;  // not ok: not this build's index, and not a damaged one either
    }
  }
  // The state first, in the index's snapshot: its rows are those of entries 1..indexed_seq. Key
  // rows and tags rows (one per entry, its tags standing for the key) in one sequence.
  if (auto s = index.Open(index_db,
                          "SELECT seq, key, time_ms FROM audit_search UNION ALL "
                          "SELECT seq, tags, time_ms FROM audit_search_entry ORDER BY 1, 2, 3",
                          0);
      !s.ok()) {
    return s.error();
  }
  {
    sqlite3_stmt* state = nullptr;
    if (sqlite3_prepare_v2(index_db, "SELECT indexed_seq FROM audit_search_state WHERE id = 1", -1,
                           &state, nullptr) != SQLITE_OK) {
      return index.Failed();
    }
    if (sqlite3_step(state) == SQLITE_ROW) report.indexed = sqlite3_column_int64(state, 0);
    sqlite3_finalize(state);
  }
  auto log_db = OpenAuditDatabaseToRead(directory);
  if (!log_db.ok()) return log_db.error();
  Snapshot log;
  if (auto s =
          log.Open(*log_db, "SELECT seq, canonical FROM audit_entry WHERE seq <= ?1 ORDER BY seq",
                   report.indexed);
      !s.ok()) {
    return s.error();
  }
  auto fail = [&](int64_t seq, std::string why) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.why = std::move(why);
    return report;
  };
  // The index's rows, one entry's at a time, merged with the entries in seq order.
  bool index_more = index.Next();
  std::vector<Row> stored, expected;
  int64_t last_seq = 0;
  while (log.Next()) {
    const int64_t seq = sqlite3_column_int64(log.row(), 0);
    // Rows of an entry the log does not have (a gap in it: `audit verify` names that first).
    if (index_more && sqlite3_column_int64(index.row(), 0) < seq) {
      const int64_t orphan = sqlite3_column_int64(index.row(), 0);
      return fail(orphan, "the index has rows for entry " + std::to_string(orphan) +
                              ", which the log does not hold");
    }
    stored.clear();
    while (index_more && sqlite3_column_int64(index.row(), 0) == seq) {
      stored.emplace_back(
          std::string(reinterpret_cast<const char*>(sqlite3_column_text(index.row(), 1)),
                      static_cast<size_t>(sqlite3_column_bytes(index.row(), 1))),
          sqlite3_column_int64(index.row(), 2));
      ++report.rows;
      index_more = index.Next();
    }
    const std::string_view canonical(static_cast<const char*>(sqlite3_column_blob(log.row(), 1)),
                                     static_cast<size_t>(sqlite3_column_bytes(log.row(), 1)));
    expected.clear();
    // As the indexer does: an entry that does not parse has no rows.
    if (auto record = ParseCanonical(canonical); record.ok()) {
      std::vector<std::string> keys = SearchKeysOf(record.value());
      expected.emplace_back(TagsOf(keys), record->time_ms);
      for (std::string& key : keys) {
        if (IsKeyRow(key)) expected.emplace_back(std::move(key), record->time_ms);
      }
    }
    std::sort(expected.begin(), expected.end());
    expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
    std::sort(stored.begin(), stored.end());  // SQLite's order is bytewise too; to be sure
    if (stored != expected) {
      auto missing = std::find_if(expected.begin(), expected.end(), [&](const Row& row) {
        return !std::binary_search(stored.begin(), stored.end(), row);
      });
      auto extra = std::find_if(stored.begin(), stored.end(), [&](const Row& row) {
        return !std::binary_search(expected.begin(), expected.end(), row);
      });
      return fail(seq, missing != expected.end()
                           ? "its row " + Describe(*missing) +
                                 " is missing: searches by it do not find the entry"
                       : extra != stored.end()
                           ? "the index has a row " + Describe(*extra) + " that it does not give"
                           : "a row of it is there twice");
    }
    last_seq = seq;
  }
  if (log.failed()) return log.Failed();
  if (index.failed()) return index.Failed();
  if (index_more) {
    const int64_t beyond = sqlite3_column_int64(index.row(), 0);
    return fail(beyond, "the index has rows for entry " + std::to_string(beyond) +
                            (beyond > report.indexed ? ", beyond the last it says it indexed (" +
                                                           std::to_string(report.indexed) + ")"
                                                     : ", which the log does not hold"));
  }
  if (last_seq < report.indexed) {
    return fail(last_seq + 1, "the index says it holds entries up to " +
                                  std::to_string(report.indexed) + " but the log ends at " +
                                  std::to_string(last_seq));
  }
  report.ok = true;
  return report;
}

}  // namespace carerecord::audit
