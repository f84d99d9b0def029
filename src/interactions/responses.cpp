#include "interactions/responses.h"

#include <cstdio>
#include <ctime>

#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"
#include "interactions/fhir_json.h"
#include "interactions/fhir_service.h"

namespace carerecord::interactions {

std::string OperationOutcomeJson(std::string_view severity, std::string_view code,
                                 std::string_view diagnostics, std::string_view expression) {
  std::string out = R"({"resourceType":"OperationOutcome","issue":[{"severity":)";
  out += JsonString(severity);
  out += R"(,"code":)";
  out += JsonString(code);
  out += R"(,"diagnostics":)";
  out += JsonString(diagnostics);
  if (!expression.empty()) {
    out += R"(,"expression":[)";
    out += JsonString(expression);
    out += "]";
  }
  out += "}]}";
  return out;
}

int HttpStatusOf(base::ErrorCode code) {
  using base::ErrorCode;
  switch (code) {
    case ErrorCode::kInvalid:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kGone:
      return 410;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kPreconditionFailed:
      return 412;
    case ErrorCode::kUnprocessable:
      return 422;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kNotSupported:
      return 400;
    case ErrorCode::kInternal:
      return 500;
    case ErrorCode::kUnavailable:
      return 503;
  }
  return 500;
}

std::string_view IssueTypeOf(base::ErrorCode code) {
  using base::ErrorCode;
  switch (code) {
    case ErrorCode::kInvalid:
      return "invalid";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kGone:
      return "deleted";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kPreconditionFailed:
      return "conflict";
    case ErrorCode::kUnprocessable:
      return "processing";
    case ErrorCode::kTooLarge:
      return "too-costly";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kMethodNotAllowed:
      return "not-supported";
    case ErrorCode::kNotSupported:
      return "not-supported";
    case ErrorCode::kInternal:
      return "exception";
    case ErrorCode::kUnavailable:
      return "transient";
  }
  return "exception";
}

std::string HttpDate(int64_t epoch_ms) {
  std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buffer;
}

base::Status CheckTypeAndId(std::string_view type, std::string_view id) {
  if (!fhir::IsResourceType(type)) {
    return base::MakeError(base::ErrorCode::kNotFound,
                           "'" + std::string(type) + "' is not a resource type");
  }
  if (!id.empty() && !fhir::IsValidId(id)) {
    return base::Invalid("'" + std::string(id) + "' is not a valid FHIR id", "id");
  }
  return base::Status::Ok();
}

Response FhirService::ErrorResponse(const base::Error& error) {
  Response response;
  response.status = HttpStatusOf(error.code);
  if (error.code == base::ErrorCode::kInternal) {
    // An internal message names the server's own parts (the storage engine, a file): it goes to
    // the server's log, and the client learns only that the server failed.
    std::fprintf(stderr, "carerecord: internal error: %s%s%s\n", error.message.c_str(),
                 error.location.empty() ? "" : " at ", error.location.c_str());
    response.body = OperationOutcomeJson(
        "fatal", IssueTypeOf(error.code),
        "the server failed to process this request; the details are in the server's log", "");
    return response;
  }
  if (error.code == base::ErrorCode::kUnavailable) {
    response.headers.emplace_back("Retry-After", std::to_string(kRetryAfterSeconds));
  }
  std::string message = error.message;
  if (!error.location.empty()) message += " (at " + error.location + ")";
  response.body = OperationOutcomeJson("error", IssueTypeOf(error.code), message, error.location);
  return response;
}

}  // namespace carerecord::interactions
