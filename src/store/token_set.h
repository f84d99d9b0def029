// A set of coded values (system|code) for the token search modifiers that need terminology
// (:in, :not-in, :above, :below). The FHIR layer builds it from stored ValueSets and CodeSystems
// (interactions/terminology_expansion.h); the store only reads it. A plain value.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace carerecord::store {

struct TokenSet {
  std::set<std::pair<std::string, std::string>> codes;  // (system, code)
  // Systems every code of which is in the set ("include.system" with no concepts), but for the
  // codes listed against them.
  std::map<std::string, std::set<std::string>> whole_systems;

  bool Contains(std::string_view system, std::string_view code) const;
  // The codes listed, exceptions included: what bounds the size of the search it becomes.
  size_t ListedCodes() const;
  // Set algebra, as ValueSet compose needs it: include is a union, the parts of one include are
  // intersected, exclude is a difference.
  void UnionWith(const TokenSet& other);
  void IntersectWith(const TokenSet& other);
  void Subtract(const TokenSet& other);
};

}  // namespace carerecord::store
