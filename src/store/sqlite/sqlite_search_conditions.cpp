// The compilers of single conditions, one per parameter type and special parameter: each turns a
// Condition into SQL over its index table (CompiledCondition), usable as the driver of a search
// or as a per-candidate check. References, chains and _has are in sqlite_search_references.cpp.

#include "fhir/search_text.h"
#include "store/sqlite/sqlite_search_codes.h"
#include "store/sqlite/sqlite_search_compiler.h"

namespace carerecord::store {

using base::ErrorCode;
using base::MakeError;
using fhir::SearchParamType;

base::Result<CompiledCondition> SearchCompiler::Compile(const Condition& c) {
  if (c.special == Condition::Special::kId) return CompileId(c);
  if (c.special == Condition::Special::kLastUpdated) return CompileLastUpdated(c);
  if (c.special == Condition::Special::kHas) return CompileHas(c);
  if (c.special == Condition::Special::kFilter) return CompileFilter(*c.filter);
  if (c.special == Condition::Special::kText || c.special == Condition::Special::kContent) {
    return CompileTextMatch(c);
  }
  const fhir::SearchParamDef& def = *c.param;
  if (!def.union_of.empty()) return CompileUnion(c);
  int64_t param = names_.ParamId(def);
  if (c.modifier == Modifier::kMissing) return CompileMissing(c, param);
  // reference:identifier: Reference.identifier is indexed as a token under the reference
  // parameter's own id (no token parameter shares it).
  if (c.modifier == Modifier::kIdentifier) return CompileToken(c, param);
  // identifier:of-type rows live under the parameter's ":of-type" companion id.
  if (c.modifier == Modifier::kOfType) return CompileToken(c, names_.OfTypeParamId(def));
  switch (def.type) {
    case SearchParamType::kToken:
      return CompileToken(c, param);
    case SearchParamType::kString:
      return CompileString(c, param);
    case SearchParamType::kDate:
      return CompileDate(c, param, "x.low", "x.high");
    case SearchParamType::kNumber:
      return CompileNumber(c, param, false);
    case SearchParamType::kQuantity:
      return CompileNumber(c, param, true);
    case SearchParamType::kReference:
      return CompileReference(c, param);
    case SearchParamType::kUri:
      return CompileUri(c, param);
    case SearchParamType::kComposite:
      return CompileComposite(names_, c, param);
    case SearchParamType::kSpecial:
      if (def.code == "near") return CompileNear(c, param);
      break;
    default:
      break;
  }
  return MakeError(ErrorCode::kNotSupported,
                   "search parameter " + def.code + " of type " +
                       std::string(fhir::SearchParamTypeName(def.type)) + " is not supported",
                   def.code);
}

CompiledCondition SearchCompiler::CompileId(const Condition& c) {
  CompiledCondition out;
  out.has_part_column = false;
  out.rank = 0;
  std::string list;
  for (const SearchValue& v : c.values) {
    if (!list.empty()) list += ",";
    list += "?";
    out.binds.push_back(v.code);
  }
  out.where = (c.modifier == Modifier::kNot ? "r.id NOT IN (" : "r.id IN (") + list + ")";
  return out;
}

CompiledCondition SearchCompiler::CompileLastUpdated(const Condition& c) {
  CompiledCondition out;
  out.has_part_column = false;
  out.rank = 90;
  std::string ors;
  for (const SearchValue& v : c.values) {
    if (!ors.empty()) ors += " OR ";
    ors += DatePredicate(v.prefix, "r.last_updated", "(r.last_updated + 1)", v.low_ms, v.high_ms,
                         out.binds);
  }
  out.where = "(" + ors + ")";
  return out;
}

base::Result<CompiledCondition> SearchCompiler::CompileToken(const Condition& c, int64_t param) {
  if (c.modifier == Modifier::kIn || c.modifier == Modifier::kNotIn ||
      c.modifier == Modifier::kAbove || c.modifier == Modifier::kBelow) {
    return CompileTokenSet(c, param);
  }
  CompiledCondition out;
  if (c.modifier == Modifier::kText) {
    out.table = "idx_string x";
    out.part_leads = true;
    out.rank = 40;
    out.binds.push_back(names_.TextParamId(*c.param));
    std::string ors;
    for (const SearchValue& v : c.values) {
      if (!ors.empty()) ors += " OR ";
      ors += "x.value LIKE ? ESCAPE '\\'";
      out.binds.push_back("%" + EscapeLike(fhir::NormalizeForSearch(v.text)) + "%");
    }
    out.where = "x.param = ? AND (" + ors + ")";
    return out;
  }
  out.table = "idx_token x";
  out.rank = 10;
  out.negated = c.modifier == Modifier::kNot;
  out.binds.push_back(param);
  std::string ors;
  for (const SearchValue& v : c.values) {
    auto predicate = TokenPredicate(names_, v, "x.system_id", "x.code", out.binds);
    if (!predicate) continue;  // a system never seen matches nothing
    if (!ors.empty()) ors += " OR ";
    ors += *predicate;
    if (!v.code_given) out.rank = 60;  // the key starts with code: a system alone scans it
  }
  if (ors.empty()) {
    // "not any of nothing" is every resource; "any of nothing" is none. No placeholder is
    // left for the parameter's bind.
    out.never_matches = !out.negated;
    out.where = "0";
    out.binds.clear();
    return out;
  }
  out.exact_token = !out.negated;
  for (const SearchValue& v : c.values) {
    out.exact_token = out.exact_token && v.code_given && v.system_given && !v.system.empty();
  }
  // Several values, each with a code: the codes as an IN list too (implied by the ORs, so the
  // same matches), which lets SQLite walk the (param, code) key once per code; an OR of
  // (code AND system) terms alone made it walk every row of the parameter.
  bool every_code = c.values.size() > 1;
  for (const SearchValue& v : c.values) every_code = every_code && v.code_given;
  if (every_code) {
    std::vector<BindValue> binds{out.binds.front()};
    std::string list;
    for (const SearchValue& v : c.values) {
      list += list.empty() ? "?" : ",?";
      binds.push_back(v.code);
    }
    binds.insert(binds.end(), out.binds.begin() + 1, out.binds.end());
    out.binds = std::move(binds);
    out.where = "x.param = ? AND x.code IN (" + list + ") AND (" + ors + ")";
    return out;
  }
  out.where = "x.param = ? AND (" + ors + ")";
  return out;
}

// :in, :not-in, :above, :below: a token in the set of codes the FHIR layer expanded.
base::Result<CompiledCondition> SearchCompiler::CompileTokenSet(const Condition& c, int64_t param) {
  auto predicate = CompileTokenSetPredicate(c, names_);
  if (!predicate.ok()) return predicate.error();
  CompiledCondition out;
  out.table = "idx_token x";
  out.negated = c.modifier == Modifier::kNotIn;
  out.rank = predicate->by_system ? 60 : 10;
  if (predicate->where.empty()) {  // nothing stored is in the set; :not-in then holds for all
    out.never_matches = !out.negated;
    out.where = "0";
    return out;
  }
  out.where = "x.param = ? AND " + predicate->where;
  out.binds.push_back(param);
  for (auto& bind : predicate->binds) out.binds.push_back(std::move(bind));
  return out;
}

CompiledCondition SearchCompiler::CompileString(const Condition& c, int64_t param) {
  CompiledCondition out;
  out.table = "idx_string x";
  out.part_leads = true;
  out.rank = spec_.type == "Patient" ? 15 : 30;
  out.binds.push_back(param);
  std::string ors;
  for (const SearchValue& v : c.values) {
    if (!ors.empty()) ors += " OR ";
    std::string normalized = fhir::NormalizeForSearch(v.text);
    if (c.modifier != Modifier::kContains) {  // compared with the prefix the index keeps
      normalized.resize(fhir::IndexedPrefix(normalized).size());
    }
    if (c.modifier == Modifier::kExact) {
      const std::string exact(fhir::IndexedPrefix(v.text));
      ors += "(x.value = ? AND (x.exact = ? OR (x.exact = '' AND x.value = ?)))";
      out.binds.push_back(normalized);
      out.binds.push_back(exact);
      out.binds.push_back(exact);
    } else if (c.modifier == Modifier::kEquals) {
      ors += "x.value = ?";
      out.binds.push_back(normalized);
    } else if (c.modifier == Modifier::kContains) {
      ors += "x.value LIKE ? ESCAPE '\\'";
      out.binds.push_back("%" + EscapeLike(normalized) + "%");
    } else {
      ors += "(x.value >= ? AND x.value < ?)";
      out.binds.push_back(normalized);
      out.binds.push_back(PrefixEnd(normalized));
    }
  }
  out.where = "x.param = ? AND (" + ors + ")";
  return out;
}

CompiledCondition SearchCompiler::CompileDate(const Condition& c, int64_t param, const char* low,
                                              const char* high) {
  CompiledCondition out;
  out.table = "idx_date x";
  out.part_leads = true;
  out.rank = 50;
  out.binds.push_back(param);
  std::string ors;
  // Like every prefix, "ne" is a test of one stored value: a resource matches when any of its
  // dates is outside the range, and a resource without a date does not match.
  for (const SearchValue& v : c.values) {
    if (!ors.empty()) ors += " OR ";
    ors += DatePredicate(v.prefix, low, high, v.low_ms, v.high_ms, out.binds);
  }
  out.where = "x.param = ? AND (" + ors + ")";
  return out;
}

CompiledCondition SearchCompiler::CompileNumber(const Condition& c, int64_t param, bool quantity) {
  CompiledCondition out;
  out.table = quantity ? "idx_quantity x" : "idx_number x";
  out.part_leads = true;
  out.rank = 50;
  out.binds.push_back(param);
  std::string ors;
  for (const SearchValue& v : c.values) {
    if (!ors.empty()) ors += " OR ";
    ors +=
        NumberPredicate(names_, v, "x.value", quantity ? "x.system_id" : "", "x.code", out.binds);
  }
  out.where = "x.param = ? AND (" + ors + ")";
  return out;
}

CompiledCondition SearchCompiler::CompileUri(const Condition& c, int64_t param) {
  CompiledCondition out;
  out.table = "idx_uri x";
  out.rank = 25;
  out.binds.push_back(param);
  std::string ors;
  for (const SearchValue& v : c.values) {
    if (!ors.empty()) ors += " OR ";
    // URIs are stored as ids of the code_system dictionary (they repeat: profiles, sources).
    if (c.modifier == Modifier::kBelow) {
      ors += "x.value_id IN (SELECT id FROM code_system WHERE uri >= ? AND uri < ?)";
      out.binds.push_back(v.text);
      out.binds.push_back(PrefixEnd(v.text));
    } else if (c.modifier == Modifier::kAbove) {
      ors += "x.value_id IN (SELECT id FROM code_system WHERE substr(?, 1, length(uri)) = uri)";
      out.binds.push_back(v.text);
    } else {
      ors += "x.value_id = ?";
      out.binds.push_back(names_.systems.Find(v.text));  // 0, never stored, when unknown
    }
  }
  out.where = "x.param = ? AND (" + ors + ")";
  return out;
}

// A union parameter (combo-code = code | component-code) has no rows of its own: the condition
// holds when it holds for any of its parts, whose conditions share one index table.
base::Result<CompiledCondition> SearchCompiler::CompileUnion(const Condition& c) {
  if (c.modifier == Modifier::kMissing || c.modifier == Modifier::kNot ||
      c.modifier == Modifier::kNotIn) {
    return MakeError(ErrorCode::kNotSupported,
                     ":missing, :not and :not-in are not supported on " + c.param->code + "; use " +
                         c.param->union_of.front()->code + " and its sibling parameters",
                     c.param->code);
  }
  CompiledCondition out;
  bool any = false;
  for (const fhir::SearchParamDef* part : c.param->union_of) {
    Condition one = c;
    one.param = part;
    auto compiled = Compile(one);
    if (!compiled.ok()) return compiled.error();
    if (compiled->never_matches) continue;
    if (!any) {
      out = std::move(compiled).value();
      out.where = "((" + out.where + ")";
      any = true;
      continue;
    }
    out.where += " OR (" + compiled->where + ")";
    out.binds.insert(out.binds.end(), compiled->binds.begin(), compiled->binds.end());
  }
  if (!any) {
    out.never_matches = true;
    out.where = "0";
    out.table = "idx_token x";
    return out;
  }
  out.where += ")";
  return out;
}

// :missing=true holds when the resource has no index row for the parameter. The test is on the
// resource itself, shaped to each table's key: where the key leads with (param, part), a lookup
// within the candidate's own partition, one short range scan; elsewhere (tokens, uris, URL
// references, and Patient, whose rows all share partition 0) the set of resources having the
// parameter is read once, not once per candidate.
CompiledCondition SearchCompiler::CompileMissing(const Condition& c, int64_t param) {
  CompiledCondition out;
  out.table.clear();
  out.has_part_column = false;
  out.rank = 80;
  const char* table = "idx_reference";
  bool part_leads = false;
  switch (c.param->type) {
    case SearchParamType::kToken:
      table = "idx_token";
      break;
    case SearchParamType::kString:
      table = "idx_string";
      part_leads = true;
      break;
    case SearchParamType::kDate:
      table = "idx_date";
      part_leads = true;
      break;
    case SearchParamType::kNumber:
      table = "idx_number";
      part_leads = true;
      break;
    case SearchParamType::kQuantity:
      table = "idx_quantity";
      part_leads = true;
      break;
    case SearchParamType::kUri:
      table = "idx_uri";
      break;
    case SearchParamType::kComposite:
    case SearchParamType::kSpecial:  // Location near: its positions are composite rows
      table = "idx_composite";
      break;
    default:
      break;
  }
  std::string present;
  if (c.param->type == SearchParamType::kReference) {
    // A reference may be indexed as a URL instead; present means either. Neither table is
    // keyed by source, so the set of sources with the parameter is read once.
    present =
        "(r.pk IN (SELECT x.pk FROM idx_reference x WHERE x.param = ?) OR "
        "r.pk IN (SELECT x.pk FROM idx_reference_url x WHERE x.param = ?))";
    out.binds.push_back(param);
  } else if (part_leads && spec_.type != "Patient" &&
             !fhir::PatientCompartmentParams(spec_.type).empty()) {
    present = std::string("EXISTS (SELECT 1 FROM ") + table +
              " x WHERE x.param = ? AND x.part = r.patient_pk AND x.pk = r.pk)";
  } else {
    present = std::string("r.pk IN (SELECT x.pk FROM ") + table + " x WHERE x.param = ?" +
              (part_leads ? " AND x.part = 0)" : ")");
  }
  out.binds.push_back(param);
  out.where = c.missing ? "NOT " + present : present;
  return out;
}

// A condition as a test of the candidate r: EXISTS on its index rows within r's partition (NOT
// EXISTS when negated), r.pk in the set it holds for (check_as_set), or its own predicate on r.
// Its binds are appended to `binds`.
std::string SearchCompiler::Check(const CompiledCondition& c, std::vector<BindValue>& binds) const {
  binds.insert(binds.end(), c.binds.begin(), c.binds.end());
  if (c.table.empty()) return c.where;
  if (c.check_as_set) {
    return std::string(c.negated ? "r.pk NOT IN" : "r.pk IN") + " (SELECT x.pk FROM " + c.table +
           " WHERE " + c.where + ")";
  }
  std::string sql = c.negated ? "NOT EXISTS (SELECT 1 FROM " : "EXISTS (SELECT 1 FROM ";
  sql += c.table + " WHERE " + c.where;
  if (c.has_part_column && (c.part_leads || PartFollowsKey(c))) {
    sql += " AND x.part = " + PartExpression();
  }
  return sql + " AND x.pk = r.pk)";
}

// _filter's or / not: the tree as one boolean test of r, each condition a Check.
base::Result<CompiledCondition> SearchCompiler::CompileFilter(const FilterNode& node) {
  CompiledCondition out;
  out.has_part_column = false;
  out.rank = 98;
  if (node.kind == FilterNode::Kind::kCondition) {
    // A patient inside an or / not does not fix the partition of every match.
    const int64_t known_part = known_part_;
    auto c = Compile(node.condition.front());
    known_part_ = known_part;
    if (!c.ok()) return c.error();
    out.where = c->never_matches && !c->negated ? "0" : "(" + Check(*c, out.binds) + ")";
    return out;
  }
  std::vector<std::string> parts;
  for (const FilterNode& child : node.children) {
    auto part = CompileFilter(child);
    if (!part.ok()) return part.error();
    parts.push_back(part->where);
    out.binds.insert(out.binds.end(), part->binds.begin(), part->binds.end());
  }
  if (node.kind == FilterNode::Kind::kNot) {
    out.where = "(NOT " + parts.front() + ")";
    return out;
  }
  const char* joint = node.kind == FilterNode::Kind::kAnd ? " AND " : " OR ";
  out.where = "(";
  for (size_t i = 0; i < parts.size(); ++i) out.where += (i ? joint : "") + parts[i];
  out.where += ")";
  return out;
}

}  // namespace carerecord::store
