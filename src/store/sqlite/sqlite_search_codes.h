// The SQL for the token modifiers that search by a set of codes (:in, :not-in, :above, :below):
// a predicate over idx_token rows built from the condition's expanded TokenSets. Called by the
// search compiler (sqlite_search.cpp); internal to src/store/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "store/sqlite/sqlite_search_internal.h"

namespace carerecord::store {

struct TokenSetPredicate {
  // Over idx_token x, without the parameter; empty when no stored token can be in the set.
  std::string where;
  std::vector<BindValue> binds;
  bool by_system = false;  // a whole system is in the set: the code prefix of the key is no help
};

// The union of the TokenSets of `condition`'s values. Fails when a value was not expanded.
base::Result<TokenSetPredicate> CompileTokenSetPredicate(const Condition& condition,
                                                         const SqliteNames& names);

}  // namespace carerecord::store
