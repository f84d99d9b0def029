// What the access policy needs to know about one resource version to decide whether it is
// sealed: its meta.security labels and the codings of its `code` element (the protected sets
// match those). Made once when a version is written and kept beside it by the store, so a read
// decides without parsing the body. Pure functions; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace carerecord::fhir {

// The confidentiality labels the policy reads (HL7 v3 Confidentiality).
inline constexpr std::string_view kConfidentialitySystem =
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";

// The facts as one text: a line "S<system>|<code>" per meta.security coding and "C<system>|<code>"
// per coding of `code`, each ending in '\n'; empty when there are none. A system is a URI, which
// holds no '|' or '\n'; a code holds no '\n'. Also category lines (fhir/category_facts.h) and, for
// the types outside every patient compartment, patient lines (fhir/patient_facts.h).
std::string EncodeSealingFacts(const boost::json::object& resource);

bool HasSecurityLabel(std::string_view facts, std::string_view system, std::string_view code);
bool HasCoding(std::string_view facts, std::string_view system, std::string_view code);

struct Coding {
  std::string system;
  std::string code;
  bool operator==(const Coding&) const = default;
};
std::vector<Coding> SecurityLabels(std::string_view facts);

}  // namespace carerecord::fhir
