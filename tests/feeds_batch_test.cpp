// MappingProcessor::ProcessBatch: a batch of inbox messages applied together (several chains at
// once, sharing group commits) ends as applying them one at a time would: a bad message fails
// alone, two messages about one patient apply in event-time order, a merge is applied in its
// place, and a resend of the batch writes nothing.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "feeds/mapping_processor.h"
#include "interactions/fhir_json.h"
#include "tests/test_server.h"

namespace carerecord::feeds {
namespace {

namespace json = boost::json;
using testing::TestServer;

std::string Str(const json::value& v) { return std::string(v.as_string()); }

std::string Msh(std::string_view type, std::string_view id, std::string_view when) {
  return "MSH|^~\\&|PAS|RX1HOSP|CARERECORD|REGION|" + std::string(when) + "||" + std::string(type) +
         "|" + std::string(id) + "|P|2.5.1";
}

std::string Pid(std::string_view mrn, std::string_view family = "SMITH") {
  return "PID|1||" + std::string(mrn) + "^^^RX1PAS^MR||" + std::string(family) +
         "^JANE^^^^^L||19800214|F";
}

std::string Pv1(std::string_view visit, std::string_view ward) {
  return "PV1|1|I|" + std::string(ward) + "^BAY1^BED1||||||||||||||||" + std::string(visit) +
         "^^^RX1PAS^VN|||||||||||||||||||||||||20260301093000";
}

std::string Adt(std::string_view trigger, std::string_view id, std::string_view when,
                std::vector<std::string> rest) {
  std::string out = Msh("ADT^" + std::string(trigger), id, when) + "\rEVN|" + std::string(trigger) +
                    "|" + std::string(when) + "\r";
  for (const auto& s : rest) out += s + "\r";
  return out;
}

std::string Oru(std::string_view id, std::string_view when, std::string_view mrn,
                std::string_view filler, std::string_view value_type, std::string_view value) {
  return Msh("ORU^R01^ORU_R01", id, when) + "\r" + Pid(mrn) + "\rOBR|1||" + std::string(filler) +
         "^RX1LAB|UE^U and E^LOCAL|||" + std::string(when).substr(0, 14) +
         "|||||||||||||||||F\rOBX|1|" + std::string(value_type) + "|22664-7^Potassium^LN||" +
         std::string(value) + "|mmol/L||||||F\r";
}

class FeedsBatchTest : public ::testing::Test {
 protected:
  InboxMessage Inbox(const std::string& control_id, std::string raw) {
    InboxMessage m;
    m.id = ++next_id_;
    m.feed_name = "rx1-pas";
    m.ods_code = "RX1";
    m.sending_application = "PAS";
    m.sending_facility = "RX1HOSP";
    m.control_id = control_id;
    m.message_type = "ADT";
    m.received_ms = 1'800'000'000'000;
    m.raw = std::move(raw);
    return m;
  }

  std::vector<base::Status> Process(const std::vector<InboxMessage>& batch, int parallel = 8) {
    MappingProcessorOptions options;
    options.parallel = parallel;
    MappingProcessor processor(server_.service(), options);
    return processor.ProcessBatch(batch);
  }

  json::array Matches(const std::string& type, const std::string& query) {
    auto response = server_.Get("/fhir/" + type + "?" + query);
    EXPECT_EQ(response.status, 200) << response.body;
    auto bundle = TestServer::Json(response);
    auto* entries = bundle.if_contains("entry");
    return entries ? entries->as_array() : json::array();
  }

  json::object One(const std::string& type, const std::string& query) {
    json::array found = Matches(type, query);
    EXPECT_EQ(found.size(), 1u) << type << "?" << query;
    return found.empty() ? json::object() : found[0].at("resource").as_object();
  }

  std::vector<std::string> FamilyHistory(const std::string& patient_id) {
    auto bundle = TestServer::Json(server_.Get("/fhir/Patient/" + patient_id + "/_history"));
    std::vector<std::string> families;  // newest first, as history pages
    for (const auto& e : bundle.at("entry").as_array()) {
      families.push_back(Str(e.at("resource").at("name").as_array()[0].at("family")));
    }
    return families;
  }

  // How many versions the store holds in all (system history's total).
  int64_t AllVersions() {
    auto bundle = TestServer::Json(server_.Get("/fhir/_history?_count=1"));
    return bundle.at("total").as_int64();
  }

  static std::string Mrn(const std::string& mrn) {
    return "identifier=urn:carerecord:source:RX1:mrn:RX1PAS%7C" + mrn;
  }

  int64_t next_id_ = 0;
  TestServer server_;
};

TEST_F(FeedsBatchTest, ABadMessageDoesNotFailItsNeighbours) {
  // Two Patients already hold MRN M300's identity (written by another path): the record cannot
  // tell which the feed means, so a message about M300 fails in the record.
  const std::string duplicate =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:carerecord:source:RX1:mrn:RX1PAS","value":"M300"}]})";
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(server_.CreateAsServer("Patient", duplicate).status, 201);
  }
  std::vector<InboxMessage> batch{
      Inbox("B1", Adt("A01", "B1", "20260301101500+0000", {Pid("M100"), Pv1("V1", "W1")})),
      Inbox("B2", "this is not HL7"),                                           // unreadable
      Inbox("B3", Oru("B3", "20260301110000+0000", "M200", "FL1", "XX", "5")),  // unmappable
      Inbox("B4", Adt("A08", "B4", "20260301101500+0000", {Pid("M300")})),      // record fails
      Inbox("B5", Adt("A01", "B5", "20260301101600+0000", {Pid("M400"), Pv1("V4", "W4")})),
  };
  std::vector<base::Status> outcomes = Process(batch);
  ASSERT_EQ(outcomes.size(), 5u);
  EXPECT_TRUE(outcomes[0].ok()) << outcomes[0].error().message;
  EXPECT_FALSE(outcomes[1].ok());
  ASSERT_FALSE(outcomes[2].ok());
  EXPECT_NE(outcomes[2].error().message.find("OBX value type 'XX'"), std::string::npos)
      << outcomes[2].error().message;
  ASSERT_FALSE(outcomes[3].ok());
  EXPECT_NE(outcomes[3].error().message.find("two Patient resources"), std::string::npos)
      << outcomes[3].error().message;
  EXPECT_TRUE(outcomes[4].ok()) << outcomes[4].error().message;
  EXPECT_EQ(Str(One("Patient", Mrn("M100")).at("name").as_array()[0].at("family")), "SMITH");
  One("Patient", Mrn("M400"));
  One("Encounter", "identifier=urn:carerecord:source:RX1:visit:RX1PAS%7CV4");
  EXPECT_TRUE(Matches("Patient", Mrn("M200")).empty());  // nothing of the unmappable one
}

TEST_F(FeedsBatchTest, TwoMessagesForOnePatientApplyInEventTimeOrder) {
  // The update (10:30) is ahead of its admission (10:15) in the inbox, both in one batch, among
  // other patients' messages.
  std::vector<InboxMessage> batch;
  batch.push_back(Inbox(
      "U1", Adt("A08", "U1", "20260301103000+0000", {Pid("M100", "NEWER"), Pv1("V1", "W9")})));
  for (int i = 0; i < 6; ++i) {
    const std::string n = std::to_string(i);
    batch.push_back(Inbox("O" + n, Adt("A01", "O" + n, "20260301100000+0000",
                                       {Pid("X" + n, "OTHER"), Pv1("VX" + n, "W1")})));
  }
  batch.push_back(Inbox(
      "A1", Adt("A01", "A1", "20260301101500+0000", {Pid("M100", "OLDER"), Pv1("V1", "W7")})));
  for (const base::Status& s : Process(batch)) EXPECT_TRUE(s.ok()) << s.error().message;
  json::object patient = One("Patient", Mrn("M100"));
  EXPECT_EQ(Str(patient.at("name").as_array()[0].at("family")), "NEWER");
  // Applied in event-time order: the admission first, then the update, both in history. (In the
  // inbox's order the admission would have been older than the record and left out.)
  EXPECT_EQ(FamilyHistory(Str(patient.at("id"))), (std::vector<std::string>{"NEWER", "OLDER"}));
  json::object encounter =
      One("Encounter", "identifier=urn:carerecord:source:RX1:visit:RX1PAS%7CV1");
  EXPECT_EQ(Str(encounter.at("location").as_array()[0].at("location").at("display")),
            "W9, BAY1, BED1");
  EXPECT_EQ(Matches("Patient", "family=OTHER").size(), 6u);
}

TEST_F(FeedsBatchTest, AMergeIsAppliedInItsPlaceAndAResendOfTheBatchChangesNothing) {
  std::vector<InboxMessage> batch{
      Inbox("M1", Adt("A01", "M1", "20260301101500+0000", {Pid("M999", "SMYTH"), Pv1("V1", "W7")})),
      Inbox("M2", Adt("A28", "M2", "20260302101500+0000", {Pid("M100", "SMITH")})),
      Inbox("M3", Adt("A40", "M3", "20260303101500+0000",
                      {Pid("M100", "SMITH"), "MRG|M999^^^RX1PAS^MR"})),
      // After the merge, a result for the survivor.
      Inbox("M4", Oru("M4", "20260303120000+0000", "M100", "FL9", "NM", "4.2")),
  };
  for (int i = 0; i < 6; ++i) {
    const std::string n = std::to_string(i);
    batch.push_back(Inbox("O" + n, Adt("A01", "O" + n, "20260301100000+0000",
                                       {Pid("X" + n, "OTHER"), Pv1("VX" + n, "W1")})));
  }
  for (const base::Status& s : Process(batch)) EXPECT_TRUE(s.ok()) << s.error().message;
  json::object survivor = One("Patient", Mrn("M100"));
  json::object loser = One("Patient", Mrn("M999"));
  const std::string survivor_ref = "Patient/" + Str(survivor.at("id"));
  EXPECT_FALSE(loser.at("active").as_bool());
  EXPECT_EQ(Str(loser.at("link").as_array()[0].at("other").at("reference")), survivor_ref);
  json::object encounter =
      One("Encounter", "identifier=urn:carerecord:source:RX1:visit:RX1PAS%7CV1");
  EXPECT_EQ(Str(encounter.at("subject").at("reference")), survivor_ref);
  json::object report =
      One("DiagnosticReport", "identifier=urn:carerecord:source:RX1:filler-order:RX1LAB%7CFL9");
  EXPECT_EQ(Str(report.at("subject").at("reference")), survivor_ref);

  // The same batch again, in one go or one at a time: every message succeeds and nothing is
  // written.
  const int64_t versions = AllVersions();
  ASSERT_GT(versions, 0);
  for (const base::Status& s : Process(batch)) EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(AllVersions(), versions);
  for (const base::Status& s : Process(batch, 1)) EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(AllVersions(), versions);
}

}  // namespace
}  // namespace carerecord::feeds
