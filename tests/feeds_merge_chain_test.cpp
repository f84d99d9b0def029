// A batch with A40s in it, mapped by MappingProcessor (chains of messages sharing an identity,
// applied in rounds on parallel threads), ends as the same messages applied one at a time in
// the order they arrived: every resource's content, each Patient's links, and which messages
// the record refused. Merges among the batch's other messages (before and after them, about the
// loser, the survivor and unrelated patients), a chain of merges, a backlog result about the
// loser arriving after its merge, and two merges whose event times disagree with their arrival
// (the second arrives first: its survivor is then merged away, and the first is refused as it
// is when they arrive one at a time).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "feeds/mapping_processor.h"
#include "tests/test_server.h"

namespace carerecord::feeds {
namespace {

namespace json = boost::json;
using testing::TestServer;

std::string Str(const json::value& v) { return std::string(v.as_string()); }

std::string Msh(std::string_view app, std::string_view when, std::string_view type,
                std::string_view id) {
  return "MSH|^~\\&|" + std::string(app) + "|RX1HOSP|CARERECORD|REGION|" + std::string(when) +
         "||" + std::string(type) + "|" + std::string(id) + "|P|2.5.1\r";
}

std::string Pid(std::string_view mrn, std::string_view family) {
  return "PID|1||" + std::string(mrn) + "^^^RX1PAS^MR||" + std::string(family) +
         "^JANE^^^^^L||19800214|F\r";
}

std::string Adt(std::string_view trigger, std::string_view id, std::string_view when,
                std::string_view mrn, std::string_view family, std::string_view visit) {
  return Msh("PAS", when, "ADT^" + std::string(trigger), id) + "EVN|" + std::string(trigger) + "|" +
         std::string(when) + "\r" + Pid(mrn, family) + "PV1|1|I|W1^BAY1^BED1||||||||||||||||" +
         std::string(visit) + "^^^RX1PAS^VN|||||||||||||||||||||||||20260301093000\r";
}

std::string Merge(std::string_view id, std::string_view when, std::string_view survivor,
                  std::string_view loser) {
  return Msh("PAS", when, "ADT^A40", id) + "EVN|A40|" + std::string(when) + "\r" +
         Pid(survivor, "MERGED") + "MRG|" + std::string(loser) + "^^^RX1PAS^MR\r";
}

std::string Oru(std::string_view id, std::string_view when, std::string_view mrn,
                std::string_view filler, std::string_view value) {
  return Msh("LAB", when, "ORU^R01^ORU_R01", id) + Pid(mrn, "SMITH") + "OBR|1||" +
         std::string(filler) + "^RX1LAB|UE^U and E^LOCAL|||" + std::string(when).substr(0, 14) +
         "|||||||||||||||||F\rOBX|1|NM|22664-7^Potassium^LN||" + std::string(value) +
         "|mmol/L||||||F\r";
}

std::vector<InboxMessage> Batch() {
  std::vector<std::string> raws;
  const std::string t = "20260301";
  // Unrelated patients: admissions, updates and results all through the batch.
  auto others = [&](int round) {
    for (int p = 0; p < 4; ++p) {
      const std::string mrn = "U" + std::to_string(p), n = std::to_string(round * 10 + p);
      const std::string when = t + std::to_string(10 + round) + "0000+0000";
      raws.push_back(round == 0 ? Adt("A01", "u" + n, when, mrn, "OTHER", "VU" + mrn)
                                : Adt("A08", "u" + n, when, mrn, "OTHER" + n, "VU" + mrn));
      raws.push_back(Oru("r" + n, when, mrn, "FU" + n, "4." + n));
    }
  };
  others(0);
  // L and S admitted, a result for L.
  raws.push_back(Adt("A01", "l1", t + "100000+0000", "L", "LOSER", "VL"));
  raws.push_back(Adt("A01", "s1", t + "100000+0000", "S", "SURVIVOR", "VS"));
  raws.push_back(Oru("l2", t + "101500+0000", "L", "FL1", "3.9"));
  others(1);
  raws.push_back(Merge("m1", t + "120000+0000", "S", "L"));
  others(2);
  // After the merge: an update naming L (its data belong to S now), a backlog result about L
  // from before the merge, an update of S.
  raws.push_back(Adt("A08", "l3", t + "130000+0000", "L", "LOSER2", "VL"));
  raws.push_back(Oru("l4", t + "110000+0000", "L", "FL2", "4.4"));
  raws.push_back(Adt("A08", "s2", t + "130000+0000", "S", "SURVIVOR2", "VS"));
  // A chain: A into B, then B into C; then a message about A.
  raws.push_back(Adt("A01", "a1", t + "100000+0000", "A", "AAA", "VA"));
  raws.push_back(Adt("A01", "b1", t + "100000+0000", "B", "BBB", "VB"));
  raws.push_back(Adt("A01", "c1", t + "100000+0000", "C", "CCC", "VC"));
  raws.push_back(Merge("m2", t + "140000+0000", "B", "A"));
  others(3);
  raws.push_back(Merge("m3", t + "150000+0000", "C", "B"));
  raws.push_back(Oru("a2", t + "160000+0000", "A", "FA1", "5.1"));
  // Merges whose event times disagree with arrival: Y into Z arrives first (but happened at
  // 17:00), X into Y second (at 16:30). Arriving in this order, X into Y finds Y merged away.
  raws.push_back(Adt("A01", "x1", t + "100000+0000", "X", "XXX", "VX"));
  raws.push_back(Adt("A01", "y1", t + "100000+0000", "Y", "YYY", "VY"));
  raws.push_back(Adt("A01", "z1", t + "100000+0000", "Z", "ZZZ", "VZ"));
  raws.push_back(Merge("m4", t + "170000+0000", "Z", "Y"));
  raws.push_back(Merge("m5", t + "163000+0000", "Y", "X"));
  others(4);
  std::vector<InboxMessage> batch;
  for (size_t i = 0; i < raws.size(); ++i) {
    InboxMessage m;
    m.id = static_cast<int64_t>(i + 1);
    m.feed_name = "rx1-pas";
    m.ods_code = "RX1";
    m.sending_application = "PAS";
    m.sending_facility = "RX1HOSP";
    m.control_id = "C" + std::to_string(i + 1);
    m.message_type = raws[i].find("|ORU^") != std::string::npos ? "ORU" : "ADT";
    m.received_ms = 1'800'000'000'000 + m.id;
    m.raw = raws[i];
    batch.push_back(std::move(m));
  }
  return batch;
}

// The record by identity: each current resource's content without id and meta, its references
// to Patients named by the Patient's MRN (ids are minted, so two stores differ there).
std::map<std::string, std::string> Record(TestServer& server) {
  std::map<std::string, std::string> mrn_of;  // "Patient/<id>" -> MRN
  std::map<std::string, std::string> record;
  for (const char* type : {"Patient", "Encounter", "DiagnosticReport", "Observation"}) {
    auto response = server.Get("/fhir/" + std::string(type) + "?_count=1000");
    EXPECT_EQ(response.status, 200) << response.body;
    auto bundle = TestServer::Json(response);
    auto* entries = bundle.if_contains("entry");
    if (!entries) continue;
    for (const auto& e : entries->as_array()) {
      json::object resource = e.at("resource").as_object();
      const auto& identifier = resource.at("identifier").as_array()[0].as_object();
      if (std::string(type) == "Patient") {
        mrn_of["Patient/" + Str(resource.at("id"))] = Str(identifier.at("value"));
      }
      const std::string key = std::string(type) + "|" + Str(identifier.at("system")) + "|" +
                              Str(identifier.at("value"));
      resource.erase("id");
      resource.erase("meta");
      record[key] = json::serialize(resource);
    }
  }
  for (auto& [key, text] : record) {
    for (const auto& [reference, mrn] : mrn_of) {
      for (size_t at = 0; (at = text.find("\"" + reference + "\"", at)) != std::string::npos;) {
        text.replace(at, reference.size() + 2, "\"Patient MRN " + mrn + "\"");
      }
    }
    // Any other reference keeps only its type.
    for (size_t at = 0; (at = text.find("\"reference\":\"", at)) != std::string::npos;) {
      at += 13;
      if (text.compare(at, 12, "Patient MRN ") == 0) continue;
      const size_t slash = text.find('/', at);
      const size_t end = text.find('"', at);
      if (slash < end) text.erase(slash, end - slash);
    }
  }
  return record;
}

std::vector<base::Status> Process(TestServer& server, const std::vector<InboxMessage>& batch,
                                  int parallel, size_t per_transaction) {
  MappingProcessorOptions options;
  options.parallel = parallel;
  options.per_transaction = per_transaction;
  MappingProcessor processor(server.service(), options);
  return processor.ProcessBatch(batch);
}

TEST(FeedsMergeChain, ABatchWithMergesEndsAsItsMessagesAppliedOneAtATimeInArrivalOrder) {
  const std::vector<InboxMessage> batch = Batch();
  TestServer one_at_a_time;
  std::vector<bool> refused_alone;
  for (const InboxMessage& m : batch) {
    auto status = Process(one_at_a_time, {m}, 1, 1);
    refused_alone.push_back(!status[0].ok());
  }
  const auto expected = Record(one_at_a_time);
  // The batch's own premise: only X into Y (MSH-10 m5) is refused.
  ASSERT_EQ(refused_alone.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(refused_alone[i], batch[i].raw.find("|m5|") != std::string::npos)
        << batch[i].raw.substr(0, 60);
  }
  // S holds L's results (the one before the merge moved, the backlog one redirected); C holds
  // A's result sent after both merges.
  auto report = [&](const std::string& filler) {
    for (const auto& [key, text] : expected) {
      if (key.rfind("DiagnosticReport|", 0) == 0 && key.find(filler) != std::string::npos) {
        return text;
      }
    }
    return std::string();
  };
  EXPECT_NE(report("FL1").find("Patient MRN S\""), std::string::npos) << report("FL1");
  EXPECT_NE(report("FL2").find("Patient MRN S\""), std::string::npos) << report("FL2");
  EXPECT_NE(report("FA1").find("Patient MRN C\""), std::string::npos) << report("FA1");
  for (int parallel : {1, 2, 4}) {
    for (size_t per_transaction : {size_t{1}, size_t{64}}) {
      SCOPED_TRACE(std::to_string(parallel) + " threads, " + std::to_string(per_transaction) +
                   " chains a transaction");
      TestServer batched;
      auto statuses = Process(batched, batch, parallel, per_transaction);
      ASSERT_EQ(statuses.size(), batch.size());
      for (size_t i = 0; i < batch.size(); ++i) {
        EXPECT_EQ(!statuses[i].ok(), refused_alone[i])
            << batch[i].raw.substr(0, 60) << ": "
            << (statuses[i].ok() ? std::string("applied") : statuses[i].error().message);
      }
      EXPECT_EQ(Record(batched), expected);
    }
  }
}

}  // namespace
}  // namespace carerecord::feeds
