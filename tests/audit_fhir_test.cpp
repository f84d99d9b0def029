// The FHIR routes with the durable audit log: each request that returned, changed or was refused
// patient data has its entry before it is answered, and one that cannot be recorded is a 503
// with nothing of what was read.

#include <gtest/gtest.h>

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
  ASSERT_EQ(Entries().size(), 1u);  // durable before Handle returned

  auto read = Send("GET", "/fhir/Patient/" + id);
  ASSERT_EQ(read.status, 200);
  auto searched = Send("GET", "/fhir/Patient?family=Zebedee");
  ASSERT_EQ(searched.status, 200);
  // Nothing of a patient returned: no entry.
  ASSERT_EQ(Send("GET", "/fhir/metadata").status, 200);
  ASSERT_EQ(Send("GET", "/fhir/Patient?family=Nobody").status, 200);

  const auto entries = Entries();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].action, "create");
  EXPECT_EQ(entries[0].resources, std::vector<std::string>{"Patient/" + id});
  EXPECT_EQ(entries[0].status, 201);
  EXPECT_EQ(entries[0].method, "POST");

  const audit::AuditRecord& entry = entries[1];
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

  EXPECT_EQ(entries[2].action, "search");
  EXPECT_EQ(entries[2].path, "/fhir/Patient?family=Zebedee");
  EXPECT_EQ(entries[2].items, 1);
  EXPECT_EQ(audit::testing::Verify(dir_.path()).Summary(), "ok 3 entries");
}

TEST_F(AuditedFhir, ARefusedRequestHasItsEntry) {
  Open();
  const std::string id = CreatePatient();
  who_.kind = access::PrincipalKind::kClient;
  who_.scopes = std::make_shared<const access::ScopeSet>(
      access::ScopeSet::Parse("system/Observation.rs").value());
  ASSERT_EQ(Send("GET", "/fhir/Patient/" + id).status, 403);
  const auto entries = Entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].outcome, "refused");
  EXPECT_EQ(entries[1].status, 403);
  EXPECT_EQ(entries[1].patients, std::vector<std::string>{id});
  EXPECT_EQ(entries[1].items, 0);
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

}  // namespace
}  // namespace carerecord
