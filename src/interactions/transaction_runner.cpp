// TransactionRunner: resolving and committing planned writes (see transaction_runner.h).

#include "interactions/transaction_runner.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "access/scope_policy.h"
#include "fhir/fhir_date.h"
#include "fhir/json_number.h"
#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"
#include "interactions/fhir_json.h"
#include "interactions/responses.h"
#include "interactions/terminology_expansion.h"
#include "interactions/write_preparation.h"

namespace carerecord::interactions {

namespace json = boost::json;
using base::ErrorCode;
using base::Invalid;
using base::MakeError;

std::optional<int64_t> ParseETagVersion(std::string_view etag) {
  // W/"3" or "3"
  if (etag.rfind("W/", 0) == 0) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  if (etag.empty() || etag.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : etag) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

namespace {

base::Error At(base::Error error, const std::string& where) {
  if (!where.empty()) {
    error.location = error.location.empty() ? where : where + ": " + error.location;
  }
  return error;
}

// A commit that lost a race for a version it did not pin is retried; with many writers on one
// resource each round lets at least one through, so the bound is generous.
constexpr int kMaxCommitAttempts = 64;
// A condition the writer could not confirm within its budget is searched again on the request
// thread each time; while its types keep being written that may not settle, so few attempts.
constexpr int kMaxHandedBackAttempts = 4;

void BackOff(int attempt) {
  thread_local std::mt19937 random{std::random_device{}()};
  int ceiling_us = 200 * std::min(attempt, 20);
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::uniform_int_distribution<int>(0, ceiling_us)(random)));
}

}  // namespace

base::Status TransactionRunner::Run(std::vector<PlannedEntry>& entries) {
  // The audit log is served as AuditEvent from audit.db, read-only; an AuditEvent written into
  // the record would pass for an entry of it. Refused on every write path (plain, conditional,
  // batch and transaction entries), as the AuditEvent routes refuse a direct write.
  for (const PlannedEntry& e : entries) {
    if (e.type == "AuditEvent" && e.method != "GET") {
      return At(MakeError(ErrorCode::kMethodNotAllowed,
                          e.method + " is not allowed on AuditEvent: the audit log is read-only "
                                     "(entries are made by the server for each request, never by a "
                                     "client)"),
                e.where);
    }
  }
  base::Status status;
  int handed_back = 0;
  for (int attempt = 1; attempt <= kMaxCommitAttempts; ++attempt) {
    commit_conflict_ = check_handed_back_ = false;
    trust_absent_ = attempt == 1;
    absent_since_ = 0;
    status = RunOnce(entries);
    if (status.ok() || !commit_conflict_) break;
    for (PlannedEntry& entry : entries) ResetResolution(entry);
    if (check_handed_back_ && ++handed_back >= kMaxHandedBackAttempts) {
      return MakeError(ErrorCode::kUnavailable,
                       "a condition of this request (If-None-Exist or a conditional update) could "
                       "not be confirmed while other writes of the resources it searches went on; "
                       "nothing was written; retry later");
    }
    BackOff(attempt);
  }
  if (status.ok()) RecordWrittenPatients(entries);
  return status;
}

void TransactionRunner::RecordWrittenPatients(const std::vector<PlannedEntry>& entries) const {
  if (ctx_.who.request_audit == nullptr) return;
  access::Disclosure written;
  for (const PlannedEntry& e : entries) {
    written.patients.insert(e.written_patients.begin(), e.written_patients.end());
  }
  // A write in a record that only the writer's break-glass opens is audited as a read there is:
  // purpose of use BTG.
  for (const std::string& patient : written.patients) {
    if (service_.policy_.OpensOnlyByBreakGlass(ctx_.who, patient)) {
      written.purpose_of_use = "BTG";
      break;
    }
  }
  if (!written.patients.empty()) ctx_.who.request_audit->Record(written);
}

base::Result<ParsedSearch> TransactionRunner::ParseCondition(const std::string& type,
                                                             const QueryParams& query) {
  // A condition is a matching step: a result parameter (_count=0, _summary=count, _cursor=...)
  // would change what it finds, so a create could proceed while a match exists.
  for (const auto& [name, value] : query) {
    std::string_view base = std::string_view(name).substr(0, name.find(':'));
    static constexpr std::string_view kResultParameters[] = {
        "_count",   "_summary",    "_cursor",    "_sort",          "_total", "_elements",
        "_include", "_revinclude", "_contained", "_containedType", "_page",  "_offset"};
    if (std::find(std::begin(kResultParameters), std::end(kResultParameters), base) !=
        std::end(kResultParameters)) {
      return Invalid(
          "a condition only matches: the result parameter " + name + " is not allowed in it", name);
    }
  }
  // Conditions must be understood exactly: an ignored parameter would widen the match.
  auto parsed = ParseSearch(type, query, /*strict=*/true, {}, ctx_.base_url);
  if (!parsed.ok()) return parsed.error();
  ctx_.Bound(parsed->spec.budget);
  auto terminology = TransactionReaderTerminology(*reader_);
  CR_RETURN_IF_ERROR(ExpandSearchTerminology(parsed->spec, *terminology));
  return parsed;
}

base::Result<std::vector<std::string>> TransactionRunner::Match(const std::string& type,
                                                                const QueryParams& query,
                                                                const std::string& where) {
  auto parsed = ParseCondition(type, query);
  if (!parsed.ok()) return At(parsed.error(), where);
  if (parsed->spec.conditions.empty()) {
    return At(Invalid("a conditional operation needs at least one search parameter"), where);
  }
  // Two matches are enough to tell one from several, once this transaction's deletes are out.
  // Only over what the caller may read: a match it may not see is answered as if absent.
  access::RequestGate visible(service_.policy_, nullptr, ctx_.who, "match");
  auto ids = reader_->MatchIds(parsed->spec, 2 + deleted_here_.size(), &visible);
  if (!ids.ok()) return ids.error();
  std::erase_if(ids.value(),
                [&](const std::string& id) { return deleted_here_.count(type + "/" + id) > 0; });
  return ids;
}

// Re-runs a condition that matched nothing inside the write transaction, so that two
// concurrent conditional creates cannot both create.
void TransactionRunner::CheckStillNoMatchAtCommit(const std::string& type,
                                                  const QueryParams& query) {
  auto parsed = ParseCondition(type, query);
  if (!parsed.ok()) return;  // Match has already refused it
  CheckStillNoMatchAtCommit(type, std::move(parsed).value());
}

void TransactionRunner::CheckStillNoMatchAtCommit(const std::string& type, ParsedSearch parsed) {
  store::CommitCheck check;
  check.spec = std::make_shared<store::SearchSpec>(std::move(parsed.spec));
  std::string prefix = type + "/";
  for (const std::string& deleted : deleted_here_) {
    if (deleted.rfind(prefix, 0) == 0) check.excluded_ids.push_back(deleted.substr(prefix.size()));
  }
  check.conflict_message = "a matching " + type + " was created concurrently";
  checks_.push_back(std::move(check));
}

base::Status TransactionRunner::ResolveReferences(const PlannedEntry& entry,
                                                  json::object& resource) {
  base::Status status;
  json::value holder(std::move(resource));
  ForEachReference(holder, [&](json::string& reference) {
    if (!status.ok()) return;
    std::string ref(reference.data(), reference.size());
    if (ref.rfind("urn:uuid:", 0) == 0 || ref.rfind("urn:oid:", 0) == 0) {
      auto it = full_urls_.find(ref);
      if (it == full_urls_.end()) {
        status =
            At(Invalid("the reference " + ref + " names no entry of this Bundle"), entry.where);
        return;
      }
      reference = it->second;
      return;
    }
    size_t question = ref.find('?');
    // A query may hold URLs (identifier=http://...|x); only the part before '?' decides.
    if (question == std::string::npos || ref.substr(0, question).find("://") != std::string::npos) {
      return;
    }
    auto cached = conditional_refs_.find(ref);
    if (cached != conditional_refs_.end()) {
      reference = cached->second;
      return;
    }
    std::string type = ref.substr(0, question);
    if (!fhir::IsResourceType(type)) {
      status =
          At(Invalid("the conditional reference " + ref + " names no resource type"), entry.where);
      return;
    }
    auto query = DecodeQuery(ref.substr(question + 1));
    if (!query.ok()) {
      status = At(query.error(), entry.where);
      return;
    }
    auto ids = Match(type, *query, entry.where);
    if (!ids.ok()) {
      status = ids.error();
      return;
    }
    if (ids->size() != 1) {
      status =
          At(MakeError(ids->empty() ? ErrorCode::kUnprocessable : ErrorCode::kPreconditionFailed,
                       "the conditional reference " + ref + " matches " +
                           (ids->empty() ? "no resource" : "more than one resource") +
                           "; it must match exactly one"),
             entry.where);
      return;
    }
    std::string resolved = type + "/" + ids->front();
    conditional_refs_.emplace(ref, resolved);
    reference = resolved;
  });
  resource = std::move(holder.as_object());
  return status;
}

// A POST with If-None-Exist: the match's id, or a new one checked again at commit.
base::Status TransactionRunner::DecideConditionalCreate(PlannedEntry& e) {
  // Two entries with one condition create once: the later one resolves to the earlier.
  std::string key = e.type + "?" + EncodeQuery(*e.condition);
  if (auto earlier = conditional_creates_.find(key); earlier != conditional_creates_.end()) {
    e.noop = true;
    e.resolved_id = earlier->second;
    return base::Status::Ok();
  }
  if (e.absent_since > 0 && trust_absent_ && deleted_here_.empty()) {
    // The caller (a feed's batch lookup) found nothing on a snapshot at or after absent_since:
    // no search here. The writer's check, held on that position, refuses a match written since.
    auto parsed = ParseCondition(e.type, *e.condition);
    if (!parsed.ok()) return At(parsed.error(), e.where);
    if (parsed->spec.conditions.empty()) {
      return At(Invalid("a conditional operation needs at least one search parameter"), e.where);
    }
    CheckStillNoMatchAtCommit(e.type, std::move(parsed).value());
    absent_since_ = absent_since_ == 0 ? e.absent_since : std::min(absent_since_, e.absent_since);
    e.resolved_id = NewResourceId();
    e.created = true;
    conditional_creates_.emplace(std::move(key), e.resolved_id);
    return base::Status::Ok();
  }
  auto ids = Match(e.type, *e.condition, e.where);
  if (!ids.ok()) return ids.error();
  if (ids->size() > 1) {
    return At(
        MakeError(ErrorCode::kPreconditionFailed, "If-None-Exist matches more than one " + e.type),
        e.where);
  }
  if (ids->size() == 1) {
    e.noop = true;
    e.resolved_id = ids->front();
  } else {
    CheckStillNoMatchAtCommit(e.type, *e.condition);
    e.resolved_id = NewResourceId();
    e.created = true;
  }
  conditional_creates_.emplace(std::move(key), e.resolved_id);
  return base::Status::Ok();
}

// Step 1 for one entry: which resource it writes (a new id, the URL's, or a condition's match).
base::Status TransactionRunner::DecideTarget(PlannedEntry& e) {
  if (e.condition && e.method != "DELETE") {
    // R4: a transaction's identities, resolved ones included, must not overlap. Two conditional
    // writes on one condition would each create when nothing matches (two Patients for one
    // identifier); only two conditional creates are the same write, merged below. (A delete
    // on the condition runs first and may be followed by one write that makes it anew.)
    auto [seen, first] =
        conditions_used_.emplace(e.type + "?" + EncodeQuery(*e.condition), e.method);
    if (!first && !(e.method == "POST" && seen->second == "POST")) {
      return At(Invalid("two entries of the transaction write on the condition " + seen->first +
                        "; send one"),
                e.where);
    }
  }
  if (e.method == "POST") {
    if (e.condition) return DecideConditionalCreate(e);
    e.resolved_id = NewResourceId();
    e.created = true;
    return base::Status::Ok();
  }
  if (!e.condition) {
    e.resolved_id = e.id;
    if (e.method == "DELETE") deleted_here_.insert(e.type + "/" + e.id);
    return base::Status::Ok();
  }
  // Conditional PUT or DELETE.
  auto ids = Match(e.type, *e.condition, e.where);
  if (!ids.ok()) return ids.error();
  if (ids->size() > 1) {
    return At(
        MakeError(ErrorCode::kPreconditionFailed, "the condition matches more than one " + e.type),
        e.where);
  }
  std::string given;
  if (e.resource) {
    if (auto* id = e.resource->if_contains("id"); id && fhir::IfText(*id)) {
      given = std::string(*fhir::IfText(*id));
    }
  }
  if (ids->size() == 1) {
    e.resolved_id = ids->front();
    if (e.method == "DELETE") deleted_here_.insert(e.type + "/" + e.resolved_id);
    if (!given.empty() && given != e.resolved_id) {
      return At(Invalid("the condition matches " + e.type + "/" + e.resolved_id +
                            " but the resource's id is " + given,
                        "/id"),
                e.where);
    }
    return base::Status::Ok();
  }
  if (e.method == "DELETE") {
    e.noop = true;
    return base::Status::Ok();
  }
  e.conditional_create = true;
  e.resolved_id = given.empty() ? NewResourceId() : given;
  e.created = given.empty();
  CheckStillNoMatchAtCommit(e.type, *e.condition);
  return base::Status::Ok();
}

bool TransactionRunner::MayReadCurrent(std::string_view type, std::string_view id,
                                       const store::CurrentVersion& current) {
  store::ItemBodyText body(current.json);
  const store::ItemFacts facts{
      type, id, current.patient_id, current.sealing_facts, current.author_organisation, &body};
  return service_.policy_.MayRead(ctx_.who, facts);
}

base::Status TransactionRunner::CheckScopeRestrictions(const PlannedEntry& e,
                                                       std::string_view written,
                                                       std::string_view current) {
  const access::FhirInteraction interaction = e.method == "POST" ? access::FhirInteraction::kCreate
                                              : e.method == "PUT"
                                                  ? access::FhirInteraction::kUpdate
                                                  : access::FhirInteraction::kDelete;
  auto refusal = access::CheckWriteRestrictions(ctx_.who, interaction, e.type, e.resolved_id,
                                                written, current);
  if (!refusal) return base::Status::Ok();
  return At(MakeError(ErrorCode::kForbidden, std::move(refusal->message)), e.where);
}

// A write's local references must name resources that exist; the store checks that at commit
// (which is final: a target deleted meanwhile is caught there). A target the writer may not read
// is answered here exactly as a missing one is there (same status, text and place, the first
// in the same order), so a write cannot probe what the writer may not read. Permits, not Admit:
// nothing of the target is disclosed.
base::Status TransactionRunner::CheckTargetsReadable(const store::WriteTransaction& transaction) {
  std::unordered_set<std::string> written_here, deleted_here;
  for (const store::PreparedWrite& write : transaction.writes) {
    (write.is_delete ? deleted_here : written_here).insert(write.type + "/" + write.id);
  }
  for (const store::PreparedWrite& write : transaction.writes) {
    for (const auto& [type, id] : write.required_targets) {
      const std::string target = type + "/" + id;
      if (written_here.count(target) && !deleted_here.count(target)) continue;
      auto current = reader_->Current(type, id);
      if (!current.ok()) return current.error();
      const bool missing = current->version == 0 || current->deleted ||
                           deleted_here.count(target) > 0 ||
                           !MayReadCurrent(type, id, current.value());
      if (missing) {
        // The text of the store's check (GroupCommitWriter::CheckTargets), word for word.
        return MakeError(
            ErrorCode::kUnprocessable,
            write.type + "/" + write.id + " refers to " + target + ", which does not exist",
            write.type + "/" + write.id);
      }
    }
  }
  return base::Status::Ok();
}

namespace {

// The Patients a Patient's `link` names (replaces, replaced-by, seealso, refer). By R4's
// compartment a Patient is in the record of each (Patient.link), though the store's compartment
// rows hold its own id only: writing such a link asserts a merge, or a shared identity, in their
// records, so it is a write there.
void AddLinkedPatients(const fhir::IndexEntries& index, std::vector<std::string_view>& patients) {
  static const fhir::SearchParamDef* const link = fhir::FindSearchParam("Patient", "link");
  if (link == nullptr) return;
  for (const fhir::ReferenceEntry& reference : index.references) {
    if (reference.param_id != link->id || reference.target_type != "Patient") continue;
    if (std::find(patients.begin(), patients.end(), reference.target_id) == patients.end()) {
      patients.push_back(reference.target_id);
    }
  }
}

}  // namespace

// A write needs the relationship with the patient a read needs: a version put into the record
// of a patient the writer may not open is refused, with one text whether the patient exists or
// not (the record of one that does not is open to no one). An update or delete needs it in every
// record the item was in and is in after (a move out of a record is a write in it), and under a
// grant is allowed only as the policy's RefuseChangeInRecordOf says (the organisation's own
// items). Patients the transaction itself creates are the writer's to fill.
base::Status TransactionRunner::CheckRecordsWritable(const store::PreparedWrite& write,
                                                     const WrittenEntry& entry,
                                                     const std::set<std::string>& new_patients) {
  std::vector<std::string_view> patients;
  if (!write.is_delete) {
    patients.assign(write.compartment_patients.begin(), write.compartment_patients.end());
  }
  if (entry.changed_author) {
    for (const std::string& patient : write.previous_compartment_patients) {
      if (std::find(patients.begin(), patients.end(), patient) == patients.end()) {
        patients.push_back(patient);
      }
    }
  }
  if (write.type == "Patient") {
    if (!write.is_delete) AddLinkedPatients(write.index, patients);
    if (entry.changed_author) AddLinkedPatients(write.previous_index, patients);
  }
  for (std::string_view patient : patients) {
    if (new_patients.count(std::string(patient))) continue;
    auto refused = entry.changed_author
                       ? service_.policy_.RefuseChangeInRecordOf(ctx_.who, patient, write.type,
                                                                 *entry.changed_author)
                       : service_.policy_.RefuseWriteInRecordOf(ctx_.who, patient, write.type);
    if (refused) {
      return At(MakeError(ErrorCode::kForbidden, std::move(*refused)), entry.entry->where);
    }
  }
  if (!write.is_delete) {
    if (auto problem = service_.policy_.RefuseUnenforceable(ctx_.who, write.type, write.json)) {
      return At(std::move(*problem), entry.entry->where);
    }
  }
  if (write.type == "Consent") {
    if (auto refused = service_.policy_.RefuseObjectionWrite(
            ctx_.who, write.is_delete ? std::string_view() : write.json, entry.previous_consent)) {
      return At(MakeError(ErrorCode::kForbidden, std::move(*refused)), entry.entry->where);
    }
  }
  return base::Status::Ok();
}

base::Status TransactionRunner::RunOnce(std::vector<PlannedEntry>& entries) {
  reader_ = service_.store_.OpenTransactionReader(store::TransactionReaderKey());
  if (!reader_) return MakeError(ErrorCode::kUnavailable, "the server cannot read data just now");
  full_urls_.clear();
  conditional_refs_.clear();
  conditional_creates_.clear();
  conditions_used_.clear();
  deleted_here_.clear();
  checks_.clear();
  int64_t now = fhir::NowMs();

  // 1. Decide each entry's target id, so every urn:uuid can be rewritten before preparing.
  for (PlannedEntry& e : entries) {
    if (e.method == "GET") continue;
    if (auto refused = service_.policy_.RefuseWrite(ctx_.who, e.type)) {
      return At(MakeError(ErrorCode::kForbidden, *refused), e.where);
    }
    CR_RETURN_IF_ERROR(DecideTarget(e));
    if (!e.full_url.empty() && !e.resolved_id.empty()) {
      if (!full_urls_.emplace(e.full_url, e.type + "/" + e.resolved_id).second) {
        return At(Invalid("fullUrl " + e.full_url + " names more than one entry"),
                  e.where + ".fullUrl");
      }
    }
  }

  // 2. Resolve references, read current versions, prepare every write.
  store::WriteTransaction transaction;
  transaction.provenance = {ctx_.source.empty() ? service_.options_.source : ctx_.source,
                            ctx_.request_id, ctx_.received_ms != 0 ? ctx_.received_ms : now};
  transaction.read_position = reader_->Position();
  // A condition taken as absent on the caller's older snapshot: the checks cover every write
  // since that one.
  if (absent_since_ > 0 && transaction.read_position > 0) {
    transaction.read_position = std::min(transaction.read_position, absent_since_);
  }
  transaction.author_organisation = ctx_.who.organisation;
  // Patients this transaction brings into being: a writer may fill the record it creates.
  std::set<std::string> new_patients;
  std::vector<WrittenEntry> written;
  for (PlannedEntry& e : entries) {
    if (e.method == "GET" || e.noop) continue;
    store::CurrentVersion current;
    if (!e.created) {
      auto found = reader_->Current(e.type, e.resolved_id);
      if (!found.ok()) return found.error();
      current = std::move(found).value();
    }
    if (e.type == "Patient" && current.version == 0 && e.method != "DELETE") {
      new_patients.insert(e.resolved_id);
    }
    // A write needs the same access as a read, and reveals nothing the writer may not read: a
    // resource whose current version (or deletion) the writer may not read is neither changed
    // nor described, and is answered exactly as an id that was never used. A delete of it
    // deletes nothing (204, as of a free id). An update of it could not be told from the
    // update-as-create of a free id (201) unless update-as-create is refused alike: a writer
    // who may not read every item (AdmitsEverything) may update only a resource it can read,
    // and a PUT to any other id, free or withheld, is one 405 (FHIR's answer when the server
    // does not let the client choose the id), before its version, If-Match or body is looked
    // at. Writers who see everything (integration clients) keep update-as-create: for them no
    // id is withheld.
    const bool readable = current.version > 0 && MayReadCurrent(e.type, e.resolved_id, current);
    if (current.version > 0 && !readable && e.method == "DELETE") {
      e.noop = true;
      e.status = 204;
      continue;
    }
    if (e.method == "PUT" && !e.created && !readable &&
        !service_.policy_.AdmitsEverything(ctx_.who)) {
      return At(MakeError(ErrorCode::kMethodNotAllowed,
                          "there is no " + e.type + "/" + e.resolved_id +
                              " for you to update, and only a client that may read the whole "
                              "record may choose a new resource's id (update as create): create "
                              "it with POST"),
                e.where);
    }
    bool exists = current.version > 0 && !current.deleted;
    if (e.conditional_create && exists) {
      return At(MakeError(ErrorCode::kConflict,
                          e.type + "/" + e.resolved_id +
                              " exists but does not match the condition of this update"),
                e.where);
    }
    if (e.if_match) {
      if (!exists || current.version != *e.if_match) {
        return At(MakeError(ErrorCode::kPreconditionFailed,
                            e.type + "/" + e.resolved_id + " is at version " +
                                std::to_string(current.version) + ", not " +
                                std::to_string(*e.if_match) + " (If-Match)"),
                  e.where);
      }
    }
    WriteRequest request{e.type, e.resolved_id, current.version + 1, e.method, now, ctx_.base_url};
    request.server_work = !ctx_.who.kind.has_value();
    if (e.method == "DELETE") {
      if (!exists) {
        e.noop = true;
        e.status = 204;
        continue;
      }
      CR_RETURN_IF_ERROR(CheckScopeRestrictions(e, {}, current.json));
      auto write = PrepareDelete(request, current.json);
      if (!write.ok()) return At(write.error(), e.where);
      write->sealing_facts = current.sealing_facts;  // the deletion is sealed as what it deletes
      write->provenance = e.provenance;
      e.written_patients = write->previous_compartment_patients;
      written.push_back({transaction.writes.size(), &e, current.author_organisation,
                         e.type == "Consent" ? current.json : std::string()});
      transaction.writes.push_back(std::move(write).value());
      e.version = request.version;
      e.status = 204;
    } else {
      // A copy, so that a retry starts from the client's again; on the heap, not in the Bundle's
      // arena, which frees nothing until the request ends (64 retries would keep 64 copies).
      json::object resource(*e.resource, json::storage_ptr{});
      CR_RETURN_IF_ERROR(ResolveReferences(e, resource));
      auto write = PrepareWrite(std::move(resource), request, exists ? &current.json : nullptr);
      if (!write.ok()) return At(write.error(), e.where);
      CR_RETURN_IF_ERROR(
          CheckScopeRestrictions(e, write->json, exists ? std::string_view(current.json) : ""));
      e.stored_json = write->json;
      e.last_updated_at = write->last_updated_at;
      write->provenance = e.provenance;
      e.written_patients = write->compartment_patients;
      e.written_patients.insert(e.written_patients.end(),
                                write->previous_compartment_patients.begin(),
                                write->previous_compartment_patients.end());
      written.push_back({transaction.writes.size(), &e,
                         exists ? std::optional(current.author_organisation) : std::nullopt,
                         exists && e.type == "Consent" ? current.json : std::string()});
      transaction.writes.push_back(std::move(write).value());
      e.version = request.version;
      e.status = exists ? 200 : 201;
    }
    e.last_updated_ms = now;
  }
  for (const WrittenEntry& w : written) {
    CR_RETURN_IF_ERROR(CheckRecordsWritable(transaction.writes[w.index], w, new_patients));
  }
  CR_RETURN_IF_ERROR(CheckTargetsReadable(transaction));
  transaction.checks = std::move(checks_);
  reader_.reset();
  if (transaction.writes.empty()) return base::Status::Ok();
  auto committed = service_.store_.Commit(std::move(transaction));
  if (!committed.ok()) {
    commit_conflict_ = committed.error().code == ErrorCode::kConflict;
    check_handed_back_ = committed.error().location == store::kCommitCheckHandedBack;
    return committed.error();
  }
  // The store stamped meta.lastUpdated in commit order; the responses say the same.
  std::string stamp = fhir::FormatInstant(committed->last_updated_ms);
  for (PlannedEntry& e : entries) {
    if (e.method == "GET" || e.noop || e.last_updated_ms == 0) continue;
    e.last_updated_ms = committed->last_updated_ms;
    if (e.last_updated_at < e.stored_json.size()) {
      size_t end = e.stored_json.find('"', e.last_updated_at);
      if (end != std::string::npos) {
        e.stored_json.replace(e.last_updated_at, end - e.last_updated_at, stamp);
      }
    }
  }
  return base::Status::Ok();
}

int64_t TransactionRunner::RecordPosition(store::Store& store) {
  auto reader = store.OpenTransactionReader(store::TransactionReaderKey());
  return reader ? reader->Position() : 0;
}

int64_t FhirService::RecordPosition() { return TransactionRunner::RecordPosition(store_); }

}  // namespace carerecord::interactions
