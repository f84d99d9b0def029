// The answer to an error the HTTP server finds before any route sees the request (a body over
// its limit, a target too long, a malformed or slow request), in the form of what was asked
// for: the OAuth endpoints' JSON, the sign-in pages' HTML, and a FHIR OperationOutcome for
// everything else. Pure; thread-safe. The server's ErrorResponder in `serve` and the tests.
#pragma once

#include <string>
#include <string_view>

#include "http/http_message.h"

namespace carerecord::http {

// `target`: the request target as far as the server read it (see ErrorResponder).
HttpResponse ServerErrorResponse(int status, const std::string& message, std::string_view target);

}  // namespace carerecord::http
