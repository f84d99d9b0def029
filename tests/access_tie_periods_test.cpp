// When a tie in the record begins to open it (issue 20, hostile round 6a finding 3): an
// Encounter, EpisodeOfCare, CareTeam or care team member counts from its period's start (none
// given: from now), so a planned encounter starting in 2099 opens nothing today, and opens the
// record when its start comes, without a write; a CareTeam with no status counts as an active
// one (R4 CareTeam.status is 0..1). A referral (ServiceRequest) counts from its authoredOn, not
// from the date of the service it asks for.

#include <gtest/gtest.h>

#include <string>

#include "relationship_record.h"

namespace carerecord {
namespace {

using namespace relationship_testing;

const std::string kLater = DateTime(kNow + 10 * kDay);

std::string Encounter(const std::string& status, const std::string& start) {
  return R"({"resourceType":"Encounter","status":")" + status +
         R"(","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},"period":{"start":")" +
         start + R"("},"serviceProvider":)" + OdsRef("T1") + "}";
}
std::string CareTeam(const std::string& status_member, const std::string& team_period,
                     const std::string& member_period) {
  return R"({"resourceType":"CareTeam",)" + status_member +
         R"("subject":{"reference":"Patient/p1"},)" + team_period + R"("participant":[{"member":)" +
         OdsRef("T1") + member_period + "}]}";
}

// A referral to T1, with `dates` (authoredOn, occurrence[x]).
std::string Referral(const std::string& dates) {
  return R"({"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},)" +
         dates + R"("performer":[)" + OdsRef("T1") + "]}";
}

struct TieCase {
  std::string name;
  Item tie;
  bool opens_now;
};

std::vector<TieCase> Cases() {
  const std::string later = R"("period":{"start":")" + kLater + R"("},)";
  const std::string member_later = R"(,"period":{"start":")" + kLater + R"("})";
  const std::string earlier = DateTime(kNow - kDay);
  return {
      {"encounter planned later", {"Encounter", "e", Encounter("planned", kLater)}, false},
      {"encounter arrived later", {"Encounter", "e", Encounter("arrived", kLater)}, false},
      {"encounter in progress since yesterday",
       {"Encounter", "e", Encounter("in-progress", earlier)},
       true},
      {"episode later",
       {"EpisodeOfCare", "e",
        R"({"resourceType":"EpisodeOfCare","status":"active","patient":{"reference":"Patient/p1"},"period":{"start":")" +
            kLater + R"("},"managingOrganization":)" + OdsRef("T1") + "}"},
       false},
      {"team later", {"CareTeam", "t", CareTeam(R"("status":"active",)", later, "")}, false},
      {"member later",
       {"CareTeam", "t", CareTeam(R"("status":"active",)", "", member_later)},
       false},
      {"team with no period", {"CareTeam", "t", CareTeam(R"("status":"active",)", "", "")}, true},
      {"team with no status", {"CareTeam", "t", CareTeam("", "", "")}, true},
      {"team proposed", {"CareTeam", "t", CareTeam(R"("status":"proposed",)", "", "")}, false},
      // A referral counts from when it was authored, whatever the date of the service it asks
      // for (hostile 6b finding 6): it must be triaged now.
      {"referral authored later",
       {"ServiceRequest", "s", Referral(R"("authoredOn":")" + kLater + R"(",)")},
       false},
      {"referral authored yesterday for a later date",
       {"ServiceRequest", "s",
        Referral(R"("authoredOn":")" + earlier + R"(","occurrenceDateTime":"2099-01-01",)")},
       true},
      {"referral for a later period",
       {"ServiceRequest", "s", Referral(R"("occurrencePeriod":{"start":")" + kLater + R"("},)")},
       true},
      {"referral with no dates", {"ServiceRequest", "s", Referral("")}, true},
  };
}

TEST(AccessTiePeriodsTest, ATieOpensTheRecordFromItsPeriodsStart) {
  for (const TieCase& c : Cases()) {
    SCOPED_TRACE(c.name);
    RelationshipRecord record;
    record.Write({PatientWithGp("p1", "GP1"), c.tie});
    const auto t1 = Staff("t", "clinician", "T1");
    EXPECT_EQ(record.Status(t1, "/fhir/Patient/p1"), c.opens_now ? 200 : 404);
    EXPECT_EQ(record.Status(t1, "/fhir/" + c.tie.type + "/" + c.tie.id), c.opens_now ? 200 : 404);
    if (c.name == "team proposed") continue;
    // Its start comes: the record opens with no write in between.
    record.clock().Set(kNow + 10 * kDay);
    EXPECT_EQ(record.Status(t1, "/fhir/Patient/p1"), 200);
  }
}

}  // namespace
}  // namespace carerecord
