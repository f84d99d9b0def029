#include "fhir/index_extraction.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <climits>

#include "fhir/fhir_date.h"
#include "fhir/search_parameters.h"

namespace carerecord::fhir {
namespace {

uint32_t Id(std::string_view type, std::string_view code) {
  const SearchParamDef* def = FindSearchParam(type, code);
  EXPECT_NE(def, nullptr) << code;
  return def != nullptr ? def->id : UINT32_MAX;
}

IndexEntries Extract(std::string_view json_text) {
  boost::json::object resource = boost::json::parse(json_text).as_object();
  return ExtractIndexEntries(resource, resource.at("resourceType").as_string());
}

template <typename Entry>
std::vector<Entry> Of(const std::vector<Entry>& entries, uint32_t param_id) {
  std::vector<Entry> out;
  for (const Entry& e : entries) {
    if (e.param_id == param_id) out.push_back(e);
  }
  return out;
}

int64_t Ms(std::string_view date) { return ParseFhirDate(date)->low_ms; }

constexpr std::string_view kObservation = R"({
  "resourceType": "Observation", "id": "o1", "status": "final",
  "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"],
           "tag": [{"system": "urn:tags", "code": "t1", "display": "Tag one"}]},
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2", "display": "Body Height"},
                      {"system": "http://snomed.info/sct", "code": "50373000"}],
           "text": "Height"},
  "subject": {"reference": "Patient/p1"},
  "encounter": {"reference": "http://example.org/fhir/Encounter/e1/_history/3"},
  "performer": [{"reference": "#contained1"}, {"reference": "Practitioner/dr"}],
  "effectiveDateTime": "2021-03-04T05:06:07Z",
  "valueQuantity": {"value": 167.7, "unit": "cm", "system": "http://unitsofmeasure.org",
                    "code": "cm"}
})";

TEST(IndexExtraction, ObservationCodeGivesOneTokenPerCodingPlusText) {
  IndexEntries entries = Extract(kObservation);
  std::vector<TokenEntry> code = Of(entries.tokens, Id("Observation", "code"));
  ASSERT_EQ(code.size(), 3u);
  EXPECT_EQ(code[0].system, "http://loinc.org");
  EXPECT_EQ(code[0].code, "8302-2");
  EXPECT_EQ(code[0].text, "Body Height");
  EXPECT_EQ(code[1].code, "50373000");
  EXPECT_EQ(code[2].code, "");  // the concept's own text, for :text
  EXPECT_EQ(code[2].text, "Height");
  // combo-code is code | component-code: searched through their rows, not indexed again.
  EXPECT_TRUE(Of(entries.tokens, Id("Observation", "combo-code")).empty());
  EXPECT_TRUE(IsUnionParam(Id("Observation", "combo-code")));
  EXPECT_EQ(Of(entries.tokens, Id("Observation", "status"))[0].code, "final");
  EXPECT_EQ(Of(entries.tokens, Id("Observation", "category"))[0].code, "vital-signs");
}

TEST(IndexExtraction, ObservationValueQuantity) {
  IndexEntries entries = Extract(kObservation);
  std::vector<QuantityEntry> value = Of(entries.quantities, Id("Observation", "value-quantity"));
  ASSERT_EQ(value.size(), 1u);
  EXPECT_DOUBLE_EQ(value[0].value, 167.7);
  EXPECT_EQ(value[0].system, "http://unitsofmeasure.org");
  EXPECT_EQ(value[0].code, "cm");
  EXPECT_EQ(value[0].unit, "cm");
}

TEST(IndexExtraction, ObservationEffectiveDateTimeIsASecondWide) {
  IndexEntries entries = Extract(kObservation);
  std::vector<DateEntry> date = Of(entries.dates, Id("Observation", "date"));
  ASSERT_EQ(date.size(), 1u);
  EXPECT_EQ(date[0].low_ms, Ms("2021-03-04T05:06:07Z"));
  EXPECT_EQ(date[0].high_ms, Ms("2021-03-04T05:06:08Z"));
}

TEST(IndexExtraction, ObservationReferences) {
  IndexEntries entries = Extract(kObservation);
  std::vector<ReferenceEntry> subject = Of(entries.references, Id("Observation", "subject"));
  ASSERT_EQ(subject.size(), 1u);
  EXPECT_EQ(subject[0].target_type, "Patient");
  EXPECT_EQ(subject[0].target_id, "p1");
  std::vector<ReferenceEntry> patient = Of(entries.references, Id("Observation", "patient"));
  ASSERT_EQ(patient.size(), 1u);
  EXPECT_EQ(patient[0].target_id, "p1");
  std::vector<ReferenceEntry> encounter = Of(entries.references, Id("Observation", "encounter"));
  ASSERT_EQ(encounter.size(), 1u);
  // An absolute reference names another server's resource: indexed by its whole URL.
  EXPECT_EQ(encounter[0].target_type, "");
  EXPECT_EQ(encounter[0].target_id, "http://example.org/fhir/Encounter/e1/_history/3");
  // "#contained1" is a contained resource: not indexed.
  std::vector<ReferenceEntry> performer = Of(entries.references, Id("Observation", "performer"));
  ASSERT_EQ(performer.size(), 1u);
  EXPECT_EQ(performer[0].target_id, "dr");
}

TEST(IndexExtraction, CommonMetaParameters) {
  IndexEntries entries = Extract(kObservation);
  std::vector<UriEntry> profile = Of(entries.uris, Id("Observation", "_profile"));
  ASSERT_EQ(profile.size(), 1u);
  EXPECT_EQ(profile[0].value, "http://hl7.org/fhir/StructureDefinition/vitalsigns");
  std::vector<TokenEntry> tag = Of(entries.tokens, Id("Observation", "_tag"));
  ASSERT_EQ(tag.size(), 1u);
  EXPECT_EQ(tag[0].system, "urn:tags");
  EXPECT_EQ(tag[0].code, "t1");
  EXPECT_EQ(tag[0].text, "Tag one");
}

TEST(IndexExtraction, ReferenceFilterKeepsOnlyPatients) {
  IndexEntries entries = Extract(R"({"resourceType": "Observation", "status": "final",
      "code": {"text": "x"}, "subject": {"reference": "Group/g1"}})");
  EXPECT_TRUE(Of(entries.references, Id("Observation", "patient")).empty());
  std::vector<ReferenceEntry> subject = Of(entries.references, Id("Observation", "subject"));
  ASSERT_EQ(subject.size(), 1u);
  EXPECT_EQ(subject[0].target_type, "Group");
}

TEST(IndexExtraction, UnsplittableReferenceKeepsWholeText) {
  IndexEntries entries = Extract(R"({"resourceType": "Observation", "status": "final",
      "code": {"text": "x"},
      "subject": {"reference": "urn:uuid:0b3b9e5e-6a3e-4d58-9d36-1a7f0d0e1f00"}})");
  std::vector<ReferenceEntry> subject = Of(entries.references, Id("Observation", "subject"));
  ASSERT_EQ(subject.size(), 1u);
  EXPECT_EQ(subject[0].target_type, "");
  EXPECT_EQ(subject[0].target_id, "urn:uuid:0b3b9e5e-6a3e-4d58-9d36-1a7f0d0e1f00");
}

TEST(IndexExtraction, ComponentValuesAreIndexedSeparately) {
  IndexEntries entries = Extract(R"({"resourceType": "Observation", "status": "final",
      "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
      "component": [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
         "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
         "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org",
                           "code": "mm[Hg]"}}]})");
  EXPECT_EQ(Of(entries.quantities, Id("Observation", "component-value-quantity")).size(), 2u);
  EXPECT_TRUE(Of(entries.quantities, Id("Observation", "combo-value-quantity")).empty());
  EXPECT_TRUE(Of(entries.quantities, Id("Observation", "value-quantity")).empty());
  EXPECT_TRUE(Of(entries.tokens, Id("Observation", "combo-code")).empty());
  EXPECT_EQ(Of(entries.tokens, Id("Observation", "component-code")).size(), 2u);
}

constexpr std::string_view kPatient = R"({
  "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-05",
  "active": true,
  "identifier": [{"type": {"text": "NHS number"}, "system": "https://fhir.nhs.uk/Id/nhs-number",
                  "value": "9000000009"}],
  "name": [{"use": "official", "family": "Smith", "given": ["Jane", "Ann"], "prefix": ["Mrs"]}],
  "telecom": [{"system": "phone", "value": "01234 567890"},
              {"system": "email", "value": "jane@example.org"}],
  "address": [{"line": ["1 High Street", "Flat 2"], "city": "Dorchester", "postalCode": "DT1 1AA",
               "country": "GB"}]
})";

TEST(IndexExtraction, PatientNameParts) {
  IndexEntries entries = Extract(kPatient);
  std::vector<StringEntry> name = Of(entries.strings, Id("Patient", "name"));
  std::vector<std::string> values;
  for (const StringEntry& e : name) values.push_back(e.value);
  EXPECT_EQ(values, (std::vector<std::string>{"Smith", "Jane", "Ann", "Mrs"}));
  std::vector<StringEntry> family = Of(entries.strings, Id("Patient", "family"));
  ASSERT_EQ(family.size(), 1u);
  EXPECT_EQ(family[0].value, "Smith");
  EXPECT_EQ(Of(entries.strings, Id("Patient", "given")).size(), 2u);
}

TEST(IndexExtraction, PatientIdentifierAndGender) {
  IndexEntries entries = Extract(kPatient);
  std::vector<TokenEntry> identifier = Of(entries.tokens, Id("Patient", "identifier"));
  ASSERT_EQ(identifier.size(), 1u);
  EXPECT_EQ(identifier[0].system, "https://fhir.nhs.uk/Id/nhs-number");
  EXPECT_EQ(identifier[0].code, "9000000009");
  EXPECT_EQ(identifier[0].text, "NHS number");
  std::vector<TokenEntry> gender = Of(entries.tokens, Id("Patient", "gender"));
  ASSERT_EQ(gender.size(), 1u);
  EXPECT_EQ(gender[0].code, "female");
  EXPECT_EQ(gender[0].system, "");
  std::vector<TokenEntry> active = Of(entries.tokens, Id("Patient", "active"));
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].code, "true");
}

TEST(IndexExtraction, PartialBirthDateCoversTheMonth) {
  IndexEntries entries = Extract(kPatient);
  std::vector<DateEntry> birth = Of(entries.dates, Id("Patient", "birthdate"));
  ASSERT_EQ(birth.size(), 1u);
  EXPECT_EQ(birth[0].low_ms, Ms("1970-05-01"));
  EXPECT_EQ(birth[0].high_ms, Ms("1970-06-01"));
}

TEST(IndexExtraction, PatientAddressAndTelecom) {
  IndexEntries entries = Extract(kPatient);
  std::vector<StringEntry> postcode = Of(entries.strings, Id("Patient", "address-postalcode"));
  ASSERT_EQ(postcode.size(), 1u);
  EXPECT_EQ(postcode[0].value, "DT1 1AA");
  EXPECT_EQ(Of(entries.strings, Id("Patient", "address")).size(), 5u);
  std::vector<TokenEntry> phone = Of(entries.tokens, Id("Patient", "phone"));
  ASSERT_EQ(phone.size(), 1u);  // where(system='phone') drops the email
  EXPECT_EQ(phone[0].code, "01234 567890");
  EXPECT_EQ(phone[0].system, "phone");
  std::vector<TokenEntry> email = Of(entries.tokens, Id("Patient", "email"));
  ASSERT_EQ(email.size(), 1u);
  EXPECT_EQ(email[0].code, "jane@example.org");
  EXPECT_EQ(Of(entries.tokens, Id("Patient", "telecom")).size(), 2u);
}

TEST(IndexExtraction, DeceasedIsFalseUnlessSaidOtherwise) {
  auto deceased = [](std::string_view json_text) {
    std::vector<TokenEntry> t = Of(Extract(json_text).tokens, Id("Patient", "deceased"));
    return t.size() == 1 ? t[0].code : "<" + std::to_string(t.size()) + " entries>";
  };
  EXPECT_EQ(deceased(R"({"resourceType": "Patient"})"), "false");
  EXPECT_EQ(deceased(R"({"resourceType": "Patient", "deceasedBoolean": false})"), "false");
  EXPECT_EQ(deceased(R"({"resourceType": "Patient", "deceasedBoolean": true})"), "true");
  EXPECT_EQ(deceased(R"({"resourceType": "Patient", "deceasedDateTime": "2020-01-01"})"), "true");
}

TEST(IndexExtraction, ConditionOnsetPeriodWithOpenEnd) {
  IndexEntries entries = Extract(R"({"resourceType": "Condition",
      "subject": {"reference": "Patient/p1"},
      "clinicalStatus": {"coding": [{
          "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                     "code": "active"}]},
      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
      "onsetPeriod": {"start": "2019-06-01"}})");
  std::vector<DateEntry> onset = Of(entries.dates, Id("Condition", "onset-date"));
  ASSERT_EQ(onset.size(), 1u);
  EXPECT_EQ(onset[0].low_ms, Ms("2019-06-01"));
  EXPECT_EQ(onset[0].high_ms, INT64_MAX);
  EXPECT_EQ(Of(entries.tokens, Id("Condition", "clinical-status"))[0].code, "active");
  EXPECT_EQ(Of(entries.tokens, Id("Condition", "code"))[0].code, "44054006");
  EXPECT_EQ(Of(entries.references, Id("Condition", "patient"))[0].target_id, "p1");
}

TEST(IndexExtraction, PeriodEndIsExclusiveEndOfItsPrecision) {
  IndexEntries entries = Extract(R"({"resourceType": "Encounter", "status": "finished",
      "class": {"code": "AMB"},
      "period": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-02"}})");
  std::vector<DateEntry> date = Of(entries.dates, Id("Encounter", "date"));
  ASSERT_EQ(date.size(), 1u);
  EXPECT_EQ(date[0].low_ms, Ms("2020-01-01T10:00:00Z"));
  EXPECT_EQ(date[0].high_ms, Ms("2020-01-03"));
}

TEST(IndexExtraction, TimingEventsAndBounds) {
  IndexEntries entries = Extract(R"({"resourceType": "CarePlan", "status": "active",
      "intent": "plan", "subject": {"reference": "Patient/p1"},
      "activity": [{"detail": {"status": "scheduled", "scheduledTiming": {
          "event": ["2021-01-01", "2021-01-02"],
          "repeat": {"boundsPeriod": {"end": "2021-02-01"}}}}}]})");
  std::vector<DateEntry> dates = Of(entries.dates, Id("CarePlan", "activity-date"));
  ASSERT_EQ(dates.size(), 3u);
  EXPECT_EQ(dates[0].low_ms, Ms("2021-01-01"));
  EXPECT_EQ(dates[1].low_ms, Ms("2021-01-02"));
  EXPECT_EQ(dates[2].low_ms, INT64_MIN);
  EXPECT_EQ(dates[2].high_ms, Ms("2021-02-02"));
}

TEST(IndexExtraction, MalformedValuesAreSkipped) {
  IndexEntries entries = Extract(R"({"resourceType": "Patient", "birthDate": "1970-02-30",
      "gender": 12, "name": [{"family": 3}]})");
  EXPECT_TRUE(Of(entries.dates, Id("Patient", "birthdate")).empty());
  EXPECT_TRUE(Of(entries.tokens, Id("Patient", "gender")).empty());
  EXPECT_TRUE(Of(entries.strings, Id("Patient", "family")).empty());
}

TEST(IndexExtraction, UnknownTypeGivesNoEntries) {
  boost::json::object resource{{"resourceType", "Nope"}};
  IndexEntries entries = ExtractIndexEntries(resource, "Nope");
  EXPECT_TRUE(entries.tokens.empty());
  EXPECT_TRUE(entries.references.empty());
}

TEST(ParseReference, RelativeAbsoluteAndVersioned) {
  auto relative = ParseReference("Patient/123");
  ASSERT_TRUE(relative);
  EXPECT_EQ(relative->type, "Patient");
  EXPECT_EQ(relative->id, "123");
  EXPECT_EQ(relative->version, "");
  auto versioned = ParseReference("Patient/123/_history/2");
  ASSERT_TRUE(versioned);
  EXPECT_EQ(versioned->id, "123");
  EXPECT_EQ(versioned->version, "2");
  auto absolute = ParseReference("https://x.nhs.uk/fhir/R4/Observation/a.b-c");
  ASSERT_TRUE(absolute);
  EXPECT_EQ(absolute->type, "Observation");
  EXPECT_EQ(absolute->id, "a.b-c");
  auto absolute_versioned = ParseReference("http://x/fhir/Patient/1/_history/7");
  ASSERT_TRUE(absolute_versioned);
  EXPECT_EQ(absolute_versioned->version, "7");
}

TEST(ParseReference, RejectsWhatIsNotTypeAndId) {
  EXPECT_FALSE(ParseReference("urn:uuid:0b3b9e5e-6a3e-4d58-9d36-1a7f0d0e1f00"));
  EXPECT_FALSE(ParseReference("#contained"));
  EXPECT_FALSE(ParseReference(""));
  EXPECT_FALSE(ParseReference("Patient"));
  EXPECT_FALSE(ParseReference("Patient/"));
  EXPECT_FALSE(ParseReference("Unknown/1"));
  EXPECT_FALSE(ParseReference("patient/1"));
  EXPECT_FALSE(ParseReference("Patient/has space"));
  EXPECT_FALSE(ParseReference("Patient?identifier=x|1"));
  EXPECT_FALSE(ParseReference("foo/Patient/1"));
  EXPECT_FALSE(ParseReference("Patient/1/_history/"));
}

}  // namespace
}  // namespace carerecord::fhir
