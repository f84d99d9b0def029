// Value predicates shared by the search compilers, and the compiler of composite parameters
// (Observation?code-value-quantity=http://loinc.org|8480-6$gt140), whose rows are idx_composite's.
#include <cmath>
#include <cstdlib>

#include "fhir/fhir_date.h"
#include "fhir/search_text.h"
#include "store/sqlite/sqlite_search_internal.h"

namespace carerecord::store {

using base::ErrorCode;
using base::MakeError;
using fhir::SearchParamType;

std::string PrefixEnd(std::string prefix) {
  prefix.push_back('\xff');
  return prefix;
}

std::string EscapeLike(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Binds are appended by separate statements, because the operands of an overloaded `+` chain
// are not sequenced and would bind in any order.
std::string DatePredicate(Prefix prefix, std::string_view low, std::string_view high, int64_t vl,
                          int64_t vh, std::vector<BindValue>& binds) {
  std::string lo(low), hi(high);
  std::string sql;
  auto add = [&](std::string_view fragment, int64_t value) {
    sql += fragment;
    sql += "?";
    binds.emplace_back(std::in_place_type<int64_t>, value);
  };
  // The stored range lies within the searched one.
  auto inside = [&] {
    add("(" + lo + " >= ", vl);
    add(" AND " + hi + " <= ", vh);
    sql += ")";
  };
  switch (prefix) {
    case Prefix::kEq:
      inside();
      break;
    case Prefix::kNe:
      sql += "NOT ";
      inside();
      break;
    case Prefix::kGt:
      add("(" + hi + " > ", vh);
      sql += ")";
      break;
    case Prefix::kLt:
      add("(" + lo + " < ", vl);
      sql += ")";
      break;
    case Prefix::kGe:
      add("(" + hi + " > ", vh);
      sql += " OR ";
      inside();
      sql += ")";
      break;
    case Prefix::kLe:
      add("(" + lo + " < ", vl);
      sql += " OR ";
      inside();
      sql += ")";
      break;
    case Prefix::kSa:
      add("(" + lo + " >= ", vh);
      sql += ")";
      break;
    case Prefix::kEb:
      add("(" + hi + " <= ", vl);
      sql += ")";
      break;
    case Prefix::kAp: {
      int64_t now = fhir::NowMs();
      int64_t spread = std::max<int64_t>(std::llabs(now - vl) / 10, 86400000);
      add("(" + hi + " > ", vl - spread);
      add(" AND " + lo + " < ", vh + spread);
      sql += ")";
      break;
    }
  }
  return sql;
}

std::optional<std::string> TokenPredicate(const SqliteNames& names, const SearchValue& v,
                                          std::string_view system_column,
                                          std::string_view code_column,
                                          std::vector<BindValue>& binds) {
  int64_t system_id = 0;
  if (v.system_given && !v.system.empty()) {
    system_id = names.systems.Find(v.system);
    if (!system_id) return std::nullopt;
  }
  const std::string system(system_column), code(code_column);
  if (v.code_given && v.system_given) {
    binds.push_back(v.code);
    binds.push_back(system_id);
    return "(" + code + " = ? AND " + system + " = ?)";
  }
  if (v.code_given) {
    binds.push_back(v.code);
    return code + " = ?";
  }
  binds.push_back(system_id);
  return system + " = ?";
}

std::string NumberPredicate(const SqliteNames& names, const SearchValue& v,
                            std::string_view value_column, std::string_view system_column,
                            std::string_view code_column, std::vector<BindValue>& binds) {
  const std::string x(value_column);
  std::string p;
  switch (v.prefix) {
    case Prefix::kEq:
      p = "(" + x + " >= ? AND " + x + " < ?)";
      binds.push_back(v.number_low);
      binds.push_back(v.number_high);
      break;
    case Prefix::kNe:  // a value outside the range: like every prefix, a test of one value
      p = "NOT (" + x + " >= ? AND " + x + " < ?)";
      binds.push_back(v.number_low);
      binds.push_back(v.number_high);
      break;
    case Prefix::kGt:
    case Prefix::kSa:
      p = x + " > ?";
      binds.push_back(v.number);
      break;
    case Prefix::kLt:
    case Prefix::kEb:
      p = x + " < ?";
      binds.push_back(v.number);
      break;
    case Prefix::kGe:
      p = x + " >= ?";
      binds.push_back(v.number);
      break;
    case Prefix::kLe:
      p = x + " <= ?";
      binds.push_back(v.number);
      break;
    case Prefix::kAp: {
      double spread = std::fabs(v.number) * 0.1;
      p = "(" + x + " >= ? AND " + x + " <= ?)";
      binds.push_back(v.number - spread);
      binds.push_back(v.number + spread);
      break;
    }
  }
  if (system_column.empty() || v.code.empty()) return p;
  const std::string system(system_column), code(code_column);
  if (!v.system_given) {
    binds.push_back(v.code);
    return "(" + p + " AND " + code + " = ?)";
  }
  const int64_t system_id = names.systems.Find(v.system);
  // A system never stored matches nothing; its 0 would mean "no system", the bare units.
  if (!system_id) return "(0 AND " + p + ")";
  binds.push_back(system_id);
  binds.push_back(v.code);
  return "(" + p + " AND " + system + " = ? AND " + code + " = ?)";
}

namespace {

// The first component: a token on (key_system, key), or a reference on key ("Type/id" or URL).
std::optional<std::string> KeyPredicate(const fhir::SearchParamDef& def, const SqliteNames& names,
                                        const SearchValue& v, std::vector<BindValue>& binds) {
  if (def.type == SearchParamType::kToken) {
    return TokenPredicate(names, v, "x.key_system", "x.key", binds);
  }
  std::vector<std::string> keys;
  if (!v.target_type.empty()) {
    keys.push_back(v.target_type + "/" + v.target_id);
  } else if (v.target_id.find(':') != std::string::npos) {
    keys.push_back(v.target_id);  // an absolute URL
  } else {
    for (const std::string& type : def.targets) keys.push_back(type + "/" + v.target_id);
  }
  if (keys.empty()) return std::nullopt;
  std::string list;
  for (std::string& key : keys) {
    list += list.empty() ? "?" : ",?";
    binds.push_back(std::move(key));
  }
  return "x.key IN (" + list + ")";
}

// The second (index 1, on the v_ columns) or third (index 2, on w_) component.
base::Result<std::optional<std::string>> ValuePredicate(const fhir::SearchParamDef& def,
                                                        size_t index, const SqliteNames& names,
                                                        const SearchValue& v,
                                                        std::vector<BindValue>& binds) {
  const char* low = index == 1 ? "x.v_low" : "x.w_low";
  const char* high = index == 1 ? "x.v_high" : "x.w_high";
  const bool second = index == 1;
  switch (def.type) {
    case SearchParamType::kToken:
      if (second) return TokenPredicate(names, v, "x.v_system", "x.v_code", binds);
      break;
    case SearchParamType::kQuantity:
      if (second) return {NumberPredicate(names, v, low, "x.v_system", "x.v_code", binds)};
      break;
    case SearchParamType::kNumber:
      return {NumberPredicate(names, v, low, "", "", binds)};
    case SearchParamType::kDate:
      return {DatePredicate(v.prefix, low, high, v.low_ms, v.high_ms, binds)};
    case SearchParamType::kString:
      if (second) {
        std::string normalized(fhir::IndexedPrefix(fhir::NormalizeForSearch(v.text)));
        binds.push_back(normalized);
        binds.push_back(PrefixEnd(std::move(normalized)));
        return {"(x.v_code >= ? AND x.v_code < ?)"};
      }
      break;
    default:
      break;
  }
  return MakeError(ErrorCode::kNotSupported,
                   "a " + std::string(fhir::SearchParamTypeName(def.type)) +
                       " component in this position is not supported",
                   def.code);
}

}  // namespace

base::Result<CompiledCondition> CompileComposite(const SqliteNames& names, const Condition& c,
                                                 int64_t param) {
  const std::vector<const fhir::SearchParamDef*>& components = c.param->components;
  CompiledCondition out;
  out.table = "idx_composite x";
  out.rank = 10;  // like a token: the key leads with the first component's code
  out.binds.push_back(param);
  std::string ors;
  for (const SearchValue& v : c.values) {
    if (v.components.size() != components.size()) {
      return MakeError(ErrorCode::kInvalid,
                       c.param->code + " takes " + std::to_string(components.size()) +
                           " values separated by '$'",
                       c.param->code);
    }
    std::vector<BindValue> binds;
    auto key = KeyPredicate(*components[0], names, v.components[0], binds);
    if (!key) continue;  // names a system never stored
    std::string predicate = "(" + *key;
    bool possible = true;
    for (size_t i = 1; i < components.size() && possible; ++i) {
      auto part = ValuePredicate(*components[i], i, names, v.components[i], binds);
      if (!part.ok()) return part.error();
      possible = part->has_value();
      if (possible) predicate += " AND " + **part;
    }
    if (!possible) continue;
    if (!ors.empty()) ors += " OR ";
    ors += predicate + ")";
    out.binds.insert(out.binds.end(), binds.begin(), binds.end());
  }
  if (ors.empty()) {
    out.never_matches = true;
    out.where = "0";
    out.binds.clear();
    return out;
  }
  out.where = "x.param = ? AND (" + ors + ")";
  return out;
}

}  // namespace carerecord::store
