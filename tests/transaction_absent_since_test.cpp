// RequestContext::entry_absent_since: a feed's batch lookup found an entry's If-None-Exist
// identity absent, so the transaction does not search it again. The create must still never
// double a resource: a match written after the lookup's position is refused at commit (and the
// retry, which searches, finds it), and a condition the runner would refuse is still refused.
#include <gtest/gtest.h>

#include <string>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

std::string CreateBundle(const std::string& family, const std::string& mrn,
                         const std::string& if_none_exist) {
  json::object patient{
      {"resourceType", "Patient"},
      {"name", json::array{json::object{{"family", family}}}},
      {"identifier", json::array{json::object{{"system", "urn:test:mrn"}, {"value", mrn}}}}};
  json::array entries{json::object{
      {"fullUrl", "urn:uuid:00000000-0000-4000-8000-000000000001"},
      {"resource", patient},
      {"request",
       json::object{{"method", "POST"}, {"url", "Patient"}, {"ifNoneExist", if_none_exist}}}}};
  return json::serialize(
      json::object{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}});
}

interactions::RequestContext FeedContext(int64_t absent_since) {
  interactions::RequestContext ctx;
  ctx.who.principal = "feed:test";
  ctx.who.purpose = "integration";
  ctx.entry_absent_since = {absent_since};
  return ctx;
}

// The record's position once it holds something (a fresh store's is 0, which names no
// position: the runner would search as usual).
int64_t PositionAfterASeed(TestServer& server) {
  auto seed = server.Send("POST", "/fhir/Patient",
                          json::serialize(json::object{{"resourceType", "Patient"}}));
  EXPECT_EQ(seed.status, 201);
  const int64_t position = server.service().RecordPosition();
  EXPECT_GT(position, 0);
  return position;
}

size_t PatientsWith(TestServer& server, const std::string& mrn) {
  auto found = server.Get("/fhir/Patient?identifier=urn:test:mrn%7C" + mrn);
  EXPECT_EQ(found.status, 200);
  const json::value bundle = TestServer::Json(found);
  auto* entries = bundle.as_object().if_contains("entry");
  return entries ? entries->as_array().size() : 0;
}

TEST(TransactionAbsentSince, AMatchWrittenAfterTheLookupIsNotDoubled) {
  TestServer server;
  // The lookup's position, then another writer creates the identity before the transaction.
  const int64_t position = PositionAfterASeed(server);
  auto racer = server.Send(
      "POST", "/fhir/Patient",
      json::serialize(json::object{
          {"resourceType", "Patient"},
          {"identifier", json::array{json::object{{"system", "urn:test:mrn"}, {"value", "M1"}}}}}));
  ASSERT_EQ(racer.status, 201);
  auto response = server.service().ProcessBundle(
      FeedContext(position), CreateBundle("Late", "M1", "identifier=urn:test:mrn|M1"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(PatientsWith(server, "M1"), 1u);
}

TEST(TransactionAbsentSince, AnAbsentIdentityIsCreatedOnce) {
  TestServer server;
  const int64_t position = PositionAfterASeed(server);
  auto first = server.service().ProcessBundle(
      FeedContext(position), CreateBundle("First", "M2", "identifier=urn:test:mrn|M2"));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(PatientsWith(server, "M2"), 1u);
  // The same message again on the same (now stale) position: the commit check finds the first.
  auto again = server.service().ProcessBundle(
      FeedContext(position), CreateBundle("First", "M2", "identifier=urn:test:mrn|M2"));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(PatientsWith(server, "M2"), 1u);
}

TEST(TransactionAbsentSince, AConditionTheRunnerRefusesIsStillRefused) {
  TestServer server;
  const int64_t position = PositionAfterASeed(server);
  auto response = server.service().ProcessBundle(
      FeedContext(position), CreateBundle("Bad", "M3", "identifier=urn:test:mrn|M3&_count=1"));
  EXPECT_EQ(response.status, 400) << response.body;
  auto unknown = server.service().ProcessBundle(FeedContext(position),
                                                CreateBundle("Bad", "M3", "no-such-parameter=1"));
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_EQ(PatientsWith(server, "M3"), 0u);
}

TEST(TransactionAbsentSince, OneFlagAnEntryIsRequired) {
  TestServer server;
  interactions::RequestContext ctx = FeedContext(1);
  ctx.entry_absent_since = {1, 1};
  auto response =
      server.service().ProcessBundle(ctx, CreateBundle("Two", "M4", "identifier=urn:test:mrn|M4"));
  EXPECT_EQ(response.status, 500) << response.body;
  EXPECT_EQ(PatientsWith(server, "M4"), 0u);
}

}  // namespace
}  // namespace carerecord::testing
