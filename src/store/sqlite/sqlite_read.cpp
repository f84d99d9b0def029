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
    // A counted search's withheld are all its matches the gate refused, counted once by
    // CountPermitted; otherwise those the page read past.
    page_gate.permits = [this, gated_count](int64_t pk) {
      return PermitsPk(pk, /*record_withheld=*/!gated_count);
    };
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

// Every match of `spec` that the gate permits, counted one by one; each match it refuses is
// counted withheld for the audit (never for the caller). `none`: the gate admits no item of the
// type, so no match is asked about: all are withheld, and the audit says how many, as it would
// had each been asked.
base::Result<int64_t> SqliteReadSession::CountPermitted(const SearchSpec& spec, SearchRun& run,
                                                        bool none) {
  auto pks = MatchPks(*db_, names_, spec, size_t{1} << 40, run);
  if (!pks.ok()) return pks.error();
  if (none) {
    gate_.CountWithheld(static_cast<int64_t>(pks->size()));
    return 0;
  }
  int64_t total = 0;
  for (int64_t pk : *pks) {
    auto permitted = PermitsPk(pk, /*record_withheld=*/true);
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
  // A type the gate admits none of is not read: its history is empty, as a store that never
  // held it would answer.
  const bool none =
      !query.type.empty() && !gate_.AdmitsEverything() && gate_.AdmitsNoneOf(query.type);
  if (none) {
    if (query.total || query.cursor.empty()) page.total = 0;
    return page;
  }
  auto total = CountHistory(query, from + where, bind_all);
  if (!total.ok()) return run.Explain(total.error());
  page.total = *total;
  auto paged = FillHistoryPage(query, from + where, bind_all, page);
  if (!paged.ok()) return run.Explain(paged.error());
  return page;
}

// One page of history, newest first, through the gate: the page is filled with the versions
// the gate permits, read on past withheld ones (decided from the row's facts; no body is read),
// until it has its count and one more (which says a link onwards is due) or the versions end.
// Its cursors are those of versions it returns: "h<vid>" (next: the versions older than vid)
// after the last, "hp<vid>" (previous: newer than vid) before the first; so its versions, links
// and cursors are those of a store that never held the withheld ones.
base::Status SqliteReadSession::FillHistoryPage(const HistoryQuery& query,
                                                const std::string& sql_from_where,
                                                const std::function<void(SqliteStatement&)>& bind,
                                                store::HistoryPage& page) {
  bool backward = false;
  int64_t at = 0;
  std::string paged = sql_from_where;
  if (!query.cursor.empty()) {
    backward = query.cursor.rfind("hp", 0) == 0;
    std::string_view number = std::string_view(query.cursor).substr(backward ? 2 : 1);
    if (query.cursor[0] != 'h' || !ParseWholeNumber(number, at) || at <= 0) {
      return base::Invalid("the paging cursor is not one this server made", "_cursor");
    }
    paged += (backward ? " AND v.vid > " : " AND v.vid < ") + std::to_string(at);
  }
  const bool gated = !gate_.AdmitsEverything();
  // The page's versions in page order (the nearest the cursor first), and one more if any.
  std::string sql = std::string("SELECT ") + kVersionItemFactsColumns + paged +
                    (backward ? " ORDER BY v.vid" : " ORDER BY v.vid DESC");
  if (!gated) sql += " LIMIT " + std::to_string(query.count + 1);
  auto stmt = db_->Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  bind(*stmt);
  std::vector<int64_t> vids;
  while (vids.size() <= query.count) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    if (gated) {
      auto permitted = loader_.Permitted(*stmt, 0, gate_);
      if (!permitted.ok()) return permitted.error();
      if (!*permitted) {
        // Read past: Admit refuses it as Permits did and counts it withheld for the audit.
        auto recorded = loader_.Permitted(*stmt, 0, gate_, /*record=*/true);
        if (!recorded.ok()) return recorded.error();
        continue;
      }
    }
    vids.push_back(stmt->Int(5));
  }
  const bool more = vids.size() > query.count;
  if (more) vids.pop_back();
  if (backward) std::reverse(vids.begin(), vids.end());
  // The bodies, newest first; a page ends early once they reach the page's bytes.
  auto load = db_->Cached(std::string("SELECT ") + RowLoader::kVersionColumns +
                          " FROM version v JOIN resource r ON r.pk = v.pk WHERE v.vid = ?");
  if (!load.ok()) return load.error();
  size_t bytes = 0, loaded_count = 0;
  for (; loaded_count < vids.size(); ++loaded_count) {
    if (bytes >= SearchBudget{}.max_page_bytes) break;
    (*load)->Bind(1, vids[loaded_count]);
    auto row = (*load)->Step();
    base::Result<StoredResource> loaded =
        MakeError(ErrorCode::kInternal, "a version vanished in a snapshot");
    if (!row.ok()) {
      loaded = row.error();
    } else if (row.value()) {
      loaded = loader_.Load(**load);
    }
    (*load)->Reset();
    if (!loaded.ok()) return loaded.error();
    bytes += loaded->json.size();
    if (Admit(*loaded)) page.versions.push_back(std::move(loaded).value());
  }
  if (vids.empty()) return base::Status::Ok();
  const bool cut = loaded_count < vids.size();
  if (cut || (backward ? true : more)) {
    page.next_cursor = "h" + std::to_string(vids[loaded_count - 1]);
  }
  if (backward ? more : !query.cursor.empty()) {
    page.previous_cursor = "hp" + std::to_string(vids.front());
  }
  return base::Status::Ok();
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
