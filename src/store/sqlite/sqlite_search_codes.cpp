#include "store/sqlite/sqlite_search_codes.h"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

namespace carerecord::store {

namespace json = boost::json;

base::Result<TokenSetPredicate> CompileTokenSetPredicate(const Condition& condition,
                                                         const SqliteNames& names) {
  TokenSet all;
  for (const SearchValue& value : condition.values) {
    if (!value.codes) {
      return base::MakeError(
          base::ErrorCode::kInternal,
          "the codes of " + condition.param->code + " were not expanded before the search",
          condition.param->code);
    }
    all.UnionWith(*value.codes);
  }
  // The codes go in as one JSON array bound once per use, not a placeholder each: an expansion
  // may hold thousands, beyond what one statement may bind.
  json::array pairs;
  for (const auto& [system, code] : all.codes) {
    int64_t system_id = names.systems.Find(system);
    if (system_id) pairs.push_back(json::array{system_id, json::string(code)});
  }
  TokenSetPredicate out;
  if (!pairs.empty()) {
    // The first test lets the (param, code, ...) key find the rows; the second keeps the pairs.
    out.where =
        "(x.code IN (SELECT value ->> 1 FROM json_each(?)) AND "
        "(x.system_id, x.code) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?)))";
    std::string text = json::serialize(pairs);
    out.binds.emplace_back(text);
    out.binds.emplace_back(text);
  }
  for (const auto& [system, except] : all.whole_systems) {
    int64_t system_id = names.systems.Find(system);
    if (!system_id) continue;  // a system never stored: none of its codes is in the index
    json::array codes;
    for (const std::string& code : except) codes.push_back(json::string(code));
    if (!out.where.empty()) out.where += " OR ";
    out.where += "(x.system_id = ? AND x.code NOT IN (SELECT value FROM json_each(?)))";
    out.binds.emplace_back(system_id);
    out.binds.emplace_back(std::string(json::serialize(codes)));
    out.by_system = true;
  }
  if (!out.where.empty()) out.where = "(" + out.where + ")";
  return out;
}

}  // namespace carerecord::store
