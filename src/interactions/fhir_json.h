// Parsing request bodies into Boost.JSON with the limits a public API needs (size, depth), and
// errors that say where the JSON broke. Pure functions; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "base/status.h"

namespace carerecord::interactions {

// Request bodies: nesting, items in one array, values in the body and in one resource in it
// (413 beyond the last three). The largest Synthea transaction bundle at hand (9 MB) holds
// 236,000 values, arrays of up to 2,686 items and resources of up to 5,407 values; a
// transaction may hold 50,000 entries; a 32 MB body (--max-body) of Synthea-like resources
// holds about 1,000,000 values.
inline constexpr size_t kMaxJsonDepth = 64;
inline constexpr size_t kMaxJsonArrayItems = 50'000;
inline constexpr size_t kMaxJsonValues = 1'000'000;
inline constexpr size_t kMaxResourceJsonValues = 100'000;

// Parses a JSON document that this server wrote (a stored body, a response), keeping numbers
// exactly as written (fhir/json_number.h); errors carry the line and column ("line 3, column
// 14"). `storage`: where the document's memory comes from (e.g. a monotonic arena for a
// Bundle that is parsed, copied and dropped as a whole); the default heap when null.
base::Result<boost::json::value> ParseJson(std::string_view text,
                                           boost::json::storage_ptr storage = {});

// Parses a body that must be one resource object (or a Bundle of them), keeping numbers
// exactly as written; checks resourceType is present, the limits above and FHIR's JSON rules,
// which plain JSON lacks: no key twice in an object, no control character other than tab, CR
// and LF in a string, no number beyond a double's range. Each error names the key, string or
// number by its JSON pointer.
base::Result<boost::json::object> ParseResourceBody(std::string_view text,
                                                    boost::json::storage_ptr storage = {});

std::string Serialize(const boost::json::value& value);
std::string Serialize(const boost::json::object& object);

// A JSON string literal ("..." with escapes) for assembling responses by concatenation. Bytes
// that are not UTF-8 (a URL can carry any) become U+FFFD, so the response stays valid JSON.
std::string JsonString(std::string_view text);

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF).
bool IsValidUtf8(std::string_view text);

}  // namespace carerecord::interactions
