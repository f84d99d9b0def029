#include "app/identity_commands.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "access/directory.h"
#include "app/directory_sync.h"
#include "fhir/fhir_date.h"
#include "store/identity_records.h"
#include "store/store.h"

namespace carerecord::app {
namespace {

using base::ErrorCode;

// Refused input exits 2, a failure of the system 1.
int Fail(const base::Error& error) {
  std::cerr << "carerecord: " << error.message << "\n";
  const bool input = error.code == ErrorCode::kInvalid || error.code == ErrorCode::kNotFound ||
                     error.code == ErrorCode::kConflict;
  return input ? 2 : 1;
}

int Refuse(const std::string& message) {
  std::cerr << "carerecord: " << message << "\n";
  return 2;
}

// The password on stdin when stdin is not a terminal and holds one (one line ending
// dropped); nullopt when it should be generated.
std::optional<std::string> PasswordFromStdin() {
  if (isatty(STDIN_FILENO)) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) return std::nullopt;
  return text;
}

const char* State(bool enabled) { return enabled ? "enabled" : "disabled"; }

}  // namespace

struct IdentityCommands::Options {
  std::string data_dir = "data";
  std::string ods, name, kind = "other";
  std::string username, org, role, display_name, patient;
  std::string scope, jwks_file, client_id;
  bool secret = false, is_public = false;
  std::vector<std::string> redirect_uris;

  CLI::App *orgs_add, *orgs_list, *orgs_enable, *orgs_disable;
  CLI::App *users_add, *users_list, *users_enable, *users_disable, *users_reset;
  CLI::App *clients_add, *clients_list, *clients_enable, *clients_disable;

  int Run();
  int RunOrgs(access::Directory& directory, store::IdentityRecords& records);
  int RunUsers(access::Directory& directory, store::IdentityRecords& records);
  int RunClients(access::Directory& directory, store::IdentityRecords& records);
  int WriteRecordIfNoServer(store::IdentityRecords& records);
};

IdentityCommands::IdentityCommands(CLI::App& app) : options_(std::make_unique<Options>()) {
  Options& o = *options_;
  auto data = [&o](CLI::App* command) {
    command->add_option("--data", o.data_dir, "Directory of the record store")
        ->capture_default_str();
    return command;
  };

  auto* orgs = app.add_subcommand("orgs", "Organisations, by ODS code");
  orgs->require_subcommand(1);
  o.orgs_add = data(orgs->add_subcommand("add", "Add an organisation (also a FHIR Organization)"));
  o.orgs_add->add_option("--ods", o.ods, "ODS code, e.g. RDZ or J81001");
  o.orgs_add->add_option("--name", o.name, "Name");
  o.orgs_add->add_option("--kind", o.kind, "gp, hospital, community, hospice, council or other")
      ->capture_default_str();
  o.orgs_list = data(orgs->add_subcommand("list", "List organisations, one per line"));
  o.orgs_enable = data(orgs->add_subcommand("enable", "Enable an organisation"));
  o.orgs_enable->add_option("--ods", o.ods, "ODS code");
  o.orgs_disable =
      data(orgs->add_subcommand("disable",
                                "Disable an organisation: none of its users or clients "
                                "authenticate"));
  o.orgs_disable->add_option("--ods", o.ods, "ODS code");

  auto* users =
      app.add_subcommand("users", "Users: staff, and patients signing in to their record");
  users->require_subcommand(1);
  o.users_add = data(users->add_subcommand(
      "add",
      "Add a user; the password is read from stdin, or generated and printed once when stdin is a "
      "terminal or empty"));
  o.users_add->add_option("--username", o.username, "Username");
  o.users_add->add_option("--org", o.org, "ODS code of their organisation");
  o.users_add->add_option("--role", o.role,
                          "clinician, nurse, allied-health, social-worker, admin-staff, auditor, "
                          "system-admin or patient");
  o.users_add->add_option("--name", o.display_name, "Display name");
  o.users_add->add_option("--patient", o.patient, "Role patient: the id of their Patient");
  o.users_list = data(users->add_subcommand("list", "List users, one per line"));
  o.users_enable = data(users->add_subcommand("enable", "Enable a user"));
  o.users_enable->add_option("--username", o.username, "Username");
  o.users_disable = data(users->add_subcommand("disable", "Disable a user"));
  o.users_disable->add_option("--username", o.username, "Username");
  o.users_reset = data(users->add_subcommand(
      "reset-password",
      "Set a new password (from stdin, or generated and printed once); clears "
      "a lockout"));
  o.users_reset->add_option("--username", o.username, "Username");

  auto* clients = app.add_subcommand("clients", "Clients: applications and systems");
  clients->require_subcommand(1);
  o.clients_add = data(clients->add_subcommand(
      "add", "Register a client; prints client_id=... (and client_secret=... with --secret) once"));
  o.clients_add->add_option("--name", o.name, "Name");
  o.clients_add->add_option("--org", o.org, "ODS code of its organisation");
  o.clients_add->add_option("--scope", o.scope, "Scopes it may be granted, space-separated");
  o.clients_add->add_option("--role", o.role,
                            "Role of its own tokens (client credentials), e.g. integration");
  o.clients_add->add_flag("--secret", o.secret, "Authenticates with a generated client secret");
  o.clients_add->add_option("--jwks-file", o.jwks_file,
                            "Authenticates with private_key_jwt: a file with its public JWK Set");
  o.clients_add->add_flag("--public", o.is_public, "A public client (PKCE, no secret)");
  o.clients_add->add_option("--redirect-uri", o.redirect_uris,
                            "Redirect URI (repeatable; required with --public)");
  o.clients_list = data(clients->add_subcommand("list", "List clients, one per line"));
  o.clients_enable = data(clients->add_subcommand("enable", "Enable a client"));
  o.clients_enable->add_option("--client-id", o.client_id, "Client id");
  o.clients_disable = data(clients->add_subcommand("disable", "Disable a client"));
  o.clients_disable->add_option("--client-id", o.client_id, "Client id");
}

IdentityCommands::~IdentityCommands() = default;

std::optional<int> IdentityCommands::RunIfChosen() {
  const Options& o = *options_;
  for (CLI::App* command : {o.orgs_add, o.orgs_list, o.orgs_enable, o.orgs_disable, o.users_add,
                            o.users_list, o.users_enable, o.users_disable, o.users_reset,
                            o.clients_add, o.clients_list, o.clients_enable, o.clients_disable}) {
    if (command->parsed()) return options_->Run();
  }
  return std::nullopt;
}

int IdentityCommands::Options::Run() {
  // Only the first organisation may make a data folder: elsewhere a mistyped --data would
  // quietly make an empty one and list nothing.
  if (!orgs_add->parsed() && !std::filesystem::exists(data_dir + "/carerecord.db")) {
    return Refuse("no record store in " + data_dir +
                  " (make one with serve, load or orgs add; or check --data)");
  }
  auto opened = store::OpenSqliteIdentityRecords(data_dir);
  if (!opened.ok()) return Fail(opened.error());
  store::IdentityRecords& records = *opened.value();
  access::Directory directory(records);
  if (orgs_add->parsed() || orgs_list->parsed() || orgs_enable->parsed() ||
      orgs_disable->parsed()) {
    return RunOrgs(directory, records);
  }
  if (users_add->parsed() || users_list->parsed() || users_enable->parsed() ||
      users_disable->parsed() || users_reset->parsed()) {
    return RunUsers(directory, records);
  }
  return RunClients(directory, records);
}

int IdentityCommands::Options::RunOrgs(access::Directory& directory,
                                       store::IdentityRecords& records) {
  if (orgs_list->parsed()) {
    auto organisations = records.ListOrganisations();
    if (!organisations.ok()) return Fail(organisations.error());
    for (const auto& org : organisations.value()) {
      std::cout << org.ods_code << "\t" << org.kind << "\t" << State(org.enabled) << "\t"
                << (org.organization_id.empty() ? "-" : "Organization/" + org.organization_id)
                << "\t" << org.name << "\n";
    }
    return 0;
  }
  if (ods.empty()) return Refuse("--ods is required");
  if (orgs_add->parsed()) {
    auto added = directory.AddOrganisation({ods, name, kind});
    if (!added.ok()) return Fail(added.error());
    std::cout << "ods=" << added->ods_code << "\n";
  } else {
    auto changed = directory.SetOrganisationEnabled(ods, orgs_enable->parsed());
    if (!changed.ok()) return Fail(changed.error());
  }
  return WriteRecordIfNoServer(records);
}

int IdentityCommands::Options::RunUsers(access::Directory& directory,
                                        store::IdentityRecords& records) {
  if (users_list->parsed()) {
    auto users = records.ListUsers();
    if (!users.ok()) return Fail(users.error());
    const int64_t now = fhir::NowMs();
    for (const auto& user : users.value()) {
      std::string state = State(user.enabled);
      if (user.sign_in.locked_until_ms > now) state += ",locked";
      if (!user.federated_issuer.empty()) state += ",federated";
      std::string fhir_user = !user.patient_id.empty() ? "Patient/" + user.patient_id
                              : user.role == "patient" ? "-"
                                                       : "Practitioner/" + PractitionerIdFor(user);
      std::cout << user.username << "\t" << user.role << "\t" << user.ods_code << "\t" << state
                << "\t" << fhir_user << "\t" << user.display_name << "\n";
    }
    return 0;
  }
  if (username.empty()) return Refuse("--username is required");
  if (users_add->parsed()) {
    if (org.empty()) return Refuse("--org is required");
    if (role.empty()) return Refuse("--role is required");
    auto given = PasswordFromStdin();
    const std::string password = given ? *given : access::GeneratePassword();
    auto added = directory.AddUser({username, org, role, display_name, patient, password});
    if (!added.ok()) return Fail(added.error());
    std::cout << "username=" << added->username << "\n";
    if (!given) std::cout << "password=" << password << "\n";  // the one time it is shown
    std::cout.flush();
    return WriteRecordIfNoServer(records);
  }
  if (users_reset->parsed()) {
    auto given = PasswordFromStdin();
    const std::string password = given ? *given : access::GeneratePassword();
    auto reset = directory.ResetPassword(username, password);
    if (!reset.ok()) return Fail(reset.error());
    if (!given) std::cout << "password=" << password << "\n";
    return 0;
  }
  auto changed = directory.SetUserEnabled(username, users_enable->parsed());
  if (!changed.ok()) return Fail(changed.error());
  return WriteRecordIfNoServer(records);
}

int IdentityCommands::Options::RunClients(access::Directory& directory,
                                          store::IdentityRecords& records) {
  if (clients_list->parsed()) {
    auto clients = records.ListClients();
    if (!clients.ok()) return Fail(clients.error());
    for (const auto& client : clients.value()) {
      std::cout << client.client_id << "\t" << client.auth_kind << "\t"
                << (client.role.empty() ? "-" : client.role) << "\t" << client.ods_code << "\t"
                << State(client.enabled) << "\t" << client.scope << "\t" << client.name << "\n";
    }
    return 0;
  }
  if (clients_enable->parsed() || clients_disable->parsed()) {
    if (client_id.empty()) return Refuse("--client-id is required");
    auto changed = directory.SetClientEnabled(client_id, clients_enable->parsed());
    if (!changed.ok()) return Fail(changed.error());
    return 0;
  }
  if (org.empty()) return Refuse("--org is required");
  if (scope.empty()) return Refuse("--scope is required");
  const int kinds = int{secret} + int{!jwks_file.empty()} + int{is_public};
  if (kinds != 1) {
    return Refuse(
        "a client authenticates in exactly one way: --secret, --jwks-file FILE or "
        "--public");
  }
  access::NewClient client{name, org, role, scope, "", "", redirect_uris};
  if (secret) client.auth_kind = "secret";
  if (is_public) client.auth_kind = "public";
  if (!jwks_file.empty()) {
    client.auth_kind = "jwks";
    std::ifstream in(jwks_file, std::ios::binary);
    if (!in) return Refuse("cannot read --jwks-file " + jwks_file);
    std::ostringstream text;
    text << in.rdbuf();
    client.jwks_json = text.str();
  }
  auto added = directory.AddClient(client);
  if (!added.ok()) return Fail(added.error());
  std::cout << "client_id=" << added->client.client_id << "\n";
  if (!added->secret.empty()) std::cout << "client_secret=" << added->secret << "\n";
  return 0;
}

// The record's FHIR resources are written by the one process that holds the record store: this
// one when it can take it; else the running server holds it and writes them within a second.
int IdentityCommands::Options::WriteRecordIfNoServer(store::IdentityRecords& records) {
  store::SqliteOptions options;
  options.directory = data_dir;
  options.reader_connections = 2;
  auto opened = store::OpenSqliteStore(options);
  if (!opened.ok()) {
    if (opened.error().location == store::kDataFolderInUse) {
      // Not an error: the change is made, and the server that holds the store finishes it.
      std::cerr << "carerecord: done; a server is running on this folder and writes the "
                   "directory's FHIR resources within a second (else the next serve or directory "
                   "command on this folder does)\n";
      return 0;
    }
    std::cerr << "carerecord: the directory is changed, but its FHIR resources are not yet "
                 "written (the next server or command on this folder writes them): "
              << opened.error().message << "\n";
    return 1;
  }
  auto synced = SyncDirectoryToRecord(records, *opened.value());
  opened.value()->Close();
  if (!synced.ok()) {
    std::cerr << "carerecord: the directory is changed, but its FHIR resources are not yet "
                 "written (the next server or command on this folder writes them): "
              << synced.error().message << "\n";
    return 1;
  }
  return 0;
}

}  // namespace carerecord::app
