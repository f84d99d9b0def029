// Bounds on one batch or transaction POST: entries per Bundle, and the size its response may
// grow to through GET entries.
#include <gtest/gtest.h>

#include <string>

#include "tests/test_server.h"

namespace carerecord {
namespace {

std::string BatchOfSearches(int n, const std::string& search) {
  std::string body = R"({"resourceType":"Bundle","type":"batch","entry":[)";
  for (int i = 0; i < n; ++i) {
    if (i) body += ",";
    body += R"({"request":{"method":"GET","url":")" + search + R"("}})";
  }
  return body + "]}";
}

TEST(FhirBundleLimits, TooManyEntriesIs413AndStoresNothing) {
  testing::TestServer server(64 << 20);
  std::string body = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  for (int i = 0; i < 20001; ++i) {
    if (i) body += ",";
    body +=
        R"({"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}})";
  }
  body += "]}";
  auto response = server.Send("POST", "/fhir", body);
  EXPECT_EQ(response.status, 413) << response.body.substr(0, 300);
  EXPECT_NE(response.body.find("20000"), std::string::npos);
  auto total = testing::TestServer::Json(server.Get("/fhir/Patient?_summary=count"));
  EXPECT_EQ(total["total"].as_int64(), 0);
}

TEST(FhirBundleLimits, ReadsStopAtTheResponseBudgetEachWithA413Entry) {
  testing::TestServer server;
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(server
                  .Send("POST", "/fhir/Patient",
                        R"({"resourceType":"Patient","name":[{"family":"Budget"}]})")
                  .status,
              201);
  }
  access::OpenPolicy policy;
  interactions::ServiceOptions options;
  options.bundle_response_max_bytes = 4096;  // about two pages of twenty Patients
  interactions::FhirService service(server.store(), policy, nullptr, options);
  interactions::RequestContext ctx;
  ctx.base_url = server.base();
  auto response = service.ProcessBundle(ctx, BatchOfSearches(10, "Patient?family=Budget"));
  ASSERT_EQ(response.status, 200) << response.body.substr(0, 300);
  auto bundle = boost::json::parse(response.body).as_object();
  auto& entries = bundle["entry"].as_array();
  ASSERT_EQ(entries.size(), 10u);
  int read = 0, refused = 0;
  for (auto& entry : entries) {
    std::string status(entry.at("response").at("status").as_string());
    if (status == "200") {
      ++read;
      EXPECT_EQ(entry.at("resource").at("entry").as_array().size(), 20u);
      EXPECT_EQ(refused, 0) << "a read after a refusal";
    } else {
      EXPECT_EQ(status, "413");
      EXPECT_EQ(entry.at("response").at("outcome").at("resourceType").as_string(),
                "OperationOutcome");
      ++refused;
    }
  }
  EXPECT_GE(read, 1);
  EXPECT_GE(refused, 5);
  EXPECT_LT(response.body.size(), 16384u);  // the budget, one more page, the refusals
}

TEST(FhirBundleLimits, BatchErrorEntriesCarryTheOutcomeBesideTheStatus) {
  testing::TestServer server;
  auto response = server.Send("POST", "/fhir", BatchOfSearches(2, "Patient/nope"));
  ASSERT_EQ(response.status, 200) << response.body;
  auto bundle = testing::TestServer::Json(response);
  for (auto& entry : bundle["entry"].as_array()) {
    EXPECT_EQ(entry.at("response").at("status").as_string(), "404");
    EXPECT_EQ(entry.at("response").at("outcome").at("resourceType").as_string(),
              "OperationOutcome");
    EXPECT_EQ(entry.as_object().if_contains("resource"), nullptr);
  }
}

}  // namespace
}  // namespace carerecord
