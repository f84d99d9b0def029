// URL query strings as FHIR reads them: the one decoder of every query a request carries (the
// URL's, a POST _search body, a Bundle entry's request.url and ifNoneExist, a conditional
// reference), which refuses malformed percent-escapes and NUL characters, and the encoder of
// the self and paging links. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace carerecord::interactions {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Decodes a URL query string ("a=1&b=x%7Cy", a leading '?' allowed) into name/value pairs, in
// order. A '%' not followed by two hex digits, a NUL (%00), or bytes that are not UTF-8 once
// decoded (%ff) in a name or value, is a 400 naming the parameter: "%zz" is not quietly taken
// as text, a NUL would cut a value short wherever it is read as C text, and %ff would be
// searched as U+FFFD.
base::Result<QueryParams> DecodeQuery(std::string_view query);

// The percent-escape rule of DecodeQuery on a request target (path and query); the error names
// the parameter, or the path.
base::Status CheckPercentEscapes(std::string_view target);

// The text rules of DecodeQuery on parameters decoded elsewhere (the HTTP layer's URL parser):
// no NUL, and UTF-8 once decoded.
base::Status CheckDecodedText(const QueryParams& params);

// The result parameters that take one value (_count, _sort, _summary, _elements, _total,
// _cursor, _since) each given at most once: _count=1&_count=2 has no one meaning (a 400).
base::Status CheckResultParametersOnce(const QueryParams& params);

std::string EncodeQuery(const QueryParams& params);

}  // namespace carerecord::interactions
