// The search parser's main loop and the result parameters (_count, _sort, _include,
// _revinclude, _summary, _elements, _total, _cursor); each other parameter is a condition
// (search_chains.cpp), a _has or a _filter (search_filter_conditions.cpp).

#include "interactions/search_request.h"

#include <algorithm>
#include <charconv>

#include "fhir/search_parameters.h"
#include "interactions/search_parser.h"
#include "interactions/search_values.h"

namespace carerecord::interactions {

using base::Invalid;
using fhir::SearchParamType;

namespace {

size_t CountOccurrences(std::string_view text, std::string_view what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

}  // namespace

base::Status SearchParser::ParseCount(const std::string& value) {
  store::SearchSpec& spec = parsed_.spec;
  size_t count = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), count);
  if (ec != std::errc() || end != value.data() + value.size()) {
    return Invalid("_count must be a whole number, got '" + value + "'", "_count");
  }
  spec.count = std::min(count, limits_.max_count);
  if (spec.count == 0) spec.count_only = true;
  parsed_.applied.emplace_back("_count", std::to_string(spec.count));
  return base::Status::Ok();
}

base::Status SearchParser::ParseSort(const std::string& type, const std::string& value) {
  // Each key is read for every match and carried in the paging cursor: a few are enough.
  constexpr size_t kMaxSortKeys = 8;
  const std::vector<std::string> keys = SplitEscaped(value, ',');
  if (keys.size() + parsed_.spec.sort.size() > kMaxSortKeys) {
    return Invalid("_sort takes at most " + std::to_string(kMaxSortKeys) + " keys", "_sort");
  }
  for (std::string key : keys) {
    store::SortKey sort;
    if (!key.empty() && key[0] == '-') {
      sort.descending = true;
      key.erase(0, 1);
    }
    if (key == "_id") {
      sort.special = store::SortKey::Special::kId;
    } else if (key == "_lastUpdated") {
      sort.special = store::SortKey::Special::kLastUpdated;
    } else {
      sort.param = fhir::FindSearchParam(type, key);
      if (!sort.param || !sort.param->indexed) {
        return Invalid("cannot sort " + type + " by '" + key + "'", "_sort");
      }
    }
    parsed_.spec.sort.push_back(sort);
  }
  parsed_.applied.emplace_back("_sort", value);
  return base::Status::Ok();
}

base::Status SearchParser::ParseSummary(const std::string& value) {
  static const std::pair<const char*, SummaryMode> kModes[] = {{"true", SummaryMode::kTrue},
                                                               {"false", SummaryMode::kFalse},
                                                               {"text", SummaryMode::kText},
                                                               {"data", SummaryMode::kData},
                                                               {"count", SummaryMode::kCount}};
  bool found = false;
  for (const auto& [text, mode] : kModes) {
    if (value == text) {
      parsed_.summary = mode;
      found = true;
    }
  }
  if (!found) return Invalid("_summary is one of true, false, text, data, count", "_summary");
  if (parsed_.summary == SummaryMode::kCount) {
    parsed_.spec.count_only = true;
    parsed_.spec.total = store::TotalMode::kAccurate;
  }
  parsed_.applied.emplace_back("_summary", value);
  return base::Status::Ok();
}

base::Status SearchParser::ParseTotal(const std::string& value) {
  if (value == "accurate" || value == "estimate") {
    parsed_.spec.total = store::TotalMode::kAccurate;
  } else if (value != "none") {
    return Invalid("_total is one of none, estimate, accurate", "_total");
  }
  parsed_.applied.emplace_back("_total", value);
  return base::Status::Ok();
}

base::Status SearchParser::ParseInclude(const std::string& type, std::string_view name,
                                        std::string_view value, bool reverse) {
  std::string where(name);
  store::IncludeSpec include;
  include.reverse = reverse;
  std::string_view modifier =
      name.substr(name.find(':') == std::string_view::npos ? name.size() : name.find(':') + 1);
  if (!modifier.empty()) {
    if (modifier != "iterate" && modifier != "recurse") {
      return Invalid("unknown modifier :" + std::string(modifier), where);
    }
    include.iterate = true;
  }
  auto parts = SplitEscaped(value, ':');
  if (parts.size() < 2 || parts.size() > 3) {
    return Invalid("expected SourceType:parameter[:TargetType], got '" + std::string(value) + "'",
                   where);
  }
  include.source_type = parts[0];
  if (!fhir::IsResourceType(include.source_type)) {
    return Invalid("'" + include.source_type + "' is not a resource type", where);
  }
  if (!reverse && !include.iterate && include.source_type != type) {
    return Invalid(
        "_include must start with the searched type " + type + " (or use _include:iterate)", where);
  }
  if (parts[1] != "*") {
    include.param = fhir::FindSearchParam(include.source_type, parts[1]);
    if (!include.param || include.param->type != SearchParamType::kReference) {
      return Invalid("'" + parts[1] + "' is not a reference parameter of " + include.source_type,
                     where);
    }
  }
  if (parts.size() == 3) {
    include.target_type = parts[2];
    if (!fhir::IsResourceType(include.target_type)) {
      return Invalid("'" + include.target_type + "' is not a resource type", where);
    }
  }
  parsed_.spec.includes.push_back(std::move(include));
  parsed_.applied.emplace_back(where, std::string(value));
  return base::Status::Ok();
}

base::Result<ParsedSearch> SearchParser::Parse(std::string_view type_view,
                                               const QueryParams& params) {
  std::string type(type_view);
  store::SearchSpec& spec = parsed_.spec;
  spec.type = type;
  spec.count = limits_.default_count;
  CR_RETURN_IF_ERROR(CheckResultParametersOnce(params));
  for (const auto& [name, value] : params) {
    if (name == "_count") {
      CR_RETURN_IF_ERROR(ParseCount(value));
    } else if (name == "_sort") {
      CR_RETURN_IF_ERROR(ParseSort(type, value));
    } else if (name == "_include" || name.rfind("_include:", 0) == 0) {
      CR_RETURN_IF_ERROR(ParseInclude(type, name, value, false));
    } else if (name == "_revinclude" || name.rfind("_revinclude:", 0) == 0) {
      CR_RETURN_IF_ERROR(ParseInclude(type, name, value, true));
    } else if (name == "_summary") {
      CR_RETURN_IF_ERROR(ParseSummary(value));
    } else if (name == "_elements") {
      for (const std::string& element : SplitEscaped(value, ',')) {
        if (!element.empty()) parsed_.elements.push_back(element);
      }
      parsed_.applied.emplace_back(name, value);
    } else if (name == "_total") {
      CR_RETURN_IF_ERROR(ParseTotal(value));
    } else if (name == "_cursor") {
      spec.cursor = value;
    } else if (name == "_format" || name == "_pretty") {
      // Content negotiation happens in the HTTP layer; JSON is the only format.
    } else if (name == "_has" || name.rfind("_has:", 0) == 0) {
      if (CountOccurrences(name, "_has:") > kMaxHasLinks) {
        return Invalid(
            "a _has nested more than " + std::to_string(kMaxHasLinks) + " deep is not searched",
            std::string(name.substr(0, 64)));
      }
      size_t before = parsed_.spec.conditions.size();
      CR_RETURN_IF_ERROR(ParseHas(type, name, value, spec, name));
      if (spec.conditions.size() > before) parsed_.applied.emplace_back(name, value);
    } else if (name == "_filter") {
      CR_RETURN_IF_ERROR(ParseFilterParameter(type, value, spec));
    } else if (name == "_contained" || name == "_containedType" || name == "_list" ||
               name == "_query" || name == "_type") {
      CR_RETURN_IF_ERROR(Ignore(name, name + " is not supported by this server"));
    } else {
      CR_RETURN_IF_ERROR(ParseCondition(type, name, value, spec, true));
    }
  }
  if (spec.count_only) spec.total = store::TotalMode::kAccurate;
  return std::move(parsed_);
}

base::Result<ParsedSearch> ParseSearch(std::string_view resource_type, const QueryParams& params,
                                       bool strict, const SearchLimits& limits,
                                       std::string_view base_url) {
  SearchParser parser(strict, limits, base_url);
  return parser.Parse(resource_type, params);
}

}  // namespace carerecord::interactions
