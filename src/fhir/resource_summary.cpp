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

}  // namespace

json::object SummaryOf(const json::object& resource) {
  const json::value* type = resource.if_contains("resourceType");
  const gen::DefinitionRow* def =
      type && type->is_string() ? gen::FindDefinition(type->get_string()) : nullptr;
  if (def == nullptr || !def->is_resource) return resource;
  return Summarize(resource, *def);
}

}  // namespace carerecord::fhir
