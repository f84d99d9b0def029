// Reads on the SQLite store: a session holds one connection inside one read transaction (a
// WAL snapshot), and hands out nothing its ReadGate has not admitted. Reads by id, search and
// history here; $everything in sqlite_everything.cpp.

#include "store/sqlite/sqlite_read_session.h"

namespace carerecord::store {
namespace read_internal {

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
  auto stmt = db_->Cached(std::string("SELECT ") + RowLoader::kVersionColumns +
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
  if (!gate_.AdmitsEverything()) {
    run.FilterInnerMatches([this](int64_t pk) { return PermitsPk(pk); });
  }
  return run.Explain(BudgetedSearch(spec, run));
}

base::Result<SearchPage> SqliteReadSession::BudgetedSearch(const SearchSpec& spec, SearchRun& run) {
  // A total counts only what the gate permits: the indexes' count would count withheld matches
  // (a store that never held them would say less), so unless the gate admits everything the
  // matches are counted one by one.
  const bool counted = spec.total == TotalMode::kAccurate || spec.count_only;
  const bool gated = !gate_.AdmitsEverything();
  const bool gated_count = counted && gated;
  // A gated page reads on past withheld matches and takes its cursors from the matches it
  // returns (PageGate), so its matches, total and links are those of a store that never held
  // the withheld ones; a type the gate admits none of is not read at all.
  PageGate page_gate;
  if (gated) {
    page_gate.none = gate_.AdmitsNoneOf(spec.type);
    page_gate.permits = [this](int64_t pk) { return PermitsPk(pk, /*record_withheld=*/true); };
  }
  SearchPage page;
  std::optional<SearchSpec> uncounted;
  if (gated_count) {
    auto total = CountPermitted(spec, run, page_gate.none);
    if (!total.ok()) return total.error();
    page.total = *total;
    if (spec.count_only) return page;
    uncounted.emplace(spec);
    uncounted->total = TotalMode::kNone;
  }
  const SearchSpec& paged = uncounted ? *uncounted : spec;
  auto pks = SearchPks(*db_, names_, paged, run, gated ? &page_gate : nullptr);
  if (!pks.ok()) return pks.error();
  if (!gated_count) page.total = pks->total;
  page.next_cursor = pks->next_cursor;
  if (spec.count_only) return page;
  RowLoader::Bytes bytes{spec.budget.max_page_bytes};
  std::vector<int64_t> loaded_pks;
  auto matches = loader_.Current(pks->pks, bytes, &loaded_pks);
  if (!matches.ok()) return matches.error();
  if (bytes.read < pks->pks.size()) {  // the page is full before its count
    page.next_cursor = pks->NextCursorAfter(bytes.read);
    pks->pks.resize(bytes.read);
  }
  // Includes start from the admitted matches only: a withheld match lends none of its links.
  // (Gated, every match here was permitted already; one the gate now refused would be left out.)
  std::vector<int64_t> admitted_pks;
  page.matches.reserve(matches->size());
  for (size_t i = 0; i < matches->size(); ++i) {
    if (!Admit((*matches)[i])) continue;
    page.matches.push_back(std::move((*matches)[i]));
    admitted_pks.push_back(loaded_pks[i]);
  }
  if (!spec.includes.empty() && !admitted_pks.empty()) {
    PkFilter iterate_from;
    if (!gate_.AdmitsEverything()) iterate_from = [this](int64_t pk) { return PermitsPk(pk); };
    auto included = IncludePks(*db_, names_, spec, admitted_pks, run, iterate_from);
    if (!included.ok()) return included.error();
    auto loaded = loader_.Current(included.value(), bytes);
    if (!loaded.ok()) return loaded.error();
    if (bytes.read < included->size()) {
      return MakeError(ErrorCode::kInvalid,
                       "the resources _include and _revinclude add to this page pass " +
                           std::to_string(spec.budget.max_page_bytes >> 20) +
                           " MB; ask for fewer matches per page (_count)",
                       "_include");
    }
    page.included = Admitted(std::move(loaded).value());
  }
  page.previous_cursor = pks->previous_cursor;
  return page;
}

// Whether the gate permits the current version of resource `pk` (false when deleted), from its
// row's facts (no body is read).
base::Result<bool> SqliteReadSession::PermitsPk(int64_t pk, bool record_withheld) {
  auto stmt = db_->Cached(std::string("SELECT ") + kItemFactsColumns +
                          " FROM resource r JOIN version v ON v.vid = r.vid "
                          "WHERE r.pk = ? AND r.deleted = 0");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, pk);
  auto row = (*stmt)->Step();
  base::Result<bool> permitted = false;
  if (!row.ok()) {
    permitted = row.error();
  } else if (row.value()) {
    permitted = loader_.Permitted(**stmt, 0, gate_);
    if (record_withheld && permitted.ok() && !*permitted) {
      // Admit refuses it as Permits did, and counts it withheld; nothing is disclosed.
      auto patient = loader_.PatientId((*stmt)->Int(2));
      if (!patient.ok()) {
        permitted = patient.error();
      } else {
        const std::string type = names_.types.NameOf((*stmt)->Int(0));
        // No body: Admit needs none to refuse what Permits refused.
        (void)gate_.Admit(ItemFacts{type, (*stmt)->Text(1), patient.value(), (*stmt)->Text(3),
                                    (*stmt)->Text(4), nullptr});
      }
    }
  }
  (*stmt)->Reset();
  return permitted;
}

// Every match of `spec` that the gate permits, counted one by one; `none`: the gate admits no
// item of the type, so none is read (the search is still compiled, for its errors).
base::Result<int64_t> SqliteReadSession::CountPermitted(const SearchSpec& spec, SearchRun& run,
                                                        bool none) {
  PageGate nothing;
  nothing.none = true;
  auto pks = MatchPks(*db_, names_, spec, size_t{1} << 40, run, none ? &nothing : nullptr);
  if (!pks.ok()) return pks.error();
  int64_t total = 0;
  for (int64_t pk : *pks) {
    auto permitted = PermitsPk(pk);
    if (!permitted.ok()) return permitted.error();
    total += *permitted;
  }
  return total;
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
    // An instance that never existed is a 404, not an empty history; so is one whose current
    // version the gate withholds, as its read is.
    auto exists = db_->Prepare(std::string("SELECT ") + kItemFactsColumns +
                               " FROM resource r JOIN version v ON v.vid = r.vid "
                               "WHERE r.type_id = ? AND r.id = ? AND r.version > 0");
    if (!exists.ok()) return exists.error();
    exists->Bind(1, std::get<int64_t>(binds[0])).Bind(2, std::string_view(query.id));
    auto row = exists->Step();
    if (!row.ok()) return row.error();
    bool permitted = false;
    if (row.value()) {
      auto decided = loader_.Permitted(*exists, 0, gate_);
      if (!decided.ok()) return decided.error();
      permitted = *decided;
    }
    if (!permitted) {
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
    if (query.cursor[0] != 'h' ||
        !ParseWholeNumber(std::string_view(query.cursor).substr(1), before) || before <= 0) {
      return base::Invalid("the paging cursor is not one this server made", "_cursor");
    }
    paged += " AND v.vid < " + std::to_string(before);
  }
  auto stmt = db_->Prepare(std::string("SELECT ") + RowLoader::kVersionColumns + ", v.vid" + from +
                           paged + " ORDER BY v.vid DESC LIMIT " + std::to_string(query.count + 1));
  if (!stmt.ok()) return stmt.error();
  bind_all(*stmt);
  int64_t last_vid = 0;
  size_t rows = 0, bytes = 0;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return run.Explain(row.error());
    if (!row.value()) break;
    // A page ends at its count, or early once its bodies reach the page's bytes.
    if (++rows > query.count || bytes >= SearchBudget{}.max_page_bytes) {
      page.next_cursor = "h" + std::to_string(last_vid);
      break;
    }
    last_vid = stmt->Int(RowLoader::kColumnCount);
    auto loaded = loader_.Load(*stmt);
    if (!loaded.ok()) return loaded.error();
    bytes += loaded->json.size();
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
  const std::string limit =
      query.total ? std::string() : " LIMIT " + std::to_string(kMaxHistoryCounted);
  int64_t counted = 0, rows = 0;
  if (gate_.AdmitsEverything()) {
    auto stmt = db_->Prepare("SELECT count(*) FROM (SELECT 1" + sql_from_where + limit + ")");
    if (!stmt.ok()) return stmt.error();
    bind(*stmt);
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    counted = rows = stmt->Int(0);
  } else {
    // Only the versions the gate permits count, as only they are on the pages.
    auto stmt =
        db_->Prepare(std::string("SELECT ") + kVersionItemFactsColumns + sql_from_where + limit);
    if (!stmt.ok()) return stmt.error();
    bind(*stmt);
    for (;; ++rows) {
      auto row = stmt->Step();
      if (!row.ok()) return row.error();
      if (!row.value()) break;
      auto permitted = loader_.Permitted(*stmt, 0, gate_);
      if (!permitted.ok()) return permitted.error();
      counted += *permitted;
    }
  }
  if (!query.total && rows >= kMaxHistoryCounted) return std::optional<int64_t>();
  return std::optional<int64_t>(counted);
}

}  // namespace read_internal

std::unique_ptr<ReadSession> MakeSqliteReadSession(
    std::unique_ptr<SqliteConnection> db, const SqliteNames& names, ReadGate& gate,
    std::function<void(std::unique_ptr<SqliteConnection>)> release) {
  return std::make_unique<read_internal::SqliteReadSession>(std::move(db), names, gate,
                                                            std::move(release));
}

}  // namespace carerecord::store
