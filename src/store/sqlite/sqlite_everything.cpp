// $everything on the SQLite store: a patient's compartment, then the resources it references,
// paged through the session's gate (the session is declared in sqlite_read_session.h).

#include "store/sqlite/sqlite_read_session.h"

namespace carerecord::store::read_internal {

// The compartment in (type, pk) order, then the referenced resources in pk order; one count
// bounds both, so a page may hold the compartment's last rows and the first referenced ones.
// Each referenced resource is on one page only: the referenced half is computed from the whole
// compartment, which a page that did not start at the beginning reads again (bodies only).
// Within the query's budget, as every search is: a page may read a whole record's bodies.
base::Result<SearchPage> SqliteReadSession::Everything(const EverythingQuery& query) {
  SearchRun run(*db_, query.budget);
  return run.Explain(EverythingPage(query));
}

base::Result<SearchPage> SqliteReadSession::EverythingPage(const EverythingQuery& query) {
  using Phase = EverythingCursor::Phase;
  Snapshot();
  std::string where = "Patient/" + query.patient_id;
  auto patient_pk = FindPk(*db_, names_, "Patient", query.patient_id);
  if (!patient_pk.ok()) return patient_pk.error();
  bool permitted = false;
  if (patient_pk.value()) {
    // A Patient the gate withholds has no $everything, exactly as one never stored.
    auto facts = db_->Cached(std::string("SELECT ") + kItemFactsColumns +
                             " FROM resource r JOIN version v ON v.vid = r.vid WHERE r.pk = ?");
    if (!facts.ok()) return facts.error();
    (*facts)->Bind(1, patient_pk.value());
    auto row = (*facts)->Step();
    if (!row.ok()) return row.error();
    auto decided = row.value() ? loader_.Permitted(**facts, 0, gate_) : base::Result<bool>(false);
    (*facts)->Reset();
    if (!decided.ok()) return decided.error();
    permitted = *decided;
  }
  if (!permitted) {
    return MakeError(ErrorCode::kNotFound, where + " is not known", where);
  }
  auto cursor = ParseEverythingCursor(query.cursor);
  if (!cursor) return base::Invalid("the paging cursor is not one this server made", "_cursor");
  // A type of which nothing was ever stored selects nothing; it is not an error.
  std::string type_list;
  for (const std::string& type : query.types) {
    if (int64_t type_id = names_.types.Find(type)) {
      type_list += (type_list.empty() ? "" : ",") + std::to_string(type_id);
    }
  }
  SearchPage page;
  std::vector<std::string> withheld;  // members this page read that the gate withheld
  if (cursor->phase != Phase::kReferenced && (query.types.empty() || !type_list.empty())) {
    auto full = CompartmentRows(query, patient_pk.value(), *cursor, type_list, page, withheld);
    if (!full.ok()) return full.error();
    if (*full) return page;  // the compartment goes on: its references wait for its last page
  }
  CR_RETURN_IF_ERROR(ReferencedRows(query, patient_pk.value(), *cursor, std::move(withheld), page));
  return page;
}

base::Result<bool> SqliteReadSession::CompartmentRows(
    const EverythingQuery& query, int64_t patient_pk, const EverythingCursor& cursor,
    const std::string& type_list, SearchPage& page, std::vector<std::string>& withheld) {
  // One statement walks the compartment range and brings each body with it.
  std::string sql = std::string("SELECT ") + RowLoader::kColumns +
                    ", c.type_id FROM compartment c JOIN resource r ON r.pk = c.pk "
                    "JOIN version v ON v.vid = r.vid WHERE c.patient_pk = ? AND r.deleted = 0";
  if (!type_list.empty()) sql += " AND c.type_id IN (" + type_list + ")";
  if (query.since_ms) sql += " AND r.last_updated >= " + std::to_string(*query.since_ms);
  if (cursor.phase == EverythingCursor::Phase::kCompartment) {
    sql += " AND (c.type_id > " + std::to_string(cursor.type_id) +
           " OR (c.type_id = " + std::to_string(cursor.type_id) + " AND c.pk > " +
           std::to_string(cursor.pk) + "))";
  }
  sql += " ORDER BY c.type_id, c.pk";
  // Withheld rows take no place on the page: it reads on past them (so no LIMIT when some may be).
  const bool gated = !gate_.AdmitsEverything();
  if (!gated) sql += " LIMIT " + std::to_string(query.count + 1);
  auto stmt = db_->Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, patient_pk);
  std::pair<int64_t, int64_t> last{0, 0};
  size_t bytes = 0;
  page.matches.reserve(std::min<size_t>(query.count, 4096));
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) return false;
    auto loaded = loader_.Load(*stmt);
    if (!loaded.ok()) return loaded.error();
    ItemBodyText body(loaded->json);
    const ItemFacts facts{loaded->type,
                          loaded->id,
                          loaded->patient_id,
                          loaded->sealing_facts,
                          loaded->author_organisation,
                          &body};
    if (gated && !gate_.Permits(facts)) {
      (void)gate_.Admit(facts);  // refused again: counted withheld for the audit
      withheld.push_back(loaded->type + "/" + loaded->id);
      continue;
    }
    // A page ends at its count, or early once its bodies reach the page's bytes, when another
    // member it may return follows; its cursor is at the last member it returned.
    if (page.matches.size() == query.count || bytes >= query.budget.max_page_bytes) {
      page.next_cursor = "e" + std::to_string(last.first) + "." + std::to_string(last.second);
      return true;
    }
    last = {stmt->Int(RowLoader::kColumnCount), stmt->Int(7)};
    bytes += loaded->json.size();
    if (Admit(*loaded)) {
      page.matches.push_back(std::move(loaded).value());
    } else {
      withheld.push_back(loaded->type + "/" + loaded->id);
    }
  }
}

base::Status SqliteReadSession::ReferencedRows(const EverythingQuery& query, int64_t patient_pk,
                                               const EverythingCursor& cursor,
                                               std::vector<std::string> withheld,
                                               SearchPage& page) {
  using Phase = EverythingCursor::Phase;
  const bool selective = !query.types.empty() || query.since_ms.has_value();
  // The compartment is done. Its references come from the rows this page read when it began
  // at the compartment's start and selected every row; otherwise the rows are read again.
  CompartmentReferences compartment;
  compartment.patient = "Patient/" + query.patient_id;
  if (!selective && cursor.phase != Phase::kReferenced) {
    compartment.members.reserve(page.matches.size() + withheld.size());
    for (const StoredResource& r : page.matches) {
      compartment.members.insert(r.type + "/" + r.id);
      compartment.AddReferences(r.json);
    }
    for (std::string& member : withheld) compartment.members.insert(std::move(member));
  }
  if (selective || cursor.phase == Phase::kReferenced) {
    CR_RETURN_IF_ERROR(ScanCompartment(patient_pk, nullptr, compartment));
  } else if (cursor.phase == Phase::kCompartment) {
    CR_RETURN_IF_ERROR(ScanCompartment(patient_pk, &cursor, compartment));
  }
  const int64_t after = cursor.phase == Phase::kReferenced ? cursor.pk : 0;
  auto referenced = ReferencedPks(query, compartment, after);
  if (!referenced.ok()) return referenced.error();
  std::vector<int64_t>& pks = referenced.value();
  if (!gate_.AdmitsEverything()) {
    // Only what the gate permits takes a place and a cursor, as in a store without the rest.
    std::vector<int64_t> permitted;
    for (int64_t pk : pks) {
      auto decided = PermitsPk(pk, /*record_withheld=*/true);
      if (!decided.ok()) return decided.error();
      if (*decided) permitted.push_back(pk);
    }
    pks = std::move(permitted);
  }
  const size_t rows = page.matches.size();  // compartment members on this page
  const size_t room = query.count - std::min(rows, query.count);
  if (pks.size() > room) {
    page.next_cursor = "r" + std::to_string(room ? pks[room - 1] : after);
    pks.resize(room);
  }
  RowLoader::Bytes bytes{query.budget.max_page_bytes};
  for (const StoredResource& r : page.matches) bytes.used += r.json.size();
  auto loaded = loader_.Current(pks, bytes);
  if (!loaded.ok()) return loaded.error();
  if (bytes.read < pks.size()) page.next_cursor = "r" + std::to_string(pks[bytes.read - 1]);
  page.included = Admitted(std::move(loaded).value());
  return base::Status::Ok();
}

// Adds the members of the patient's compartment (up to and including `up_to`, or all) and the
// references of those the gate permits. Reads bodies only; what it reads is never handed back,
// so the gate records nothing for it.
base::Status SqliteReadSession::ScanCompartment(int64_t patient_pk, const EverythingCursor* up_to,
                                                CompartmentReferences& out) {
  std::string sql =
      "SELECT c.type_id, r.id, r.patient_pk, v.body, v.sealing_facts, r.author_org "
      "FROM compartment c "
      "JOIN resource r ON r.pk = c.pk JOIN version v ON v.vid = r.vid "
      "WHERE c.patient_pk = ? AND r.deleted = 0";
  if (up_to) sql += " AND (c.type_id < ? OR (c.type_id = ? AND c.pk <= ?))";
  auto stmt = db_->Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, patient_pk);
  if (up_to) stmt->Bind(2, up_to->type_id).Bind(3, up_to->type_id).Bind(4, up_to->pk);
  int64_t type_id = 0;
  std::string type;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    if (stmt->Int(0) != type_id) {
      type_id = stmt->Int(0);
      type = names_.types.NameOf(type_id);
    }
    std::string_view id = stmt->Text(1);
    out.members.insert(type + "/" + std::string(id));
    auto patient = loader_.PatientId(stmt->Int(2));
    if (!patient.ok()) return patient.error();
    StoredItemBody body(*names_.codec, stmt->Blob(3));
    if (!gate_.Permits(ItemFacts{type, id, patient.value(), stmt->Text(4), stmt->Text(5), &body})) {
      continue;
    }
    auto json = body.Json();
    if (!json.ok()) return json.error();
    out.AddReferences(json.value());
  }
  return base::Status::Ok();
}

// The pks, ascending and above `after_pk`, of the current resources that the compartment
// references and that are in no patient's compartment (a Practitioner, a Medication; not
// another patient's record), of the query's types and updated since its `since_ms`.
base::Result<std::vector<int64_t>> SqliteReadSession::ReferencedPks(
    const EverythingQuery& query, const CompartmentReferences& compartment, int64_t after_pk) {
  std::vector<int64_t> out;
  auto stmt = db_->Cached(
      "SELECT pk, patient_pk, last_updated FROM resource "
      "WHERE type_id = ? AND id = ? AND deleted = 0 AND version > 0");
  if (!stmt.ok()) return stmt.error();
  TextSet looked_up;
  for (const std::string& reference : compartment.references) {
    // Most references name a member as "Type/id", the members' own form.
    if (compartment.members.count(reference)) continue;
    // Absolute: another server's (this server's own URLs are stored relative); or a urn.
    if (reference.find(':') != std::string::npos) continue;
    auto target = fhir::ParseReference(reference);
    if (!target) continue;
    std::string key = target->type + "/" + target->id;
    if (compartment.members.count(key) || !looked_up.insert(std::move(key)).second) continue;
    if (!query.types.empty() &&
        std::find(query.types.begin(), query.types.end(), target->type) == query.types.end()) {
      continue;
    }
    int64_t type_id = names_.types.Find(target->type);
    if (!type_id) continue;
    (*stmt)->Bind(1, type_id).Bind(2, std::string_view(target->id));
    auto row = (*stmt)->Step();
    if (!row.ok()) {
      (*stmt)->Reset();
      return row.error();
    }
    if (row.value()) {
      int64_t pk = (*stmt)->Int(0);
      bool outside = (*stmt)->Int(1) == 0;
      bool recent = !query.since_ms || (*stmt)->Int(2) >= *query.since_ms;
      if (outside && recent && pk > after_pk) out.push_back(pk);
    }
    (*stmt)->Reset();
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace carerecord::store::read_internal
