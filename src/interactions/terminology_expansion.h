// Expands the token search modifiers that need terminology (:in, :not-in, :above, :below) from
// the ValueSets and CodeSystems stored in this server; there is no external terminology service.
// FhirService runs it on a parsed search before the store does. Thread-compatible: one call
// per request.
#pragma once

#include <cstddef>

#include "base/status.h"
#include "interactions/terminology_source.h"
#include "store/search_spec.h"

namespace carerecord::interactions {

// Codes one condition may expand to; more is a 400 ("too large"), never a partial search.
inline constexpr size_t kMaxExpandedCodes = 10000;

// Fills SearchValue::codes of every such condition of `spec` and of its chained and _has
// searches. Fails (400) naming the ValueSet, CodeSystem, code or filter it cannot expand here:
// an unknown ValueSet never silently matches nothing.
//
// :in / :not-in take a ValueSet (canonical url, url|version, or ValueSet/id) and use its stored
// expansion.contains when complete, else its compose: include.concept lists, include.system
// alone (every code of the system), include.valueSet (recursively), is-a / descendent-of
// filters on the concept hierarchy of a stored CodeSystem, minus compose.exclude.
// :above / :below take system|code and walk the stored CodeSystem of that system.
base::Status ExpandSearchTerminology(store::SearchSpec& spec, TerminologySource& source);

}  // namespace carerecord::interactions
