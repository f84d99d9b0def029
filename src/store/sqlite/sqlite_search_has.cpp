#include "store/sqlite/sqlite_search_has.h"

#include <algorithm>

namespace carerecord::store {

base::Result<std::vector<int64_t>> ReverseChainTargets(
    SqliteConnection& db, const SqliteNames& names, const fhir::SearchParamDef& reference,
    const SearchSpec& inner, std::string_view target_type, SearchRun& run) {
  auto matches = InnerSearchPks(db, names, inner, "_has:" + inner.type + ":" + reference.code, run);
  if (!matches.ok()) return matches.error();
  // The reference index is keyed by target, not by source, so the matches' own references are
  // read from their bodies, as a forward _include does.
  IncludeSpec include;
  include.source_type = inner.type;
  include.param = &reference;
  include.target_type = std::string(target_type);
  auto targets = ForwardTargets(db, names, include, names.types.Find(inner.type), *matches);
  if (!targets.ok()) return targets.error();
  std::vector<int64_t> out = std::move(targets).value();
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace carerecord::store
