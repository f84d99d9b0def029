// The write-ahead log is copied into the database file by the store's own checkpoint thread
// while writes go on, and what was written is all there after a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

TEST(StoreCheckpoint, TheLogIsCopiedIntoTheDatabaseWhileWritesGoOn) {
  TestServer server;
  const auto db = server.data_dir() / "carerecord.db";
  const auto before = std::filesystem::file_size(db);
  // About 6 MB of notes that do not compress: well past the 1,000 log frames (4 MB) that wake
  // the checkpointer.
  uint64_t state = 12345;
  auto letters = [&](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      out.push_back(static_cast<char>('a' + (state >> 59) % 26));
    }
    return out;
  };
  for (int i = 0; i < 2000; ++i) {
    Put(server, "Observation", "o" + std::to_string(i),
        R"({"resourceType":"Observation","status":"final","code":{"text":"note"},"note":[{"text":")" +
            letters(3000) + R"("}]})");
  }
  // The database file grows only by checkpoints; wait for one (a deadline, not a speed test).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::filesystem::file_size(db) < before + (1 << 20) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(std::filesystem::file_size(db), before + (1 << 20));
  server.Restart();
  auto bundle = TestServer::Json(server.Get("/fhir/Observation?_summary=count"));
  EXPECT_EQ(bundle["total"].as_int64(), 2000);
  EXPECT_EQ(server.Get("/fhir/Observation/o1999").status, 200);
}

}  // namespace
}  // namespace carerecord::testing
