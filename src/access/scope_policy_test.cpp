#include "access/scope_policy.h"

#include <gtest/gtest.h>

#include "access/scope_restriction.h"

namespace carerecord::access {
namespace {

AccessContext WithScopes(const std::string& scopes, const std::string& patient = {},
                         PrincipalKind kind = PrincipalKind::kClient) {
  AccessContext who;
  who.kind = kind;
  who.patient = patient;
  who.scopes = std::make_shared<const ScopeSet>(ScopeSet::Parse(scopes).value());
  return who;
}

TEST(ScopePolicy, TheServersOwnWorkIsNotLimitedByScopes) {
  AccessContext system;
  system.principal = "system:load";
  EXPECT_FALSE(CheckInteractionScope(system, FhirInteraction::kDelete, "Patient"));
  OpenPolicy open;
  ScopeLimitedPolicy policy(open);
  EXPECT_TRUE(policy.MayRead(system, {"Observation", "o1", "p1"}));
}

TEST(ScopePolicy, TheMissingScopeIsNamedAtTheTokensLevel) {
  auto refusal = CheckInteractionScope(WithScopes("system/Patient.r"), FhirInteraction::kSearchType,
                                       "Observation");
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->missing_scope, "system/Observation.s");
  EXPECT_NE(refusal->message.find("'system/Observation.s'"), std::string::npos);
  auto user = CheckInteractionScope(WithScopes("user/Patient.r", "", PrincipalKind::kUser),
                                    FhirInteraction::kCreate, "Patient");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->missing_scope, "user/Patient.c");
  EXPECT_FALSE(
      CheckInteractionScope(WithScopes("system/*.cruds"), FhirInteraction::kDelete, "Patient"));
}

constexpr std::string_view kLabObservation = R"({"resourceType": "Observation", "id": "o1",
  "status": "final", "subject": {"reference": "Patient/p1"},
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}], "text": "Glucose"}})";
constexpr std::string_view kVitalObservation = R"({"resourceType": "Observation", "id": "o2",
  "status": "final", "subject": {"reference": "Patient/p1"},
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}})";
const std::string kLabs =
    "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
    "observation-category|laboratory";

bool MayReadBody(ScopeLimitedPolicy& policy, const AccessContext& who, std::string_view json,
                 std::string_view id = "o1", std::string_view type = "Observation") {
  store::ItemBodyText body(json);
  return policy.MayRead(who, {type, id, "p1", "", "", &body});
}

TEST(ScopePolicy, RestrictedScopesAllowTheInteractionAndAdmitOnlyMatchingItems) {
  EXPECT_FALSE(
      CheckInteractionScope(WithScopes(kLabs), FhirInteraction::kSearchType, "Observation"));
  OpenPolicy open;
  ScopeLimitedPolicy policy(open);
  const AccessContext who = WithScopes(kLabs);
  EXPECT_TRUE(MayReadBody(policy, who, kLabObservation));
  EXPECT_FALSE(MayReadBody(policy, who, kVitalObservation, "o2"));
  // Without a body (a deletion, or a caller that has none) it cannot be shown to match.
  EXPECT_FALSE(policy.MayRead(who, {"Observation", "o1", "p1"}));
  // A restricted scope never admits everything, but does not refuse its type.
  EXPECT_FALSE(policy.AdmitsEverything(WithScopes("system/*.rs?_tag=urn:t|x")));
  EXPECT_TRUE(policy.AdmitsEverything(WithScopes("system/*.rs")));
  EXPECT_FALSE(policy.RefusesType(who, "Observation"));
  EXPECT_TRUE(policy.RefusesType(who, "Condition"));
}

TEST(ScopePolicy, TokenRestrictionsTakeEveryFormAndCommasOr) {
  OpenPolicy open;
  ScopeLimitedPolicy policy(open);
  auto admits = [&](const std::string& restriction, std::string_view json) {
    return MayReadBody(policy, WithScopes("system/Observation.rs?" + restriction), json);
  };
  EXPECT_TRUE(admits("category=laboratory", kLabObservation));
  EXPECT_FALSE(admits("category=laboratory", kVitalObservation));
  EXPECT_TRUE(admits("category=http://terminology.hl7.org/CodeSystem/observation-category|",
                     kVitalObservation));
  EXPECT_FALSE(admits("category=|laboratory", kLabObservation));  // it has a system
  EXPECT_FALSE(admits("category=http://other|laboratory", kLabObservation));
  EXPECT_TRUE(admits("category=vital-signs,laboratory", kLabObservation));
  EXPECT_TRUE(admits("category=vital-signs,laboratory", kVitalObservation));
  // Parameters AND.
  EXPECT_TRUE(admits("category=laboratory&code=http://loinc.org|2345-7", kLabObservation));
  EXPECT_FALSE(admits("category=laboratory&code=http://loinc.org|8867-4", kLabObservation));
  // combo-code reads its parts' values; strings, references and _id are enforced too.
  EXPECT_TRUE(admits("combo-code=2345-7", kLabObservation));
  EXPECT_TRUE(admits("subject=Patient/p1", kLabObservation));
  EXPECT_TRUE(admits("subject=p1", kLabObservation));
  EXPECT_FALSE(admits("subject=Patient/p2", kLabObservation));
  EXPECT_TRUE(admits("_id=o9,o1", kLabObservation));
  EXPECT_FALSE(admits("_id=o9", kLabObservation));
  EXPECT_TRUE(
      MayReadBody(policy, WithScopes("system/Patient.rs?family=smi"),
                  R"({"resourceType": "Patient", "id": "p1", "name": [{"family": "Smith"}]})", "p1",
                  "Patient"));
  EXPECT_FALSE(
      MayReadBody(policy, WithScopes("system/Patient.rs?family:exact=Smi"),
                  R"({"resourceType": "Patient", "id": "p1", "name": [{"family": "Smith"}]})", "p1",
                  "Patient"));
}

TEST(ScopePolicy, AnItemIsAdmittedWhenAnyScopeReadingItsTypeAdmitsIt) {
  OpenPolicy open;
  ScopeLimitedPolicy policy(open);
  const AccessContext two =
      WithScopes("system/Observation.rs?category=laboratory system/Observation.rs?category=survey");
  EXPECT_TRUE(MayReadBody(policy, two, kLabObservation));
  EXPECT_FALSE(MayReadBody(policy, two, kVitalObservation, "o2"));
  // An unrestricted scope beside a restricted one admits everything of the type, body or not.
  const AccessContext wide = WithScopes(kLabs + " system/Observation.rs");
  EXPECT_TRUE(MayReadBody(policy, wide, kVitalObservation, "o2"));
  EXPECT_TRUE(policy.MayRead(wide, {"Observation", "o2", "p1"}));
}

TEST(ScopePolicy, RestrictionsThisServerCannotEnforceAllowNothing) {
  for (const std::string scope :
       {"system/Observation.rs?date=ge2020", "system/Observation.rs?code:in=http://x/vs",
        "system/Observation.rs?category:not=laboratory",
        "system/Observation.rs?_lastUpdated=gt2020", "system/Observation.rs?code:text=glucose",
        "system/Observation.rs?value-quantity=5"}) {
    const AccessContext who = WithScopes(scope);
    auto refusal = CheckInteractionScope(who, FhirInteraction::kSearchType, "Observation");
    ASSERT_TRUE(refusal) << scope;
    EXPECT_NE(refusal->message.find("scope restrictions"), std::string::npos) << refusal->message;
    OpenPolicy open;
    ScopeLimitedPolicy policy(open);
    EXPECT_FALSE(MayReadBody(policy, who, kLabObservation)) << scope;
    EXPECT_TRUE(UnenforceableRestriction(who.scopes->clinical()[0])) << scope;
  }
}

TEST(ScopePolicy, WritesUnderRestrictedScopesMustMatchBeforeAndAfter) {
  const AccessContext who =
      WithScopes("system/Observation.cud?category=laboratory system/Patient.cud");
  using enum FhirInteraction;
  EXPECT_FALSE(CheckWriteRestrictions(who, kCreate, "Observation", "o1", kLabObservation, ""));
  auto refused = CheckWriteRestrictions(who, kCreate, "Observation", "o2", kVitalObservation, "");
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->message.find("'system/Observation.cud?category=laboratory'"),
            std::string::npos)
      << refused->message;
  // An update that would turn a vital sign into a lab result, or the reverse, is refused.
  EXPECT_TRUE(CheckWriteRestrictions(who, kUpdate, "Observation", "o2", kLabObservation,
                                     kVitalObservation));
  EXPECT_TRUE(CheckWriteRestrictions(who, kUpdate, "Observation", "o1", kVitalObservation,
                                     kLabObservation));
  EXPECT_FALSE(
      CheckWriteRestrictions(who, kUpdate, "Observation", "o1", kLabObservation, kLabObservation));
  EXPECT_FALSE(CheckWriteRestrictions(who, kDelete, "Observation", "o1", "", kLabObservation));
  EXPECT_TRUE(CheckWriteRestrictions(who, kDelete, "Observation", "o2", "", kVitalObservation));
  // Unrestricted scopes, and the server's own work, are not limited.
  EXPECT_FALSE(CheckWriteRestrictions(who, kCreate, "Patient", "p1", R"({"resourceType":
      "Patient"})",
                                      ""));
  EXPECT_FALSE(
      CheckWriteRestrictions(AccessContext{}, kCreate, "Observation", "o2", kVitalObservation, ""));
}

TEST(ScopePolicy, PatientScopesReadOnlyTheirPatientsCompartmentAndWhatNoPatientOwns) {
  OpenPolicy open;
  ScopeLimitedPolicy policy(open);
  const AccessContext who = WithScopes("patient/*.rs", "p1");
  EXPECT_TRUE(policy.MayRead(who, {"Patient", "p1", "p1"}));
  EXPECT_TRUE(policy.MayRead(who, {"Observation", "o1", "p1"}));
  EXPECT_FALSE(policy.MayRead(who, {"Observation", "o2", "p2"}));
  EXPECT_TRUE(policy.MayRead(who, {"Medication", "m1", ""}));
  // No patient context: a patient scope allows nothing.
  const AccessContext no_context = WithScopes("patient/*.rs");
  EXPECT_FALSE(policy.MayRead(no_context, {"Medication", "m1", ""}));
  EXPECT_TRUE(CheckInteractionScope(no_context, FhirInteraction::kRead, "Patient"));
}

TEST(ScopePolicy, ItemsOfTypesNoScopeReadsAreWithheld) {
  OpenPolicy open;
  ScopeLimitedPolicy policy(open);
  const AccessContext who = WithScopes("system/Observation.rs system/Patient.c");
  EXPECT_TRUE(policy.MayRead(who, {"Observation", "o1", "p1"}));
  EXPECT_FALSE(policy.MayRead(who, {"Patient", "p1", "p1"}));  // create only
}

// Scopes narrow the wrapped policy's answer; they never widen it.
class DenyAll final : public AccessPolicy {
 public:
  bool MayRead(const AccessContext&, const store::ItemFacts&) override { return false; }
};

TEST(ScopePolicy, ScopesNeverWidenTheWrappedPolicy) {
  DenyAll deny;
  ScopeLimitedPolicy policy(deny);
  EXPECT_FALSE(policy.MayRead(WithScopes("system/*.cruds"), {"Patient", "p1", "p1"}));
}

}  // namespace
}  // namespace carerecord::access

namespace carerecord::access {
namespace {

// Counts come from the indexes only when no item could be withheld: the wrapped policy admits
// everything and a scope reads every type of every patient.
TEST(ScopePolicy, AdmitsEverythingOnlyWhenTheScopesReadEveryTypeOfEveryPatient) {
  OpenPolicy open;
  ScopeLimitedPolicy policy(open);
  AccessContext server;
  EXPECT_TRUE(policy.AdmitsEverything(server));
  EXPECT_TRUE(policy.AdmitsEverything(WithScopes("system/*.rs")));
  EXPECT_FALSE(policy.AdmitsEverything(WithScopes("system/Observation.rs")));
  EXPECT_FALSE(policy.AdmitsEverything(WithScopes("system/*.c")));
  EXPECT_FALSE(policy.AdmitsEverything(WithScopes("patient/*.rs", "p1")));
}

}  // namespace
}  // namespace carerecord::access
