#include "audit/audit_search.h"

#include <sqlite3.h>

#include <algorithm>

#include "audit/audit_database.h"
#include "audit/audit_event.h"

namespace carerecord::audit {

namespace {

base::Error Unreadable(sqlite3* db, const std::string& what) {
  return base::MakeError(base::ErrorCode::kUnavailable,
                         "the audit log cannot be read (" + what + ": " + sqlite3_errmsg(db) + ")");
}

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Whether `record` (as read from its canonical bytes) answers `query`: the side table chose it.
bool Matches(const AuditRecord& record, const AuditQuery& query) {
  if (record.time_ms < query.from_ms || record.time_ms >= query.to_ms) return false;
  const std::vector<std::string> keys = SearchKeysOf(record);  // sorted
  auto has = [&](const std::string& key) {
    return std::binary_search(keys.begin(), keys.end(), key);
  };
  for (const auto& group : query.all_of) {
    if (std::none_of(group.begin(), group.end(), has)) return false;
  }
  return std::none_of(query.none_of.begin(), query.none_of.end(), has);
}

std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ",?";
  return out;
}

}  // namespace

base::Status IndexAuditEntries(sqlite3* db) {
  int64_t indexed = 0;
  {
    Statement state(db, "SELECT indexed_seq FROM audit_search_state WHERE id = 1");
    if (!state.get()) return Unreadable(db, "index state");
    if (sqlite3_step(state.get()) == SQLITE_ROW) indexed = sqlite3_column_int64(state.get(), 0);
  }
  Statement entries(db, "SELECT seq, canonical FROM audit_entry WHERE seq > ?1 ORDER BY seq");
  Statement insert(db, kInsertSearchKey);
  Statement done(db, kSetIndexedSeq);
  if (!entries.get() || !insert.get() || !done.get()) return Unreadable(db, "index");
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Unreadable(db, "index");
  }
  sqlite3_bind_int64(entries.get(), 1, indexed);
  int64_t last = indexed;
  while (sqlite3_step(entries.get()) == SQLITE_ROW) {
    const int64_t seq = sqlite3_column_int64(entries.get(), 0);
    std::string_view canonical(static_cast<const char*>(sqlite3_column_blob(entries.get(), 1)),
                               static_cast<size_t>(sqlite3_column_bytes(entries.get(), 1)));
    auto record = ParseCanonical(canonical);
    if (!record.ok()) continue;  // `audit verify` names it; it is simply not found by search
    for (const std::string& key : SearchKeysOf(record.value())) {
      sqlite3_bind_text(insert.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert.get(), 2, record->time_ms);
      sqlite3_bind_int64(insert.get(), 3, seq);
      const int rc = sqlite3_step(insert.get());
      sqlite3_reset(insert.get());
      if (rc != SQLITE_DONE) {
        base::Error error = Unreadable(db, "index");
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return error;
      }
    }
    last = seq;
  }
  sqlite3_bind_int64(done.get(), 1, last);
  if (sqlite3_step(done.get()) != SQLITE_DONE ||
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    base::Error error = Unreadable(db, "index");
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return error;
  }
  return base::Status::Ok();
}

AuditSearch::~AuditSearch() {
  for (sqlite3* db : idle_) sqlite3_close_v2(db);
}

base::Result<sqlite3*> AuditSearch::Take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      sqlite3* db = idle_.back();
      idle_.pop_back();
      return db;
    }
  }
  return OpenAuditDatabaseToRead(directory_);
}

void AuditSearch::Give(sqlite3* db) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < 8) {
    idle_.push_back(db);
  } else {
    sqlite3_close_v2(db);
  }
}

base::Result<std::vector<AuditHit>> AuditSearch::Find(const AuditQuery& query) {
  auto taken = Take();
  if (!taken.ok()) return taken.error();
  sqlite3* db = taken.value();
  std::vector<AuditHit> hits;
  // Drive from the first group's rows of the side table (callers put the most selective first),
  // or from the entries' time index when there is none; the other groups are point lookups.
  std::string sql;
  std::vector<std::string> binds;
  const bool driven = !query.all_of.empty();
  const std::string t = driven ? "s" : "e";
  if (driven) {
    const auto& driver = query.all_of.front();
    sql = std::string("SELECT ") + (driver.size() > 1 ? "DISTINCT " : "") +
          "s.time_ms, s.seq FROM audit_search s WHERE s.key IN (" + Placeholders(driver.size()) +
          ")";
    binds.insert(binds.end(), driver.begin(), driver.end());
  } else {
    sql = "SELECT e.time_ms, e.seq FROM audit_entry e WHERE 1";
  }
  sql += " AND " + t + ".time_ms >= ?" + std::to_string(binds.size() + 1) + " AND " + t +
         ".time_ms < ?" + std::to_string(binds.size() + 2) + " AND " + t + ".time_ms <= ?" +
         std::to_string(binds.size() + 3) + " AND (" + t + ".time_ms < ?" +
         std::to_string(binds.size() + 3) + " OR " + t + ".seq < ?" +
         std::to_string(binds.size() + 4) + ")";
  const size_t numbers_at = binds.size() + 1;
  std::vector<std::string> tail_binds;
  auto lookup = [&](const std::vector<std::string>& keys) {
    std::string out = "SELECT 1 FROM audit_search x WHERE x.key IN (";
    for (size_t i = 0; i < keys.size(); ++i) {
      out += (i ? "," : "") + std::string("?") + std::to_string(numbers_at + 4 + tail_binds.size());
      tail_binds.push_back(keys[i]);
    }
    return out + ") AND x.time_ms = " + t + ".time_ms AND x.seq = " + t + ".seq";
  };
  for (size_t g = driven ? 1 : 0; g < query.all_of.size(); ++g) {
    sql += " AND EXISTS(" + lookup(query.all_of[g]) + ")";
  }
  if (!query.none_of.empty()) sql += " AND NOT EXISTS(" + lookup(query.none_of) + ")";
  sql += " ORDER BY " + t + ".time_ms DESC, " + t + ".seq DESC LIMIT ?" +
         std::to_string(numbers_at + 4 + tail_binds.size());
  Statement found(db, sql);
  Statement canonical(db, "SELECT canonical FROM audit_entry WHERE seq = ?1");
  if (!found.get() || !canonical.get()) {
    base::Error error = Unreadable(db, "search");
    Give(db);
    return error;
  }
  int index = 1;
  for (const std::string& key : binds) {
    sqlite3_bind_text(found.get(), index++, key.data(), static_cast<int>(key.size()),
                      SQLITE_TRANSIENT);
  }
  sqlite3_bind_int64(found.get(), index++, query.from_ms);
  sqlite3_bind_int64(found.get(), index++, query.to_ms);
  sqlite3_bind_int64(found.get(), index++, query.before_time_ms);
  sqlite3_bind_int64(found.get(), index++, query.before_seq);
  for (const std::string& key : tail_binds) {
    sqlite3_bind_text(found.get(), index++, key.data(), static_cast<int>(key.size()),
                      SQLITE_TRANSIENT);
  }
  sqlite3_bind_int64(found.get(), index++, query.count + 1);
  // One read transaction: the candidates and their bytes are of one state of the log.
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  int rc;
  while ((rc = sqlite3_step(found.get())) == SQLITE_ROW) {
    const int64_t seq = sqlite3_column_int64(found.get(), 1);
    sqlite3_bind_int64(canonical.get(), 1, seq);
    if (sqlite3_step(canonical.get()) == SQLITE_ROW) {
      std::string_view bytes(static_cast<const char*>(sqlite3_column_blob(canonical.get(), 0)),
                             static_cast<size_t>(sqlite3_column_bytes(canonical.get(), 0)));
      int64_t stored_seq = 0;
      auto record = ParseCanonical(bytes, &stored_seq);
      if (record.ok() && stored_seq == seq && Matches(record.value(), query)) {
        hits.push_back(AuditHit{seq, std::move(record).value()});
      }
    }
    sqlite3_reset(canonical.get());
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_DONE) {
    base::Error error = Unreadable(db, "search");
    Give(db);
    return error;
  }
  Give(db);
  return hits;
}

base::Result<std::optional<AuditHit>> AuditSearch::Read(int64_t seq) {
  auto taken = Take();
  if (!taken.ok()) return taken.error();
  sqlite3* db = taken.value();
  std::optional<AuditHit> hit;
  {
    Statement read(db, "SELECT canonical FROM audit_entry WHERE seq = ?1");
    if (!read.get()) {
      base::Error error = Unreadable(db, "read");
      Give(db);
      return error;
    }
    sqlite3_bind_int64(read.get(), 1, seq);
    if (sqlite3_step(read.get()) == SQLITE_ROW) {
      std::string_view bytes(static_cast<const char*>(sqlite3_column_blob(read.get(), 0)),
                             static_cast<size_t>(sqlite3_column_bytes(read.get(), 0)));
      int64_t stored_seq = 0;
      auto record = ParseCanonical(bytes, &stored_seq);
      if (record.ok() && stored_seq == seq) hit = AuditHit{seq, std::move(record).value()};
    }
  }
  Give(db);
  return hit;
}

}  // namespace carerecord::audit
