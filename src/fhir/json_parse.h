// Parses JSON text into Boost.JSON for FHIR: numbers kept exactly as written (json_number.h),
// the size limits a public API needs, and on request FHIR's JSON rules, with errors that say
// where. Used for request bodies and for stored bodies alike. Pure; thread-safe.
#pragma once

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/status.h"

namespace carerecord::fhir {

struct JsonLimits {
  size_t max_depth = 64;
  // Items in one array (413 beyond): an 8.4-million-item array once took 6.5 GB to ingest.
  size_t max_array_items = SIZE_MAX;
  // Values (objects, arrays, strings, numbers, booleans, nulls) in the whole document, and in
  // one resource in it (an object with a resourceType other than Bundle; a Bundle holds
  // resources, and the document limit bounds it). 413 beyond.
  size_t max_values = SIZE_MAX;
  size_t max_resource_values = SIZE_MAX;
  // FHIR's rules plain JSON lacks: no key twice in an object, no character below U+0020 but
  // tab, CR and LF in a string or key (400 naming it by its JSON pointer).
  bool fhir_rules = false;
};

// The depth this server parses its own stored bodies and responses to: requests nest at most
// 64, and a stored resource read back inside a Bundle sits a few levels deeper than it did
// alone. (Boost.JSON's own parser stops at 32.)
inline constexpr size_t kMaxStoredJsonDepth = 128;

// Parses one JSON document. Numbers outside the range of a double (1e400, -1e400, a 10,000-digit
// integer, 1e-400) are a 400 naming them by JSON pointer, as is a string that starts with the
// mark of a kept number. Syntax errors carry the line and column ("line 3, column 14").
// `storage`: where the document's memory comes from (e.g. a monotonic arena); the default heap
// when null.
base::Result<boost::json::value> ParseFhirJson(std::string_view text, const JsonLimits& limits,
                                               boost::json::storage_ptr storage = {});

}  // namespace carerecord::fhir
