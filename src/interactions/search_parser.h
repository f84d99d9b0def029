// The search parser behind ParseSearch (search_request.h), one object per query, split by
// concern: result parameters and the main loop (search_request.cpp), names, modifiers, chains
// and _has (search_chains.cpp), _filter's tree as conditions (search_filter_conditions.cpp);
// values are search_values.h's. Internal to src/interactions/; used on one thread.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "interactions/search_filter.h"
#include "interactions/search_request.h"

namespace carerecord::interactions {

// Each link of a chain (patient.organization.name) is an inner search run before the outer one.
inline constexpr int kMaxChainLinks = 4;
// Each _has link is an inner search too, parsed by recursion: bounded before any is parsed, so
// a deep nesting can neither exhaust the stack nor cost time quadratic in its length.
inline constexpr size_t kMaxHasLinks = 4;

// The type a chain through reference parameter `def` searches: the one named (subject:Patient),
// the only target, or Patient for `patient`; else a 400 showing how to name one.
base::Result<std::string> ChainTarget(const fhir::SearchParamDef& def, std::string_view named,
                                      std::string_view rest, const std::string& where);

class SearchParser {
 public:
  SearchParser(bool strict, const SearchLimits& limits, std::string_view base_url)
      : strict_(strict), limits_(limits), base_url_(base_url) {}
  base::Result<ParsedSearch> Parse(std::string_view type, const QueryParams& params);

 private:
  // search_request.cpp: result parameters.
  base::Status ParseCount(const std::string& value);
  base::Status ParseSort(const std::string& type, const std::string& value);
  base::Status ParseSummary(const std::string& value);
  base::Status ParseTotal(const std::string& value);
  base::Status ParseInclude(const std::string& type, std::string_view name, std::string_view value,
                            bool reverse);

  // search_chains.cpp: a parameter by name, its modifier, chain or _has.
  base::Status ParseCondition(const std::string& type, std::string_view name,
                              std::string_view value, store::SearchSpec& spec, bool top_level);
  base::Status ParseModifier(std::string_view modifier_text, std::string_view code,
                             const std::string& where, store::Condition& condition,
                             std::string& modifier_type);
  base::Status ParseChain(const std::string& where, std::string_view name, std::string_view chain,
                          std::string_view value, const std::string& modifier_type,
                          store::Condition condition, store::SearchSpec& spec, bool top_level);
  base::Status ParseValues(const std::string& where, std::string_view value,
                           const std::string& modifier_type, store::Condition& condition);
  base::Status ParseHas(const std::string& type, std::string_view name, std::string_view value,
                        store::SearchSpec& spec, const std::string& where);

  // search_filter_conditions.cpp: _filter.
  base::Status ParseFilterParameter(const std::string& type, std::string_view value,
                                    store::SearchSpec& spec);
  base::Result<store::FilterNode> FilterTree(const std::string& type, const FilterExpression& e);
  base::Result<store::Condition> FilterCondition(const std::string& type,
                                                 const FilterExpression& leaf);

  base::Status Ignore(std::string name, std::string why) {
    if (strict_) return base::Invalid(why, name);
    parsed_.ignored.push_back(name + ": " + why);
    return base::Status::Ok();
  }

  bool strict_;
  SearchLimits limits_;
  std::string base_url_;
  ParsedSearch parsed_;
};

}  // namespace carerecord::interactions
