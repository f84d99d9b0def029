#include "fhir/resource_summary.h"

#include <boost/json.hpp>

#include "fhir/generated/fhir_tables.h"

namespace carerecord::fhir {
namespace {

namespace gen = generated;
namespace json = boost::json;

json::object Summarize(const json::object& in, const gen::DefinitionRow& def);

json::value SummarizeValue(const json::value& value, const gen::DefinitionRow& backbone) {
  if (const json::object* object = value.if_object()) return Summarize(*object, backbone);
  if (const json::array* array = value.if_array()) {
    json::array out;
    out.reserve(array->size());
    for (const json::value& item : *array) out.push_back(SummarizeValue(item, backbone));
    return out;
  }
  return value;
}

json::object Summarize(const json::object& in, const gen::DefinitionRow& def) {
  json::object out;
  for (const json::key_value_pair& member : in) {
    std::string_view key = member.key();
    if (key == "resourceType") {
      out.emplace(key, member.value());
      continue;
    }
    const bool extension = key.size() > 1 && key.front() == '_';
    const gen::ElementRow* element = gen::FindElement(def, extension ? key.substr(1) : key);
    if (element == nullptr || !(element->flags & gen::kSummary)) continue;
    const bool backbone = element->kind == gen::PrimitiveKind::kComplex &&
                          gen::kDefinitions[element->definition].is_backbone;
    out.emplace(key, backbone && !extension
                         ? SummarizeValue(member.value(), gen::kDefinitions[element->definition])
                         : member.value());
  }
  return out;
}

const gen::DefinitionRow* ResourceDefinition(const json::object& resource) {
  const json::value* type = resource.if_contains("resourceType");
  const gen::DefinitionRow* def =
      type && type->is_string() ? gen::FindDefinition(type->get_string()) : nullptr;
  return def != nullptr && def->is_resource ? def : nullptr;
}

// Copies the members of `resource` that are the element `name` into `out`.
void Keep(const json::object& resource, const gen::DefinitionRow& def, std::string_view name,
          json::object& out) {
  for (const json::key_value_pair& member : resource) {
    if (member.key() == name || gen::IsElementNamed(def, member.key(), name)) {
      out[member.key()] = member.value();
    }
  }
}

}  // namespace

json::object SummaryOf(const json::object& resource) {
  const gen::DefinitionRow* def = ResourceDefinition(resource);
  return def ? Summarize(resource, *def) : resource;
}

json::object TextSummaryOf(const json::object& resource) {
  const gen::DefinitionRow* def = ResourceDefinition(resource);
  if (def == nullptr) return resource;
  json::object out;
  for (std::string_view name : {"resourceType", "id", "meta", "text"}) {
    Keep(resource, *def, name, out);
  }
  std::string_view required = def->required;
  for (std::string_view name; gen::TakeListItem(required, name);) {
    if (name.ends_with("[x]")) name.remove_suffix(3);
    Keep(resource, *def, name, out);
  }
  return out;
}

void AddElements(const json::object& resource, const std::vector<std::string>& names,
                 json::object& out) {
  const gen::DefinitionRow* def = ResourceDefinition(resource);
  if (def == nullptr) return;
  for (std::string_view name : {"resourceType", "id", "meta"}) Keep(resource, *def, name, out);
  for (const std::string& name : names) Keep(resource, *def, name, out);
}

}  // namespace carerecord::fhir
