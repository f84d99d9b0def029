// Search on the SQLite store: each condition becomes a query on its index table. The most
// selective condition drives (its pks feed a rowid IN-list, walked in pk order); the others are
// checked per candidate with EXISTS on an index prefix that includes the candidate's partition,
// so a search within one patient stays a few range scans however many patients there are.

#include <algorithm>
#include <variant>

#include "store/sqlite/sqlite_search_compiler.h"

namespace carerecord::store {

using base::ErrorCode;
using base::MakeError;

namespace {

void BindAll(SqliteStatement& stmt, const std::vector<BindValue>& binds) {
  BindValues(stmt, binds.data(), binds.data() + binds.size());
}

// A failure while the matches are read: the text match's refusal to read more bodies is the
// client's search to narrow (400); anything else is the store's (or the budget's, which the
// SearchRun explains).
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

bool IsTextMatch(const Condition& c) {
  return c.special == Condition::Special::kText || c.special == Condition::Special::kContent;
}

}  // namespace

// Compiles every condition, text matches last so the SQL decodes a body only when the indexed
// checks have passed. Text is matched in the bodies of what the other conditions find, never
// through an index: they must narrow the search (a positive indexed condition, _id, _has or a
// compartment), or every body of the type would be read. A condition that can never match
// makes the whole list empty.
base::Result<std::vector<CompiledCondition>> SearchCompiler::CompileConditions() {
  std::vector<const Condition*> order;
  for (const Condition& condition : spec_.conditions) order.push_back(&condition);
  auto text_begin = std::stable_partition(order.begin(), order.end(),
                                          [](const Condition* c) { return !IsTextMatch(*c); });
  bool narrowed = !spec_.compartment_patient.empty();
  std::vector<CompiledCondition> compiled;
  for (auto it = order.begin(); it != order.end(); ++it) {
    const Condition& condition = **it;
    auto c = Compile(condition);
    if (!c.ok()) return c.error();
    if (c->never_matches && !c->negated) return std::vector<CompiledCondition>{};
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
  return compiled;
}

// The driver: the best-ranked positive condition on an index table, or -1. A condition whose
// key leads with the partition only drives when the partition is known.
int SearchCompiler::ChooseDriver(const std::vector<CompiledCondition>& compiled) const {
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
  return driver;
}

// SELECT r.pk of every match, unordered: the driver as an IN list, the rest as checks.
base::Result<Sql> SearchCompiler::CandidateQuery(const std::vector<CompiledCondition>& compiled,
                                                 int driver) {
  int64_t type_id = names_.types.Find(spec_.type);
  Sql base;
  // With a driver or a compartment, candidates come by pk; the unary + keeps SQLite from
  // walking the type instead. Without one, resource_by_type gives the type's pks in order.
  const bool by_type =
      driver < 0 && spec_.compartment_patient.empty() && spec_.changed_after_vid <= 0;
  base.Add(by_type ? "SELECT r.pk FROM resource r WHERE r.type_id = ? AND r.deleted = 0"
                   : "SELECT r.pk FROM resource r WHERE +r.type_id = ? AND r.deleted = 0");
  base.Bind(type_id);
  if (spec_.changed_after_vid > 0 && driver >= 0) {
    // Driven by an exact token (Run): each candidate written since, one probe of its versions.
    base.Add(" AND EXISTS (SELECT 1 FROM version v WHERE v.pk = r.pk AND v.vid > ?)");
    base.Bind(spec_.changed_after_vid);
  } else if (spec_.changed_after_vid > 0) {
    // The versions written since: a range of version's rowid, a handful of rows.
    base.Add(" AND r.pk IN (SELECT v.pk FROM version v WHERE v.vid > ?)");
    base.Bind(spec_.changed_after_vid);
  }
  if (!spec_.compartment_patient.empty()) {
    // The compartment table's key starts with the patient: one range scan gives the candidates.
    auto patient =
        FindPk(db_, names_, "Patient", spec_.compartment_patient, /*include_deleted=*/true);
    if (!patient.ok()) return patient.error();
    base.Add(" AND r.pk IN (SELECT pk FROM compartment WHERE patient_pk = ? AND type_id = ?)");
    base.Bind(patient.value());  // 0 when there is no such patient: nothing matches
    base.Bind(type_id);
  }
  for (size_t i = 0; i < compiled.size(); ++i) {
    const CompiledCondition& c = compiled[i];
    if (static_cast<int>(i) != driver) {
      base.Add(" AND " + Check(c, base.binds));
      continue;
    }
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
  }
  CR_RETURN_IF_ERROR(run_.CheckBoundValues(base.binds.size()));
  return base;
}

base::Result<int64_t> SearchCompiler::CountMatches(const Sql& query) {
  auto stmt = db_.Reusable("SELECT count(*) FROM (" + query.text + ")");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, query.binds);
  auto row = stmt->Step();
  if (!row.ok()) return StepError(row.error());
  return stmt->Int(0);
}

base::Result<std::vector<int64_t>> SearchCompiler::StepPks(const Sql& query) {
  auto stmt = db_.Reusable(query.text);
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, query.binds);
  std::vector<int64_t> pks;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return StepError(row.error());
    if (!row.value()) break;
    pks.push_back(stmt->Int(0));
  }
  return pks;
}

// Steps `query` and keeps the pks gate_ permits until it has `want` of them: a withheld row
// is read past, never counted, so what follows is as if it were not stored.
base::Result<std::vector<int64_t>> SearchCompiler::StepPermittedPks(const Sql& query, size_t want) {
  if (!Gated()) return StepPks(query);
  auto stmt = db_.Reusable(query.text);
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, query.binds);
  std::vector<int64_t> pks;
  while (pks.size() < want) {
    auto row = stmt->Step();
    if (!row.ok()) return StepError(row.error());
    if (!row.value()) break;
    const int64_t pk = stmt->Int(0);
    auto permitted = gate_->permits(pk);
    if (!permitted.ok()) return permitted.error();
    if (*permitted) pks.push_back(pk);
  }
  return pks;
}

// Unsorted: pk order (creation order), paged by pk, which no later write can shift. Gated, the
// page reads on past withheld matches (no LIMIT: it stops once it has its count and one more).
base::Result<PkPage> SearchCompiler::PkOrderPage(const Sql& base, PkPage page) {
  const std::string& cursor = spec_.cursor;
  bool backward = false;
  Sql query = base;
  if (!cursor.empty()) {
    char direction = cursor[0];
    int64_t at = 0;
    if (!ParseWholeNumber(std::string_view(cursor).substr(1), at)) direction = '?';
    if (direction != 'n' && direction != 'p') {
      return base::Invalid("the paging cursor is not one this server made", "_cursor");
    }
    backward = direction == 'p';
    query.Add(backward ? " AND r.pk < ?" : " AND r.pk > ?");
    query.Bind(at);
  }
  query.Add(backward ? " ORDER BY r.pk DESC" : " ORDER BY r.pk");
  if (!Gated()) {
    query.Add(" LIMIT ?");
    query.Bind(static_cast<int64_t>(spec_.count + 1));
  }
  auto pks = StepPermittedPks(query, spec_.count + 1);
  if (!pks.ok()) return pks.error();
  page.pks = std::move(pks).value();
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

base::Result<PkPage> SearchCompiler::Run() {
  const bool counted = spec_.total == TotalMode::kAccurate || spec_.count_only;
  auto compiled = CompileConditions();
  if (!compiled.ok()) return compiled.error();
  PkPage page;
  if (compiled->empty() && !spec_.conditions.empty()) {  // a condition can never match
    if (counted) page.total = 0;
    return page;
  }
  if (gate_ && gate_->none) {  // the gate admits no match: none is read
    if (counted) page.total = 0;
    return page;
  }
  // Resources changed since a commit check's snapshot drive it and every condition is a check,
  // unless the check is one exact token alone (an identifier: system and code; a feed's
  // If-None-Exist): it matched nothing on the snapshot, so its key's rows are few (what was
  // written since, what the requester could not see), where the versions written since, a
  // handful between quiet commits, are every other write of a feed's transactions of hundreds
  // of conditional creates (the writer's checks were 9% of a feed profile). Beside another
  // condition the token's rows may be many that the other refuses: the versions written since drive
  // then, as before.
  int driver = ChooseDriver(*compiled);
  if (spec_.changed_after_vid > 0 &&
      (driver < 0 || !(*compiled)[driver].exact_token || compiled->size() != 1 ||
       !spec_.compartment_patient.empty())) {
    driver = -1;
  }
  auto query = CandidateQuery(*compiled, driver);
  if (!query.ok()) return query.error();
  if (counted) {
    auto total = CountMatches(*query);
    if (!total.ok()) return total.error();
    page.total = *total;
    if (spec_.count_only) return page;
  }
  return spec_.sort.empty() ? PkOrderPage(*query, std::move(page))
                            : SortedPage(*query, std::move(page));
}

std::string InList(const std::vector<int64_t>& pks) {
  std::string out;
  for (int64_t pk : pks) {
    if (!out.empty()) out += ",";
    out += std::to_string(pk);
  }
  return out;
}

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
                               const SearchSpec& spec, SearchRun& run, const PageGate* gate) {
  if (!names.types.Find(spec.type)) {
    return MakeError(ErrorCode::kNotFound, "unknown resource type " + spec.type);
  }
  SearchCompiler compiler(db, names, spec, run, gate);
  return compiler.Run();
}

base::Result<std::vector<int64_t>> MatchPks(SqliteConnection& db, const SqliteNames& names,
                                            const SearchSpec& spec, size_t limit, SearchRun& run,
                                            const PageGate* gate) {
  SearchSpec matching;
  matching.type = spec.type;
  matching.conditions = spec.conditions;
  matching.compartment_patient = spec.compartment_patient;
  matching.changed_after_vid = spec.changed_after_vid;
  // What the result parameters said is not copied. One more than the limit, so the caller can
  // tell "more than limit" from "exactly limit" (SearchPks drops the extra row it reads).
  matching.count = limit + 1;
  auto page = SearchPks(db, names, matching, run, gate);
  if (!page.ok()) return page.error();
  return std::move(page->pks);
}

base::Result<std::vector<int64_t>> InnerSearchPks(SqliteConnection& db, const SqliteNames& names,
                                                  const SearchSpec& inner,
                                                  const std::string& parameter, SearchRun& run) {
  CR_RETURN_IF_ERROR(run.EnterInner(parameter));
  auto pks = MatchPks(db, names, inner, run.budget().max_inner_matches, run);
  run.LeaveInner();
  if (!pks.ok()) return pks.error();
  if (run.inner_filter()) {
    std::vector<int64_t> permitted;
    for (int64_t pk : *pks) {
      auto decided = run.inner_filter()(pk);
      if (!decided.ok()) return decided.error();
      if (*decided) permitted.push_back(pk);
    }
    pks.value() = std::move(permitted);
  }
  CR_RETURN_IF_ERROR(run.ChargeInnerMatches(pks->size(), inner.type, parameter));
  return pks;
}

}  // namespace carerecord::store
