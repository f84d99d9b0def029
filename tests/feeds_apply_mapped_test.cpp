// Mapped HL7 v2 messages written into a real store (an in-process server) by ApplyMappedMessage:
// a resend changes nothing, out-of-order and backlog messages end in the right state, A40 merges
// as the source says, each source keeps its own resources, provenance reaches the store's
// columns, and what was written is found through the FHIR API.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "feeds/apply_mapped.h"
#include "fhir/json_number.h"
#include "hl7v2/message.h"
#include "interactions/fhir_json.h"
#include "mapping/hl7v2_mapping.h"
#include "tests/test_server.h"

namespace carerecord::feeds {
namespace {

namespace json = boost::json;
using testing::TestServer;

std::string Str(const json::value& v) { return std::string(v.as_string()); }

std::string Seg(std::string id, const std::map<int, std::string>& fields) {
  const int last = fields.empty() ? 0 : fields.rbegin()->first;
  for (int n = 1; n <= last; ++n) {
    auto found = fields.find(n);
    id += "|" + (found == fields.end() ? std::string() : found->second);
  }
  return id;
}

std::string Msh(std::string_view type, std::string_view id, std::string_view when) {
  return "MSH|^~\\&|PAS|RX1HOSP|CARERECORD|REGION|" + std::string(when) + "||" + std::string(type) +
         "|" + std::string(id) + "|P|2.5.1";
}

std::string Pid(std::string_view mrn, std::string_view family = "SMITH",
                std::string_view given = "JANE") {
  return "PID|1||" + std::string(mrn) + "^^^RX1PAS^MR~9434765919^^^NHS^NH||" + std::string(family) +
         "^" + std::string(given) + "^^^^^L||19800214|F";
}

std::string Pv1(std::string_view visit, std::string_view ward, std::string_view admitted,
                std::string_view discharged = "") {
  return Seg("PV1", {{1, "1"},
                     {2, "I"},
                     {3, std::string(ward) + "^BAY1^BED1"},
                     {19, std::string(visit) + "^^^RX1PAS^VN"},
                     {44, std::string(admitted)},
                     {45, std::string(discharged)}});
}

std::string Adt(std::string_view trigger, std::string_view id, std::string_view when,
                std::vector<std::string> rest) {
  std::string out = Msh("ADT^" + std::string(trigger), id, when) + "\rEVN|" + std::string(trigger) +
                    "|" + std::string(when) + "\r";
  for (const auto& s : rest) out += s + "\r";
  return out;
}

std::string Oru(std::string_view id, std::string_view when, std::string_view mrn,
                std::string_view status, std::string_view value) {
  return Msh("ORU^R01^ORU_R01", id, when) + "\r" + Pid(mrn) + "\r" +
         Seg("OBR",
             {{1, "1"}, {3, "FL77^RX1LAB"}, {4, "UE^U and E^LOCAL"}, {25, std::string(status)}}) +
         "\r" +
         Seg("OBX", {{1, "1"},
                     {2, "NM"},
                     {3, "22664-7^Potassium^LN"},
                     {5, std::string(value)},
                     {6, "mmol/L"},
                     {11, std::string(status)}}) +
         "\r";
}

class ApplyMappedTest : public ::testing::Test {
 protected:
  // Parses, maps and applies one message as feed `feed` of organisation `ods`.
  ApplyOutcome Apply(const std::string& bytes, std::string feed = "rx1-pas",
                     std::string ods = "RX1") {
    auto message = hl7v2::ParseMessage(std::string_view(bytes));
    EXPECT_TRUE(message.ok()) << (message.ok() ? "" : message.error().ToString());
    if (!message.ok()) return {};
    mapping::FeedContext context{feed, ods, "RX1HOSP", 1'800'000'000'000,
                                 message->header().control_id};
    auto mapped = mapping::MapMessage(message.value(), context);
    EXPECT_TRUE(mapped.ok()) << (mapped.ok() ? "" : mapped.error().ToString());
    if (!mapped.ok()) return {};
    auto applied = ApplyMappedMessage(server_.service(), mapped.value(), context);
    EXPECT_TRUE(applied.ok()) << (applied.ok() ? "" : applied.error().message);
    return applied.ok() ? applied.value() : ApplyOutcome{};
  }

  // The one resource of `type` matching `query` through the HTTP API.
  json::object One(const std::string& type, const std::string& query) {
    auto response = server_.Get("/fhir/" + type + "?" + query);
    EXPECT_EQ(response.status, 200) << response.body;
    // Parsed as the server parses, so numbers stay as written (4.90).
    auto parsed = interactions::ParseJson(response.body);
    EXPECT_TRUE(parsed.ok());
    if (!parsed.ok()) return {};
    auto bundle = parsed->as_object();
    auto* entries = bundle.if_contains("entry");
    EXPECT_TRUE(entries && entries->as_array().size() == 1)
        << type << "?" << query << ": " << response.body;
    if (!entries || entries->as_array().empty()) return {};
    return entries->as_array()[0].at("resource").as_object();
  }

  size_t Versions(const std::string& type, const std::string& id) {
    auto bundle = TestServer::Json(server_.Get("/fhir/" + type + "/" + id + "/_history"));
    auto* entries = bundle.if_contains("entry");
    return entries ? entries->as_array().size() : 0;
  }

  static constexpr char kMrn[] = "identifier=urn:carerecord:source:RX1:mrn:RX1PAS%7C";
  static constexpr char kVisit[] = "identifier=urn:carerecord:source:RX1:visit:RX1PAS%7C";

  TestServer server_;
};

TEST_F(ApplyMappedTest, AdmissionIsWrittenAndAResendChangesNothing) {
  const std::string a01 =
      Adt("A01", "M1", "20260301101500+0000",
          {Pid("M100"), Pv1("V1", "WARD7", "20260301093000"),
           "AL1|1|DA|PEN^Penicillin^LOCAL|SV|Rash", "NK1|1|SMITH^JOHN|SPO^Spouse^HL70063"});
  ApplyOutcome first = Apply(a01);
  EXPECT_EQ(first.written.size(), 4u);
  json::object patient = One("Patient", std::string(kMrn) + "M100");
  json::object encounter = One("Encounter", std::string(kVisit) + "V1");
  EXPECT_EQ(Str(encounter.at("subject").at("reference")), "Patient/" + Str(patient.at("id")));
  EXPECT_EQ(Str(encounter.at("status")), "in-progress");

  ApplyOutcome again = Apply(a01);
  EXPECT_TRUE(again.written.empty());
  EXPECT_EQ(again.unchanged.size(), 4u);
  EXPECT_EQ(Versions("Patient", Str(patient.at("id"))), 1u);
  EXPECT_EQ(Versions("Encounter", Str(encounter.at("id"))), 1u);
}

TEST_F(ApplyMappedTest, UpdateBeforeItsAdmissionEndsInTheUpdatedState) {
  // The A08 (10:30) arrives before the A01 (10:15) it follows.
  Apply(Adt("A08", "M2", "20260301103000+0000",
            {Pid("M100", "SMITH-JONES"), Pv1("V1", "WARD9", "20260301093000")}));
  ApplyOutcome late = Apply(Adt("A01", "M1", "20260301101500+0000",
                                {Pid("M100", "SMITH"), Pv1("V1", "WARD7", "20260301093000")}));
  EXPECT_TRUE(late.written.empty());
  EXPECT_EQ(late.older.size(), 2u);
  json::object patient = One("Patient", std::string(kMrn) + "M100");
  EXPECT_EQ(Str(patient.at("name").as_array()[0].at("family")), "SMITH-JONES");
  json::object encounter = One("Encounter", std::string(kVisit) + "V1");
  EXPECT_EQ(Str(encounter.at("location").as_array()[0].at("location").at("display")),
            "WARD9, BAY1, BED1");
}

TEST_F(ApplyMappedTest, ReplayedDischargeAndBacklogDoNotOverwriteNewerState) {
  Apply(Adt("A01", "M1", "20260301101500+0000", {Pid("M100"), Pv1("V1", "W7", "20260301093000")}));
  const std::string a03 = Adt("A03", "M3", "20260305120000+0000",
                              {Pid("M100"), Pv1("V1", "W7", "20260301093000", "20260305113000")});
  Apply(a03);
  json::object encounter = One("Encounter", std::string(kVisit) + "V1");
  EXPECT_EQ(Str(encounter.at("status")), "finished");
  EXPECT_EQ(Str(encounter.at("period").at("end")), "2026-03-05T11:30:00+00:00");
  // The discharge is cancelled (A13), then the discharge message is replayed.
  Apply(Adt("A13", "M4", "20260305130000+0000",
            {Pid("M100"), Pv1("V1", "W7", "20260301093000", "20260305113000")}));
  ApplyOutcome replay = Apply(a03);
  EXPECT_TRUE(replay.written.empty());
  encounter = One("Encounter", std::string(kVisit) + "V1");
  EXPECT_EQ(Str(encounter.at("status")), "in-progress");
  EXPECT_FALSE(encounter.at("period").as_object().contains("end"));
  EXPECT_EQ(Versions("Encounter", Str(encounter.at("id"))), 3u);
  // A backlog from months before changes nothing.
  ApplyOutcome backlog = Apply(Adt("A08", "OLD1", "20251101090000+0000",
                                   {Pid("M100", "OLDNAME"), Pv1("V1", "W1", "20251101080000")}));
  EXPECT_TRUE(backlog.written.empty());
  EXPECT_EQ(backlog.older.size(), 2u);
  EXPECT_EQ(Str(One("Patient", std::string(kMrn) + "M100").at("name").as_array()[0].at("family")),
            "SMITH");
}

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

TEST_F(ApplyMappedTest, CorrectionSupersedesTheOriginalInEitherOrder) {
  const std::string kObservation =
      "identifier=urn:carerecord:source:RX1:filler-order:RX1LAB%7CFL77/1";
  Apply(Oru("L1", "20260301100000+0000", "M100", "F", "5.1"));
  Apply(Oru("L2", "20260301110000+0000", "M100", "C", "4.90"));
  json::object observation = One("Observation", kObservation);
  EXPECT_EQ(Str(observation.at("status")), "corrected");
  EXPECT_EQ(fhir::NumberText(observation.at("valueQuantity").at("value")), "4.90");
  EXPECT_EQ(Versions("Observation", Str(observation.at("id"))), 2u);  // history keeps the first

  // The other order, for another patient's report: the original, late, changes nothing.
  const std::string kOther = "identifier=urn:carerecord:source:RX2:filler-order:RX1LAB%7CFL77/1";
  Apply(Oru("L2", "20260301110000+0000", "M200", "C", "4.90"), "rx2-lab", "RX2");
  ApplyOutcome late = Apply(Oru("L1", "20260301100000+0000", "M200", "F", "5.1"), "rx2-lab", "RX2");
  EXPECT_TRUE(late.written.empty());
  observation = One("Observation", kOther);
  EXPECT_EQ(Str(observation.at("status")), "corrected");
  EXPECT_EQ(Versions("Observation", Str(observation.at("id"))), 1u);
}

TEST_F(ApplyMappedTest, LabPidCreatesThePatientButDoesNotRewriteDemographics) {
  Apply(Adt("A28", "M1", "20260301101500+0000", {Pid("M100", "SMITH", "JANE")}));
  ApplyOutcome lab = Apply(Oru("L1", "20260302100000+0000", "M100", "F", "5.1"));
  EXPECT_EQ(lab.written.size(), 2u);  // the report and its observation
  json::object patient = One("Patient", std::string(kMrn) + "M100");
  json::object observation =
      One("Observation", "identifier=urn:carerecord:source:RX1:filler-order:RX1LAB%7CFL77/1");
  EXPECT_EQ(Str(observation.at("subject").at("reference")), "Patient/" + Str(patient.at("id")));
  EXPECT_EQ(Versions("Patient", Str(patient.at("id"))), 1u);
}

TEST_F(ApplyMappedTest, RegistrationAfterTheLabsPatientStillStatesTheDemographics) {
  // The lab's result (12:00) reaches the record before the registration (A04, 09:00) it follows.
  Apply(Oru("L1", "20260302120000+0000", "M100", "F", "5.1"));
  ApplyOutcome registration =
      Apply(Adt("A04", "M1", "20260302090000+0000", {Pid("M100", "SMITH", "JOANNA")}));
  EXPECT_TRUE(registration.older.empty());
  json::object patient = One("Patient", std::string(kMrn) + "M100");
  EXPECT_EQ(patient.at("name").as_array()[0].at("given").as_array(), (json::array{"JOANNA"}));
}

TEST_F(ApplyMappedTest, EachSourceKeepsItsOwnPatient) {
  Apply(Adt("A28", "M1", "20260301101500+0000", {Pid("M100", "SMITH")}));
  Apply(Adt("A28", "M1", "20260302101500+0000", {Pid("M100", "OTHER")}), "rx2-pas", "RX2");
  json::object ours = One("Patient", std::string(kMrn) + "M100");
  EXPECT_EQ(Str(ours.at("name").as_array()[0].at("family")), "SMITH");
  json::object theirs = One("Patient", "identifier=urn:carerecord:source:RX2:mrn:RX1PAS%7CM100");
  EXPECT_EQ(Str(theirs.at("name").as_array()[0].at("family")), "OTHER");
  EXPECT_NE(Str(ours.at("id")), Str(theirs.at("id")));
  // Both carry the NHS number: the MPI links them; neither absorbs the other.
  EXPECT_EQ(testing::Ids(server_,
                         "/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C9434765919")
                .size(),
            2u);
  EXPECT_EQ(
      testing::Ids(server_, "/fhir/Patient?_tag=https://fhir.nhs.uk/Id/ods-organization-code%7CRX2")
          .size(),
      1u);
}

TEST_F(ApplyMappedTest, MergeMovesTheLosersRecordAndKeepsHistory) {
  Apply(Adt("A01", "M1", "20260301101500+0000",
            {Pid("M999", "SMYTH"), Pv1("V1", "W7", "20260301093000")}));
  Apply(Oru("L1", "20260301120000+0000", "M999", "F", "5.1"));
  Apply(Adt("A28", "M2", "20260302101500+0000", {Pid("M100", "SMITH")}));
  const std::string a40 =
      Adt("A40", "M3", "20260303101500+0000", {Pid("M100", "SMITH"), "MRG|M999^^^RX1PAS^MR"});
  ApplyOutcome merged = Apply(a40);
  EXPECT_FALSE(merged.written.empty());
  json::object survivor = One("Patient", std::string(kMrn) + "M100");
  json::object loser = One("Patient", std::string(kMrn) + "M999");
  const std::string survivor_ref = "Patient/" + Str(survivor.at("id"));
  const std::string loser_ref = "Patient/" + Str(loser.at("id"));
  EXPECT_FALSE(loser.at("active").as_bool());
  EXPECT_EQ(Str(loser.at("link").as_array()[0].at("type")), "replaced-by");
  EXPECT_EQ(Str(loser.at("link").as_array()[0].at("other").at("reference")), survivor_ref);
  EXPECT_EQ(Str(survivor.at("link").as_array()[0].at("type")), "replaces");
  EXPECT_EQ(Str(survivor.at("link").as_array()[0].at("other").at("reference")), loser_ref);
  json::object encounter = One("Encounter", std::string(kVisit) + "V1");
  EXPECT_EQ(Str(encounter.at("subject").at("reference")), survivor_ref);
  EXPECT_EQ(Versions("Encounter", Str(encounter.at("id"))), 2u);  // the loser's version kept
  // The survivor's $everything now holds the moved record; the loser's holds only itself.
  std::vector<std::string> types;
  auto everything = TestServer::Json(server_.Get("/fhir/" + survivor_ref + "/$everything"));
  for (const auto& e : everything.at("entry").as_array()) {
    types.push_back(Str(e.at("resource").at("resourceType")));
  }
  std::sort(types.begin(), types.end());
  EXPECT_EQ(types,
            (std::vector<std::string>{"DiagnosticReport", "Encounter", "Observation", "Patient"}));
  // Resent, the merge changes nothing.
  ApplyOutcome again = Apply(a40);
  EXPECT_TRUE(again.written.empty()) << again.written[0];
  EXPECT_EQ(Versions("Encounter", Str(encounter.at("id"))), 2u);
}

TEST_F(ApplyMappedTest, DocumentWithAttachmentReplacementAndCancellation) {
  auto mdm = [](std::string trigger, std::string id, std::string when, std::string number,
                std::string parent, std::string data) {
    return Msh("MDM^" + trigger + "^MDM_T02", id, when) + "\r" + Pid("M100") + "\r" +
           Seg("TXA", {{1, "1"}, {2, "DS"}, {12, number + "^RX1EPR"}, {13, parent}, {17, "AU"}}) +
           "\r" +
           Seg("OBX", {{1, "1"},
                       {2, "ED"},
                       {3, "PDF^Letter^LOCAL"},
                       {5, "^application^pdf^Base64^" + data},
                       {11, "F"}}) +
           "\r";
  };
  Apply(mdm("T02", "D1", "20260301100000+0000", "DOC-1", "", "JVBERi0xLjQK"));
  const std::string kDoc = "identifier=urn:carerecord:source:RX1:document:RX1EPR%7C";
  json::object first = One("DocumentReference", kDoc + "DOC-1");
  const std::string url = Str(first.at("content").as_array()[0].at("attachment").at("url"));
  auto binary = TestServer::Json(server_.Get("/fhir/" + url));
  EXPECT_EQ(Str(binary.at("data")), "JVBERi0xLjQK");
  EXPECT_EQ(Str(binary.at("securityContext").at("reference")),
            "DocumentReference/" + Str(first.at("id")));
  // T10 replaces DOC-1 with DOC-2.
  Apply(mdm("T10", "D2", "20260302100000+0000", "DOC-2", "DOC-1^RX1EPR", "JVBERi0xLjUK"));
  EXPECT_EQ(Str(One("DocumentReference", kDoc + "DOC-1").at("status")), "superseded");
  json::object second = One("DocumentReference", kDoc + "DOC-2");
  EXPECT_EQ(Str(second.at("status")), "current");
  EXPECT_EQ(Str(second.at("relatesTo").as_array()[0].at("code")), "replaces");
  // T11 cancels DOC-2; cancelling a document this record never held changes nothing.
  const std::string t11 = Msh("MDM^T11^MDM_T01", "D3", "20260303100000+0000") + "\r" + Pid("M100") +
                          "\r" + Seg("TXA", {{1, "1"}, {2, "DS"}, {12, "DOC-2^RX1EPR"}}) + "\r";
  Apply(t11);
  EXPECT_EQ(Str(One("DocumentReference", kDoc + "DOC-2").at("status")), "entered-in-error");
  const std::string unknown = Msh("MDM^T11^MDM_T01", "D4", "20260303100000+0000") + "\r" +
                              Pid("M100") + "\r" + Seg("TXA", {{1, "1"}, {12, "DOC-404^RX1EPR"}}) +
                              "\r";
  ApplyOutcome none = Apply(unknown);
  EXPECT_TRUE(none.written.empty());
  ASSERT_EQ(none.notes.size(), 1u);
  EXPECT_NE(none.notes[0].find("DOC-404"), std::string::npos);
}

TEST_F(ApplyMappedTest, StoreProvenanceIsTheFeedAndTheMessageId) {
  Apply(Adt("A28", "CTRL-42", "20260301101500+0000", {Pid("M100")}));
  json::object patient = One("Patient", std::string(kMrn) + "M100");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((server_.data_dir() / "carerecord.db").c_str(), &db,
                            SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT f.name, v.message_id, v.received FROM version v "
                               "JOIN resource r ON r.pk = v.pk JOIN feed_source f ON "
                               "f.id = v.source_id WHERE r.id = ?",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  const std::string id = Str(patient.at("id"));
  sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "rx1-pas");
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)), "CTRL-42");
  EXPECT_EQ(sqlite3_column_int64(stmt, 2), 1'800'000'000'000);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(Str(patient.at("meta").at("source")), "urn:carerecord:feed:rx1-pas#CTRL-42");
}

TEST_F(ApplyMappedTest, MapAndApplyRefusesWithTheMappingsReasonAndWritesNothing) {
  const std::string unmapped =
      Msh("SIU^S12^SIU_S12", "S1", "20260301101500+0000") + "\r" + Pid("M100") + "\r";
  auto message = hl7v2::ParseMessage(std::string_view(unmapped));
  ASSERT_TRUE(message.ok());
  mapping::FeedContext context{"rx1-pas", "RX1", "RX1HOSP", 1, "S1"};
  ProcessedMessage refused = MapAndApply(server_.service(), message.value(), context);
  ASSERT_TRUE(refused.refused.has_value());
  EXPECT_EQ(refused.refused->condition, hl7v2::ErrorCondition::kUnsupportedMessageType);
  EXPECT_FALSE(refused.failed.has_value());
  EXPECT_TRUE(testing::Ids(server_, "/fhir/Patient").empty());

  const std::string a28 = Adt("A28", "A1", "20260301101500+0000",
                              {"PID|1||M100^^^RX1PAS^MR~9434765918^^^NHS^NH||DOE^JO"});
  auto good = hl7v2::ParseMessage(std::string_view(a28));
  ASSERT_TRUE(good.ok());
  ProcessedMessage done = MapAndApply(server_.service(), good.value(), context);
  EXPECT_FALSE(done.refused.has_value());
  EXPECT_FALSE(done.failed.has_value());
  EXPECT_EQ(done.outcome.written.size(), 1u);
  ASSERT_EQ(done.warnings.size(), 1u);  // the NHS number that fails its check
}

TEST_F(ApplyMappedTest, EveryMappableSampleIsWrittenAndResentWithoutChange) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(CARERECORD_SOURCE_DIR) / ".." / "shared" / "data" / "hl7v2";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no HL7 v2 samples at " << dir;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".hl7") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  size_t applied = 0, written = 0;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const std::string bytes = text.str();
    auto message = hl7v2::ParseMessage(std::string_view(bytes));
    ASSERT_TRUE(message.ok()) << file;
    // Each sample as its own organisation: several reuse one control id and patient number.
    const std::string ods = "S" + std::to_string(applied + 1);
    mapping::FeedContext context{"samples", ods, "", 1'800'000'000'000,
                                 message->header().control_id};
    auto mapped = mapping::MapMessage(message.value(), context);
    if (!mapped.ok()) continue;
    ++applied;
    auto first = ApplyMappedMessage(server_.service(), mapped.value(), context);
    if (mapped->merge && !first.ok()) {
      // Each sample is its own source here, so an A40's MRG-1 names a patient that source
      // never sent: refused, nothing written (tests/feeds_merge_test.cpp merges known ones).
      EXPECT_NE(first.error().message.find("names no patient"), std::string::npos)
          << file.filename() << ": " << first.error().message;
      continue;
    }
    ASSERT_TRUE(first.ok()) << file.filename() << ": " << first.error().message;
    written += first->written.size();
    auto again = ApplyMappedMessage(server_.service(), mapped.value(), context);
    ASSERT_TRUE(again.ok()) << file.filename() << ": " << again.error().message;
    EXPECT_TRUE(again->written.empty()) << file.filename() << ": " << again->written[0];
  }
  std::printf("HL7 v2 samples applied: %zu messages, %zu resources written\n", applied, written);
  EXPECT_GT(applied, 40u);
}

}  // namespace
}  // namespace carerecord::feeds
