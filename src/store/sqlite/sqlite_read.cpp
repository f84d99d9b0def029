// Reads on the SQLite store: a session holds one connection inside one read transaction (a
// WAL snapshot), and hands out nothing its ReadGate has not admitted.

#include <algorithm>
#include <charconv>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "fhir/reference_scan.h"
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

// Where a page of $everything starts: at the compartment's beginning, after a compartment row
// ("e<type_id>.<pk>"), or after a referenced resource ("r<pk>"), the compartment being done.
struct EverythingCursor {
  enum class Phase { kStart, kCompartment, kReferenced } phase = Phase::kStart;
  int64_t type_id = 0;
  int64_t pk = 0;
};

std::optional<EverythingCursor> ParseEverythingCursor(std::string_view text) {
  EverythingCursor cursor;
  if (text.empty()) return cursor;
  std::string_view rest = text.substr(1);
  if (text[0] == 'e') {
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos || !ParseWholeNumber(rest.substr(0, dot), cursor.type_id) ||
        !ParseWholeNumber(rest.substr(dot + 1), cursor.pk)) {
      return std::nullopt;
    }
    cursor.phase = EverythingCursor::Phase::kCompartment;
    return cursor;
  }
  if (text[0] == 'r' && ParseWholeNumber(rest, cursor.pk)) {
    cursor.phase = EverythingCursor::Phase::kReferenced;
    return cursor;
  }
  return std::nullopt;
}

// Strings looked up by string_view without building a std::string.
struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
using TextSet = std::unordered_set<std::string, TextHash, std::equal_to<>>;

// What $everything gathers from a patient's compartment for its referenced half: every member
// ("Type/id", withheld ones too), and the reference strings of the members the gate permits.
struct CompartmentReferences {
  TextSet members;
  TextSet references;
  std::string patient;  // "Patient/<id>", which nearly every member references: not looked up

  void AddReferences(std::string_view json) {
    fhir::ForEachReferenceString(json, [this](std::string_view reference) {
      if (reference == patient) return;
      if (references.find(reference) == references.end()) references.emplace(reference);
    });
  }
};

// kItemFactsColumns for a row of any version (see RowLoader::kVersionColumns).
constexpr const char* kVersionItemFactsColumns =
    "r.type_id, r.id, r.patient_pk, v.sealing_facts || COALESCE((SELECT cv.sealing_facts FROM "
    "version cv WHERE cv.vid = r.vid AND cv.vid <> v.vid), ''), r.author_org";

// Loads rows of resource + version into StoredResource, caching patient ids by pk.
class RowLoader {
 public:
  RowLoader(SqliteConnection& db, const SqliteNames& names) : db_(db), names_(names) {}

  static constexpr const char* kColumns =
      "r.type_id, r.id, v.version, v.last_updated, v.method, v.body, r.patient_pk, r.pk, "
      "v.sealing_facts, r.author_org";
  static constexpr int kColumnCount = 10;
  // The same columns for a version that may not be the current one: its sealing facts are its
  // own and the current version's (lines of "S|..." and "C|...", so they concatenate), because
  // a resource sealed later seals its earlier versions too. For vread and history.
  static constexpr const char* kVersionColumns =
      "r.type_id, r.id, v.version, v.last_updated, v.method, v.body, r.patient_pk, r.pk, "
      "v.sealing_facts || COALESCE((SELECT cv.sealing_facts FROM version cv WHERE cv.vid = r.vid "
      "AND cv.vid <> v.vid), ''), r.author_org";

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
      auto json = names_.codec->Decode(stmt.Blob(5), out.last_updated_ms);
      if (!json.ok()) return json.error();
      out.json = std::move(json).value();
    }
    auto patient = PatientId(stmt.Int(6));
    if (!patient.ok()) return patient.error();
    out.patient_id = std::move(patient).value();
    out.sealing_facts = std::string(stmt.Text(8));
    out.author_organisation = std::string(stmt.Text(9));
    return out;
  }

  // Whether `gate` permits the item of a row selected with kItemFactsColumns from `first` on.
  base::Result<bool> Permitted(SqliteStatement& stmt, int first, ReadGate& gate) {
    auto patient = PatientId(stmt.Int(first + 2));
    if (!patient.ok()) return patient.error();
    const std::string type = names_.types.NameOf(stmt.Int(first));
    return gate.Permits(ItemFacts{type, stmt.Text(first + 1), patient.value(), stmt.Text(first + 3),
                                  stmt.Text(first + 4)});
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

  // The current versions of `pks`, in that order, skipping deleted ones; once their bodies
  // reach `budget.max_bytes` (one is always read), the rest are left and `budget.read` tells
  // how many pks were read.
  struct Bytes {
    size_t max_bytes = SIZE_MAX;
    size_t used = 0;
    size_t read = 0;
  };
  base::Result<std::vector<StoredResource>> Current(const std::vector<int64_t>& pks) {
    Bytes unbounded;
    return Current(pks, unbounded);
  }
  // `loaded_pks`, when given, gets the pk of each item returned.
  base::Result<std::vector<StoredResource>> Current(const std::vector<int64_t>& pks, Bytes& budget,
                                                    std::vector<int64_t>* loaded_pks = nullptr) {
    std::vector<StoredResource> out;
    auto stmt = db_.Cached(std::string("SELECT ") + kColumns +
                           " FROM resource r JOIN version v ON v.vid = r.vid "
                           "WHERE r.pk = ? AND r.deleted = 0");
    if (!stmt.ok()) return stmt.error();
    for (budget.read = 0; budget.read < pks.size(); ++budget.read) {
      if (budget.used >= budget.max_bytes && !out.empty()) break;
      (*stmt)->Bind(1, pks[budget.read]);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (row.value()) {
        auto loaded = Load(**stmt);
        if (!loaded.ok()) return loaded.error();
        budget.used += loaded->json.size();
        out.push_back(std::move(loaded).value());
        if (loaded_pks) loaded_pks->push_back(pks[budget.read]);
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
  base::Result<SearchPage> EverythingPage(const EverythingQuery& query);
  // The page's compartment rows from the cursor on; true when they fill it (the next cursor is
  // then set). `withheld` gets the members the gate withheld.
  base::Result<bool> CompartmentRows(const EverythingQuery& query, int64_t patient_pk,
                                     const EverythingCursor& cursor, const std::string& type_list,
                                     SearchPage& page, std::vector<std::string>& withheld);
  // The rest of the page: the resources the whole compartment references, after the cursor.
  base::Status ReferencedRows(const EverythingQuery& query, int64_t patient_pk,
                              const EverythingCursor& cursor, std::vector<std::string> withheld,
                              SearchPage& page);
  base::Result<SearchPage> BudgetedSearch(const SearchSpec& spec, SearchRun& run);
  base::Result<int64_t> CountPermitted(const SearchSpec& spec, SearchRun& run, bool none);
  // `record_withheld`: a refused item is counted as withheld for the audit (a search page's
  // match that the page read past).
  base::Result<bool> PermitsPk(int64_t pk, bool record_withheld = false);
  base::Result<std::optional<int64_t>> CountHistory(
      const HistoryQuery& query, const std::string& sql_from_where,
      const std::function<void(SqliteStatement&)>& bind);
  // Reads of one resource are single statements; anything that runs several statements (a
  // search and its includes, a page of history) opens the snapshot first so they all agree.
  void Snapshot() {
    if (!began_) began_ = db_->Exec("BEGIN").ok();
  }
  bool Admit(const StoredResource& r) {
    return gate_.Admit(
        ItemFacts{r.type, r.id, r.patient_id, r.sealing_facts, r.author_organisation});
  }
  std::vector<StoredResource> Admitted(std::vector<StoredResource> items) {
    std::vector<StoredResource> out;
    out.reserve(items.size());
    for (auto& item : items) {
      if (Admit(item)) out.push_back(std::move(item));
    }
    return out;
  }

  // $everything's halves: the compartment rows from the cursor on, and the resources outside
  // every compartment that the compartment references.
  base::Status ScanCompartment(int64_t patient_pk, const EverythingCursor* up_to,
                               CompartmentReferences& out);
  base::Result<std::vector<int64_t>> ReferencedPks(const EverythingQuery& query,
                                                   const CompartmentReferences& compartment,
                                                   int64_t after_pk);

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
        (void)gate_.Admit(
            ItemFacts{type, (*stmt)->Text(1), patient.value(), (*stmt)->Text(3), (*stmt)->Text(4)});
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

// The compartment in (type, pk) order, then the referenced resources in pk order; one count
// bounds both, so a page may hold the compartment's last rows and the first referenced ones.
// Each referenced resource is on one page only: the referenced half is computed from the whole
// compartment, which a page that did not start at the beginning reads again (bodies only).
// Within the query's budget, as every search is: a page may read a whole record's bodies.
base::Result<SearchPage> SqliteReadSession::Everything(const EverythingQuery& query) {
  SearchRun run(*db_, query.budget);
  return run.Explain(EverythingPage(query));
}

base::Result<SearchPage> SqliteReadSession::EverythingPage(const EverythingQuery& query) {
  using Phase = EverythingCursor::Phase;
  Snapshot();
  std::string where = "Patient/" + query.patient_id;
  auto patient_pk = FindPk(*db_, names_, "Patient", query.patient_id);
  if (!patient_pk.ok()) return patient_pk.error();
  bool permitted = false;
  if (patient_pk.value()) {
    // A Patient the gate withholds has no $everything, exactly as one never stored.
    auto facts = db_->Cached(std::string("SELECT ") + kItemFactsColumns +
                             " FROM resource r JOIN version v ON v.vid = r.vid WHERE r.pk = ?");
    if (!facts.ok()) return facts.error();
    (*facts)->Bind(1, patient_pk.value());
    auto row = (*facts)->Step();
    if (!row.ok()) return row.error();
    auto decided = row.value() ? loader_.Permitted(**facts, 0, gate_) : base::Result<bool>(false);
    (*facts)->Reset();
    if (!decided.ok()) return decided.error();
    permitted = *decided;
  }
  if (!permitted) {
    return MakeError(ErrorCode::kNotFound, where + " is not known", where);
  }
  auto cursor = ParseEverythingCursor(query.cursor);
  if (!cursor) return base::Invalid("the paging cursor is not one this server made", "_cursor");
  // A type of which nothing was ever stored selects nothing; it is not an error.
  std::string type_list;
  for (const std::string& type : query.types) {
    if (int64_t type_id = names_.types.Find(type)) {
      type_list += (type_list.empty() ? "" : ",") + std::to_string(type_id);
    }
  }
  SearchPage page;
  std::vector<std::string> withheld;  // members this page read that the gate withheld
  if (cursor->phase != Phase::kReferenced && (query.types.empty() || !type_list.empty())) {
    auto full = CompartmentRows(query, patient_pk.value(), *cursor, type_list, page, withheld);
    if (!full.ok()) return full.error();
    if (*full) return page;  // the compartment goes on: its references wait for its last page
  }
  CR_RETURN_IF_ERROR(ReferencedRows(query, patient_pk.value(), *cursor, std::move(withheld), page));
  return page;
}

base::Result<bool> SqliteReadSession::CompartmentRows(
    const EverythingQuery& query, int64_t patient_pk, const EverythingCursor& cursor,
    const std::string& type_list, SearchPage& page, std::vector<std::string>& withheld) {
  // One statement walks the compartment range and brings each body with it.
  std::string sql = std::string("SELECT ") + RowLoader::kColumns +
                    ", c.type_id FROM compartment c JOIN resource r ON r.pk = c.pk "
                    "JOIN version v ON v.vid = r.vid WHERE c.patient_pk = ? AND r.deleted = 0";
  if (!type_list.empty()) sql += " AND c.type_id IN (" + type_list + ")";
  if (query.since_ms) sql += " AND r.last_updated >= " + std::to_string(*query.since_ms);
  if (cursor.phase == EverythingCursor::Phase::kCompartment) {
    sql += " AND (c.type_id > " + std::to_string(cursor.type_id) +
           " OR (c.type_id = " + std::to_string(cursor.type_id) + " AND c.pk > " +
           std::to_string(cursor.pk) + "))";
  }
  sql += " ORDER BY c.type_id, c.pk";
  // Withheld rows take no place on the page: it reads on past them (so no LIMIT when some may be).
  const bool gated = !gate_.AdmitsEverything();
  if (!gated) sql += " LIMIT " + std::to_string(query.count + 1);
  auto stmt = db_->Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, patient_pk);
  std::pair<int64_t, int64_t> last{0, 0};
  size_t bytes = 0;
  page.matches.reserve(std::min<size_t>(query.count, 4096));
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) return false;
    auto loaded = loader_.Load(*stmt);
    if (!loaded.ok()) return loaded.error();
    const ItemFacts facts{loaded->type, loaded->id, loaded->patient_id, loaded->sealing_facts,
                          loaded->author_organisation};
    if (gated && !gate_.Permits(facts)) {
      (void)gate_.Admit(facts);  // refused again: counted withheld for the audit
      withheld.push_back(loaded->type + "/" + loaded->id);
      continue;
    }
    // A page ends at its count, or early once its bodies reach the page's bytes, when another
    // member it may return follows; its cursor is at the last member it returned.
    if (page.matches.size() == query.count || bytes >= query.budget.max_page_bytes) {
      page.next_cursor = "e" + std::to_string(last.first) + "." + std::to_string(last.second);
      return true;
    }
    last = {stmt->Int(RowLoader::kColumnCount), stmt->Int(7)};
    bytes += loaded->json.size();
    if (Admit(*loaded)) {
      page.matches.push_back(std::move(loaded).value());
    } else {
      withheld.push_back(loaded->type + "/" + loaded->id);
    }
  }
}

base::Status SqliteReadSession::ReferencedRows(const EverythingQuery& query, int64_t patient_pk,
                                               const EverythingCursor& cursor,
                                               std::vector<std::string> withheld,
                                               SearchPage& page) {
  using Phase = EverythingCursor::Phase;
  const bool selective = !query.types.empty() || query.since_ms.has_value();
  // The compartment is done. Its references come from the rows this page read when it began
  // at the compartment's start and selected every row; otherwise the rows are read again.
  CompartmentReferences compartment;
  compartment.patient = "Patient/" + query.patient_id;
  if (!selective && cursor.phase != Phase::kReferenced) {
    compartment.members.reserve(page.matches.size() + withheld.size());
    for (const StoredResource& r : page.matches) {
      compartment.members.insert(r.type + "/" + r.id);
      compartment.AddReferences(r.json);
    }
    for (std::string& member : withheld) compartment.members.insert(std::move(member));
  }
  if (selective || cursor.phase == Phase::kReferenced) {
    CR_RETURN_IF_ERROR(ScanCompartment(patient_pk, nullptr, compartment));
  } else if (cursor.phase == Phase::kCompartment) {
    CR_RETURN_IF_ERROR(ScanCompartment(patient_pk, &cursor, compartment));
  }
  const int64_t after = cursor.phase == Phase::kReferenced ? cursor.pk : 0;
  auto referenced = ReferencedPks(query, compartment, after);
  if (!referenced.ok()) return referenced.error();
  std::vector<int64_t>& pks = referenced.value();
  if (!gate_.AdmitsEverything()) {
    // Only what the gate permits takes a place and a cursor, as in a store without the rest.
    std::vector<int64_t> permitted;
    for (int64_t pk : pks) {
      auto decided = PermitsPk(pk, /*record_withheld=*/true);
      if (!decided.ok()) return decided.error();
      if (*decided) permitted.push_back(pk);
    }
    pks = std::move(permitted);
  }
  const size_t rows = page.matches.size();  // compartment members on this page
  const size_t room = query.count - std::min(rows, query.count);
  if (pks.size() > room) {
    page.next_cursor = "r" + std::to_string(room ? pks[room - 1] : after);
    pks.resize(room);
  }
  RowLoader::Bytes bytes{query.budget.max_page_bytes};
  for (const StoredResource& r : page.matches) bytes.used += r.json.size();
  auto loaded = loader_.Current(pks, bytes);
  if (!loaded.ok()) return loaded.error();
  if (bytes.read < pks.size()) page.next_cursor = "r" + std::to_string(pks[bytes.read - 1]);
  page.included = Admitted(std::move(loaded).value());
  return base::Status::Ok();
}

// Adds the members of the patient's compartment (up to and including `up_to`, or all) and the
// references of those the gate permits. Reads bodies only; what it reads is never handed back,
// so the gate records nothing for it.
base::Status SqliteReadSession::ScanCompartment(int64_t patient_pk, const EverythingCursor* up_to,
                                                CompartmentReferences& out) {
  std::string sql =
      "SELECT c.type_id, r.id, r.patient_pk, v.body, v.sealing_facts, r.author_org "
      "FROM compartment c "
      "JOIN resource r ON r.pk = c.pk JOIN version v ON v.vid = r.vid "
      "WHERE c.patient_pk = ? AND r.deleted = 0";
  if (up_to) sql += " AND (c.type_id < ? OR (c.type_id = ? AND c.pk <= ?))";
  auto stmt = db_->Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, patient_pk);
  if (up_to) stmt->Bind(2, up_to->type_id).Bind(3, up_to->type_id).Bind(4, up_to->pk);
  int64_t type_id = 0;
  std::string type;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    if (stmt->Int(0) != type_id) {
      type_id = stmt->Int(0);
      type = names_.types.NameOf(type_id);
    }
    std::string_view id = stmt->Text(1);
    out.members.insert(type + "/" + std::string(id));
    auto patient = loader_.PatientId(stmt->Int(2));
    if (!patient.ok()) return patient.error();
    if (!gate_.Permits(ItemFacts{type, id, patient.value(), stmt->Text(4), stmt->Text(5)})) {
      continue;
    }
    auto json = names_.codec->Decode(stmt->Blob(3));
    if (!json.ok()) return json.error();
    out.AddReferences(json.value());
  }
  return base::Status::Ok();
}

// The pks, ascending and above `after_pk`, of the current resources that the compartment
// references and that are in no patient's compartment (a Practitioner, a Medication; not
// another patient's record), of the query's types and updated since its `since_ms`.
base::Result<std::vector<int64_t>> SqliteReadSession::ReferencedPks(
    const EverythingQuery& query, const CompartmentReferences& compartment, int64_t after_pk) {
  std::vector<int64_t> out;
  auto stmt = db_->Cached(
      "SELECT pk, patient_pk, last_updated FROM resource "
      "WHERE type_id = ? AND id = ? AND deleted = 0 AND version > 0");
  if (!stmt.ok()) return stmt.error();
  TextSet looked_up;
  for (const std::string& reference : compartment.references) {
    // Most references name a member as "Type/id", the members' own form.
    if (compartment.members.count(reference)) continue;
    // Absolute: another server's (this server's own URLs are stored relative); or a urn.
    if (reference.find(':') != std::string::npos) continue;
    auto target = fhir::ParseReference(reference);
    if (!target) continue;
    std::string key = target->type + "/" + target->id;
    if (compartment.members.count(key) || !looked_up.insert(std::move(key)).second) continue;
    if (!query.types.empty() &&
        std::find(query.types.begin(), query.types.end(), target->type) == query.types.end()) {
      continue;
    }
    int64_t type_id = names_.types.Find(target->type);
    if (!type_id) continue;
    (*stmt)->Bind(1, type_id).Bind(2, std::string_view(target->id));
    auto row = (*stmt)->Step();
    if (!row.ok()) {
      (*stmt)->Reset();
      return row.error();
    }
    if (row.value()) {
      int64_t pk = (*stmt)->Int(0);
      bool outside = (*stmt)->Int(1) == 0;
      bool recent = !query.since_ms || (*stmt)->Int(2) >= *query.since_ms;
      if (outside && recent && pk > after_pk) out.push_back(pk);
    }
    (*stmt)->Reset();
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::unique_ptr<ReadSession> MakeSqliteReadSession(
    std::unique_ptr<SqliteConnection> db, const SqliteNames& names, ReadGate& gate,
    std::function<void(std::unique_ptr<SqliteConnection>)> release) {
  return std::make_unique<SqliteReadSession>(std::move(db), names, gate, std::move(release));
}

}  // namespace carerecord::store
