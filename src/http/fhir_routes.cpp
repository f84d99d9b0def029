#include "http/fhir_routes.h"

#include <atomic>
#include <boost/url/parse.hpp>
#include <cctype>
#include <chrono>
#include <string>
#include <utility>

#include "access/scope_policy.h"
#include "http/audit_routes.h"
#include "http/audited_request.h"
#include "http/bundle_scopes.h"
#include "http/patient_access_operations.h"
#include "interactions/responses.h"

namespace carerecord::http {
namespace {

using interactions::CheckDecodedText;
using interactions::CheckPercentEscapes;
using interactions::PreferReturn;
using interactions::QueryParams;
using interactions::Response;

constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";

// Far above any real search; beyond it a query is refused before it reaches the database,
// whose statement size and expression depth are bounded.
constexpr size_t kMaxQueryParameters = 200;
constexpr auto kRequestSearchTime = std::chrono::seconds(60);

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Clients commonly send characters a URL may not hold raw (FHIR's own examples write
// "identifier=system|value"); percent-encode them so such a target parses as meant.
std::string EncodeRawCharacters(std::string_view target) {
  static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/?";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(target.size() + 16);
  for (size_t i = 0; i < target.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(target[i]);
    bool escape =
        c == '%' && i + 2 < target.size() && IsHexDigit(target[i + 1]) && IsHexDigit(target[i + 2]);
    if (std::isalnum(c) && c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (escape || kAllowed.find(static_cast<char>(c)) != std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool ContainsIgnoringCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool match = true;
    for (size_t j = 0; j < needle.size() && match; ++j) {
      match = std::tolower(static_cast<unsigned char>(haystack[i + j])) ==
              std::tolower(static_cast<unsigned char>(needle[j]));
    }
    if (match) return true;
  }
  return false;
}

HttpResponse ToHttp(Response response) {
  HttpResponse out;
  out.status = response.status;
  out.headers = std::move(response.headers);
  if (!response.body.empty()) out.SetHeader("Content-Type", std::string(kFhirJson));
  out.body = std::move(response.body);
  return out;
}

HttpResponse Error(base::ErrorCode code, std::string message, std::string where = {}) {
  return ToHttp(interactions::FhirService::ErrorResponse(
      base::MakeError(code, std::move(message), std::move(where))));
}

// JSON bodies only; say so plainly to a client that sends or asks for XML.
std::optional<HttpResponse> CheckFormats(const HttpRequest& request, const QueryParams& params) {
  for (const auto& [name, value] : params) {
    if (name == "_format" && ContainsIgnoringCase(value, "xml")) {
      return Error(base::ErrorCode::kNotSupported, "this server speaks JSON only", "_format");
    }
  }
  std::string_view accept = request.Header("accept");
  if (!accept.empty() && ContainsIgnoringCase(accept, "xml") &&
      !ContainsIgnoringCase(accept, "json") && accept.find("*/*") == std::string_view::npos) {
    auto response = Error(base::ErrorCode::kNotSupported, "this server speaks JSON only", "Accept");
    response.status = 406;
    return response;
  }
  if (!request.body.empty() && (request.method == "POST" || request.method == "PUT")) {
    std::string_view type = request.Header("content-type");
    bool form = ContainsIgnoringCase(type, "application/x-www-form-urlencoded");
    if (!type.empty() && !form && !ContainsIgnoringCase(type, "json")) {
      auto response = Error(base::ErrorCode::kNotSupported,
                            "Content-Type must be application/fhir+json, not " + std::string(type),
                            "Content-Type");
      response.status = 415;
      return response;
    }
  }
  return std::nullopt;
}

// The parameters of a POST that searches (Type/_search, AuditEvent/_search, $access-log): the
// query's and the form body's together, checked as a GET's query is (how many, their decoded
// text). A body must be a form (Content-Type application/x-www-form-urlencoded), as R4's search
// by POST says; `what` names the search in the error.
base::Result<QueryParams> WithFormBody(const HttpRequest& request, const QueryParams& params,
                                       std::string_view what) {
  QueryParams all = params;
  if (!request.body.empty()) {
    if (!ContainsIgnoringCase(request.Header("content-type"),
                              "application/x-www-form-urlencoded")) {
      return base::MakeError(base::ErrorCode::kInvalid,
                             "a POST that " + std::string(what) +
                                 " takes its parameters as a form body (Content-Type "
                                 "application/x-www-form-urlencoded)",
                             "Content-Type");
    }
    auto form = interactions::DecodeQuery(request.body);
    if (!form.ok()) return form.error();
    all.insert(all.end(), form->begin(), form->end());
  }
  if (all.size() > kMaxQueryParameters) {
    return base::MakeError(base::ErrorCode::kInvalid,
                           "the query has " + std::to_string(all.size()) + " parameters; at most " +
                               std::to_string(kMaxQueryParameters) + " are accepted");
  }
  if (auto bad = CheckDecodedText(all); !bad.ok()) return bad.error();
  return all;
}

// "Type" and "id" of a request to /fhir/Type/id (no query, no operation); empty otherwise.
std::pair<std::string, std::string> TypeAndIdOf(const HttpRequest& request) {
  std::string_view path = request.target;
  if (!path.starts_with("/fhir/") || path.find('?') != std::string_view::npos) return {};
  path.remove_prefix(6);
  if (path.ends_with('/')) path.remove_suffix(1);
  const size_t slash = path.find('/');
  if (slash == std::string_view::npos) return {};
  std::string_view type = path.substr(0, slash), id = path.substr(slash + 1);
  if (type.empty() || id.empty() || id.find('/') != std::string_view::npos || id[0] == '$' ||
      id[0] == '_' || type[0] == '$' || type[0] == '_') {
    return {};
  }
  return {std::string(type), std::string(id)};
}

}  // namespace

HttpResponse FhirRoutes::ErrorResponse(int status, const std::string& message) {
  base::ErrorCode code = status == 413   ? base::ErrorCode::kTooLarge
                         : status == 503 ? base::ErrorCode::kUnavailable
                         : status >= 500 ? base::ErrorCode::kInternal
                                         : base::ErrorCode::kInvalid;
  HttpResponse response = Error(code, message);
  response.status = status;
  return response;
}

bool FhirRoutes::IsQuickRead(const HttpRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  std::string_view path = request.target;
  if (!path.starts_with("/fhir/") || path.find('?') != std::string_view::npos) return false;
  path.remove_prefix(6);
  if (path.ends_with('/')) path.remove_suffix(1);
  std::vector<std::string_view> segments;
  for (size_t start = 0; segments.size() <= 4;) {
    size_t slash = path.find('/', start);
    segments.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  auto plain = [](std::string_view segment) {  // not an operation, _history or _search
    return !segment.empty() && segment[0] != '$' && segment[0] != '_';
  };
  switch (segments.size()) {
    case 1:
      return segments[0] == "metadata";
    case 2:
      return plain(segments[0]) && plain(segments[1]);
    case 4:
      return plain(segments[0]) && plain(segments[1]) && segments[2] == "_history" &&
             plain(segments[3]);
    default:
      return false;
  }
}

HttpResponse FhirRoutes::Handle(const HttpRequest& request,
                                const access::AccessContext& who) const {
  return Settled(HandleDeferred(request, who));
}

HttpResponse FhirRoutes::HandleDeferred(const HttpRequest& request,
                                        const access::AccessContext& who) const {
  if (options_.audit == nullptr) return Route(request, who);
  // A request that may change data runs only once its intent is durable: should its outcome
  // entry then fail, the log still says who tried to change what.
  if (auto intent = WriteIntentOf(request, who)) {
    // A write in a record that only the user's break-glass opens is BTG from its intent on: the
    // patient its path names, or one its body refers to (a staff user's only: no one else
    // breaks glass).
    if (who.kind == access::PrincipalKind::kUser && intent->disclosure.purpose_of_use.empty()) {
      std::vector<std::string> named(intent->disclosure.patients.begin(),
                                     intent->disclosure.patients.end());
      for (std::string& patient : PatientsReferredTo(request)) named.push_back(std::move(patient));
      for (const std::string& patient : named) {
        if (service_.OpensOnlyByBreakGlass(who, patient)) {
          intent->disclosure.purpose_of_use = "BTG";
          break;
        }
      }
      // A write by id (a DELETE names no patient at all) changes the stored item's record too.
      if (intent->disclosure.purpose_of_use.empty()) {
        if (auto [type, id] = TypeAndIdOf(request);
            !id.empty() && service_.StoredInRecordOnlyBreakGlassOpens(who, type, id)) {
          intent->disclosure.purpose_of_use = "BTG";
        }
      }
    }
    if (auto recorded = options_.audit->Append(*intent); !recorded.ok()) {
      HttpResponse refused = ErrorResponse(
          503,
          "this request could not be recorded in the audit log, so it was not carried out "
          "(nothing was changed); retry shortly");
      refused.SetHeader("Retry-After", "1");
      return refused;
    }
  }
  access::RequestDisclosures disclosures;
  access::AccessContext audited = who;
  audited.request_audit = &disclosures;
  HttpResponse response = Route(request, audited);
  auto entry = AuditedRequestOf(request, who, disclosures, response.status,
                                response.Header("location"), response.body);
  if (!entry) return response;
  // Fail closed: nothing read is sent without its audit entry. A write got this far only with
  // its intent entry durable; it may have been carried out (ARCHITECTURE, the audit log).
  const bool changed = !entry->changed.empty() || (WriteIntentOf(request, who) &&
                                                   response.status >= 200 && response.status < 300);
  auto hold = std::make_shared<ResponseHold>();
  options_.audit->AppendThen(*entry, [hold, changed](const base::Status& recorded) {
    if (recorded.ok()) return hold->Complete(std::nullopt);
    HttpResponse refused = ErrorResponse(
        503, changed ? "this change was carried out, but its outcome could not be recorded in the "
                       "audit log, so its answer is withheld; read the resource back before "
                       "retrying"
                     : "this request could not be recorded in the audit log, so its answer is "
                       "withheld; retry shortly");
    refused.SetHeader("Retry-After", "1");
    hold->Complete(std::move(refused));
  });
  // A sink that recorded the entry before it returned (or failed at once) leaves nothing to wait
  // for.
  const bool complete = hold->complete();
  response.hold = std::move(hold);
  return complete ? Settled(std::move(response)) : response;
}

HttpResponse FhirRoutes::Route(const HttpRequest& request, const access::AccessContext& who) const {
  if (auto bad = CheckPercentEscapes(request.target); !bad.ok()) {
    return Error(bad.error().code, bad.error().message, bad.error().location);
  }
  std::string target = request.target;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) {
    target = EncodeRawCharacters(request.target);
    url = boost::urls::parse_origin_form(target);
  }
  if (!url) return Error(base::ErrorCode::kInvalid, "the request target is not a valid URL");
  std::vector<std::string> segments;
  for (auto segment : url->segments()) segments.push_back(segment);
  if (!segments.empty() && segments.back().empty()) segments.pop_back();  // trailing slash
  if (segments.empty() || segments[0] != "fhir") {
    return Error(base::ErrorCode::kNotFound, "nothing here; the FHIR API is at /fhir/");
  }
  segments.erase(segments.begin());
  // The query as sent, by the one decoder every query goes through (If-None-Exist, Bundle
  // entries, _search bodies).
  const size_t question = request.target.find('?');
  auto decoded = interactions::DecodeQuery(
      question == std::string::npos ? std::string_view()
                                    : std::string_view(request.target).substr(question + 1));
  if (!decoded.ok()) {
    return Error(decoded.error().code, decoded.error().message, decoded.error().location);
  }
  QueryParams params = std::move(decoded).value();
  if (params.size() > kMaxQueryParameters) {
    return Error(base::ErrorCode::kInvalid,
                 "the query has " + std::to_string(params.size()) + " parameters; at most " +
                     std::to_string(kMaxQueryParameters) + " are accepted");
  }
  if (auto bad = CheckDecodedText(params); !bad.ok()) {
    return Error(bad.error().code, bad.error().message, bad.error().location);
  }
  if (auto rejected = CheckFormats(request, params)) return *rejected;

  interactions::RequestContext ctx;
  ctx.who = who;
  ctx.who.client_address = request.remote_address;
  // All the searches of one request (a Bundle may hold thousands) share one minute.
  ctx.deadline = std::chrono::steady_clock::now() + kRequestSearchTime;
  ctx.base_url = options_.public_base_url;
  if (ctx.base_url.empty()) {
    const std::string& local = request.local_address;
    ctx.base_url = "http://" + (local.empty() ? std::string("localhost") : local) + "/fhir";
  }
  std::string_view prefer = request.Header("prefer");
  ctx.strict = ContainsIgnoringCase(prefer, "handling=strict");
  if (ContainsIgnoringCase(prefer, "return=minimal")) {
    ctx.prefer_return = PreferReturn::kMinimal;
  } else if (ContainsIgnoringCase(prefer, "return=representation")) {
    ctx.prefer_return = PreferReturn::kRepresentation;
  } else if (ContainsIgnoringCase(prefer, "return=operationoutcome")) {
    ctx.prefer_return = PreferReturn::kOperationOutcome;
  }
  static std::atomic<uint64_t> request_counter{0};
  ctx.request_id = std::string(request.Header("x-request-id"));
  if (ctx.request_id.empty()) ctx.request_id = "req-" + std::to_string(++request_counter);

  const std::string& method = request.method;
  if (options_.audit_events && AuditRoutes::Handles(segments)) {
    // POST AuditEvent/_search and POST Patient/ID/$access-log read: answered as the GET, with
    // a form body's parameters added to the query's.
    const bool reading_post =
        method == "POST" &&
        ((segments.size() == 2 && segments[0] == "AuditEvent" && segments[1] == "_search") ||
         (segments.size() == 3 && segments[2] == "$access-log"));
    if (!reading_post) {
      return ToHttp(options_.audit_events->Handle(method, segments, params, ctx));
    }
    auto all = WithFormBody(request, params, "searches the audit log");
    if (!all.ok()) return Error(all.error().code, all.error().message, all.error().location);
    std::vector<std::string> read = segments;
    if (read.back() == "_search") read.pop_back();
    return ToHttp(options_.audit_events->Handle("GET", read, *all, ctx));
  }
  bool get = method == "GET" || method == "HEAD";
  auto not_allowed = [&] {
    HttpResponse response = Error(base::ErrorCode::kMethodNotAllowed,
                                  method + " is not allowed on " + std::string(url->path()));
    return response;
  };
  using access::FhirInteraction;
  // The scope check of the interaction a branch is about to make (none without scopes).
  auto refused = [&](FhirInteraction interaction,
                     std::string_view type) -> std::optional<HttpResponse> {
    auto refusal = access::CheckInteractionScope(who, interaction, type);
    if (!refusal) return std::nullopt;
    return Error(base::ErrorCode::kForbidden, std::move(refusal->message));
  };
  Response response;
  size_t n = segments.size();
  if (n == 0) {
    if (method != "POST") return not_allowed();
    if (auto refusal = CheckBundleScopes(who, request.body, ctx.base_url)) {
      return Error(base::ErrorCode::kForbidden, std::move(refusal->message),
                   std::move(refusal->location));
    }
    response = service_.ProcessBundle(ctx, request.body);
  } else if (n == 1 && segments[0] == "metadata") {
    if (!get) return not_allowed();
    response = service_.Capabilities(ctx);
  } else if (n == 1 && segments[0] == "_history") {
    if (!get) return not_allowed();
    if (auto refusal = refused(FhirInteraction::kHistorySystem, "*")) return *refusal;
    response = service_.History(ctx, "", "", params);
  } else if (n == 1) {
    const std::string& type = segments[0];
    if (get) {
      if (auto refusal = refused(FhirInteraction::kSearchType, type)) return *refusal;
      response = service_.Search(ctx, type, params);
    } else if (method == "POST") {
      if (auto refusal = refused(FhirInteraction::kCreate, type)) return *refusal;
      response = service_.Create(ctx, type, request.body, request.Header("if-none-exist"));
    } else if (method == "PUT" || method == "DELETE") {
      if (params.empty()) {
        return Error(base::ErrorCode::kInvalid,
                     method + " on a type needs search parameters (a conditional " +
                         (method == "PUT" ? "update" : "delete") + ")");
      }
      if (auto refusal =
              refused(method == "PUT" ? FhirInteraction::kUpdate : FhirInteraction::kDelete, type))
        return *refusal;
      response = method == "PUT" ? service_.ConditionalUpdate(ctx, type, params, request.body)
                                 : service_.ConditionalDelete(ctx, type, params);
    } else {
      return not_allowed();
    }
  } else if (n == 2 && segments[1] == "_search") {
    if (method != "POST") return not_allowed();
    auto all = WithFormBody(request, params, "searches");
    if (!all.ok()) return Error(all.error().code, all.error().message, all.error().location);
    if (auto refusal = refused(FhirInteraction::kSearchType, segments[0])) return *refusal;
    response = service_.Search(ctx, segments[0], *all);
  } else if (n == 2 && segments[1] == "_history") {
    if (!get) return not_allowed();
    if (auto refusal = refused(FhirInteraction::kHistoryType, segments[0])) return *refusal;
    response = service_.History(ctx, segments[0], "", params);
  } else if (n == 2 && segments[0] == "Patient" && segments[1] == "$everything") {
    // Not a read of a Patient with the id "$everything": the operation without its patient.
    return Error(base::ErrorCode::kInvalid,
                 "$everything needs a patient's id: /fhir/Patient/{id}/$everything (this server "
                 "does not run it over every patient)");
  } else if (n == 2) {
    if (get) {
      if (auto refusal = refused(FhirInteraction::kRead, segments[0])) return *refusal;
      response = service_.Read(ctx, segments[0], segments[1], params);
    } else if (method == "PUT") {
      if (auto refusal = refused(FhirInteraction::kUpdate, segments[0])) return *refusal;
      response =
          service_.Update(ctx, segments[0], segments[1], request.body, request.Header("if-match"));
    } else if (method == "DELETE") {
      if (auto refusal = refused(FhirInteraction::kDelete, segments[0])) return *refusal;
      response = service_.Delete(ctx, segments[0], segments[1]);
    } else {
      return not_allowed();
    }
  } else if (n == 3 && segments[2] == "_history") {
    if (!get) return not_allowed();
    if (auto refusal = refused(FhirInteraction::kHistoryInstance, segments[0])) return *refusal;
    response = service_.History(ctx, segments[0], segments[1], params);
  } else if (n == 4 && segments[2] == "_history") {
    if (!get) return not_allowed();
    if (auto refusal = refused(FhirInteraction::kVread, segments[0])) return *refusal;
    response = service_.VRead(ctx, segments[0], segments[1], segments[3], params);
  } else if (n == 3 && segments[0] == "Patient" && PatientAccessOperations::Names(segments[2])) {
    if (options_.patient_access == nullptr) {
      return Error(base::ErrorCode::kNotFound, segments[2] + " is not offered by this server");
    }
    if (method != "POST") return not_allowed();
    response = options_.patient_access->Run(ctx, segments[2], segments[1], request.body);
  } else if (n == 3 && segments[0] == "Patient" && segments[2] != "$everything" &&
             segments[2] != "_history") {
    if (!get) return not_allowed();
    if (auto refusal = refused(FhirInteraction::kSearchType, segments[2])) return *refusal;
    response = service_.CompartmentSearch(ctx, segments[1], segments[2], params);
  } else if (n == 3 && segments[0] == "Patient" && segments[2] == "$everything") {
    if (!get && method != "POST") return not_allowed();
    // What $everything returns is filtered item by item (ScopeLimitedPolicy); opening it
    // takes the right to read the Patient.
    if (auto refusal = refused(FhirInteraction::kRead, "Patient")) return *refusal;
    response = service_.Everything(ctx, segments[1], params);
  } else {
    return Error(base::ErrorCode::kNotFound, "no FHIR interaction at " + std::string(url->path()));
  }
  return ToHttp(std::move(response));
}

}  // namespace carerecord::http
