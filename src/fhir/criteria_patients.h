// Which patients a search names (a Subscription's `criteria`, "Observation?subject=ID"), for the
// patient lines of fhir/patient_facts.h: a Subscription is read as the records it watches allow.
// Reads the query with Boost.URL and the R4 search parameter tables. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace carerecord::fhir {

struct SearchedPatients {
  std::vector<std::string> ids;  // Patient ids the search names, each once
  // The search may select a patient by something other than an id (an identifier, a name, a
  // chain ending in one, `_filter`), or is in a form not read here: no record can decide it.
  bool unresolved = false;
};

// The patients `criteria` ("Type?query", relative or with a base URL) names:
// - every value that is a literal `Patient/ID` reference, whatever the parameter;
// - a bare id given to a reference parameter that may point at a Patient (`subject=ID`,
//   `patient=ID`, `subject:Patient=ID`), and `_id` on a Patient search (`Patient?_id=a,b`);
// - chains and reverse chains (`subject._id=ID`, `subject:Patient._id=ID`,
//   `_has:Observation:patient:subject=ID`), followed through every type a link may point at.
// Unresolved: a Patient search by anything but `_id` (or a chain reaching Patient so),
// `:identifier` on a parameter that may point at a Patient, `_filter` and `_query`, an unknown
// type or parameter, a query that does not parse.
SearchedPatients PatientsSearchedBy(std::string_view criteria);

}  // namespace carerecord::fhir
