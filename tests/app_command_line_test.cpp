// The serve command refuses a listening address or public URL it cannot use as written, before
// it opens the store: the base URL of every response comes from one or the other.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace carerecord::testing {
namespace {

namespace fs = std::filesystem;

// The exit status of the binary with `args` (a server that starts instead of refusing is
// stopped by timeout after a few seconds, and its status is then 124).
int RunServe(const std::string& args) {
  fs::path dir =
      fs::temp_directory_path() / ("carerecord-cli-" + std::to_string(std::random_device{}()));
  std::string command = "timeout 5 " CARERECORD_BINARY " serve --data " + dir.string() + " " +
                        args + " >/dev/null 2>&1";
  int status = std::system(command.c_str());
  std::error_code ec;
  fs::remove_all(dir, ec);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(CommandLine, ListeningPortMustBeAWholeNumber) {
  if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
  EXPECT_EQ(RunServe("--http 127.0.0.1:0x"), 2);
  EXPECT_EQ(RunServe("--http 127.0.0.1:70000"), 2);
  EXPECT_EQ(RunServe("--http 127.0.0.1:-1"), 2);
}

TEST(CommandLine, PublicUrlMustBeAnHttpUrl) {
  if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
  EXPECT_EQ(RunServe("--http 127.0.0.1:0 --public-url record.example.org/fhir"), 2);
  EXPECT_EQ(RunServe("--http 127.0.0.1:0 --public-url ftp://record.example.org/fhir"), 2);
}

}  // namespace
}  // namespace carerecord::testing
