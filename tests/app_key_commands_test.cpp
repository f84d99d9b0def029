// `carerecord keys rotate|list`: the signing key file from the command line, with or without a
// server on the same folder.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

namespace carerecord::testing {
namespace {

namespace fs = std::filesystem;

struct CommandRun {
  int status = -1;
  std::string out;
};

CommandRun Carerecord(const std::string& args) {
  CommandRun run;
  std::string command = CARERECORD_BINARY " " + args + " 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 256> buffer;
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
    run.out.append(buffer.data(), n);
  int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class KeyCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
    dir_ =
        fs::temp_directory_path() / ("carerecord-keys-" + std::to_string(std::random_device{}()));
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(KeyCommands, RotateMakesAnOwnerOnlyFileAndRetiresTheOldKey) {
  CommandRun first = Carerecord("keys rotate --data " + dir_.string());
  ASSERT_EQ(first.status, 0);
  ASSERT_EQ(first.out.rfind("kid=", 0), 0u) << first.out;
  const std::string first_kid = first.out.substr(4, first.out.find('\n') - 4);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "signing-keys.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  CommandRun second = Carerecord("keys rotate --data " + dir_.string());
  ASSERT_EQ(second.status, 0);
  EXPECT_NE(second.out.rfind("kid=" + first_kid + "\n", 0), 0u);  // a new current key
  EXPECT_NE(second.out.find("retired kid=" + first_kid), std::string::npos) << second.out;

  CommandRun list = Carerecord("keys list --data " + dir_.string());
  ASSERT_EQ(list.status, 0);
  EXPECT_NE(list.out.find("kid=" + first_kid + " created="), std::string::npos);
  EXPECT_NE(list.out.find(" retired="), std::string::npos);
  EXPECT_NE(list.out.find(" current"), std::string::npos);
  EXPECT_EQ(list.out.find("PRIVATE"), std::string::npos);
}

TEST_F(KeyCommands, RefuseAKeyFileOthersCanRead) {
  ASSERT_EQ(Carerecord("keys rotate --data " + dir_.string()).status, 0);
  ::chmod((dir_ / "signing-keys.json").c_str(), 0644);
  EXPECT_EQ(Carerecord("keys rotate --data " + dir_.string()).status, 1);
  EXPECT_EQ(Carerecord("keys list --data " + dir_.string()).status, 1);
}

TEST_F(KeyCommands, ListWithoutKeysFails) {
  EXPECT_EQ(Carerecord("keys list --data " + dir_.string()).status, 1);
  EXPECT_NE(Carerecord("keys").status, 0);
}

}  // namespace
}  // namespace carerecord::testing
