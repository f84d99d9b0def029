// The SQLite read session's declarations, shared by its two files: sqlite_read.cpp (reads by id,
// search, history) and sqlite_everything.cpp ($everything). Internal to the SQLite store.
#pragma once

#include <algorithm>
#include <charconv>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "fhir/reference_scan.h"
#include "store/body_codec.h"
#include "store/sqlite/sqlite_search_budget.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store::read_internal {

using base::ErrorCode;
using base::MakeError;

inline const char* MethodName(int64_t code) {
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

inline std::optional<EverythingCursor> ParseEverythingCursor(std::string_view text) {
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
    "r.type_id, r.id, r.patient_pk, v.sealing_facts || COALESCE((SELECT '~' || char(10) || "
    "cv.sealing_facts FROM version cv WHERE cv.vid = r.vid AND cv.vid <> v.vid), ''), "
    "r.author_org, v.vid";

// Loads rows of resource + version into StoredResource, caching patient ids by pk.
class RowLoader {
 public:
  RowLoader(SqliteConnection& db, const SqliteNames& names) : db_(db), names_(names) {}

  static constexpr const char* kColumns =
      "r.type_id, r.id, v.version, v.last_updated, v.method, v.body, r.patient_pk, r.pk, "
      "v.sealing_facts, r.author_org";
  static constexpr int kColumnCount = 10;
  // The same columns for a version that may not be the current one: its sealing facts are its
  // own and the current version's (lines of "S|..." and "C|...", so they concatenate; a "~" line
  // between them, for the category rules: fhir/category_facts.h), because a resource sealed
  // later seals its earlier versions too. For vread and history.
  static constexpr const char* kVersionColumns =
      "r.type_id, r.id, v.version, v.last_updated, v.method, v.body, r.patient_pk, r.pk, "
      "v.sealing_facts || COALESCE((SELECT '~' || char(10) || cv.sealing_facts FROM version cv "
      "WHERE cv.vid = r.vid AND cv.vid <> v.vid), ''), r.author_org";

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
  // `record`: asked as Admit (a refusal is counted withheld for the audit; an item admitted is
  // counted disclosed, so only for one that is refused or returned).
  base::Result<bool> Permitted(SqliteStatement& stmt, int first, ReadGate& gate,
                               bool record = false) {
    auto patient = PatientId(stmt.Int(first + 2));
    if (!patient.ok()) return patient.error();
    const std::string type = names_.types.NameOf(stmt.Int(first));
    StoredItemBody body(db_, *names_.codec, stmt.Int(first + kItemFactsVidColumn));
    const ItemFacts facts{
        type, stmt.Text(first + 1), patient.value(), stmt.Text(first + 3), stmt.Text(first + 4),
        &body};
    return record ? gate.Admit(facts) : gate.Permits(facts);
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
  base::Status FillHistoryPage(const HistoryQuery& query, const std::string& sql_from_where,
                               const std::function<void(SqliteStatement&)>& bind,
                               store::HistoryPage& page);
  base::Result<std::optional<int64_t>> CountHistory(
      const HistoryQuery& query, const std::string& sql_from_where,
      const std::function<void(SqliteStatement&)>& bind);
  // Reads of one resource are single statements; anything that runs several statements (a
  // search and its includes, a page of history) opens the snapshot first so they all agree.
  void Snapshot() {
    if (!began_) began_ = db_->Exec("BEGIN").ok();
  }
  bool Admit(const StoredResource& r) {
    ItemBodyText body(r.json);
    return gate_.Admit(
        ItemFacts{r.type, r.id, r.patient_id, r.sealing_facts, r.author_organisation, &body});
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

}  // namespace carerecord::store::read_internal
