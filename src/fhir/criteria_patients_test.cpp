#include "fhir/criteria_patients.h"

#include <gtest/gtest.h>

namespace carerecord::fhir {
namespace {

using Ids = std::vector<std::string>;

TEST(CriteriaPatientsTest, BareIdsOfParametersThatMayPointAtAPatientNameIt) {
  for (const char* criteria :
       {"Observation?subject=Q", "Observation?patient=Q", "Observation?subject:Patient=Q",
        "Observation?patient:Patient=Q", "Observation?subject=Patient/Q",
        "Observation?patient=Patient%2FQ", "Patient?_id=Q", "Observation?subject._id=Q",
        "Observation?subject:Patient._id=Q", "Observation?encounter.subject=Q",
        "Encounter?_has:Observation:encounter:subject=Q", "http://x/fhir/Observation?subject=Q",
        "Observation?code=a&subject:not=Q", "Observation?code=http://loinc.org|8867-4&subject=Q",
        "Observation?code:text=blood pressure&subject=Q",
        "Observation?_has:Provenance:target:agent=Patient/Q", "Patient/Q"}) {
    SCOPED_TRACE(criteria);
    SearchedPatients named = PatientsSearchedBy(criteria);
    EXPECT_EQ(named.ids, Ids{"Q"});
    EXPECT_FALSE(named.unresolved);
  }
  EXPECT_EQ(PatientsSearchedBy("Patient?_id=a,b").ids, (Ids{"a", "b"}));
}

TEST(CriteriaPatientsTest, SearchesThatNameNoPatientNameNone) {
  for (const char* criteria :
       {"Observation", "Observation?code=http://loinc.org|8867-4", "Observation?subject:Group=G",
        "Observation?subject:missing=true", "Observation?encounter.status=finished",
        "Observation?_count=10&_sort=date", "Device?organization=Organization/O"}) {
    SCOPED_TRACE(criteria);
    SearchedPatients named = PatientsSearchedBy(criteria);
    EXPECT_TRUE(named.ids.empty());
    EXPECT_FALSE(named.unresolved);
  }
}

TEST(CriteriaPatientsTest, SearchesThatMaySelectAPatientOtherwiseAreUnresolved) {
  for (const char* criteria :
       {"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919", "Patient?name=Smith",
        "Patient?_content=Smith", "Observation?subject.identifier=x|1",
        "Observation?subject:identifier=x|1", "Observation?patient.name=Smith",
        "Observation?performer.name=Smith", "Observation?_filter=patient eq Q",
        "Observation?_query=mine", "Observation?no-such-param=Q", "Observation?subject=a%20b",
        "NotAType?subject=Q", "NotAType", "Observation?subject.no-such-param=Q",
        "Observation?_has:NotAType:x:y=Q"}) {
    SCOPED_TRACE(criteria);
    EXPECT_TRUE(PatientsSearchedBy(criteria).unresolved);
  }
}

}  // namespace
}  // namespace carerecord::fhir
