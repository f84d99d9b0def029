// The demo region's staff users see demo patients they have a care relationship with (issue 20):
// the organisations the demo directory gives them (src/app/demo_directory.cpp) are tied to some
// of the demo's patients by the record itself, at the demo's reference date and, for the
// practice, community trust and council, long after it.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <random>

#include "access/access_grants.h"
#include "access/care_relationships.h"
#include "access/region_access_policy.h"
#include "access/scope_policy.h"
#include "app/demo_region.h"
#include "fhir/fhir_date.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace carerecord {
namespace {

namespace json = boost::json;

TEST(DemoRelationshipsTest, DemoStaffOrganisationsAreTiedToDemoPatients) {
  std::random_device random;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("carerecord-demo-rel-" + std::to_string(random()) + std::to_string(random()));
  store::SqliteOptions options;
  options.directory = dir.string();
  options.durable = false;
  auto store = std::move(store::OpenSqliteStore(options)).value();
  access::OpenPolicy open;
  interactions::FhirService service(*store, open, nullptr);
  app::DemoRegionOptions demo;
  demo.patients = 60;
  interactions::RequestContext loader;
  loader.who.principal = "system:demo";
  loader.base_url = "urn:carerecord:local";
  std::vector<std::string> patients;
  for (const std::string& bundle : app::GenerateDemoRegion(demo)) {
    auto response = service.ProcessBundle(loader, bundle);
    ASSERT_EQ(response.status, 200) << response.body.substr(0, 300);
    const json::value answer = json::parse(response.body);
    for (const json::value& entry : answer.at("entry").as_array()) {
      const json::object& outcome = entry.at("response").as_object();
      if (!outcome.contains("location")) continue;
      std::string location(outcome.at("location").as_string());
      if (location.starts_with("Patient/")) {
        patients.push_back(location.substr(8, location.find('/', 8) - 8));
      }
    }
  }
  ASSERT_EQ(patients.size(), 60u);

  const int64_t reference = fhir::DaysFromCivil(2026, 11, 1) * 86400;
  access::ManualWallClock clock(reference);
  auto policy = std::make_shared<const access::RegionPolicy>(access::DefaultRegionPolicy());
  auto grants = std::move(access::AccessGrants::Open(dir.string(), false, reference)).value();
  access::RecordCareRelationships relationships(*store, policy, *grants, clock);
  auto related = [&](const char* ods) {
    access::AccessContext who;
    who.kind = access::PrincipalKind::kUser;
    who.principal = "user:demo";
    who.role = "clinician";
    who.organisation = ods;
    int n = 0;
    for (const std::string& patient : patients) n += relationships.Has(who, patient) ? 1 : 0;
    return n;
  };
  // The demo directory's organisations: hospital trust, community trust, council, practice.
  for (const char* ods : {"Y99001", "Y99002", "Y99004", "Y99100"}) {
    EXPECT_GT(related(ods), 0) << ods << " at the demo's reference date";
  }
  EXPECT_EQ(related("Y99000"), 0);  // the ICB cares for no one
  clock.Set(reference + 400 * 86400);
  for (const char* ods : {"Y99002", "Y99004", "Y99100"}) {
    EXPECT_GT(related(ods), 0) << ods << " a year on";
  }
  store->Close();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace carerecord
