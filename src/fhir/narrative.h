// FHIR's narrative XHTML (txt-1, txt-2): whether a div is the subset R4 allows, read as a browser
// would read it (entities decoded before a URL's scheme is judged). Used by resource validation.
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace carerecord::fhir {

// Why `div` is not a narrative R4 allows ("txt-1: ..."), or nothing when it is.
std::optional<std::string> CheckNarrativeDiv(std::string_view div);

}  // namespace carerecord::fhir
