// _has (reverse chaining) on the SQLite store: the resources that the matches of a search on a
// referring type point at. Called by the search compiler (sqlite_search.cpp); internal to
// src/store/.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "store/sqlite/sqlite_search_budget.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {

// The pks, sorted and distinct, of the current `target_type` resources that the matches of
// `inner` refer to by `reference` (a reference parameter of inner.type). The inner search is
// charged to `run`.
base::Result<std::vector<int64_t>> ReverseChainTargets(
    SqliteConnection& db, const SqliteNames& names, const fhir::SearchParamDef& reference,
    const SearchSpec& inner, std::string_view target_type, SearchRun& run);

}  // namespace carerecord::store
