// Turns a FHIR search query (name[:modifier][.chain]=value pairs) into the store's SearchSpec
// and the result shaping the response needs (_elements, _summary). Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "interactions/search_query.h"
#include "store/search_spec.h"

namespace carerecord::interactions {

enum class SummaryMode { kFalse, kTrue, kText, kData, kCount };

struct ParsedSearch {
  store::SearchSpec spec;
  SummaryMode summary = SummaryMode::kFalse;
  std::vector<std::string> elements;  // _elements, empty when not asked
  // The parameters that were applied, re-encoded for the self and paging links.
  QueryParams applied;
  // Parameters ignored in lenient handling, with the reason, for an OperationOutcome warning.
  std::vector<std::string> ignored;
};

struct SearchLimits {
  size_t default_count = 50;
  size_t max_count = 1000;
};

// `strict`: Prefer: handling=strict, where an unknown or unsupported parameter is an error
// instead of being ignored.
// `base_url`: this server's base; an absolute reference on it is local, any other absolute
// reference is searched as the URL it is.
base::Result<ParsedSearch> ParseSearch(std::string_view resource_type, const QueryParams& params,
                                       bool strict, const SearchLimits& limits = {},
                                       std::string_view base_url = {});

}  // namespace carerecord::interactions
