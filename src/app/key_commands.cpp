#include "app/key_commands.h"

#include <ctime>
#include <iostream>
#include <memory>
#include <string>

#include "access/signing_keys.h"
#include "access/wall_clock.h"

namespace carerecord::app {

namespace {

std::string IsoTime(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

int RotateKeys(const std::string& data_dir) {
  const int64_t now = access::SystemWallClock().NowSeconds();
  auto keys = access::RotateSigningKey(data_dir, now);
  if (!keys.ok()) {
    std::cerr << "carerecord: " << keys.error().message << "\n";
    return 1;
  }
  const access::SigningKey* current = access::CurrentSigningKey(*keys);
  std::cout << "kid=" << current->key.kid() << "\n";
  for (const access::SigningKey& key : *keys) {
    if (key.retired && *key.retired == now) {
      std::cout << "retired kid=" << key.key.kid()
                << " (still accepted until the tokens it signed expire)\n";
    }
  }
  std::cerr << "a running server signs with the new key within about ten seconds\n";
  return 0;
}

int ListKeys(const std::string& data_dir) {
  auto keys =
      access::ReadSigningKeyFile(std::filesystem::path(data_dir) / access::kSigningKeyFileName);
  if (!keys.ok()) {
    std::cerr << "carerecord: " << keys.error().message << "\n";
    return 1;
  }
  const access::SigningKey* current = access::CurrentSigningKey(*keys);
  for (const access::SigningKey& key : *keys) {
    std::cout << "kid=" << key.key.kid() << " created=" << IsoTime(key.created);
    if (&key == current) {
      std::cout << " current";
    } else if (key.retired) {
      std::cout << " retired=" << IsoTime(*key.retired);
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void RegisterKeyCommands(CLI::App& app) {
  auto data_dir = std::make_shared<std::string>("data");
  auto* keys = app.add_subcommand("keys", "The server's token signing keys");
  keys->require_subcommand(1);
  auto* rotate = keys->add_subcommand(
      "rotate", "Add a new current signing key; the old one stays valid until its tokens expire");
  rotate->add_option("--data", *data_dir, "Directory of the record store")->capture_default_str();
  rotate->callback([data_dir] { throw CLI::RuntimeError(RotateKeys(*data_dir)); });
  auto* list = keys->add_subcommand("list", "List the signing keys (never their private parts)");
  list->add_option("--data", *data_dir, "Directory of the record store")->capture_default_str();
  list->callback([data_dir] { throw CLI::RuntimeError(ListKeys(*data_dir)); });
}

}  // namespace carerecord::app
