// The values of search parameters as FHIR writes them: escapes (\, \| \$ \\), comparison
// prefixes, and one value of each parameter type (token, string, date, number, quantity,
// reference, composite, near) into the store's SearchValue. Used by the search parser
// (search_request.cpp and its parts); internal to src/interactions/. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "fhir/search_parameters.h"
#include "store/search_spec.h"

namespace carerecord::interactions {

// Splits on `separator` where it is not escaped with a backslash, and unescapes \, \| \$ \\.
std::vector<std::string> SplitEscaped(std::string_view text, char separator);

// Splits on unescaped commas, keeping every escape in the parts for the value parser.
std::vector<std::string> SplitValues(std::string_view text);

// `text` without its escapes.
std::string Unescape(std::string_view text);

// Takes a comparison prefix (eq, ne, gt, ...) off the front of `value`; eq when there is none.
store::Prefix TakePrefix(std::string_view& value);

// One value `text` (escapes kept) of parameter `def` with `modifier` into `out`; a 400 naming
// `where` when it is not one. `modifier_type` is a reference's [Type] modifier; `base_url` is
// this server's base, on which an absolute reference is local.
base::Status ParseValue(const fhir::SearchParamDef& def, store::Modifier modifier,
                        const std::string& modifier_type, std::string_view text,
                        store::SearchValue& out, const std::string& where,
                        std::string_view base_url);

}  // namespace carerecord::interactions
