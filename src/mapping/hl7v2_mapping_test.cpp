// MapMessage on small messages of our own: what the shared samples lack (NHS numbers valid and
// not, visits through admit, transfer, discharge and their cancellations, A40, corrections,
// document replacement and cancellation, base64 attachments) and the errors.
#include "mapping/hl7v2_mapping.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "fhir/json_number.h"
#include "fhir/resource_validation.h"
#include "mapping/hl7v2_mapping_test_support.h"
#include "mapping/hl7v2_values.h"

namespace carerecord::mapping {
namespace {

namespace json = boost::json;

using namespace testing;  // NOLINT: the message builders

TEST(Hl7v2Mapping, NhsNumberFromPid3WithVerificationStatus) {
  auto m = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500", kPid});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  const MappedResource* patient = Find(*m, "Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(patient->identity_system, "urn:carerecord:source:RX1:mrn:RX1PAS");
  EXPECT_EQ(patient->identity_value, "M123456");
  const json::array& ids = patient->resource.at("identifier").as_array();
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(Str(ids[1].at("system")), "https://fhir.nhs.uk/Id/nhs-number");
  EXPECT_EQ(Str(ids[1].at("value")), "9434765919");
  const json::object& ext = ids[1].at("extension").as_array()[0].as_object();
  EXPECT_EQ(
      Str(ext.at("url")),
      "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus");
  EXPECT_EQ(Str(ext.at("valueCodeableConcept").at("coding").as_array()[0].at("code")), "01");
  EXPECT_TRUE(m->warnings.empty());
  // Telecoms: home phone, email, work mobile (PID-14: use work, which tells PID-14's numbers
  // from PID-13's when a later message states one field only); address with county as district.
  const json::array& telecom = patient->resource.at("telecom").as_array();
  ASSERT_EQ(telecom.size(), 3u);
  EXPECT_EQ(Str(telecom[1].at("system")), "email");
  EXPECT_EQ(Str(telecom[1].at("value")), "jane@example.org");
  EXPECT_EQ(Str(telecom[2].at("use")), "work");
  EXPECT_EQ(Str(telecom[2].at("value")), "07700 900123");
  const json::object& address = patient->resource.at("address").as_array()[0].as_object();
  EXPECT_EQ(address.at("line").as_array(), (json::array{"1 HIGH STREET", "FLAT 2"}));
  EXPECT_EQ(Str(address.at("district")), "WEST YORKSHIRE");
  EXPECT_EQ(Str(address.at("use")), "home");
  EXPECT_EQ(Str(patient->resource.at("name").as_array()[0].at("use")), "official");
  EXPECT_EQ(patient->resource.at("name").as_array()[0].at("prefix").as_array(),
            (json::array{"MRS"}));
  // A28 states the person only: no Encounter.
  EXPECT_EQ(Find(*m, "Encounter"), nullptr);
}

TEST(Hl7v2Mapping, InvalidNhsNumberIsNotStoredAsOne) {
  auto m = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                "PID|1||M1^^^RX1PAS^MR~9434765918^^^NHS^NH||DOE^JOHN||19700101|M"});
  ASSERT_TRUE(m.ok());
  const MappedResource* patient = Find(*m, "Patient");
  for (const auto& id : patient->resource.at("identifier").as_array()) {
    EXPECT_NE(Str(id.at("system")), kNhsNumberSystem);
  }
  ASSERT_EQ(m->warnings.size(), 1u);
  EXPECT_NE(m->warnings[0].find("9434765918"), std::string::npos);
  EXPECT_NE(m->warnings[0].find("modulus 11"), std::string::npos);
}

TEST(Hl7v2Mapping, NhsNumberFromPid2IsNotTracedWithoutPid32) {
  auto m = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                "PID|1|9434765919|M1^^^RX1PAS^MR||DOE^JOHN||19700101|M"});
  ASSERT_TRUE(m.ok());
  const json::array& ids = Find(*m, "Patient")->resource.at("identifier").as_array();
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(Str(ids[1].at("value")), "9434765919");
  EXPECT_EQ(Str(ids[1]
                    .at("extension")
                    .as_array()[0]
                    .at("valueCodeableConcept")
                    .at("coding")
                    .as_array()[0]
                    .at("code")),
            "02");
}

TEST(Hl7v2Mapping, NhsNumberCheck) {
  EXPECT_TRUE(IsValidNhsNumber("9434765919"));
  EXPECT_TRUE(IsValidNhsNumber("4010232137"));
  EXPECT_FALSE(IsValidNhsNumber("9434765918"));
  EXPECT_FALSE(IsValidNhsNumber("943476591"));
  EXPECT_FALSE(IsValidNhsNumber("94347659X9"));
  EXPECT_FALSE(IsValidNhsNumber("1000000010"));  // check digit would be 10: no such number
}

std::string Pv1(std::string_view patient_class, std::string_view admitted,
                std::string_view discharged = "") {
  return "PV1|1|" + std::string(patient_class) +
         "|WARD7^BAY2^BED3^RX1HOSP|||WARD3^BAY1^BED1^RX1HOSP|C123^JONES^ALAN^^^DR^^^GMC|||MED|||"
         "|19|||C456^PATEL^RAJ^^^DR||V5555^^^RX1PAS^VN|||||||||||||||||01||||||||" +
         std::string(admitted) + "|" + std::string(discharged);
}

TEST(Hl7v2Mapping, VisitThroughAdmitTransferDischargeAndCancellations) {
  struct Case {
    std::string trigger;
    std::string status;
    bool has_end;
  };
  for (const Case& c : std::vector<Case>{{"A01", "in-progress", false},
                                         {"A02", "in-progress", false},
                                         {"A03", "finished", true},
                                         {"A05", "planned", false},
                                         {"A11", "cancelled", false},
                                         {"A12", "in-progress", false},
                                         {"A13", "in-progress", false},
                                         {"A08", "finished", true}}) {
    auto m = Map({Msh("ADT^" + c.trigger, "1"), "EVN|" + c.trigger + "|20260301101500", kPid,
                  Pv1("I", "20260228093000", "20260301100000")});
    ASSERT_TRUE(m.ok()) << c.trigger << ": " << m.error().ToString();
    const MappedResource* e = Find(*m, "Encounter");
    ASSERT_NE(e, nullptr) << c.trigger;
    EXPECT_EQ(e->identity_system, "urn:carerecord:source:RX1:visit:RX1PAS");
    EXPECT_EQ(e->identity_value, "V5555");
    EXPECT_EQ(Str(e->resource.at("status")), c.status) << c.trigger;
    // A13 cancels the discharge: its update deletes the end (null); as created there is none.
    if (c.trigger == "A13") {
      EXPECT_TRUE(e->resource.at("period").at("end").is_null());
    }
    const json::object created = MergeStated(nullptr, *e);
    const json::object& period = created.at("period").as_object();
    // February is GMT, and MSH-7's zone (+0000) is what a zoneless time is read in.
    EXPECT_EQ(Str(period.at("start")), "2026-02-28T09:30:00+00:00");
    EXPECT_EQ(period.contains("end"), c.has_end) << c.trigger;
    if (c.has_end) {
      EXPECT_EQ(Str(period.at("end")), "2026-03-01T10:00:00+00:00");
    }
    const json::array& locations = e->resource.at("location").as_array();
    EXPECT_EQ(Str(locations[0].at("location").at("display")), "WARD7, BAY2, BED3, RX1HOSP");
    EXPECT_EQ(locations.size(), c.trigger == "A02" ? 2u : 1u) << c.trigger;
    if (c.trigger == "A02") {
      EXPECT_EQ(Str(locations[1].at("location").at("display")), "WARD3, BAY1, BED1, RX1HOSP");
      EXPECT_EQ(Str(locations[1].at("status")), "completed");
    }
    const json::array& participants = e->resource.at("participant").as_array();
    EXPECT_EQ(Str(participants[0].at("individual").at("display")), "DR ALAN JONES");
    EXPECT_EQ(Str(participants[1].at("type").as_array()[0].at("coding").as_array()[0].at("code")),
              "ADM");
    EXPECT_EQ(Str(e->resource.at("hospitalization")
                      .at("admitSource")
                      .at("coding")
                      .as_array()[0]
                      .at("code")),
              "19");
  }
}

TEST(Hl7v2Mapping, ZonelessTimesAreUkLocalTimeWhenTheMessageSaysNothing) {
  auto m = Map({Msh("ADT^A01", "1", "20260701101500"), "EVN|A01|20260701101500", kPid,
                Pv1("I", "20260701093000")});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->event_time, "2026-07-01T10:15:00+01:00");  // British Summer Time
  EXPECT_EQ(Str(Find(*m, "Encounter")->resource.at("period").at("start")),
            "2026-07-01T09:30:00+01:00");
  EXPECT_EQ(LondonOffsetMinutes(2026, 3, 29, 0), 0);  // the last Sunday of March, before 01:00
  EXPECT_EQ(LondonOffsetMinutes(2026, 3, 29, 1), 60);
  EXPECT_EQ(LondonOffsetMinutes(2026, 10, 25, 1), 60);
  EXPECT_EQ(LondonOffsetMinutes(2026, 10, 25, 2), 0);
  EXPECT_EQ(LondonOffsetMinutes(2026, 12, 1, 12), 0);
}

TEST(Hl7v2Mapping, MergeNamesSurvivorAndLoserOfTheSameSource) {
  auto m =
      Map({Msh("ADT^A40^ADT_A39", "1"), "EVN|A40|20260301101500", kPid, "MRG|M999^^^RX1PAS^MR"});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  ASSERT_TRUE(m->merge.has_value());
  EXPECT_EQ(m->merge->survivor_value, "M123456");
  EXPECT_EQ(m->merge->loser_value, "M999");
  EXPECT_EQ(m->merge->loser_system, "urn:carerecord:source:RX1:mrn:RX1PAS");
  // Where each is, for the ERR of a merge the record refuses: PID-3 and MRG-1.
  EXPECT_EQ(m->merge->survivor_at.ToString(), "PID (segment 3) field 3");
  EXPECT_EQ(m->merge->loser_at.ToString(), "MRG (segment 4) field 1");
  auto itself =
      Map({Msh("ADT^A40^ADT_A39", "1"), "EVN|A40|20260301101500", kPid, "MRG|M123456^^^RX1PAS^MR"});
  ASSERT_FALSE(itself.ok());
  EXPECT_EQ(itself.error().location.ToString(), "MRG (segment 4) field 1");
  EXPECT_NE(itself.error().reason.find("itself"), std::string::npos);
  auto missing = Map({Msh("ADT^A40^ADT_A39", "1"), "EVN|A40|20260301101500", kPid});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().reason.find("MRG"), std::string::npos);
}

TEST(Hl7v2Mapping, CorrectedResultKeepsItsIdentityAndExactNumbers) {
  auto m =
      Map({Msh("ORU^R01^ORU_R01", "L1"), kPid,
           Seg("OBR", {{1, "1"},
                       {2, "PL1^ICE"},
                       {3, "FL77^RX1LAB"},
                       {4, "UE^Urea and electrolytes^LOCAL"},
                       {7, "20260301080000"},
                       {22, "20260301100000"},
                       {25, "C"}}),
           "OBX|1|NM|22664-7^Potassium^LN||5.10|mmol/L|3.5-5.3|H|||C|||20260301090000||"
           "LABSCI1^LAB^ANNA",
           "NTE|1||Repeat sample advised", "OBX|2|SN|2160-0^Creatinine^LN||<^30|umol/L|45-84|L|||F",
           "OBX|3|ST|X1^Comment^LOCAL||Haemolysed||||||F"});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  const MappedResource* report = Find(*m, "DiagnosticReport");
  EXPECT_EQ(report->identity_value, "FL77");
  EXPECT_EQ(Str(report->resource.at("status")), "corrected");
  EXPECT_EQ(Str(report->resource.at("issued")), "2026-03-01T10:00:00+00:00");
  const MappedResource* potassium = Find(*m, "Observation", 0);
  EXPECT_EQ(potassium->identity_value, "FL77/1");
  EXPECT_EQ(potassium->mode, WriteMode::kUpsert);
  EXPECT_EQ(Str(potassium->resource.at("status")), "corrected");
  EXPECT_EQ(fhir::NumberText(potassium->resource.at("valueQuantity").at("value")), "5.10");
  EXPECT_EQ(Str(potassium->resource.at("valueQuantity").at("code")), "mmol/L");
  EXPECT_EQ(Str(potassium->resource.at("note").as_array()[0].at("text")), "Repeat sample advised");
  EXPECT_EQ(Str(potassium->resource.at("performer").as_array()[0].at("display")), "ANNA LAB");
  const MappedResource* creatinine = Find(*m, "Observation", 1);
  EXPECT_EQ(Str(creatinine->resource.at("valueQuantity").at("comparator")), "<");
  EXPECT_EQ(fhir::NumberText(creatinine->resource.at("valueQuantity").at("value")), "30");
  EXPECT_EQ(Str(Find(*m, "Observation", 2)->resource.at("valueString")), "Haemolysed");
  // The lab's PID makes sure the patient exists but does not rewrite the hospital's demographics.
  EXPECT_EQ(Find(*m, "Patient")->mode, WriteMode::kCreateIfAbsent);
}

TEST(Hl7v2Mapping, ResultValueOfTheWrongTypeNamesTheField) {
  auto m = Map({Msh("ORU^R01^ORU_R01", "L1"), kPid, "OBR|1||FL77|UE^U and E^LOCAL",
                "OBX|1|NM|22664-7^Potassium^LN||high|mmol/L"});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().condition, hl7v2::ErrorCondition::kDataTypeError);
  EXPECT_EQ(m.error().location.segment_id, "OBX");
  EXPECT_EQ(m.error().location.field, 5);
  EXPECT_NE(m.error().reason.find("'high' is not a number"), std::string::npos);
}

TEST(Hl7v2Mapping, MissingPatientIdentifierIsRefused) {
  auto m = Map({Msh("ADT^A01", "1"), "EVN|A01|20260301101500", "PID|1||^^^RX1PAS^MR||DOE^JOHN"});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().condition, hl7v2::ErrorCondition::kRequiredFieldMissing);
  EXPECT_EQ(m.error().location.segment_id, "PID");
  EXPECT_EQ(m.error().location.field, 3);
}

TEST(Hl7v2Mapping, DocumentReplacementAttachmentAndCancellation) {
  auto m =
      Map({Msh("MDM^T10^MDM_T02", "D2"), "EVN|T10|20260301101500", kPid,
           Seg("TXA", {{1, "1"},
                       {2, "DS"},
                       {3, "AP"},
                       {4, "20260301100000"},
                       {12, "DOC-2^RX1EPR"},
                       {13, "DOC-1^RX1EPR"},
                       {17, "AU"}}),
           "OBX|1|ED|PDF^Discharge letter^LOCAL||^application^pdf^Base64^JVBERi0xLjQK||||||F"});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  const MappedResource* doc = Find(*m, "DocumentReference", 0);
  EXPECT_EQ(doc->identity_value, "DOC-2");
  EXPECT_EQ(Str(doc->resource.at("docStatus")), "final");
  const json::object& relates = doc->resource.at("relatesTo").as_array()[0].as_object();
  EXPECT_EQ(Str(relates.at("code")), "replaces");
  EXPECT_EQ(Str(relates.at("target").at("identifier").at("value")), "DOC-1");
  const MappedResource* binary = Find(*m, "Binary");
  ASSERT_NE(binary, nullptr);
  EXPECT_EQ(Str(binary->resource.at("contentType")), "application/pdf");
  EXPECT_EQ(Str(binary->resource.at("data")), "JVBERi0xLjQK");
  EXPECT_EQ(doc->resource.at("content").as_array()[0].at("attachment").at("size").to_number<int>(),
            9);
  const MappedResource* old = Find(*m, "DocumentReference", 1);
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->identity_value, "DOC-1");
  EXPECT_EQ(old->mode, WriteMode::kPatchExisting);
  EXPECT_EQ(Str(old->resource.at("status")), "superseded");

  auto cancel = Map({Msh("MDM^T11^MDM_T01", "D3"), "EVN|T11|20260301111500", kPid,
                     Seg("TXA", {{1, "1"}, {2, "DS"}, {12, "DOC-2^RX1EPR"}, {17, "CA"}})});
  ASSERT_TRUE(cancel.ok()) << cancel.error().ToString();
  ASSERT_EQ(cancel->resources.size(), 1u);
  EXPECT_EQ(cancel->resources[0].mode, WriteMode::kPatchExisting);
  EXPECT_EQ(Str(cancel->resources[0].resource.at("status")), "entered-in-error");

  auto bad =
      Map({Msh("MDM^T02^MDM_T02", "D4"), kPid, Seg("TXA", {{1, "1"}, {2, "DS"}, {12, "DOC-9"}}),
           "OBX|1|ED|PDF^Letter^LOCAL||^application^pdf^Base64^not*base64||||||F"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().location.segment_id, "OBX");
  EXPECT_NE(bad.error().reason.find("not base64"), std::string::npos);
}

TEST(Hl7v2Mapping, EveryResourceCarriesItsProvenance) {
  auto m = Map({Msh("ADT^A01", "MSG 7"), "EVN|A01|20260301101500", kPid, Pv1("I", "20260228093000"),
                "AL1|1|DA|PENICILLIN^Penicillin^LOCAL|SV|Rash",
                "DG1|1||I21.9^Acute MI^I10||20260228|F", "NK1|1|SMITH^JOHN|SPO^Spouse^HL70063"});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_EQ(m->resources.size(), 5u);
  for (const auto& r : m->resources) {
    const json::object& meta = r.resource.at("meta").as_object();
    EXPECT_EQ(Str(meta.at("source")), "urn:carerecord:feed:rx1-pas#MSG%207") << r.type;
    EXPECT_EQ(Str(meta.at("tag").as_array()[0].at("code")), "RX1") << r.type;
    EXPECT_EQ(Str(meta.at("extension").as_array()[0].at("valueDateTime")),
              "2026-03-01T10:15:00+00:00");
    EXPECT_EQ(r.identity_system.rfind("urn:carerecord:source:RX1:", 0), 0u) << r.type;
  }
  const MappedResource* allergy = Find(*m, "AllergyIntolerance");
  EXPECT_EQ(Str(allergy->resource.at("criticality")), "high");
  EXPECT_EQ(allergy->resource.at("category").as_array(), (json::array{"medication"}));
  const MappedResource* condition = Find(*m, "Condition");
  EXPECT_EQ(Str(condition->resource.at("code").at("coding").as_array()[0].at("system")),
            "http://hl7.org/fhir/sid/icd-10");
  EXPECT_EQ(Str(condition->resource.at("verificationStatus").at("coding").as_array()[0].at("code")),
            "confirmed");
}

}  // namespace
}  // namespace carerecord::mapping
