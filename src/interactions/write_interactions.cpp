// Create, update and delete of one resource (plain and conditional): each is a one-entry
// transaction through TransactionRunner, turned into a single-resource response.

#include <algorithm>
#include <boost/json/array.hpp>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "fhir/fhir_date.h"
#include "fhir/json_number.h"
#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"
#include "interactions/fhir_json.h"
#include "interactions/responses.h"
#include "interactions/transaction_runner.h"
#include "interactions/write_preparation.h"

namespace carerecord::interactions {

namespace json = boost::json;
using base::ErrorCode;
using base::Invalid;
using base::MakeError;

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
  if (auto checked = CheckTypeAndId(type, ""); !checked.ok()) return ErrorResponse(checked.error());
  base::Status status;
  std::vector<PlannedEntry> entries;
  entries.push_back(PlanWithBody("POST", type, body, status));
  if (!status.ok()) return ErrorResponse(status.error());
  if (!if_none_exist.empty()) {
    std::string_view query = if_none_exist;
    if (size_t q = query.find('?'); q != std::string_view::npos) query = query.substr(q + 1);
    auto condition = DecodeQuery(query);
    if (!condition.ok()) return ErrorResponse(Invalid(condition.error().message, "If-None-Exist"));
    entries[0].condition = std::move(condition).value();
  }
  TransactionRunner runner(*this, ctx);
  status = runner.Run(entries);
  if (!status.ok()) return ErrorResponse(status.error());
  return SingleWriteResponse(ctx, entries[0], store_, policy_, audit_);
}

Response FhirService::Update(const RequestContext& ctx, std::string_view type, std::string_view id,
                             std::string_view body, std::string_view if_match) {
  if (auto checked = CheckTypeAndId(type, id); !checked.ok()) return ErrorResponse(checked.error());
  base::Status status;
  std::vector<PlannedEntry> entries;
  entries.push_back(PlanWithBody("PUT", type, body, status));
  if (!status.ok()) return ErrorResponse(status.error());
  PlannedEntry& e = entries[0];
  e.id = std::string(id);
  auto* body_id = e.resource->if_contains("id");
  if (!body_id || !fhir::IfText(*body_id) || *fhir::IfText(*body_id) != id) {
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
  if (auto checked = CheckTypeAndId(type, ""); !checked.ok()) return ErrorResponse(checked.error());
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
  if (auto checked = CheckTypeAndId(type, id); !checked.ok()) return ErrorResponse(checked.error());
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
  if (auto checked = CheckTypeAndId(type, ""); !checked.ok()) return ErrorResponse(checked.error());
  std::vector<PlannedEntry> entries(1);
  entries[0].method = "DELETE";
  entries[0].type = std::string(type);
  entries[0].condition = params;
  TransactionRunner runner(*this, ctx);
  base::Status status = runner.Run(entries);
  if (!status.ok()) return ErrorResponse(status.error());
  return SingleWriteResponse(ctx, entries[0], store_, policy_, audit_);
}

}  // namespace carerecord::interactions
