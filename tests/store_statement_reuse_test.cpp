// Searches reuse prepared statements per SQL text on each connection (SqliteConnection::
// Reusable): many threads searching at once, each with its own values and shapes (one value,
// several, another parameter beside), beside a writer, each get exactly their own matches.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

constexpr const char* kSystem = "urn:test:mrn";

// Family names end in z, so none is a prefix of another (a string search matches prefixes).
std::string PatientsBundle(int first, int count) {
  json::array entries;
  for (int i = first; i < first + count; ++i) {
    json::object patient{
        {"resourceType", "Patient"},
        {"identifier",
         json::array{json::object{{"system", kSystem}, {"value", "P" + std::to_string(i)}}}},
        {"name", json::array{json::object{{"family", "Fam" + std::to_string(i) + "z"}}}}};
    entries.push_back(
        json::object{{"resource", std::move(patient)},
                     {"request", json::object{{"method", "POST"}, {"url", "Patient"}}}});
  }
  return json::serialize(
      json::object{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}});
}

// The identifier values of the Patients a search Bundle matched.
std::multiset<std::string> Matched(const std::string& body) {
  std::multiset<std::string> out;
  json::value bundle = json::parse(body);
  if (auto* entries = bundle.as_object().if_contains("entry")) {
    for (const auto& entry : entries->as_array()) {
      const auto& resource = entry.at("resource").as_object();
      out.insert(std::string(resource.at("identifier").at(0).at("value").as_string()));
    }
  }
  return out;
}

TEST(StatementReuse, ConcurrentSearchesOfManyShapesEachGetTheirOwnMatches) {
  TestServer server;
  interactions::RequestContext ctx;
  ctx.base_url = server.base();
  constexpr int kPatients = 40;
  ASSERT_EQ(server.service().ProcessBundle(ctx, PatientsBundle(0, kPatients)).status, 200);
  constexpr int kThreads = 8, kRounds = 150;
  std::atomic<int> wrong{0}, failed{0};
  std::atomic<bool> done{false};
  std::string first_wrong;
  std::mutex mutex;
  std::vector<std::thread> threads;
  // A writer beside them: Patients the searches never ask for.
  std::thread writer([&] {
    for (int n = 0; !done.load() && n < 50; ++n) {
      if (server.service().ProcessBundle(ctx, PatientsBundle(1000 + n * 2, 2)).status != 200) {
        failed.fetch_add(1);
      }
    }
  });
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kRounds; ++k) {
        const int a = (t * 7 + k) % kPatients, b = (t * 13 + 3 * k + 1) % kPatients;
        const std::string pa = "P" + std::to_string(a), pb = "P" + std::to_string(b);
        interactions::QueryParams params;
        std::multiset<std::string> expected;
        switch (k % 4) {
          case 0:  // one value
            params = {{"identifier", std::string(kSystem) + "|" + pa}};
            expected = {pa};
            break;
          case 1:  // two values: another SQL text, one more bound value
            params = {{"identifier", std::string(kSystem) + "|" + pa + "," + kSystem + "|" + pb}};
            expected = {pa, pb};
            if (a == b) expected = {pa};
            break;
          case 2:  // another parameter beside: one that matches, then one that does not
            params = {{"identifier", std::string(kSystem) + "|" + pa},
                      {"family", "Fam" + std::to_string(a) + "z"}};
            expected = {pa};
            break;
          default:
            params = {{"identifier", std::string(kSystem) + "|" + pa},
                      {"family", "Fam" + std::to_string(b) + "z"}};
            if (a == b) expected = {pa};
            break;
        }
        auto response = server.service().Search(ctx, "Patient", params);
        if (response.status != 200) {
          failed.fetch_add(1);
          continue;
        }
        auto got = Matched(response.body);
        if (got != expected) {
          std::lock_guard lock(mutex);
          if (wrong.fetch_add(1) == 0) first_wrong = response.body.substr(0, 400);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  done = true;
  writer.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0) << first_wrong;
}

}  // namespace
}  // namespace carerecord::testing
