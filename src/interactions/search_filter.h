// The _filter expression (FHIR search_filter): `name co "pet" and birthdate ge 2014-10-10`,
// parsed into a tree whose leaves become ordinary search parameters (name:contains=pet), so
// each leaf is parsed and searched like any other parameter. Used by
// the search parser (search_request.cpp). Pure; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "fhir/search_parameters.h"

namespace carerecord::interactions {

struct FilterExpression {
  enum class Kind { kLeaf, kAnd, kOr, kNot } kind = Kind::kLeaf;
  // A leaf: `path op value` (subject.name co pet), the value unquoted.
  std::string path;
  std::string op;
  std::string value;
  std::vector<FilterExpression> children;  // and, or: two or more; not: one
};

// `not` binds tighter than `and`, `and` than `or`. Operators: eq ne gt lt ge le sa eb ap co sw
// ew pr po ss sb in ni re (which of them a parameter takes is the search parser's to say). A
// path with a [filter] is refused. Fails (400) saying where.
base::Result<FilterExpression> ParseFilter(std::string_view text);

// A leaf as an ordinary search parameter: `name` with its modifier and an escaped `value`
// (name co "pet" -> name:contains=pet; birthdate ge 2014 -> birthdate=ge2014). `type` is the
// type of the parameter the path ends on. Fails (400) when the parameter does not take the
// operator.
struct FilterParameter {
  std::string name;
  std::string value;
};
base::Result<FilterParameter> FilterLeafAsParameter(const FilterExpression& leaf,
                                                    fhir::SearchParamType type);

}  // namespace carerecord::interactions
