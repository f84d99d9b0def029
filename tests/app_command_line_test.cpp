// The serve command refuses a listening address or public URL it cannot use as written, before
// it opens the store: the base URL of every response comes from one or the other.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
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

// The exit status of the binary with `args`, its output in `output`.
int RunCommand(const std::string& args, std::string& output) {
  fs::path out =
      fs::temp_directory_path() / ("carerecord-cli-" + std::to_string(std::random_device{}()));
  std::string command =
      "timeout 5 " CARERECORD_BINARY " " + args + " >" + out.string() + " 2>&1 </dev/null";
  int status = std::system(command.c_str());
  std::ifstream in(out);
  output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::error_code ec;
  fs::remove(out, ec);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A mistake on the command line exits 2 with CLI11's message, in every command: CLI11's own
// codes (105, 106, 109...) were passed through.
TEST(CommandLine, ParseErrorsExitTwoWithAMessage) {
  if (!fs::exists(CARERECORD_BINARY)) GTEST_SKIP() << "build the carerecord binary first";
  for (const std::string args :
       {"no-such-command", "serve --no-such-option", "serve --io-threads 0",
        "serve --io-threads many", "load", "load /no/such/file.json", "stats extra-argument",
        "orgs add --no-such-option", "users add", "orgs", "keys --no-such-option"}) {
    std::string output;
    EXPECT_EQ(RunCommand(args, output), 2) << args << ": " << output;
    EXPECT_FALSE(output.empty()) << args;
  }
  std::string help;
  EXPECT_EQ(RunCommand("--help", help), 0) << help;
  EXPECT_NE(help.find("serve"), std::string::npos) << help;
}

}  // namespace
}  // namespace carerecord::testing
