// The base URL that decides which absolute references are this server's own, and that fullUrls,
// links and Location headers are made from: --public-url, else the address the connection
// reached; never the Host header, which any client sets as it likes.
#include <gtest/gtest.h>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
const Headers kEvilHost = {{"Host", "evil.example"}};

std::string ObservationAbout(const std::string& subject) {
  return R"({"resourceType":"Observation","status":"final","code":{"text":"pulse"},)"
         R"("subject":{"reference":")" +
         subject + R"("}})";
}

TEST(FhirBaseUrl, HostHeaderDoesNotMakeAnotherServersReferenceLocal) {
  TestServer server;
  Put(server, "Patient", "x", R"({"resourceType":"Patient"})");
  auto created = server.Send("POST", "/fhir/Observation",
                             ObservationAbout("http://evil.example/fhir/Patient/x"), kEvilHost);
  ASSERT_EQ(created.status, 201) << created.body;
  // Kept as the other server's URL, not rewritten to this server's Patient/x.
  auto stored = TestServer::Json(created);
  EXPECT_EQ(stored["subject"].as_object()["reference"].as_string(),
            "http://evil.example/fhir/Patient/x");
  EXPECT_TRUE(Ids(server, "/fhir/Observation?subject=Patient/x").empty());
  // Nor is it checked as a local reference: a target this server lacks is no error.
  auto elsewhere =
      server.Send("POST", "/fhir/Observation",
                  ObservationAbout("http://evil.example/fhir/Patient/nobody"), kEvilHost);
  EXPECT_EQ(elsewhere.status, 201) << elsewhere.body;
}

TEST(FhirBaseUrl, HostHeaderDoesNotMakeASearchValueLocal) {
  TestServer server;
  Put(server, "Patient", "x", R"({"resourceType":"Patient"})");
  Put(server, "Observation", "o", ObservationAbout("Patient/x"));
  auto found = server.Send("GET", "/fhir/Observation?subject=http://evil.example/fhir/Patient/x",
                           {}, kEvilHost);
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_FALSE(TestServer::Json(found).contains("entry")) << found.body;
}

TEST(FhirBaseUrl, ThisServersOwnAddressStillMakesReferencesLocal) {
  TestServer server;
  Put(server, "Patient", "x", R"({"resourceType":"Patient"})");
  auto created = server.Send("POST", "/fhir/Observation",
                             ObservationAbout(server.base() + "/Patient/x"), kEvilHost);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(TestServer::Json(created)["subject"].as_object()["reference"].as_string(), "Patient/x");
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject=Patient/x").size(), 1u);
}

TEST(FhirBaseUrl, HostHeaderDoesNotChangeFullUrlsLinksOrLocation) {
  TestServer server;
  auto created =
      server.Send("PUT", "/fhir/Patient/x", R"({"resourceType":"Patient","id":"x"})", kEvilHost);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.Header("Location").rfind(server.base() + "/Patient/x", 0), 0u)
      << created.Header("Location");
  auto posted = server.Send("POST", "/fhir/Patient", R"({"resourceType":"Patient"})", kEvilHost);
  ASSERT_EQ(posted.status, 201) << posted.body;
  EXPECT_EQ(posted.Header("Location").rfind(server.base() + "/Patient/", 0), 0u);
  for (const char* target :
       {"/fhir/Patient?_count=1", "/fhir/Patient/x/$everything", "/fhir/Patient/x/_history"}) {
    auto response = server.Send("GET", target, {}, kEvilHost);
    ASSERT_EQ(response.status, 200) << target << ": " << response.body;
    EXPECT_EQ(response.body.find("evil.example"), std::string::npos) << response.body;
    auto bundle = TestServer::Json(response);
    for (auto& link : bundle["link"].as_array()) {
      EXPECT_EQ(link.at("url").as_string().subview().rfind(server.base() + "/", 0), 0u);
    }
    for (auto& entry : bundle["entry"].as_array()) {
      EXPECT_EQ(entry.at("fullUrl").as_string().subview().rfind(server.base() + "/", 0), 0u);
    }
  }
  auto batch = server.Send("POST", "/fhir",
                           R"({"resourceType":"Bundle","type":"batch","entry":[{"request":)"
                           R"({"method":"GET","url":"Patient/x"}}]})",
                           kEvilHost);
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_EQ(batch.body.find("evil.example"), std::string::npos) << batch.body;
}

TEST(FhirBaseUrl, ConfiguredPublicUrlIsTheBase) {
  TestServer server;
  Put(server, "Patient", "x", R"({"resourceType":"Patient"})");
  http::FhirRoutes routes(server.service(),
                          http::FhirRouteOptions{"https://record.example.org/fhir"});
  http::HttpRequest request;
  request.method = "GET";
  request.target = "/fhir/Patient?_id=x";
  request.headers = {{"host", "evil.example"}};
  request.local_address = "127.0.0.1:1";
  access::AccessContext who;  // the server's own: not limited by scopes
  who.principal = "system:test";
  auto bundle = TestServer::Json(routes.Handle(request, who));
  ASSERT_TRUE(bundle.contains("entry"));
  EXPECT_EQ(bundle["entry"].as_array()[0].at("fullUrl").as_string(),
            "https://record.example.org/fhir/Patient/x");
}

// This server's URL spelt another way (scheme or host case, a trailing dot, a zero-padded port,
// a dot segment) is still this server's: stored relative and checked to exist. Compared as text
// these passed as foreign, so a dangling local reference got in.
TEST(FhirBaseUrl, OwnUrlSpeltAnotherWayIsLocal) {
  TestServer server;
  Put(server, "Patient", "x", R"({"resourceType":"Patient"})");
  const std::string port =
      server.base().substr(std::string("http://127.0.0.1:").size(),
                           server.base().size() - std::string("http://127.0.0.1:/fhir").size());
  for (const std::string& stem :
       {"HTTP://127.0.0.1:" + port + "/fhir", "http://127.0.0.1.:" + port + "/fhir",
        "http://127.0.0.1:0" + port + "/fhir", "Http://127.0.0.1:00" + port + "/fhir",
        "http://127.0.0.1:" + port + "/other/../fhir"}) {
    auto created = server.Send("POST", "/fhir/Observation", ObservationAbout(stem + "/Patient/x"));
    ASSERT_EQ(created.status, 201) << stem << ": " << created.body;
    EXPECT_EQ(TestServer::Json(created)["subject"].as_object()["reference"].as_string(),
              "Patient/x")
        << stem;
    auto dangling =
        server.Send("POST", "/fhir/Observation", ObservationAbout(stem + "/Patient/nobody"));
    EXPECT_GE(dangling.status, 400) << stem << ": " << dangling.body;
    EXPECT_LT(dangling.status, 500) << stem << ": " << dangling.body;
  }
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject=Patient/x").size(), 5u);
  // A search value is compared the same way.
  EXPECT_EQ(Ids(server, "/fhir/Observation?subject=HTTP://127.0.0.1.:0" + port + "/fhir/Patient/x")
                .size(),
            5u);
  EXPECT_EQ(
      server.Get("/fhir/Observation?subject=http://u@127.0.0.1:" + port + "/fhir/Patient/x").status,
      400);
  // Another port or host is another server.
  for (const std::string& other : {"http://127.0.0.1:1" + port + "/fhir/Patient/nobody",
                                   "http://127.0.0.2:" + port + "/fhir/Patient/nobody",
                                   "https://127.0.0.1:" + port + "/fhir/Patient/nobody",
                                   "http://127.0.0.1:" + port + "/fhirx/Patient/nobody"}) {
    auto created = server.Send("POST", "/fhir/Observation", ObservationAbout(other));
    EXPECT_EQ(created.status, 201) << other << ": " << created.body;
  }
}

// User information or an empty path segment in a reference URL names no resource plainly: 400.
TEST(FhirBaseUrl, ReferenceUrlWithUserInfoOrEmptySegmentIs400) {
  TestServer server;
  Put(server, "Patient", "x", R"({"resourceType":"Patient"})");
  const std::string authority = server.base().substr(0, server.base().size() - 5);  // no /fhir
  for (const std::string& ref :
       {"http://user@" + authority.substr(7) + "/fhir/Patient/nobody",
        authority + "//fhir/Patient/nobody", authority + "/fhir//Patient/x",
        std::string("http://user:pw@elsewhere.example/fhir/Patient/x")}) {
    auto created = server.Send("POST", "/fhir/Observation", ObservationAbout(ref));
    EXPECT_EQ(created.status, 400) << ref << ": " << created.body;
  }
  EXPECT_TRUE(Ids(server, "/fhir/Observation").empty());
}

}  // namespace
}  // namespace carerecord::testing
