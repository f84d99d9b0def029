// Batch and transaction Bundles posted to the base: entries are planned, a transaction runs
// as one TransactionRunner (all or nothing), a batch as one per entry.

#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <map>
#include <unordered_set>

#include "fhir/fhir_date.h"
#include "fhir/json_number.h"
#include "fhir/json_text.h"
#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"
#include "interactions/fhir_json.h"
#include "interactions/local_reference.h"
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

// The request URL of an entry relative to the base: "Type", "Type/id", "Type?query".
std::string RelativeUrl(const RequestContext& ctx, std::string url) {
  if (auto local = LocalPathOf(url, ctx.base_url); local.ok() && local->has_value()) {
    url = std::move(**local);
  }
  if (!url.empty() && url[0] == '/') url.erase(0, 1);
  return url;
}

// What a GET entry reads: a search (no id), a read (no version) or a vread.
struct GetTarget {
  std::string type, id, version;
  QueryParams params;
};

// The GET entry's URL understood, or why it names nothing this server reads (a 400 or 404 that
// names the entry).
base::Result<GetTarget> ResolveGet(const RequestContext& ctx, const PlannedEntry& e) {
  const std::string where = e.where + ".request.url";
  std::string url = RelativeUrl(ctx, e.url);
  size_t question = url.find('?');
  std::string path = url.substr(0, question);
  if (path.find(':') != std::string::npos) {
    return Invalid("the GET url " + e.url + " is not on this server (" + ctx.base_url + ")", where);
  }
  GetTarget target;
  if (question != std::string::npos) {
    auto params = DecodeQuery(url.substr(question + 1));
    if (!params.ok()) return Invalid(params.error().message, where);
    target.params = std::move(params).value();
  }
  std::vector<std::string> segments;
  for (size_t start = 0; start <= path.size();) {
    size_t slash = path.find('/', start);
    segments.push_back(path.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (segments.size() == 4 && segments[2] == "_history") {
    target.version = segments[3];
  } else if (segments.size() > 2) {
    return Invalid("unsupported GET " + e.url + " (a Bundle entry reads Type?query, Type/id or " +
                       "Type/id/_history/version)",
                   where);
  }
  target.type = segments[0];
  if (segments.size() > 1) {
    target.id = segments[1];
    if (target.id.empty()) return Invalid("the GET url " + e.url + " has an empty id", where);
  }
  if (auto checked = CheckTypeAndId(target.type, target.id); !checked.ok()) {
    return MakeError(checked.error().code, checked.error().message, where);
  }
  return target;
}

// The error of a GET entry's failed response, naming the entry: the error code whose status
// the response has, and the diagnostics of its OperationOutcome.
base::Error EntryError(const Response& response, const PlannedEntry& e) {
  base::Error error{ErrorCode::kInternal, "", e.where + ".request.url"};
  for (int code = 0; code <= static_cast<int>(ErrorCode::kUnavailable); ++code) {
    if (HttpStatusOf(static_cast<ErrorCode>(code)) == response.status) {
      error.code = static_cast<ErrorCode>(code);
      break;
    }
  }
  std::string diagnostics = "status " + std::to_string(response.status);
  boost::system::error_code ec;
  json::value outcome = json::parse(response.body, ec);
  if (!ec && outcome.is_object()) {
    if (auto* issues = outcome.as_object().if_contains("issue");
        issues && issues->is_array() && !issues->as_array().empty() &&
        issues->as_array()[0].is_object()) {
      if (auto* text = issues->as_array()[0].as_object().if_contains("diagnostics");
          text && text->is_string()) {
        diagnostics = std::string(text->as_string());
      }
    }
  }
  error.message = "GET " + e.url + " fails: " + diagnostics +
                  "; a transaction succeeds or fails as a whole, so nothing of it was written";
  return error;
}

// What the Bundle asks for, entry by entry: each entry planned, or refused with the reason.
struct PlannedBundle {
  bool transaction = false;
  std::vector<PlannedEntry> entries;
  std::vector<base::Status> entry_errors;  // one per entry; ok when it was planned
};

// Plans one entry: its method, URL, condition, If-Match and resource (moved out of `entry`).
base::Status PlanEntry(const RequestContext& ctx, json::object& entry, PlannedEntry& e) {
  auto* request = entry.if_contains("request");
  if (!request || !request->is_object()) {
    return Invalid("the entry has no request", e.where + ".request");
  }
  json::object& req = request->as_object();
  auto text = [&](const char* key) -> std::string {
    auto* v = req.if_contains(key);
    const json::string* text = v ? fhir::IfText(*v) : nullptr;
    return text ? std::string(*text) : std::string();
  };
  e.method = text("method");
  e.url = text("url");
  if (e.method != "GET" && e.method != "POST" && e.method != "PUT" && e.method != "DELETE") {
    auto* method = req.if_contains("method");
    std::string shown = method == nullptr       ? "nothing"
                        : fhir::IfText(*method) ? "'" + e.method + "'"
                        : fhir::IsNumber(*method)
                            ? "the number " + fhir::NumberText(*method)
                            : "a JSON " + std::string(to_string(method->kind()));
    return Invalid("request.method must be GET, POST, PUT or DELETE, not " + shown,
                   e.where + ".request.method");
  }
  if (auto* full = entry.if_contains("fullUrl"); full && fhir::IfText(*full)) {
    e.full_url = std::string(*fhir::IfText(*full));
    if (auto checked = fhir::CheckFullUrl(e.full_url); !checked.ok()) {
      return Invalid(checked.error().message, e.where + ".fullUrl");
    }
  }
  if (e.method == "GET") return base::Status::Ok();  // read after the writes
  CR_RETURN_IF_ERROR(ParseEntryUrl(RelativeUrl(ctx, e.url), e));
  if (e.method == "POST") {
    if (e.condition)
      return Invalid("POST takes no query; use ifNoneExist", e.where + ".request.url");
    std::string if_none_exist = text("ifNoneExist");
    if (!if_none_exist.empty()) {
      if (size_t q = if_none_exist.find('?'); q != std::string::npos) {
        if_none_exist = if_none_exist.substr(q + 1);
      }
      auto query = DecodeQuery(if_none_exist);
      if (!query.ok()) {
        return Invalid(query.error().message, e.where + ".request.ifNoneExist");
      }
      e.condition = std::move(query).value();
    }
  }
  if (e.method == "PUT" && e.id.empty() && !e.condition) {
    return Invalid("PUT needs Type/id or Type?condition", e.where + ".request.url");
  }
  if (e.method == "DELETE" && e.id.empty() && !e.condition) {
    return Invalid("DELETE needs Type/id or Type?condition", e.where + ".request.url");
  }
  if (std::string m = text("ifMatch"); !m.empty()) {
    e.if_match = ParseETagVersion(m);
    if (!e.if_match) {
      return Invalid("ifMatch must be an ETag like W/\"3\"", e.where + ".request.ifMatch");
    }
  }
  if (e.method != "POST" && e.method != "PUT") return base::Status::Ok();
  auto* resource = entry.if_contains("resource");
  if (!resource || !resource->is_object()) {
    return Invalid("the entry has no resource", e.where + ".resource");
  }
  auto* rt = resource->as_object().if_contains("resourceType");
  if (!rt || !fhir::IfText(*rt) || *fhir::IfText(*rt) != e.type) {
    return Invalid("the resource's type does not match request.url " + e.url,
                   e.where + ".resource.resourceType");
  }
  if (e.method == "PUT" && !e.id.empty()) {
    auto* id = resource->as_object().if_contains("id");
    if (!id || !fhir::IfText(*id) || *fhir::IfText(*id) != e.id) {
      return Invalid("the resource's id must match request.url " + e.url, e.where + ".resource.id");
    }
  }
  e.resource = std::move(resource->as_object());
  return base::Status::Ok();
}

// Checks the Bundle's type and plans its entries. Entry errors are kept per entry: a batch
// answers each on its own, a transaction fails on the first.
base::Result<PlannedBundle> PlanBundle(const RequestContext& ctx, const ServiceOptions& options,
                                       json::object& bundle) {
  if (bundle.at("resourceType").as_string() != "Bundle") {
    return Invalid("POST to the base takes a Bundle", "/resourceType");
  }
  auto* type_value = bundle.if_contains("type");
  std::string bundle_type =
      type_value && fhir::IfText(*type_value) ? std::string(*fhir::IfText(*type_value)) : "";
  if (bundle_type != "transaction" && bundle_type != "batch") {
    return Invalid("the Bundle type must be transaction or batch, not '" + bundle_type + "'",
                   "/type");
  }
  PlannedBundle planned;
  planned.transaction = bundle_type == "transaction";
  auto* entry_value = bundle.if_contains("entry");
  if (entry_value == nullptr) return planned;
  if (!entry_value->is_array()) return Invalid("entry must be an array", "/entry");
  json::array& array = entry_value->as_array();
  if (array.size() > options.bundle_max_entries) {
    return MakeError(ErrorCode::kTooLarge,
                     "the Bundle has " + std::to_string(array.size()) + " entries; at most " +
                         std::to_string(options.bundle_max_entries) + " are accepted in one Bundle",
                     "/entry");
  }
  if (!ctx.entry_provenance.empty() && ctx.entry_provenance.size() != array.size()) {
    return MakeError(ErrorCode::kInternal, "the request names the provenance of " +
                                               std::to_string(ctx.entry_provenance.size()) +
                                               " entries, the Bundle has " +
                                               std::to_string(array.size()));
  }
  if (!ctx.entry_absent_since.empty() && ctx.entry_absent_since.size() != array.size()) {
    return MakeError(ErrorCode::kInternal, "the request says which of " +
                                               std::to_string(ctx.entry_absent_since.size()) +
                                               " entries are known absent, the Bundle has " +
                                               std::to_string(array.size()));
  }
  planned.entries.resize(array.size());
  planned.entry_errors.resize(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    PlannedEntry& e = planned.entries[i];
    e.where = "Bundle.entry[" + std::to_string(i) + "]";
    if (!ctx.entry_provenance.empty()) e.provenance = ctx.entry_provenance[i];
    if (!ctx.entry_absent_since.empty()) e.absent_since = ctx.entry_absent_since[i];
    planned.entry_errors[i] = array[i].is_object()
                                  ? PlanEntry(ctx, array[i].as_object(), e)
                                  : base::Status(Invalid("an entry must be an object", e.where));
  }
  return planned;
}

// Runs a planned Bundle's entries and writes the response Bundle's entries, as JSON text: the
// bodies of reads and of written versions are copied in as stored, never parsed again.
class BundleRun {
 public:
  BundleRun(FhirService& service, const RequestContext& ctx, const SearchLimits& limits,
            size_t max_response_bytes)
      : service_(service), ctx_(ctx), limits_(limits), max_response_bytes_(max_response_bytes) {}

  // All writes as one TransactionRunner (all or nothing), then the GETs, in entry order.
  base::Status Transaction(PlannedBundle& bundle) {
    for (const base::Status& error : bundle.entry_errors) {
      if (!error.ok()) return error;
    }
    CR_RETURN_IF_ERROR(CheckGets(bundle.entries));
    // FHIR's order of processing: DELETE, POST, PUT, then GET after the writes.
    std::vector<size_t> order;
    for (const char* method : {"DELETE", "POST", "PUT"}) {
      for (size_t i = 0; i < bundle.entries.size(); ++i) {
        if (bundle.entries[i].method == method) order.push_back(i);
      }
    }
    std::vector<PlannedEntry> writes;
    writes.reserve(order.size());
    for (size_t i : order) writes.push_back(std::move(bundle.entries[i]));
    TransactionRunner runner(service_, ctx_);
    CR_RETURN_IF_ERROR(runner.Run(writes));
    for (size_t k = 0; k < order.size(); ++k) bundle.entries[order[k]] = std::move(writes[k]);
    for (PlannedEntry& e : bundle.entries) {
      if (e.method == "GET") {
        AppendReadEntry(e);
      } else {
        AppendWriteEntry(e);
      }
    }
    return base::Status::Ok();
  }

  // Each entry on its own: one failing does not stop the others.
  void Batch(PlannedBundle& bundle) {
    for (size_t i = 0; i < bundle.entries.size(); ++i) {
      PlannedEntry& e = bundle.entries[i];
      if (!bundle.entry_errors[i].ok()) {
        AppendResponseEntry(FhirService::ErrorResponse(bundle.entry_errors[i].error()));
        continue;
      }
      if (e.method == "GET") {
        AppendReadEntry(e);
        continue;
      }
      std::vector<PlannedEntry> one;
      one.push_back(std::move(e));
      TransactionRunner runner(service_, ctx_);
      base::Status status = runner.Run(one);
      if (status.ok()) {
        AppendWriteEntry(one[0]);
      } else {
        AppendResponseEntry(FhirService::ErrorResponse(status.error()));
      }
    }
  }

  // The response entries, comma-separated, for the response Bundle's "entry" array.
  std::string& entries() { return entries_; }

 private:
  // A GET entry (search, read or vread), unless the response is already as large as one may be:
  // a batch of a hundred 1,000-resource searches must not build a response of gigabytes.
  void AppendReadEntry(const PlannedEntry& e) {
    if (entries_.size() >= max_response_bytes_) {
      AppendResponseEntry(FhirService::ErrorResponse(MakeError(
          ErrorCode::kTooLarge,
          "the response Bundle reached " + std::to_string(max_response_bytes_) +
              " bytes before this entry was read; ask for fewer or smaller reads per Bundle",
          e.where)));
      return;
    }
    AppendResponseEntry(Get(e));
  }

  Response Get(const PlannedEntry& e) {
    auto target = ResolveGet(ctx_, e);
    if (!target.ok()) return FhirService::ErrorResponse(target.error());
    if (target->id.empty()) return service_.Search(ctx_, target->type, target->params);
    if (target->version.empty()) {
      return service_.Read(ctx_, target->type, target->id, target->params);
    }
    return service_.VRead(ctx_, target->type, target->id, target->version, target->params);
  }

  // A transaction's GET entries run after its writes, but one that fails must fail the whole
  // before anything is written (FHIR: a transaction succeeds or fails as a whole). So each is
  // checked first: its URL and search understood, and a read of a resource the transaction
  // does not write done once ahead. (A read that fails only after the commit, because another
  // request deleted its resource in between, still answers in its entry.)
  base::Status CheckGets(const std::vector<PlannedEntry>& entries) {
    std::unordered_set<std::string> written;  // "Type/id", or "Type" for a conditional write
    for (const PlannedEntry& e : entries) {
      // A create takes a new id, which no GET entry can name.
      if (e.method == "GET" || e.method == "POST") continue;
      written.insert(e.id.empty() ? e.type : e.type + "/" + e.id);
    }
    for (const PlannedEntry& e : entries) {
      if (e.method != "GET") continue;
      auto target = ResolveGet(ctx_, e);
      if (!target.ok()) return target.error();
      if (target->id.empty()) {
        auto parsed =
            ParseSearch(target->type, target->params, ctx_.strict, limits_, ctx_.base_url);
        if (!parsed.ok()) {
          base::Error error = parsed.error();
          error.location =
              e.where + ".request.url" + (error.location.empty() ? "" : ": " + error.location);
          return error;
        }
        continue;
      }
      if (written.count(target->type) || written.count(target->type + "/" + target->id)) continue;
      Response read = Get(e);
      if (read.status >= 400) return EntryError(read, e);
    }
    return base::Status::Ok();
  }

  void BeginEntry() {
    if (!entries_.empty()) entries_.push_back(',');
    entries_.push_back('{');
  }

  // The entry of a GET, or of an error: its resource, or its OperationOutcome, as the body.
  void AppendResponseEntry(const Response& r) {
    json::object response;
    response["status"] = std::to_string(r.status);
    for (const auto& [name, value] : r.headers) {
      if (name == "ETag") response["etag"] = value;
      if (name == "Location") response["location"] = value;
    }
    std::string head = Serialize(response);  // never empty: it has the status
    BeginEntry();
    if (!r.body.empty() && r.status < 400) {
      entries_ += "\"resource\":";
      entries_ += r.body;
      entries_.push_back(',');
    }
    entries_ += "\"response\":";
    if (!r.body.empty() && r.status >= 400) {
      head.pop_back();  // the closing brace: the outcome goes in before it
      entries_ += head;
      entries_ += ",\"outcome\":";
      entries_ += r.body;
      entries_.push_back('}');
    } else {
      entries_ += head;
    }
    entries_.push_back('}');
  }

  // The entry of a committed write.
  void AppendWriteEntry(PlannedEntry& e) {
    if (e.noop && e.method == "POST") e.status = 200;
    BeginEntry();
    if (!e.resolved_id.empty()) {
      entries_ += "\"fullUrl\":";
      fhir::AppendJsonString(entries_, ctx_.base_url + "/" + e.type + "/" + e.resolved_id);
      entries_.push_back(',');
    }
    if (ctx_.prefer_return == PreferReturn::kRepresentation && !e.stored_json.empty()) {
      entries_ += "\"resource\":";
      entries_ += e.stored_json;
      entries_.push_back(',');
    }
    entries_ += "\"response\":";
    entries_ += Serialize(EntryResponse(e));
    entries_.push_back('}');
  }

  FhirService& service_;
  const RequestContext& ctx_;
  const SearchLimits& limits_;
  size_t max_response_bytes_;
  std::string entries_;
};

}  // namespace

Response FhirService::ProcessBundle(const RequestContext& ctx, std::string_view body) {
  // The Bundle, its entries and their per-attempt copies live and die together: one arena
  // instead of a heap allocation per JSON node (a Synthea bundle has about a million).
  auto arena = boost::json::make_shared_resource<boost::json::monotonic_resource>();
  auto parsed = ParseResourceBody(body, arena);
  if (!parsed.ok()) return ErrorResponse(parsed.error());
  auto planned = PlanBundle(ctx, options_, parsed.value());
  if (!planned.ok()) return ErrorResponse(planned.error());
  BundleRun run(*this, ctx, options_.limits, options_.bundle_response_max_bytes);
  if (planned->transaction) {
    base::Status done = run.Transaction(planned.value());
    if (!done.ok()) return ErrorResponse(done.error());
  } else {
    run.Batch(planned.value());
  }
  Response response;
  response.body.reserve(run.entries().size() + 128);
  response.body += "{\"resourceType\":\"Bundle\",\"id\":";
  fhir::AppendJsonString(response.body, NewResourceId());
  response.body +=
      planned->transaction ? ",\"type\":\"transaction-response\"" : ",\"type\":\"batch-response\"";
  response.body += ",\"entry\":[";
  response.body += run.entries();
  response.body += "]}";
  return response;
}

}  // namespace carerecord::interactions
