// The CapabilityStatement at /metadata, built once from the same tables the server runs on, so
// it lists exactly the types, interactions and search parameters that work.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <map>

#include "fhir/fhir_date.h"
#include "fhir/search_parameters.h"
#include "interactions/fhir_json.h"
#include "interactions/fhir_service.h"

namespace carerecord::interactions {

namespace json = boost::json;

std::string BuildCapabilityStatement(const ServiceOptions& options) {
  // Reverse includes: for each target type, the reference parameters that can point at it.
  std::map<std::string, json::array> revincludes;
  for (const fhir::SearchParamDef& def : fhir::AllSearchParams()) {
    if (def.type != fhir::SearchParamType::kReference || !def.indexed) continue;
    for (const std::string& target : def.targets) {
      revincludes[target].push_back(json::string(def.resource_type + ":" + def.code));
    }
  }
  json::array resources;
  for (const std::string& type : fhir::AllResourceTypes()) {
    json::object resource;
    resource["type"] = type;
    json::array interactions;
    for (const char* code : {"read", "vread", "update", "delete", "history-instance",
                             "history-type", "create", "search-type"}) {
      interactions.push_back(json::object{{"code", code}});
    }
    resource["interaction"] = std::move(interactions);
    resource["versioning"] = "versioned-update";
    resource["readHistory"] = true;
    resource["updateCreate"] = true;
    resource["conditionalCreate"] = true;
    resource["conditionalRead"] = "not-supported";
    resource["conditionalUpdate"] = true;
    resource["conditionalDelete"] = "single";
    resource["referencePolicy"] = json::array{"literal", "local", "enforced"};
    json::array includes{json::string(type + ":*")};
    json::array params;
    params.push_back(json::object{{"name", "_id"}, {"type", "token"}});
    params.push_back(json::object{{"name", "_lastUpdated"}, {"type", "date"}});
    for (const char* name : {"_text", "_content"}) {
      params.push_back(json::object{
          {"name", name},
          {"type", "string"},
          {"documentation", "Every word of the value, within what other parameters find"}});
    }
    params.push_back(json::object{
        {"name", "_filter"},
        {"type", "special"},
        {"documentation",
         "and / or / not over this type's parameters; paths with [filter] and the ew and po "
         "operators are not supported"}});
    for (const fhir::SearchParamDef* def : fhir::SearchParamsOf(type)) {
      if (!def->indexed) continue;
      params.push_back(json::object{{"name", def->code},
                                    {"type", std::string(fhir::SearchParamTypeName(def->type))},
                                    {"definition", "http://hl7.org/fhir/SearchParameter/" +
                                                       def->resource_type + "-" + def->code}});
      if (def->type == fhir::SearchParamType::kReference) {
        includes.push_back(json::string(type + ":" + def->code));
      }
    }
    resource["searchInclude"] = std::move(includes);
    if (auto it = revincludes.find(type); it != revincludes.end()) {
      resource["searchRevInclude"] = std::move(it->second);
      // Reverse chaining works wherever a reference parameter can point at this type.
      params.push_back(json::object{
          {"name", "_has"},
          {"type", "special"},
          {"documentation", "_has:Type:reference-parameter:parameter=value, nestable"}});
    }
    resource["searchParam"] = std::move(params);
    if (type == "Patient") {
      resource["operation"] = json::array{json::object{
          {"name", "everything"},
          {"definition", "http://hl7.org/fhir/OperationDefinition/Patient-everything"}}};
    }
    resources.push_back(std::move(resource));
  }
  json::object statement{
      {"resourceType", "CapabilityStatement"},
      {"status", "active"},
      {"date", fhir::FormatInstant(fhir::NowMs())},
      {"publisher", "carerecord"},
      {"kind", "instance"},
      {"software", json::object{{"name", "carerecord"}, {"version", "0.1.0"}}},
      {"implementation", json::object{{"description", "carerecord shared care record"}}},
      {"fhirVersion", "4.0.1"},
      {"format", json::array{"application/fhir+json", "json"}},
      {"rest",
       json::array{json::object{
           {"mode", "server"},
           {"compartment", json::array{"http://hl7.org/fhir/CompartmentDefinition/patient"}},
           {"resource", std::move(resources)},
           {"interaction",
            json::array{json::object{{"code", "transaction"}}, json::object{{"code", "batch"}},
                        json::object{{"code", "history-system"}}}},
       }}},
  };
  (void)options;
  return Serialize(statement);
}

}  // namespace carerecord::interactions
