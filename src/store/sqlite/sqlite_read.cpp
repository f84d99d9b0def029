// Reads on the SQLite store: a session holds one connection inside one read transaction (a
// WAL snapshot), and hands out nothing its ReadGate has not admitted.

#include <cstdio>
#include <unordered_map>
#include <variant>

#include "store/body_codec.h"
#include "store/sqlite/sqlite_search_budget.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {
namespace {

using base::ErrorCode;
using base::MakeError;

const char* MethodName(int64_t code) {
  switch (code) {
    case 1:
      return "PUT";
    case 2:
      return "DELETE";
    default:
      return "POST";
  }
}

// Loads rows of resource + version into StoredResource, caching patient ids by pk.
class RowLoader {
 public:
  RowLoader(SqliteConnection& db, const SqliteNames& names) : db_(db), names_(names) {}

  static constexpr const char* kColumns =
      "r.type_id, r.id, v.version, v.last_updated, v.method, v.body, r.patient_pk, r.pk";

  base::Result<StoredResource> Load(SqliteStatement& stmt) {
    StoredResource out;
    out.type = names_.types.NameOf(stmt.Int(0));
    out.id = std::string(stmt.Text(1));
    out.version = stmt.Int(2);
    out.last_updated_ms = stmt.Int(3);
    int64_t method = stmt.Int(4);
    out.method = MethodName(method);
    out.deleted = stmt.IsNull(5);
    if (!out.deleted) {
      auto json = names_.codec->Decode(stmt.Blob(5));
      if (!json.ok()) return json.error();
      out.json = std::move(json).value();
    }
    auto patient = PatientId(stmt.Int(6));
    if (!patient.ok()) return patient.error();
    out.patient_id = std::move(patient).value();
    return out;
  }

  base::Result<std::string> PatientId(int64_t pk) {
    if (pk == 0) return std::string();
    auto it = patient_ids_.find(pk);
    if (it != patient_ids_.end()) return it->second;
    auto stmt = db_.Cached("SELECT id FROM resource WHERE pk = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, pk);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    std::string id = row.value() ? std::string((*stmt)->Text(0)) : std::string();
    (*stmt)->Reset();
    patient_ids_.emplace(pk, id);
    return id;
  }

  // The current versions of `pks`, in that order, skipping deleted ones.
  base::Result<std::vector<StoredResource>> Current(const std::vector<int64_t>& pks) {
    std::vector<StoredResource> out;
    auto stmt = db_.Cached(std::string("SELECT ") + kColumns +
                           " FROM resource r JOIN version v ON v.vid = r.vid "
                           "WHERE r.pk = ? AND r.deleted = 0");
    if (!stmt.ok()) return stmt.error();
    for (int64_t pk : pks) {
      (*stmt)->Bind(1, pk);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (row.value()) {
        auto loaded = Load(**stmt);
        if (!loaded.ok()) return loaded.error();
        out.push_back(std::move(loaded).value());
      }
      (*stmt)->Reset();
    }
    return out;
  }

 private:
  SqliteConnection& db_;
  const SqliteNames& names_;
  std::unordered_map<int64_t, std::string> patient_ids_;
};

class SqliteReadSession final : public ReadSession {
 public:
  SqliteReadSession(std::unique_ptr<SqliteConnection> db, const SqliteNames& names, ReadGate& gate,
                    std::function<void(std::unique_ptr<SqliteConnection>)> release)
      : db_(std::move(db)),
        names_(names),
        gate_(gate),
        release_(std::move(release)),
        loader_(*db_, names) {}
  ~SqliteReadSession() override {
    if (began_) (void)db_->Exec("COMMIT");
    release_(std::move(db_));
  }

  base::Result<StoredResource> Read(std::string_view type, std::string_view id) override;
  base::Result<StoredResource> ReadVersion(std::string_view type, std::string_view id,
                                           int64_t version) override;
  base::Result<SearchPage> Search(const SearchSpec& spec) override;
  base::Result<HistoryPage> History(const HistoryQuery& query) override;
  base::Result<SearchPage> Everything(const EverythingQuery& query) override;

 private:
  base::Result<SearchPage> BudgetedSearch(const SearchSpec& spec, SearchRun& run);
  base::Result<std::optional<int64_t>> CountHistory(
      const HistoryQuery& query, const std::string& sql_from_where,
      const std::function<void(SqliteStatement&)>& bind);
  // Reads of one resource are single statements; anything that runs several statements (a
  // search and its includes, a page of history) opens the snapshot first so they all agree.
  void Snapshot() {
    if (!began_) began_ = db_->Exec("BEGIN").ok();
  }
  bool Admit(const StoredResource& r) { return gate_.Admit(ItemFacts{r.type, r.id, r.patient_id}); }
  std::vector<StoredResource> Admitted(std::vector<StoredResource> items) {
    std::vector<StoredResource> out;
    out.reserve(items.size());
    for (auto& item : items) {
      if (Admit(item)) out.push_back(std::move(item));
    }
    return out;
  }

  std::unique_ptr<SqliteConnection> db_;
  const SqliteNames& names_;
  ReadGate& gate_;
  std::function<void(std::unique_ptr<SqliteConnection>)> release_;
  RowLoader loader_;
  bool began_ = false;
};

base::Result<StoredResource> SqliteReadSession::Read(std::string_view type, std::string_view id) {
  int64_t type_id = names_.types.Find(type);
  std::string where = std::string(type) + "/" + std::string(id);
  auto not_found = MakeError(ErrorCode::kNotFound, where + " is not known", where);
  if (!type_id) return not_found;
  auto stmt = db_->Cached(std::string("SELECT ") + RowLoader::kColumns +
                          " FROM resource r JOIN version v ON v.vid = r.vid "
                          "WHERE r.type_id = ? AND r.id = ?");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, type_id).Bind(2, id);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!row.value()) return not_found;
  auto loaded = loader_.Load(**stmt);
  (*stmt)->Reset();
  if (!loaded.ok()) return loaded.error();
  if (loaded->version == 0) return not_found;  // allocated by a transaction, never written
  if (!Admit(*loaded)) return not_found;
  if (loaded->deleted) {
    return MakeError(ErrorCode::kGone,
                     where + " was deleted (version " + std::to_string(loaded->version) + ")",
                     where);
  }
  return loaded;
}

base::Result<StoredResource> SqliteReadSession::ReadVersion(std::string_view type,
                                                            std::string_view id, int64_t version) {
  int64_t type_id = names_.types.Find(type);
  std::string where =
      std::string(type) + "/" + std::string(id) + "/_history/" + std::to_string(version);
  auto not_found = MakeError(ErrorCode::kNotFound, where + " is not known", where);
  if (!type_id) return not_found;
  auto stmt = db_->Cached(std::string("SELECT ") + RowLoader::kColumns +
                          " FROM resource r JOIN version v ON v.pk = r.pk "
                          "WHERE r.type_id = ? AND r.id = ? AND v.version = ?");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, type_id).Bind(2, id).Bind(3, version);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!row.value()) return not_found;
  auto loaded = loader_.Load(**stmt);
  (*stmt)->Reset();
  if (!loaded.ok()) return loaded.error();
  if (!Admit(*loaded)) return not_found;
  if (loaded->deleted) {
    return MakeError(ErrorCode::kGone, where + " is a deletion", where);
  }
  return loaded;
}

base::Result<SearchPage> SqliteReadSession::Search(const SearchSpec& spec) {
  Snapshot();
  SearchRun run(*db_, spec.budget);
  return run.Explain(BudgetedSearch(spec, run));
}

base::Result<SearchPage> SqliteReadSession::BudgetedSearch(const SearchSpec& spec, SearchRun& run) {
  auto pks = SearchPks(*db_, names_, spec, run);
  if (!pks.ok()) return pks.error();
  SearchPage page;
  page.total = pks->total;
  page.next_cursor = pks->next_cursor;
  if (spec.count_only) return page;
  auto matches = loader_.Current(pks->pks);
  if (!matches.ok()) return matches.error();
  page.matches = Admitted(std::move(matches).value());
  if (!spec.includes.empty() && !pks->pks.empty()) {
    auto included = IncludePks(*db_, names_, spec, pks->pks, run);
    if (!included.ok()) return included.error();
    auto loaded = loader_.Current(included.value());
    if (!loaded.ok()) return loaded.error();
    page.included = Admitted(std::move(loaded).value());
  }
  page.previous_cursor = pks->previous_cursor;
  return page;
}

base::Result<HistoryPage> SqliteReadSession::History(const HistoryQuery& query) {
  Snapshot();
  std::string where = " WHERE 1";
  std::vector<std::variant<int64_t, std::string>> binds;
  if (!query.type.empty()) {
    int64_t type_id = names_.types.Find(query.type);
    if (!type_id) return MakeError(ErrorCode::kNotFound, "unknown resource type " + query.type);
    where += " AND r.type_id = ?";
    binds.emplace_back(type_id);
    if (!query.id.empty()) {
      where += " AND r.id = ?";
      binds.emplace_back(query.id);
    }
  }
  if (query.since_ms) {
    where += " AND v.last_updated >= ?";
    binds.emplace_back(*query.since_ms);
  }
  auto bind_all = [&](SqliteStatement& stmt) {
    for (size_t i = 0; i < binds.size(); ++i) {
      if (auto* n = std::get_if<int64_t>(&binds[i])) {
        stmt.Bind(static_cast<int>(i) + 1, *n);
      } else {
        stmt.Bind(static_cast<int>(i) + 1, std::string_view(std::get<std::string>(binds[i])));
      }
    }
  };
  HistoryPage page;
  const std::string from = " FROM version v JOIN resource r ON r.pk = v.pk";
  if (!query.id.empty()) {
    // An instance that never existed is a 404, not an empty history.
    auto exists =
        db_->Prepare("SELECT 1 FROM resource WHERE type_id = ? AND id = ? AND version > 0");
    if (!exists.ok()) return exists.error();
    exists->Bind(1, std::get<int64_t>(binds[0])).Bind(2, std::string_view(query.id));
    auto row = exists->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) {
      std::string what = query.type + "/" + query.id;
      return MakeError(ErrorCode::kNotFound, what + " is not known", what);
    }
  }
  SearchRun run(*db_, SearchBudget{});  // counting and paging are bounded in work like a search
  auto total = CountHistory(query, from + where, bind_all);
  if (!total.ok()) return run.Explain(total.error());
  page.total = *total;
  std::string paged = where;
  int64_t before = 0;
  if (!query.cursor.empty()) {
    try {
      before = std::stoll(query.cursor.substr(1));
    } catch (...) {
      before = -1;
    }
    if (query.cursor[0] != 'h' || before <= 0) {
      return base::Invalid("the paging cursor is not one this server made", "_cursor");
    }
    paged += " AND v.vid < " + std::to_string(before);
  }
  auto stmt = db_->Prepare(std::string("SELECT ") + RowLoader::kColumns + ", v.vid" + from + paged +
                           " ORDER BY v.vid DESC LIMIT " + std::to_string(query.count + 1));
  if (!stmt.ok()) return stmt.error();
  bind_all(*stmt);
  int64_t last_vid = 0;
  size_t rows = 0;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return run.Explain(row.error());
    if (!row.value()) break;
    if (++rows > query.count) {
      page.next_cursor = "h" + std::to_string(last_vid);
      break;
    }
    last_vid = stmt->Int(8);
    auto loaded = loader_.Load(*stmt);
    if (!loaded.ok()) return loaded.error();
    if (Admit(*loaded)) page.versions.push_back(std::move(loaded).value());
  }
  return page;
}

// A history's total: every version when asked (_total=accurate); otherwise on the first page
// only, and only when there are fewer than kMaxHistoryCounted, so paging a long history never
// counts it again and again.
base::Result<std::optional<int64_t>> SqliteReadSession::CountHistory(
    const HistoryQuery& query, const std::string& sql_from_where,
    const std::function<void(SqliteStatement&)>& bind) {
  if (!query.total && !query.cursor.empty()) return std::optional<int64_t>();
  std::string sql = "SELECT count(*) FROM (SELECT 1" + sql_from_where;
  if (!query.total) sql += " LIMIT " + std::to_string(kMaxHistoryCounted);
  auto stmt = db_->Prepare(sql + ")");
  if (!stmt.ok()) return stmt.error();
  bind(*stmt);
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  const int64_t counted = stmt->Int(0);
  if (!query.total && counted >= kMaxHistoryCounted) return std::optional<int64_t>();
  return std::optional<int64_t>(counted);
}

base::Result<SearchPage> SqliteReadSession::Everything(const EverythingQuery& query) {
  Snapshot();
  std::string where = "Patient/" + query.patient_id;
  auto patient_pk = FindPk(*db_, names_, "Patient", query.patient_id);
  if (!patient_pk.ok()) return patient_pk.error();
  if (!patient_pk.value()) {
    return MakeError(ErrorCode::kNotFound, where + " is not known", where);
  }
  // One statement walks the compartment range and brings each body with it.
  std::string sql = std::string("SELECT ") + RowLoader::kColumns +
                    ", c.type_id FROM compartment c JOIN resource r ON r.pk = c.pk "
                    "JOIN version v ON v.vid = r.vid WHERE c.patient_pk = ? AND r.deleted = 0";
  if (!query.types.empty()) {
    std::string list;
    for (const std::string& type : query.types) {
      int64_t type_id = names_.types.Find(type);
      if (!type_id) return base::Invalid("unknown resource type " + type, "_type");
      list += (list.empty() ? "" : ",") + std::to_string(type_id);
    }
    sql += " AND c.type_id IN (" + list + ")";
  }
  if (query.since_ms) sql += " AND r.last_updated >= " + std::to_string(*query.since_ms);
  if (!query.cursor.empty()) {
    int64_t type_id = 0, pk = 0;
    if (query.cursor[0] != 'e' ||
        std::sscanf(query.cursor.c_str() + 1, "%ld.%ld", &type_id, &pk) != 2) {
      return base::Invalid("the paging cursor is not one this server made", "_cursor");
    }
    sql += " AND (c.type_id > " + std::to_string(type_id) +
           " OR (c.type_id = " + std::to_string(type_id) + " AND c.pk > " + std::to_string(pk) +
           "))";
  }
  sql += " ORDER BY c.type_id, c.pk LIMIT " + std::to_string(query.count + 1);
  auto stmt = db_->Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, patient_pk.value());
  size_t rows = 0;
  std::pair<int64_t, int64_t> last{0, 0};
  SearchPage page;
  page.matches.reserve(std::min<size_t>(query.count, 4096));
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    if (rows++ == query.count) {
      page.next_cursor = "e" + std::to_string(last.first) + "." + std::to_string(last.second);
      break;
    }
    last = {stmt->Int(8), stmt->Int(7)};
    auto loaded = loader_.Load(*stmt);
    if (!loaded.ok()) return loaded.error();
    if (Admit(*loaded)) page.matches.push_back(std::move(loaded).value());
  }
  return page;
}

// Reads for the write path over a caller's connection (the writer's, inside its transaction).
class SqliteTransactionReader final : public TransactionReader {
 public:
  SqliteTransactionReader(SqliteConnection& db, const SqliteNames& names)
      : db_(db), names_(names) {}

  base::Result<CurrentVersion> Current(std::string_view type, std::string_view id) override {
    CurrentVersion out;
    int64_t type_id = names_.types.Find(type);
    if (!type_id) return out;
    auto stmt = db_.Cached(
        "SELECT r.version, r.deleted, v.body FROM resource r JOIN version v ON v.vid = r.vid "
        "WHERE r.type_id = ? AND r.id = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, type_id).Bind(2, id);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (row.value()) {
      out.version = (*stmt)->Int(0);
      out.deleted = (*stmt)->Int(1) != 0;
      if (!out.deleted) {
        auto json = names_.codec->Decode((*stmt)->Blob(2));
        if (!json.ok()) {
          (*stmt)->Reset();
          return json.error();
        }
        out.json = std::move(json).value();
      }
    }
    (*stmt)->Reset();
    return out;
  }

  // The bounded matching step every inner search uses (MatchPks), within the spec's budget.
  base::Result<std::vector<std::string>> MatchIds(const SearchSpec& spec, size_t limit) override {
    SearchRun run(db_, spec.budget);
    auto pks = MatchPks(db_, names_, spec, limit, run);
    if (!pks.ok()) return run.Explain(pks.error());
    std::vector<std::string> ids;
    auto stmt = db_.Cached("SELECT id FROM resource WHERE pk = ?");
    if (!stmt.ok()) return stmt.error();
    for (int64_t pk : *pks) {
      (*stmt)->Bind(1, pk);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (row.value()) ids.emplace_back((*stmt)->Text(0));
      (*stmt)->Reset();
    }
    return ids;
  }

 private:
  SqliteConnection& db_;
  const SqliteNames& names_;
};

}  // namespace

std::unique_ptr<ReadSession> MakeSqliteReadSession(
    std::unique_ptr<SqliteConnection> db, const SqliteNames& names, ReadGate& gate,
    std::function<void(std::unique_ptr<SqliteConnection>)> release) {
  return std::make_unique<SqliteReadSession>(std::move(db), names, gate, std::move(release));
}

std::unique_ptr<TransactionReader> MakeSqliteTransactionReader(SqliteConnection& db,
                                                               const SqliteNames& names) {
  return std::make_unique<SqliteTransactionReader>(db, names);
}

}  // namespace carerecord::store
