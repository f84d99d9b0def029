// The pieces of SQLite search compilation shared by sqlite_search.cpp and the compilers of
// particular parameter types (sqlite_search_values.cpp and others): one condition's SQL, the
// value predicates, and binding values, which the index-row writer uses too. Internal to
// src/store/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/search_spec.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {

class BodyCodec;

using BindValue = std::variant<int64_t, double, std::string>;

// Binds `begin..end` to the statement's placeholders 1, 2, ... in order.
void BindValues(SqliteStatement& stmt, const BindValue* begin, const BindValue* end);

// One condition translated to SQL over its index table, usable as a driver (a set of pks) or as
// a per-candidate check.
struct CompiledCondition {
  std::string table;  // "idx_token x" ...; empty for conditions on resource r itself
  std::string where;  // predicate over x (or r), with ? placeholders
  std::vector<BindValue> binds;
  bool has_part_column = true;
  bool negated = false;     // :not, :missing=true, ne: the check is NOT EXISTS
  bool part_leads = false;  // the table's key is (param, part, ...): needs part to be selective
  int rank = 100;           // lower drives first
  bool never_matches = false;
  // As a check, r.pk is tested against the set of pks the condition holds for, read once (for
  // a condition over many values, such as a chain's thousands of targets), not by an EXISTS
  // per candidate, which would walk every value for each.
  bool check_as_set = false;
  // Every value names a system and a code (`identifier=s|v`): the (param, code) key gives a
  // few rows, so it drives even a commit check of what was written since a snapshot.
  bool exact_token = false;
};

// The exclusive upper bound of all strings that start with `prefix` (byte order).
std::string PrefixEnd(std::string prefix);
std::string EscapeLike(std::string_view text);

// A predicate on a stored range [low, high) against the searched range [vl, vh). Binds are
// appended in placeholder order.
std::string DatePredicate(Prefix prefix, std::string_view low, std::string_view high, int64_t vl,
                          int64_t vh, std::vector<BindValue>& binds);

// A token value (system|code, |code, code, system|) on the given columns; nullopt when the
// value names a system never stored, which nothing can match.
std::optional<std::string> TokenPredicate(const SqliteNames& names, const SearchValue& v,
                                          std::string_view system_column,
                                          std::string_view code_column,
                                          std::vector<BindValue>& binds);

// A number or quantity value with its prefix, on `value_column`; for a quantity, its unit on
// the system and code columns (empty `system_column`: a number).
std::string NumberPredicate(const SqliteNames& names, const SearchValue& v,
                            std::string_view value_column, std::string_view system_column,
                            std::string_view code_column, std::vector<BindValue>& binds);

// _text / _content: a check of each candidate's current body through the cr_text_match SQL
// function (RegisterTextMatch), never a driver.
CompiledCondition CompileTextMatch(const Condition& c);

// The bodies one statement's cr_text_match reads at most; past them it fails with a message
// holding kTextMatchTooMany, which the search turns into a 400.
inline constexpr int kMaxTextMatchBodies = 20000;
inline constexpr const char* kTextMatchTooMany = "cr_text_match: too many bodies";

// Registers the store's SQL functions on `db`: cr_text_match(body, mode, query), 1 when the
// encoded stored body's narrative (mode 0) or whole text (mode 1) has every word of the query;
// cr_distance_km(lat1, long1, lat2, long2), the great-circle distance.
base::Status RegisterSqlFunctions(SqliteConnection& db, const BodyCodec& codec);

// Location near: positions (idx_composite rows: latitude in v_low, longitude in w_low) within
// the distance, found by a latitude/longitude box, then the exact distance.
CompiledCondition CompileNear(const Condition& c, int64_t param);

// A composite parameter's condition on idx_composite.
base::Result<CompiledCondition> CompileComposite(const SqliteNames& names, const Condition& c,
                                                 int64_t param);

}  // namespace carerecord::store
