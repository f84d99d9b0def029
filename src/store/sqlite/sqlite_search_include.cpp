// _include and _revinclude on the SQLite store: forward includes read the references out of the
// page's own bodies (the reference index is keyed by target); reverse ones look the page's pks
// up in that index. Rounds after the first follow only :iterate includes.

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <set>

#include "fhir/index_extraction.h"
#include "store/sqlite/sqlite_search_compiler.h"

namespace carerecord::store {

// The targets of `include` (a forward _include) among `from`, read from the resources' own
// references: the reference index is keyed by target, and a second index by source would cost
// more space than re-reading a page of bodies costs time.
base::Result<std::vector<int64_t>> ForwardTargets(SqliteConnection& db, const SqliteNames& names,
                                                  const IncludeSpec& include, int64_t source_type,
                                                  const std::vector<int64_t>& from) {
  std::vector<int64_t> out;
  auto stmt = db.Cached(
      "SELECT v.body FROM resource r JOIN version v ON v.vid = r.vid "
      "WHERE r.pk = ? AND r.type_id = ? AND r.deleted = 0");
  if (!stmt.ok()) return stmt.error();
  for (int64_t pk : from) {
    (*stmt)->Bind(1, pk).Bind(2, source_type);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) {
      (*stmt)->Reset();
      continue;
    }
    auto parsed = names.codec->DecodeObject((*stmt)->Blob(0));
    (*stmt)->Reset();
    if (!parsed.ok()) return parsed.error();
    fhir::IndexEntries entries = fhir::ExtractIndexEntries(*parsed, include.source_type);
    for (const fhir::ReferenceEntry& ref : entries.references) {
      if (include.param && ref.param_id != include.param->id) continue;
      if (ref.target_type.empty()) continue;  // another server's, or a canonical URL
      if (!include.target_type.empty() && ref.target_type != include.target_type) continue;
      auto target = FindPk(db, names, ref.target_type, ref.target_id);
      if (!target.ok()) return target.error();
      if (target.value()) out.push_back(target.value());
    }
  }
  return out;
}

namespace {

// The parameter ids a reverse include follows: the one named, or for "*" every reference
// parameter of the source type, so the lookup stays on the (param, target_pk) key rather than
// scanning the whole reference index.
std::string ReverseIncludeParams(const SqliteNames& names, const IncludeSpec& include) {
  if (include.param) return std::to_string(names.ParamId(*include.param));
  std::string out;
  for (const fhir::SearchParamDef* def : fhir::SearchParamsOf(include.source_type)) {
    if (def->type != fhir::SearchParamType::kReference || !def->indexed) continue;
    if (!def->union_of.empty()) continue;  // no rows of its own
    out += (out.empty() ? "" : ",") + std::to_string(names.ParamId(*def));
  }
  return out;
}

// The distinct resources of include.source_type that refer to any of `targets`, at most `limit`.
base::Result<std::vector<int64_t>> ReverseSources(SqliteConnection& db, const SqliteNames& names,
                                                  const IncludeSpec& include,
                                                  const std::vector<int64_t>& targets,
                                                  size_t limit) {
  std::vector<int64_t> out;
  const std::string params = ReverseIncludeParams(names, include);
  if (params.empty()) return out;
  boost::json::array array;
  for (int64_t pk : targets) array.push_back(pk);
  auto stmt = db.Prepare(
      "SELECT DISTINCT x.pk FROM idx_reference x JOIN resource s ON s.pk = x.pk "
      "WHERE x.param IN (" +
      params + ") AND x.target_pk IN (SELECT value FROM json_each(?)) AND s.type_id = ? LIMIT ?");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, std::string_view(boost::json::serialize(array)))
      .Bind(2, names.types.Find(include.source_type))
      .Bind(3, static_cast<int64_t>(limit));
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    out.push_back(stmt->Int(0));
  }
  return out;
}

}  // namespace

base::Result<std::vector<int64_t>> IncludePks(SqliteConnection& db, const SqliteNames& names,
                                              const SearchSpec& spec,
                                              const std::vector<int64_t>& from, SearchRun& run,
                                              const PkFilter& iterate_from) {
  std::set<int64_t> seen(from.begin(), from.end());
  std::vector<int64_t> result;
  std::vector<int64_t> frontier = from;
  const size_t max_included = run.budget().max_included;
  // The first round applies every include; later rounds only the :iterate ones, to a fixpoint.
  for (int round = 0; round < 4 && !frontier.empty(); ++round) {
    std::vector<int64_t> found;
    for (const IncludeSpec& include : spec.includes) {
      if (round > 0 && !include.iterate) continue;
      // One more new resource than the budget allows is enough to tell that it is exceeded;
      // of distinct sources, at most seen.size() are not new.
      const size_t room = max_included + 1 - std::min(max_included, result.size() + found.size());
      auto reached =
          include.reverse
              ? ReverseSources(db, names, include, frontier, room + seen.size())
              : ForwardTargets(db, names, include, names.types.Find(include.source_type), frontier);
      if (!reached.ok()) return reached.error();
      for (int64_t pk : reached.value()) {
        if (seen.insert(pk).second) found.push_back(pk);
      }
      CR_RETURN_IF_ERROR(run.CheckIncluded(result.size() + found.size()));
    }
    result.insert(result.end(), found.begin(), found.end());
    frontier.clear();
    for (int64_t pk : found) {
      if (!iterate_from) {
        frontier.push_back(pk);
        continue;
      }
      auto permitted = iterate_from(pk);
      if (!permitted.ok()) return permitted.error();
      if (*permitted) frontier.push_back(pk);
    }
  }
  return result;
}

}  // namespace carerecord::store
