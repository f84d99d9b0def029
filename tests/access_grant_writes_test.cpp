// What a declaration or break-glass lets its user write (issue 20, hostile round 6a finding 1):
// it opens a record to read and to add to; under it the user updates and deletes only what their
// own organisation wrote, never the items that make ties or carry the objection, in every form
// (direct, conditional, batch and transaction). And for every writer, an update or delete needs
// write access to every record the item is in before and after: a move out of a record is a
// write in it.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "relationship_record.h"

namespace carerecord {
namespace {

using namespace relationship_testing;
namespace json = boost::json;

// p1 and p2 are GP1's patients; p2 objects to every other organisation. X9 is the GP practice
// of p3. Everything is written by the integration client (organisation W1).
std::vector<Item> Items() {
  const std::string privacy =
      R"("scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"text":"opt-out"}])";
  return {
      PatientWithGp("p1", "GP1"),
      PatientWithGp("p2", "GP1"),
      PatientWithGp("p3", "X9"),
      {"Observation", "obs-1", ObservationOf("p1")},
      {"Observation", "obs-2", ObservationOf("p2")},
      {"Encounter", "enc-1",
       R"({"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},"serviceProvider":)" +
           OdsRef("GP1") + "}"},
      {"EpisodeOfCare", "eoc-1",
       R"({"resourceType":"EpisodeOfCare","status":"active","patient":{"reference":"Patient/p1"},"managingOrganization":)" +
           OdsRef("GP1") + "}"},
      {"CareTeam", "ct-1",
       R"({"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":)" +
           OdsRef("GP1") + "}]}"},
      {"Consent", "consent-2",
       R"({"resourceType":"Consent","status":"active",)" + privacy +
           R"(,"patient":{"reference":"Patient/p2"},"provision":{"type":"deny"}})"},
  };
}

std::string Transaction(const std::string& type, const std::string& entries) {
  return R"({"resourceType":"Bundle","type":")" + type + R"(","entry":[)" + entries + "]}";
}
std::string DeleteEntry(const std::string& url) {
  return R"({"request":{"method":"DELETE","url":")" + url + R"("}})";
}

// The statuses of a batch's entries, in order.
std::vector<std::string> EntryStatuses(const http::HttpResponse& response) {
  std::vector<std::string> out;
  json::value body = json::parse(response.body);
  for (const json::value& entry : body.as_object().at("entry").as_array()) {
    out.emplace_back(entry.as_object().at("response").as_object().at("status").as_string());
  }
  return out;
}

TEST(AccessGrantWritesTest, AGrantAddsToARecordButNeitherDeletesNorRewritesWhatOthersWrote) {
  struct Grant {
    const char* operation;
    std::string patient;
  };
  for (const Grant& grant : {Grant{"$declare-relationship", "p1"}, Grant{"$break-glass", "p1"},
                             Grant{"$break-glass", "p2"}}) {
    SCOPED_TRACE(std::string(grant.operation) + " " + grant.patient);
    RelationshipRecord record;
    record.Write(Items());
    const auto user = Staff("x", "clinician", "X9");
    const std::string& p = grant.patient;
    ASSERT_EQ(record.Send(user, "POST", "/fhir/Patient/" + p + "/" + grant.operation, ReasonBody())
                  .status,
              200);
    const std::string others_observation = p == "p1" ? "obs-1" : "obs-2";
    // Another organisation's item: neither deleted nor updated nor moved, in any form.
    std::vector<std::string> refused_deletes = {"/fhir/Observation/" + others_observation,
                                                "/fhir/Patient/" + p,
                                                "/fhir/Observation?patient=" + p};
    if (p == "p1") {
      for (const char* tie :
           {"/fhir/Encounter/enc-1", "/fhir/EpisodeOfCare/eoc-1", "/fhir/CareTeam/ct-1",
            "/fhir/Encounter?patient=p1", "/fhir/CareTeam?patient=p1"}) {
        refused_deletes.emplace_back(tie);
      }
    } else {
      refused_deletes.emplace_back("/fhir/Consent/consent-2");
      refused_deletes.emplace_back("/fhir/Consent?patient=p2");
    }
    for (const std::string& target : refused_deletes) {
      auto deleted = record.Send(user, "DELETE", target);
      EXPECT_EQ(deleted.status, 403) << target << ": " << deleted.body;
      EXPECT_NE(deleted.body.find("to you alone"), std::string::npos) << deleted.body;
    }
    auto batch =
        record.Send(user, "POST", "/fhir",
                    Transaction("batch", DeleteEntry("EpisodeOfCare?patient=" + p) + "," +
                                             DeleteEntry("CareTeam?patient=" + p) + "," +
                                             DeleteEntry("Patient/" + p) + "," +
                                             DeleteEntry("Observation/" + others_observation)));
    ASSERT_EQ(batch.status, 200) << batch.body;
    const auto statuses = EntryStatuses(batch);
    // A p2 has no EpisodeOfCare or CareTeam: those deletes delete nothing.
    EXPECT_EQ(statuses[2].substr(0, 3), "403") << batch.body;
    EXPECT_EQ(statuses[3].substr(0, 3), "403") << batch.body;
    if (p == "p1") {
      EXPECT_EQ(statuses[0].substr(0, 3), "403") << batch.body;
      EXPECT_EQ(statuses[1].substr(0, 3), "403") << batch.body;
    }
    EXPECT_EQ(
        record
            .Send(user, "POST", "/fhir",
                  Transaction("transaction", DeleteEntry("Observation/" + others_observation)))
            .status,
        403);
    const std::string changed = RelationshipRecord::WithId(
        {"Observation", others_observation, ObservationOf(p, "changed")});
    EXPECT_EQ(record.Send(user, "PUT", "/fhir/Observation/" + others_observation, changed).status,
              403);
    // Moved into p3's record, which the user's organisation may open.
    const std::string moved =
        RelationshipRecord::WithId({"Observation", others_observation, ObservationOf("p3")});
    auto move = record.Send(user, "PUT", "/fhir/Observation/" + others_observation, moved);
    EXPECT_EQ(move.status, 403) << move.body;
    // Nothing changed.
    for (const Item& item : Items()) {
      auto read = record.Send(Integration(), "GET", "/fhir/" + item.type + "/" + item.id);
      EXPECT_EQ(read.status, 200) << item.id;
      EXPECT_NE(read.body.find(R"("versionId":"1")"), std::string::npos) << read.body;
    }

    // What the user writes under the grant is theirs to correct and remove.
    auto added = record.Send(user, "POST", "/fhir/Observation", ObservationOf(p, "mine"));
    ASSERT_EQ(added.status, 201) << added.body;
    const std::string id(json::parse(added.body).as_object().at("id").as_string());
    EXPECT_EQ(record
                  .Send(user, "PUT", "/fhir/Observation/" + id,
                        RelationshipRecord::WithId({"Observation", id, ObservationOf(p, "fixed")}))
                  .status,
              200);
    EXPECT_EQ(record.Send(user, "DELETE", "/fhir/Observation/" + id).status / 100, 2);
    EXPECT_EQ(record.Status(Integration(), "/fhir/Observation/" + id), 410);
  }
}

// A Patient whose `link` names p1 is in p1's record by R4's compartment (Patient.link): under
// a grant it is a Patient written there, refused as the others are (hostile 6b finding 8), and
// it would assert a merge nobody reviewed.
TEST(AccessGrantWritesTest, UnderAGrantNoPatientLinkingTheGrantedRecordIsWritten) {
  for (const char* operation : {"$declare-relationship", "$break-glass"}) {
    SCOPED_TRACE(operation);
    RelationshipRecord record;
    record.Write(Items());
    const auto user = Staff("x", "nurse", "X9");  // p3's practice; a grant on p1
    ASSERT_EQ(record.Send(user, "POST", std::string("/fhir/Patient/p1/") + operation, ReasonBody())
                  .status,
              200);
    const auto linking = [](const std::string& type, const std::string& id = "") {
      return R"({"resourceType":"Patient",)" + (id.empty() ? "" : R"("id":")" + id + R"(",)") +
             R"("name":[{"family":"Linked"}],"link":[{"type":")" + type +
             R"(","other":{"reference":"Patient/p1"}}]})";
    };
    for (const std::string type : {"replaces", "replaced-by", "seealso", "refer"}) {
      SCOPED_TRACE(type);
      // A merge link no client writes (a 422: the feeds' and the patient index's, hostile round
      // 10); the others are refused as a Patient written in p1's record (403).
      const bool merge = type == "replaces" || type == "replaced-by";
      const int refused = merge ? 422 : 403;
      auto posted = record.Send(user, "POST", "/fhir/Patient", linking(type));
      EXPECT_EQ(posted.status, refused) << posted.body;
      EXPECT_NE(posted.body.find(merge ? "record a merge" : "to you alone"), std::string::npos)
          << posted.body;
      const std::string entry =
          R"({"request":{"method":"POST","url":"Patient"},"resource":)" + linking(type) + "}";
      auto transaction = record.Send(user, "POST", "/fhir", Transaction("transaction", entry));
      EXPECT_EQ(transaction.status, refused) << transaction.body;
      auto batch = record.Send(user, "POST", "/fhir", Transaction("batch", entry));
      ASSERT_EQ(batch.status, 200) << batch.body;
      EXPECT_EQ(EntryStatuses(batch)[0].substr(0, 3), std::to_string(refused)) << batch.body;
      // Nor a link added to a Patient the user may otherwise change (p3, their own practice's).
      auto put = record.Send(user, "PUT", "/fhir/Patient/p3", linking(type, "p3"));
      EXPECT_EQ(put.status, refused) << put.body;
    }
    auto patients = record.Send(Integration(), "GET", "/fhir/Patient?_summary=count");
    EXPECT_EQ(json::parse(patients.body).as_object().at("total").as_int64(), 3);
    EXPECT_EQ(record.Send(Integration(), "GET", "/fhir/Patient/p3").body.find("link"),
              std::string::npos);
    // Nor a link naming p1 in a way the gate cannot resolve to a record (hostile 7 finding 3):
    // by NHS number, by a display only, or by a URL that is not this server's base; the reason
    // says which (hostile 8 L9: a display was called "by identifier only").
    const std::vector<std::pair<std::string, std::string>> others = {
        {R"({"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}})",
         "one named by identifier does not"},
        {R"({"display":"Jane Smith"})", "one named by display only does not"},
        {R"({"reference":"http://localhost:8080/fhir/Patient/p1"})",
         "'http://localhost:8080/fhir/Patient/p1' does not"},
        {R"({"reference":"http://other.example/fhir/Patient/p1"})",
         "'http://other.example/fhir/Patient/p1' does not"}};
    for (const auto& [other, reason] : others) {
      SCOPED_TRACE(other);
      const std::string patient =
          R"({"resourceType":"Patient","link":[{"type":"seealso","other":)" + other + "}]}";
      auto posted = record.Send(user, "POST", "/fhir/Patient", patient);
      EXPECT_EQ(posted.status, 422) << posted.body;
      EXPECT_NE(posted.body.find("Patient.link[0].other"), std::string::npos) << posted.body;
      EXPECT_NE(posted.body.find(reason), std::string::npos) << posted.body;
      // An integration client (the patient index) links as it finds.
      EXPECT_EQ(record.Send(Integration(), "POST", "/fhir/Patient", patient).status, 201);
    }
    // A link to a record the user's organisation opens by a tie is theirs to write.
    const std::string to_p3 =
        R"({"resourceType":"Patient","link":[{"type":"seealso","other":{"reference":"Patient/p3"}}]})";
    EXPECT_EQ(record.Send(user, "POST", "/fhir/Patient", to_p3).status, 201);
  }
}

TEST(AccessGrantWritesTest, AMoveOutOfARecordNeedsWriteAccessToIt) {
  RelationshipRecord record;
  record.Write(Items());
  // In p3's record (first, so p3 decides who reads it) and in p1's.
  record.Write(
      {{"Appointment", "appt-1",
        R"({"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"Patient/p3"},"status":"accepted"},{"actor":{"reference":"Patient/p1"},"status":"accepted"}]})"}});
  const auto user = Staff("x", "clinician", "X9");  // p3's GP practice; no tie with p1
  ASSERT_EQ(record.Status(user, "/fhir/Appointment/appt-1"), 200);
  auto moved = record.Send(
      user, "PUT", "/fhir/Appointment/appt-1",
      R"({"resourceType":"Appointment","id":"appt-1","status":"booked","participant":[{"actor":{"reference":"Patient/p3"},"status":"accepted"}]})");
  EXPECT_EQ(moved.status, 403) << moved.body;
  EXPECT_NE(moved.body.find("you may not write in the record of Patient/p1"), std::string::npos)
      << moved.body;
  auto deleted = record.Send(user, "DELETE", "/fhir/Appointment/appt-1");
  EXPECT_EQ(deleted.status, 403) << deleted.body;
  auto read = record.Send(Integration(), "GET", "/fhir/Appointment/appt-1");
  EXPECT_NE(read.body.find("Patient/p1"), std::string::npos) << read.body;
  // Into a record the writer may not open, from one they may: refused as a create there is.
  const auto gp = Staff("g", "clinician", "GP1");  // p1's and p2's practice, not p3's
  auto into =
      record.Send(gp, "PUT", "/fhir/Observation/obs-1",
                  RelationshipRecord::WithId({"Observation", "obs-1", ObservationOf("p3")}));
  EXPECT_EQ(into.status, 403) << into.body;
  // A writer with access to both moves freely.
  auto both =
      record.Send(Integration(), "PUT", "/fhir/Observation/obs-1",
                  RelationshipRecord::WithId({"Observation", "obs-1", ObservationOf("p2")}));
  EXPECT_EQ(both.status, 200) << both.body;
}

}  // namespace
}  // namespace carerecord
