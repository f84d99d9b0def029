// Patient lines in a version's sealing facts (fhir/sealing_facts.h), for the types outside every
// patient compartment (Device, Contract, Linkage, Parameters, Subscription, ...), whose items may
// still be about a patient: "P<id>" per Patient that a literal reference anywhere in the
// resource names (a Subscription's criteria too, fhir/criteria_patients.h); "P?" when it names a
// patient no record can be found from (by NHS number or another identifier, a contained Patient,
// criteria by a name); and "P!", always, which says the version was looked at by these rules. The
// access policy decides such an item by the records of the patients it names, and one naming a
// patient unresolved as it decides a compartment item in no record: for integration clients
// only. Binary and Bundle, decided otherwise, get none. Pure; thread-safe.
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

struct ResourcePatients {
  std::vector<std::string> ids;
  bool unresolved = false;
};
// The Patients `resource` names: the ids of its literal references to a Patient (and for a
// Subscription those its criteria search by), and whether it names one unresolved: a Reference
// by NHS number (whatever its type), by an identifier with type Patient, or with no type by an
// identifier whose system is not an organisation's or a professional's (ODS, SDS, GMC, GMP, NMC,
// HCPC), a conditional `Patient?...` reference, a Patient inside it (contained, or embedded as
// in Parameters), or Subscription criteria that select a patient otherwise than by id.
ResourcePatients PatientsNamedBy(const boost::json::object& resource);

struct NamedPatients {
  std::vector<std::string_view> ids;  // into the facts; may repeat across joined parts
  bool unresolved = false;            // a "P?" line in any part
  // False when a part of the facts (the version's own, or the current version's after a "~"
  // line) has no "P!" line: a version written before these rules (its lines, if any, "P" and
  // "P<id>" from literal references only), whose body must be read.
  bool every_part_looked_at = true;
};
NamedPatients PatientsNamedIn(std::string_view facts);

}  // namespace carerecord::fhir
