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
#include "tests/apply_mapped_test_support.h"
#include "tests/test_server.h"

namespace carerecord::feeds {
namespace {

namespace json = boost::json;
using namespace apply_testing;  // NOLINT: the message builders and fixture

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
