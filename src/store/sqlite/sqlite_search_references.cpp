// References on the SQLite store: a reference condition's targets (given, or found by a
// chain's inner search) as a list of pks or URLs, and _has, whose inner search's matches name
// the resources that match.

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "fhir/index_extraction.h"
#include "store/sqlite/sqlite_search_compiler.h"
#include "store/sqlite/sqlite_search_has.h"

namespace carerecord::store {
namespace {
// Up to this many targets are a variable each, which the planner reads as a plain IN list (the
// patient=X hot path); more are one bound JSON array.
constexpr size_t kMaxInlineTargets = 256;

// The inside of an IN (...) over targets, with its binds.
struct TargetList {
  std::string sql;
  std::vector<BindValue> binds;
};

// A large set is one bound JSON array, however many targets a chain or _has found: one SQL
// variable per target ran out of variables (a 500) on large inner matches.
template <typename T>
TargetList TargetListOf(const std::vector<T>& targets) {
  TargetList out;
  if (targets.size() > kMaxInlineTargets) {
    boost::json::array array;
    for (const T& target : targets) array.emplace_back(target);
    out.sql = "SELECT value FROM json_each(?)";
    out.binds.push_back(boost::json::serialize(array));
    return out;
  }
  for (const T& target : targets) {
    out.sql += out.sql.empty() ? "?" : ",?";
    out.binds.push_back(target);
  }
  return out;
}
}  // namespace

base::Result<std::vector<int64_t>> SearchCompiler::ResolveTargets(const Condition& c,
                                                                  const SearchValue& v,
                                                                  std::vector<std::string>& urls) {
  std::vector<int64_t> pks;
  if (v.chain) return InnerSearchPks(db_, names_, *v.chain, c.param->code, run_);
  std::vector<std::string> types;
  if (!v.target_type.empty()) {
    types.push_back(v.target_type);
  } else if (v.target_id.find(':') == std::string::npos) {
    types = c.param->targets;
  }
  for (const std::string& type : types) {
    // A deleted target still names the resources that refer to it: they are still there.
    auto pk = FindPk(db_, names_, type, v.target_id, /*include_deleted=*/true);
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
  TargetList pk_list = TargetListOf(pks), url_list = TargetListOf(urls);
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
    out.check_as_set = pks.size() > kMaxInlineTargets;
    out.where = "x.param = ? AND x.target_pk IN (" + pk_list.sql + ")";
    out.binds.push_back(param);
    out.binds.insert(out.binds.end(), pk_list.binds.begin(), pk_list.binds.end());
  } else if (pks.empty()) {
    out.table = "idx_reference_url x";
    out.check_as_set = urls.size() > kMaxInlineTargets;
    out.where = "x.param = ? AND x.url IN (" + url_list.sql + ")";
    out.binds.push_back(param);
    out.binds.insert(out.binds.end(), url_list.binds.begin(), url_list.binds.end());
  } else {
    out.table = "";
    out.has_part_column = false;
    out.where = "(r.pk IN (SELECT pk FROM idx_reference WHERE param = ? AND target_pk IN (" +
                pk_list.sql +
                ")) OR r.pk IN (SELECT pk FROM idx_reference_url WHERE param = ? AND "
                "url IN (" +
                url_list.sql + ")))";
    out.binds.push_back(param);
    out.binds.insert(out.binds.end(), pk_list.binds.begin(), pk_list.binds.end());
    out.binds.push_back(param);
    out.binds.insert(out.binds.end(), url_list.binds.begin(), url_list.binds.end());
  }
  CR_RETURN_IF_ERROR(FixPartitionByPatient(c, pks));
  return out;
}

// A patient's own reference fixes the partition of every match (see sqlite_schema.h), but
// only where the partition was taken from that element: the writer takes it from the
// compartment's `patient` or `subject` when the type has one. Elsewhere (Coverage, whose
// `patient` is the beneficiary while the partition is the policy holder; Appointment) a
// match may sit in another patient's partition.
base::Status SearchCompiler::FixPartitionByPatient(const Condition& c,
                                                   const std::vector<int64_t>& pks) {
  auto compartment = fhir::PatientCompartmentParams(spec_.type);
  bool partitioned_by_it =
      std::find(compartment.begin(), compartment.end(), "patient") != compartment.end() ||
      std::find(compartment.begin(), compartment.end(), "subject") != compartment.end();
  // And only when the parameter holds one value: a Provenance or AuditEvent naming two patients
  // sits in the first one's partition only.
  if (c.values.empty() || pks.size() != 1 || c.values[0].chain || !partitioned_by_it ||
      !c.param->single_valued || (c.param->code != "patient" && c.param->code != "subject") ||
      spec_.type == "Patient") {
    return base::Status::Ok();
  }
  auto stmt = db_.Cached("SELECT type_id FROM resource WHERE pk = ?");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, pks[0]);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (row.value() && (*stmt)->Int(0) == names_.patient_type_id) known_part_ = pks[0];
  (*stmt)->Reset();
  return base::Status::Ok();
}

// _has: the inner search's matches name the matching resources; their pks drive as a rowid
// list, one bound JSON array when it is long.
base::Result<CompiledCondition> SearchCompiler::CompileHas(const Condition& c) {
  auto targets =
      ReverseChainTargets(db_, names_, *c.param, *c.values.at(0).chain, spec_.type, run_);
  if (!targets.ok()) return targets.error();
  CompiledCondition out;
  out.has_part_column = false;
  out.rank = 0;
  out.never_matches = targets->empty();
  if (out.never_matches) {
    out.where = "0";
  } else if (targets->size() > kMaxInlineTargets) {
    boost::json::array array;
    for (int64_t pk : *targets) array.push_back(pk);
    out.where = "r.pk IN (SELECT value FROM json_each(?))";
    out.binds.push_back(boost::json::serialize(array));
  } else {
    out.where = "r.pk IN (" + InList(targets.value()) + ")";
  }
  return out;
}

}  // namespace carerecord::store
