#include "fhir/patient_facts.h"

#include <algorithm>
#include <boost/json/value.hpp>
#include <boost/url/parse_query.hpp>

#include "fhir/index_extraction.h"
#include "fhir/json_number.h"
#include "fhir/reference_scan.h"
#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"

namespace carerecord::fhir {
namespace {

namespace json = boost::json;

void AddUnique(std::vector<std::string>& ids, std::string_view id) {
  if (!IsValidId(id)) return;
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.emplace_back(id);
}

// The patients a Subscription's criteria ("Observation?patient=X&code=...") search by.
void AddCriteriaPatients(std::string_view criteria, std::vector<std::string>& ids) {
  const size_t question = criteria.find('?');
  if (question == std::string_view::npos) return;
  auto params = boost::urls::parse_query(criteria.substr(question + 1));
  if (!params) return;
  for (const auto& param : *params) {
    const std::string key = param.key.decode();
    const std::string_view name = std::string_view(key).substr(0, key.find_first_of(":."));
    const std::string decoded = param.has_value ? param.value.decode() : std::string();
    std::string_view values = decoded;
    while (!values.empty()) {
      const size_t comma = values.find(',');
      std::string_view value = values.substr(0, comma);
      values = comma == std::string_view::npos ? std::string_view() : values.substr(comma + 1);
      if (auto parsed = ParseReference(value); parsed && parsed->type == "Patient") {
        AddUnique(ids, parsed->id);
      } else if (name == "patient") {
        AddUnique(ids, value);
      }
    }
  }
}

}  // namespace

bool HasPatientLines(std::string_view type) {
  return type != "Binary" && type != "Bundle" && IsResourceType(type) &&
         PatientCompartmentParams(type).empty();
}

std::vector<std::string> PatientsNamedBy(const json::object& resource) {
  std::vector<std::string> ids;
  const auto visit = [&](std::string_view reference) {
    if (auto parsed = ParseReference(reference); parsed && parsed->type == "Patient") {
      AddUnique(ids, parsed->id);
    }
  };
  // Member by member: a resource has no "reference" of its own, and the whole is not copied.
  for (const auto& member : resource) ForEachReference(member.value(), visit);
  const json::value* type = resource.if_contains("resourceType");
  const json::value* criteria = resource.if_contains("criteria");
  if (type && type->is_string() && type->as_string() == "Subscription" && criteria &&
      IfText(*criteria)) {
    AddCriteriaPatients(*IfText(*criteria), ids);
  }
  return ids;
}

void AddPatientLines(const json::object& resource, std::string& facts) {
  const std::vector<std::string> ids = PatientsNamedBy(resource);
  if (ids.empty()) {
    facts += "P\n";
    return;
  }
  for (const std::string& id : ids) {
    facts += 'P';
    facts += id;
    facts += '\n';
  }
}

NamedPatients PatientsNamedIn(std::string_view facts) {
  NamedPatients out;
  bool part_has_line = false;
  while (!facts.empty()) {
    const size_t end = facts.find('\n');
    const std::string_view line = facts.substr(0, end);
    facts.remove_prefix(end == std::string_view::npos ? facts.size() : end + 1);
    if (line == "~") {
      if (!part_has_line) out.every_part_looked_at = false;
      part_has_line = false;
    } else if (!line.empty() && line[0] == 'P') {
      part_has_line = true;
      if (line.size() > 1) out.ids.push_back(line.substr(1));
    }
  }
  if (!part_has_line) out.every_part_looked_at = false;
  return out;
}

}  // namespace carerecord::fhir
