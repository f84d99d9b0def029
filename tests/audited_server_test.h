// What the audit read-side tests share: an in-process server with a durable audit log, users of
// the test organisation with a role (and a patient for patient users), tokens issued to them,
// requests made as them, and the log read back as the oracle.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "audit/audit_test_support.h"
#include "test_server.h"

namespace carerecord::testing {

inline constexpr const char* kAuditTestPassword = "correct horse battery staple";

class AuditedServerTest : public ::testing::Test {
 protected:
  // `names`: whether $access-log shows staff names to patient users.
  explicit AuditedServerTest(bool names) : server_(Options(names)) {}

  // Creates (or replaces) `type/id` as the test server's integration client.
  void Put(const std::string& type, const std::string& id, const std::string& body) {
    boost::json::object resource = boost::json::parse(body).as_object();
    resource["id"] = id;
    auto put = server_.Send("PUT", "/fhir/" + type + "/" + id, boost::json::serialize(resource));
    ASSERT_TRUE(put.status == 201 || put.status == 200) << put.body;
  }
  // Adds a user of the test organisation; its directory key, 0 when refused.
  int64_t AddUser(const std::string& username, const std::string& role,
                  const std::string& patient) {
    access::NewUser user;
    user.username = username;
    user.ods_code = kTestOrganisation;
    user.role = role;
    user.display_name = username;
    user.patient_id = patient;
    user.password = kAuditTestPassword;
    auto added = server_.auth().directory().AddUser(user);
    EXPECT_TRUE(added.ok()) << added.error().message;
    return added.ok() ? added->key : 0;
  }
  std::string UserToken(const std::string& username, const std::string& role,
                        const std::string& scope, const std::string& patient = "") {
    access::AccessTokenGrant grant;
    grant.kind = access::PrincipalKind::kUser;
    grant.subject = username;
    grant.client_id = server_.client_id();
    grant.organisation = kTestOrganisation;
    grant.role = role;
    grant.scope = scope;
    grant.patient = patient;
    grant.fhir_user = patient.empty() ? "" : "Patient/" + patient;
    auto issued = server_.auth().tokens().Issue(grant);
    EXPECT_TRUE(issued.ok());
    return issued.ok() ? issued->token : "";
  }
  http::HttpResponse As(const std::string& token, const std::string& method,
                        const std::string& target, const std::string& body = {},
                        const std::string& type = {}) {
    auto headers = server_.Bearer(token);
    if (!type.empty()) headers.emplace_back("Content-Type", type);
    return server_.Send(method, target, body, headers);
  }
  std::vector<audit::AuditRecord> Log() {
    auto entries = audit::ReadAuditEntries(server_.data_dir(), 0);
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? entries.value() : std::vector<audit::AuditRecord>{};
  }

  TestServer server_;

 private:
  static TestAuthOptions Options(bool names) {
    TestAuthOptions options;
    options.audit = true;
    options.access_log_shows_names = names;
    return options;
  }
};

}  // namespace carerecord::testing
