// Batch and transaction Bundles posted to the base: entries are planned, a transaction runs
// as one TransactionRunner (all or nothing), a batch as one per entry.

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "fhir/fhir_date.h"
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

namespace {

// Parses "Type", "Type/id" or "Type?query" of a request URL (relative to the base).
base::Status ParseEntryUrl(std::string_view url, PlannedEntry& entry) {
  size_t question = url.find('?');
  std::string_view path = url.substr(0, question);
  if (question != std::string_view::npos) {
    auto query = DecodeQuery(url.substr(question + 1));
    if (!query.ok()) {
      return Invalid(query.error().message, entry.where + ".request.url");
    }
    entry.condition = std::move(query).value();
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
          auto query = DecodeQuery(if_none_exist);
          if (!query.ok()) {
            fail(Invalid(query.error().message, e.where + ".request.ifNoneExist"));
            continue;
          }
          e.condition = std::move(query).value();
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
    auto params = question == std::string::npos ? base::Result<QueryParams>(QueryParams{})
                                                : DecodeQuery(url.substr(question + 1));
    if (!params.ok()) {
      return ErrorResponse(Invalid(params.error().message, e.where + ".request.url"));
    }
    std::vector<std::string> segments;
    for (size_t start = 0; start <= path.size();) {
      size_t slash = path.find('/', start);
      segments.push_back(path.substr(start, slash == std::string::npos ? slash : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (segments.size() == 1) return Search(ctx, segments[0], *params);
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
