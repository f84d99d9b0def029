// A round of feed messages finds its identities with one search per type (`identifier=a,b,c`,
// feeds::ApplyMappedMessages) instead of one per resource: each message must still find exactly
// the resource its identity names (values with search escapes in them, a neighbour's identity
// not taken for its own) and a duplicate in the record still fails only its message.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "feeds/mapping_processor.h"
#include "hl7v2/message.h"
#include "interactions/fhir_json.h"
#include "mapping/hl7v2_mapping.h"
#include "tests/test_server.h"

namespace carerecord::feeds {
namespace {

namespace json = boost::json;
using testing::TestServer;

std::string Adt(std::string_view trigger, std::string_view id, std::string_view when,
                std::string_view mrn, std::string_view family) {
  return "MSH|^~\\&|PAS|RX1HOSP|CARERECORD|REGION|" + std::string(when) + "||ADT^" +
         std::string(trigger) + "|" + std::string(id) + "|P|2.5.1\rEVN|" + std::string(trigger) +
         "|" + std::string(when) + "\rPID|1||" + std::string(mrn) + "^^^RX1PAS^MR||" +
         std::string(family) + "^JANE^^^^^L||19800214|F\r";
}

InboxMessage Inbox(int64_t id, const std::string& raw) {
  InboxMessage m;
  m.id = id;
  m.feed_name = "rx1-pas";
  m.ods_code = "RX1";
  m.sending_application = "PAS";
  m.sending_facility = "RX1HOSP";
  m.control_id = "C" + std::to_string(id);
  m.message_type = "ADT";
  m.received_ms = 1'800'000'000'000 + id;
  m.raw = raw;
  return m;
}

std::vector<base::Status> Process(TestServer& server, const std::vector<InboxMessage>& batch) {
  MappingProcessorOptions options;
  options.parallel = 1;  // one thread: every message of the batch in one round
  options.per_transaction = 64;
  MappingProcessor processor(server.service(), options);
  return processor.ProcessBatch(batch);
}

// The identifier system the mapping gives this feed's MRNs.
std::string MrnSystem() {
  const std::string raw = Adt("A01", "X", "20260301101500+0000", "M1", "SMITH");
  auto parsed = hl7v2::ParseMessage(raw);
  EXPECT_TRUE(parsed.ok());
  auto mapped = mapping::MapMessage(
      *parsed, mapping::FeedContext{"rx1-pas", "RX1", "RX1HOSP", 1'800'000'000'000, "X"});
  EXPECT_TRUE(mapped.ok());
  for (const auto& r : mapped->resources) {
    if (r.type == "Patient") return r.identity_system;
  }
  return {};
}

std::string PercentEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The Patients holding the MRN `value` (FHIR's token escapes applied), as the API finds them.
json::array PatientsWithMrn(TestServer& server, const std::string& system,
                            const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '$' || c == '|') escaped += '\\';
    escaped += c;
  }
  auto response = server.Get("/fhir/Patient?identifier=" + PercentEncode(system + "|" + escaped));
  EXPECT_EQ(response.status, 200) << response.body;
  json::array out;
  auto bundle = TestServer::Json(response);
  if (auto* entries = bundle.if_contains("entry")) {
    for (const auto& entry : entries->as_array()) out.push_back(entry.at("resource"));
  }
  return out;
}

std::string Family(const json::value& patient) {
  return std::string(patient.at("name").at(0).at("family").as_string());
}

TEST(FeedsFindAhead, IdentitiesWithSearchEscapesAreFoundAndUpdatedInARound) {
  TestServer server;
  const std::string system = MrnSystem();
  // MRNs a search value must escape (, and $), one that is a prefix of another, and plain ones.
  const std::vector<std::string> mrns{"M,100", "M$200", "M3", "M30", "M\\E\\4"};
  std::vector<InboxMessage> admit, update;
  int64_t id = 0;
  for (const std::string& mrn : mrns) {
    ++id;  // apart: the arguments below read it, in no set order
    admit.push_back(
        Inbox(id, Adt("A01", "A" + std::to_string(id), "20260301101500+0000", mrn, "SMITH")));
  }
  for (base::Status& s : Process(server, admit)) EXPECT_TRUE(s.ok()) << s.error().message;
  // The stored value of the last MRN is what HL7's escape \E\ reads as: one backslash.
  const std::vector<std::string> stored{"M,100", "M$200", "M3", "M30", "M\\4"};
  for (const std::string& mrn : stored) {
    ASSERT_EQ(PatientsWithMrn(server, system, mrn).size(), 1u) << mrn;
  }
  // Later in one round: a new name for each. A lookup that found none would post a conditional
  // create, which finds the stored Patient and writes nothing: the update would be lost.
  for (size_t i = 0; i < mrns.size(); ++i) {
    ++id;
    update.push_back(Inbox(id, Adt("A08", "U" + std::to_string(id), "20260301111500+0000", mrns[i],
                                   "JONES" + std::to_string(i))));
  }
  for (base::Status& s : Process(server, update)) EXPECT_TRUE(s.ok()) << s.error().message;
  for (size_t i = 0; i < stored.size(); ++i) {
    auto found = PatientsWithMrn(server, system, stored[i]);
    ASSERT_EQ(found.size(), 1u) << stored[i];
    EXPECT_EQ(Family(found[0]), "JONES" + std::to_string(i)) << stored[i];
    EXPECT_EQ(std::string(found[0].at("meta").at("versionId").as_string()), "2") << stored[i];
  }
  // Sent again: nothing changes.
  for (base::Status& s : Process(server, update)) EXPECT_TRUE(s.ok()) << s.error().message;
  for (const std::string& mrn : stored) {
    auto found = PatientsWithMrn(server, system, mrn);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(std::string(found[0].at("meta").at("versionId").as_string()), "2") << mrn;
  }
}

TEST(FeedsFindAhead, TwoPatientsHoldingOneIdentityFailOnlyTheirMessage) {
  TestServer server;
  const std::string system = MrnSystem();
  // The record holds two Patients with MRN D1 of this source (written by another path: a client
  // may not give a resource a feed's identifier).
  for (int i = 0; i < 2; ++i) {
    json::object patient{
        {"resourceType", "Patient"},
        {"identifier", json::array{json::object{{"system", system}, {"value", "D1"}}}}};
    ASSERT_EQ(server.CreateAsServer("Patient", json::serialize(patient)).status, 201);
  }
  std::vector<InboxMessage> batch{
      Inbox(1, Adt("A08", "U1", "20260301111500+0000", "D1", "JONES")),
      Inbox(2, Adt("A01", "A2", "20260301101500+0000", "OK2", "SMITH")),
      Inbox(3, Adt("A01", "A3", "20260301101500+0000", "OK3", "SMITH"))};
  auto statuses = Process(server, batch);
  ASSERT_EQ(statuses.size(), 3u);
  ASSERT_FALSE(statuses[0].ok());
  EXPECT_NE(statuses[0].error().message.find("two Patient resources hold the identifier"),
            std::string::npos)
      << statuses[0].error().message;
  EXPECT_TRUE(statuses[1].ok()) << statuses[1].error().message;
  EXPECT_TRUE(statuses[2].ok()) << statuses[2].error().message;
  EXPECT_EQ(PatientsWithMrn(server, system, "OK2").size(), 1u);
  EXPECT_EQ(PatientsWithMrn(server, system, "OK3").size(), 1u);
  for (const auto& p : PatientsWithMrn(server, system, "D1"))
    EXPECT_FALSE(p.as_object().contains("name"));
}

}  // namespace
}  // namespace carerecord::feeds
