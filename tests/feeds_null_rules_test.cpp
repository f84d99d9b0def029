// HL7 v2's null rules on ADT updates written into a real store (issue 18, hostile rounds 8-10):
// a field not sent leaves what the record holds, "" deletes it, a field changes only the parts of
// a composed array it could have sent, and deleting a date of death keeps the death.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <string>

#include "tests/apply_mapped_test_support.h"

namespace carerecord::feeds {
namespace {

using namespace apply_testing;  // NOLINT: the message builders and fixture

// HL7 v2's null rules on updates (chapter 2): a field not sent leaves what the record holds, a
// field holding "" deletes it (issue 18, the outside tester's finding).
TEST_F(ApplyMappedTest, SparseUpdatesKeepWhatTheyLeaveOutAndNullsDelete) {
  const std::string full_pid =
      "PID|1||M100^^^RX1PAS^MR~9434765919^^^NHS^NH||SMITH^JANE^^^MRS^^L||19800214|F|||"
      "1 HIGH STREET^^LEEDS^^LS1 4AP^GBR^H||0113 496 0000^PRN^PH~^NET^Internet^jane@example.org|"
      "0113 496 1111^WPN^PH||M";
  const std::string pd1 = "PD1|||LEEDS MEDICAL PRACTICE^^B86001|G1234567^WELBY^MARCUS^^^DR";
  const std::string full_pv1 = Seg("PV1", {{1, "1"},
                                           {2, "I"},
                                           {3, "WARD7^BAY1^BED1"},
                                           {7, "C123^HOUSE^GREGORY^^^DR"},
                                           {10, "MED"},
                                           {14, "7"},
                                           {19, "V1^^^RX1PAS^VN"},
                                           {44, "20260301093000"}});
  Apply(Adt("A01", "N1", "20260301101500+0000", {full_pid, pd1, full_pv1}));
  const json::object admitted = One("Patient", std::string(kMrn) + "M100");
  const std::string patient_id = Str(admitted.at("id"));
  EXPECT_EQ(Str(admitted.at("maritalStatus").at("coding").as_array()[0].at("code")), "M");

  // The discharge states PID-3 and PID-5 of the patient, PV1-19 and PV1-45 of the visit.
  const std::string a03 =
      Adt("A03", "N2", "20260305120000+0000",
          {"PID|1||M100^^^RX1PAS^MR||SMITH^JANE^^^MRS^^L",
           Seg("PV1", {{1, "1"}, {2, "I"}, {19, "V1^^^RX1PAS^VN"}, {45, "20260305113000"}})});
  EXPECT_EQ(Apply(a03).written.size(), 2u);
  json::object patient = One("Patient", std::string(kMrn) + "M100");
  EXPECT_EQ(patient.at("address"), admitted.at("address"));
  EXPECT_EQ(patient.at("telecom"), admitted.at("telecom"));
  EXPECT_EQ(patient.at("telecom").as_array().size(), 3u);
  EXPECT_EQ(Str(patient.at("birthDate")), "1980-02-14");
  EXPECT_EQ(Str(patient.at("gender")), "female");
  EXPECT_EQ(patient.at("generalPractitioner"), admitted.at("generalPractitioner"));
  EXPECT_EQ(patient.at("generalPractitioner").as_array().size(), 2u);
  EXPECT_EQ(patient.at("maritalStatus"), admitted.at("maritalStatus"));
  EXPECT_EQ(patient.at("identifier"), admitted.at("identifier"));  // the NHS number stays
  EXPECT_EQ(Str(patient.at("meta").at("source")), "urn:carerecord:feed:rx1-pas#N2");
  json::object encounter = One("Encounter", std::string(kVisit) + "V1");
  EXPECT_EQ(Str(encounter.at("status")), "finished");
  EXPECT_EQ(Str(encounter.at("period").at("start")), "2026-03-01T09:30:00+00:00");
  EXPECT_EQ(Str(encounter.at("period").at("end")), "2026-03-05T11:30:00+00:00");
  EXPECT_EQ(Str(encounter.at("participant").as_array()[0].at("individual").at("display")),
            "DR GREGORY HOUSE");
  EXPECT_EQ(Str(encounter.at("location").as_array()[0].at("location").at("display")),
            "WARD7, BAY1, BED1");
  EXPECT_TRUE(encounter.at("hospitalization").as_object().contains("admitSource"));
  EXPECT_EQ(Str(encounter.at("serviceType").at("coding").as_array()[0].at("code")), "MED");

  // Resent: nothing written.
  ApplyOutcome resend = Apply(a03);
  EXPECT_TRUE(resend.written.empty());
  EXPECT_EQ(resend.unchanged.size(), 2u);
  EXPECT_EQ(Versions("Patient", patient_id), 2u);

  // An A08 that nulls the address (PID-11) and the home numbers (PID-13): both go, the work
  // number (PID-14, not sent) stays; "" is never stored as a value.
  Apply(Adt("A08", "N3", "20260306090000+0000",
            {Seg("PID", {{1, "1"},
                         {3, "M100^^^RX1PAS^MR"},
                         {5, "SMITH^JANE^^^MRS^^L"},
                         {11, "\"\""},
                         {13, "\"\""}})}));
  patient = One("Patient", std::string(kMrn) + "M100");
  EXPECT_FALSE(patient.contains("address"));
  ASSERT_EQ(patient.at("telecom").as_array().size(), 1u);
  EXPECT_EQ(Str(patient.at("telecom").as_array()[0].at("value")), "0113 496 1111");
  EXPECT_EQ(Str(patient.at("telecom").as_array()[0].at("use")), "work");
  EXPECT_EQ(Str(patient.at("birthDate")), "1980-02-14");
  EXPECT_EQ(json::serialize(patient).find("\"\\\"\\\"\""), std::string::npos);

  // An older sparse message arriving late (an A08 of 4 March nulling the birth date) changes
  // nothing: the record's state is newer.
  ApplyOutcome late = Apply(Adt(
      "A08", "N0", "20260304090000+0000",
      {Seg("PID", {{1, "1"}, {3, "M100^^^RX1PAS^MR"}, {5, "SMITH^JANE^^^MRS^^L"}, {7, "\"\""}})}));
  EXPECT_TRUE(late.written.empty());
  EXPECT_EQ(late.older.size(), 1u);
  EXPECT_EQ(Str(One("Patient", std::string(kMrn) + "M100").at("birthDate")), "1980-02-14");
}

// Hostile round 8, M2: PID-13 deleted a phone a clinician had added with a use no field gives.
TEST_F(ApplyMappedTest, AFieldReplacesOnlyTheTelecomsItCouldHaveSent) {
  Apply(Adt("A01", "T1", "20260301101500+0000",
            {Seg("PID", {{1, "1"},
                         {3, "M300^^^RX1PAS^MR"},
                         {5, "SMITH^JANE"},
                         {13, "0113 496 0000^PRN^PH"},
                         {14, "0113 496 1111^WPN^PH"}}),
             "NK1|1|SMITH^JOHN|SPO|||0113 496 2222^WPN^PH"}));
  json::object patient = One("Patient", std::string(kMrn) + "M300");
  json::object kin = One("RelatedPerson", "patient=" + Str(patient.at("id")));
  auto add_temp = [this](json::object resource, std::string_view type) {
    resource["telecom"].as_array().emplace_back(
        json::object{{"system", "phone"}, {"value", "0999"}, {"use", "temp"}});
    // And an identifier of the user's own system: PID-3 states the source's identifiers only.
    if (type == "Patient") {
      resource["identifier"].as_array().emplace_back(
          json::object{{"system", "https://community.example.org/id"}, {"value", "C1"}});
    }
    resource.erase("meta");
    auto put = server_.Send("PUT", "/fhir/" + std::string(type) + "/" + Str(resource.at("id")),
                            json::serialize(resource));
    EXPECT_EQ(put.status, 200) << put.body;
  };
  add_temp(patient, "Patient");
  add_temp(kin, "RelatedPerson");
  // PID-13 and NK1-5 state new home numbers, PID-14 is "": the temp phones stay.
  Apply(Adt("A08", "T2", "20260302101500+0000",
            {Seg("PID", {{1, "1"},
                         {3, "M300^^^RX1PAS^MR"},
                         {5, "SMITH^JANE"},
                         {13, "0113 496 3333^PRN^PH"},
                         {14, "\"\""}}),
             "NK1|1|SMITH^JOHN|SPO||0113 496 4444^PRN^PH"}));
  patient = One("Patient", std::string(kMrn) + "M300");
  EXPECT_EQ(patient.at("identifier").as_array().size(), 2u) << json::serialize(patient);
  EXPECT_EQ(patient.at("identifier").as_array()[1].at("value"), "C1") << json::serialize(patient);
  EXPECT_EQ(patient.at("telecom"), json::parse(R"([
    {"system": "phone", "value": "0113 496 3333", "use": "home"},
    {"system": "phone", "value": "0999", "use": "temp"}])"))
      << json::serialize(patient.at("telecom"));
  kin = One("RelatedPerson", "patient=" + Str(patient.at("id")));
  EXPECT_EQ(kin.at("telecom"), json::parse(R"([
    {"system": "phone", "value": "0113 496 4444", "use": "home"},
    {"system": "phone", "value": "0113 496 2222", "use": "work"},
    {"system": "phone", "value": "0999", "use": "temp"}])"))
      << json::serialize(kin.at("telecom"));
}

// Hostile round 8, H2: "" in PID-29 deleted the date of death and the death with it.
TEST_F(ApplyMappedTest, DeletingTheDateOfDeathKeepsTheDeath) {
  auto pid = [](std::string_view mrn, std::string_view died, std::string_view indicator) {
    std::map<int, std::string> fields{
        {1, "1"}, {3, std::string(mrn) + "^^^RX1PAS^MR"}, {5, "SMITH^JANE"}};
    if (!died.empty()) fields[29] = std::string(died);
    if (!indicator.empty()) fields[30] = std::string(indicator);
    return Seg("PID", fields);
  };
  const std::string q = "\"\"";
  // Y, then a date, then the date deleted: deceased, with no date.
  Apply(Adt("A01", "D1", "20260301101500+0000", {pid("M200", "", "Y")}));
  EXPECT_TRUE(One("Patient", std::string(kMrn) + "M200").at("deceasedBoolean").as_bool());
  Apply(Adt("A08", "D2", "20260302101500+0000", {pid("M200", "20251201", "")}));
  json::object patient = One("Patient", std::string(kMrn) + "M200");
  EXPECT_EQ(Str(patient.at("deceasedDateTime")), "2025-12-01");
  EXPECT_FALSE(patient.contains("deceasedBoolean"));
  Apply(Adt("A08", "D3", "20260303101500+0000", {pid("M200", q, "")}));
  patient = One("Patient", std::string(kMrn) + "M200");
  EXPECT_FALSE(patient.contains("deceasedDateTime"));
  ASSERT_TRUE(patient.contains("deceasedBoolean")) << json::serialize(patient);
  EXPECT_TRUE(patient.at("deceasedBoolean").as_bool());
  // Only N states the patient alive.
  Apply(Adt("A08", "D4", "20260304101500+0000", {pid("M200", "", "N")}));
  EXPECT_FALSE(One("Patient", std::string(kMrn) + "M200").at("deceasedBoolean").as_bool());

  // A date and Y together, then the date deleted: still deceased.
  Apply(Adt("A01", "D5", "20260301101500+0000", {pid("M201", "20251201", "Y")}));
  Apply(Adt("A08", "D6", "20260302101500+0000", {pid("M201", q, "")}));
  patient = One("Patient", std::string(kMrn) + "M201");
  EXPECT_FALSE(patient.contains("deceasedDateTime"));
  ASSERT_TRUE(patient.contains("deceasedBoolean")) << json::serialize(patient);
  EXPECT_TRUE(patient.at("deceasedBoolean").as_bool());
}

TEST_F(ApplyMappedTest, VisitUpdatesStateTheirFieldsAndLeaveTheRest) {
  Apply(Adt("A01", "V1", "20260301101500+0000",
            {Pid("M100"), Seg("PV1", {{2, "I"},
                                      {3, "WARD7"},
                                      {7, "C1^HOUSE^GREGORY"},
                                      {8, "R1^WELBY^MARCUS"},
                                      {19, "V1^^^RX1PAS^VN"},
                                      {44, "20260301093000"}})}));
  // An A08 naming another attending doctor and nulling the referrer (PV1-8), saying nothing of
  // the times: the status stays in progress and the admission time stays.
  Apply(
      Adt("A08", "V2", "20260302101500+0000",
          {"PID|1||M100^^^RX1PAS^MR",
           Seg("PV1", {{2, "I"}, {7, "C2^GREY^MEREDITH"}, {8, "\"\""}, {19, "V1^^^RX1PAS^VN"}})}));
  json::object encounter = One("Encounter", std::string(kVisit) + "V1");
  EXPECT_EQ(Str(encounter.at("status")), "in-progress");
  EXPECT_EQ(Str(encounter.at("period").at("start")), "2026-03-01T09:30:00+00:00");
  ASSERT_EQ(encounter.at("participant").as_array().size(), 1u);
  EXPECT_EQ(Str(encounter.at("participant").as_array()[0].at("individual").at("display")),
            "MEREDITH GREY");
  EXPECT_EQ(Str(encounter.at("location").as_array()[0].at("location").at("display")), "WARD7");
  // PV1-44 "" deletes the admission time; the period holds nothing else, so it goes.
  Apply(Adt(
      "A08", "V3", "20260302111500+0000",
      {"PID|1||M100^^^RX1PAS^MR", Seg("PV1", {{2, "I"}, {19, "V1^^^RX1PAS^VN"}, {44, "\"\""}})}));
  encounter = One("Encounter", std::string(kVisit) + "V1");
  EXPECT_FALSE(encounter.contains("period"));
  EXPECT_EQ(Str(encounter.at("status")), "in-progress");
}

}  // namespace
}  // namespace carerecord::feeds
