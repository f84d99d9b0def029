// What the access policy costs a read: the same requests, in one run on one store, by an
// integration client (whom the policy admits whole, so totals come from the indexes) and by a
// clinician of another organisation (every item decided, totals counted through the gate).
// A tenth of the Observations are labelled R and a tenth V, so the clinician is refused some.
// A third column runs the clinician through the care relationships too (each patient's GP
// practice is the clinician's organisation, so the same items come back): the per-item cost of
// the relationship check with its cache warm. Last, the cost of a cache miss: reading a
// patient's ties from the record.
// Then the integration client under three scopes, one restricted by a search parameter (the
// cost of SMART scope restrictions, which are decided per item on the item's body).
//
//   build/bench/policy_bench [--observations 20000] [--rounds 20] [--work DIR]
//
// The FHIR service is called in process; the store is not durable (reads are measured).

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "access/access_grants.h"
#include "access/care_relationships.h"
#include "access/region_access_policy.h"
#include "access/scope_policy.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

interactions::RequestContext Caller(const char* role, const char* organisation) {
  interactions::RequestContext ctx;
  ctx.base_url = "http://bench/fhir";
  ctx.who.kind = std::strcmp(role, "integration") == 0 ? access::PrincipalKind::kClient
                                                       : access::PrincipalKind::kUser;
  ctx.who.role = role;
  ctx.who.organisation = organisation;
  ctx.prefer_return = interactions::PreferReturn::kMinimal;
  return ctx;
}

std::string Bundle(int first, int count, int patients) {
  json::array entries;
  for (int i = first; i < first + count; ++i) {
    json::object observation{
        {"resourceType", "Observation"},
        {"id", "o" + std::to_string(i)},
        {"status", "final"},
        {"code", json::object{{"coding", json::array{json::object{{"system", "http://loinc.org"},
                                                                  {"code", "8867-4"}}}}}},
        {"subject", json::object{{"reference", "Patient/p" + std::to_string(i % patients)}}}};
    if (i % 10 == 1 || i % 10 == 2) {
      observation["meta"] = json::object{
          {"security", json::array{json::object{
                           {"system", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"},
                           {"code", i % 10 == 1 ? "R" : "V"}}}}};
    }
    entries.push_back(json::object{
        {"resource", observation},
        {"request",
         json::object{{"method", "PUT"}, {"url", "Observation/o" + std::to_string(i)}}}});
  }
  return json::serialize(
      json::object{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}});
}

double MsPerRequest(int rounds, const std::function<int()>& request) {
  auto start = Clock::now();
  for (int i = 0; i < rounds; ++i) {
    if (request() != 200) std::fprintf(stderr, "a request failed\n");
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count() / rounds;
}

}  // namespace

int main(int argc, char** argv) {
  int observations = 20000, rounds = 20;
  fs::path work = fs::temp_directory_path() / "carerecord-policy-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--observations")) observations = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--work")) work = argv[i + 1];
  }
  fs::remove_all(work);
  store::SqliteOptions options;
  options.directory = work.string();
  options.durable = false;
  auto opened = store::OpenSqliteStore(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  auto store = std::move(opened).value();
  auto region_policy = std::make_shared<const access::RegionPolicy>(access::DefaultRegionPolicy());
  access::RegionAccessPolicy region(region_policy);
  access::ScopeLimitedPolicy policy(region);
  interactions::FhirService service(*store, policy, nullptr);
  access::SystemWallClock wall_clock;
  auto grants = access::AccessGrants::Open(work.string(), false, wall_clock.NowSeconds());
  if (!grants.ok()) {
    std::fprintf(stderr, "%s\n", grants.error().message.c_str());
    return 1;
  }
  access::RecordCareRelationships relationships(*store, region_policy, *grants.value(), wall_clock);
  access::RegionAccessPolicy related_region(region_policy, &relationships);
  access::ScopeLimitedPolicy related_policy(related_region);
  interactions::FhirService related_service(*store, related_policy, nullptr);
  const int patients = 200;
  auto writer = Caller("integration", "ORG-A");
  for (int p = 0; p < patients; ++p) {
    std::string id = "p" + std::to_string(p);
    service.Update(
        writer, "Patient", id,
        R"({"resourceType":"Patient","id":")" + id +
            R"(","generalPractitioner":[{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"ORG-B"}}]})",
        "");
  }
  for (int first = 0; first < observations; first += 500) {
    auto r = service.ProcessBundle(writer, Bundle(first, 500, patients));
    if (r.status != 200) {
      std::fprintf(stderr, "load failed: %d %s\n", r.status, r.body.substr(0, 300).c_str());
      return 1;
    }
  }
  const auto integration = Caller("integration", "ORG-B");
  const auto clinician = Caller("clinician", "ORG-B");
  std::printf("%d Observations of one code over %d patients, 10%% R, 10%% V; ms per request\n",
              observations, patients);
  std::printf("%-44s %12s %12s %8s %12s %8s\n", "request", "integration", "clinician", "ratio",
              "+relations", "ratio");
  struct Case {
    const char* name;
    std::function<int(interactions::FhirService&, const interactions::RequestContext&)> run;
  };
  int next_id = 0;
  const std::vector<Case> cases = {
      {"Observation?code=8867-4&_summary=count",
       [&](auto& svc, const auto& ctx) {
         return svc.Search(ctx, "Observation", {{"code", "8867-4"}, {"_summary", "count"}}).status;
       }},
      {"Observation?patient=pN&_total=accurate",
       [&](auto& svc, const auto& ctx) {
         return svc
             .Search(
                 ctx, "Observation",
                 {{"patient", "p" + std::to_string(++next_id % patients)}, {"_total", "accurate"}})
             .status;
       }},
      {"Observation?code=8867-4 (first page of 50)",
       [&](auto& svc, const auto& ctx) {
         return svc.Search(ctx, "Observation", {{"code", "8867-4"}, {"_count", "50"}}).status;
       }},
      {"Observation/oN (read by id, 100 ids)",
       [&](auto& svc, const auto& ctx) {
         for (int i = 0; i < 100; ++i) {
           (void)svc.Read(ctx, "Observation",
                          "o" + std::to_string((++next_id * 10) % observations));
         }
         return 200;
       }},
  };
  for (const Case& c : cases) {
    double a = MsPerRequest(rounds, [&] { return c.run(service, integration); });
    double b = MsPerRequest(rounds, [&] { return c.run(service, clinician); });
    (void)c.run(related_service, clinician);  // warms the ties of the patients it reads
    double r = MsPerRequest(rounds, [&] { return c.run(related_service, clinician); });
    std::printf("%-44s %12.3f %12.3f %8.2f %12.3f %8.2f\n", c.name, a, b, b / a, r, r / b);
  }
  // The same requests by the integration client under scopes: system/*.rs (admits everything:
  // totals from the indexes), system/Observation.rs (every item decided on its facts) and
  // system/Observation.rs?code=...|8867-4 (restricted: every item's body read, parsed and
  // indexed to be matched; all match, so the three answer the same).
  auto scoped = [&](const char* scope) {
    auto ctx = integration;
    ctx.who.scopes = std::make_shared<const access::ScopeSet>(
        access::ScopeSet::Parse(std::string(scope) + " system/Patient.rs").value());
    return ctx;
  };
  const auto all = scoped("system/*.rs");
  const auto type = scoped("system/Observation.rs");
  const auto restricted = scoped("system/Observation.rs?code=http://loinc.org|8867-4");
  std::printf("\nThe integration client by scope; ms per request\n");
  std::printf("%-44s %12s %12s %12s %8s\n", "request", "*.rs", "Obs.rs", "Obs.rs?code", "ratio");
  for (const Case& c : cases) {
    double a = MsPerRequest(rounds, [&] { return c.run(service, all); });
    double b = MsPerRequest(rounds, [&] { return c.run(service, type); });
    double r = MsPerRequest(rounds, [&] { return c.run(service, restricted); });
    std::printf("%-44s %12.3f %12.3f %12.3f %8.2f\n", c.name, a, b, r, r / b);
  }
  // A cache miss: each patient's ties read from the record (the Patient and its Observations'
  // compartment rows of the types that carry relationships).
  relationships.ChangedAll();
  const int64_t reads_before = relationships.reads();
  auto start = Clock::now();
  for (int p = 0; p < patients; ++p) {
    (void)relationships.Decide(clinician.who, "p" + std::to_string(p));
  }
  const double miss_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::printf("ties read from the record (cache miss): %.3f ms per patient (%lld reads)\n",
              miss_ms / patients, static_cast<long long>(relationships.reads() - reads_before));
  store->Close();
  fs::remove_all(work);
  return 0;
}
