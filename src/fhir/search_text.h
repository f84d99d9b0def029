// The normalised form of text for FHIR string search: case- and accent-insensitive
// ("Zoë Smith" -> "zoe smith"). Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace carerecord::fhir {

std::string NormalizeForSearch(std::string_view text);

// The string index keeps at most this many bytes of a value (normalised or as written), cut at
// a character boundary: a match reads a bounded row however long the text (30 names of 1 MB made
// one name:contains search read 480 MB and overrun its time budget five times over). Searches
// compare the same prefix, so they see the first 1,024 bytes of each value.
inline constexpr size_t kMaxIndexedTextBytes = 1024;
std::string_view IndexedPrefix(std::string_view text);

}  // namespace carerecord::fhir
