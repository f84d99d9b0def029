// The name of a _has (reverse chain) parameter, _has:Observation:patient:code, split into its
// parts and checked against the searched type. Used by the search parser (search_request.cpp).
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "fhir/search_parameters.h"

namespace carerecord::interactions {

struct HasLink {
  std::string referring_type;  // Observation
  // Observation.patient, a reference parameter that can point at the searched type. nullptr
  // when the name is not a parameter this server searches: `unknown` says why, and the parser
  // ignores the whole _has or refuses it, as Prefer: handling asks.
  const fhir::SearchParamDef* reference = nullptr;
  std::string unknown;
  std::string rest;  // what to search on the referring type: "code", "code:not", "_has:..."
};

// `name` starts with "_has"; `where` is the whole parameter name, for errors. Fails (400) on a
// malformed name, an unknown type, a parameter that is not a reference, or a reference that
// cannot point at `searched_type`.
base::Result<HasLink> ParseHasLink(std::string_view searched_type, std::string_view name,
                                   const std::string& where);

}  // namespace carerecord::interactions
