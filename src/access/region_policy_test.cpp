#include "access/region_policy.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "access/region_access_policy.h"
#include "fhir/sealing_facts.h"

namespace carerecord::access {
namespace {

TEST(RegionPolicy, DefaultsAreTheIssues) {
  RegionPolicy policy = DefaultRegionPolicy();
  const RoleAccess& clinician = policy.Of(Role::kClinician);
  EXPECT_TRUE(clinician.read_types.count("Observation"));
  EXPECT_TRUE(clinician.read_types.count("Organization"));  // outside every compartment
  EXPECT_FALSE(clinician.read_types.count("AuditEvent"));
  EXPECT_TRUE(clinician.write_types.count("Condition"));
  EXPECT_FALSE(clinician.write_types.count("Organization"));
  EXPECT_EQ(policy.Of(Role::kAuditor).read_types.count("AuditEvent"), 1u);
  EXPECT_EQ(policy.Of(Role::kAuditor).read_types.count("Observation"), 0u);
  EXPECT_EQ(policy.Of(Role::kSystemAdmin).read_types.count("Patient"), 0u);
  EXPECT_EQ(policy.Of(Role::kSystemAdmin).read_types.count("Practitioner"), 1u);
  TypeSet admin = GroupTypes(kGroupOutsideCompartment);
  admin.insert({"Patient", "RelatedPerson", "Encounter", "Appointment"});
  EXPECT_EQ(policy.Of(Role::kAdminStaff).read_types, admin);
  EXPECT_EQ(policy.restricted_readers, (std::set<Role>{Role::kClinician, Role::kNurse}));
  EXPECT_EQ(policy.relationship_window_days, 90);
  EXPECT_EQ(policy.declaration_days, 30);
  EXPECT_EQ(policy.break_glass_minutes, 240);
  EXPECT_GE(policy.protected_codes.size(), 4u);
  // Groups come from the generated compartment definition.
  EXPECT_TRUE(OutsidePatientCompartment("Medication"));
  EXPECT_TRUE(OutsidePatientCompartment("ValueSet"));
  EXPECT_FALSE(OutsidePatientCompartment("Observation"));
  EXPECT_TRUE(GroupTypes(kGroupCompartment).count("Patient"));
}

TEST(RegionPolicy, AFileReplacesWhatItGivesAndKeepsTheRest) {
  auto policy = ParseRegionPolicy(R"({
    "roles": {"nurse": {"read": ["Patient", "Observation"]}},
    "restricted_readers": ["clinician"],
    "break_glass_minutes": 60
  })");
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  EXPECT_EQ(policy->Of(Role::kNurse).read_types, (TypeSet{"Patient", "Observation"}));
  EXPECT_TRUE(policy->Of(Role::kNurse).write_types.count("Observation"));  // default kept
  EXPECT_EQ(policy->restricted_readers, (std::set<Role>{Role::kClinician}));
  EXPECT_EQ(policy->break_glass_minutes, 60);
  EXPECT_EQ(policy->declaration_days, 30);
}

TEST(RegionPolicy, ABadFileIsRefusedNamingWhere) {
  struct Case {
    const char* text;
    const char* location;
  };
  for (const Case& c : {
           Case{"{\n  \"roles\": {\n    \"nurse\": {\"read\": [\"Patient\",]}\n  }\n}", "line 3"},
           Case{R"({"roles": {"nurse": {"read": ["Patient", "Observaton"]}}})",
                "roles.nurse.read[1]"},
           Case{R"({"roles": {"surgeon": {"read": []}}})", "roles.surgeon"},
           Case{R"({"roles": {"nurse": {"delete": []}}})", "roles.nurse.delete"},
           Case{R"({"restricted_readers": ["clinician", "janitor"]})", "restricted_readers[1]"},
           Case{R"({"protected": [{"system": "http://snomed.info/sct"}]})", "protected[0].code"},
           Case{R"({"declaration_days": -1})", "declaration_days"},
           Case{R"({"break_glass": 10})", "break_glass"},
           Case{R"([])", "/"},
           Case{R"({"roles": {"nurse": {"read": ["*"], "read": []}}})", "/roles/nurse/read"},
       }) {
    auto policy = ParseRegionPolicy(c.text);
    ASSERT_FALSE(policy.ok()) << c.text;
    EXPECT_EQ(policy.error().location, c.location) << policy.error().message;
  }
  auto directory = LoadRegionPolicy(::testing::TempDir());
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().message.find("is a directory"), std::string::npos)
      << directory.error().message;
}

TEST(RegionPolicy, ShowPrintsRolesGroupsAndProtectedCodes) {
  auto shown = boost::json::parse(RegionPolicyJson(DefaultRegionPolicy())).as_object();
  EXPECT_EQ(shown.at("roles").at("auditor").at("read").as_array().size(), 2u);
  EXPECT_TRUE(shown.at("groups").as_object().contains(kGroupClinical));
  EXPECT_EQ(shown.at("restricted_readers").as_array().size(), 2u);
  EXPECT_EQ(shown.at("protected").as_array()[0].at("system"), "http://snomed.info/sct");
  EXPECT_EQ(shown.at("relationship_window_days"), 90);
}

// What `policy show` prints is a policy file that loads to the same policy, for the defaults and
// for a policy that changes every member; the groups it prints may not be changed by hand.
TEST(RegionPolicy, ShowPrintsAPolicyFileThatLoadsToTheSamePolicy) {
  auto custom = ParseRegionPolicy(R"({
    "roles": {"nurse": {"read": ["Patient", "*outside-patient-compartment*"], "write": []},
              "auditor": {"read": ["*"]}},
    "restricted_readers": [],
    "protected": [{"system": "urn:test", "code": "x", "display": "X", "why": "because"}],
    "relationship_window_days": 7, "declaration_days": 3, "break_glass_minutes": 5
  })");
  ASSERT_TRUE(custom.ok()) << custom.error().message;
  for (const RegionPolicy& policy : {DefaultRegionPolicy(), custom.value()}) {
    const std::string shown = RegionPolicyJson(policy);
    auto loaded = ParseRegionPolicy(shown);
    ASSERT_TRUE(loaded.ok()) << loaded.error().location << ": " << loaded.error().message;
    EXPECT_EQ(RegionPolicyJson(loaded.value()), shown);
    for (Role role : AllRoles()) {
      EXPECT_EQ(loaded->Of(role).read_types, policy.Of(role).read_types) << RoleName(role);
      EXPECT_EQ(loaded->Of(role).write_types, policy.Of(role).write_types) << RoleName(role);
    }
    EXPECT_EQ(loaded->restricted_readers, policy.restricted_readers);
    EXPECT_EQ(loaded->protected_codes.size(), policy.protected_codes.size());
  }
  auto changed = ParseRegionPolicy(R"({"groups": {"*clinical*": ["Observation"]}})");
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.error().location, "groups.*clinical*");
  auto unknown = ParseRegionPolicy(R"({"groups": {"*mine*": ["Observation"]}})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().location, "groups.*mine*");
}

TEST(RegionAccessPolicy, DecidesByRoleLabelsProtectedCodesAndAuthor) {
  RegionAccessPolicy region(std::make_shared<const RegionPolicy>(DefaultRegionPolicy()));

  AccessContext nurse;
  nurse.kind = PrincipalKind::kUser;
  nurse.role = "nurse";
  nurse.organisation = "B";
  const std::string plain = "";
  const std::string restricted = "S" + std::string(fhir::kConfidentialitySystem) + "|R\n";
  const std::string very = "S" + std::string(fhir::kConfidentialitySystem) + "|V\n";
  const std::string gender = "Chttp://snomed.info/sct|407377005\n";
  EXPECT_TRUE(region.MayRead(nurse, {"Observation", "o", "p", plain, "A"}));
  EXPECT_TRUE(region.MayRead(nurse, {"Observation", "o", "p", restricted, "A"}));
  EXPECT_FALSE(region.MayRead(nurse, {"Observation", "o", "p", very, "A"}));
  EXPECT_TRUE(region.MayRead(nurse, {"Observation", "o", "p", very, "B"}));
  EXPECT_FALSE(region.MayRead(nurse, {"Condition", "c", "p", gender, "A"}));
  EXPECT_FALSE(region.MayRead(nurse, {"Condition", "c", "p", gender, ""}));
  EXPECT_FALSE(region.MayRead(nurse, {"AuditEvent", "a", "p", plain, "B"}));
  nurse.role = "allied-health";
  EXPECT_FALSE(region.MayRead(nurse, {"Observation", "o", "p", restricted, "A"}));
  nurse.role = "unknown-role";
  EXPECT_FALSE(region.MayRead(nurse, {"Organization", "x", "", plain, ""}));
  AccessContext server;  // no kind: the server's own work
  EXPECT_TRUE(region.MayRead(server, {"Condition", "c", "p", gender, "A"}));
  EXPECT_TRUE(region.AdmitsEverything(server));
}

// A social worker reads DocumentReference of the social-care categories only: the version's own
// category and, for an earlier version, the current one's must both be one of them.
TEST(RegionAccessPolicy, ASocialWorkerReadsDocumentsOfSocialCareCategoriesOnly) {
  RegionAccessPolicy region(std::make_shared<const RegionPolicy>(DefaultRegionPolicy()));
  AccessContext social;
  social.kind = PrincipalKind::kUser;
  social.role = "social-worker";
  social.organisation = "B";
  const std::string care = "Khttps://carerecord.example/CodeSystem/document-category|social-care\n";
  const std::string clinical = "Khttp://loinc.org|11488-4\n";
  EXPECT_FALSE(region.RefusesType(social, "DocumentReference"));
  EXPECT_TRUE(region.MayRead(social, {"DocumentReference", "d", "p", care, "A"}));
  EXPECT_TRUE(region.MayRead(social, {"DocumentReference", "d", "p", clinical + care, "A"}));
  EXPECT_FALSE(region.MayRead(social, {"DocumentReference", "d", "p", clinical, "A"}));
  EXPECT_FALSE(region.MayRead(social, {"DocumentReference", "d", "p", "", "A"}));
  EXPECT_TRUE(region.MayRead(social, {"DocumentReference", "d", "p", care + "~\n" + care, "A"}));
  EXPECT_FALSE(
      region.MayRead(social, {"DocumentReference", "d", "p", care + "~\n" + clinical, "A"}));
  EXPECT_FALSE(
      region.MayRead(social, {"DocumentReference", "d", "p", clinical + "~\n" + care, "A"}));
  // Labels still seal a document of the right category.
  const std::string very = "S" + std::string(fhir::kConfidentialitySystem) + "|V\n";
  EXPECT_FALSE(region.MayRead(social, {"DocumentReference", "d", "p", very + care, "A"}));
  // Other roles read documents whatever their category.
  social.role = "nurse";
  EXPECT_TRUE(region.MayRead(social, {"DocumentReference", "d", "p", clinical, "A"}));
}

TEST(RegionPolicy, ReadCategoriesAreReadShownAndChecked) {
  auto policy = ParseRegionPolicy(R"({"roles": {"admin-staff": {"read_categories": {
      "DocumentReference": [{"system": "urn:local", "code": "letters", "display": "Letters"}]}}}})");
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  EXPECT_TRUE(policy->Of(Role::kAdminStaff).read_types.count("DocumentReference"));
  EXPECT_TRUE(
      policy->Of(Role::kAdminStaff).AdmitsCategory("DocumentReference", "Kurn:local|letters\n"));
  EXPECT_FALSE(policy->Of(Role::kAdminStaff).AdmitsCategory("DocumentReference", "Kurn:local|x\n"));
  auto shown = boost::json::parse(RegionPolicyJson(*policy)).as_object();
  EXPECT_EQ(shown.at("roles")
                .at("admin-staff")
                .at("read_categories")
                .at("DocumentReference")
                .as_array()[0]
                .at("code"),
            "letters");
  EXPECT_TRUE(shown.at("roles").at("social-worker").as_object().contains("read_categories"));
  struct Case {
    const char* text;
    const char* location;
  };
  for (
      const Case& c : {
          Case{
              R"({"roles": {"nurse": {"read_categories": {"Observation": [{"system": "urn:x", "code": "y"}]}}}})",
              "roles.nurse.read_categories.Observation"},
          Case{R"({"roles": {"nurse": {"read_categories": {"DocumentReference": []}}}})",
               "roles.nurse.read_categories.DocumentReference"},
          Case{
              R"({"roles": {"nurse": {"read_categories": {"DocumentReference": [{"code": "y"}]}}}})",
              "roles.nurse.read_categories.DocumentReference[0].system"},
          Case{
              R"({"roles": {"nurse": {"read_categories": {"DocumentReference": [{"system": "urn:x", "colour": "y"}]}}}})",
              "roles.nurse.read_categories.DocumentReference[0].colour"},
      }) {
    auto bad = ParseRegionPolicy(c.text);
    ASSERT_FALSE(bad.ok()) << c.text;
    EXPECT_EQ(bad.error().location, c.location) << bad.error().message;
  }
}

}  // namespace
}  // namespace carerecord::access
