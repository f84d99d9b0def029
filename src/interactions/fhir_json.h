// Parsing request bodies into Boost.JSON with the limits a public API needs (size, depth), and
// errors that say where the JSON broke. Pure functions; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "base/status.h"

namespace carerecord::interactions {

inline constexpr size_t kMaxJsonDepth = 64;

// Parses a JSON document; errors carry the line and column ("line 3, column 14").
// `storage`: where the document's memory comes from (e.g. a monotonic arena for a Bundle that
// is parsed, copied and dropped as a whole); the default heap when null.
base::Result<boost::json::value> ParseJson(std::string_view text,
                                           boost::json::storage_ptr storage = {});

// Parses a body that must be one resource object; checks resourceType is present and FHIR's
// JSON rules, which plain JSON lacks: no key twice in an object, no control character other
// than tab, CR and LF in a string. Each error names the key or string by its JSON pointer.
base::Result<boost::json::object> ParseResourceBody(std::string_view text,
                                                    boost::json::storage_ptr storage = {});

std::string Serialize(const boost::json::value& value);
std::string Serialize(const boost::json::object& object);

// A JSON string literal ("..." with escapes) for assembling responses by concatenation. Bytes
// that are not UTF-8 (a URL can carry any) become U+FFFD, so the response stays valid JSON.
std::string JsonString(std::string_view text);

}  // namespace carerecord::interactions
