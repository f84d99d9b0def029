// A record store served with care relationships, grants, the region policy and the two grant
// operations, for HTTP-level tests of who may read and write which patient's record (issue 20).
// The same stack as tests/access_relationships_test.cpp builds, shared by the tests of grants'
// writes, items outside the compartments that name a patient, tie periods and objections.
// One test thread at a time.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "access/access_grants.h"
#include "access/care_relationships.h"
#include "access/region_access_policy.h"
#include "access/request_audit.h"
#include "access/scope_policy.h"
#include "access/wall_clock.h"
#include "fhir/fhir_date.h"
#include "http/fhir_routes.h"
#include "http/patient_access_operations.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace carerecord::relationship_testing {

inline constexpr int64_t kDay = 86400;
// 2026-06-01T00:00:00Z: the tests' now.
inline constexpr int64_t kNow = fhir::DaysFromCivil(2026, 6, 1) * kDay;
inline constexpr const char* kBase = "http://test/fhir";

inline std::string DateTime(int64_t seconds) { return fhir::FormatInstant(seconds * 1000); }

struct Item {
  std::string type, id, body;
};

inline std::string Org(const std::string& id, const std::string& ods) {
  return R"({"resourceType":"Organization","id":")" + id +
         R"(","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":")" +
         ods + R"("}]})";
}
inline std::string OdsRef(const std::string& ods) {
  return R"({"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":")" +
         ods + R"("}})";
}
// A Patient whose GP practice is `gp` (an ODS code).
inline Item PatientWithGp(const std::string& id, const std::string& gp) {
  return {"Patient", id,
          R"({"resourceType":"Patient","generalPractitioner":[)" + OdsRef(gp) + "]}"};
}
inline std::string ObservationOf(const std::string& patient, const std::string& text = "x") {
  return R"({"resourceType":"Observation","status":"final","code":{"text":")" + text +
         R"("},"subject":{"reference":"Patient/)" + patient + R"("}})";
}

inline access::AccessContext Staff(const std::string& name, const std::string& role,
                                   const std::string& organisation) {
  access::AccessContext who;
  who.kind = access::PrincipalKind::kUser;
  who.principal = "user:" + name;
  who.user = name;
  who.role = role;
  who.organisation = organisation;
  return who;
}

inline access::AccessContext Integration() {
  access::AccessContext who;
  who.kind = access::PrincipalKind::kClient;
  who.principal = "client:feed";
  who.client_id = "feed";
  who.role = "integration";
  who.organisation = "W1";
  return who;
}

inline const char* ReasonBody() {
  return R"({"resourceType":"Parameters","parameter":[{"name":"reason","valueString":"seen in A&E"}]})";
}

// Keeps each request's audit entry.
class AuditEntries final : public access::RequestAuditLog {
 public:
  base::Status Append(const access::AuditedRequest& request) override {
    std::lock_guard lock(mutex_);
    entries_.push_back(request);
    return base::Status::Ok();
  }
  access::AuditedRequest Last() {
    std::lock_guard lock(mutex_);
    return entries_.back();
  }

 private:
  std::mutex mutex_;
  std::vector<access::AuditedRequest> entries_;
};

inline std::filesystem::path TempDir(const char* name) {
  std::random_device random;
  return std::filesystem::temp_directory_path() /
         (std::string(name) + std::to_string(random()) + std::to_string(random()));
}

// A store and the served stack over it: relationships, grants, policy, routes (with the two
// operations) and an audit that keeps entries.
class RelationshipRecord {
 public:
  RelationshipRecord() : dir_(TempDir("carerecord-relrec-")) {
    store::SqliteOptions options;
    options.directory = dir_.string();
    options.durable = false;
    store_ = std::move(store::OpenSqliteStore(options)).value();
    grants_ =
        std::move(access::AccessGrants::Open(dir_.string(), false, clock_.NowSeconds())).value();
    relationships_ =
        std::make_unique<access::RecordCareRelationships>(*store_, policy_data_, *grants_, clock_);
    served_ = std::make_unique<access::RelationshipInvalidatingStore>(*store_, *relationships_);
    policy_ = std::make_unique<access::RegionAccessPolicy>(policy_data_, relationships_.get());
    scope_policy_ = std::make_unique<access::ScopeLimitedPolicy>(*policy_);
    service_ = std::make_unique<interactions::FhirService>(*served_, *scope_policy_, nullptr);
    operations_ =
        std::make_unique<http::PatientAccessOperations>(*served_, *grants_, policy_data_, clock_);
    routes_ = std::make_unique<http::FhirRoutes>(
        *service_, http::FhirRouteOptions{kBase, &audit_, operations_.get()});
  }
  ~RelationshipRecord() {
    routes_.reset();
    service_.reset();
    store_->Close();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Written by the integration client (organisation W1), each with its id.
  void Write(const std::vector<Item>& items) {
    for (const Item& item : items) {
      auto r = Send(Integration(), "PUT", "/fhir/" + item.type + "/" + item.id, WithId(item));
      ASSERT_TRUE(r.status == 200 || r.status == 201) << item.id << ": " << r.body;
    }
  }
  static std::string WithId(const Item& item) {
    boost::json::object o = boost::json::parse(item.body).as_object();
    o["id"] = item.id;
    return boost::json::serialize(o);
  }

  http::HttpResponse Send(const access::AccessContext& who, const std::string& method,
                          const std::string& target, const std::string& body = {}) {
    http::HttpRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    if (!body.empty()) request.headers.emplace_back("content-type", "application/fhir+json");
    request.remote_address = "127.0.0.1";
    return routes_->Handle(request, who);
  }
  // The status a GET of `target` answers `who`.
  int Status(const access::AccessContext& who, const std::string& target) {
    return Send(who, "GET", target).status;
  }

  access::ManualWallClock& clock() { return clock_; }
  access::RecordCareRelationships& relationships() { return *relationships_; }
  AuditEntries& audit() { return audit_; }

 private:
  std::filesystem::path dir_;
  access::ManualWallClock clock_{kNow};
  std::shared_ptr<const access::RegionPolicy> policy_data_ =
      std::make_shared<const access::RegionPolicy>(access::DefaultRegionPolicy());
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<access::AccessGrants> grants_;
  std::unique_ptr<access::RecordCareRelationships> relationships_;
  std::unique_ptr<access::RelationshipInvalidatingStore> served_;
  std::unique_ptr<access::RegionAccessPolicy> policy_;
  std::unique_ptr<access::ScopeLimitedPolicy> scope_policy_;
  std::unique_ptr<interactions::FhirService> service_;
  std::unique_ptr<http::PatientAccessOperations> operations_;
  AuditEntries audit_;
  std::unique_ptr<http::FhirRoutes> routes_;
};

}  // namespace carerecord::relationship_testing
