// The one audit entry of a FHIR request (access::AuditedRequest), made by FhirRoutes::Handle from
// the request, its caller, what its gates disclosed and how it was answered. Pure; thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include "access/access_context.h"
#include "access/request_audit.h"
#include "http/http_message.h"

namespace carerecord::http {

// None when the request neither returned, changed nor was refused patient data (metadata, a
// search that matched nothing, a 400). The action comes from the path (read, vread, search,
// history, create, update, delete, bundle, or an operation's name without its `$`); the patient
// from a `Patient/ID` path; what was written from the path and `location` (the Location header);
// the reason from a `$` operation's Parameters `reason` (valueString).
std::optional<access::AuditedRequest> AuditedRequestOf(const HttpRequest& request,
                                                       const access::AccessContext& who,
                                                       const access::RequestDisclosures& seen,
                                                       int status, std::string_view location);

}  // namespace carerecord::http
