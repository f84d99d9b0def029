#include "access/oidc_role_map.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace carerecord::access {
namespace {

namespace json = boost::json;

TEST(OidcRoleMapTest, DefaultsMapTheFourCis2Codes) {
  OidcRoleMap map = OidcRoleMap::Defaults();
  EXPECT_EQ(map.RoleFor("S8000:G8000:R8000"), Role::kClinician);
  EXPECT_EQ(map.RoleFor("S8000:G8000:R8001"), Role::kNurse);
  EXPECT_EQ(map.RoleFor("R8003"), Role::kAlliedHealth);
  EXPECT_EQ(map.RoleFor("S8002:G8003:R8008"), Role::kAdminStaff);
  EXPECT_EQ(map.RoleFor("S8000:G8000:R9999"), std::nullopt);
}

TEST(OidcRoleMapTest, FileLinesMapCodesToRoles) {
  auto map = OidcRoleMap::Parse("# CIS2 codes\n\nR8000 clinician\r\nR8010\tsocial-worker\n");
  ASSERT_TRUE(map.ok()) << map.error().message;
  EXPECT_EQ(map->RoleFor("S1:G1:R8010"), Role::kSocialWorker);
  EXPECT_EQ(map->RoleFor("R8001"), std::nullopt);  // only the file's codes
}

TEST(OidcRoleMapTest, ErrorsNameTheLine) {
  auto missing = OidcRoleMap::Parse("R8000 clinician\nR8001\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().location, "line 2");
  auto unknown = OidcRoleMap::Parse("\n\nR8000 surgeon\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().location, "line 3");
  EXPECT_NE(unknown.error().message.find("surgeon"), std::string::npos);
  auto twice = OidcRoleMap::Parse("R8000 clinician\nR8000 nurse\n");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().location, "line 2");
  auto patient = OidcRoleMap::Parse("R8000 patient\n");  // not a staff role
  ASSERT_FALSE(patient.ok());
  EXPECT_EQ(patient.error().location, "line 1");
  EXPECT_FALSE(OidcRoleMap::Parse("# nothing\n").ok());
}

TEST(OidcRoleMapTest, ClaimKeepsMappedPairsInOrderWithoutRepeats) {
  json::value claim = json::parse(R"([
    {"org_code": "rdz", "role_code": "S8000:G8000:R8000"},
    {"org_code": "J12345", "role_code": "S8000:G8000:R9999"},
    {"org_code": "J12345", "role_code": "S8000:G8001:R8001", "person_orgid": "x"},
    {"org_code": "RDZ", "role_code": "S8000:G8000:R8000"}])");
  auto choices = MapRoleClaim(claim, "nhsid_nrbac_roles", OidcRoleMap::Defaults());
  ASSERT_TRUE(choices.ok()) << choices.error().message;
  ASSERT_EQ(choices->size(), 2u);
  EXPECT_EQ((*choices)[0], (OidcRoleChoice{"RDZ", Role::kClinician, "S8000:G8000:R8000"}));
  EXPECT_EQ((*choices)[1], (OidcRoleChoice{"J12345", Role::kNurse, "S8000:G8001:R8001"}));
}

TEST(OidcRoleMapTest, MalformedClaimIsAnErrorNamingTheElement) {
  auto not_list =
      MapRoleClaim(json::parse(R"({"org_code": "RDZ"})"), "roles", OidcRoleMap::Defaults());
  ASSERT_FALSE(not_list.ok());
  EXPECT_EQ(not_list.error().location, "roles");
  auto bad_entry = MapRoleClaim(json::parse(R"([{"org_code": "RDZ", "role_code": "R8000"},
      {"org_code": 7, "role_code": "R8000"}])"),
                                "roles", OidcRoleMap::Defaults());
  ASSERT_FALSE(bad_entry.ok());
  EXPECT_EQ(bad_entry.error().location, "roles[1]");
}

TEST(OidcRoleMapTest, NoMappedRoleIsAnEmptyList) {
  auto choices = MapRoleClaim(json::parse(R"([{"org_code": "RDZ", "role_code": "R1"}])"), "r",
                              OidcRoleMap::Defaults());
  ASSERT_TRUE(choices.ok());
  EXPECT_TRUE(choices->empty());
}

}  // namespace
}  // namespace carerecord::access
