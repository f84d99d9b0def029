// Internals shared by the SQLite store's write path (sqlite_store.cpp) and read path
// (sqlite_read.cpp, sqlite_search.cpp). Not for use outside src/store/.
#pragma once

#include <charconv>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fhir/index_extraction.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_schema.h"
#include "store/store.h"

namespace carerecord::store {

// The dictionaries every connection of one store shares.
// A cursor's number: all of `text`, digits only (a cursor is the server's own; "12abc" is not
// one it made).
inline bool ParseWholeNumber(std::string_view text, int64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && out >= 0;
}

struct SqliteNames {
  NameDictionary types{"res_type", "name"};
  NameDictionary params{"search_param", "name"};
  NameDictionary systems{"code_system", "uri"};
  NameDictionary sources{"feed_source", "name"};
  // fhir::SearchParamDef::id -> search_param.id, and the id of its ":text" companion.
  std::vector<int64_t> param_ids;
  std::vector<int64_t> text_param_ids;
  std::vector<int64_t> of_type_param_ids;  // token parameters' ":of-type" companions
  int64_t patient_type_id = 0;
  const BodyCodec* codec = nullptr;

  int64_t ParamId(const fhir::SearchParamDef& def) const { return param_ids[def.id]; }
  int64_t TextParamId(const fhir::SearchParamDef& def) const { return text_param_ids[def.id]; }
  int64_t OfTypeParamId(const fhir::SearchParamDef& def) const { return of_type_param_ids[def.id]; }
};

// Looks up a resource's pk by type and id; 0 when absent. Deleted resources count as absent
// unless `include_deleted` (resource rows are never removed, so their pks stay valid).
base::Result<int64_t> FindPk(SqliteConnection& db, const SqliteNames& names, std::string_view type,
                             std::string_view id, bool include_deleted = false);

// Resolves a local reference's target (type, id) to its pk, 0 when absent, deleted included.
using TargetLookup = std::function<base::Result<int64_t>(std::string_view, std::string_view)>;

// Inserts (or, with `remove`, deletes) the index rows of one version of resource `pk` in
// partition `part`, inside the caller's write transaction. Every code system the entries name
// must already be in names.systems (see CollectNewSystems).
base::Status WriteIndexRows(SqliteConnection& db, const SqliteNames& names,
                            const fhir::IndexEntries& index, int64_t pk, int64_t part, bool remove,
                            const TargetLookup& find_target);

// Replaces the index rows of version `previous` (in partition `previous_part`) of resource `pk`
// with those of `index` (in `part`), writing only the difference: an update that changes a few
// values leaves the rows of the others alone. Reference rows are always written again.
base::Status ReplaceIndexRows(SqliteConnection& db, const SqliteNames& names,
                              const fhir::IndexEntries& previous, int64_t previous_part,
                              const fhir::IndexEntries& index, int64_t part, int64_t pk,
                              const TargetLookup& find_target);

// Adds to `out` the code systems and uri values of `index` that names.systems does not hold.
void CollectNewSystems(const SqliteNames& names, const fhir::IndexEntries& index,
                       std::set<std::string>& out);

class BodyCodec;

// Rebuilds every index table from the current resources when the store's indexes were written
// by another index format or other generated search tables (store_meta 'index_format'), in one
// write transaction on `db`. Called when the store opens, before anything is served.
base::Status RebuildIndexesIfStale(SqliteConnection& db, SqliteNames& names,
                                   const BodyCodec& codec);

class SearchRun;

using PkFilter = std::function<base::Result<bool>(int64_t pk)>;

// Which matches a page may hold, for a request whose gate may withhold some: a page is filled
// with the matches `permits` lets through, read on past the others until it has its count (and
// one more, to know whether a next link is due) or the matches end, and its cursors are those
// of matches it returns; so its matches, links and cursors are those of a store that never held
// the withheld ones. `none`: the gate admits no item of the type, so no match is read (the
// conditions are still compiled: a search that is an error is the same error).
struct PageGate {
  PkFilter permits;
  bool none = false;
};

// Runs a compiled search on `db` and returns matching pks in page order (at most count + 1,
// so the caller can tell whether there is a next page), plus the total when asked. Every
// statement it runs is charged to `run`, the budget of the whole search.
struct PkPage {
  std::vector<int64_t> pks;
  std::optional<int64_t> total;
  std::string next_cursor;
  std::string previous_cursor;
  // A sorted page's cursor after each of its pks (a pk-ordered page's is the pk itself).
  std::vector<std::string> cursors_after;
  // The next link of a page cut short after its first `kept` pks.
  std::string NextCursorAfter(size_t kept) const {
    return cursors_after.empty() ? "n" + std::to_string(pks[kept - 1]) : cursors_after[kept - 1];
  }
};
base::Result<PkPage> SearchPks(SqliteConnection& db, const SqliteNames& names,
                               const SearchSpec& spec, SearchRun& run,
                               const PageGate* gate = nullptr);

// The one way a search runs as a matching step: the inner search of a chain or _has, and the
// condition of a conditional interaction. What the spec says about the result (_count,
// _cursor, _sort, _summary=count, _total, includes) is dropped, so it can never change what
// matches. At most `limit` + 1 pks, in pk order: more than `limit` tells the caller there are
// more.
base::Result<std::vector<int64_t>> MatchPks(SqliteConnection& db, const SqliteNames& names,
                                            const SearchSpec& spec, size_t limit, SearchRun& run,
                                            const PageGate* gate = nullptr);

// The pks of every match of `inner`, the search inside a chain or _has named by `parameter`:
// MatchPks within the budget's depth and inner-match limits (SearchBudget); past them an error
// naming `parameter` that asks to narrow the search, never a silently partial answer.
base::Result<std::vector<int64_t>> InnerSearchPks(SqliteConnection& db, const SqliteNames& names,
                                                  const SearchSpec& inner,
                                                  const std::string& parameter, SearchRun& run);

// Pks reached from `from` by the includes of `spec` (forward and reverse, iterating), at most
// the budget's max_included (more is an error). `iterate_from`, when given, decides which of
// the pks one round reaches the next round (:iterate) goes on from: a withheld item lends none.
base::Result<std::vector<int64_t>> IncludePks(SqliteConnection& db, const SqliteNames& names,
                                              const SearchSpec& spec,
                                              const std::vector<int64_t>& from, SearchRun& run,
                                              const PkFilter& iterate_from = {});

// The targets that `from` (resources of `include.source_type`, whose type id is `source_type`)
// refer to by `include.param`, read from their bodies (references are not indexed by source).
base::Result<std::vector<int64_t>> ForwardTargets(SqliteConnection& db, const SqliteNames& names,
                                                  const IncludeSpec& include, int64_t source_type,
                                                  const std::vector<int64_t>& from);

std::unique_ptr<ReadSession> MakeSqliteReadSession(
    std::unique_ptr<SqliteConnection> db, const SqliteNames& names, ReadGate& gate,
    std::function<void(std::unique_ptr<SqliteConnection>)> release);

std::unique_ptr<TransactionReader> MakeSqliteTransactionReader(SqliteConnection& db,
                                                               const SqliteNames& names);

}  // namespace carerecord::store

namespace carerecord::store {

// Adds the columns the access policy reads (version.sealing_facts, resource.author_org) to a
// store written before they existed, and fills sealing_facts from every version's body, in one
// write transaction on `db`. Called when the store opens, before anything is served; a store
// that has them is left alone. Authors of resources written before are not known (empty).
base::Status AddSealingColumnsIfMissing(SqliteConnection& db, const BodyCodec& codec);

// The columns of a version's sealing facts in statements that join `resource r` and
// `version v`, and the ItemFacts of a row that selects them at `first` (type_id, id,
// patient_pk, sealing_facts, author_org), then the version's vid (for its StoredItemBody).
inline constexpr const char* kItemFactsColumns =
    "r.type_id, r.id, r.patient_pk, v.sealing_facts, r.author_org, v.vid";
inline constexpr int kItemFactsVidColumn = 5;

// A version's body for the gate (ItemFacts::body), read and decoded only when the gate asks:
// from the stored bytes at hand, or by the version's vid on `db`. Belongs to one call.
class StoredItemBody final : public ItemBody {
 public:
  StoredItemBody(SqliteConnection& db, const BodyCodec& codec, int64_t vid)
      : db_(&db), codec_(codec), vid_(vid) {}
  // `stored` must outlive this (a column of the row at hand).
  StoredItemBody(const BodyCodec& codec, std::string_view stored)
      : codec_(codec), stored_(stored) {}
  base::Result<std::string_view> Json() override;

 private:
  SqliteConnection* db_ = nullptr;
  const BodyCodec& codec_;
  int64_t vid_ = 0;
  std::string_view stored_;
  std::optional<std::string> json_;
};

}  // namespace carerecord::store
