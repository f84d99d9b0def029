// Read, vread, search, history and $everything: each opens the store through a RequestGate and
// assembles its Bundle from stored JSON by concatenation (DESIGN principle 5), re-serialising a
// resource only when _elements or _summary asks for a part of it.

#include <boost/json/array.hpp>
#include <charconv>

#include "access/region_access_policy.h"
#include "fhir/fhir_date.h"
#include "fhir/json_text.h"
#include "fhir/resource_summary.h"
#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"
#include "interactions/fhir_json.h"
#include "interactions/fhir_service.h"
#include "interactions/responses.h"
#include "interactions/terminology_expansion.h"
#include "interactions/write_preparation.h"

namespace carerecord::interactions {

namespace json = boost::json;
using base::ErrorCode;
using base::Invalid;
using base::MakeError;

std::string BuildCapabilityStatement(const ServiceOptions& options);

FhirService::FhirService(store::Store& store, access::AccessPolicy& policy,
                         access::AuditSink* audit, ServiceOptions options)
    : store_(store), policy_(policy), audit_(audit), options_(std::move(options)) {
  capability_json_ = BuildCapabilityStatement(options_);
}

Response FhirService::Capabilities(const RequestContext&) const {
  Response response;
  response.body = capability_json_;
  return response;
}

namespace {

Response ResourceResponse(const store::StoredResource& resource) {
  Response response;
  response.body = resource.json;
  response.headers.emplace_back("ETag", "W/\"" + std::to_string(resource.version) + "\"");
  response.headers.emplace_back("Last-Modified", HttpDate(resource.last_updated_ms));
  return response;
}

// Applies _elements / _summary to one stored resource; returns it untouched when neither asks.
std::string Shape(const std::string& stored, const ParsedSearch& shaping) {
  if (shaping.elements.empty() && shaping.summary != SummaryMode::kText &&
      shaping.summary != SummaryMode::kData && shaping.summary != SummaryMode::kTrue) {
    return stored;
  }
  auto parsed = ParseJson(stored);
  if (!parsed.ok() || !parsed->is_object()) return stored;
  json::object& resource = parsed->as_object();
  json::object shaped;
  if (shaping.summary == SummaryMode::kData) {
    shaped = resource;
    shaped.erase("text");
  } else if (shaping.summary == SummaryMode::kText) {
    shaped = fhir::TextSummaryOf(resource);
  } else if (shaping.summary == SummaryMode::kTrue) {
    shaped = fhir::SummaryOf(resource);
  }
  if (!shaping.elements.empty()) fhir::AddElements(resource, shaping.elements, shaped);
  // Mark the copy as incomplete, as R4 asks.
  json::object& meta =
      shaped["meta"].is_object() ? shaped["meta"].as_object() : shaped["meta"].emplace_object();
  json::array tags = meta["tag"].is_array() ? meta["tag"].as_array() : json::array();
  tags.push_back(
      json::object{{"system", "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"},
                   {"code", "SUBSETTED"}});
  meta["tag"] = std::move(tags);
  return Serialize(shaped);
}

// Assembles a Bundle by concatenation. Entries are stored JSON, appended without re-parsing.
class BundleWriter {
 public:
  BundleWriter(std::string_view type, std::optional<int64_t> total) {
    out_ = R"({"resourceType":"Bundle","id":)" + JsonString(NewResourceId()) +
           R"(,"meta":{"lastUpdated":)" + JsonString(fhir::FormatInstant(fhir::NowMs())) +
           R"(},"type":)" + JsonString(type);
    if (total) out_ += R"(,"total":)" + std::to_string(*total);
  }
  void Link(std::string_view relation, std::string_view url) {
    links_ += links_.empty() ? "" : ",";
    links_ += R"({"relation":)" + JsonString(relation) + R"(,"url":)" + JsonString(url) + "}";
  }
  void Entry(std::string_view full_url, std::string_view resource, std::string_view search_mode,
             std::string_view extra = {}) {
    if (!entries_.empty()) entries_ += ',';
    entries_ += '{';
    if (!full_url.empty()) {
      entries_ += R"("fullUrl":)";
      fhir::AppendJsonString(entries_, full_url);
      entries_ += ',';
    }
    if (!resource.empty()) {
      entries_ += R"("resource":)";
      entries_ += resource;
    }
    if (!search_mode.empty()) {
      entries_ += R"(,"search":{"mode":)";
      fhir::AppendJsonString(entries_, search_mode);
      entries_ += '}';
    }
    if (!extra.empty()) {
      if (!resource.empty() || !search_mode.empty()) entries_ += ',';
      entries_ += extra;
    }
    entries_ += '}';
  }
  std::string Finish() {
    std::string out;
    out.reserve(out_.size() + links_.size() + entries_.size() + 32);
    out += out_;
    if (!links_.empty()) out.append(R"(,"link":[)").append(links_).append("]");
    if (!entries_.empty()) out.append(R"(,"entry":[)").append(entries_).append("]");
    out += "}";
    return out;
  }
  // Room for entries whose JSON totals about `bytes`, so appending does not re-copy the page.
  void Reserve(size_t bytes) { entries_.reserve(bytes); }

 private:
  std::string out_, links_, entries_;
};

// _count and _since, shared by history and $everything; false when `name` is neither.
base::Result<bool> ParsePagingParam(const std::string& name, const std::string& value,
                                    size_t max_count, size_t& count,
                                    std::optional<int64_t>& since_ms) {
  if (name == "_count") {
    size_t parsed = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (ec != std::errc() || end != value.data() + value.size() || parsed == 0) {
      return Invalid("_count must be a positive whole number", "_count");
    }
    count = std::min(parsed, max_count);
    return true;
  }
  if (name == "_since") {
    auto since = fhir::ParseFhirDate(value);
    if (!since.ok()) return Invalid("_since: " + since.error().message, "_since");
    since_ms = since->low_ms;
    return true;
  }
  return false;
}

// The parameters a lenient request was answered without, as an OperationOutcome entry.
void AppendIgnoredOutcome(BundleWriter& bundle, const std::vector<std::string>& ignored) {
  if (ignored.empty()) return;
  std::string message = "ignored: ";
  for (size_t i = 0; i < ignored.size(); ++i) message += (i ? "; " : "") + ignored[i];
  bundle.Entry("", OperationOutcomeJson("warning", "not-supported", message, ""), "outcome");
}

std::string PageUrl(const std::string& base, const QueryParams& applied, const std::string& cursor,
                    size_t count) {
  QueryParams params;
  for (const auto& p : applied) {
    if (p.first != "_count") params.push_back(p);
  }
  params.emplace_back("_count", std::to_string(count));
  if (!cursor.empty()) params.emplace_back("_cursor", cursor);
  return base + "?" + EncodeQuery(params);
}

}  // namespace

namespace {

// _summary and _elements of a read; the other parameters a read may carry (_format, _pretty)
// are the HTTP layer's, and search parameters mean nothing here.
base::Result<ParsedSearch> ReadShaping(std::string_view type, const QueryParams& params,
                                       bool strict) {
  QueryParams shaping;
  for (const auto& param : params) {
    if (param.first == "_summary" && param.second == "count") {
      return Invalid("_summary=count applies to searches, not to a read", "_summary");
    }
    if (param.first == "_summary" || param.first == "_elements") shaping.push_back(param);
  }
  return ParseSearch(type, shaping, strict);
}

Response ShapedResponse(const store::StoredResource& resource, const ParsedSearch& shaping) {
  Response response = ResourceResponse(resource);
  response.body = Shape(response.body, shaping);
  return response;
}

}  // namespace

Response FhirService::Read(const RequestContext& ctx, std::string_view type, std::string_view id,
                           const QueryParams& params) {
  if (auto s = CheckTypeAndId(type, id); !s.ok()) return ErrorResponse(s.error());
  auto shaping = ReadShaping(type, params, ctx.strict);
  if (!shaping.ok()) return ErrorResponse(shaping.error());
  access::RequestGate gate(policy_, audit_, ctx.who, "read");
  auto session = store_.OpenRead(gate);
  if (!session)
    return ErrorResponse(MakeError(ErrorCode::kUnavailable,
                                   "the server is too busy to read this now; retry shortly"));
  auto resource = session->Read(type, id);
  if (!resource.ok()) return ErrorResponse(resource.error());
  return ShapedResponse(resource.value(), *shaping);
}

Response FhirService::VRead(const RequestContext& ctx, std::string_view type, std::string_view id,
                            std::string_view version_text, const QueryParams& params) {
  if (auto s = CheckTypeAndId(type, id); !s.ok()) return ErrorResponse(s.error());
  auto shaping = ReadShaping(type, params, ctx.strict);
  if (!shaping.ok()) return ErrorResponse(shaping.error());
  int64_t version = 0;
  auto [end, ec] =
      std::from_chars(version_text.data(), version_text.data() + version_text.size(), version);
  if (ec != std::errc() || end != version_text.data() + version_text.size() || version <= 0) {
    return ErrorResponse(
        Invalid("'" + std::string(version_text) + "' is not a version id", "_history"));
  }
  access::RequestGate gate(policy_, audit_, ctx.who, "vread");
  auto session = store_.OpenRead(gate);
  if (!session)
    return ErrorResponse(MakeError(ErrorCode::kUnavailable,
                                   "the server is too busy to read this now; retry shortly"));
  auto resource = session->ReadVersion(type, id, version);
  if (!resource.ok()) return ErrorResponse(resource.error());
  return ShapedResponse(resource.value(), *shaping);
}

Response FhirService::Search(const RequestContext& ctx, std::string_view type,
                             const QueryParams& params) {
  return RunSearch(ctx, type, params, "");
}

Response FhirService::CompartmentSearch(const RequestContext& ctx, std::string_view patient_id,
                                        std::string_view type, const QueryParams& params) {
  if (auto s = CheckTypeAndId("Patient", patient_id); !s.ok()) return ErrorResponse(s.error());
  if (fhir::IsResourceType(type) && type != "Patient" &&
      fhir::PatientCompartmentParams(type).empty()) {
    return ErrorResponse(Invalid(std::string(type) + " is not in the Patient compartment", "type"));
  }
  return RunSearch(ctx, type, params, patient_id);
}

Response FhirService::RunSearch(const RequestContext& ctx, std::string_view type,
                                const QueryParams& params, std::string_view compartment_patient) {
  if (auto s = CheckTypeAndId(type, ""); !s.ok()) return ErrorResponse(s.error());
  auto parsed = ParseSearch(type, params, ctx.strict, options_.limits, ctx.base_url);
  if (!parsed.ok()) return ErrorResponse(parsed.error());
  parsed->spec.compartment_patient = std::string(compartment_patient);
  if (compartment_patient.empty() && ctx.who.kind && ctx.who.role == "patient" &&
      !fhir::PatientCompartmentParams(type).empty()) {
    // A patient's search is narrowed to their own record (the gate would withhold the rest),
    // so it is a range scan of one compartment and needs no patient parameter.
    parsed->spec.compartment_patient = std::string(access::RegionAccessPolicy::OwnPatient(ctx.who));
  }
  ctx.Bound(parsed->spec.budget);
  access::RequestGate gate(policy_, audit_, ctx.who, "search");
  auto session = store_.OpenRead(gate);
  if (!session)
    return ErrorResponse(MakeError(ErrorCode::kUnavailable,
                                   "the server is too busy to read this now; retry shortly"));
  auto terminology = ReadSessionTerminology(*session);
  if (auto s = ExpandSearchTerminology(parsed->spec, *terminology); !s.ok()) {
    return ErrorResponse(s.error());
  }
  auto page = session->Search(parsed->spec);
  if (!page.ok()) return ErrorResponse(page.error());

  std::string base = ctx.base_url + "/";
  if (!compartment_patient.empty()) base += "Patient/" + std::string(compartment_patient) + "/";
  base += std::string(type);
  BundleWriter bundle("searchset", page->total);
  bundle.Link("self", PageUrl(base, parsed->applied, parsed->spec.cursor, parsed->spec.count));
  if (!page->next_cursor.empty()) {
    bundle.Link("next", PageUrl(base, parsed->applied, page->next_cursor, parsed->spec.count));
  }
  if (!page->previous_cursor.empty()) {
    bundle.Link("previous",
                PageUrl(base, parsed->applied, page->previous_cursor, parsed->spec.count));
  }
  for (const store::StoredResource& r : page->matches) {
    bundle.Entry(ctx.base_url + "/" + r.type + "/" + r.id, Shape(r.json, *parsed), "match");
  }
  for (const store::StoredResource& r : page->included) {
    bundle.Entry(ctx.base_url + "/" + r.type + "/" + r.id, r.json, "include");
  }
  AppendIgnoredOutcome(bundle, parsed->ignored);
  Response response;
  response.body = bundle.Finish();
  return response;
}

Response FhirService::History(const RequestContext& ctx, std::string_view type, std::string_view id,
                              const QueryParams& params) {
  if (!type.empty()) {
    if (auto s = CheckTypeAndId(type, id); !s.ok()) return ErrorResponse(s.error());
  }
  store::HistoryQuery query;
  query.type = std::string(type);
  query.id = std::string(id);
  QueryParams applied;
  std::vector<std::string> ignored;
  if (auto once = CheckResultParametersOnce(params); !once.ok()) return ErrorResponse(once.error());
  for (const auto& [name, value] : params) {
    if (name == "_summary" && value == "count") {
      return ErrorResponse(
          Invalid("_summary=count is not supported on history; page through it with _count", name));
    }
    auto paging =
        ParsePagingParam(name, value, options_.limits.max_count, query.count, query.since_ms);
    if (!paging.ok()) return ErrorResponse(paging.error());
    if (paging.value()) {
      if (name == "_since") applied.emplace_back(name, value);
    } else if (name == "_cursor") {
      query.cursor = value;
    } else if (name == "_total") {
      if (value != "none" && value != "estimate" && value != "accurate") {
        return ErrorResponse(Invalid("_total is one of none, estimate, accurate", "_total"));
      }
      query.total = value == "accurate";
      if (query.total) applied.emplace_back(name, value);
    } else if (name == "_format" || name == "_pretty") {
    } else if (ctx.strict || name == "_at" || name == "_list") {
      return ErrorResponse(Invalid(name + " is not supported on history", name));
    } else {
      ignored.push_back(name + " is not supported on history");
    }
  }
  access::RequestGate gate(policy_, audit_, ctx.who, "history");
  auto session = store_.OpenRead(gate);
  if (!session)
    return ErrorResponse(MakeError(ErrorCode::kUnavailable,
                                   "the server is too busy to read this now; retry shortly"));
  auto page = session->History(query);
  if (!page.ok()) return ErrorResponse(page.error());

  std::string base = ctx.base_url;
  if (!type.empty()) base += "/" + std::string(type);
  if (!id.empty()) base += "/" + std::string(id);
  base += "/_history";
  BundleWriter bundle("history", page->total);
  bundle.Link("self", PageUrl(base, applied, query.cursor, query.count));
  if (!page->next_cursor.empty()) {
    bundle.Link("next", PageUrl(base, applied, page->next_cursor, query.count));
  }
  if (!page->previous_cursor.empty()) {
    bundle.Link("previous", PageUrl(base, applied, page->previous_cursor, query.count));
  }
  for (const store::StoredResource& r : page->versions) {
    std::string url = r.type + "/" + r.id;
    std::string extra =
        R"("request":{"method":)" + JsonString(r.method) + R"(,"url":)" +
        JsonString(r.method == "POST" ? r.type : url) + R"(},"response":{"status":)" +
        JsonString(r.deleted        ? "204"
                   : r.version == 1 ? "201"
                                    : "200") +
        R"(,"etag":)" + JsonString("W/\"" + std::to_string(r.version) + "\"") +
        R"(,"lastModified":)" + JsonString(fhir::FormatInstant(r.last_updated_ms)) + "}";
    bundle.Entry(ctx.base_url + "/" + url, r.deleted ? "" : r.json, "", extra);
  }
  AppendIgnoredOutcome(bundle, ignored);
  Response response;
  response.body = bundle.Finish();
  return response;
}

Response FhirService::Everything(const RequestContext& ctx, std::string_view id,
                                 const QueryParams& params) {
  if (auto s = CheckTypeAndId("Patient", id); !s.ok()) return ErrorResponse(s.error());
  store::EverythingQuery query;
  query.patient_id = std::string(id);
  ctx.Bound(query.budget);
  query.count = options_.limits.max_count;
  QueryParams applied;
  std::vector<std::string> ignored;
  if (auto once = CheckResultParametersOnce(params); !once.ok()) return ErrorResponse(once.error());
  for (const auto& [name, value] : params) {
    if (name == "_summary" && value == "count") {
      return ErrorResponse(Invalid(
          "_summary=count is not supported on $everything; page through it with _count", name));
    }
    auto paging =
        ParsePagingParam(name, value, options_.everything_max_count, query.count, query.since_ms);
    if (!paging.ok()) return ErrorResponse(paging.error());
    if (paging.value()) {
      if (name == "_since") applied.emplace_back(name, value);
    } else if (name == "_type") {
      for (size_t start = 0; start <= value.size();) {
        size_t comma = value.find(',', start);
        std::string type = value.substr(start, comma == std::string::npos ? comma : comma - start);
        if (!fhir::IsResourceType(type)) {
          return ErrorResponse(Invalid("'" + type + "' is not a resource type", "_type"));
        }
        query.types.push_back(type);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      applied.emplace_back(name, value);
    } else if (name == "_cursor") {
      query.cursor = value;
    } else if (name == "_format" || name == "_pretty") {
    } else if (ctx.strict || name == "start" || name == "end") {
      return ErrorResponse(Invalid(name + " is not supported on $everything", name));
    } else {
      // As a lenient search does: answered without it, and said so in the Bundle.
      ignored.push_back(name + " is not supported on $everything");
    }
  }
  access::RequestGate gate(policy_, audit_, ctx.who, "everything");
  auto session = store_.OpenRead(gate);
  if (!session)
    return ErrorResponse(MakeError(ErrorCode::kUnavailable,
                                   "the server is too busy to read this now; retry shortly"));
  auto page = session->Everything(query);
  if (!page.ok()) return ErrorResponse(page.error());
  std::string base = ctx.base_url + "/Patient/" + std::string(id) + "/$everything";
  BundleWriter bundle("searchset", std::nullopt);
  size_t bytes = 0;
  for (const store::StoredResource& r : page->matches) bytes += r.json.size() + 160;
  for (const store::StoredResource& r : page->included) bytes += r.json.size() + 160;
  bundle.Reserve(bytes);
  bundle.Link("self", PageUrl(base, applied, query.cursor, query.count));
  if (!page->next_cursor.empty()) {
    bundle.Link("next", PageUrl(base, applied, page->next_cursor, query.count));
  }
  // The compartment, then what it references from outside any compartment (R4: "and any
  // resource referenced from those"), marked as included rather than matched.
  for (const store::StoredResource& r : page->matches) {
    bundle.Entry(ctx.base_url + "/" + r.type + "/" + r.id, r.json, "match");
  }
  for (const store::StoredResource& r : page->included) {
    bundle.Entry(ctx.base_url + "/" + r.type + "/" + r.id, r.json, "include");
  }
  AppendIgnoredOutcome(bundle, ignored);
  Response response;
  response.body = bundle.Finish();
  return response;
}

}  // namespace carerecord::interactions
