// The one write path: create, update, delete (plain and conditional), batch and transaction
// all become a list of planned entries that TransactionRunner resolves (ids, urn:uuid and
// conditional references, versions) and commits as one store transaction.

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <chrono>
#include <map>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "fhir/fhir_date.h"
#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"
#include "interactions/fhir_json.h"
#include "interactions/fhir_service.h"
#include "interactions/responses.h"
#include "interactions/write_preparation.h"

namespace carerecord::interactions {

namespace json = boost::json;
using base::ErrorCode;
using base::Invalid;
using base::MakeError;

// One entry of a write: what was asked and, once resolved, what will be done.
struct PlannedEntry {
  std::string method;  // POST, PUT, DELETE, GET
  std::string type;
  std::string id;                        // from the URL (PUT/DELETE/GET instance)
  std::string url;                       // as given, for GET entries and messages
  std::optional<QueryParams> condition;  // conditional PUT/DELETE, or POST If-None-Exist
  // The client's resource as sent. Never changed, so that a retry starts from it again.
  std::optional<json::object> resource;
  std::string full_url;
  std::optional<int64_t> if_match;
  std::string where;  // "Bundle.entry[3]" for messages

  // Resolution.
  bool noop = false;  // conditional create that matched, or delete of nothing
  bool created = false;
  bool conditional_create = false;  // conditional PUT that matched nothing
  int status = 200;
  std::string resolved_id;
  int64_t version = 0;
  int64_t last_updated_ms = 0;
  std::string stored_json;
  std::optional<Response> read_response;  // GET entries
};

namespace {

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

base::Error At(base::Error error, const std::string& where) {
  if (!where.empty()) {
    error.location = error.location.empty() ? where : where + ": " + error.location;
  }
  return error;
}

// A commit that lost a race for a version it did not pin is retried; with many writers on one
// resource each round lets at least one through, so the bound is generous.
constexpr int kMaxCommitAttempts = 64;

void BackOff(int attempt) {
  thread_local std::mt19937 random{std::random_device{}()};
  int ceiling_us = 200 * std::min(attempt, 20);
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::uniform_int_distribution<int>(0, ceiling_us)(random)));
}

}  // namespace

class TransactionRunner {
 public:
  TransactionRunner(FhirService& service, const RequestContext& ctx)
      : service_(service), ctx_(ctx) {}

  // Resolves and commits the entries all-or-nothing; retries, from the client's resources
  // again, when a concurrent commit overtook a version or broke a condition this one relied on.
  // A version pinned with If-Match is then re-checked and fails with 412.
  base::Status Run(std::vector<PlannedEntry>& entries) {
    base::Status status;
    for (int attempt = 1; attempt <= kMaxCommitAttempts; ++attempt) {
      commit_conflict_ = false;
      status = RunOnce(entries);
      if (status.ok() || !commit_conflict_) break;
      for (PlannedEntry& entry : entries) ResetResolution(entry);
      BackOff(attempt);
    }
    return status;
  }

 private:
  static void ResetResolution(PlannedEntry& e) {
    e.noop = e.created = e.conditional_create = false;
    e.status = 200;
    e.resolved_id.clear();
    e.version = 0;
    e.last_updated_ms = 0;
    e.stored_json.clear();
  }

  base::Status RunOnce(std::vector<PlannedEntry>& entries);
  base::Status DecideTarget(PlannedEntry& e);
  base::Result<std::vector<std::string>> Match(const std::string& type, const QueryParams& query,
                                               const std::string& where);
  void CheckStillNoMatchAtCommit(const std::string& type, const QueryParams& query);
  base::Status ResolveReferences(const PlannedEntry& entry, json::object& resource);

  FhirService& service_;
  const RequestContext& ctx_;
  std::unique_ptr<store::TransactionReader> reader_;
  std::unordered_map<std::string, std::string> full_urls_;            // urn:uuid:... -> Type/id
  std::unordered_map<std::string, std::string> conditional_refs_;     // Type?query -> Type/id
  std::unordered_map<std::string, std::string> conditional_creates_;  // Type?query -> id
  // "Type/id" of resources this transaction deletes: processed first, so later conditions
  // (If-None-Exist, conditional update) must not match them.
  std::unordered_set<std::string> deleted_here_;
  std::vector<store::CommitCheck> checks_;
  bool commit_conflict_ = false;
};

base::Result<std::vector<std::string>> TransactionRunner::Match(const std::string& type,
                                                                const QueryParams& query,
                                                                const std::string& where) {
  // Conditions must be understood exactly: an ignored parameter would widen the match.
  auto parsed = ParseSearch(type, query, /*strict=*/true, {}, ctx_.base_url);
  if (!parsed.ok()) return At(parsed.error(), where);
  if (parsed->spec.conditions.empty()) {
    return At(Invalid("a conditional operation needs at least one search parameter"), where);
  }
  // Two matches are enough to tell one from several, once this transaction's deletes are out.
  auto ids = reader_->MatchIds(parsed->spec, 2 + deleted_here_.size());
  if (!ids.ok()) return ids.error();
  std::erase_if(ids.value(),
                [&](const std::string& id) { return deleted_here_.count(type + "/" + id) > 0; });
  return ids;
}

// Re-runs a condition that matched nothing inside the write transaction, so that two
// concurrent conditional creates cannot both create.
void TransactionRunner::CheckStillNoMatchAtCommit(const std::string& type,
                                                  const QueryParams& query) {
  auto parsed = ParseSearch(type, query, /*strict=*/true, {}, ctx_.base_url);
  if (!parsed.ok()) return;  // Match has already refused it
  auto spec = std::make_shared<store::SearchSpec>(parsed->spec);
  auto excluded = std::make_shared<std::unordered_set<std::string>>(deleted_here_);
  checks_.push_back([spec, type, excluded](store::TransactionReader& reader) -> base::Status {
    auto ids = reader.MatchIds(*spec, 1 + excluded->size());
    if (!ids.ok()) return ids.error();
    for (const std::string& id : *ids) {
      if (!excluded->count(type + "/" + id)) {
        return MakeError(ErrorCode::kConflict, "a matching " + type + " was created concurrently");
      }
    }
    return base::Status::Ok();
  });
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
    auto ids = Match(type, DecodeQuery(ref.substr(question + 1)), entry.where);
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

// Step 1 for one entry: which resource it writes (a new id, the URL's, or a condition's match).
base::Status TransactionRunner::DecideTarget(PlannedEntry& e) {
  if (e.method == "POST") {
    if (e.condition) {
      // Two entries with one condition create once: the later one resolves to the earlier.
      std::string key = e.type + "?" + EncodeQuery(*e.condition);
      if (auto earlier = conditional_creates_.find(key); earlier != conditional_creates_.end()) {
        e.noop = true;
        e.resolved_id = earlier->second;
        return base::Status::Ok();
      }
      auto ids = Match(e.type, *e.condition, e.where);
      if (!ids.ok()) return ids.error();
      if (ids->size() > 1) {
        return At(MakeError(ErrorCode::kPreconditionFailed,
                            "If-None-Exist matches more than one " + e.type),
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
    if (auto* id = e.resource->if_contains("id"); id && id->is_string()) {
      given = std::string(id->as_string());
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

base::Status TransactionRunner::RunOnce(std::vector<PlannedEntry>& entries) {
  reader_ = service_.store_.OpenTransactionReader();
  if (!reader_) return MakeError(ErrorCode::kInternal, "the store cannot be read");
  full_urls_.clear();
  conditional_refs_.clear();
  conditional_creates_.clear();
  deleted_here_.clear();
  checks_.clear();
  int64_t now = fhir::NowMs();

  // 1. Decide each entry's target id, so every urn:uuid can be rewritten before preparing.
  for (PlannedEntry& e : entries) {
    if (e.method == "GET") continue;
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
  transaction.provenance = {service_.options_.source, ctx_.request_id, now};
  for (PlannedEntry& e : entries) {
    if (e.method == "GET" || e.noop) continue;
    store::CurrentVersion current;
    if (!e.created) {
      auto found = reader_->Current(e.type, e.resolved_id);
      if (!found.ok()) return found.error();
      current = std::move(found).value();
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
    WriteRequest request{e.type, e.resolved_id, current.version + 1,     e.method,
                         now,    ctx_.base_url, &service_.store_.Codec()};
    if (e.method == "DELETE") {
      if (!exists) {
        e.noop = true;
        e.status = 204;
        continue;
      }
      auto write = PrepareDelete(request, current.json);
      if (!write.ok()) return At(write.error(), e.where);
      transaction.writes.push_back(std::move(write).value());
      e.version = request.version;
      e.status = 204;
    } else {
      json::object resource = *e.resource;  // a copy: a retry starts from the client's again
      CR_RETURN_IF_ERROR(ResolveReferences(e, resource));
      auto write = PrepareWrite(std::move(resource), request, exists ? &current.json : nullptr);
      if (!write.ok()) return At(write.error(), e.where);
      e.stored_json = write->json;
      transaction.writes.push_back(std::move(write).value());
      e.version = request.version;
      e.status = exists ? 200 : 201;
    }
    e.last_updated_ms = now;
  }
  transaction.checks = std::move(checks_);
  reader_.reset();
  if (transaction.writes.empty()) return base::Status::Ok();
  auto committed = service_.store_.Commit(std::move(transaction));
  if (!committed.ok()) {
    commit_conflict_ = committed.error().code == ErrorCode::kConflict;
    return committed.error();
  }
  return base::Status::Ok();
}

namespace {

// Parses "Type", "Type/id" or "Type?query" of a request URL (relative to the base).
base::Status ParseEntryUrl(std::string_view url, PlannedEntry& entry) {
  size_t question = url.find('?');
  std::string_view path = url.substr(0, question);
  if (question != std::string_view::npos) {
    entry.condition = DecodeQuery(url.substr(question + 1));
  }
  size_t slash = path.find('/');
  entry.type = std::string(path.substr(0, slash));
  if (slash != std::string_view::npos) entry.id = std::string(path.substr(slash + 1));
  if (!fhir::IsResourceType(entry.type)) {
    return MakeError(ErrorCode::kNotFound, "'" + entry.type + "' is not a resource type",
                     entry.where + ".request.url");
  }
  if (!entry.id.empty() && !fhir::IsValidId(entry.id)) {
    return Invalid("'" + entry.id + "' is not a valid id", entry.where + ".request.url");
  }
  return base::Status::Ok();
}

// The response entry (or whole response) for a resolved write entry.
json::object EntryResponse(const PlannedEntry& e) {
  json::object response;
  static const std::map<int, const char*> kStatus = {
      {200, "200 OK"}, {201, "201 Created"}, {204, "204 No Content"}};
  auto it = kStatus.find(e.status);
  response["status"] = it != kStatus.end() ? it->second : std::to_string(e.status);
  if (!e.resolved_id.empty() && e.version > 0) {
    response["location"] = e.type + "/" + e.resolved_id + "/_history/" + std::to_string(e.version);
    response["etag"] = "W/\"" + std::to_string(e.version) + "\"";
    response["lastModified"] = fhir::FormatInstant(e.last_updated_ms);
  } else if (!e.resolved_id.empty()) {
    response["location"] = e.type + "/" + e.resolved_id;
  }
  return response;
}

}  // namespace

// Single-resource writes share the transaction path; this turns the one entry into a response.
Response SingleWriteResponse(const RequestContext& ctx, const PlannedEntry& e, store::Store& store,
                             access::AccessPolicy& policy, access::AuditSink* audit) {
  Response response;
  response.status = e.noop && e.method == "POST" ? 200 : e.status;
  if (e.version > 0) {
    response.headers.emplace_back("ETag", "W/\"" + std::to_string(e.version) + "\"");
    response.headers.emplace_back("Last-Modified", HttpDate(e.last_updated_ms));
    response.headers.emplace_back("Location", ctx.base_url + "/" + e.type + "/" + e.resolved_id +
                                                  "/_history/" + std::to_string(e.version));
  }
  if (e.method == "DELETE") {
    response.status = e.noop ? 204 : 200;
    if (ctx.prefer_return != PreferReturn::kMinimal) {
      response.body = OperationOutcomeJson(
          "information", "informational",
          e.noop ? "nothing to delete" : "deleted " + e.type + "/" + e.resolved_id, "");
      if (response.status == 204) response.status = 200;
    }
    return response;
  }
  if (ctx.prefer_return == PreferReturn::kMinimal) return response;
  if (ctx.prefer_return == PreferReturn::kOperationOutcome) {
    response.body = OperationOutcomeJson(
        "information", "informational",
        (e.status == 201 ? "created " : "updated ") + e.type + "/" + e.resolved_id, "");
    return response;
  }
  if (!e.stored_json.empty()) {
    response.body = e.stored_json;
  } else if (e.noop && !e.resolved_id.empty()) {
    // If-None-Exist matched: return what exists, through the gate like any read.
    access::RequestGate gate(policy, audit, ctx.who, "read");
    auto session = store.OpenRead(gate);
    if (session) {
      auto existing = session->Read(e.type, e.resolved_id);
      if (existing.ok()) {
        response.body = existing->json;
        response.headers.emplace_back("ETag", "W/\"" + std::to_string(existing->version) + "\"");
        response.headers.emplace_back("Location",
                                      ctx.base_url + "/" + e.type + "/" + e.resolved_id);
      }
    }
  }
  return response;
}

namespace {

PlannedEntry PlanWithBody(std::string method, std::string_view type, std::string_view body,
                          base::Status& status) {
  PlannedEntry e;
  e.method = std::move(method);
  e.type = std::string(type);
  auto parsed = ParseResourceBody(body);
  if (!parsed.ok()) {
    status = parsed.error();
    return e;
  }
  std::string declared(parsed->at("resourceType").as_string());
  if (declared != e.type) {
    status = Invalid("the body is a " + declared + " but the URL says " + e.type, "/resourceType");
    return e;
  }
  e.resource = std::move(parsed).value();
  return e;
}

}  // namespace

Response FhirService::Create(const RequestContext& ctx, std::string_view type,
                             std::string_view body, std::string_view if_none_exist) {
  if (!fhir::IsResourceType(type)) {
    return ErrorResponse(
        MakeError(ErrorCode::kNotFound, "'" + std::string(type) + "' is not a resource type"));
  }
  base::Status status;
  std::vector<PlannedEntry> entries;
  entries.push_back(PlanWithBody("POST", type, body, status));
  if (!status.ok()) return ErrorResponse(status.error());
  if (!if_none_exist.empty()) {
    std::string_view query = if_none_exist;
    if (size_t q = query.find('?'); q != std::string_view::npos) query = query.substr(q + 1);
    entries[0].condition = DecodeQuery(query);
  }
  TransactionRunner runner(*this, ctx);
  status = runner.Run(entries);
  if (!status.ok()) return ErrorResponse(status.error());
  return SingleWriteResponse(ctx, entries[0], store_, policy_, audit_);
}

Response FhirService::Update(const RequestContext& ctx, std::string_view type, std::string_view id,
                             std::string_view body, std::string_view if_match) {
  if (!fhir::IsResourceType(type)) {
    return ErrorResponse(
        MakeError(ErrorCode::kNotFound, "'" + std::string(type) + "' is not a resource type"));
  }
  if (!fhir::IsValidId(id)) {
    return ErrorResponse(Invalid("'" + std::string(id) + "' is not a valid FHIR id", "id"));
  }
  base::Status status;
  std::vector<PlannedEntry> entries;
  entries.push_back(PlanWithBody("PUT", type, body, status));
  if (!status.ok()) return ErrorResponse(status.error());
  PlannedEntry& e = entries[0];
  e.id = std::string(id);
  auto* body_id = e.resource->if_contains("id");
  if (!body_id || !body_id->is_string() || body_id->as_string() != id) {
    return ErrorResponse(
        Invalid("the resource's id must match the id in the URL (" + std::string(id) + ")", "/id"));
  }
  if (!if_match.empty()) {
    e.if_match = ParseETagVersion(if_match);
    if (!e.if_match) {
      return ErrorResponse(Invalid("If-Match must be an ETag like W/\"3\"", "If-Match"));
    }
  }
  TransactionRunner runner(*this, ctx);
  status = runner.Run(entries);
  if (!status.ok()) return ErrorResponse(status.error());
  return SingleWriteResponse(ctx, e, store_, policy_, audit_);
}

Response FhirService::ConditionalUpdate(const RequestContext& ctx, std::string_view type,
                                        const QueryParams& params, std::string_view body) {
  if (!fhir::IsResourceType(type)) {
    return ErrorResponse(
        MakeError(ErrorCode::kNotFound, "'" + std::string(type) + "' is not a resource type"));
  }
  base::Status status;
  std::vector<PlannedEntry> entries;
  entries.push_back(PlanWithBody("PUT", type, body, status));
  if (!status.ok()) return ErrorResponse(status.error());
  entries[0].condition = params;
  TransactionRunner runner(*this, ctx);
  status = runner.Run(entries);
  if (!status.ok()) return ErrorResponse(status.error());
  return SingleWriteResponse(ctx, entries[0], store_, policy_, audit_);
}

Response FhirService::Delete(const RequestContext& ctx, std::string_view type,
                             std::string_view id) {
  if (!fhir::IsResourceType(type)) {
    return ErrorResponse(
        MakeError(ErrorCode::kNotFound, "'" + std::string(type) + "' is not a resource type"));
  }
  if (!fhir::IsValidId(id)) {
    return ErrorResponse(Invalid("'" + std::string(id) + "' is not a valid FHIR id", "id"));
  }
  std::vector<PlannedEntry> entries(1);
  entries[0].method = "DELETE";
  entries[0].type = std::string(type);
  entries[0].id = std::string(id);
  TransactionRunner runner(*this, ctx);
  base::Status status = runner.Run(entries);
  if (!status.ok()) return ErrorResponse(status.error());
  return SingleWriteResponse(ctx, entries[0], store_, policy_, audit_);
}

Response FhirService::ConditionalDelete(const RequestContext& ctx, std::string_view type,
                                        const QueryParams& params) {
  if (!fhir::IsResourceType(type)) {
    return ErrorResponse(
        MakeError(ErrorCode::kNotFound, "'" + std::string(type) + "' is not a resource type"));
  }
  std::vector<PlannedEntry> entries(1);
  entries[0].method = "DELETE";
  entries[0].type = std::string(type);
  entries[0].condition = params;
  TransactionRunner runner(*this, ctx);
  base::Status status = runner.Run(entries);
  if (!status.ok()) return ErrorResponse(status.error());
  return SingleWriteResponse(ctx, entries[0], store_, policy_, audit_);
}

Response FhirService::ProcessBundle(const RequestContext& ctx, std::string_view body) {
  // The Bundle, its entries and their per-attempt copies live and die together: one arena
  // instead of a heap allocation per JSON node (a Synthea bundle has about a million).
  auto arena = boost::json::make_shared_resource<boost::json::monotonic_resource>();
  auto parsed = ParseResourceBody(body, arena);
  if (!parsed.ok()) return ErrorResponse(parsed.error());
  json::object& bundle = parsed.value();
  if (bundle.at("resourceType").as_string() != "Bundle") {
    return ErrorResponse(Invalid("POST to the base takes a Bundle", "/resourceType"));
  }
  auto* type_value = bundle.if_contains("type");
  std::string bundle_type =
      type_value && type_value->is_string() ? std::string(type_value->as_string()) : "";
  if (bundle_type != "transaction" && bundle_type != "batch") {
    return ErrorResponse(Invalid(
        "the Bundle type must be transaction or batch, not '" + bundle_type + "'", "/type"));
  }
  bool transaction = bundle_type == "transaction";
  std::vector<PlannedEntry> entries;
  std::vector<base::Status> entry_errors;
  if (auto* entry_value = bundle.if_contains("entry")) {
    if (!entry_value->is_array()) return ErrorResponse(Invalid("entry must be an array", "/entry"));
    json::array& array = entry_value->as_array();
    entries.resize(array.size());
    entry_errors.resize(array.size());
    for (size_t i = 0; i < array.size(); ++i) {
      PlannedEntry& e = entries[i];
      e.where = "Bundle.entry[" + std::to_string(i) + "]";
      auto fail = [&](base::Error error) { entry_errors[i] = error; };
      if (!array[i].is_object()) {
        fail(Invalid("an entry must be an object", e.where));
        continue;
      }
      json::object& entry = array[i].as_object();
      auto* request = entry.if_contains("request");
      if (!request || !request->is_object()) {
        fail(Invalid("the entry has no request", e.where + ".request"));
        continue;
      }
      json::object& req = request->as_object();
      auto text = [&](const char* key) -> std::string {
        auto* v = req.if_contains(key);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
      };
      e.method = text("method");
      e.url = text("url");
      if (e.method != "GET" && e.method != "POST" && e.method != "PUT" && e.method != "DELETE") {
        fail(Invalid("request.method must be GET, POST, PUT or DELETE, not '" + e.method + "'",
                     e.where + ".request.method"));
        continue;
      }
      if (auto* full = entry.if_contains("fullUrl"); full && full->is_string()) {
        e.full_url = std::string(full->as_string());
      }
      if (e.method == "GET") continue;  // read after the writes
      std::string url = e.url;
      if (url.rfind(ctx.base_url + "/", 0) == 0) url = url.substr(ctx.base_url.size() + 1);
      if (!url.empty() && url[0] == '/') url.erase(0, 1);
      base::Status status = ParseEntryUrl(url, e);
      if (!status.ok()) {
        fail(status.error());
        continue;
      }
      if (e.method == "POST") {
        if (e.condition) {
          fail(Invalid("POST takes no query; use ifNoneExist", e.where + ".request.url"));
          continue;
        }
        std::string if_none_exist = text("ifNoneExist");
        if (!if_none_exist.empty()) {
          if (size_t q = if_none_exist.find('?'); q != std::string::npos) {
            if_none_exist = if_none_exist.substr(q + 1);
          }
          e.condition = DecodeQuery(if_none_exist);
        }
      }
      if (e.method == "PUT" && e.id.empty() && !e.condition) {
        fail(Invalid("PUT needs Type/id or Type?condition", e.where + ".request.url"));
        continue;
      }
      if (e.method == "DELETE" && e.id.empty() && !e.condition) {
        fail(Invalid("DELETE needs Type/id or Type?condition", e.where + ".request.url"));
        continue;
      }
      if (std::string m = text("ifMatch"); !m.empty()) {
        e.if_match = ParseETagVersion(m);
        if (!e.if_match) {
          fail(Invalid("ifMatch must be an ETag like W/\"3\"", e.where + ".request.ifMatch"));
          continue;
        }
      }
      if (e.method == "POST" || e.method == "PUT") {
        auto* resource = entry.if_contains("resource");
        if (!resource || !resource->is_object()) {
          fail(Invalid("the entry has no resource", e.where + ".resource"));
          continue;
        }
        auto* rt = resource->as_object().if_contains("resourceType");
        if (!rt || !rt->is_string() || rt->as_string() != e.type) {
          fail(Invalid("the resource's type does not match request.url " + e.url,
                       e.where + ".resource.resourceType"));
          continue;
        }
        if (e.method == "PUT" && !e.id.empty()) {
          auto* id = resource->as_object().if_contains("id");
          if (!id || !id->is_string() || id->as_string() != e.id) {
            fail(Invalid("the resource's id must match request.url " + e.url,
                         e.where + ".resource.id"));
            continue;
          }
        }
        e.resource = std::move(resource->as_object());
      }
    }
  }

  json::array response_entries;
  auto run_get = [&](PlannedEntry& e) -> Response {
    std::string url = e.url;
    if (url.rfind(ctx.base_url + "/", 0) == 0) url = url.substr(ctx.base_url.size() + 1);
    if (!url.empty() && url[0] == '/') url.erase(0, 1);
    size_t question = url.find('?');
    std::string path = url.substr(0, question);
    QueryParams params =
        question == std::string::npos ? QueryParams{} : DecodeQuery(url.substr(question + 1));
    std::vector<std::string> segments;
    for (size_t start = 0; start <= path.size();) {
      size_t slash = path.find('/', start);
      segments.push_back(path.substr(start, slash == std::string::npos ? slash : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (segments.size() == 1) return Search(ctx, segments[0], params);
    if (segments.size() == 2) return Read(ctx, segments[0], segments[1]);
    if (segments.size() == 4 && segments[2] == "_history") {
      return VRead(ctx, segments[0], segments[1], segments[3]);
    }
    return ErrorResponse(Invalid("unsupported GET " + e.url, e.where + ".request.url"));
  };
  auto get_entry = [&](const Response& r) {
    json::object out, response;
    response["status"] = std::to_string(r.status);
    for (const auto& [name, value] : r.headers) {
      if (name == "ETag") response["etag"] = value;
      if (name == "Location") response["location"] = value;
    }
    if (!r.body.empty()) {
      auto parsed_body = ParseJson(r.body);
      if (parsed_body.ok()) {
        if (r.status >= 400) {
          response["outcome"] = std::move(parsed_body).value();
        } else {
          out["resource"] = std::move(parsed_body).value();
        }
      }
    }
    out["response"] = std::move(response);
    return out;
  };
  auto error_entry = [&](const base::Error& error) { return get_entry(ErrorResponse(error)); };

  if (transaction) {
    for (const base::Status& error : entry_errors) {
      if (!error.ok()) return ErrorResponse(error.error());
    }
    // FHIR's order of processing: DELETE, POST, PUT, then GET after the writes.
    std::vector<size_t> order;
    for (const char* method : {"DELETE", "POST", "PUT"}) {
      for (size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].method == method) order.push_back(i);
      }
    }
    std::vector<PlannedEntry> writes;
    writes.reserve(order.size());
    for (size_t i : order) writes.push_back(std::move(entries[i]));
    TransactionRunner runner(*this, ctx);
    base::Status status = runner.Run(writes);
    if (!status.ok()) return ErrorResponse(status.error());
    for (size_t k = 0; k < order.size(); ++k) entries[order[k]] = std::move(writes[k]);
    for (PlannedEntry& e : entries) {
      if (e.method == "GET") {
        response_entries.push_back(get_entry(run_get(e)));
        continue;
      }
      json::object out;
      if (e.noop && e.method == "POST") e.status = 200;
      out["response"] = EntryResponse(e);
      if (!e.resolved_id.empty())
        out["fullUrl"] = ctx.base_url + "/" + e.type + "/" + e.resolved_id;
      if (ctx.prefer_return == PreferReturn::kRepresentation && !e.stored_json.empty()) {
        out["resource"] = ParseJson(e.stored_json).value();
      }
      response_entries.push_back(std::move(out));
    }
  } else {
    for (size_t i = 0; i < entries.size(); ++i) {
      PlannedEntry& e = entries[i];
      if (!entry_errors[i].ok()) {
        response_entries.push_back(error_entry(entry_errors[i].error()));
        continue;
      }
      if (e.method == "GET") {
        response_entries.push_back(get_entry(run_get(e)));
        continue;
      }
      std::vector<PlannedEntry> one;
      one.push_back(std::move(e));
      TransactionRunner runner(*this, ctx);
      base::Status status = runner.Run(one);
      if (!status.ok()) {
        response_entries.push_back(error_entry(status.error()));
        continue;
      }
      json::object out;
      {
        if (one[0].noop && one[0].method == "POST") one[0].status = 200;
        out["response"] = EntryResponse(one[0]);
        if (!one[0].resolved_id.empty()) {
          out["fullUrl"] = ctx.base_url + "/" + one[0].type + "/" + one[0].resolved_id;
        }
        if (ctx.prefer_return == PreferReturn::kRepresentation && !one[0].stored_json.empty()) {
          out["resource"] = ParseJson(one[0].stored_json).value();
        }
      }
      response_entries.push_back(std::move(out));
    }
  }
  json::object result;
  result["resourceType"] = "Bundle";
  result["id"] = NewResourceId();
  result["type"] = transaction ? "transaction-response" : "batch-response";
  result["entry"] = std::move(response_entries);
  Response response;
  response.body = Serialize(result);
  return response;
}

}  // namespace carerecord::interactions
