// Finds the Reference.reference strings of a stored resource by scanning its JSON text, without
// building a document (or of a parsed one, by walking it): $everything reads every body of a
// patient's record for the resources it references, where a parse per body would cost more than the
// rest of the request. Pure; thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <functional>
#include <string_view>

namespace carerecord::fhir {

// Calls `visit` with the value of every member named "reference" whose value is a string, in
// `json`, which must be valid JSON text (as every stored body is; on other text it finds less,
// never reads out of bounds). Values holding an escape are skipped: no local reference
// ("Type/id", ids being [A-Za-z0-9-.]) needs one.
void ForEachReferenceString(std::string_view json,
                            const std::function<void(std::string_view reference)>& visit);

// The same over a parsed document: every member named "reference" whose value is text.
void ForEachReference(const boost::json::value& value,
                      const std::function<void(std::string_view reference)>& visit);

}  // namespace carerecord::fhir
