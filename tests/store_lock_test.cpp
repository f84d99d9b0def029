// One process at a time holds a data folder's record store: a second opener (a second serve, a
// load while a server runs) is refused with a clear message instead of running a second writer.
#include <gtest/gtest.h>

#include "store/store.h"
#include "tests/carerecord_process.h"

namespace carerecord::testing {
namespace {

namespace fs = std::filesystem;

store::SqliteOptions Options(const fs::path& dir) {
  store::SqliteOptions options;
  options.directory = dir.string();
  options.durable = false;
  return options;
}

TEST(StoreLock, SecondOpenerOfADataFolderIsRefusedUntilTheFirstCloses) {
  const fs::path dir = TempPath("carerecord-lock-");
  auto first = store::OpenSqliteStore(Options(dir));
  ASSERT_TRUE(first.ok()) << first.error().message;

  auto second = store::OpenSqliteStore(Options(dir));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, base::ErrorCode::kUnavailable);
  EXPECT_EQ(second.error().location, store::kDataFolderInUse);
  EXPECT_NE(second.error().message.find("in use by another carerecord process"), std::string::npos)
      << second.error().message;
  EXPECT_NE(second.error().message.find("pid " + std::to_string(getpid())), std::string::npos)
      << second.error().message;

  // The refused opener left the first one working.
  store::PreparedWrite write;
  write.type = "Patient";
  write.id = "p1";
  write.method = "PUT";
  write.json = R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"1"}})";
  write.compartment_patients = {"p1"};
  store::WriteTransaction transaction;
  transaction.writes.push_back(write);
  EXPECT_TRUE(first.value()->Commit(std::move(transaction)).ok());
  EXPECT_EQ(first.value()->Stats()->resources, 1);

  first.value()->Close();
  auto again = store::OpenSqliteStore(Options(dir));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again.value()->Stats()->resources, 1);
  again.value()->Close();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(StoreLock, LoadAndASecondServeAreRefusedWhileAServerRuns) {
  if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
  const fs::path dir = TempPath("carerecord-lock-");
  const fs::path bundle = TempPath("carerecord-bundle-").string() + ".json";
  std::ofstream(bundle) << R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Patient","id":"p1"},"request":{"method":"PUT","url":"Patient/p1"}}]})";
  {
    ServerProcess server(dir);
    ASSERT_NE(server.port(), 0) << server.log();
    auto load = RunCarerecord("load --data " + dir.string() + " " + bundle.string());
    EXPECT_EQ(load.status, 1);
    EXPECT_NE(load.err.find("in use by another carerecord process"), std::string::npos) << load.err;
    ServerProcess second(dir);
    EXPECT_EQ(second.port(), 0);
    EXPECT_NE(second.log().find("in use by another carerecord process"), std::string::npos)
        << second.log();
    EXPECT_EQ(server.Stop(), 0);
  }
  // Once the server has stopped, the same load goes through.
  auto load = RunCarerecord("load --data " + dir.string() + " " + bundle.string());
  EXPECT_EQ(load.status, 0) << load.err;
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::remove(bundle, ec);
}

}  // namespace
}  // namespace carerecord::testing
