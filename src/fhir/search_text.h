// The normalised form of text for FHIR string search: case- and accent-insensitive
// ("Zoë Smith" -> "zoe smith"). Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace carerecord::fhir {

std::string NormalizeForSearch(std::string_view text);

}  // namespace carerecord::fhir
