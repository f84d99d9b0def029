// The README's run command from outside: `carerecord serve --demo` on an empty data folder loads
// the whole default demo region through the served policy (the gate that refuses what it could
// not enforce, such as an objection narrowed to a purpose; hostile 7 finding 1), prints the
// demo's sign-ins and serves it; the demo integration client it prints reads the region back,
// patients' objections (deny Consents) among it.

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "app/demo_region.h"
#include "audit/audit_test_support.h"
#include "http/client.h"
#include "tests/carerecord_process.h"

namespace carerecord {
namespace {

namespace json = boost::json;
using carerecord::testing::OutputValue;
using carerecord::testing::RunCarerecord;
using carerecord::testing::ServerProcess;

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(DemoServeTest, ServeDemoLoadsTheDefaultRegionThroughTheServedPolicy) {
  // The default region holds objections: the load below is what proves the gate takes them.
  int denies = 0;
  for (const std::string& bundle : app::GenerateDemoRegion({})) {
    denies += Count(bundle, R"("type":"deny")");
  }
  ASSERT_GT(denies, 0) << "the default demo region holds no objection to try the gate with";

  audit::testing::TempDir dir;
  ServerProcess server(dir.path(), {"--demo"});
  ASSERT_NE(server.port(), 0) << server.log();
  const std::string log = server.log();
  EXPECT_NE(log.find("loading the demo region (200 patients)"), std::string::npos) << log;
  const std::string id = OutputValue(log, "client_id"), secret = OutputValue(log, "client_secret");
  ASSERT_FALSE(id.empty()) << log;
  ASSERT_FALSE(secret.empty()) << log;

  http::HttpClient client("127.0.0.1", server.port());
  auto token =
      client.Send("POST", "/auth/token", {{"Content-Type", "application/x-www-form-urlencoded"}},
                  "grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret);
  ASSERT_TRUE(token.ok());
  ASSERT_EQ(token->status, 200) << token->body;
  const std::string authorization =
      "Bearer " + std::string(json::parse(token->body).at("access_token").as_string());
  auto total = [&](const std::string& query) -> int64_t {
    auto answer = client.Send("GET", "/fhir/" + query, {{"Authorization", authorization}});
    if (!answer.ok() || answer->status != 200) return -1;
    return json::parse(answer->body).at("total").as_int64();
  };
  EXPECT_EQ(total("Patient?_summary=count"), 200);
  auto consents =
      client.Send("GET", "/fhir/Consent?_count=1000", {{"Authorization", authorization}});
  ASSERT_TRUE(consents.ok());
  ASSERT_EQ(consents->status, 200) << consents->body.substr(0, 300);
  EXPECT_EQ(Count(consents->body, R"("type":"deny")"), denies);
  EXPECT_EQ(server.Stop(), 0) << server.log();
}

}  // namespace
}  // namespace carerecord
