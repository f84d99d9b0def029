// Many feed messages in one record transaction (issue 18, session 5): each version keeps its own
// message's provenance (the store's columns and meta.source), a combined transaction the record
// refuses is applied again message by message so only the bad one fails, and a batch applied
// again after a crash (part of it committed, nothing marked) ends exactly as applying it once.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "feeds/apply_mapped.h"
#include "feeds/mapping_processor.h"
#include "interactions/fhir_json.h"
#include "mapping/hl7v2_mapping.h"
#include "tests/test_server.h"

namespace carerecord::feeds {
namespace {

namespace json = boost::json;
using testing::TestServer;

std::string Str(const json::value& v) { return std::string(v.as_string()); }

std::string Adt(std::string_view trigger, std::string_view id, std::string_view when,
                std::string_view mrn, std::string_view family, std::string_view visit) {
  std::string out = "MSH|^~\\&|PAS|RX1HOSP|CARERECORD|REGION|" + std::string(when) + "||ADT^" +
                    std::string(trigger) + "|" + std::string(id) + "|P|2.5.1\rEVN|" +
                    std::string(trigger) + "|" + std::string(when) + "\rPID|1||" +
                    std::string(mrn) + "^^^RX1PAS^MR||" + std::string(family) +
                    "^JANE^^^^^L||19800214|F\r";
  if (!visit.empty()) {
    out += "PV1|1|I|W1^BAY1^BED1||||||||||||||||" + std::string(visit) +
           "^^^RX1PAS^VN|||||||||||||||||||||||||20260301093000\r";
  }
  return out;
}

std::string Oru(std::string_view id, std::string_view when, std::string_view mrn,
                std::string_view filler, std::string_view value) {
  return "MSH|^~\\&|LAB|RX1HOSP|CARERECORD|REGION|" + std::string(when) + "||ORU^R01^ORU_R01|" +
         std::string(id) + "|P|2.5.1\rPID|1||" + std::string(mrn) +
         "^^^RX1PAS^MR||SMITH^JANE^^^^^L||19800214|F\rOBR|1||" + std::string(filler) +
         "^RX1LAB|UE^U and E^LOCAL|||" + std::string(when).substr(0, 14) +
         "|||||||||||||||||F\rOBX|1|NM|22664-7^Potassium^LN||" + std::string(value) +
         "|mmol/L||||||F\r";
}

InboxMessage Inbox(int64_t id, const std::string& control_id, std::string raw) {
  InboxMessage m;
  m.id = id;
  m.feed_name = "rx1-pas";
  m.ods_code = "RX1";
  m.sending_application = "PAS";
  m.sending_facility = "RX1HOSP";
  m.control_id = control_id;
  m.message_type = "ADT";
  m.received_ms = 1'800'000'000'000 + id;  // each message its own received time
  m.raw = std::move(raw);
  return m;
}

// A batch of many patients: admissions, updates of some (chains of two), results for others.
std::vector<InboxMessage> Batch() {
  std::vector<InboxMessage> batch;
  int64_t id = 0;
  for (int p = 0; p < 12; ++p) {
    const std::string mrn = "M" + std::to_string(100 + p);
    const std::string n = std::to_string(p);
    batch.push_back(
        Inbox(++id, "A" + n, Adt("A01", "A" + n, "20260301101500+0000", mrn, "SMITH", "V" + n)));
    if (p % 3 == 0) {
      batch.push_back(
          Inbox(++id, "U" + n, Adt("A08", "U" + n, "20260301111500+0000", mrn, "JONES", "V" + n)));
    }
    if (p % 4 == 1) {
      batch.push_back(
          Inbox(++id, "R" + n, Oru("R" + n, "20260301120000+0000", mrn, "FL" + n, "4." + n)));
    }
  }
  return batch;
}

struct VersionRow {
  std::string type, id, source, message_id;
  int64_t version = 0, received = 0;
  std::string body_source;  // meta.source of the version's body
};

class FeedsCombinedTest : public ::testing::Test {
 protected:
  std::vector<base::Status> Process(TestServer& server, const std::vector<InboxMessage>& batch,
                                    int parallel = 2, size_t per_transaction = 64) {
    MappingProcessorOptions options;
    options.parallel = parallel;
    options.per_transaction = per_transaction;
    MappingProcessor processor(server.service(), options);
    return processor.ProcessBatch(batch);
  }

  // Every version the store holds, with its provenance columns.
  static std::vector<VersionRow> Versions(TestServer& server) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2((server.data_dir() / "carerecord.db").c_str(), &db,
                              SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT t.name, r.id, v.version, f.name, "
                                 "coalesce(v.message_id, ''), v.received FROM version v JOIN "
                                 "resource r ON r.pk = v.pk JOIN res_type t ON t.id = r.type_id "
                                 "JOIN feed_source f ON f.id = v.source_id ORDER BY v.vid",
                                 -1, &stmt, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    std::vector<VersionRow> rows;
    auto text = [&](int i) {
      const unsigned char* t = sqlite3_column_text(stmt, i);
      return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
    };
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      rows.push_back(VersionRow{text(0), text(1), text(3), text(4), sqlite3_column_int64(stmt, 2),
                                sqlite3_column_int64(stmt, 5), ""});
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    for (VersionRow& row : rows) {
      auto response = server.Get("/fhir/" + row.type + "/" + row.id + "/_history/" +
                                 std::to_string(row.version));
      EXPECT_EQ(response.status, 200) << response.body;
      auto body = TestServer::Json(response);
      row.body_source = Str(body.at("meta").at("source"));
    }
    return rows;
  }

  // The record as a feed sees it: every current resource by type and identity, its content
  // without id and meta (ids are minted on create, so two stores differ there), and its version.
  static std::map<std::string, std::string> Record(TestServer& server) {
    std::map<std::string, std::string> record;
    for (const char* type : {"Patient", "Encounter", "DiagnosticReport", "Observation"}) {
      auto response = server.Get("/fhir/" + std::string(type) + "?_count=1000");
      EXPECT_EQ(response.status, 200) << response.body;
      auto bundle = TestServer::Json(response);
      std::map<std::string, std::string> ids;  // id -> identity, to compare references
      auto* entries = bundle.if_contains("entry");
      if (!entries) continue;
      for (const auto& e : entries->as_array()) {
        json::object resource = e.at("resource").as_object();
        const auto& identifier = resource.at("identifier").as_array()[0].as_object();
        const std::string key = std::string(type) + "|" + Str(identifier.at("system")) + "|" +
                                Str(identifier.at("value"));
        const std::string version = Str(resource.at("meta").at("versionId"));
        resource.erase("id");
        resource.erase("meta");
        // References hold minted ids: keep only their type.
        std::string text = json::serialize(resource);
        for (size_t at = 0; (at = text.find("\"reference\":\"", at)) != std::string::npos;) {
          at += 13;
          const size_t slash = text.find('/', at);
          const size_t end = text.find('"', at);
          if (slash < end) text.erase(slash, end - slash);
        }
        record[key] = "v" + version + " " + text;
      }
    }
    return record;
  }
};

TEST_F(FeedsCombinedTest, EveryVersionKeepsItsOwnMessagesProvenance) {
  TestServer server;
  const std::vector<InboxMessage> batch = Batch();
  std::vector<base::Status> outcomes = Process(server, batch, /*parallel=*/1);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_TRUE(outcomes[i].ok()) << batch[i].control_id << ": " << outcomes[i].error().message;
  }
  std::map<std::string, int64_t> received_of;
  for (const InboxMessage& m : batch) received_of[m.control_id] = m.received_ms;
  const std::vector<VersionRow> rows = Versions(server);
  ASSERT_GT(rows.size(), batch.size());
  std::map<std::string, int> versions_of_message;
  for (const VersionRow& row : rows) {
    SCOPED_TRACE(row.type + "/" + row.id + " v" + std::to_string(row.version));
    EXPECT_EQ(row.source, "rx1-pas");
    ASSERT_TRUE(received_of.count(row.message_id)) << "message id '" << row.message_id << "'";
    EXPECT_EQ(row.received, received_of[row.message_id]);
    EXPECT_EQ(row.body_source, "urn:carerecord:feed:rx1-pas#" + row.message_id);
    ++versions_of_message[row.message_id];
  }
  // Every message wrote something, under its own id.
  EXPECT_EQ(versions_of_message.size(), batch.size());
  // An update (A08) names its own message, not the admission's.
  const auto updates = std::count_if(rows.begin(), rows.end(), [](const VersionRow& r) {
    return r.type == "Patient" && r.version == 2 && r.message_id[0] == 'U';
  });
  EXPECT_EQ(updates, 4);
}

TEST_F(FeedsCombinedTest, ATransactionTheRecordRefusesIsAppliedMessageByMessage) {
  TestServer server;
  auto map = [](const InboxMessage& m) {
    auto parsed = hl7v2::ParseMessage(std::string_view(m.raw));
    EXPECT_TRUE(parsed.ok());
    mapping::FeedContext feed{m.feed_name, m.ods_code, m.sending_facility, m.received_ms,
                              m.control_id};
    return std::make_pair(feed, std::move(mapping::MapMessage(*parsed, feed)).value());
  };
  auto [feed1, good1] =
      map(Inbox(1, "G1", Adt("A01", "G1", "20260301101500+0000", "M1", "SMITH", "V1")));
  auto [feed2, bad] =
      map(Inbox(2, "X2", Adt("A01", "X2", "20260301101500+0000", "M2", "BROWN", "V2")));
  auto [feed3, good3] =
      map(Inbox(3, "G3", Adt("A01", "G3", "20260301101500+0000", "M3", "GREEN", "V3")));
  // Mapped fine, refused by the record at commit: a birth date that is no date.
  for (auto& resource : bad.resources) {
    if (resource.type == "Patient") resource.resource["birthDate"] = "1980-02-31x";
  }
  std::vector<base::Result<ApplyOutcome>> results =
      ApplyMappedMessages(server.service(), {{&good1, &feed1}, {&bad, &feed2}, {&good3, &feed3}});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok()) << results[0].error().message;
  ASSERT_FALSE(results[1].ok());
  EXPECT_NE(results[1].error().message.find("birthDate"), std::string::npos)
      << results[1].error().message;
  EXPECT_TRUE(results[2].ok()) << results[2].error().message;
  EXPECT_EQ(results[0]->written.size(), 2u);  // Patient and Encounter
  EXPECT_EQ(results[2]->written.size(), 2u);
  const std::string mrn = "/fhir/Patient?identifier=urn:carerecord:source:RX1:mrn:RX1PAS%7C";
  auto found = [&](const std::string& value) {
    auto bundle = TestServer::Json(server.Get(mrn + value));
    auto* entries = bundle.if_contains("entry");
    return entries ? entries->as_array().size() : 0;
  };
  EXPECT_EQ(found("M1"), 1u);
  EXPECT_EQ(found("M2"), 0u);
  EXPECT_EQ(found("M3"), 1u);
  for (const VersionRow& row : Versions(server)) {
    EXPECT_EQ(row.body_source, "urn:carerecord:feed:rx1-pas#" + row.message_id);
  }
}

// The worker marks a batch `mapped` only after ProcessBatch returned, and ProcessBatch returns
// only after the record's commits are durable; a kill -9 before the marks leaves the whole batch
// `received`, and the restart maps all of it again, some of it already written. That second
// application must change nothing of what was written: here the crash is taken at every point a
// round can end (the first k messages of the batch, in inbox order, committed), and each ends
// exactly as one clean run does, with no extra version.
TEST_F(FeedsCombinedTest, ABatchAppliedAgainAfterACrashEndsAsAppliedOnce) {
  const std::vector<InboxMessage> batch = Batch();
  TestServer clean;
  for (const base::Status& s : Process(clean, batch)) ASSERT_TRUE(s.ok()) << s.error().message;
  const std::map<std::string, std::string> expected = Record(clean);
  const size_t expected_versions = Versions(clean).size();
  ASSERT_FALSE(expected.empty());

  for (size_t committed : {size_t{1}, batch.size() / 3, batch.size() - 1, batch.size()}) {
    SCOPED_TRACE("crash after " + std::to_string(committed) + " messages committed");
    TestServer crashed;
    // What reached the record before the crash.
    std::vector<InboxMessage> before(batch.begin(), batch.begin() + committed);
    for (const base::Status& s : Process(crashed, before)) ASSERT_TRUE(s.ok());
    // The restart: the whole batch is still `received` and is mapped again.
    for (const base::Status& s : Process(crashed, batch)) {
      EXPECT_TRUE(s.ok()) << s.error().message;
    }
    EXPECT_EQ(Record(crashed), expected);
    EXPECT_EQ(Versions(crashed).size(), expected_versions);
    // And once more (a crash during the restart's own marking): nothing new.
    for (const base::Status& s : Process(crashed, batch)) EXPECT_TRUE(s.ok());
    EXPECT_EQ(Versions(crashed).size(), expected_versions);
  }
}

}  // namespace
}  // namespace carerecord::feeds
