#include "fhir/code_system_hierarchy.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "fhir/json_read.h"

namespace carerecord::fhir {

namespace json = boost::json;

namespace {}  // namespace

base::Result<CodeSystemHierarchy> CodeSystemHierarchy::FromResource(
    const json::object& code_system) {
  std::string url = StringMember(code_system, "url");
  if (StringMember(code_system, "content") == "not-present") {
    return base::Invalid("CodeSystem " + url +
                         " is stored without its concepts (content not-present), so its "
                         "hierarchy is not known here");
  }
  CodeSystemHierarchy hierarchy;
  if (const json::value* concepts = code_system.if_contains("concept")) {
    hierarchy.AddConcepts(*concepts, nullptr);
  }
  return hierarchy;
}

void CodeSystemHierarchy::AddEdge(const std::string& parent, const std::string& child) {
  children_[parent].push_back(child);
  parents_[child].push_back(parent);
}

// Recursion follows the JSON nesting, which the HTTP layer bounds (depth 64).
void CodeSystemHierarchy::AddConcepts(const json::value& concepts, const std::string* parent) {
  if (!concepts.is_array()) return;
  for (const json::value& item : concepts.as_array()) {
    if (!item.is_object()) continue;
    const json::object& entry = item.as_object();
    std::string code = StringMember(entry, "code");
    if (code.empty()) continue;
    codes_.insert(code);
    if (parent) AddEdge(*parent, code);
    if (const json::value* properties = entry.if_contains("property");
        properties && properties->is_array()) {
      for (const json::value& p : properties->as_array()) {
        if (!p.is_object()) continue;
        std::string related = StringMember(p.as_object(), "valueCode");
        std::string kind = StringMember(p.as_object(), "code");
        if (related.empty()) continue;
        if (kind == "parent") AddEdge(related, code);
        if (kind == "child") AddEdge(code, related);
      }
    }
    if (const json::value* nested = entry.if_contains("concept")) AddConcepts(*nested, &code);
  }
}

std::optional<std::vector<std::string>> CodeSystemHierarchy::Closure(std::string_view code,
                                                                     bool below,
                                                                     size_t limit) const {
  const auto& edges = below ? children_ : parents_;
  std::vector<std::string> out{std::string(code)};
  std::unordered_set<std::string> seen{std::string(code)};
  for (size_t next = 0; next < out.size(); ++next) {
    auto it = edges.find(out[next]);
    if (it == edges.end()) continue;
    for (const std::string& related : it->second) {
      if (!seen.insert(related).second) continue;
      if (out.size() == limit) return std::nullopt;
      out.push_back(related);
    }
  }
  return out;
}

}  // namespace carerecord::fhir
