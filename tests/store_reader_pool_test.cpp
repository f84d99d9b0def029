// The store's reader connections are a bounded pool: reads beyond it wait for a connection
// rather than opening (and then closing) one of their own per request.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "store/store.h"

namespace carerecord::store {
namespace {

class AdmitAll final : public ReadGate {
 public:
  bool Admit(const ItemFacts&) override { return true; }
  bool Permits(const ItemFacts&) override { return true; }
};

// Open file descriptors of this process on `file`: one per SQLite connection to it.
int OpenDescriptorsOn(const std::filesystem::path& file) {
  int count = 0;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(fd.path(), link_ec) == file) ++count;
  }
  return count;
}

class ReaderPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("carerecord-pool-" + std::to_string(random()) + std::to_string(random()));
    SqliteOptions options;
    options.directory = dir_.string();
    options.durable = false;
    options.reader_connections = 3;
    store_ = std::move(OpenSqliteStore(options)).value();
    database_ = std::filesystem::canonical(dir_ / "carerecord.db");
  }
  void TearDown() override {
    store_->Close();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::filesystem::path dir_, database_;
  std::unique_ptr<Store> store_;
  AdmitAll gate_;
};

TEST_F(ReaderPoolTest, AReaderBeyondThePoolWaitsForAConnectionInsteadOfOpeningOne) {
  std::vector<std::unique_ptr<ReadSession>> held;
  for (int i = 0; i < 3; ++i) held.push_back(store_->OpenRead(gate_));
  const int with_pool_in_use = OpenDescriptorsOn(database_);
  std::atomic<int> seen_by_fourth{0};
  std::thread fourth([&] {
    auto session = store_->OpenRead(gate_);
    EXPECT_NE(session, nullptr);
    seen_by_fourth = OpenDescriptorsOn(database_);
  });
  // Gives a reader that would open its own connection the time to do so; not a speed test.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  held.pop_back();  // the fourth reader gets this one
  fourth.join();
  EXPECT_EQ(seen_by_fourth.load(), with_pool_in_use);
}

TEST_F(ReaderPoolTest, ManyConcurrentReadersNeverOpenMoreConnectionsThanThePool) {
  const int before = OpenDescriptorsOn(database_);  // the writer's and the checkpointer's
  std::atomic<int> most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 30; ++i) {
        auto session = store_->OpenRead(gate_);
        ASSERT_NE(session, nullptr);
        auto missing = session->Read("Patient", "absent");
        EXPECT_FALSE(missing.ok());
        int now = OpenDescriptorsOn(database_);
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(most.load(), before + 3);
  // And those opened stay open for the next reads rather than being closed after each.
  EXPECT_EQ(OpenDescriptorsOn(database_), most.load());
}

}  // namespace
}  // namespace carerecord::store
