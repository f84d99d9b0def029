// The FHIR routes with the durable audit log: each request that returned, changed or was refused
// patient data has its entry before it is answered, and one that cannot be recorded is a 503
// with nothing of what was read.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <memory>

#include "access/access_context.h"
#include "access/scope_policy.h"
#include "access/scopes.h"
#include "audit/audit_log.h"
#include "audit/audit_log_sink.h"
#include "audit/audit_reports.h"
#include "audit/audit_test_support.h"
#include "http/fhir_routes.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace carerecord {
namespace {

using audit::testing::TempDir;

class AuditedFhir : public ::testing::Test {
 protected:
  void Open(int64_t max_page_count = 0) {
    store::SqliteOptions store_options;
    store_options.directory = dir_.path().string();
    store_options.durable = false;
    store_ = std::move(store::OpenSqliteStore(store_options)).value();
    service_ = std::make_unique<interactions::FhirService>(*store_, policy_, nullptr);
    audit::AuditLogOptions options;
    options.directory = dir_.path();
    options.durable = false;
    options.max_page_count = max_page_count;
    auto log = audit::AuditLog::Open(options);
    ASSERT_TRUE(log.ok()) << log.error().message;
    log_ = std::move(log).value();
    sink_ = std::make_unique<audit::AuditLogRequestSink>(*log_);
    routes_ = std::make_unique<http::FhirRoutes>(
        *service_, http::FhirRouteOptions{"http://record.example/fhir", sink_.get()});
    who_.principal = "user:alice";
    who_.kind = access::PrincipalKind::kUser;
    who_.user = "alice";
    who_.client_id = "portal";
    who_.organisation = "A81001";
    who_.role = "clinician";
  }
  void TearDown() override {
    routes_.reset();
    if (log_) log_->Close();
    if (store_) store_->Close();
  }

  http::HttpResponse Send(std::string method, std::string target, std::string body = {}) {
    http::HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.body = std::move(body);
    if (!request.body.empty())
      request.headers.emplace_back("content-type", "application/fhir+json");
    request.remote_address = "10.0.0.7";
    request.local_address = "127.0.0.1:8080";
    return routes_->Handle(request, who_);
  }

  std::vector<audit::AuditRecord> Entries() {
    auto entries = audit::ReadAuditEntries(dir_.path(), 0);
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? entries.value() : std::vector<audit::AuditRecord>{};
  }

  std::string CreatePatient() {
    auto created = Send("POST", "/fhir/Patient",
                        R"({"resourceType":"Patient","name":[{"family":"Zebedee"}]})");
    EXPECT_EQ(created.status, 201) << created.body;
    auto body = boost::json::parse(created.body).as_object();
    return std::string(body.at("id").as_string());
  }

  TempDir dir_;
  access::OpenPolicy policy_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<interactions::FhirService> service_;
  std::unique_ptr<audit::AuditLog> log_;
  std::unique_ptr<audit::AuditLogRequestSink> sink_;
  std::unique_ptr<http::FhirRoutes> routes_;
  access::AccessContext who_;
};

TEST_F(AuditedFhir, EachRequestThatReturnsOrChangesPatientDataHasItsEntryBeforeItsAnswer) {
  Open();
  const std::string id = CreatePatient();
  ASSERT_EQ(Entries().size(), 2u);  // durable before Handle returned

  auto read = Send("GET", "/fhir/Patient/" + id);
  ASSERT_EQ(read.status, 200);
  auto searched = Send("GET", "/fhir/Patient?family=Zebedee");
  ASSERT_EQ(searched.status, 200);
  // Metadata is public: no entry.
  ASSERT_EQ(Send("GET", "/fhir/metadata").status, 200);

  const auto entries = Entries();
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].action, "write-attempt");  // durable before the create ran
  EXPECT_EQ(entries[0].detail, "intends create");
  EXPECT_EQ(entries[0].outcome, "pending");
  EXPECT_EQ(entries[0].path, "/fhir/Patient");
  EXPECT_EQ(entries[0].principal, "user:alice");
  EXPECT_EQ(entries[0].address, "10.0.0.7");
  EXPECT_TRUE(entries[0].resources.empty());
  const std::vector<audit::AuditRecord> outcomes(entries.begin() + 1, entries.end());
  EXPECT_EQ(outcomes[0].action, "create");
  EXPECT_EQ(outcomes[0].resources, std::vector<std::string>{"Patient/" + id});
  EXPECT_EQ(outcomes[0].status, 201);
  EXPECT_EQ(outcomes[0].method, "POST");

  const audit::AuditRecord& entry = outcomes[1];
  EXPECT_EQ(entry.action, "read");
  EXPECT_EQ(entry.principal, "user:alice");
  EXPECT_EQ(entry.user, "alice");
  EXPECT_EQ(entry.client, "portal");
  EXPECT_EQ(entry.organisation, "A81001");
  EXPECT_EQ(entry.role, "clinician");
  EXPECT_EQ(entry.patients, std::vector<std::string>{id});
  EXPECT_EQ(entry.resources, std::vector<std::string>{"Patient/" + id});
  EXPECT_EQ(entry.items, 1);
  EXPECT_EQ(entry.purpose, "TREAT");
  EXPECT_EQ(entry.outcome, "success");
  EXPECT_EQ(entry.status, 200);
  EXPECT_EQ(entry.method, "GET");
  EXPECT_EQ(entry.path, "/fhir/Patient/" + id);
  EXPECT_EQ(entry.address, "10.0.0.7");

  EXPECT_EQ(outcomes[2].action, "search");
  EXPECT_EQ(outcomes[2].path, "/fhir/Patient?family=Zebedee");
  EXPECT_EQ(outcomes[2].items, 1);
  EXPECT_EQ(audit::testing::Verify(dir_.path()).Summary(), "ok 4 entries");
}

TEST_F(AuditedFhir, SearchesThatReturnNoItemCountsAndFailuresHaveTheirEntries) {
  Open();
  CreatePatient();
  const size_t before = Entries().size();
  const std::vector<std::string> targets = {
      "/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|0000000000",
      "/fhir/Patient?_summary=count", "/fhir/Patient?family=Zebedee&_count=0&_total=accurate"};
  for (const std::string& target : targets) ASSERT_EQ(Send("GET", target).status, 200) << target;
  auto entries = Entries();
  ASSERT_EQ(entries.size(), before + 3);
  for (size_t i = 0; i < 3; ++i) {
    const audit::AuditRecord& entry = entries[before + i];
    EXPECT_EQ(entry.action, "search");
    EXPECT_EQ(entry.path, targets[i]);
    EXPECT_EQ(entry.principal, "user:alice");
    EXPECT_EQ(entry.outcome, "success");
    EXPECT_EQ(entry.items, 0);
    EXPECT_EQ(entry.detail, i == 0 ? "returned 0" : "total 1") << entry.path;
  }
  // A request that failed (here a body that is not a resource) has its intent and its outcome.
  ASSERT_EQ(Send("POST", "/fhir/Patient", "{not json").status, 400);
  entries = Entries();
  ASSERT_EQ(entries.size(), before + 5);
  EXPECT_EQ(entries[before + 3].action, "write-attempt");
  EXPECT_EQ(entries[before + 4].action, "create");
  EXPECT_EQ(entries[before + 4].outcome, "failed");
  EXPECT_EQ(entries[before + 4].status, 400);
}

TEST_F(AuditedFhir, AWriteThatCannotBeRecordedIs503AndChangesNothing) {
  Open(12);
  const std::string id = CreatePatient();
  audit::testing::FillAuditLog(*log_);
  ASSERT_FALSE(log_->Append(audit::AuditRecord{}).ok());

  const std::string patient = R"({"resourceType":"Patient","name":[{"family":"Yarrow"}]})";
  const std::string updated =
      R"({"resourceType":"Patient","id":")" + id + R"(","name":[{"family":"Yarrow"}]})";
  const std::string elsewhere =
      R"({"resourceType":"Patient","id":"new1","name":[{"family":"Yarrow"}]})";
  const std::string transaction =
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1",)"
      R"("resource":{"resourceType":"Patient","name":[{"family":"Yarrow"}]},)"
      R"("request":{"method":"POST","url":"Patient"}}]})";
  struct Write {
    std::string method, target, body;
  } writes[] = {
      {"POST", "/fhir/Patient", patient},       {"PUT", "/fhir/Patient/" + id, updated},
      {"PUT", "/fhir/Patient/new1", elsewhere}, {"PUT", "/fhir/Patient?family=Zebedee", updated},
      {"DELETE", "/fhir/Patient/" + id, ""},    {"DELETE", "/fhir/Patient?family=Zebedee", ""},
      {"POST", "/fhir", transaction},
  };
  for (const Write& write : writes) {
    auto answer = Send(write.method, write.target, write.body);
    EXPECT_EQ(answer.status, 503) << write.method << " " << write.target;
    EXPECT_NE(answer.body.find("OperationOutcome"), std::string::npos);
    EXPECT_NE(answer.body.find("nothing was changed"), std::string::npos) << answer.body;
    EXPECT_EQ(answer.Header("retry-after"), "1");
  }
  // Read past the audit: nothing of those writes is stored.
  http::FhirRoutes unaudited(*service_, http::FhirRouteOptions{"http://record.example/fhir"});
  http::HttpRequest read;
  read.method = "GET";
  read.target = "/fhir/Patient/" + id;
  auto kept = unaudited.Handle(read, who_);
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_NE(kept.body.find("Zebedee"), std::string::npos);
  EXPECT_NE(kept.body.find(R"("versionId":"1")"), std::string::npos) << kept.body;
  read.target = "/fhir/Patient/new1";
  EXPECT_EQ(unaudited.Handle(read, who_).status, 404);
  read.target = "/fhir/Patient?family=Yarrow&_total=accurate";
  auto none = unaudited.Handle(read, who_);
  ASSERT_EQ(none.status, 200);
  EXPECT_EQ(boost::json::parse(none.body).as_object().at("total").as_int64(), 0) << none.body;
}

TEST_F(AuditedFhir, ARefusedRequestHasItsEntry) {
  Open();
  const std::string id = CreatePatient();
  who_.kind = access::PrincipalKind::kClient;
  who_.scopes = std::make_shared<const access::ScopeSet>(
      access::ScopeSet::Parse("system/Observation.rs").value());
  ASSERT_EQ(Send("GET", "/fhir/Patient/" + id).status, 403);
  const auto entries = Entries();
  ASSERT_EQ(entries.size(), 3u);  // the create's intent and outcome, the refusal
  EXPECT_EQ(entries[2].outcome, "refused");
  EXPECT_EQ(entries[2].status, 403);
  EXPECT_EQ(entries[2].patients, std::vector<std::string>{id});
  EXPECT_EQ(entries[2].items, 0);
}

TEST_F(AuditedFhir, WhenTheLogCannotBeWrittenTheAnswerIs503WithNothingRead) {
  Open(12);
  const std::string id = CreatePatient();
  // Fill the log's database to its limit.
  audit::testing::FillAuditLog(*log_);
  ASSERT_FALSE(log_->Append(audit::AuditRecord{}).ok());

  for (const std::string& target :
       {"/fhir/Patient/" + id, std::string("/fhir/Patient?family=Zebedee"),
        "/fhir/Patient/" + id + "/$everything"}) {
    auto answer = Send("GET", target);
    EXPECT_EQ(answer.status, 503) << target;
    EXPECT_EQ(answer.body.find("Zebedee"), std::string::npos) << answer.body;
    EXPECT_EQ(answer.body.find(id), std::string::npos) << answer.body;
    EXPECT_NE(answer.body.find("OperationOutcome"), std::string::npos);
    EXPECT_EQ(answer.Header("retry-after"), "1");
  }
  EXPECT_EQ(Send("GET", "/fhir/metadata").status, 200);  // no patient data: not audited
}

// The hostile tester's case: another connection holds an exclusive lock on the log's database
// while a write comes in (the log waits its busy timeout, a few seconds, then gives up).
TEST_F(AuditedFhir, AWriteWhileTheLogIsLockedIs503AndChangesNothing) {
  Open();
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / audit::kAuditDatabaseFile).string().c_str(), &other),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE; SELECT 1;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  auto answer =
      Send("POST", "/fhir/Patient", R"({"resourceType":"Patient","name":[{"family":"Locked"}]})");
  EXPECT_EQ(answer.status, 503) << answer.body;
  EXPECT_NE(answer.body.find("nothing was changed"), std::string::npos) << answer.body;
  ASSERT_EQ(sqlite3_exec(other, "COMMIT;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  http::FhirRoutes unaudited(*service_, http::FhirRouteOptions{"http://record.example/fhir"});
  http::HttpRequest search;
  search.method = "GET";
  search.target = "/fhir/Patient?family=Locked&_total=accurate";
  auto found = unaudited.Handle(search, who_);
  ASSERT_EQ(found.status, 200);
  EXPECT_EQ(boost::json::parse(found.body).as_object().at("total").as_int64(), 0) << found.body;
  EXPECT_TRUE(Entries().empty());
  // Once the lock is gone, writes are recorded and run again.
  EXPECT_EQ(
      Send("POST", "/fhir/Patient", R"({"resourceType":"Patient","name":[{"family":"Locked"}]})")
          .status,
      201);
  EXPECT_EQ(Entries().size(), 2u);
}

TEST_F(AuditedFhir, BreakGlassAndDeclarationsAreListedForReview) {
  Open();
  audit::AuditRecord glass = audit::testing::SampleRecord(1);
  glass.action = "break-glass";
  glass.purpose = "BTG";
  glass.reason = "unconscious in A&E\nsecond line";
  audit::AuditRecord declared = audit::testing::SampleRecord(2);
  declared.action = "declare-relationship";
  declared.reason = "new referral";
  ASSERT_TRUE(log_->Append(glass).ok());
  ASSERT_TRUE(log_->Append(declared).ok());
  ASSERT_TRUE(log_->Append(audit::testing::SampleRecord(3)).ok());
  auto entries = audit::ReadAuditEntries(dir_.path(), 0).value();
  const std::string table =
      audit::FormatEvents(entries, "break-glass", audit::ReportFormat::kTable);
  EXPECT_NE(table.find("\"unconscious in A&E\\nsecond line\""), std::string::npos) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2);  // header and one row
  const std::string json =
      audit::FormatEvents(entries, "declare-relationship", audit::ReportFormat::kJson);
  auto line = boost::json::parse(json).as_object();
  EXPECT_EQ(line.at("reason").as_string(), "new referral");
  EXPECT_EQ(line.at("user").as_string(), "user2");
}

// A reason with bidirectional controls (kept before they were refused, or from another source)
// is listed with them escaped, in the table and in JSON: raw, U+202E would reorder the row on a
// terminal (hostile 5b finding 13).
TEST_F(AuditedFhir, BidirectionalControlsInAReasonAreListedEscaped) {
  Open();
  audit::AuditRecord glass = audit::testing::SampleRecord(1);
  glass.action = "break-glass";
  glass.purpose = "BTG";
  // U+202E, U+2066, U+2069, U+200F and U+061C around plain text, and an e-acute that stays.
  glass.reason = "caf\u00e9 \u202eevil\u2066x\u2069\u200f\u061c";
  ASSERT_TRUE(log_->Append(glass).ok());
  auto entries = audit::ReadAuditEntries(dir_.path(), 0).value();
  const std::string table =
      audit::FormatEvents(entries, "break-glass", audit::ReportFormat::kTable);
  const std::string json = audit::FormatEvents(entries, "break-glass", audit::ReportFormat::kJson);
  for (const std::string& out : {table, json}) {
    for (const char* raw : {"\u202e", "\u2066", "\u2069", "\u200f", "\u061c"}) {
      EXPECT_EQ(out.find(raw), std::string::npos) << out;
    }
    EXPECT_NE(out.find(R"(\u202eevil\u2066x\u2069\u200f\u061c)"), std::string::npos) << out;
    EXPECT_NE(out.find("caf\u00e9"), std::string::npos) << out;
  }
  EXPECT_NE(table.find(R"("caf)"), std::string::npos) << table;  // quoted as the others are
  // The JSON line still reads back as the reason kept.
  EXPECT_EQ(boost::json::parse(json).at("reason").as_string(), glass.reason);
}

}  // namespace
}  // namespace carerecord
