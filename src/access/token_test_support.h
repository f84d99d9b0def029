// Shared by the token tests: the fixtures made by testdata/make_fixtures.sh (openssl keys, Node
// signatures), temporary data folders, and key files made from a given PEM. Tests only.
#pragma once

#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace carerecord::access::testing {

inline std::string ReadTestData(const std::string& name) {
  std::ifstream in(std::string(CARERECORD_SOURCE_DIR) + "/src/access/testdata/" + name,
                   std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline const boost::json::object& Fixtures() {
  static const boost::json::object fixtures =
      boost::json::parse(ReadTestData("fixtures.json")).as_object();
  return fixtures;
}

inline std::string Fixture(const char* name) {
  return std::string(Fixtures().at(name).as_string());
}

class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    path_ = std::filesystem::temp_directory_path() /
            ("carerecord-tokens-" + std::to_string(std::random_device{}()) + "-" +
             std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path_);
  }
  ~TemporaryDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A key file holding one current key made from `pem` (as an operator could write by hand).
inline void WriteKeyFileFromPem(const std::filesystem::path& dir, const std::string& pem,
                                const std::string& kid, int64_t created) {
  boost::json::object entry{
      {"kid", kid}, {"alg", "ES256"}, {"created", created}, {"private_key_pem", pem}};
  boost::json::object file{{"format", "carerecord-signing-keys-1"},
                           {"keys", boost::json::array{entry}}};
  std::filesystem::path path = dir / "signing-keys.json";
  std::ofstream(path) << boost::json::serialize(file);
  ::chmod(path.c_str(), 0600);
}

}  // namespace carerecord::access::testing
