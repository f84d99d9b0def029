// Building FHIR response bodies and headers: OperationOutcome, HTTP dates, error mapping.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace carerecord::interactions {

// An OperationOutcome with one issue. `expression` names where (a JSON pointer, a parameter).
std::string OperationOutcomeJson(std::string_view severity, std::string_view code,
                                 std::string_view diagnostics, std::string_view expression);

// How long a client is asked to wait (Retry-After) before retrying a 503 (kUnavailable).
inline constexpr int kRetryAfterSeconds = 5;

// The HTTP status and FHIR issue type for an error code.
int HttpStatusOf(base::ErrorCode code);
std::string_view IssueTypeOf(base::ErrorCode code);

// The request's type must be an R4 resource type (404) and its id, when given, a FHIR id (400).
base::Status CheckTypeAndId(std::string_view type, std::string_view id);

// RFC 7231 date: "Tue, 15 Nov 1994 08:12:31 GMT".
std::string HttpDate(int64_t epoch_ms);

}  // namespace carerecord::interactions
