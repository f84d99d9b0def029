// Who may record or withdraw a patient's objection (RegionAccessPolicy::RefuseObjectionWrite):
// integration clients, the patient themself, and the patient's GP practice or managing
// organisation; and only objections are looked at.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "access/region_access_policy.h"
#include "access/region_policy.h"

namespace carerecord::access {
namespace {

// p1's record is kept by GP1.
class KeptByGp1 final : public CareRelationships {
 public:
  RecordAccess Decide(const AccessContext&, std::string_view) override {
    return RecordAccess::kOpen;
  }
  bool KeepsRecordOf(std::string_view organisation, std::string_view patient) override {
    return organisation == "GP1" && patient == "p1";
  }
};

std::string Consent(const std::string& status, const std::string& type) {
  return R"({"resourceType":"Consent","status":")" + status +
         R"(","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"patient":{"reference":"Patient/p1"},"provision":{"type":")" +
         type + R"("}})";
}

AccessContext User(const std::string& role, const std::string& organisation,
                   const std::string& patient = "") {
  AccessContext who;
  who.kind = PrincipalKind::kUser;
  who.principal = "user:u";
  who.role = role;
  who.organisation = organisation;
  who.patient = patient;
  return who;
}

TEST(ObjectionWritersTest, ThePatientTheirPracticeAndIntegrationClientsOnly) {
  KeptByGp1 relationships;
  RegionAccessPolicy policy(std::make_shared<const RegionPolicy>(DefaultRegionPolicy()),
                            &relationships);
  const std::string objection = Consent("active", "deny");
  const std::string withdrawn = Consent("inactive", "deny");
  AccessContext integration = User("integration", "W1");
  integration.kind = PrincipalKind::kClient;
  for (const AccessContext& allowed :
       {integration, User("clinician", "GP1"), User("patient", "", "p1")}) {
    EXPECT_FALSE(policy.RefuseObjectionWrite(allowed, objection, ""));
    EXPECT_FALSE(policy.RefuseObjectionWrite(allowed, withdrawn, objection));
    EXPECT_FALSE(policy.RefuseObjectionWrite(allowed, "", objection));
  }
  for (const AccessContext& refused :
       {User("clinician", "H1"), User("patient", "", "p2"), User("clinician", "")}) {
    EXPECT_TRUE(policy.RefuseObjectionWrite(refused, objection, ""));
    EXPECT_TRUE(policy.RefuseObjectionWrite(refused, withdrawn, objection));
    EXPECT_TRUE(policy.RefuseObjectionWrite(refused, "", objection));
    // No objection before or after: an ordinary Consent.
    EXPECT_FALSE(policy.RefuseObjectionWrite(refused, Consent("active", "permit"), ""));
    EXPECT_FALSE(policy.RefuseObjectionWrite(refused, withdrawn, ""));
  }
}

}  // namespace
}  // namespace carerecord::access
