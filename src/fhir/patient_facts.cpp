#include "fhir/patient_facts.h"

#include <algorithm>
#include <boost/json/value.hpp>

#include "fhir/criteria_patients.h"
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

constexpr std::string_view kNhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number";

// Identifier systems of organisations and professionals, never of patients: a Reference by one
// of these (a Device's owner by ODS code) names no patient.
bool IsNonPatientSystem(std::string_view system) {
  static constexpr std::string_view kSystems[] = {
      "https://fhir.nhs.uk/Id/ods-organization-code", "https://fhir.nhs.uk/Id/ods-site-code",
      "https://fhir.nhs.uk/Id/sds-user-id",           "https://fhir.nhs.uk/Id/sds-role-profile-id",
      "https://fhir.hl7.org.uk/Id/gmc-number",        "https://fhir.hl7.org.uk/Id/gmp-number",
      "https://fhir.hl7.org.uk/Id/nmc-number",        "https://fhir.hl7.org.uk/Id/hcpc-number",
  };
  return std::find(std::begin(kSystems), std::end(kSystems), system) != std::end(kSystems);
}

// An object that is a Reference by its members: reference, type, identifier, display (and id,
// extension).
bool LooksLikeReference(const json::object& object) {
  for (const auto& member : object) {
    const std::string_view key = member.key();
    if (key != "reference" && key != "type" && key != "identifier" && key != "display" &&
        key != "id" && key != "extension") {
      return false;
    }
  }
  return true;
}

// Whether a Reference names a patient by something no record can be found from: an NHS number
// (whatever its type says), an identifier with type Patient or with no type and a system that is
// not an organisation's or a professional's, or a conditional reference left unresolved.
bool NamesPatientUnresolved(const json::object& reference) {
  const json::value* text = reference.if_contains("reference");
  if (text && IfText(*text) && std::string_view(*IfText(*text)).starts_with("Patient?")) {
    return true;
  }
  const json::value* identifier = reference.if_contains("identifier");
  if (identifier == nullptr || !identifier->is_object()) return false;
  const json::value* system = identifier->as_object().if_contains("system");
  const std::string_view system_text =
      system && IfText(*system) ? std::string_view(*IfText(*system)) : std::string_view();
  if (system_text == kNhsNumberSystem) return true;
  if (text && IfText(*text) && ParseReference(*IfText(*text))) return false;  // the literal says
  const json::value* type = reference.if_contains("type");
  if (type != nullptr) {
    const json::string* type_text = IfText(*type);
    if (type_text == nullptr) return false;
    const std::string_view named = *type_text;
    return named == "Patient" || named.ends_with("/Patient");
  }
  return !IsNonPatientSystem(system_text);
}

// Whether anything in `value` names a patient unresolved: such a Reference, or a contained
// Patient.
bool NamesPatientUnresolved(const json::value& value) {
  if (const json::object* object = value.if_object()) {
    if (const json::value* type = object->if_contains("resourceType");
        type && IfText(*type) && *IfText(*type) == "Patient") {
      return true;  // a contained Patient: a patient's data, in no record
    }
    if (LooksLikeReference(*object) && NamesPatientUnresolved(*object)) return true;
    for (const auto& member : *object) {
      if (NamesPatientUnresolved(member.value())) return true;
    }
  } else if (const json::array* array = value.if_array()) {
    for (const json::value& item : *array) {
      if (NamesPatientUnresolved(item)) return true;
    }
  }
  return false;
}

}  // namespace

bool HasPatientLines(std::string_view type) {
  return type != "Binary" && type != "Bundle" && IsResourceType(type) &&
         PatientCompartmentParams(type).empty();
}

ResourcePatients PatientsNamedBy(const json::object& resource) {
  ResourcePatients out;
  const auto visit = [&](std::string_view reference) {
    if (auto parsed = ParseReference(reference); parsed && parsed->type == "Patient") {
      AddUnique(out.ids, parsed->id);
    }
  };
  // Member by member: a resource has no "reference" of its own, and the whole is not copied.
  for (const auto& member : resource) {
    ForEachReference(member.value(), visit);
    if (!out.unresolved && NamesPatientUnresolved(member.value())) out.unresolved = true;
  }
  const json::value* type = resource.if_contains("resourceType");
  const json::value* criteria = resource.if_contains("criteria");
  if (type && type->is_string() && type->as_string() == "Subscription" && criteria &&
      IfText(*criteria)) {
    SearchedPatients searched = PatientsSearchedBy(*IfText(*criteria));
    for (const std::string& id : searched.ids) AddUnique(out.ids, id);
    out.unresolved = out.unresolved || searched.unresolved;
  }
  return out;
}

void AddPatientLines(const json::object& resource, std::string& facts) {
  const ResourcePatients named = PatientsNamedBy(resource);
  for (const std::string& id : named.ids) {
    facts += 'P';
    facts += id;
    facts += '\n';
  }
  if (named.unresolved) facts += "P?\n";
  facts += "P!\n";
}

NamedPatients PatientsNamedIn(std::string_view facts) {
  NamedPatients out;
  bool part_looked_at = false;
  while (!facts.empty()) {
    const size_t end = facts.find('\n');
    const std::string_view line = facts.substr(0, end);
    facts.remove_prefix(end == std::string_view::npos ? facts.size() : end + 1);
    if (line == "~") {
      if (!part_looked_at) out.every_part_looked_at = false;
      part_looked_at = false;
    } else if (line == "P!") {
      part_looked_at = true;
    } else if (line == "P?") {
      out.unresolved = true;
    } else if (line.size() > 1 && line[0] == 'P') {
      out.ids.push_back(line.substr(1));
    }
  }
  if (!part_looked_at) out.every_part_looked_at = false;
  return out;
}

}  // namespace carerecord::fhir
