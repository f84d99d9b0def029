// The search compiler of the SQLite store: one SearchSpec becomes one query over the resource
// table, its conditions compiled to index lookups (sqlite_search_conditions.cpp, references,
// chains and _has in sqlite_search_references.cpp), run and paged (sqlite_search.cpp, sorted
// paging in sqlite_search_sort.cpp). One compiler per search or inner search, on the thread
// that owns the connection. Internal to src/store/sqlite/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/sqlite_search_budget.h"
#include "store/sqlite/sqlite_search_internal.h"

namespace carerecord::store {

// SQL text with its bound values in placeholder order.
struct Sql {
  std::string text;
  std::vector<BindValue> binds;
  void Add(std::string_view fragment) { text += fragment; }
  void Bind(BindValue value) { binds.push_back(std::move(value)); }
};

// Tables keyed (param, code or key, part, ...): the partition narrows them once the code is
// given, so a known patient is added to their lookups as to those keyed (param, part, ...).
inline bool PartFollowsKey(const CompiledCondition& c) {
  return c.table == "idx_token x" || c.table == "idx_composite x";
}

// "1,2,3": pks as SQL literals (they are the store's own integers, never client text).
std::string InList(const std::vector<int64_t>& pks);

class SearchCompiler {
 public:
  SearchCompiler(SqliteConnection& db, const SqliteNames& names, const SearchSpec& spec,
                 SearchRun& run, const PageGate* gate = nullptr)
      : db_(db), names_(names), spec_(spec), run_(run), gate_(gate) {}

  base::Result<PkPage> Run();

 private:
  // sqlite_search.cpp: the query and its paging.
  base::Result<std::vector<CompiledCondition>> CompileConditions();
  int ChooseDriver(const std::vector<CompiledCondition>& compiled) const;
  base::Result<Sql> CandidateQuery(const std::vector<CompiledCondition>& compiled, int driver);
  base::Result<int64_t> CountMatches(const Sql& query);
  base::Result<PkPage> PkOrderPage(const Sql& query, PkPage page);
  base::Result<std::vector<int64_t>> StepPks(const Sql& query);
  // The first `want` pks of `query`'s rows that gate_ permits (all rows' when there is none).
  base::Result<std::vector<int64_t>> StepPermittedPks(const Sql& query, size_t want);
  bool Gated() const { return gate_ && gate_->permits; }

  // sqlite_search_sort.cpp: _sort, paged by keyset over the encoded sort keys.
  base::Result<PkPage> SortedPage(const Sql& query, PkPage page);
  base::Result<std::vector<std::string>> SortKeys(const std::vector<int64_t>& pks);
  base::Result<std::vector<int64_t>> PartsOf(const std::vector<int64_t>& pks);

  // sqlite_search_conditions.cpp: one condition each.
  base::Result<CompiledCondition> Compile(const Condition& condition);
  CompiledCondition CompileId(const Condition& c);
  CompiledCondition CompileLastUpdated(const Condition& c);
  base::Result<CompiledCondition> CompileToken(const Condition& c, int64_t param);
  base::Result<CompiledCondition> CompileTokenSet(const Condition& c, int64_t param);
  CompiledCondition CompileString(const Condition& c, int64_t param);
  CompiledCondition CompileDate(const Condition& c, int64_t param, const char* low,
                                const char* high);
  CompiledCondition CompileNumber(const Condition& c, int64_t param, bool quantity);
  CompiledCondition CompileUri(const Condition& c, int64_t param);
  CompiledCondition CompileMissing(const Condition& c, int64_t param);
  base::Result<CompiledCondition> CompileUnion(const Condition& c);
  base::Result<CompiledCondition> CompileFilter(const FilterNode& node);
  std::string Check(const CompiledCondition& c, std::vector<BindValue>& binds) const;

  // sqlite_search_references.cpp: references, chains and _has.
  base::Result<CompiledCondition> CompileReference(const Condition& c, int64_t param);
  base::Result<std::vector<int64_t>> ResolveTargets(const Condition& c, const SearchValue& value,
                                                    std::vector<std::string>& urls);
  base::Status FixPartitionByPatient(const Condition& c, const std::vector<int64_t>& pks);
  base::Result<CompiledCondition> CompileHas(const Condition& c);

  std::string PartExpression() const { return spec_.type == "Patient" ? "0" : "r.patient_pk"; }

  SqliteConnection& db_;
  const SqliteNames& names_;
  const SearchSpec& spec_;
  SearchRun& run_;
  const PageGate* gate_;     // null: every match may be on a page
  int64_t known_part_ = -1;  // the partition every match must be in, when a condition fixes it
};

}  // namespace carerecord::store
