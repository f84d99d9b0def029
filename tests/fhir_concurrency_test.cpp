// HTTP integration tests of concurrent writers: 32 threads, each with its own connection,
// updating one resource, posting transactions, and racing conditional creates.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

// A JSON value as text, for comparing with std::string in assertions.
std::string Text(const json::value& value) {
  return value.is_string() ? std::string(value.as_string()) : json::serialize(value);
}

constexpr int kThreads = 32;

// Runs `body(thread_index, client)` on kThreads threads at once, each with its own client.
template <typename Body>
void RunConcurrently(TestServer& server, Body body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AuthorizedClient client(server);
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      body(t, client);
    });
  }
  for (auto& thread : threads) thread.join();
}

// Counts response statuses from many threads.
class StatusTally {
 public:
  void Add(int status, const std::string& body) {
    std::lock_guard lock(mutex_);
    ++counts_[status];
    if (status >= 400 || status < 0) unexpected_.push_back(std::to_string(status) + " " + body);
  }
  int Count(int status) const {
    auto it = counts_.find(status);
    return it == counts_.end() ? 0 : it->second;
  }
  std::string Describe() const {
    std::string out;
    for (auto [status, n] : counts_) out += std::to_string(status) + ":" + std::to_string(n) + " ";
    for (size_t i = 0; i < unexpected_.size() && i < 3; ++i) out += "\n" + unexpected_[i];
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<int, int> counts_;
  std::vector<std::string> unexpected_;
};

int Send(AuthorizedClient& client, const std::string& method, const std::string& target,
         const std::string& body, StatusTally& tally,
         std::vector<std::pair<std::string, std::string>> headers = {}) {
  headers.emplace_back("Content-Type", "application/fhir+json");
  auto response = client.Send(method, target, std::move(headers), body);
  int status = response.ok() ? response->status : -1;
  tally.Add(status, response.ok() ? response->body.substr(0, 300) : response.error().message);
  return status;
}

TEST(FhirConcurrency, UpdatesOfOneResourceWithoutIfMatchAllLandAsVersions) {
  TestServer server;
  ASSERT_EQ(
      server
          .Send("PUT", "/fhir/Patient/pt-shared", R"({"resourceType":"Patient","id":"pt-shared"})")
          .status,
      201);
  constexpr int kUpdatesPerThread = 4;
  StatusTally tally;
  RunConcurrently(server, [&](int t, AuthorizedClient& client) {
    for (int i = 0; i < kUpdatesPerThread; ++i) {
      std::string body = R"({"resourceType":"Patient","id":"pt-shared","name":[{"family":"Writer)" +
                         std::to_string(t) + R"(","given":["Update)" + std::to_string(i) +
                         R"("]}]})";
      Send(client, "PUT", "/fhir/Patient/pt-shared", body, tally);
      // Creates alongside, to mix the commit groups.
      Send(client, "POST", "/fhir/Patient",
           R"({"resourceType":"Patient","name":[{"family":"Bystander)" + std::to_string(t) +
               R"("}]})",
           tally);
    }
  });
  EXPECT_EQ(tally.Count(200), kThreads * kUpdatesPerThread) << tally.Describe();
  EXPECT_EQ(tally.Count(201), kThreads * kUpdatesPerThread) << tally.Describe();
  auto history = TestServer::Json(server.Get("/fhir/Patient/pt-shared/_history?_count=1"));
  EXPECT_EQ(history["total"].as_int64(), 1 + tally.Count(200));
  auto current = server.Get("/fhir/Patient/pt-shared");
  EXPECT_EQ(current.Header("etag"), "W/\"" + std::to_string(1 + tally.Count(200)) + "\"");
}

TEST(FhirConcurrency, IfMatchUpdatesRaceAndExactlyOneWinsEachVersion) {
  TestServer server;
  server.Send("PUT", "/fhir/Patient/pt-race", R"({"resourceType":"Patient","id":"pt-race"})");
  StatusTally tally;
  RunConcurrently(server, [&](int t, AuthorizedClient& client) {
    std::string body = R"({"resourceType":"Patient","id":"pt-race","gender":"unknown"})";
    Send(client, "PUT", "/fhir/Patient/pt-race", body, tally, {{"If-Match", "W/\"1\""}});
  });
  EXPECT_EQ(tally.Count(200), 1) << tally.Describe();
  EXPECT_EQ(tally.Count(412), kThreads - 1) << tally.Describe();
  EXPECT_EQ(server.Get("/fhir/Patient/pt-race").Header("etag"), "W/\"2\"");
}

TEST(FhirConcurrency, ConcurrentTransactionsAllCommitAndAreReadable) {
  TestServer server;
  StatusTally tally;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> created;  // patient id, observation id
  RunConcurrently(server, [&](int t, AuthorizedClient& client) {
    for (int i = 0; i < 3; ++i) {
      std::string nhs = "90000" + std::to_string(10000 + t * 10 + i);
      std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
        {"fullUrl":"urn:uuid:00000000-0000-4000-8000-0000000000d1","request":{"method":"POST","url":"Observation"},
         "resource":{"resourceType":"Observation","status":"final","code":{"text":"Pulse"},
           "subject":{"reference":"urn:uuid:00000000-0000-4000-8000-0000000000b2"},"valueQuantity":{"value":64,"unit":"/min"}}},
        {"fullUrl":"urn:uuid:00000000-0000-4000-8000-0000000000b2","request":{"method":"POST","url":"Patient"},
         "resource":{"resourceType":"Patient","identifier":[{"system":
           "https://fhir.nhs.uk/Id/nhs-number","value":")" +
                           nhs + R"("}]}}]})";
      auto response =
          client.Send("POST", "/fhir", {{"Content-Type", "application/fhir+json"}}, bundle);
      int status = response.ok() ? response->status : -1;
      tally.Add(status, response.ok() ? response->body.substr(0, 300) : "");
      if (status != 200) continue;
      auto result = json::parse(response->body).as_object();
      auto& entries = result["entry"].as_array();
      auto id_of = [&](size_t k) {
        std::string location(
            entries[k].as_object()["response"].as_object()["location"].as_string());
        location = location.substr(0, location.find("/_history"));
        return location.substr(location.find('/') + 1);
      };
      std::lock_guard lock(mutex);
      created.emplace_back(id_of(1), id_of(0));
    }
  });
  EXPECT_EQ(tally.Count(200), kThreads * 3) << tally.Describe();
  ASSERT_EQ(created.size(), static_cast<size_t>(kThreads * 3));
  for (const auto& [patient, observation] : created) {
    ASSERT_EQ(server.Get("/fhir/Patient/" + patient).status, 200) << patient;
    auto read = TestServer::Json(server.Get("/fhir/Observation/" + observation));
    EXPECT_EQ(Text(read["subject"].as_object()["reference"]), "Patient/" + patient);
  }
  auto count = TestServer::Json(server.Get("/fhir/Observation?_summary=count"));
  EXPECT_EQ(count["total"].as_int64(), kThreads * 3);
}

TEST(FhirConcurrency, ConcurrentIfNoneExistCreatesOfOneIdentifierLeaveExactlyOne) {
  TestServer server;
  StatusTally tally;
  const std::string condition = "identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009";
  RunConcurrently(server, [&](int t, AuthorizedClient& client) {
    std::string body = R"({"resourceType":"Patient","identifier":[{"system":
        "https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],
        "name":[{"family":"Racer)" +
                       std::to_string(t) + R"("}]})";
    Send(client, "POST", "/fhir/Patient", body, tally, {{"If-None-Exist", condition}});
  });
  EXPECT_EQ(tally.Count(201), 1) << tally.Describe();
  EXPECT_EQ(tally.Count(200), kThreads - 1) << tally.Describe();
  auto count = TestServer::Json(server.Get("/fhir/Patient?_summary=count&" + condition));
  EXPECT_EQ(count["total"].as_int64(), 1);
}

TEST(FhirConcurrency, ConcurrentConditionalUpdatesOfOneIdentifierLeaveExactlyOne) {
  TestServer server;
  StatusTally tally;
  const std::string condition = "identifier=https://fhir.nhs.uk/Id/nhs-number|9000000017";
  RunConcurrently(server, [&](int t, AuthorizedClient& client) {
    std::string body = R"({"resourceType":"Patient","identifier":[{"system":
        "https://fhir.nhs.uk/Id/nhs-number","value":"9000000017"}],
        "name":[{"family":"Racer)" +
                       std::to_string(t) + R"("}]})";
    Send(client, "PUT", "/fhir/Patient?" + condition, body, tally);
  });
  EXPECT_EQ(tally.Count(201), 1) << tally.Describe();
  EXPECT_EQ(tally.Count(200), kThreads - 1) << tally.Describe();
  auto count = TestServer::Json(server.Get("/fhir/Patient?_summary=count&" + condition));
  EXPECT_EQ(count["total"].as_int64(), 1);
}

}  // namespace
}  // namespace carerecord::testing
