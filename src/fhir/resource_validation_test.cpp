#include "fhir/resource_validation.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace carerecord::fhir {
namespace {

base::Status Validate(std::string_view json_text) {
  return ValidateResource(boost::json::parse(json_text).as_object());
}

// Expects a failure at `pointer` whose message contains `message_part`.
void ExpectError(std::string_view json_text, std::string_view pointer,
                 std::string_view message_part) {
  base::Status status = Validate(json_text);
  ASSERT_FALSE(status.ok()) << json_text;
  EXPECT_EQ(status.error().code, base::ErrorCode::kInvalid);
  EXPECT_EQ(status.error().location, pointer) << status.error().message;
  EXPECT_NE(status.error().message.find(message_part), std::string::npos)
      << "message: " << status.error().message;
}

TEST(ResourceValidation, CompletePatientPasses) {
  base::Status status = Validate(R"({
    "resourceType": "Patient", "id": "p-1.a",
    "meta": {"versionId": "1", "lastUpdated": "2024-01-01T00:00:00.000Z",
             "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]},
    "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
    "extension": [{"url": "http://example.org/ext", "valueCoding": {"code": "a"}},
                  {"url": "http://example.org/nested",
                   "extension": [{"url": "part", "valueInteger": 3}]}],
    "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
    "active": true,
    "name": [{"use": "official", "family": "Smith", "given": ["Jane", "Ann"]}],
    "telecom": [{"system": "phone", "value": "01234 567890"}],
    "gender": "female", "birthDate": "1970-05-01",
    "_birthDate": {"extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                  "valueDateTime": "1970-05-01T10:20:00+01:00"}]},
    "deceasedBoolean": false,
    "address": [{"line": ["1 High Street"], "postalCode": "DT1 1AA"}],
    "multipleBirthInteger": 2,
    "photo": [{"contentType": "image/png", "data": "aGVsbG8=", "size": 5}],
    "contained": [{"resourceType": "Organization", "id": "org", "name": "GP"}],
    "managingOrganization": {"reference": "#org"}
  })");
  EXPECT_TRUE(status.ok()) << status.error().location << " " << status.error().message;
}

TEST(ResourceValidation, ObservationWithComponentsPasses) {
  base::Status status = Validate(R"({
    "resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "subject": {"reference": "Patient/p1"},
    "effectivePeriod": {"start": "2021-01-01", "end": "2021-01-02T10:00:00Z"},
    "issued": "2021-01-02T10:00:00.123+00:00",
    "component": [{"code": {"text": "systolic"},
                   "valueQuantity": {"value": 120.5, "unit": "mm[Hg]"}}]
  })");
  EXPECT_TRUE(status.ok()) << status.error().location << " " << status.error().message;
}

TEST(ResourceValidation, RequiredElementsMustBePresent) {
  ExpectError(R"({"resourceType": "Observation", "code": {"text": "x"}})", "/status",
              "Observation.status: the required element status is missing");
  ExpectError(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "component": [{"valueQuantity": {"value": 1}}]})",
              "/component/0/code", "Observation.component.code: the required element code");
  // A required choice is met by any of its types, and named as the choice when missing.
  ExpectError(R"({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                  "subject": {"reference": "Patient/p"}})",
              "", "the required element medication[x] is missing");
  EXPECT_TRUE(Validate(R"({"resourceType": "MedicationRequest", "status": "active",
      "intent": "order", "subject": {"reference": "Patient/p"},
      "medicationReference": {"reference": "Medication/m"}})")
                  .ok());
  // A primitive may be present only as its extension (a data-absent reason).
  EXPECT_TRUE(Validate(R"({"resourceType": "Observation", "code": {"text": "x"},
      "_status": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                 "valueCode": "unknown"}]}})")
                  .ok());
  // Contained resources are held to the same.
  ExpectError(R"({"resourceType": "Patient", "contained": [{"resourceType": "Flag", "id": "f",
                  "status": "active", "code": {"text": "x"}}]})",
              "/contained/0/subject", "Flag.subject: the required element subject is missing");
}

TEST(ResourceValidation, UnknownElementIsNamed) {
  ExpectError(R"({"resourceType": "Patient", "nickname": "J"})", "/nickname",
              "Patient.nickname: unknown element");
  ExpectError(R"({"resourceType": "Patient", "name": [{"family": "S", "middle": "X"}]})",
              "/name/0/middle", "Patient.name.middle: unknown element");
}

TEST(ResourceValidation, WrongJsonKindForPrimitive) {
  ExpectError(R"({"resourceType": "Patient", "active": "yes"})", "/active",
              "Patient.active: expected a boolean, got the string \"yes\"");
  ExpectError(R"({"resourceType": "Patient", "birthDate": 123})", "/birthDate",
              "Patient.birthDate: expected a date, got the number 123");
  ExpectError(R"({"resourceType": "Patient", "gender": null})", "/gender", "got null");
}

TEST(ResourceValidation, PointerReachesIntoArrays) {
  ExpectError(R"({"resourceType": "Patient", "name": [{"given": ["a", 5]}]})", "/name/0/given/1",
              "Patient.name.given: expected a string, got the number 5");
}

TEST(ResourceValidation, ArrayWhereSingleValueBelongsAndBack) {
  ExpectError(R"({"resourceType": "Patient", "gender": ["male"]})", "/gender",
              "expected a single value, got an array");
  ExpectError(R"({"resourceType": "Patient", "name": {"family": "S"}})", "/name",
              "expected an array, got an object");
  ExpectError(R"({"resourceType": "Patient", "maritalStatus": "M"})", "/maritalStatus",
              "expected an object, got the string \"M\"");
}

TEST(ResourceValidation, EmptyValuesAreRejected) {
  ExpectError(R"({"resourceType": "Patient", "name": []})", "/name", "empty array");
  ExpectError(R"({"resourceType": "Patient", "maritalStatus": {}})", "/maritalStatus",
              "empty object");
  ExpectError(R"({"resourceType": "Patient", "name": [{"family": ""}]})", "/name/0/family",
              "empty string");
}

TEST(ResourceValidation, DateFormats) {
  ExpectError(R"({"resourceType": "Patient", "birthDate": "2021-02-30"})", "/birthDate",
              "February 2021 has 28 days");
  ExpectError(R"({"resourceType": "Patient", "birthDate": "2021-01-01T10:00:00Z"})", "/birthDate",
              "expected a date");
  ExpectError(R"({"resourceType": "Patient", "deceasedDateTime": "2021-01-01T10:00Z"})",
              "/deceasedDateTime", "expected a dateTime");
  ExpectError(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "issued": "2021-01-01"})",
              "/issued", "expected an instant");
  ExpectError(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "issued": "2021-01-01T10:00:00"})",
              "/issued", "expected an instant");
  // R4: "If hours and minutes are specified, a time zone SHALL be populated."
  ExpectError(R"({"resourceType": "Patient", "deceasedDateTime": "2021-01-01T10:00:00"})",
              "/deceasedDateTime", "expected a dateTime");
  EXPECT_TRUE(
      Validate(R"({"resourceType": "Patient", "deceasedDateTime": "2021-01-01T10:00:00Z"})").ok());
  EXPECT_TRUE(
      Validate(R"({"resourceType": "Patient", "deceasedDateTime": "2021-01-01T10:00:00.5+01:00"})")
          .ok());
  EXPECT_TRUE(Validate(R"({"resourceType": "Patient", "deceasedDateTime": "2021-01"})").ok());
}

TEST(ResourceValidation, StringsAreAtMostOneMegabyte) {
  const std::string big(size_t{1} << 20, 'a');
  EXPECT_TRUE(
      Validate(R"({"resourceType": "Patient", "name": [{"family": ")" + big + R"("}]})").ok());
  ExpectError(R"({"resourceType": "Patient", "name": [{"family": ")" + big + R"(a"}]})",
              "/name/0/family", "at most 1 MB");
  EXPECT_TRUE(Validate(R"({"resourceType": "Binary", "contentType": "text/plain", "data": ")" +
                       std::string((size_t{3} << 19) + 4, 'A') + R"("})")
                  .ok());
}

TEST(ResourceValidation, CodeIdAndUriFormats) {
  ExpectError(R"({"resourceType": "Patient", "gender": " female"})", "/gender", "expected a code");
  ExpectError(R"({"resourceType": "Patient", "gender": "fe  male"})", "/gender", "expected a code");
  ExpectError(R"({"resourceType": "Patient", "id": "has space"})", "/id", "expected an id");
  ExpectError(R"({"resourceType": "Patient", "meta": {"profile": ["http://x/a b"]}})",
              "/meta/profile/0", "Patient.meta.profile: expected a canonical URL");
  ExpectError(R"({"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2 3"}]})",
              "/identifier/0/system", "expected a uri");
}

TEST(ResourceValidation, IntegerKinds) {
  ExpectError(R"({"resourceType": "Patient", "multipleBirthInteger": 2.5})",
              "/multipleBirthInteger", "expected an integer, got the number 2.5");
  ExpectError(R"({"resourceType": "Patient", "multipleBirthInteger": 3000000000})",
              "/multipleBirthInteger", "expected an integer");
  ExpectError(R"({"resourceType": "Patient", "photo": [{"size": -1}]})", "/photo/0/size",
              "expected an unsigned integer");
  ExpectError(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "valueQuantity": {"value": "12"}})",
              "/valueQuantity/value", "expected a decimal");
}

TEST(ResourceValidation, ResourceTypeMustBeKnown) {
  ExpectError(R"({"resourceType": "Patiant"})", "/resourceType", "not an R4 resource type");
  ExpectError(R"({"resourceType": "Quantity", "value": 1})", "/resourceType",
              "not an R4 resource type");
  ExpectError(R"({"id": "x"})", "/resourceType", "resourceType");
}

TEST(ResourceValidation, ContainedResourcesAreValidatedAsTheirOwnType) {
  ExpectError(R"({"resourceType": "Patient", "contained": [
                   {"resourceType": "Organization", "name": "ok"},
                   {"resourceType": "Observation", "status": "final", "bogus": 1}]})",
              "/contained/1/bogus", "Observation.bogus: unknown element");
  ExpectError(R"({"resourceType": "Patient", "contained": [{"name": "no type"}]})",
              "/contained/0/resourceType", "resourceType");
}

TEST(ResourceValidation, ContainedResourcesMustNotContainResources) {
  ExpectError(R"({"resourceType": "Patient", "contained": [{"resourceType": "Organization",
                   "contained": [{"resourceType": "Organization", "name": "x"}]}]})",
              "/contained/0/contained", "must not contain resources");
}

TEST(ResourceValidation, BundleEntriesAreValidated) {
  ExpectError(R"({"resourceType": "Bundle", "type": "transaction", "entry": [
                   {"resource": {"resourceType": "Patient", "active": "no"},
                    "request": {"method": "POST", "url": "Patient"}}]})",
              "/entry/0/resource/active", "Patient.active: expected a boolean");
}

TEST(ResourceValidation, ExtensionsTakeAnyValueType) {
  EXPECT_TRUE(Validate(R"({"resourceType": "Patient", "extension": [
      {"url": "http://x", "valueAddress": {"city": "Poole"}},
      {"url": "http://y", "valueDecimal": 7.5}]})")
                  .ok());
  ExpectError(R"({"resourceType": "Patient", "extension": [{"url": "http://x", "valueFoo": 1}]})",
              "/extension/0/valueFoo", "Patient.extension.valueFoo: unknown element");
}

TEST(ResourceValidation, OnlyOneChoiceValue) {
  ExpectError(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "valueString": "a", "valueBoolean": true})",
              "/valueBoolean", "more than one value for the choice element value[x]");
}

TEST(ResourceValidation, PrimitiveExtensionSiblings) {
  EXPECT_TRUE(Validate(R"({"resourceType": "Patient",
      "name": [{"given": ["Jane", null], "_given": [null, {"extension": [
          {"url": "http://x", "valueString": "initial"}]}]}]})")
                  .ok());
  ExpectError(R"({"resourceType": "Patient", "_birthDate": "x"})", "/_birthDate",
              "expected an object");
  ExpectError(R"({"resourceType": "Patient", "_name": {"id": "a"}})", "/_name", "unknown element");
  ExpectError(R"({"resourceType": "Patient", "_birthDate": {"value": "1970"}})",
              "/_birthDate/value", "unknown element");
  ExpectError(R"({"resourceType": "Patient", "name": [{"given": ["Jane", null]}]})",
              "/name/0/given/1", "got null");
  ExpectError(
      R"({"resourceType": "Patient",
          "name": [{"given": ["Jane"], "_given": [null, {"id": "a"}]}]})",
      "/name/0/_given", "as many items as given");
}

TEST(ResourceValidation, NonR4ElementsOfTheSourceSchemaAreRejected) {
  ExpectError(R"({"resourceType": "Patient", "meta": {"project": "x"}})", "/meta/project",
              "unknown element");
}

TEST(ResourceValidation, PointerTokensAreEscaped) {
  ExpectError(R"({"resourceType": "Patient", "a/b~c": 1})", "/a~1b~0c", "unknown element");
}

TEST(IsValidId, LettersDigitsDashDotUpTo64) {
  EXPECT_TRUE(IsValidId("abc-123.X"));
  EXPECT_TRUE(IsValidId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidId(std::string(65, 'a')));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("a_b"));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId("é"));
}

}  // namespace
}  // namespace carerecord::fhir

namespace carerecord::fhir {
namespace {

TEST(ResourceValidation, CodeOfARequiredBindingMustBeAnAllowedCode) {
  EXPECT_TRUE(Validate(R"({"resourceType":"Patient","gender":"female"})").ok());
  ExpectError(R"({"resourceType":"Patient","gender":"bloke"})", "/gender",
              "'bloke' is not one of the allowed codes (male,female,other,unknown)");
  ExpectError(R"({"resourceType":"Observation","status":"finalish","code":{"text":"x"}})",
              "/status", "is not one of the allowed codes");
}

}  // namespace
}  // namespace carerecord::fhir
