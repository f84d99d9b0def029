// The real `carerecord serve`, killed with SIGKILL while clients read: its audit log verifies
// afterwards, holds an entry for every answer a client got, and the server starts again on it.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "audit/audit_test_support.h"
#include "audit/audit_verify.h"
#include "http/client.h"
#include "tests/carerecord_process.h"

namespace carerecord {
namespace {

using carerecord::testing::OutputValue;
using carerecord::testing::RunCarerecord;
using carerecord::testing::ServerProcess;

TEST(AuditProcess, KilledUnderConcurrentReadsTheLogVerifiesAndHoldsEveryAnswer) {
  audit::testing::TempDir dir;
  const std::string data = " --data " + dir.path().string();
  ASSERT_EQ(RunCarerecord("orgs add --ods TST1 --name Test --kind other" + data).status, 0);
  auto client = RunCarerecord(
      "clients add --name Reader --org TST1 --scope system/*.cruds --role "
      "integration --secret" +
      data);
  ASSERT_EQ(client.status, 0) << client.err;
  const std::string id = OutputValue(client.out, "client_id"),
                    secret = OutputValue(client.out, "client_secret");

  auto server = std::make_unique<ServerProcess>(dir.path());
  ASSERT_NE(server->port(), 0) << server->log();
  http::HttpClient setup("127.0.0.1", server->port());
  auto token_response =
      setup.Send("POST", "/auth/token", {{"Content-Type", "application/x-www-form-urlencoded"}},
                 "grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret);
  ASSERT_TRUE(token_response.ok());
  ASSERT_EQ(token_response->status, 200) << token_response->body;
  const std::string authorization =
      "Bearer " +
      std::string(boost::json::parse(token_response->body).at("access_token").as_string());
  auto created =
      setup.Send("POST", "/fhir/Patient",
                 {{"Authorization", authorization}, {"Content-Type", "application/fhir+json"}},
                 R"({"resourceType":"Patient","name":[{"family":"Kill"}]})");
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string patient = std::string(boost::json::parse(created->body).at("id").as_string());

  std::atomic<int64_t> answered{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      http::HttpClient reader("127.0.0.1", server->port());
      reader.SetTimeout(std::chrono::seconds(5));
      while (!stop) {
        auto response =
            reader.Send("GET", "/fhir/Patient/" + patient, {{"Authorization", authorization}});
        if (!response.ok()) return;  // the server is gone
        if (response->status == 200 && response->body.find("Kill") != std::string::npos) {
          ++answered;
        }
      }
    });
  }
  ASSERT_TRUE(carerecord::testing::Eventually([&] { return answered >= 300; }));
  server->Stop(SIGKILL);
  stop = true;
  for (auto& reader : readers) reader.join();

  audit::VerifyOptions options;
  options.directory = dir.path();
  auto report = audit::VerifyAuditLog(options);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok) << report->Summary();
  // The create, then one entry per read answered (at least: a read may be recorded and then
  // killed before its answer went out).
  EXPECT_GE(report->entries, answered + 1);

  // The server starts again on the log and goes on from its head.
  server = std::make_unique<ServerProcess>(dir.path());
  ASSERT_NE(server->port(), 0) << server->log();
  const std::string log = server->log();
  EXPECT_EQ(server->Stop(), 0) << log;
  auto again = RunCarerecord("audit verify" + data);
  EXPECT_EQ(again.status, 0) << again.out;
}

}  // namespace
}  // namespace carerecord
