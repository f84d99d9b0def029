// Legitimate relationships, declarations, break-glass and the patient's objection (issue 20):
// roles x relationship (none; GP, current encounter, encounter ended inside and outside the
// window, care team, referral; declared; break-glass; expired) x consent (none, deny all, deny one
// organisation, withdrawn) over every read path, each compared with an oracle: the same request
// against a store that never held the records the caller may not open. Also the two operations,
// the purpose of use BTG, writes, and the cache's invalidation by commits.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <random>
#include <set>

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

namespace carerecord {
namespace {

namespace json = boost::json;

constexpr int64_t kDay = 86400;
// 2026-06-01T00:00:00Z: the tests' now.
constexpr int64_t kNow = fhir::DaysFromCivil(2026, 6, 1) * kDay;
constexpr const char* kBase = "http://test/fhir";

std::string DateTime(int64_t seconds) { return fhir::FormatInstant(seconds * 1000); }

struct Item {
  std::string type, id, body;
  std::string patient;  // whose compartment holds it; empty if none
};

std::string Org(const std::string& id, const std::string& ods) {
  return R"({"resourceType":"Organization","id":")" + id +
         R"(","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":")" +
         ods + R"("}]})";
}
std::string OdsRef(const std::string& ods) {
  return R"({"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":")" +
         ods + R"("}})";
}

// Two patients and the organisations that care for them. p1: GP practice GP1 (by literal
// reference), a current encounter at H1 (literal), one at H2 ended 30 days ago and one at H3
// ended 120 days ago (by ODS identifier), an active care team with a PractitionerRole of C1, an
// active referral to R1 and a completed one to R2, Observations (one V, authored by the writer's
// organisation W1, one R) and a Condition with a protected code. p2: GP1 only.
std::vector<Item> BaseItems() {
  auto encounter = [](const std::string& id, const std::string& provider, const std::string& status,
                      int64_t end) {
    std::string period = R"("period":{"start":")" + DateTime(kNow - 200 * kDay) + "\"";
    if (end != 0) period += R"(,"end":")" + DateTime(end) + "\"";
    period += "}";
    return Item{"Encounter", id,
                R"({"resourceType":"Encounter","status":")" + status +
                    R"(","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},)" + period +
                    R"(,"serviceProvider":)" + provider + "}",
                "p1"};
  };
  auto observation = [](const std::string& id, const std::string& patient,
                        const std::string& extra) {
    return Item{
        "Observation", id,
        R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/)" +
            patient + R"("})" + extra + "}",
        patient};
  };
  return {
      {"Organization", "org-gp", Org("org-gp", "GP1"), ""},
      {"Organization", "org-h1", Org("org-h1", "H1"), ""},
      {"Organization", "org-c1", Org("org-c1", "C1"), ""},
      {"PractitionerRole", "role-c1",
       R"({"resourceType":"PractitionerRole","organization":{"reference":"Organization/org-c1"}})",
       ""},
      {"Patient", "p1",
       R"({"resourceType":"Patient","gender":"female","generalPractitioner":[{"reference":"Organization/org-gp"}]})",
       "p1"},
      {"Patient", "p2",
       R"({"resourceType":"Patient","gender":"male","generalPractitioner":[{"reference":"Organization/org-gp"}]})",
       "p2"},
      encounter("enc-h1", R"({"reference":"Organization/org-h1"})", "in-progress", 0),
      encounter("enc-h2", OdsRef("H2"), "finished", kNow - 30 * kDay),
      encounter("enc-h3", OdsRef("H3"), "finished", kNow - 120 * kDay),
      {"CareTeam", "ct-1",
       R"({"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"PractitionerRole/role-c1"}}]})",
       "p1"},
      {"ServiceRequest", "sr-r1",
       R"({"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"performer":[)" +
           OdsRef("R1") + "]}",
       "p1"},
      {"ServiceRequest", "sr-r2",
       R"({"resourceType":"ServiceRequest","status":"completed","intent":"order","subject":{"reference":"Patient/p1"},"performer":[)" +
           OdsRef("R2") + "]}",
       "p1"},
      observation("obs-1", "p1", ""),
      observation("obs-2", "p1", ""),
      observation(
          "obs-v", "p1",
          R"(,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"V"}]})"),
      observation(
          "obs-r", "p1",
          R"(,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]})"),
      {"Condition", "cond-prot",
       R"({"resourceType":"Condition","code":{"coding":[{"system":"http://snomed.info/sct","code":"407377005"}]},"subject":{"reference":"Patient/p1"}})",
       "p1"},
      observation("obs-p2", "p2", ""),
  };
}

enum class ConsentCase { kNone, kDenyAll, kDenyH1, kWithdrawn };

std::optional<Item> ConsentItem(ConsentCase c) {
  if (c == ConsentCase::kNone) return std::nullopt;
  const std::string status = c == ConsentCase::kWithdrawn ? "inactive" : "active";
  const std::string actor =
      c == ConsentCase::kDenyH1
          ? R"(,"actor":[{"role":{"text":"refused"},"reference":{"reference":"Organization/org-h1"}}])"
          : "";
  return Item{
      "Consent", "consent-1",
      R"({"resourceType":"Consent","status":")" + status +
          R"(","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"text":"opt-out"}],"patient":{"reference":"Patient/p1"},"provision":{"type":"deny")" +
          actor + "}}",
      "p1"};
}

access::AccessContext Staff(const std::string& name, const std::string& role,
                            const std::string& organisation) {
  access::AccessContext who;
  who.kind = access::PrincipalKind::kUser;
  who.principal = "user:" + name;
  who.user = name;
  who.role = role;
  who.organisation = organisation;
  return who;
}

access::AccessContext Integration() {
  access::AccessContext who;
  who.kind = access::PrincipalKind::kClient;
  who.principal = "client:feed";
  who.client_id = "feed";
  who.role = "integration";
  who.organisation = "W1";
  return who;
}

// Keeps each request's audit entry, to read its purpose of use.
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
  std::vector<access::AuditedRequest> All() {
    std::lock_guard lock(mutex_);
    return entries_;
  }

 private:
  std::mutex mutex_;
  std::vector<access::AuditedRequest> entries_;
};

std::filesystem::path TempDir(const char* name) {
  std::random_device random;
  return std::filesystem::temp_directory_path() /
         (std::string(name) + std::to_string(random()) + std::to_string(random()));
}

// A store and the served stack over it: relationships, grants, policy, routes (with the two
// operations) and an audit that keeps entries. `relationships` false: the policy without them
// (the oracle's).
class Record {
 public:
  explicit Record(bool relationships = true) : dir_(TempDir("carerecord-rel-")) {
    store::SqliteOptions options;
    options.directory = dir_.string();
    options.durable = false;
    store_ = std::move(store::OpenSqliteStore(options)).value();
    grants_ =
        std::move(access::AccessGrants::Open(dir_.string(), false, clock_.NowSeconds())).value();
    relationships_ =
        std::make_unique<access::RecordCareRelationships>(*store_, policy_data_, *grants_, clock_);
    served_ = std::make_unique<access::RelationshipInvalidatingStore>(*store_, *relationships_);
    policy_ = std::make_unique<access::RegionAccessPolicy>(
        policy_data_, relationships ? relationships_.get() : nullptr);
    scope_policy_ = std::make_unique<access::ScopeLimitedPolicy>(*policy_);
    service_ = std::make_unique<interactions::FhirService>(*served_, *scope_policy_, nullptr);
    operations_ =
        std::make_unique<http::PatientAccessOperations>(*served_, *grants_, policy_data_, clock_);
    routes_ = std::make_unique<http::FhirRoutes>(
        *service_, http::FhirRouteOptions{kBase, &audit_, operations_.get()});
  }
  ~Record() {
    routes_.reset();
    service_.reset();
    store_->Close();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Write(const std::vector<Item>& items) {
    for (const Item& item : items) {
      auto r = Send(Integration(), "PUT", "/fhir/" + item.type + "/" + item.id, WithId(item));
      ASSERT_TRUE(r.status == 200 || r.status == 201) << item.id << ": " << r.body;
    }
  }
  static std::string WithId(const Item& item) {
    json::object o = json::parse(item.body).as_object();
    o["id"] = item.id;
    return json::serialize(o);
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

  access::ManualWallClock& clock() { return clock_; }
  access::RecordCareRelationships& relationships() { return *relationships_; }
  access::AccessGrants& grants() { return *grants_; }
  AuditEntries& audit() { return audit_; }
  const std::filesystem::path& dir() const { return dir_; }

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

// What a response says, without what differs between two stores of the same content (times,
// Bundle ids, cursors): the status, the total, each entry's type/id and mode, and whether a
// next page is offered.
std::string Normalized(const http::HttpResponse& r) {
  std::string out = std::to_string(r.status);
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec || !body.is_object()) return out;
  const json::object& o = body.as_object();
  if (o.at("resourceType") != "Bundle") {
    if (auto* id = o.if_contains("id")) out += " " + json::serialize(*id);
    return out;
  }
  if (auto* total = o.if_contains("total")) out += " total=" + json::serialize(*total);
  if (auto* entries = o.if_contains("entry")) {
    for (const json::value& entry : entries->as_array()) {
      const json::object& e = entry.as_object();
      const json::object* res = e.if_contains("resource") ? e.at("resource").if_object() : nullptr;
      if (res && res->at("resourceType") == "OperationOutcome") continue;
      out += "\n  ";
      if (res)
        out += std::string(res->at("resourceType").as_string()) + "/" +
               std::string(res->at("id").as_string());
      if (auto* search = e.if_contains("search")) out += " " + json::serialize(*search);
    }
  }
  if (auto* links = o.if_contains("link")) {
    for (const json::value& link : links->as_array()) {
      if (link.at("relation") == "next") out += "\n  next";
    }
  }
  return out;
}

std::string NextLink(const http::HttpResponse& r) {
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec || !body.is_object()) return {};
  const json::value* links = body.as_object().if_contains("link");
  if (!links) return {};
  for (const json::value& link : links->as_array()) {
    if (link.at("relation") == "next") {
      std::string url(link.at("url").as_string());
      return url.substr(std::string_view(kBase).size() - 5);  // keep "/fhir..."
    }
  }
  return {};
}

// Every read path, as one caller; searches followed page by page.
std::vector<std::pair<std::string, std::string>> ReadPaths(Record& record,
                                                           const access::AccessContext& who) {
  const std::vector<std::string> targets = {
      "/fhir/Patient/p1",
      "/fhir/Patient/p2",
      "/fhir/Observation/obs-1",
      "/fhir/Observation/obs-v",
      "/fhir/Observation/obs-r",
      "/fhir/Condition/cond-prot",
      "/fhir/Condition?patient=p1&_total=accurate",
      "/fhir/Encounter/enc-h1",
      "/fhir/Observation/obs-1/_history/1",
      "/fhir/Observation?patient=p1&_total=accurate",
      "/fhir/Observation?patient=p1&_summary=count",
      "/fhir/Observation?_count=0&_total=accurate",
      "/fhir/Observation?_count=1&_total=accurate",
      "/fhir/Encounter?_total=accurate",
      "/fhir/Patient?_total=accurate&_revinclude=Observation:subject",
      "/fhir/Observation?_include=Observation:subject&_count=2",
      "/fhir/Patient?gender=female",
      "/fhir/Observation?subject.gender=female",
      "/fhir/Patient?_has:Observation:subject:code=8867-4",
      "/fhir/Patient/p1/Observation",
      "/fhir/Patient/p1/$everything",
      "/fhir/Patient/p2/$everything",
      "/fhir/Patient/p1/_history",
      "/fhir/Observation/_history?_total=accurate",
      "/fhir/_history?_count=100",
      "/fhir/Consent?patient=p1",
  };
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& target : targets) {
    std::string next = target;
    for (int page = 0; !next.empty() && page < 20; ++page) {
      auto response = record.Send(who, "GET", next);
      out.emplace_back(target + " page " + std::to_string(page), Normalized(response));
      next = NextLink(response);
    }
  }
  return out;
}

struct Case {
  std::string name;
  std::string role;
  std::string organisation;
  ConsentCase consent;
  enum class Grant { kNone, kDeclared, kBreakGlass } grant = Grant::kNone;
  int64_t later = 0;               // seconds the clock moves on after the grant
  std::set<std::string> closed;    // patients whose records stay closed to the caller
  bool break_glass_opens = false;  // the record is open by break-glass alone (purpose BTG)
};

std::vector<Case> Cases() {
  using G = Case::Grant;
  const int64_t k61Days = 61 * kDay;
  std::vector<Case> cases;
  for (ConsentCase consent : {ConsentCase::kNone, ConsentCase::kWithdrawn}) {
    const std::string c = consent == ConsentCase::kNone ? "no-consent" : "withdrawn";
    cases.push_back({"gp/" + c, "clinician", "GP1", consent, G::kNone, 0, {}});
    cases.push_back({"enc-current/" + c, "clinician", "H1", consent, G::kNone, 0, {"p2"}});
    cases.push_back({"enc-ended-inside/" + c, "nurse", "H2", consent, G::kNone, 0, {"p2"}});
    cases.push_back(
        {"enc-ended-lapsed/" + c, "nurse", "H2", consent, G::kNone, k61Days, {"p1", "p2"}});
    cases.push_back(
        {"enc-ended-outside/" + c, "clinician", "H3", consent, G::kNone, 0, {"p1", "p2"}});
    cases.push_back({"care-team/" + c, "allied-health", "C1", consent, G::kNone, 0, {"p2"}});
    cases.push_back({"referral/" + c, "clinician", "R1", consent, G::kNone, 0, {"p2"}});
    cases.push_back(
        {"referral-completed/" + c, "clinician", "R2", consent, G::kNone, 0, {"p1", "p2"}});
    cases.push_back({"none/" + c, "clinician", "X9", consent, G::kNone, 0, {"p1", "p2"}});
    cases.push_back({"admin-none/" + c, "admin-staff", "X9", consent, G::kNone, 0, {"p1", "p2"}});
    cases.push_back({"admin-gp/" + c, "admin-staff", "GP1", consent, G::kNone, 0, {}});
    cases.push_back({"declared/" + c, "clinician", "X9", consent, G::kDeclared, 0, {"p2"}});
    cases.push_back({"declared-expired/" + c,
                     "clinician",
                     "X9",
                     consent,
                     G::kDeclared,
                     31 * kDay,
                     {"p1", "p2"}});
    cases.push_back(
        {"break-glass/" + c, "clinician", "X9", consent, G::kBreakGlass, 0, {"p2"}, true});
    cases.push_back({"break-glass-expired/" + c,
                     "clinician",
                     "X9",
                     consent,
                     G::kBreakGlass,
                     241 * 60,
                     {"p1", "p2"}});
    cases.push_back({"allied-break-glass/" + c,
                     "allied-health",
                     "X9",
                     consent,
                     G::kBreakGlass,
                     0,
                     {"p2"},
                     true});
    cases.push_back(
        {"author-break-glass/" + c, "clinician", "W1", consent, G::kBreakGlass, 0, {"p2"}, true});
  }
  const auto deny_all = ConsentCase::kDenyAll;
  cases.push_back({"gp/deny-all", "clinician", "GP1", deny_all, G::kNone, 0, {}});
  cases.push_back({"enc-current/deny-all", "clinician", "H1", deny_all, G::kNone, 0, {"p1", "p2"}});
  cases.push_back({"care-team/deny-all", "nurse", "C1", deny_all, G::kNone, 0, {"p1", "p2"}});
  cases.push_back(
      {"declared/deny-all", "clinician", "X9", deny_all, G::kDeclared, 0, {"p1", "p2"}});
  cases.push_back(
      {"break-glass/deny-all", "clinician", "X9", deny_all, G::kBreakGlass, 0, {"p2"}, true});
  cases.push_back({"break-glass-expired/deny-all",
                   "clinician",
                   "X9",
                   deny_all,
                   G::kBreakGlass,
                   241 * 60,
                   {"p1", "p2"}});
  const auto deny_h1 = ConsentCase::kDenyH1;
  cases.push_back({"gp/deny-h1", "clinician", "GP1", deny_h1, G::kNone, 0, {}});
  cases.push_back({"enc-current/deny-h1", "clinician", "H1", deny_h1, G::kNone, 0, {"p1", "p2"}});
  cases.push_back(
      {"declared-refused-org/deny-h1", "clinician", "H1", deny_h1, G::kDeclared, 0, {"p1", "p2"}});
  cases.push_back({"break-glass-refused-org/deny-h1",
                   "clinician",
                   "H1",
                   deny_h1,
                   G::kBreakGlass,
                   0,
                   {"p2"},
                   true});
  cases.push_back({"enc-ended-inside/deny-h1", "clinician", "H2", deny_h1, G::kNone, 0, {"p2"}});
  cases.push_back({"referral/deny-h1", "clinician", "R1", deny_h1, G::kNone, 0, {"p2"}});
  cases.push_back({"declared/deny-h1", "clinician", "X9", deny_h1, G::kDeclared, 0, {"p2"}});
  return cases;
}

std::vector<Item> ItemsFor(ConsentCase consent) {
  std::vector<Item> items = BaseItems();
  if (auto c = ConsentItem(consent)) items.push_back(*c);
  return items;
}

std::vector<Item> Without(const std::vector<Item>& items, const std::set<std::string>& closed) {
  std::vector<Item> kept;
  for (const Item& item : items) {
    if (!closed.count(item.patient)) kept.push_back(item);
  }
  return kept;
}

const char* ReasonBody() {
  return R"({"resourceType":"Parameters","parameter":[{"name":"reason","valueString":"seen in A&E"}]})";
}

TEST(AccessRelationshipsTest, EveryCaseAnswersAsAStoreWithoutTheRecordsItMayNotOpen) {
  std::map<ConsentCase, std::unique_ptr<Record>> records;
  std::map<std::pair<ConsentCase, std::set<std::string>>, std::unique_ptr<Record>> oracles;
  int n = 0;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    auto& record = records[c.consent];
    if (!record) {
      record = std::make_unique<Record>();
      record->Write(ItemsFor(c.consent));
    }
    auto& oracle = oracles[{c.consent, c.closed}];
    if (!oracle) {
      oracle = std::make_unique<Record>(/*relationships=*/false);
      oracle->Write(Without(ItemsFor(c.consent), c.closed));
    }
    record->clock().Set(kNow);
    const auto who = Staff("case" + std::to_string(++n), c.role, c.organisation);
    if (c.grant != Case::Grant::kNone) {
      const char* operation =
          c.grant == Case::Grant::kDeclared ? "$declare-relationship" : "$break-glass";
      auto granted =
          record->Send(who, "POST", std::string("/fhir/Patient/p1/") + operation, ReasonBody());
      ASSERT_EQ(granted.status, 200) << granted.body;
    }
    record->clock().Set(kNow + c.later);
    auto got = ReadPaths(*record, who);
    auto want = ReadPaths(*oracle, who);
    for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
      EXPECT_EQ(i < got.size() ? got[i].first + ": " + got[i].second : "(none)",
                i < want.size() ? want[i].first + ": " + want[i].second : "(none)");
    }
    // What break-glass alone opened is recorded with purpose BTG; a relationship's reads not.
    auto read = record->Send(who, "GET", "/fhir/Patient/p1");
    const bool p1_open = !c.closed.count("p1");
    EXPECT_EQ(read.status, p1_open ? 200 : 404);
    EXPECT_EQ(record->audit().Last().disclosure.purpose_of_use, c.break_glass_opens ? "BTG" : "");
  }
}

TEST(AccessRelationshipsTest, PatientUserKeepsTheirOwnRecordWhateverTheObjection) {
  Record record;
  record.Write(ItemsFor(ConsentCase::kDenyAll));
  access::AccessContext who;
  who.kind = access::PrincipalKind::kUser;
  who.principal = "user:pat";
  who.role = "patient";
  who.patient = "p1";
  EXPECT_EQ(record.Send(who, "GET", "/fhir/Observation/obs-1").status, 200);
  EXPECT_EQ(record.Send(who, "GET", "/fhir/Consent/consent-1").status, 200);
  EXPECT_EQ(record.Send(who, "GET", "/fhir/Observation/obs-p2").status, 404);
}

TEST(AccessRelationshipsTest, OperationsRefuseBadRequestsAndCallersWhoMayNotOpenRecords) {
  Record record;
  record.Write(BaseItems());
  const auto clinician = Staff("c", "clinician", "X9");
  auto post = [&](const access::AccessContext& who, const std::string& operation,
                  const std::string& body, const std::string& patient = "p1") {
    return record.Send(who, "POST", "/fhir/Patient/" + patient + "/" + operation, body);
  };
  for (const char* operation : {"$declare-relationship", "$break-glass"}) {
    SCOPED_TRACE(operation);
    EXPECT_EQ(post(clinician, operation, "").status, 400);
    EXPECT_EQ(post(clinician, operation, "{").status, 400);
    EXPECT_EQ(post(clinician, operation, R"({"resourceType":"Patient"})").status, 400);
    EXPECT_EQ(post(clinician, operation, R"({"resourceType":"Parameters"})").status, 400);
    EXPECT_EQ(
        post(clinician, operation,
             R"({"resourceType":"Parameters","parameter":[{"name":"reason","valueString":"  "}]})")
            .status,
        400);
    auto not_string =
        post(clinician, operation,
             R"({"resourceType":"Parameters","parameter":[{"name":"reason","valueInteger":3}]})");
    EXPECT_EQ(not_string.status, 400);
    EXPECT_NE(not_string.body.find("reason"), std::string::npos) << not_string.body;
    EXPECT_EQ(post(clinician, operation, ReasonBody(), "nobody").status, 404);
    EXPECT_EQ(record.Send(clinician, "GET", std::string("/fhir/Patient/p1/") + operation).status,
              405);
    access::AccessContext patient;
    patient.kind = access::PrincipalKind::kUser;
    patient.principal = "user:pat";
    patient.role = "patient";
    patient.patient = "p1";
    EXPECT_EQ(post(patient, operation, ReasonBody()).status, 403);
    EXPECT_EQ(post(Staff("a", "auditor", "X9"), operation, ReasonBody()).status, 403);
    EXPECT_EQ(post(Staff("s", "system-admin", "X9"), operation, ReasonBody()).status, 403);
    EXPECT_EQ(post(Integration(), operation, ReasonBody()).status, 403);
    // Nothing was opened by any of them.
    EXPECT_EQ(record.Send(clinician, "GET", "/fhir/Patient/p1").status, 404);
  }
}

TEST(AccessRelationshipsTest, OperationsSayUntilWhenAndAreAuditedWithTheirReason) {
  Record record;
  record.Write(BaseItems());
  const auto clinician = Staff("c", "clinician", "X9");
  auto declared =
      record.Send(clinician, "POST", "/fhir/Patient/p1/$declare-relationship", ReasonBody());
  ASSERT_EQ(declared.status, 200) << declared.body;
  EXPECT_NE(
      declared.body.find(R"("valueInstant":")" + fhir::FormatInstant((kNow + 30 * kDay) * 1000)),
      std::string::npos)
      << declared.body;
  auto entry = record.audit().Last();
  EXPECT_EQ(entry.action, "declare-relationship");
  EXPECT_EQ(entry.reason, "seen in A&E");
  EXPECT_TRUE(entry.disclosure.patients.count("p1"));
  auto glass =
      record.Send(Staff("d", "nurse", "X9"), "POST", "/fhir/Patient/p1/$break-glass", ReasonBody());
  ASSERT_EQ(glass.status, 200) << glass.body;
  EXPECT_NE(glass.body.find(fhir::FormatInstant((kNow + 240 * 60) * 1000)), std::string::npos);
  EXPECT_EQ(record.audit().Last().action, "break-glass");
  // Only the user who declared: a colleague of the same organisation is not opened.
  EXPECT_EQ(record.Send(clinician, "GET", "/fhir/Patient/p1").status, 200);
  EXPECT_EQ(record.Send(Staff("e", "clinician", "X9"), "GET", "/fhir/Patient/p1").status, 404);
}

TEST(AccessRelationshipsTest, GrantsSurviveARestart) {
  auto dir = TempDir("carerecord-grants-");
  {
    auto grants = std::move(access::AccessGrants::Open(dir.string(), true, kNow)).value();
    access::AccessGrant grant{
        access::GrantKind::kBreakGlass, "user:a", "X9", "p1", "why", kNow, kNow + 600};
    ASSERT_TRUE(grants->Add(grant).ok());
    grant.kind = access::GrantKind::kDeclared;
    grant.until = kNow + 10;
    ASSERT_TRUE(grants->Add(grant).ok());
  }
  {
    auto grants = std::move(access::AccessGrants::Open(dir.string(), true, kNow)).value();
    EXPECT_EQ(grants->Until(access::GrantKind::kBreakGlass, "user:a", "X9", "p1"), kNow + 600);
    EXPECT_EQ(grants->Until(access::GrantKind::kDeclared, "user:a", "X9", "p1"), kNow + 10);
    EXPECT_EQ(grants->Until(access::GrantKind::kBreakGlass, "user:a", "X8", "p1"), 0);
    EXPECT_EQ(grants->Until(access::GrantKind::kBreakGlass, "user:b", "X9", "p1"), 0);
  }
  {  // Loaded from a later start: the expired declaration is not.
    auto grants = std::move(access::AccessGrants::Open(dir.string(), true, kNow + 100)).value();
    EXPECT_EQ(grants->Until(access::GrantKind::kDeclared, "user:a", "X9", "p1"), 0);
    EXPECT_EQ(grants->Until(access::GrantKind::kBreakGlass, "user:a", "X9", "p1"), kNow + 600);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(AccessRelationshipsTest, WritesNeedTheRelationshipAReadNeeds) {
  Record record;
  record.Write(BaseItems());
  const std::string observation =
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}})";
  const auto stranger = Staff("x", "clinician", "X9");
  auto refused = record.Send(stranger, "POST", "/fhir/Observation", observation);
  EXPECT_EQ(refused.status, 403) << refused.body;
  // One answer whether or not the patient exists.
  std::string to_nobody = observation;
  to_nobody.replace(to_nobody.find("Patient/p1"), 10, "Patient/zz");
  auto nobody = record.Send(stranger, "POST", "/fhir/Observation", to_nobody);
  EXPECT_EQ(nobody.status, 403) << nobody.body;
  // An update of it is answered as one of an id never used (hostile 5b finding 10).
  auto update = record.Send(stranger, "PUT", "/fhir/Observation/obs-1",
                            Record::WithId({"Observation", "obs-1", observation, "p1"}));
  auto update_free = record.Send(stranger, "PUT", "/fhir/Observation/obs-free",
                                 Record::WithId({"Observation", "obs-free", observation, "p1"}));
  EXPECT_EQ(update.status, 405) << update.body;
  EXPECT_EQ(update_free.status, 405) << update_free.body;
  EXPECT_EQ(update.body.replace(update.body.find("obs-1"), 5, "obs-free"), update_free.body);
  // A delete of it deletes nothing, answered as for an id that does not exist.
  auto deleted = record.Send(stranger, "DELETE", "/fhir/Observation/obs-1");
  auto absent = record.Send(stranger, "DELETE", "/fhir/Observation/no-such-id");
  EXPECT_EQ(Normalized(deleted), Normalized(absent));
  EXPECT_EQ(record.Send(Integration(), "GET", "/fhir/Observation/obs-1").status, 200);
  auto bundle =
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},"resource":)" +
      observation + "}]}";
  EXPECT_EQ(record.Send(stranger, "POST", "/fhir", bundle).status, 403);

  EXPECT_EQ(
      record.Send(Staff("h", "clinician", "H1"), "POST", "/fhir/Observation", observation).status,
      201);
  ASSERT_EQ(record.Send(stranger, "POST", "/fhir/Patient/p1/$break-glass", ReasonBody()).status,
            200);
  EXPECT_EQ(record.Send(stranger, "POST", "/fhir/Observation", observation).status, 201);

  // A new patient's record is the writer's to fill, in the same transaction.
  const auto admin = Staff("a", "admin-staff", "X9");
  auto created = record.Send(
      admin, "POST", "/fhir",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d","request":{"method":"POST","url":"Patient"},"resource":{"resourceType":"Patient","managingOrganization":)" +
          OdsRef("X9") +
          R"(}},{"request":{"method":"POST","url":"Appointment"},"resource":{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"urn:uuid:9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"},"status":"accepted"}]}}]})");
  EXPECT_EQ(created.status, 200) << created.body;
  // And another's is not: an admin of no relationship cannot book in p2's record.
  auto booked = record.Send(
      admin, "POST", "/fhir/Appointment",
      R"({"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"Patient/p2"},"status":"accepted"}]})");
  EXPECT_EQ(booked.status, 403) << booked.body;
}

TEST(AccessRelationshipsTest, AGrantOpensTheRecordButMakesNoTieAndLiftsNoObjection) {
  Record record;
  record.Write(BaseItems());
  const auto stranger = Staff("x", "clinician", "X9");
  const auto colleague = Staff("y", "clinician", "X9");
  ASSERT_EQ(record.Send(stranger, "POST", "/fhir/Patient/p1/$break-glass", ReasonBody()).status,
            200);
  // Under break-glass the stranger may add to the record...
  EXPECT_EQ(
      record
          .Send(
              stranger, "POST", "/fhir/Observation",
              R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}})")
          .status,
      201);
  // ...but not write what would open it to the whole organisation, or close or reopen it.
  const std::string tie_writes[] = {
      R"({"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},"serviceProvider":)" +
          OdsRef("X9") + "}",
      R"({"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":)" +
          OdsRef("X9") + "}]}",
      R"({"resourceType":"Consent","status":"inactive","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"text":"x"}],"patient":{"reference":"Patient/p1"}})"};
  for (const std::string& body : tie_writes) {
    const std::string type(json::parse(body).as_object().at("resourceType").as_string());
    auto refused = record.Send(stranger, "POST", "/fhir/" + type, body);
    EXPECT_EQ(refused.status, 403) << type << ": " << refused.body;
  }
  EXPECT_EQ(record.Send(colleague, "GET", "/fhir/Patient/p1").status, 404);
  // A declaration the same.
  ASSERT_EQ(
      record.Send(colleague, "POST", "/fhir/Patient/p1/$declare-relationship", ReasonBody()).status,
      200);
  EXPECT_EQ(record.Send(colleague, "POST", "/fhir/CareTeam", tie_writes[1]).status, 403);
  EXPECT_EQ(record.Send(Staff("z", "clinician", "X9"), "GET", "/fhir/Patient/p1").status, 404);
}

// A write in a record only the writer's break-glass opens is audited with purpose of use BTG, as
// a read there is: its outcome entry and its intent entry (made before it runs), for a create,
// an update, a transaction and a delete by id (whose intent asks the stored item's record). The
// same writes under a care relationship are not BTG (hostile 5b finding 6).
TEST(AccessRelationshipsTest, WritesThatOnlyBreakGlassAllowsAreAuditedBTG) {
  Record record;
  record.Write(BaseItems());
  const auto stranger = Staff("x", "clinician", "X9");
  const auto related = Staff("h", "clinician", "H1");
  ASSERT_EQ(record.Send(stranger, "POST", "/fhir/Patient/p1/$break-glass", ReasonBody()).status,
            200);
  const std::string observation =
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}})";
  const std::string update = Record::WithId({"Observation", "obs-1", observation, "p1"});
  // Under a grant only what the user's organisation wrote may be changed or deleted: its own
  // Observation, made under the break-glass.
  auto made = record.Send(stranger, "POST", "/fhir/Observation", observation);
  ASSERT_EQ(made.status, 201) << made.body;
  std::string own_id(made.Header("location"));
  own_id = own_id.substr(0, own_id.find("/_history"));
  own_id = own_id.substr(own_id.rfind('/') + 1);
  const std::string own_update = Record::WithId({"Observation", own_id, observation, "p1"});
  const std::string transaction =
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},"resource":)" +
      observation + "}]}";
  // The purposes of the intent and outcome entries of one request.
  auto purposes = [&](const access::AccessContext& who, const std::string& method,
                      const std::string& target, const std::string& body, int status) {
    const size_t before = record.audit().All().size();
    auto r = record.Send(who, method, target, body);
    EXPECT_EQ(r.status, status) << method << " " << target << ": " << r.body;
    auto entries = record.audit().All();
    EXPECT_EQ(entries.size(), before + 2) << method << " " << target;
    if (entries.size() != before + 2) return std::string("?");
    EXPECT_EQ(entries[before].action, "write-attempt");
    EXPECT_TRUE(entries[before + 1].disclosure.patients.count("p1")) << method << " " << target;
    return "intent " + entries[before].disclosure.purpose_of_use + ", outcome " +
           entries[before + 1].disclosure.purpose_of_use;
  };
  EXPECT_EQ(purposes(stranger, "POST", "/fhir/Observation", observation, 201),
            "intent BTG, outcome BTG");
  EXPECT_EQ(purposes(stranger, "PUT", "/fhir/Observation/" + own_id, own_update, 200),
            "intent BTG, outcome BTG");
  EXPECT_EQ(purposes(stranger, "POST", "/fhir", transaction, 200), "intent BTG, outcome BTG");
  // A DELETE by id names no patient: its intent asks the stored item's record (hostile 6b).
  EXPECT_EQ(purposes(stranger, "DELETE", "/fhir/Observation/" + own_id, "", 200),
            "intent BTG, outcome BTG");
  // A relationship opens the record: the same writes are for treatment.
  EXPECT_EQ(purposes(related, "POST", "/fhir/Observation", observation, 201), "intent , outcome ");
  EXPECT_EQ(purposes(related, "PUT", "/fhir/Observation/obs-1", update, 200), "intent , outcome ");
  EXPECT_EQ(purposes(related, "DELETE", "/fhir/Observation/obs-1", "", 200), "intent , outcome ");
  // The stranger's write in another record, which break-glass did not open, is refused and not
  // BTG either.
  std::string in_p2 = observation;
  in_p2.replace(in_p2.find("Patient/p1"), 10, "Patient/p2");
  auto refused = record.Send(stranger, "POST", "/fhir/Observation", in_p2);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(record.audit().Last().disclosure.purpose_of_use, "");
}

TEST(AccessRelationshipsTest, ACareTeamRelatesOnlyWhileItAndItsMemberAreInIt) {
  Record record;
  record.Write(BaseItems());
  const std::string ended = DateTime(kNow - 400 * kDay), recent = DateTime(kNow - 10 * kDay);
  auto team = [&](const std::string& id, const std::string& ods, const std::string& team_period,
                  const std::string& member_period) {
    return Item{
        "CareTeam", id,
        R"({"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/p2"},)" +
            team_period + R"("participant":[{"member":)" + OdsRef(ods) + member_period + "}]}",
        "p2"};
  };
  record.Write({
      team("ct-left", "T1", "", R"(,"period":{"end":")" + ended + R"("})"),
      team("ct-over", "T2", R"("period":{"end":")" + ended + R"("},)", ""),
      team("ct-lately", "T3", "", R"(,"period":{"end":")" + recent + R"("})"),
  });
  EXPECT_EQ(record.Send(Staff("a", "clinician", "T1"), "GET", "/fhir/Patient/p2").status, 404);
  EXPECT_EQ(record.Send(Staff("b", "clinician", "T2"), "GET", "/fhir/Patient/p2").status, 404);
  // Left ten days ago: inside the 90-day window, as an ended encounter.
  EXPECT_EQ(record.Send(Staff("c", "clinician", "T3"), "GET", "/fhir/Patient/p2").status, 200);
}

TEST(AccessRelationshipsTest, ABinaryIsReadAsItsDocumentAndAStoredBundleByNoStaff) {
  Record record;
  record.Write(BaseItems());
  record.Write({
      {"DocumentReference", "doc-1",
       R"({"resourceType":"DocumentReference","status":"current","subject":{"reference":"Patient/p1"},"content":[{"attachment":{"url":"Binary/bin-1"}}]})",
       "p1"},
      {"Binary", "bin-1",
       R"({"resourceType":"Binary","contentType":"text/plain","securityContext":{"reference":"DocumentReference/doc-1"},"data":"c2VjcmV0"})",
       ""},
      {"Binary", "bin-loose",
       R"({"resourceType":"Binary","contentType":"text/plain","data":"eA=="})", ""},
      {"Bundle", "bundle-1",
       R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Basic","code":{"text":"x"}}}]})",
       ""},
      // A subject given only by NHS number: in no record.
      {"Observation", "obs-nhs",
       R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}}})",
       ""},
  });
  const auto related = Staff("h", "clinician", "H1");  // a current encounter with p1
  const auto stranger = Staff("x", "clinician", "X9");
  EXPECT_EQ(record.Send(related, "GET", "/fhir/Binary/bin-1").status, 200);
  EXPECT_EQ(record.Send(stranger, "GET", "/fhir/Binary/bin-1").status, 404);
  EXPECT_EQ(record.Send(Staff("s", "system-admin", "H1"), "GET", "/fhir/Binary/bin-1").status, 404);
  auto listed = record.Send(stranger, "GET", "/fhir/Binary");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body.find("bin-1"), std::string::npos) << listed.body;
  for (const char* target :
       {"/fhir/Binary/bin-loose", "/fhir/Bundle/bundle-1", "/fhir/Observation/obs-nhs"}) {
    EXPECT_EQ(record.Send(related, "GET", target).status, 404) << target;
    EXPECT_EQ(record.Send(Integration(), "GET", target).status, 200) << target;
  }
}

TEST(AccessRelationshipsTest, ACommitChangesTheAnswerAtOnceAndUnchangedRecordsAreNotReadAgain) {
  Record record;
  record.Write(BaseItems());
  const auto h3 = Staff("h3", "clinician", "H3");
  EXPECT_EQ(record.Send(h3, "GET", "/fhir/Patient/p1").status, 404);
  const int64_t reads = record.relationships().reads();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(record.Send(h3, "GET", "/fhir/Observation?patient=p1").status, 200);
  }
  EXPECT_EQ(record.relationships().reads(), reads);  // served from the cache
  // A new encounter at H3 opens p1 to H3 with the commit.
  record.Write(
      {{"Encounter", "enc-h3-new",
        R"({"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},"serviceProvider":)" +
            OdsRef("H3") + "}",
        "p1"}});
  EXPECT_EQ(record.Send(h3, "GET", "/fhir/Patient/p1").status, 200);
  // The patient objects; then withdraws the objection.
  record.Write({*ConsentItem(ConsentCase::kDenyAll)});
  EXPECT_EQ(record.Send(h3, "GET", "/fhir/Patient/p1").status, 404);
  record.Write({*ConsentItem(ConsentCase::kWithdrawn)});
  EXPECT_EQ(record.Send(h3, "GET", "/fhir/Patient/p1").status, 200);
  // An Organization's ODS code changes: the literal references to it now name another.
  const auto gp = Staff("gp", "clinician", "GP1");
  EXPECT_EQ(record.Send(gp, "GET", "/fhir/Patient/p2").status, 200);
  record.Write({{"Organization", "org-gp", Org("org-gp", "GP9"), ""}});
  EXPECT_EQ(record.Send(gp, "GET", "/fhir/Patient/p2").status, 404);
  EXPECT_EQ(record.Send(Staff("gp9", "clinician", "GP9"), "GET", "/fhir/Patient/p2").status, 200);
}

TEST(AccessRelationshipsTest, ObjectionOfAnotherScopeOrOutsideItsPeriodDoesNotClose) {
  Record record;
  record.Write(BaseItems());
  const auto h1 = Staff("h1", "clinician", "H1");
  Item research = *ConsentItem(ConsentCase::kDenyAll);
  research.body.replace(research.body.find("patient-privacy"), 15, "research");
  record.Write({research});
  EXPECT_EQ(record.Send(h1, "GET", "/fhir/Patient/p1").status, 200);
  Item later = *ConsentItem(ConsentCase::kDenyAll);
  later.body.replace(later.body.find(R"("type":"deny")"), 13,
                     R"("type":"deny","period":{"start":")" + DateTime(kNow + kDay) + R"("})");
  record.Write({later});
  EXPECT_EQ(record.Send(h1, "GET", "/fhir/Patient/p1").status, 200);
  record.clock().Set(kNow + 2 * kDay);  // the period begins: read again without a commit
  EXPECT_EQ(record.Send(h1, "GET", "/fhir/Patient/p1").status, 404);
}

}  // namespace
}  // namespace carerecord
