// Structural validation of a resource against the R4 element definitions (generated from
// fhir.schema.json): known elements, primitive types and formats, cardinality of arrays.
// Pure; thread-safe.
#pragma once

#include <boost/json/fwd.hpp>
#include <string_view>

#include "base/status.h"

namespace carerecord::fhir {

// True when `id` is a FHIR id: [A-Za-z0-9\-\.]{1,64}.
bool IsValidId(std::string_view id);

// Checks the whole resource. The error's location is a JSON pointer ("/name/0/given/1") and its
// message names the element and the expected type ("Patient.birthDate: expected a date, got
// 123"). Checks resourceType is a known type and `id`, when present, is a valid id.
base::Status ValidateResource(const boost::json::object& resource);

// A Bundle entry's fullUrl that says it is a UUID (urn:uuid:) or an OID (urn:oid:) must be one:
// references inside the Bundle resolve by it. Other fullUrls pass.
base::Status CheckFullUrl(std::string_view full_url);

}  // namespace carerecord::fhir
