// HTTP integration tests of Location near=latitude|longitude|distance|units: the great-circle
// distance from a point to Location.position, in km, m or international miles.
#include <gtest/gtest.h>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

using Names = std::vector<std::string>;

void PutLocation(TestServer& server, const std::string& id, double latitude, double longitude) {
  Put(server, "Location", id,
      R"({"resourceType":"Location","name":")" + id + R"(","position":{"latitude":)" +
          std::to_string(latitude) + R"(,"longitude":)" + std::to_string(longitude) + "}}");
}

// Dorchester's hospital, a clinic about 11 km south in Weymouth, one about 39 km east in
// Bournemouth, and a site with no position.
void PutSites(TestServer& server) {
  PutLocation(server, "dorchester", 50.7155, -2.4367);
  PutLocation(server, "weymouth", 50.6144, -2.4577);
  PutLocation(server, "bournemouth", 50.7192, -1.8808);
  Put(server, "Location", "virtual", R"({"resourceType":"Location","name":"Video clinic"})");
}

TEST(FhirSearchNear, FindsPositionsWithinTheDistance) {
  TestServer server;
  PutSites(server);
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7155%7C-2.4367%7C5%7Ckm"), Names{"dorchester"});
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7155%7C-2.4367%7C15%7Ckm"),
            (Names{"dorchester", "weymouth"}));
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7155%7C-2.4367%7C15"),
            (Names{"dorchester", "weymouth"}));
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7155%7C-2.4367%7C50000%7Cm"),
            (Names{"bournemouth", "dorchester", "weymouth"}));
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7155%7C-2.4367%7C20%7C%5Bmi_i%5D"),
            (Names{"dorchester", "weymouth"}));
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7155%7C-2.4367%7C30%7C%5Bmi_i%5D"),
            (Names{"bournemouth", "dorchester", "weymouth"}));
  // Without a distance, 10 km.
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7155%7C-2.4367"), Names{"dorchester"});
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7192%7C-1.8808%7C1,50.6144%7C-2.4577%7C1"),
            (Names{"bournemouth", "weymouth"}));
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7155%7C-2.4367%7C15&name=weymouth"),
            Names{"weymouth"});
}

TEST(FhirSearchNear, FarNorthTheCircleIsWiderThanItsLatitudeSpan) {
  TestServer server;
  PutLocation(server, "sweden", 61.26, 18.1);  // 994 km from (60, 0)
  PutLocation(server, "pole", 89.5, 180);      // 1,168 km from (80, 0), over the pole
  EXPECT_EQ(Ids(server, "/fhir/Location?near=60%7C0%7C1000%7Ckm"), Names{"sweden"});
  EXPECT_EQ(Ids(server, "/fhir/Location?near=60%7C0%7C990%7Ckm"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Location?near=80%7C0%7C1200%7Ckm"), Names{"pole"});
}

TEST(FhirSearchNear, MovedLocationIsFoundAtItsNewPosition) {
  TestServer server;
  PutSites(server);
  PutLocation(server, "weymouth", 50.7192, -1.8808);
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.6144%7C-2.4577%7C2"), Names{});
  EXPECT_EQ(Ids(server, "/fhir/Location?near=50.7192%7C-1.8808%7C2"),
            (Names{"bournemouth", "weymouth"}));
}

TEST(FhirSearchNear, MissingTellsLocationsWithAPositionFromThoseWithout) {
  TestServer server;
  PutSites(server);
  EXPECT_EQ(Ids(server, "/fhir/Location?near:missing=true"), Names{"virtual"});
  EXPECT_EQ(Ids(server, "/fhir/Location?near:missing=false"),
            (Names{"bournemouth", "dorchester", "weymouth"}));
}

TEST(FhirSearchNear, MalformedValuesAre400) {
  TestServer server;
  PutSites(server);
  for (const char* query : {"near=91%7C0", "near=50%7Cabc", "near=50", "near=50%7C-2%7C5%7Cfurlong",
                            "near=50%7C-2%7C-5", "near=nan%7C0", "near:missing=maybe"}) {
    auto response = server.Get(std::string("/fhir/Location?") + query);
    EXPECT_EQ(response.status, 400) << query << " " << response.body;
  }
}

}  // namespace
}  // namespace carerecord::testing
