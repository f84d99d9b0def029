// What the server owns (fhir/server_owned.h), from a client's side (hostile round 8, H1 and M1):
// a client may not give a resource an identifier under a hospital feed's system (it would take
// the feed's messages into a record of the client's choosing, or stop them), may keep one the
// resource holds, and its version loses a feed's event time and meta.source; the server's own
// work (a feed, a load) writes them.
#include <gtest/gtest.h>

#include <string>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

const std::string kSystem = "urn:carerecord:source:Y99001:mrn:HOSP";

std::string PatientWith(const std::string& identifiers, const std::string& meta = "") {
  return R"({"resourceType":"Patient",)" + (meta.empty() ? "" : R"("meta":)" + meta + ",") +
         R"("identifier":)" + identifiers + R"(,"name":[{"family":"Owned"}]})";
}
std::string Identifier(const std::string& system, const std::string& value) {
  return R"({"system":")" + system + R"(","value":")" + value + R"("})";
}

int64_t Count(TestServer& server, const std::string& query) {
  return TestServer::Json(server.Get("/fhir/Patient?" + query + "&_summary=count"))
      .at("total")
      .as_int64();
}

TEST(FhirServerOwned, AClientMayNotGiveAResourceAFeedsIdentifier) {
  TestServer server;
  const std::string planted = PatientWith("[" + Identifier(kSystem, "M1") + "]");
  auto posted = server.Send("POST", "/fhir/Patient", planted);
  EXPECT_EQ(posted.status, 422) << posted.body;
  EXPECT_NE(posted.body.find("a hospital feed's own"), std::string::npos) << posted.body;
  EXPECT_NE(posted.body.find("Patient.identifier"), std::string::npos) << posted.body;
  // Nor by PUT, nor in a transaction, nor in a single identifier among others of its own.
  std::string planted_p9 = planted;
  planted_p9.insert(1, R"("id":"p9",)");
  EXPECT_EQ(server.Send("PUT", "/fhir/Patient/p9", planted_p9).status, 422);
  const std::string entry =
      R"({"request":{"method":"POST","url":"Patient"},"resource":)" + planted + "}";
  EXPECT_EQ(server
                .Send("POST", "/fhir",
                      R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entry + "]}")
                .status,
            422);
  EXPECT_EQ(server
                .Send("POST", "/fhir/Patient",
                      PatientWith("[" + Identifier("https://example.org/mrn", "1") + "," +
                                  Identifier(kSystem, "M1") + "]"))
                .status,
            422);
  EXPECT_EQ(Count(server, "identifier=" + kSystem + "%7CM1"), 0);
  // A system that only begins alike is not the feeds'.
  EXPECT_EQ(server
                .Send("POST", "/fhir/Patient",
                      PatientWith("[" + Identifier("urn:carerecord:sourcery", "M1") + "]"))
                .status,
            201);
}

TEST(FhirServerOwned, AResourceKeepsTheFeedsIdentifierItHoldsButGainsNoOther) {
  TestServer server;
  auto created =
      server.CreateAsServer("Patient", PatientWith("[" + Identifier(kSystem, "M1") + "]"));
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(json::parse(created.body).at("id").as_string());
  // A read-modify-write keeps it.
  json::object stored = TestServer::Json(server.Get("/fhir/Patient/" + id));
  stored["gender"] = "female";
  auto kept = server.Send("PUT", "/fhir/Patient/" + id, json::serialize(stored));
  EXPECT_EQ(kept.status, 200) << kept.body;
  // Another value, or a second one, is refused; the stored version stays.
  const std::string put_target = "/fhir/Patient/" + id;
  std::string other = PatientWith("[" + Identifier(kSystem, "M2") + "]");
  other.insert(1, R"("id":")" + id + R"(",)");
  EXPECT_EQ(server.Send("PUT", put_target, other).status, 422);
  std::string second =
      PatientWith("[" + Identifier(kSystem, "M1") + "," + Identifier(kSystem, "M3") + "]");
  second.insert(1, R"("id":")" + id + R"(",)");
  EXPECT_EQ(server.Send("PUT", put_target, second).status, 422);
  EXPECT_EQ(Count(server, "identifier=" + kSystem + "%7CM1"), 1);
  EXPECT_EQ(Count(server, "identifier=" + kSystem + "%7CM2"), 0);
  EXPECT_EQ(Count(server, "identifier=" + kSystem + "%7CM3"), 0);
  // Nor dropped, nor changed in case (hostile round 9 N2: the feed no longer found the Patient
  // and made a second one, splitting the record).
  std::string dropped = PatientWith("[" + Identifier("https://example.org/mrn", "1") + "]");
  dropped.insert(1, R"("id":")" + id + R"(",)");
  EXPECT_EQ(server.Send("PUT", put_target, dropped).status, 422);
  std::string upper =
      PatientWith("[" + Identifier("URN:CareRecord:source:Y99001:mrn:HOSP", "M1") + "]");
  upper.insert(1, R"("id":")" + id + R"(",)");
  EXPECT_EQ(server.Send("PUT", put_target, upper).status, 422);
  EXPECT_EQ(Count(server, "identifier=" + kSystem + "%7CM1"), 1);
  // Kept with less around it (no type, no use) is kept (hostile round 9 N6).
  std::string plain = PatientWith("[" + Identifier(kSystem, "M1") + "]");
  plain.insert(1, R"("id":")" + id + R"(",)");
  EXPECT_EQ(server.Send("PUT", put_target, plain).status, 200);
}

// Hostile round 9 N1 and N5: every element the `identifier` parameter reads (a
// DocumentReference's masterIdentifier, which the feed finds its documents by), in any case.
TEST(FhirServerOwned, NoElementTheIdentifierSearchReadsMayClaimAFeedsSystem) {
  TestServer server;
  ASSERT_EQ(
      server.Send("PUT", "/fhir/Patient/p1", R"({"resourceType":"Patient","id":"p1"})").status,
      201);
  const std::string document =
      R"({"resourceType":"DocumentReference","status":"current","subject":{"reference":"Patient/p1"},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}],"masterIdentifier":{"system":"urn:carerecord:source:Y99001:document","value":"D1"}})";
  auto posted = server.Send("POST", "/fhir/DocumentReference", document);
  EXPECT_EQ(posted.status, 422) << posted.body;
  EXPECT_NE(posted.body.find("DocumentReference.identifier"), std::string::npos) << posted.body;
  EXPECT_EQ(
      server
          .Send("POST", "/fhir/Patient",
                PatientWith("[" + Identifier("URN:CareRecord:Source:Y99001:mrn:HOSP", "M1") + "]"))
          .status,
      422);
}

// Hostile round 9 N3: a feed's document content is the feed's to write.
TEST(FhirServerOwned, AClientWritesNoFeedDocumentBinary) {
  TestServer server;
  const std::string binary =
      R"({"resourceType":"Binary","id":"doc-0123456789abcdef0123456789abcdef01234567","contentType":"text/plain","data":"aGk="})";
  const std::string target = "/fhir/Binary/doc-0123456789abcdef0123456789abcdef01234567";
  auto put = server.Send("PUT", target, binary);
  EXPECT_EQ(put.status, 403) << put.body;
  // The feed (the server's own work) writes it; a client then neither replaces nor deletes it.
  interactions::RequestContext feed;
  feed.who.principal = "feed:hosp";
  feed.base_url = server.base();
  ASSERT_EQ(server.service()
                .Update(feed, "Binary", "doc-0123456789abcdef0123456789abcdef01234567", binary, "")
                .status,
            201);
  EXPECT_EQ(server.Send("PUT", target, binary).status, 403);
  EXPECT_EQ(server.Send("DELETE", target).status, 403);
  EXPECT_EQ(server.Get(target).status, 200);
}

TEST(FhirServerOwned, AClientsVersionLosesTheFeedsEventTimeAndSource) {
  TestServer server;
  const std::string feed_meta =
      R"({"source":"urn:carerecord:feed:hosp#X1","extension":[{"url":"urn:carerecord:extension:source-event-time","valueDateTime":"2099-01-01T00:00:00+00:00"},{"url":"https://example.org/kept","valueString":"mine"}]})";
  auto posted =
      server.Send("POST", "/fhir/Patient",
                  PatientWith("[" + Identifier("https://example.org/mrn", "1") + "]", feed_meta));
  ASSERT_EQ(posted.status, 201) << posted.body;
  const std::string id(json::parse(posted.body).at("id").as_string());
  json::object meta = TestServer::Json(server.Get("/fhir/Patient/" + id)).at("meta").as_object();
  EXPECT_FALSE(meta.contains("source")) << json::serialize(meta);
  ASSERT_TRUE(meta.contains("extension")) << json::serialize(meta);
  ASSERT_EQ(meta.at("extension").as_array().size(), 1u) << json::serialize(meta);
  EXPECT_EQ(meta.at("extension").as_array()[0].at("url"), "https://example.org/kept");
  // A source of the client's own is the client's to give.
  auto own = server.Send("POST", "/fhir/Patient",
                         PatientWith("[" + Identifier("https://example.org/mrn", "2") + "]",
                                     R"({"source":"https://gp.example.org/system"})"));
  ASSERT_EQ(own.status, 201) << own.body;
  const std::string own_id(json::parse(own.body).at("id").as_string());
  EXPECT_EQ(TestServer::Json(server.Get("/fhir/Patient/" + own_id)).at("meta").at("source"),
            "https://gp.example.org/system");
  // The server's own work writes them.
  auto loaded = server.CreateAsServer(
      "Patient", PatientWith("[" + Identifier(kSystem, "M5") + "]", feed_meta));
  ASSERT_EQ(loaded.status, 201) << loaded.body;
  const std::string loaded_id(json::parse(loaded.body).at("id").as_string());
  json::object kept =
      TestServer::Json(server.Get("/fhir/Patient/" + loaded_id)).at("meta").as_object();
  EXPECT_EQ(kept.at("source"), "urn:carerecord:feed:hosp#X1");
  EXPECT_EQ(kept.at("extension").as_array().size(), 2u);
  // A client's read-modify-write of it is the client's version, not the feed's message.
  json::object stored = TestServer::Json(server.Get("/fhir/Patient/" + loaded_id));
  stored["gender"] = "male";
  ASSERT_EQ(server.Send("PUT", "/fhir/Patient/" + loaded_id, json::serialize(stored)).status, 200);
  json::object after =
      TestServer::Json(server.Get("/fhir/Patient/" + loaded_id)).at("meta").as_object();
  EXPECT_FALSE(after.contains("source")) << json::serialize(after);
  EXPECT_EQ(after.at("extension").as_array().size(), 1u) << json::serialize(after);
}

// Hostile round 10 R1: a replaced-by link a client wrote steered the feed's messages into
// another Patient; merges are the feed's (A40) and the patient index's.
TEST(FhirServerOwned, AClientKeepsAPatientsMergeLinksAndAddsNone) {
  TestServer server;
  for (const char* id : {"s1", "c1"}) {
    ASSERT_EQ(server
                  .Send("PUT", std::string("/fhir/Patient/") + id,
                        std::string(R"({"resourceType":"Patient","id":")") + id + R"("})")
                  .status,
              201);
  }
  const auto linked = [](const std::string& id, const std::string& type, const std::string& to) {
    return R"({"resourceType":"Patient","id":")" + id + R"(","link":[{"type":")" + type +
           R"(","other":{"reference":"Patient/)" + to + R"("}}]})";
  };
  for (const char* type : {"replaced-by", "replaces"}) {
    auto put = server.Send("PUT", "/fhir/Patient/c1", linked("c1", type, "s1"));
    EXPECT_EQ(put.status, 422) << put.body;
    EXPECT_NE(put.body.find("Patient.link"), std::string::npos) << put.body;
  }
  EXPECT_EQ(server.Send("PUT", "/fhir/Patient/c1", linked("c1", "replaced-by", "c1")).status, 422);
  EXPECT_EQ(server.Send("PUT", "/fhir/Patient/c1", linked("c1", "seealso", "s1")).status, 200);
  // A merge the server's own work made is kept by a client's save, and not undone by it.
  interactions::RequestContext merge;
  merge.who.principal = "feed:hosp";
  merge.base_url = server.base();
  ASSERT_EQ(
      server.service().Update(merge, "Patient", "l1", linked("l1", "replaced-by", "s1"), "").status,
      201);
  EXPECT_EQ(server.Send("PUT", "/fhir/Patient/l1", linked("l1", "replaced-by", "s1")).status, 200);
  EXPECT_EQ(
      server.Send("PUT", "/fhir/Patient/l1", R"({"resourceType":"Patient","id":"l1"})").status,
      422);
}

// Hostile round 10 R2: a client's DELETE of a feed's Patient hid what the hospital had sent.
TEST(FhirServerOwned, AClientDeletesNoResourceAFeedFindsByItsIdentifier) {
  TestServer server;
  auto created =
      server.CreateAsServer("Patient", PatientWith("[" + Identifier(kSystem, "M1") + "]"));
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(json::parse(created.body).at("id").as_string());
  auto deleted = server.Send("DELETE", "/fhir/Patient/" + id);
  EXPECT_EQ(deleted.status, 422) << deleted.body;
  EXPECT_NE(deleted.body.find("deleting it removes the identifier"), std::string::npos)
      << deleted.body;
  EXPECT_EQ(server.Get("/fhir/Patient/" + id).status, 200);
  ASSERT_EQ(
      server.Send("PUT", "/fhir/Patient/own", R"({"resourceType":"Patient","id":"own"})").status,
      201);
  EXPECT_EQ(server.Send("DELETE", "/fhir/Patient/own").status / 100, 2);
}

}  // namespace
}  // namespace carerecord::testing
