// Patient lines in a version's sealing facts (fhir/sealing_facts.h), for the types outside every
// patient compartment (Device, Contract, Linkage, Parameters, Subscription, ...), whose items may
// still be about a patient: "P<id>" per Patient that a literal reference anywhere in the
// resource names (a Subscription's criteria too), or one line "P" when it names none, which
// says that the version was looked at. The access policy decides such an item by the records of
// the patients it names. Binary and Bundle, decided otherwise, get none. Pure; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace carerecord::fhir {

// Whether versions of `type` carry patient lines: outside every patient compartment, and
// neither Binary nor Bundle.
bool HasPatientLines(std::string_view type);

// Appends the patient lines of `resource` (of a type that has them) to `facts`.
void AddPatientLines(const boost::json::object& resource, std::string& facts);

// The ids of the Patients `resource` names: its literal references to a Patient, and for a
// Subscription the patients its criteria search by (`patient=`, or any `Patient/ID` value).
std::vector<std::string> PatientsNamedBy(const boost::json::object& resource);

struct NamedPatients {
  std::vector<std::string_view> ids;  // into the facts; may repeat across joined parts
  // False when a part of the facts (the version's own, or the current version's after a "~"
  // line) has no patient line: a version written before the lines, whose body must be read.
  bool every_part_looked_at = true;
};
NamedPatients PatientsNamedIn(std::string_view facts);

}  // namespace carerecord::fhir
