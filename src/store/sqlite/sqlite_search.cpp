// Search on the SQLite store: each condition becomes a query on its index table. The most
// selective condition drives (its pks feed a rowid IN-list, walked in pk order); the others are
// checked per candidate with EXISTS on an index prefix that includes the candidate's partition,
// so a search within one patient stays a few range scans however many patients there are.

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <variant>

#include "fhir/fhir_date.h"
#include "fhir/index_extraction.h"
#include "fhir/search_text.h"
#include "store/sqlite/sqlite_search_codes.h"
#include "store/sqlite/sqlite_search_has.h"
#include "store/sqlite/sqlite_search_internal.h"

namespace carerecord::store {
namespace {

using base::ErrorCode;
using base::MakeError;
using fhir::SearchParamType;

struct Sql {
  std::string text;
  std::vector<BindValue> binds;
  void Add(std::string_view fragment) { text += fragment; }
  void Bind(BindValue value) { binds.push_back(std::move(value)); }
};

void BindAll(SqliteStatement& stmt, const std::vector<BindValue>& binds) {
  BindValues(stmt, binds.data(), binds.data() + binds.size());
}

std::string InList(const std::vector<int64_t>& pks);

// A failure while the matches are read: the text match's refusal to read more bodies is the
// client's search to narrow (400); anything else is the store's.
base::Error StepError(base::Error error) {
  if (error.message.find(kTextMatchTooMany) != std::string::npos) {
    return MakeError(ErrorCode::kInvalid,
                     "_text and _content would read more than " +
                         std::to_string(kMaxTextMatchBodies) +
                         " resources: narrow the search (e.g. by patient)",
                     "_content");
  }
  return error;
}

// Tables keyed (param, code or key, part, ...): the partition narrows them once the code is
// given, so a known patient is added to their lookups as to those keyed (param, part, ...).
bool PartFollowsKey(const CompiledCondition& c) {
  return c.table == "idx_token x" || c.table == "idx_composite x";
}

class SearchCompiler {
 public:
  SearchCompiler(SqliteConnection& db, const SqliteNames& names, const SearchSpec& spec)
      : db_(db), names_(names), spec_(spec) {}

  base::Result<PkPage> Run();

 private:
  base::Result<CompiledCondition> Compile(const Condition& condition);
  base::Result<CompiledCondition> CompileToken(const Condition& c, int64_t param);
  base::Result<CompiledCondition> CompileTokenSet(const Condition& c, int64_t param);
  CompiledCondition CompileString(const Condition& c, int64_t param);
  CompiledCondition CompileDate(const Condition& c, int64_t param, const char* low,
                                const char* high);
  CompiledCondition CompileNumber(const Condition& c, int64_t param, bool quantity);
  base::Result<CompiledCondition> CompileReference(const Condition& c, int64_t param);
  CompiledCondition CompileUri(const Condition& c, int64_t param);
  CompiledCondition CompileMissing(const Condition& c, int64_t param);
  base::Result<CompiledCondition> CompileUnion(const Condition& c);
  base::Result<CompiledCondition> CompileHas(const Condition& c);
  base::Result<CompiledCondition> CompileFilter(const FilterNode& node);
  std::string Check(const CompiledCondition& c, std::vector<BindValue>& binds) const;
  base::Result<std::vector<int64_t>> ResolveTargets(const Condition& c, const SearchValue& value,
                                                    std::vector<std::string>& urls);
  std::string PartExpression() const { return spec_.type == "Patient" ? "0" : "r.patient_pk"; }
  base::Result<std::vector<std::string>> SortKeys(const std::vector<int64_t>& pks);

  SqliteConnection& db_;
  const SqliteNames& names_;
  const SearchSpec& spec_;
  int64_t known_part_ = -1;  // the partition every match must be in, when a condition fixes it
};

base::Result<CompiledCondition> SearchCompiler::Compile(const Condition& c) {
  if (c.special == Condition::Special::kId) {
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
  if (c.special == Condition::Special::kLastUpdated) {
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
    if (c.modifier == Modifier::kExact) {
      ors += "(x.value = ? AND (x.exact = ? OR (x.exact = '' AND x.value = ?)))";
      out.binds.push_back(normalized);
      out.binds.push_back(v.text);
      out.binds.push_back(v.text);
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

base::Result<std::vector<int64_t>> SearchCompiler::ResolveTargets(const Condition& c,
                                                                  const SearchValue& v,
                                                                  std::vector<std::string>& urls) {
  std::vector<int64_t> pks;
  if (v.chain) return InnerSearchPks(db_, names_, *v.chain, c.param->code);
  std::vector<std::string> types;
  if (!v.target_type.empty()) {
    types.push_back(v.target_type);
  } else if (v.target_id.find(':') == std::string::npos) {
    types = c.param->targets;
  }
  for (const std::string& type : types) {
    auto pk = FindPk(db_, names_, type, v.target_id);
    if (!pk.ok()) return pk.error();
    if (pk.value()) pks.push_back(pk.value());
    urls.push_back(type + "/" + v.target_id);
  }
  if (types.empty()) urls.push_back(v.target_id);  // an absolute URL or canonical
  return pks;
}

base::Result<CompiledCondition> SearchCompiler::CompileReference(const Condition& c,
                                                                 int64_t param) {
  CompiledCondition out;
  out.rank = 20;
  std::vector<int64_t> pks;
  std::vector<std::string> urls;
  for (const SearchValue& v : c.values) {
    auto found = ResolveTargets(c, v, urls);
    if (!found.ok()) return found.error();
    pks.insert(pks.end(), found->begin(), found->end());
  }
  // A large set is one bound JSON array, however many targets a chain or _has found: one SQL
  // variable per target ran out of variables (a 500) on large inner matches. A small one keeps
  // a variable per value, which the planner reads as a plain IN list (the patient=X hot path).
  std::string pk_list, url_list;
  std::vector<BindValue> pk_binds, url_binds;
  constexpr size_t kMaxInlineTargets = 256;
  if (pks.size() + urls.size() > kMaxInlineTargets) {
    boost::json::array pk_array, url_array;
    for (int64_t pk : pks) pk_array.push_back(pk);
    for (const std::string& url : urls) url_array.push_back(boost::json::string(url));
    pk_list = url_list = "SELECT value FROM json_each(?)";
    pk_binds.push_back(boost::json::serialize(pk_array));
    url_binds.push_back(boost::json::serialize(url_array));
  } else {
    for (int64_t pk : pks) {
      pk_list += pk_list.empty() ? "?" : ",?";
      pk_binds.push_back(pk);
    }
    for (const std::string& url : urls) {
      url_list += url_list.empty() ? "?" : ",?";
      url_binds.push_back(url);
    }
  }
  if (pks.empty() && urls.empty()) {
    out.never_matches = true;
    out.where = "0";
    out.table = "idx_reference x";
    return out;
  }
  // Local targets live in idx_reference, anything else in idx_reference_url; a condition that
  // needs both is a UNION, which only works as a driver-style IN list.
  if (!pks.empty() && (urls.empty() || pks.size() == urls.size())) {
    out.table = "idx_reference x";
    out.where = "x.param = ? AND x.target_pk IN (" + pk_list + ")";
    out.binds.push_back(param);
    out.binds.insert(out.binds.end(), pk_binds.begin(), pk_binds.end());
  } else if (pks.empty()) {
    out.table = "idx_reference_url x";
    out.where = "x.param = ? AND x.url IN (" + url_list + ")";
    out.binds.push_back(param);
    out.binds.insert(out.binds.end(), url_binds.begin(), url_binds.end());
  } else {
    out.table = "";
    out.has_part_column = false;
    out.where = "(r.pk IN (SELECT pk FROM idx_reference WHERE param = ? AND target_pk IN (" +
                pk_list +
                ")) OR r.pk IN (SELECT pk FROM idx_reference_url WHERE param = ? AND "
                "url IN (" +
                url_list + ")))";
    out.binds.push_back(param);
    out.binds.insert(out.binds.end(), pk_binds.begin(), pk_binds.end());
    out.binds.push_back(param);
    out.binds.insert(out.binds.end(), url_binds.begin(), url_binds.end());
  }
  // A patient's own reference fixes the partition of every match (see sqlite_schema.h), but
  // only where the partition was taken from that element: the writer takes it from the
  // compartment's `patient` or `subject` when the type has one. Elsewhere (Coverage, whose
  // `patient` is the beneficiary while the partition is the policy holder; Appointment) a
  // match may sit in another patient's partition.
  auto compartment = fhir::PatientCompartmentParams(spec_.type);
  bool partitioned_by_it =
      std::find(compartment.begin(), compartment.end(), "patient") != compartment.end() ||
      std::find(compartment.begin(), compartment.end(), "subject") != compartment.end();
  // And only when the parameter holds one value: a Provenance or AuditEvent naming two patients
  // sits in the first one's partition only.
  if (!c.values.empty() && pks.size() == 1 && !c.values[0].chain && partitioned_by_it &&
      c.param->single_valued && (c.param->code == "patient" || c.param->code == "subject") &&
      spec_.type != "Patient") {
    int64_t patient_type = names_.patient_type_id;
    auto stmt = db_.Cached("SELECT type_id FROM resource WHERE pk = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, pks[0]);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (row.value() && (*stmt)->Int(0) == patient_type) known_part_ = pks[0];
    (*stmt)->Reset();
  }
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

// _has: the inner search's matches name the matching resources; their pks drive as a rowid list.
base::Result<CompiledCondition> SearchCompiler::CompileHas(const Condition& c) {
  auto targets = ReverseChainTargets(db_, names_, *c.param, *c.values.at(0).chain, spec_.type);
  if (!targets.ok()) return targets.error();
  CompiledCondition out;
  out.has_part_column = false;
  out.rank = 0;
  out.never_matches = targets->empty();
  out.where = out.never_matches ? "0" : "r.pk IN (" + InList(targets.value()) + ")";
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

// An order-preserving byte encoding of sort keys: comparing encoded strings compares the keys.
void EncodeInt(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}
uint64_t OrderedDouble(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return (bits & (uint64_t{1} << 63)) ? ~bits : bits | (uint64_t{1} << 63);
}

std::string ToHex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}
std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

base::Result<std::vector<std::string>> SearchCompiler::SortKeys(const std::vector<int64_t>& pks) {
  std::vector<std::string> keys(pks.size());
  for (const SortKey& sort : spec_.sort) {
    std::string sql;
    bool text = false;
    if (sort.special == SortKey::Special::kId) {
      sql = "SELECT id FROM resource WHERE pk = ?1";
      text = true;
    } else if (sort.special == SortKey::Special::kLastUpdated) {
      sql = "SELECT last_updated FROM resource WHERE pk = ?1";
    } else {
      const char* agg = sort.descending ? "max" : "min";
      // Rows of a union parameter are its parts' (see CompileUnion).
      std::string param;
      if (sort.param->union_of.empty()) {
        param = std::to_string(names_.ParamId(*sort.param));
      } else {
        for (const fhir::SearchParamDef* part : sort.param->union_of) {
          param += (param.empty() ? "" : ",") + std::to_string(names_.ParamId(*part));
        }
      }
      switch (sort.param->type) {
        case SearchParamType::kDate:
          sql = std::string("SELECT ") + agg + (sort.descending ? "(high)" : "(low)") +
                " FROM idx_date WHERE param IN (" + param + ")" + " AND pk = ?1";
          break;
        case SearchParamType::kString:
          sql = std::string("SELECT ") + agg + "(value) FROM idx_string WHERE param IN (" + param +
                ")" + " AND pk = ?1";
          text = true;
          break;
        case SearchParamType::kToken:
          sql = std::string("SELECT ") + agg + "(code) FROM idx_token WHERE param IN (" + param +
                ")" + " AND pk = ?1";
          text = true;
          break;
        case SearchParamType::kNumber:
          sql = std::string("SELECT ") + agg + "(value) FROM idx_number WHERE param IN (" + param +
                ")" + " AND pk = ?1";
          break;
        case SearchParamType::kQuantity:
          sql = std::string("SELECT ") + agg + "(value) FROM idx_quantity WHERE param IN (" +
                param + ")" + " AND pk = ?1";
          break;
        default:
          return MakeError(ErrorCode::kInvalid,
                           "cannot sort by " + sort.param->code + " (a " +
                               std::string(fhir::SearchParamTypeName(sort.param->type)) +
                               " parameter)",
                           "_sort");
      }
    }
    auto stmt = db_.Cached(sql);
    if (!stmt.ok()) return stmt.error();
    for (size_t i = 0; i < pks.size(); ++i) {
      (*stmt)->Bind(1, pks[i]);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      std::string component;
      bool present = row.value() && !(*stmt)->IsNull(0);
      if (present) {
        if (text) {
          component = std::string((*stmt)->Text(0));
          component.push_back('\0');
        } else if (sqlite3_column_type((*stmt)->raw(), 0) == SQLITE_FLOAT) {
          EncodeInt(component, OrderedDouble((*stmt)->Real(0)));
        } else {
          EncodeInt(component, static_cast<uint64_t>((*stmt)->Int(0)) ^ (uint64_t{1} << 63));
        }
        if (sort.descending) {
          for (char& ch : component) ch = static_cast<char>(~static_cast<unsigned char>(ch));
        }
      }
      (*stmt)->Reset();
      keys[i].push_back(present ? '\x00' : '\x01');  // resources without the value sort last
      keys[i] += component;
    }
  }
  for (size_t i = 0; i < pks.size(); ++i) EncodeInt(keys[i], static_cast<uint64_t>(pks[i]));
  return keys;
}

// A condition as a test of the candidate r: EXISTS on its index rows within r's partition (NOT
// EXISTS when negated), or its own predicate on r. Its binds are appended to `binds`.
std::string SearchCompiler::Check(const CompiledCondition& c, std::vector<BindValue>& binds) const {
  binds.insert(binds.end(), c.binds.begin(), c.binds.end());
  if (c.table.empty()) return c.where;
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

base::Result<PkPage> SearchCompiler::Run() {
  // Text matches go last, so the SQL decodes a body only when the indexed checks have passed.
  auto is_text = [](const Condition* c) {
    return c->special == Condition::Special::kText || c->special == Condition::Special::kContent;
  };
  std::vector<const Condition*> order;
  for (const Condition& condition : spec_.conditions) order.push_back(&condition);
  auto text_begin = std::stable_partition(order.begin(), order.end(),
                                          [&](const Condition* c) { return !is_text(c); });
  // Text is matched in the bodies of what the other conditions find, never through an index:
  // they must narrow the search (a positive indexed condition, _id, _has or a compartment),
  // or every body of the type would be read.
  bool narrowed = !spec_.compartment_patient.empty();
  std::vector<CompiledCondition> compiled;
  for (auto it = order.begin(); it != order.end(); ++it) {
    const Condition& condition = **it;
    auto c = Compile(condition);
    if (!c.ok()) return c.error();
    if (c->never_matches && !c->negated) {
      PkPage empty;
      if (spec_.total == TotalMode::kAccurate || spec_.count_only) empty.total = 0;
      return empty;
    }
    const bool listed_ids =
        condition.special == Condition::Special::kId && condition.modifier != Modifier::kNot;
    narrowed = narrowed ||
               (it < text_begin && !c->negated &&
                (!c->table.empty() || listed_ids || condition.special == Condition::Special::kHas));
    compiled.push_back(std::move(c).value());
  }
  if (text_begin != order.end() && !narrowed) {
    return MakeError(ErrorCode::kInvalid,
                     "_text and _content search within what other parameters find: add one that "
                     "narrows the search (e.g. patient=), or search a patient's compartment",
                     "_content");
  }
  // Choose the driver: the best-ranked positive condition on an index table. A condition whose
  // key leads with the partition only drives when the partition is known.
  auto effective_rank = [&](const CompiledCondition& c) {
    int rank = c.rank;
    bool part_known = known_part_ >= 0 || spec_.type == "Patient";
    if (c.part_leads && !part_known) rank += 100;
    if (PartFollowsKey(c) && known_part_ >= 0) rank -= 8;  // code + patient: tiny range
    return rank;
  };
  int driver = -1;
  for (size_t i = 0; i < compiled.size(); ++i) {
    const CompiledCondition& c = compiled[i];
    if (c.negated || c.table.empty()) continue;
    if (driver < 0 || effective_rank(c) < effective_rank(compiled[driver])) {
      driver = static_cast<int>(i);
    }
  }
  int64_t type_id = names_.types.Find(spec_.type);
  std::string part = PartExpression();

  Sql base;
  // With a driver or a compartment, candidates come by pk; the unary + keeps SQLite from
  // walking the type instead. Without one, resource_by_type gives the type's pks in order.
  const bool by_type = driver < 0 && spec_.compartment_patient.empty();
  base.Add(by_type ? "SELECT r.pk FROM resource r WHERE r.type_id = ? AND r.deleted = 0"
                   : "SELECT r.pk FROM resource r WHERE +r.type_id = ? AND r.deleted = 0");
  base.Bind(type_id);
  if (!spec_.compartment_patient.empty()) {
    // The compartment table's key starts with the patient: one range scan gives the candidates.
    auto patient = FindPk(db_, names_, "Patient", spec_.compartment_patient);
    if (!patient.ok()) return patient.error();
    base.Add(" AND r.pk IN (SELECT pk FROM compartment WHERE patient_pk = ? AND type_id = ?)");
    base.Bind(patient.value());  // 0 when there is no such patient: nothing matches
    base.Bind(type_id);
  }
  for (size_t i = 0; i < compiled.size(); ++i) {
    const CompiledCondition& c = compiled[i];
    if (static_cast<int>(i) == driver) {
      base.Add(" AND r.pk IN (SELECT x.pk FROM " + c.table + " WHERE " + c.where);
      for (const auto& b : c.binds) base.Bind(b);
      if (c.has_part_column && (c.part_leads || PartFollowsKey(c))) {
        if (known_part_ >= 0) {
          base.Add(" AND x.part = ?");
          base.Bind(known_part_);
        } else if (spec_.type == "Patient") {
          base.Add(" AND x.part = 0");
        }
      }
      base.Add(")");
      continue;
    }
    base.Add(" AND " + Check(c, base.binds));
  }

  PkPage page;
  if (spec_.total == TotalMode::kAccurate || spec_.count_only) {
    auto stmt = db_.Prepare("SELECT count(*) FROM (" + base.text + ")");
    if (!stmt.ok()) return stmt.error();
    BindAll(*stmt, base.binds);
    auto row = stmt->Step();
    if (!row.ok()) return StepError(row.error());
    page.total = stmt->Int(0);
    if (spec_.count_only) return page;
  }

  const std::string& cursor = spec_.cursor;
  if (!spec_.sort.empty()) {
    // Sorted: gather every match (bounded), order by encoded keys, and page by key, so a page
    // boundary stays put while resources are added or removed elsewhere.
    constexpr size_t kMaxSorted = 10000;
    auto stmt = db_.Prepare(base.text + " LIMIT " + std::to_string(kMaxSorted + 1));
    if (!stmt.ok()) return stmt.error();
    BindAll(*stmt, base.binds);
    std::vector<int64_t> all;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return StepError(row.error());
      if (!row.value()) break;
      all.push_back(stmt->Int(0));
    }
    if (all.size() > kMaxSorted) {
      return MakeError(ErrorCode::kInvalid,
                       "more than " + std::to_string(kMaxSorted) +
                           " matches to sort; narrow the search or drop _sort",
                       "_sort");
    }
    auto keys = SortKeys(all);
    if (!keys.ok()) return keys.error();
    std::vector<size_t> order(all.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return keys.value()[a] < keys.value()[b]; });
    size_t start = 0, end = order.size();
    bool backward = false;
    if (!cursor.empty()) {
      auto key = FromHex(cursor.substr(1));
      if (!key || (cursor[0] != 'n' && cursor[0] != 'p')) {
        return base::Invalid("the paging cursor is not one this server made", "_cursor");
      }
      backward = cursor[0] == 'p';
      auto pos =
          std::lower_bound(order.begin(), order.end(), *key,
                           [&](size_t i, const std::string& k) { return keys.value()[i] < k; });
      size_t at = pos - order.begin();
      if (backward) {
        end = at;
        start = end > spec_.count ? end - spec_.count : 0;
      } else {
        start = at < order.size() && keys.value()[order[at]] == *key ? at + 1 : at;
      }
    }
    if (!backward) end = std::min(order.size(), start + spec_.count);
    for (size_t i = start; i < end; ++i) page.pks.push_back(all[order[i]]);
    if (end < order.size() && end > start)
      page.next_cursor = "n" + ToHex(keys.value()[order[end - 1]]);
    if (start > 0 && end > start) page.previous_cursor = "p" + ToHex(keys.value()[order[start]]);
    return page;
  }

  // Unsorted: pk order (creation order), paged by pk, which no later write can shift.
  bool backward = false;
  Sql query = base;
  if (!cursor.empty()) {
    char direction = cursor[0];
    int64_t at = 0;
    try {
      at = std::stoll(cursor.substr(1));
    } catch (...) {
      direction = '?';
    }
    if (direction != 'n' && direction != 'p') {
      return base::Invalid("the paging cursor is not one this server made", "_cursor");
    }
    backward = direction == 'p';
    query.Add(backward ? " AND r.pk < ?" : " AND r.pk > ?");
    query.Bind(at);
  }
  query.Add(backward ? " ORDER BY r.pk DESC LIMIT ?" : " ORDER BY r.pk LIMIT ?");
  query.Bind(static_cast<int64_t>(spec_.count + 1));
  auto stmt = db_.Prepare(query.text);
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, query.binds);
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return StepError(row.error());
    if (!row.value()) break;
    page.pks.push_back(stmt->Int(0));
  }
  bool more = page.pks.size() > spec_.count;
  if (more) page.pks.pop_back();
  if (backward) std::reverse(page.pks.begin(), page.pks.end());
  if (page.pks.empty()) return page;
  if (backward) {
    page.next_cursor = "n" + std::to_string(page.pks.back());
    if (more) page.previous_cursor = "p" + std::to_string(page.pks.front());
  } else {
    if (more) page.next_cursor = "n" + std::to_string(page.pks.back());
    if (!cursor.empty()) page.previous_cursor = "p" + std::to_string(page.pks.front());
  }
  return page;
}

std::string InList(const std::vector<int64_t>& pks) {
  std::string out;
  for (int64_t pk : pks) {
    if (!out.empty()) out += ",";
    out += std::to_string(pk);
  }
  return out;
}

}  // namespace

void BindValues(SqliteStatement& stmt, const BindValue* begin, const BindValue* end) {
  for (const BindValue* value = begin; value != end; ++value) {
    const int index = static_cast<int>(value - begin) + 1;
    std::visit(
        [&](const auto& v) {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>) {
            stmt.Bind(index, std::string_view(v));
          } else {
            stmt.Bind(index, v);
          }
        },
        *value);
  }
}

base::Result<PkPage> SearchPks(SqliteConnection& db, const SqliteNames& names,
                               const SearchSpec& spec) {
  if (!names.types.Find(spec.type)) {
    return MakeError(ErrorCode::kNotFound, "unknown resource type " + spec.type);
  }
  SearchCompiler compiler(db, names, spec);
  return compiler.Run();
}

// The targets of `include` (a forward _include) among `from`, read from the resources' own
// references: the reference index is keyed by target, and a second index by source would cost
// more space than re-reading a page of bodies costs time.
base::Result<std::vector<int64_t>> InnerSearchPks(SqliteConnection& db, const SqliteNames& names,
                                                  const SearchSpec& inner,
                                                  const std::string& parameter) {
  SearchSpec bounded = inner;
  bounded.count = kMaxInnerMatches;
  bounded.cursor.clear();
  bounded.sort.clear();
  bounded.includes.clear();
  bounded.count_only = false;
  bounded.total = TotalMode::kNone;
  auto page = SearchPks(db, names, bounded);
  if (!page.ok()) return page.error();
  if (page->pks.size() > kMaxInnerMatches) {  // SearchPks gives one more when there are more
    return MakeError(ErrorCode::kInvalid,
                     "the search on " + inner.type + " inside " + parameter +
                         " matches more than " + std::to_string(kMaxInnerMatches) +
                         " resources; narrow it",
                     parameter);
  }
  return std::move(page->pks);
}

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

base::Result<std::vector<int64_t>> IncludePks(SqliteConnection& db, const SqliteNames& names,
                                              const SearchSpec& spec,
                                              const std::vector<int64_t>& from) {
  std::set<int64_t> seen(from.begin(), from.end());
  std::vector<int64_t> result;
  std::vector<int64_t> frontier = from;
  // The first round applies every include; later rounds only the :iterate ones, to a fixpoint.
  for (int round = 0; round < 4 && !frontier.empty(); ++round) {
    std::vector<int64_t> found;
    for (const IncludeSpec& include : spec.includes) {
      if (round > 0 && !include.iterate) continue;
      int64_t source_type = names.types.Find(include.source_type);
      std::string sql;
      std::string pks = InList(frontier);
      std::string param_filter =
          include.param ? " AND x.param = " + std::to_string(names.ParamId(*include.param)) : "";
      if (!include.reverse) {
        auto targets = ForwardTargets(db, names, include, source_type, frontier);
        if (!targets.ok()) return targets.error();
        for (int64_t pk : targets.value()) {
          if (seen.insert(pk).second) found.push_back(pk);
        }
        continue;
      } else {
        sql =
            "SELECT x.pk FROM idx_reference x JOIN resource s ON s.pk = x.pk "
            "WHERE x.target_pk IN (" +
            pks + ") AND s.type_id = " + std::to_string(source_type) + param_filter;
      }
      auto stmt = db.Prepare(sql);
      if (!stmt.ok()) return stmt.error();
      for (;;) {
        auto row = stmt->Step();
        if (!row.ok()) return row.error();
        if (!row.value()) break;
        int64_t pk = stmt->Int(0);
        if (seen.insert(pk).second) found.push_back(pk);
      }
    }
    result.insert(result.end(), found.begin(), found.end());
    frontier = std::move(found);
  }
  return result;
}

}  // namespace carerecord::store
