// SMART scopes: v2 and v1 parsing, narrowing a request to what a client may have, and whether a
// grant covers an interaction (and which scope was missing when it does not).
#include "access/scopes.h"

#include <gtest/gtest.h>

namespace carerecord::access {
namespace {

ScopeSet Parse(std::string_view text) {
  auto set = ScopeSet::Parse(text);
  EXPECT_TRUE(set.ok()) << text << ": " << (set.ok() ? "" : set.error().message);
  return set.ok() ? std::move(set).value() : ScopeSet();
}

std::string ErrorOf(std::string_view text) {
  auto set = ScopeSet::Parse(text);
  return set.ok() ? std::string("(parsed)") : set.error().message;
}

TEST(Scopes, ParsesV2ClinicalScopes) {
  ScopeSet set = Parse("patient/Observation.rs user/*.cruds  system/Patient.c");
  ASSERT_EQ(set.clinical().size(), 3u);
  const ClinicalScope& observation = set.clinical()[0];
  EXPECT_EQ(observation.level, ScopeLevel::kPatient);
  EXPECT_EQ(observation.resource_type, "Observation");
  EXPECT_EQ(observation.permissions, kPermitRead | kPermitSearch);
  EXPECT_EQ(set.clinical()[1].resource_type, "*");
  EXPECT_EQ(set.clinical()[1].permissions, kAllPermissions);
  EXPECT_EQ(set.clinical()[2].level, ScopeLevel::kSystem);
  EXPECT_EQ(set.clinical()[2].permissions, kPermitCreate);
  EXPECT_EQ(set.ToString(), "patient/Observation.rs user/*.cruds system/Patient.c");
}

TEST(Scopes, ReadsV1ScopesAsAliases) {
  ScopeSet set = Parse("patient/Observation.read user/Patient.write system/*.*");
  ASSERT_EQ(set.clinical().size(), 3u);
  EXPECT_EQ(set.clinical()[0].permissions, kPermitRead | kPermitSearch);
  EXPECT_EQ(set.clinical()[0].V2Text(), "patient/Observation.rs");
  EXPECT_EQ(set.clinical()[1].permissions, kPermitCreate | kPermitUpdate | kPermitDelete);
  EXPECT_EQ(set.clinical()[1].V2Text(), "user/Patient.cud");
  EXPECT_EQ(set.clinical()[2].permissions, kAllPermissions);
  EXPECT_EQ(set.ToString(), "patient/Observation.read user/Patient.write system/*.*");
}

TEST(Scopes, ParsesLaunchAndIdentityScopes) {
  ScopeSet set =
      Parse("openid fhirUser profile launch launch/patient offline_access online_access openid");
  EXPECT_TRUE(set.clinical().empty());
  EXPECT_EQ(set.other().size(), 7u);  // openid once
  EXPECT_TRUE(set.Has("launch/patient"));
  EXPECT_FALSE(set.Has("launch/encounter"));
}

TEST(Scopes, ParsesRestrictions) {
  ScopeSet set = Parse(
      "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
      "observation-category|laboratory&code:in=http%3A%2F%2Fexample.org%2Fvs");
  ASSERT_EQ(set.clinical().size(), 1u);
  const ClinicalScope& scope = set.clinical()[0];
  ASSERT_EQ(scope.restrictions.size(), 2u);
  EXPECT_EQ(scope.restrictions[0].name, "category");
  EXPECT_EQ(scope.restrictions[0].value,
            "http://terminology.hl7.org/CodeSystem/observation-category|laboratory");
  EXPECT_EQ(scope.restrictions[1].name, "code:in");
  EXPECT_EQ(scope.restrictions[1].value, "http://example.org/vs");
  EXPECT_EQ(scope.V2Text(), scope.text);
}

TEST(Scopes, MalformedScopesAreNamed) {
  EXPECT_NE(ErrorOf("patient/Observaton.rs").find("'Observaton' is not an R4 resource type"),
            std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.sr").find("order c, r, u, d, s"), std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.rr").find("order c, r, u, d, s"), std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.x").find("'x' is not a permission"), std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.").find("no permission"), std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation").find("level/ResourceType.permissions"),
            std::string::npos);
  EXPECT_NE(ErrorOf("practitioner/Observation.rs").find("patient/, user/ or system/"),
            std::string::npos);
  EXPECT_NE(ErrorOf("openid admin").find("'admin' is not one this server knows"),
            std::string::npos);
  EXPECT_NE(ErrorOf("launch/location").find("not one this server knows"), std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.read?category=x").find("v2 permissions"),
            std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.rs?colour=red")
                .find("'colour' is not a search "
                      "parameter of Observation"),
            std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.rs?category").find("name=value"), std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.rs?").find("nothing after '?'"), std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.rs?code=%zz").find("two hex digits"), std::string::npos);
  EXPECT_NE(ErrorOf("patient/Observation.rs?code=a&&b=c").find("name=value"), std::string::npos);
  EXPECT_NE(ErrorOf("openid\tfhirUser").find("character"), std::string::npos);
}

TEST(Scopes, NarrowingNeverWidens) {
  ScopeSet allowed = Parse("system/Observation.rs system/Patient.r openid");
  ScopeSet granted = Parse("system/*.cruds openid fhirUser").NarrowTo(allowed);
  EXPECT_EQ(granted.ToString(), "system/Observation.rs system/Patient.r openid");

  granted = Parse("system/Observation.read").NarrowTo(allowed);
  EXPECT_EQ(granted.ToString(), "system/Observation.read");  // granted whole: as asked

  granted = Parse("system/Observation.cruds").NarrowTo(allowed);
  EXPECT_EQ(granted.ToString(), "system/Observation.rs");

  granted = Parse("user/Observation.rs patient/Observation.rs").NarrowTo(allowed);
  EXPECT_TRUE(granted.empty());  // levels are not interchanged

  granted = Parse("system/Condition.rs").NarrowTo(allowed);
  EXPECT_TRUE(granted.empty());
}

TEST(Scopes, NarrowingKeepsTheAllowedRestrictions) {
  ScopeSet allowed = Parse("patient/Observation.rs?category=laboratory launch/patient");
  ScopeSet granted = Parse("patient/*.read launch/patient").NarrowTo(allowed);
  EXPECT_EQ(granted.ToString(), "patient/Observation.rs?category=laboratory launch/patient");
  ASSERT_EQ(granted.clinical().size(), 1u);
  EXPECT_EQ(granted.clinical()[0].restrictions.size(), 1u);

  granted = Parse("patient/Observation.rs?code=1234-5").NarrowTo(allowed);
  EXPECT_EQ(granted.ToString(), "patient/Observation.rs?code=1234-5&category=laboratory");
  ASSERT_EQ(granted.clinical().size(), 1u);
  EXPECT_EQ(granted.clinical()[0].restrictions.size(), 2u);

  granted = Parse("patient/Observation.rs?category=laboratory").NarrowTo(allowed);
  EXPECT_EQ(granted.ToString(), "patient/Observation.rs?category=laboratory");
}

TEST(Scopes, NarrowingNeverGrantsARestrictionTheServerCannotEnforce) {
  ScopeSet allowed = Parse("system/Observation.rs system/Condition.rs?onset-date=ge2020");
  ScopeSet granted =
      Parse("system/Observation.rs?date=ge2020 system/Observation.rs?category=laboratory")
          .NarrowTo(allowed);
  EXPECT_EQ(granted.ToString(), "system/Observation.rs?category=laboratory");
  EXPECT_TRUE(Parse("system/Condition.rs").NarrowTo(allowed).empty());
}

TEST(Scopes, NarrowingDropsWhatAnotherGrantedScopeIncludes) {
  ScopeSet allowed = Parse("user/*.rs user/Observation.r");
  ScopeSet granted = Parse("user/Observation.rs").NarrowTo(allowed);
  EXPECT_EQ(granted.ToString(), "user/Observation.rs");
}

TEST(Scopes, CoversEachInteractionWithItsPermission) {
  ScopeSet set = Parse("patient/Observation.rs user/Patient.u system/*.d");
  EXPECT_TRUE(set.Covers(FhirInteraction::kRead, "Observation", ScopeLevel::kPatient).allowed);
  EXPECT_TRUE(set.Covers(FhirInteraction::kVread, "Observation", ScopeLevel::kPatient).allowed);
  EXPECT_TRUE(
      set.Covers(FhirInteraction::kSearchType, "Observation", ScopeLevel::kPatient).allowed);
  EXPECT_TRUE(
      set.Covers(FhirInteraction::kHistoryInstance, "Observation", ScopeLevel::kPatient).allowed);
  EXPECT_FALSE(set.Covers(FhirInteraction::kCreate, "Observation", ScopeLevel::kPatient).allowed);
  EXPECT_TRUE(set.Covers(FhirInteraction::kPatch, "Patient", ScopeLevel::kUser).allowed);
  EXPECT_FALSE(set.Covers(FhirInteraction::kRead, "Patient", ScopeLevel::kUser).allowed);
  EXPECT_TRUE(set.Covers(FhirInteraction::kDelete, "Encounter", ScopeLevel::kSystem).allowed);

  ScopeDecision refused = set.Covers(FhirInteraction::kCreate, "Observation", ScopeLevel::kUser);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.missing_scope, "user/Observation.c");
  EXPECT_EQ(
      set.Covers(FhirInteraction::kSearchType, "Condition", ScopeLevel::kPatient).missing_scope,
      "patient/Condition.s");
}

TEST(Scopes, CoverageExposesRestrictionsAsAlternatives) {
  ScopeSet set = Parse(
      "patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs");
  ScopeDecision decision =
      set.Covers(FhirInteraction::kSearchType, "Observation", ScopeLevel::kPatient);
  ASSERT_TRUE(decision.allowed);
  ASSERT_EQ(decision.allowing.size(), 2u);
  EXPECT_FALSE(decision.unrestricted());
  EXPECT_EQ(decision.allowing[1]->restrictions[0].value, "vital-signs");

  ScopeSet wider = Parse("patient/Observation.rs?category=laboratory patient/*.rs");
  EXPECT_TRUE(
      wider.Covers(FhirInteraction::kRead, "Observation", ScopeLevel::kPatient).unrestricted());
}

TEST(Scopes, V1AliasesCoverLikeTheirV2Forms) {
  ScopeSet v1 = Parse("user/Observation.read");
  EXPECT_TRUE(v1.Covers(FhirInteraction::kSearchType, "Observation", ScopeLevel::kUser).allowed);
  EXPECT_FALSE(v1.Covers(FhirInteraction::kUpdate, "Observation", ScopeLevel::kUser).allowed);
  ScopeSet write = Parse("user/Observation.write");
  EXPECT_TRUE(write.Covers(FhirInteraction::kCreate, "Observation", ScopeLevel::kUser).allowed);
  EXPECT_TRUE(write.Covers(FhirInteraction::kDelete, "Observation", ScopeLevel::kUser).allowed);
  EXPECT_FALSE(write.Covers(FhirInteraction::kRead, "Observation", ScopeLevel::kUser).allowed);
}

}  // namespace
}  // namespace carerecord::access
