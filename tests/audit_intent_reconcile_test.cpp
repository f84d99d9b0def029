// Write intents left without an outcome entry by a stop between the record's commit and the
// outcome's append (hostile round 6b, finding 4): the start reconciles each from what the record
// store holds, once, and the chain still verifies; `carerecord audit intents` lists those left.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "access/access_context.h"
#include "app/written_record.h"
#include "audit/audit_reports.h"
#include "audit/audit_test_support.h"
#include "audit/intent_reconcile.h"
#include "interactions/fhir_service.h"
#include "store/store.h"
#include "tests/carerecord_process.h"

namespace carerecord {
namespace {

using audit::AuditRecord;
using audit::testing::TempDir;

const char kObservation[] =
    R"({"resourceType":"Observation","status":"final","code":{"text":"x"}})";

AuditRecord Intent(const std::string& method, const std::string& path, const std::string& action) {
  AuditRecord r;
  r.principal = "user:ann";
  r.user = "ann";
  r.organisation = "A81001";
  r.role = "clinician";
  r.action = "write-attempt";
  r.outcome = "pending";
  r.detail = "intends " + action;
  r.method = method;
  r.path = path;
  r.address = "10.0.0.7";
  return r;
}

// The outcome entry of `intent` as the server appends it once answered.
AuditRecord Outcome(const AuditRecord& intent, const std::string& action,
                    const std::string& resource) {
  AuditRecord r = intent;
  r.action = action;
  r.outcome = "success";
  r.status = action == "create" ? 201 : 200;
  r.detail.clear();
  r.resources = {resource};
  return r;
}

std::string IdOf(const interactions::Response& response) {
  for (const auto& [name, value] : response.headers) {
    if (name == "Location") {
      std::string id = value.substr(0, value.find("/_history"));
      return id.substr(id.rfind('/') + 1);
    }
  }
  return "";
}

const AuditRecord* Find(const std::vector<AuditRecord>& entries, const std::string& detail_part) {
  auto found = std::find_if(entries.begin(), entries.end(), [&](const AuditRecord& r) {
    return r.detail.find(detail_part) != std::string::npos;
  });
  return found == entries.end() ? nullptr : &*found;
}

class RecordAndLog {
 public:
  RecordAndLog() {
    store::SqliteOptions options;
    options.directory = dir_.path().string();
    options.durable = false;
    store_ = std::move(store::OpenSqliteStore(options)).value();
    service_ = std::make_unique<interactions::FhirService>(*store_, policy_, nullptr);
    ctx_.who.principal = "user:ann";
    ctx_.who.organisation = "A81001";
    ctx_.base_url = "http://localhost/fhir";
    OpenLog();
  }
  ~RecordAndLog() {
    if (log_) log_->Close();
    store_->Close();
  }
  void OpenLog() {
    audit::AuditLogOptions options;
    options.directory = dir_.path();
    options.durable = false;
    log_ = std::move(audit::AuditLog::Open(options)).value();
  }
  void CloseLog() {
    log_->Close();
    log_.reset();
  }
  int64_t Append(const AuditRecord& r) {
    auto seq = log_->Append(r);
    EXPECT_TRUE(seq.ok());
    return seq.ok() ? seq.value() : 0;
  }
  std::string Create() {
    auto made = service_->Create(ctx_, "Observation", kObservation, "");
    EXPECT_EQ(made.status, 201) << made.body;
    return IdOf(made);
  }
  const std::filesystem::path& dir() const { return dir_.path(); }
  audit::AuditLog& log() { return *log_; }
  store::Store& store() { return *store_; }
  interactions::FhirService& service() { return *service_; }
  interactions::RequestContext& ctx() { return ctx_; }

 private:
  TempDir dir_;
  access::OpenPolicy policy_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<interactions::FhirService> service_;
  interactions::RequestContext ctx_;
  std::unique_ptr<audit::AuditLog> log_;
};

TEST(AuditIntentReconcile, EachIntentWithoutOutcomeGetsAnEntrySayingWhatTheRecordHolds) {
  RecordAndLog r;
  const std::string kept = r.Create(), to_update = r.Create();
  // Writes are matched to intents by time, to the millisecond: these two come before any intent.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // A create answered and recorded whole: intent, commit, outcome.
  const AuditRecord answered = Intent("POST", "/fhir/Observation", "create");
  r.Append(answered);
  const std::string answered_id = r.Create();
  r.Append(Outcome(answered, "create", "Observation/" + answered_id));
  // Then the stop: three writes committed after their intent, without an outcome...
  const AuditRecord create = Intent("POST", "/fhir/Observation", "create");
  const int64_t create_seq = r.Append(create);
  const std::string lost_id = r.Create();
  const int64_t update_seq = r.Append(Intent("PUT", "/fhir/Observation/" + to_update, "update"));
  std::string body = kObservation;
  body.insert(1, "\"id\":\"" + to_update + "\",");
  ASSERT_EQ(r.service().Update(r.ctx(), "Observation", to_update, body, "").status, 200);
  // ... one that never ran, and a transaction, which is not looked up by type and id.
  r.Append(Intent("DELETE", "/fhir/Observation/" + kept, "delete"));
  r.Append(Intent("POST", "/fhir", "bundle"));

  app::StoreWrittenRecord record(r.store());
  auto summary = audit::ReconcileIntents(r.log(), r.dir(), record);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->open, 4) << summary->ToString();
  EXPECT_EQ(summary->committed, 2);
  EXPECT_EQ(summary->not_written, 1);
  EXPECT_EQ(summary->unknown, 1);
  EXPECT_TRUE(summary->marked);

  auto entries = audit::ReadAuditEntries(r.dir(), 0);
  ASSERT_TRUE(entries.ok());
  const AuditRecord* created =
      Find(*entries, "intent " + std::to_string(create_seq) + "): created Observation/" + lost_id +
                         "/_history/1");
  ASSERT_NE(created, nullptr) << "the lost create is named, not the answered one";
  EXPECT_EQ(created->action, "create");
  EXPECT_EQ(created->outcome, "success");
  EXPECT_EQ(created->principal, "user:ann");
  EXPECT_EQ(created->organisation, "A81001");
  EXPECT_EQ(created->method, "POST");
  EXPECT_EQ(created->address, "10.0.0.7");
  EXPECT_EQ(created->resources, std::vector<std::string>{"Observation/" + lost_id});
  EXPECT_NE(created->detail.find("outcome not recorded before a stop"), std::string::npos);
  const AuditRecord* updated =
      Find(*entries, "intent " + std::to_string(update_seq) + "): updated Observation/" +
                         to_update + "/_history/2");
  ASSERT_NE(updated, nullptr);
  EXPECT_EQ(updated->action, "update");
  const AuditRecord* not_written = Find(*entries, "not written");
  ASSERT_NE(not_written, nullptr);
  EXPECT_EQ(not_written->outcome, "failed");
  EXPECT_EQ(not_written->path, "/fhir/Observation/" + kept);
  const AuditRecord* bundle = Find(*entries, "is not looked up");
  ASSERT_NE(bundle, nullptr);
  EXPECT_EQ(bundle->outcome, "unknown");
  EXPECT_EQ(entries->back().action, audit::kReconcileAction);
  EXPECT_EQ(entries->back().principal, "system:carerecord");

  // Nothing is left open, and a second start adds nothing.
  auto left = audit::FindIntentsWithoutOutcome(r.dir(), /*whole_log=*/true);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->open.empty());
  const int64_t head = r.log().head_seq();
  auto again = audit::ReconcileIntents(r.log(), r.dir(), record);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->open, 0);
  EXPECT_FALSE(again->marked);
  EXPECT_EQ(r.log().head_seq(), head);

  // The chain verifies with the reconciling entries in it.
  r.CloseLog();
  audit::VerifyOptions verify;
  verify.directory = r.dir();
  auto report = audit::VerifyAuditLog(verify);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->Summary();
}

// A start reads only what came after the last start's marker: an intent before it that is
// still open (a marker written without its reconciling entries: a log from before this check,
// crafted here) is listed by `audit intents` but not reconciled again.
TEST(AuditIntentReconcile, OnlyTheEntriesAfterTheLastMarkerAreReconciled) {
  RecordAndLog r;
  r.Append(Intent("DELETE", "/fhir/Observation/old", "delete"));
  AuditRecord marker;
  marker.principal = "system:carerecord";
  marker.action = audit::kReconcileAction;
  marker.outcome = "success";
  r.Append(marker);
  const int64_t after = r.Append(Intent("DELETE", "/fhir/Observation/new", "delete"));
  app::StoreWrittenRecord record(r.store());
  auto summary = audit::ReconcileIntents(r.log(), r.dir(), record);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->after_seq, after - 1);
  EXPECT_EQ(summary->open, 1);
  EXPECT_EQ(summary->not_written, 1);
  auto left = audit::FindIntentsWithoutOutcome(r.dir(), /*whole_log=*/true);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->open.size(), 1u);
  EXPECT_EQ(left->open[0].record.path, "/fhir/Observation/old");
}

// Two identical requests in flight at once, the first one's outcome lost: the log cannot tell
// which lost it, so the write is looked for from the first one's time.
TEST(AuditIntentReconcile, TheLostOneOfTwoIdenticalRequestsIsFoundFromTheFirstOnesTime) {
  RecordAndLog r;
  const AuditRecord first = Intent("POST", "/fhir/Observation", "create");
  r.Append(first);
  r.Append(Intent("POST", "/fhir/Observation", "create"));
  const std::string lost = r.Create();
  const std::string answered = r.Create();
  r.Append(Outcome(first, "create", "Observation/" + answered));
  app::StoreWrittenRecord record(r.store());
  auto summary = audit::ReconcileIntents(r.log(), r.dir(), record);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->open, 1);
  EXPECT_EQ(summary->committed, 1);
  auto entries = audit::ReadAuditEntries(r.dir(), 0);
  ASSERT_TRUE(entries.ok());
  EXPECT_NE(Find(*entries, "created Observation/" + lost + "/_history/1"), nullptr);
}

// From outside: `audit intents` lists an intent left open, `serve` reconciles it at start, and
// after it the list is empty and `audit verify` passes.
TEST(AuditIntentReconcile, ServeReconcilesAtStartAndAuditIntentsListsWhatIsOpen) {
  TempDir dir;
  {
    audit::AuditLogOptions options;
    options.directory = dir.path();
    options.durable = false;
    auto log = audit::AuditLog::Open(options);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(Intent("DELETE", "/fhir/Observation/gone\nforged", "delete")).ok());
    (*log)->Close();
  }
  const std::string data = " --data " + dir.path().string();
  auto listed = testing::RunCarerecord("audit intents" + data);
  EXPECT_EQ(listed.status, 0) << listed.err;
  EXPECT_EQ(listed.out.rfind("1 ", 0), 0u) << listed.out;
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 2) << listed.out;
  EXPECT_NE(listed.out.find("\"/fhir/Observation/gone\\nforged\""), std::string::npos)
      << listed.out;
  EXPECT_NE(listed.out.find("1 write intent(s) without an outcome"), std::string::npos)
      << listed.out;
  auto json = testing::RunCarerecord("audit intents --format json" + data);
  EXPECT_EQ(json.status, 0);
  EXPECT_EQ(std::count(json.out.begin(), json.out.end(), '\n'), 1) << json.out;

  {
    testing::ServerProcess server(dir.path());
    ASSERT_NE(server.port(), 0) << server.log();
    EXPECT_NE(server.log().find("1 write intent(s) after entry 0 had no outcome"),
              std::string::npos)
        << server.log();
    EXPECT_EQ(server.Stop(), 0);
  }
  auto after = testing::RunCarerecord("audit intents" + data);
  EXPECT_NE(after.out.find("0 write intent(s) without an outcome"), std::string::npos) << after.out;
  auto entries = audit::ReadAuditEntries(dir.path(), 0);
  ASSERT_TRUE(entries.ok());
  const AuditRecord* reconciled = Find(*entries, "not written");
  ASSERT_NE(reconciled, nullptr);
  EXPECT_EQ(reconciled->principal, "user:ann");
  auto verify = testing::RunCarerecord("audit verify" + data);
  EXPECT_EQ(verify.status, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace carerecord
