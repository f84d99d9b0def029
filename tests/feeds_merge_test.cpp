// A40 merges the record refuses (issue 18, hostile round 5b finding 7): a merge into a patient
// that was itself merged away (into the loser: a cycle, or into a third), a loser already merged
// into another patient, and one patient as both are not applied: MapAndApply answers with an ERR
// naming PID-3 or MRG-1, nothing is written, and through the inbox the message stays in the error
// queue with that reason until a reprocess finds the record corrected. A chain of merges (A into
// B, then B into C) still works: C holds everything, and later messages about A reach C.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "feeds/apply_mapped.h"
#include "feeds/inbox.h"
#include "feeds/mapping_processor.h"
#include "hl7v2/message.h"
#include "mapping/hl7v2_mapping.h"
#include "tests/test_server.h"

namespace carerecord::feeds {
namespace {

namespace json = boost::json;
using testing::TestServer;

std::string Str(const json::value& v) { return std::string(v.as_string()); }

std::string Adt(std::string_view trigger, std::string_view id, std::string_view when,
                const std::vector<std::string>& rest) {
  std::string out = "MSH|^~\\&|PAS|RX1HOSP|CARERECORD|REGION|" + std::string(when) + "||ADT^" +
                    std::string(trigger) + "|" + std::string(id) + "|P|2.5.1\rEVN|" +
                    std::string(trigger) + "|" + std::string(when) + "\r";
  for (const auto& s : rest) out += s + "\r";
  return out;
}

std::string Pid(std::string_view mrn, std::string_view family = "SMITH") {
  return "PID|1||" + std::string(mrn) + "^^^RX1PAS^MR||" + std::string(family) +
         "^JANE^^^^^L||19800214|F";
}

std::string Pv1(std::string_view visit) {
  return "PV1|1|I|W1^BAY1^BED1||||||||||||||||" + std::string(visit) +
         "^^^RX1PAS^VN|||||||||||||||||||||||||20260301093000";
}

std::string Mrg(std::string_view mrn) { return "MRG|" + std::string(mrn) + "^^^RX1PAS^MR"; }

// An admission of `mrn` on visit `visit`, at `when`.
std::string Admit(std::string_view id, std::string_view when, std::string_view mrn,
                  std::string_view visit) {
  return Adt("A01", id, when, {Pid(mrn), Pv1(visit)});
}

// An A40: `loser` merged into `survivor`.
std::string Merge(std::string_view id, std::string_view when, std::string_view survivor,
                  std::string_view loser) {
  return Adt("A40", id, when, {Pid(survivor), Mrg(loser)});
}

class FeedsMergeTest : public ::testing::Test {
 protected:
  ProcessedMessage Send(const std::string& bytes) {
    auto message = hl7v2::ParseMessage(std::string_view(bytes));
    EXPECT_TRUE(message.ok()) << (message.ok() ? "" : message.error().ToString());
    if (!message.ok()) return {};
    mapping::FeedContext context{"rx1-pas", "RX1", "RX1HOSP", 1'800'000'000'000,
                                 message->header().control_id};
    return MapAndApply(server_.service(), message.value(), context);
  }

  // Sends `bytes`, which must be applied.
  ApplyOutcome Applied(const std::string& bytes) {
    ProcessedMessage processed = Send(bytes);
    EXPECT_FALSE(processed.refused) << processed.refused->ToString();
    EXPECT_FALSE(processed.failed) << processed.failed->message;
    return processed.outcome;
  }

  json::object Patient(const std::string& mrn) {
    return One("Patient", "identifier=urn:carerecord:source:RX1:mrn:RX1PAS%7C" + mrn);
  }
  std::string PatientRef(const std::string& mrn) { return "Patient/" + Str(Patient(mrn).at("id")); }
  json::object Encounter(const std::string& visit) {
    return One("Encounter", "identifier=urn:carerecord:source:RX1:visit:RX1PAS%7C" + visit);
  }
  std::string SubjectOf(const std::string& visit) {
    return Str(Encounter(visit).at("subject").at("reference"));
  }

  json::object One(const std::string& type, const std::string& query) {
    auto response = server_.Get("/fhir/" + type + "?" + query);
    EXPECT_EQ(response.status, 200) << response.body;
    auto bundle = TestServer::Json(response);
    auto* entries = bundle.if_contains("entry");
    EXPECT_TRUE(entries && entries->as_array().size() == 1) << type << "?" << query;
    if (!entries || entries->as_array().empty()) return {};
    return entries->as_array()[0].at("resource").as_object();
  }

  // The links of a Patient as "type reference", in order.
  std::vector<std::string> Links(const std::string& mrn) {
    std::vector<std::string> out;
    json::object patient = Patient(mrn);
    if (auto* links = patient.if_contains("link")) {
      for (const auto& link : links->as_array()) {
        out.push_back(Str(link.at("type")) + " " + Str(link.at("other").at("reference")));
      }
    }
    return out;
  }

  bool Active(const std::string& mrn) {
    json::object patient = Patient(mrn);
    auto* active = patient.if_contains("active");
    return !active || active->as_bool();
  }

  // How many versions the store holds in all (system history's total).
  int64_t AllVersions() {
    auto bundle = TestServer::Json(server_.Get("/fhir/_history?_count=1"));
    return bundle.at("total").as_int64();
  }

  TestServer server_;
};

TEST_F(FeedsMergeTest, AMergeIntoThePatientMergedIntoTheLoserIsACycleAndIsRefused) {
  Applied(Admit("X1", "20260301100000+0000", "S1M0003", "V1"));
  Applied(Admit("X2", "20260301110000+0000", "S3M0010", "V2"));
  Applied(Merge("X4", "20260302100000+0000", "S3M0010", "S1M0003"));
  const std::string survivor = PatientRef("S3M0010");
  const std::string loser = PatientRef("S1M0003");
  ASSERT_EQ(Links("S1M0003"), (std::vector<std::string>{"replaced-by " + survivor}));
  const int64_t versions = AllVersions();

  // The other way round: S1M0003 was merged into S3M0010, so it cannot take S3M0010 in.
  ProcessedMessage cycle = Send(Merge("X5", "20260302110000+0000", "S1M0003", "S3M0010"));
  ASSERT_TRUE(cycle.refused.has_value());
  EXPECT_FALSE(cycle.failed.has_value());
  EXPECT_EQ(cycle.refused->condition, hl7v2::ErrorCondition::kUnknownKeyIdentifier);
  EXPECT_EQ(cycle.refused->location.segment_id, "PID");
  EXPECT_EQ(cycle.refused->location.field, 3);
  EXPECT_NE(cycle.refused->reason.find("PID-3 S1M0003"), std::string::npos)
      << cycle.refused->reason;
  EXPECT_NE(cycle.refused->reason.find("MRG-1 S3M0010"), std::string::npos);
  EXPECT_NE(cycle.refused->reason.find("cycle"), std::string::npos);
  // Nothing written: the first merge stands.
  EXPECT_EQ(AllVersions(), versions);
  EXPECT_TRUE(Active("S3M0010"));
  EXPECT_EQ(Links("S3M0010"), (std::vector<std::string>{"replaces " + loser}));
  EXPECT_FALSE(Active("S1M0003"));
  EXPECT_EQ(Links("S1M0003"), (std::vector<std::string>{"replaced-by " + survivor}));
  EXPECT_EQ(SubjectOf("V1"), survivor);
  EXPECT_EQ(SubjectOf("V2"), survivor);

  // ApplyMappedMessage says the same, as an error that is not retried.
  const std::string x5 = Merge("X5", "20260302110000+0000", "S1M0003", "S3M0010");
  auto message = hl7v2::ParseMessage(std::string_view(x5));
  ASSERT_TRUE(message.ok());
  mapping::FeedContext context{"rx1-pas", "RX1", "RX1HOSP", 1, "X5"};
  auto mapped = mapping::MapMessage(message.value(), context);
  ASSERT_TRUE(mapped.ok());
  auto applied = ApplyMappedMessage(server_.service(), mapped.value(), context);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, base::ErrorCode::kUnprocessable);
  EXPECT_NE(applied.error().message.find("PID-3 S1M0003"), std::string::npos);
  EXPECT_EQ(AllVersions(), versions);
}

TEST_F(FeedsMergeTest, AMergeIntoAPatientMergedIntoAThirdIsRefusedNamingWhereItWent) {
  Applied(Admit("A1", "20260301100000+0000", "M1", "V1"));
  Applied(Admit("A2", "20260301100000+0000", "M2", "V2"));
  Applied(Admit("A3", "20260301100000+0000", "M3", "V3"));
  Applied(Merge("B1", "20260302100000+0000", "M2", "M1"));  // M1 into M2
  const int64_t versions = AllVersions();
  ProcessedMessage into_merged = Send(Merge("B2", "20260302110000+0000", "M1", "M3"));
  ASSERT_TRUE(into_merged.refused.has_value());
  EXPECT_EQ(into_merged.refused->location.segment_id, "PID");
  EXPECT_EQ(into_merged.refused->location.field, 3);
  const std::string& reason = into_merged.refused->reason;
  EXPECT_NE(reason.find("PID-3 M1 was itself merged away"), std::string::npos) << reason;
  EXPECT_NE(reason.find("M2, " + PatientRef("M2")), std::string::npos) << reason;
  EXPECT_EQ(AllVersions(), versions);
  EXPECT_TRUE(Active("M3"));
  EXPECT_TRUE(Links("M3").empty());
  EXPECT_EQ(SubjectOf("V3"), PatientRef("M3"));
  // Also when the loser is not in the record: the survivor is still merged away.
  ProcessedMessage absent_loser = Send(Merge("B3", "20260302120000+0000", "M1", "M404"));
  ASSERT_TRUE(absent_loser.refused.has_value());
  EXPECT_NE(absent_loser.refused->reason.find("PID-3 M1"), std::string::npos);
  EXPECT_EQ(AllVersions(), versions);
}

TEST_F(FeedsMergeTest, ALoserAlreadyMergedIntoAnotherPatientIsRefused) {
  Applied(Admit("A1", "20260301100000+0000", "M1", "V1"));
  Applied(Admit("A2", "20260301100000+0000", "M2", "V2"));
  Applied(Admit("A3", "20260301100000+0000", "M3", "V3"));
  Applied(Merge("B1", "20260302100000+0000", "M2", "M1"));  // M1 into M2
  const int64_t versions = AllVersions();
  ProcessedMessage again = Send(Merge("B2", "20260302110000+0000", "M3", "M1"));  // M1 into M3
  ASSERT_TRUE(again.refused.has_value());
  EXPECT_EQ(again.refused->condition, hl7v2::ErrorCondition::kUnknownKeyIdentifier);
  EXPECT_EQ(again.refused->location.segment_id, "MRG");
  EXPECT_EQ(again.refused->location.field, 1);
  EXPECT_NE(again.refused->reason.find("MRG-1 M1 was merged into another patient already"),
            std::string::npos)
      << again.refused->reason;
  EXPECT_NE(again.refused->reason.find("M2, " + PatientRef("M2")), std::string::npos);
  EXPECT_EQ(AllVersions(), versions);
  EXPECT_EQ(Links("M1"), (std::vector<std::string>{"replaced-by " + PatientRef("M2")}));
  EXPECT_EQ(SubjectOf("V1"), PatientRef("M2"));
  EXPECT_TRUE(Links("M3").empty());
}

// Hostile round 8 L7: the loser's NHS number is the person's. A survivor with none takes it (a
// search by NHS number found only the retired record); one that holds its own keeps it.
TEST_F(FeedsMergeTest, ASurvivorWithNoNhsNumberTakesTheLosers) {
  const std::string nhs = "9434765919";
  Applied(Adt("A28", "N1", "20260301100000+0000",
              {"PID|1|" + nhs + "^^^NHS^NH|M2^^^RX1PAS^MR||SMITH^JANE||19800214|F"}));
  Applied(Adt("A28", "N2", "20260301100000+0000", {Pid("M1")}));
  Applied(Merge("N3", "20260302100000+0000", "M1", "M2"));
  const auto number_of = [](const json::object& patient) {
    for (const auto& identifier : patient.at("identifier").as_array()) {
      if (identifier.at("system") == "https://fhir.nhs.uk/Id/nhs-number") {
        return Str(identifier.at("value"));
      }
    }
    return std::string();
  };
  EXPECT_EQ(number_of(Patient("M1")), nhs);
  // The active Patient with that number: the survivor.
  EXPECT_EQ(Str(One("Patient", "active=true&identifier=https://fhir.nhs.uk/Id/nhs-number%7C" + nhs)
                    .at("id")),
            Str(Patient("M1").at("id")));
  // A survivor holding its own keeps it.
  const std::string other = "9000000009";
  Applied(Adt("A28", "N4", "20260301100000+0000",
              {"PID|1|" + nhs + "^^^NHS^NH|M4^^^RX1PAS^MR||SMITH^JANE||19800214|F"}));
  Applied(Adt("A28", "N5", "20260301100000+0000",
              {"PID|1|" + other + "^^^NHS^NH|M3^^^RX1PAS^MR||SMITH^JANE||19800214|F"}));
  Applied(Merge("N6", "20260302100000+0000", "M3", "M4"));
  EXPECT_EQ(number_of(Patient("M3")), other);
}

// Hostile round 11: the loser's seealso and refer links are a user's, kept through the merge.
TEST_F(FeedsMergeTest, TheLosersOwnLinksStay) {
  Applied(Adt("A28", "K1", "20260301100000+0000", {Pid("M2")}));
  Applied(Adt("A28", "K2", "20260301100000+0000", {Pid("M1")}));
  ASSERT_EQ(server_.Send("PUT", "/fhir/Patient/other", R"({"resourceType":"Patient","id":"other"})")
                .status,
            201);
  json::object loser = Patient("M2");
  loser["link"] =
      json::array{json::object{{"type", "seealso"}, {"other", {{"reference", "Patient/other"}}}}};
  ASSERT_EQ(
      server_.Send("PUT", "/fhir/Patient/" + Str(loser.at("id")), json::serialize(loser)).status,
      200);
  Applied(Merge("K3", "20260302100000+0000", "M1", "M2"));
  EXPECT_EQ(Links("M2"),
            (std::vector<std::string>{"replaced-by " + PatientRef("M1"), "seealso Patient/other"}));
}

TEST_F(FeedsMergeTest, TwoIdentifiersOfOnePatientCannotMergeIntoEachOther) {
  // One Patient the record holds under two of this source's identity systems (written by the
  // server's own work, a load: the mapping gives each PID one identity, and a client may not
  // give a resource a feed's identifier).
  json::object patient{
      {"resourceType", "Patient"},
      {"identifier",
       json::array{
           json::object{{"system", "urn:carerecord:source:RX1:mrn:RX1PAS"}, {"value", "M100"}},
           json::object{{"system", "urn:carerecord:source:RX1:mrn:RX1ALT"}, {"value", "X5"}}}}};
  auto created = server_.CreateAsServer("Patient", json::serialize(patient));
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t versions = AllVersions();
  ProcessedMessage itself =
      Send(Adt("A40", "B1", "20260302110000+0000", {Pid("M100"), "MRG|X5^^^RX1ALT^MR"}));
  ASSERT_TRUE(itself.refused.has_value());
  EXPECT_EQ(itself.refused->location.segment_id, "MRG");
  EXPECT_EQ(itself.refused->location.field, 1);
  EXPECT_NE(itself.refused->reason.find("one patient"), std::string::npos)
      << itself.refused->reason;
  EXPECT_EQ(AllVersions(), versions);
  // The same identifier in PID-3 and MRG-1 is the mapping's refusal.
  ProcessedMessage same = Send(Merge("B2", "20260302110000+0000", "M100", "M100"));
  ASSERT_TRUE(same.refused.has_value());
  EXPECT_EQ(same.refused->location.segment_id, "MRG");
  EXPECT_NE(same.refused->reason.find("itself"), std::string::npos);
  EXPECT_EQ(AllVersions(), versions);
}

TEST_F(FeedsMergeTest, AChainOfMergesEndsWithEverythingOnTheLastSurvivor) {
  Applied(Admit("A1", "20260301100000+0000", "MA", "VA"));
  Applied(Admit("A2", "20260301100000+0000", "MB", "VB"));
  Applied(Admit("A3", "20260301100000+0000", "MC", "VC"));
  const std::string a = PatientRef("MA"), b = PatientRef("MB"), c = PatientRef("MC");
  const std::string a_into_b = Merge("B1", "20260302100000+0000", "MB", "MA");
  Applied(a_into_b);
  Applied(Merge("B2", "20260303100000+0000", "MC", "MB"));
  EXPECT_TRUE(Active("MC"));
  EXPECT_FALSE(Active("MB"));
  EXPECT_FALSE(Active("MA"));
  EXPECT_EQ(Links("MC"), (std::vector<std::string>{"replaces " + b}));
  EXPECT_EQ(Links("MB"), (std::vector<std::string>{"replaced-by " + c}));
  EXPECT_EQ(Links("MA"), (std::vector<std::string>{"replaced-by " + b}));
  for (const char* visit : {"VA", "VB", "VC"}) EXPECT_EQ(SubjectOf(visit), c) << visit;
  auto everything = TestServer::Json(server_.Get("/fhir/" + c + "/$everything"));
  size_t encounters = 0;
  for (const auto& e : everything.at("entry").as_array()) {
    encounters += Str(e.at("resource").at("resourceType")) == "Encounter";
  }
  EXPECT_EQ(encounters, 3u);

  // The first merge again changes nothing (it was applied; its survivor has moved on since).
  const int64_t versions = AllVersions();
  ProcessedMessage resent = Send(a_into_b);
  EXPECT_FALSE(resent.refused) << resent.refused->ToString();
  EXPECT_FALSE(resent.failed);
  EXPECT_TRUE(resent.outcome.written.empty());
  EXPECT_EQ(AllVersions(), versions);

  // A later visit of MA, two merges back, is recorded on MC, not on inactive MB.
  Applied(Admit("A4", "20260304100000+0000", "MA", "VA2"));
  EXPECT_EQ(SubjectOf("VA2"), c);
  EXPECT_EQ(Links("MA"), (std::vector<std::string>{"replaced-by " + b}));
}

// Through the inbox as the server runs it: the refused merge is `error` with its reason, a
// reprocess refuses it again while the record is as it was, and applies it once corrected.
TEST_F(FeedsMergeTest, ARefusedMergeStaysInTheErrorQueueUntilReprocessedAfterACorrection) {
  namespace fs = std::filesystem;
  std::random_device random;
  const fs::path dir =
      fs::temp_directory_path() /
      ("carerecord-merge-inbox-" + std::to_string(random()) + std::to_string(random()));
  {
    InboxOptions options;
    options.durable = false;
    auto opened = OpenInbox(dir.string(), options);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    std::unique_ptr<Inbox> inbox = std::move(opened).value();
    FeedRecord feed;
    feed.name = "rx1-pas";
    feed.facility = "RX1HOSP";
    feed.ods_code = "RX1";
    ASSERT_TRUE(inbox->AddFeed(feed).ok());
    MappingProcessor processor(server_.service());
    // What the inbox worker does with what is waiting.
    auto drain = [&] {
      auto waiting = inbox->NextReceived(0, 100);
      ASSERT_TRUE(waiting.ok());
      std::vector<base::Status> outcomes = processor.ProcessBatch(*waiting);
      std::vector<Inbox::Mark> marks;
      for (size_t i = 0; i < waiting->size(); ++i) {
        Inbox::Mark mark{(*waiting)[i].id, std::nullopt, {}};
        if (!outcomes[i].ok()) mark.error = outcomes[i].error().message;
        marks.push_back(std::move(mark));
      }
      ASSERT_TRUE(inbox->MarkProcessed(marks).ok());
    };
    auto receive = [&](const std::string& control_id, const std::string& raw) {
      IncomingMessage m{raw, "PAS", "RX1HOSP", control_id, "ADT"};
      auto received = inbox->Receive(m);
      ASSERT_TRUE(received.ok());
      ASSERT_EQ(received->outcome, ReceiveOutcome::kStored);
    };
    receive("A1", Admit("A1", "20260301100000+0000", "M1", "V1"));
    receive("A2", Admit("A2", "20260301100000+0000", "M2", "V2"));
    receive("A3", Admit("A3", "20260301100000+0000", "M3", "V3"));
    receive("B1", Merge("B1", "20260302100000+0000", "M2", "M1"));
    receive("B2", Merge("B2", "20260302110000+0000", "M1", "M3"));  // into merged-away M1
    drain();
    auto errors = inbox->ListErrors(10);
    ASSERT_TRUE(errors.ok());
    ASSERT_EQ(errors->size(), 1u);
    EXPECT_EQ(errors->front().control_id, "B2");
    EXPECT_EQ(errors->front().state, "error");
    EXPECT_NE(errors->front().reason.find("PID-3 M1 was itself merged away"), std::string::npos)
        << errors->front().reason;
    EXPECT_EQ(inbox->Stats()->front().accepted, 4);

    // Reprocessed as the record stands: refused again, still in the queue.
    EXPECT_EQ(inbox->Reprocess(errors->front().id).value(), 1);
    drain();
    ASSERT_EQ(inbox->ListErrors(10)->size(), 1u);
    EXPECT_EQ(inbox->ListErrors(10)->front().attempts, 2);

    // The first merge undone (M1 active again, no link: by the server's own work, as the patient
    // index would; a client may not write merge links), then reprocessed: applied.
    json::object m1 = Patient("M1");
    m1.erase("link");
    m1["active"] = true;
    interactions::RequestContext unmerge;
    unmerge.who.principal = "system:test";
    unmerge.base_url = server_.base();
    auto put =
        server_.service().Update(unmerge, "Patient", Str(m1.at("id")), json::serialize(m1), "");
    ASSERT_EQ(put.status, 200) << put.body;
    EXPECT_EQ(inbox->Reprocess(errors->front().id).value(), 1);
    drain();
    EXPECT_TRUE(inbox->ListErrors(10)->empty());
    EXPECT_EQ(Links("M3"), (std::vector<std::string>{"replaced-by " + PatientRef("M1")}));
    EXPECT_EQ(SubjectOf("V3"), PatientRef("M1"));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// Hostile round 6a, finding 11: an A40 whose MRG-1 the source never sent was AA and changed
// nothing. There is nothing to merge: it is refused at MRG-1 (204) and nothing is written, not
// even the survivor; once the loser is known the same message merges.
TEST_F(FeedsMergeTest, AMergeOfAPatientTheSourceNeverSentIsRefusedAtMrg1) {
  Applied(Admit("U1", "20260301100000+0000", "S9M0001", "V91"));
  const int64_t versions = AllVersions();
  const std::string unknown_merge = Merge("U2", "20260302100000+0000", "S9M0001", "S9ZZ");
  ProcessedMessage refused = Send(unknown_merge);
  ASSERT_TRUE(refused.refused);
  EXPECT_EQ(refused.refused->condition, hl7v2::ErrorCondition::kUnknownKeyIdentifier);
  EXPECT_EQ(refused.refused->location.segment_id, "MRG");
  EXPECT_EQ(refused.refused->location.field, 1);
  EXPECT_NE(refused.refused->reason.find("MRG-1 S9ZZ names no patient"), std::string::npos)
      << refused.refused->reason;
  EXPECT_EQ(AllVersions(), versions);
  // A survivor the record does not hold either is not created by the refused merge.
  ProcessedMessage both_unknown = Send(Merge("U3", "20260302110000+0000", "S9NEW", "S9ZZ"));
  ASSERT_TRUE(both_unknown.refused);
  EXPECT_EQ(AllVersions(), versions);
  // Once the source has sent the loser, the same A40 merges.
  Applied(Admit("U4", "20260301090000+0000", "S9ZZ", "V92"));
  Applied(unknown_merge);
  EXPECT_EQ(Links("S9ZZ"), (std::vector<std::string>{"replaced-by " + PatientRef("S9M0001")}));
  EXPECT_EQ(SubjectOf("V92"), PatientRef("S9M0001"));
}

}  // namespace
}  // namespace carerecord::feeds
