#include "audit/audit_search.h"

#include <sqlite3.h>

#include <algorithm>
#include <string>

#include "audit/audit_database.h"
#include "audit/audit_event.h"
#include "audit/audit_indexer.h"

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

bool IsKeyRow(std::string_view key) {
  // The values nearly every entry carries (a clinician's read or search that succeeded, about a
  // patient and the items returned): a key range of them would not narrow a search.
  for (std::string_view tag : {"s|read", "s|search", "s|search-type", "o|0", "e|1", "e|2"}) {
    if (key == tag) return false;
  }
  return true;
}

std::string TagsOf(const std::vector<std::string>& keys) {
  std::string tags(1, kTagEnd);
  for (const std::string& key : keys) {
    if (IsKeyRow(key)) continue;
    tags += key;
    tags += kTagEnd;
  }
  return tags;
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
  auto opened = OpenAuditDatabaseToRead(directory_);
  if (opened.ok()) AttachIndex(opened.value());
  return opened;
}

void AuditSearch::AttachIndex(sqlite3* db) const {
  const std::filesystem::path index = directory_ / kAuditSearchDatabaseFile;
  std::error_code ec;
  if (!std::filesystem::exists(index, ec)) return;  // none yet: every entry is read directly
  Statement attach(db, "ATTACH DATABASE ?1 AS ix");
  if (!attach.get()) return;
  const std::string name = index.string();
  sqlite3_bind_text(attach.get(), 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
  sqlite3_step(attach.get());
}

void AuditSearch::Give(sqlite3* db) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < 8) {
    idle_.push_back(db);
  } else {
    sqlite3_close_v2(db);
  }
}

namespace {

// How far the attached index has reached; 0 when there is none, it cannot be read or it is of
// another format (made by an older build: rebuilt at the next start, not read until then).
int64_t IndexedSeq(sqlite3* db) {
  Statement state(db, "SELECT indexed_seq FROM ix.audit_search_state WHERE id = 1 AND format = " +
                          std::to_string(kAuditSearchFormat));
  if (!state.get() || sqlite3_step(state.get()) != SQLITE_ROW) return 0;
  return sqlite3_column_int64(state.get(), 0);
}

bool NewerFirst(const AuditHit& a, const AuditHit& b) {
  return a.record.time_ms != b.record.time_ms ? a.record.time_ms > b.record.time_ms : a.seq > b.seq;
}

bool BeforeCursor(const AuditHit& hit, const AuditQuery& query) {
  return hit.record.time_ms < query.before_time_ms ||
         (hit.record.time_ms == query.before_time_ms && hit.seq < query.before_seq);
}

// Entry `seq` read from its canonical bytes, when it parses, is entry `seq` and answers `query`.
std::optional<AuditHit> Checked(sqlite3_stmt* row, int column, int64_t seq,
                                const AuditQuery& query) {
  std::string_view bytes(static_cast<const char*>(sqlite3_column_blob(row, column)),
                         static_cast<size_t>(sqlite3_column_bytes(row, column)));
  int64_t stored_seq = 0;
  auto record = ParseCanonical(bytes, &stored_seq);
  if (!record.ok() || stored_seq != seq || !Matches(record.value(), query)) return std::nullopt;
  AuditHit hit{seq, std::move(record).value()};
  if (!BeforeCursor(hit, query)) return std::nullopt;
  return hit;
}

}  // namespace

base::Result<std::vector<AuditHit>> AuditSearch::Find(const AuditQuery& query) {
  auto taken = Take();
  if (!taken.ok()) return taken.error();
  sqlite3* db = taken.value();
  // One read transaction over both files: the index's state, its rows and the entries are of
  // one moment (the index never runs ahead of the committed entries).
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  int64_t indexed = IndexedSeq(db);
  if (indexed == 0) {
    // A connection opened before the index existed: attach it now, for the next search.
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    AttachIndex(db);
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    indexed = IndexedSeq(db);
  }
  std::vector<AuditHit> hits;
  auto fail = [&](const char* what) {
    base::Error error = Unreadable(db, what);
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    Give(db);
    return error;
  };
  if (indexed > 0) {
    // The indexed entries: drive from the first group that is all key rows (callers put the
    // most selective first), or from the entries' time index when there is none; the other
    // groups' key rows are point lookups and their tags are looked up in the entry's tags row (a
    // group of both kinds: either). Parameters are bound in the order they appear.
    const std::vector<std::string>* driver = nullptr;
    for (const auto& group : query.all_of) {
      if (std::all_of(group.begin(), group.end(), IsKeyRow)) {
        driver = &group;
        break;
      }
    }
    const std::string t = driver ? "s" : "e";
    std::string sql;
    std::vector<std::string> keys;
    if (driver) {
      sql = std::string("SELECT ") + (driver->size() > 1 ? "DISTINCT " : "") +
            "s.time_ms, s.seq FROM ix.audit_search s WHERE s.key IN (" +
            Placeholders(driver->size()) + ")";
      keys.insert(keys.end(), driver->begin(), driver->end());
    } else {
      sql = "SELECT e.time_ms, e.seq FROM audit_entry e WHERE 1";
    }
    sql += " AND " + t + ".seq <= ? AND " + t + ".time_ms >= ? AND " + t + ".time_ms < ? AND " + t +
           ".time_ms <= ? AND (" + t + ".time_ms < ? OR " + t + ".seq < ?)";
    std::vector<std::string> lookup_keys;
    // Whether the entry has a key row of `group`'s key rows, or a tag of its tags.
    auto any_of = [&](const std::vector<std::string>& group) {
      std::vector<std::string> key_rows;
      std::string tags;
      for (const std::string& key : group) {
        if (IsKeyRow(key)) {
          key_rows.push_back(key);
        } else {
          tags += std::string(tags.empty() ? "" : " OR ") + "instr(n.tags, ?) > 0";
        }
      }
      std::string any;
      if (!key_rows.empty()) {
        lookup_keys.insert(lookup_keys.end(), key_rows.begin(), key_rows.end());
        any = "EXISTS(SELECT 1 FROM ix.audit_search x WHERE x.key IN (" +
              Placeholders(key_rows.size()) + ") AND x.time_ms = " + t +
              ".time_ms AND x.seq = " + t + ".seq)";
      }
      if (!tags.empty()) {
        for (const std::string& key : group) {
          if (!IsKeyRow(key)) lookup_keys.push_back(kTagEnd + key + kTagEnd);
        }
        any += std::string(any.empty() ? "" : " OR ") +
               "EXISTS(SELECT 1 FROM ix.audit_search_entry n WHERE n.seq = " + t + ".seq AND (" +
               tags + "))";
      }
      return "(" + any + ")";
    };
    for (const auto& group : query.all_of) {
      if (&group != driver && !group.empty()) sql += " AND " + any_of(group);
    }
    if (!query.none_of.empty()) sql += " AND NOT " + any_of(query.none_of);
    // No LIMIT: rows are read until count + 1 of them pass the re-check (a candidate the side
    // tables chose wrongly must not shorten the page).
    sql += " ORDER BY " + t + ".time_ms DESC, " + t + ".seq DESC";
    Statement found(db, sql);
    Statement canonical(db, "SELECT canonical FROM audit_entry WHERE seq = ?1");
    if (!found.get() || !canonical.get()) return fail("search");
    int index = 1;
    auto bind_text = [&](const std::string& text) {
      sqlite3_bind_text(found.get(), index++, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT);
    };
    for (const std::string& key : keys) bind_text(key);
    for (int64_t number : {indexed, query.from_ms, query.to_ms, query.before_time_ms,
                           query.before_time_ms, query.before_seq}) {
      sqlite3_bind_int64(found.get(), index++, number);
    }
    for (const std::string& key : lookup_keys) bind_text(key);
    int rc = SQLITE_DONE;
    while (static_cast<int64_t>(hits.size()) <= query.count &&
           (rc = sqlite3_step(found.get())) == SQLITE_ROW) {
      const int64_t seq = sqlite3_column_int64(found.get(), 1);
      sqlite3_bind_int64(canonical.get(), 1, seq);
      if (sqlite3_step(canonical.get()) == SQLITE_ROW) {
        if (auto hit = Checked(canonical.get(), 0, seq, query)) hits.push_back(std::move(*hit));
      }
      sqlite3_reset(canonical.get());
    }
    if (static_cast<int64_t>(hits.size()) <= query.count && rc != SQLITE_DONE) {
      return fail("search");
    }
  }
  {
    // The entries the index has not reached: read and matched one by one (a batch or so behind
    // the writer, unless the index is missing or cannot keep up).
    Statement tail(db, "SELECT seq, canonical FROM audit_entry WHERE seq > ?1 ORDER BY seq");
    if (!tail.get()) return fail("search");
    sqlite3_bind_int64(tail.get(), 1, indexed);
    int rc;
    while ((rc = sqlite3_step(tail.get())) == SQLITE_ROW) {
      const int64_t seq = sqlite3_column_int64(tail.get(), 0);
      if (auto hit = Checked(tail.get(), 1, seq, query)) hits.push_back(std::move(*hit));
    }
    if (rc != SQLITE_DONE) return fail("search");
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  Give(db);
  std::sort(hits.begin(), hits.end(), NewerFirst);
  if (static_cast<int64_t>(hits.size()) > query.count + 1) hits.resize(query.count + 1);
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
