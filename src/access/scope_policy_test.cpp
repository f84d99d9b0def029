#include "access/scope_policy.h"

#include <gtest/gtest.h>

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

TEST(ScopePolicy, RestrictedScopesAreNotHonouredYetSoTheyAllowNothing) {
  const std::string labs =
      "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
      "observation-category|laboratory";
  auto refusal =
      CheckInteractionScope(WithScopes(labs), FhirInteraction::kSearchType, "Observation");
  ASSERT_TRUE(refusal);
  EXPECT_NE(refusal->message.find("not yet enforced"), std::string::npos) << refusal->message;
  OpenPolicy open;
  ScopeLimitedPolicy policy(open);
  EXPECT_FALSE(policy.MayRead(WithScopes(labs), {"Observation", "o1", ""}));
  // With an unrestricted scope beside it, the request is allowed.
  EXPECT_FALSE(CheckInteractionScope(WithScopes(labs + " system/Observation.s"),
                                     FhirInteraction::kSearchType, "Observation"));
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
