// The is-a hierarchy of a CodeSystem resource, from its nested `concept`s and the standard
// `parent`/`child` concept properties, for the token modifiers :above/:below and the is-a /
// descendent-of ValueSet filters. Built from one stored CodeSystem; immutable, thread-safe after.
#pragma once

#include <boost/json/fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/status.h"

namespace carerecord::fhir {

class CodeSystemHierarchy {
 public:
  // Fails when the CodeSystem does not carry its concepts (content "not-present").
  static base::Result<CodeSystemHierarchy> FromResource(const boost::json::object& code_system);

  bool Defines(std::string_view code) const { return codes_.count(std::string(code)) > 0; }
  // `code` and every code below it (below) or above it (!below), each once; nullopt when there
  // are more than `limit`. Poly-hierarchies and cycles in the data are walked once per code.
  std::optional<std::vector<std::string>> Closure(std::string_view code, bool below,
                                                  size_t limit) const;

 private:
  void AddConcepts(const boost::json::value& concepts, const std::string* parent);
  void AddEdge(const std::string& parent, const std::string& child);

  std::unordered_set<std::string> codes_;
  std::unordered_map<std::string, std::vector<std::string>> children_;
  std::unordered_map<std::string, std::vector<std::string>> parents_;
};

}  // namespace carerecord::fhir
