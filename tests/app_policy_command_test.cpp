// `carerecord policy show` prints the effective policy, and a bad policy file is refused at the
// start of `serve` (and of `policy show`) naming the file and where it is wrong.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <fstream>

#include "tests/carerecord_process.h"

namespace carerecord::testing {
namespace {

namespace fs = std::filesystem;

TEST(PolicyCommand, ShowPrintsTheDefaultsThenTheFileOverThem) {
  if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
  const fs::path dir = TempPath("carerecord-policy-");
  fs::create_directories(dir);
  CommandResult shown = RunCarerecord("policy show --data " + dir.string());
  ASSERT_EQ(shown.status, 0) << shown.err;
  auto policy = boost::json::parse(shown.out).as_object();
  EXPECT_EQ(policy.at("break_glass_minutes"), 240);
  EXPECT_EQ(policy.at("roles").at("auditor").at("read").as_array()[0], "AuditEvent");
  EXPECT_TRUE(policy.at("groups").as_object().contains("*clinical*"));
  // DIR/policy.json is the server's when no --policy is given.
  std::ofstream(dir / "policy.json") << R"({"break_glass_minutes": 60})";
  shown = RunCarerecord("policy show --data " + dir.string());
  ASSERT_EQ(shown.status, 0) << shown.err;
  EXPECT_EQ(boost::json::parse(shown.out).at("break_glass_minutes"), 60);
  std::ofstream(dir / "other.json") << R"({"declaration_days": 7})";
  shown = RunCarerecord("policy show --data " + dir.string() + " --policy " +
                        (dir / "other.json").string());
  ASSERT_EQ(shown.status, 0) << shown.err;
  EXPECT_EQ(boost::json::parse(shown.out).at("declaration_days"), 7);
  EXPECT_EQ(boost::json::parse(shown.out).at("break_glass_minutes"), 240);
  fs::remove_all(dir);
}

// The printed policy is a policy file: fed back with --policy it prints the same again.
TEST(PolicyCommand, ThePrintedPolicyLoadsBackToTheSamePolicy) {
  if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
  const fs::path dir = TempPath("carerecord-policy-");
  fs::create_directories(dir);
  std::ofstream(dir / "policy.json") << R"({"restricted_readers": ["clinician"]})";
  CommandResult shown = RunCarerecord("policy show --data " + dir.string());
  ASSERT_EQ(shown.status, 0) << shown.err;
  std::ofstream(dir / "printed.json") << shown.out;
  CommandResult again = RunCarerecord("policy show --data " + dir.string() + " --policy " +
                                      (dir / "printed.json").string());
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, shown.out);
  fs::remove_all(dir);
}

TEST(PolicyCommand, ServeRefusesABadPolicyNamingTheFieldOrLine) {
  if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
  const fs::path dir = TempPath("carerecord-policy-");
  fs::create_directories(dir);
  const fs::path bad = dir / "bad.json";
  std::ofstream(bad) << R"({"roles": {"nurse": {"write": ["Observation", "Observaton"]}}})";
  CommandResult served = RunCarerecord("serve --data " + (dir / "data").string() +
                                       " --http 127.0.0.1:0 --no-fsync --policy " + bad.string());
  EXPECT_EQ(served.status, 2);
  EXPECT_NE(served.err.find("roles.nurse.write[1]"), std::string::npos) << served.err;
  EXPECT_NE(served.err.find("Observaton"), std::string::npos) << served.err;
  EXPECT_FALSE(fs::exists(dir / "data" / "carerecord.db"));  // refused before the store opens
  std::ofstream(bad, std::ios::trunc) << "{\n  \"roles\": {\n    \"nurse\": [}\n}";
  served = RunCarerecord("serve --data " + (dir / "data").string() +
                         " --http 127.0.0.1:0 --no-fsync --policy " + bad.string());
  EXPECT_EQ(served.status, 2);
  EXPECT_NE(served.err.find("line 3"), std::string::npos) << served.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace carerecord::testing
