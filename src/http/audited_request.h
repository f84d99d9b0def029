// The one audit entry of a FHIR request (access::AuditedRequest), made by FhirRoutes::Handle from
// the request, its caller, what its gates disclosed and how it was answered. Pure; thread-safe.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "access/access_context.h"
#include "access/request_audit.h"
#include "http/http_message.h"

namespace carerecord::http {

// The entry of a request once answered: every FHIR request of a caller has one (a search that
// matched nothing, a count, a 400, a 409 too), except metadata; a request without a caller (the
// server's own work) only when it returned, changed or was refused data. The action comes from the
// path (read, vread, search, history, create, update, delete, bundle, or an operation's name
// without its `$`); the patient from a `Patient/ID` path; what was written from the path and
// `location` (the Location header); the reason from a `$` operation's Parameters `reason`
// (valueString); for a search or history that returned no item, `detail` "total N" from the
// answer's Bundle (`body`) when it has one, else "returned 0".
std::optional<access::AuditedRequest> AuditedRequestOf(const HttpRequest& request,
                                                       const access::AccessContext& who,
                                                       const access::RequestDisclosures& seen,
                                                       int status, std::string_view location,
                                                       std::string_view body = {});

// The intent entry of a request that may change data (any method but GET and HEAD, except a
// POST `_search`, `$everything` or `$access-log`), made durable before it runs: action
// "write-attempt", outcome "pending", status 0, `detail` "intends ACTION" (create, update, delete,
// bundle, an operation's name), who, method, path and query, address, the patient a `Patient/ID`
// path names, a declared reason. None for a request that only reads.
std::optional<access::AuditedRequest> WriteIntentOf(const HttpRequest& request,
                                                    const access::AccessContext& who);

// The Patient ids a request's JSON body refers to ("reference": "Patient/ID", absolute or with a
// version too), at most `max` of them, in the order first met; none when the body is not JSON.
// For the intent entry's purpose of use (a write in a record break-glass opens is BTG before it
// runs, as after).
std::vector<std::string> PatientsReferredTo(const HttpRequest& request, size_t max = 100);

// GET /fhir/metadata: public, never audited.
bool IsMetadata(const HttpRequest& request);

}  // namespace carerecord::http
