// A whole carerecord server in the test process: a fresh SQLite store in a temporary directory,
// the FHIR service, routes, the sign-in gate (AuthRoutes) and HTTP server on a free loopback
// port, and a client for it. The directory holds one organisation and one integration client
// (system/*.cruds); every request carries a token of that client, issued by the real
// AccessTokens, unless the test sends another Authorization header (an empty one sends none).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "access/access_context.h"
#include "access/region_access_policy.h"
#include "access/scope_policy.h"
#include "access/wall_clock.h"
#include "app/audit_agents.h"
#include "app/auth_stack.h"
#include "audit/audit_log.h"
#include "audit/audit_log_sink.h"
#include "audit/audit_search.h"
#include "http/audit_routes.h"
#include "http/client.h"
#include "http/fhir_routes.h"
#include "http/server.h"
#include "http/server_error_response.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace carerecord::store {
// The tests' named way to the write path's reader (store.h, TransactionReaderKey).
struct TransactionReaderKeyForTests {
  static TransactionReaderKey Make() { return TransactionReaderKey(); }
};
}  // namespace carerecord::store

namespace carerecord::testing {

// How the test server checks tokens: a test may set the clock, the lifetime and how soon a
// disabled principal is noticed.
struct TestAuthOptions {
  const access::WallClock* clock = nullptr;  // the system clock when null
  int64_t token_ttl_seconds = 300;
  int64_t status_recheck_seconds = 30;
  std::chrono::milliseconds enabled_refresh = std::chrono::seconds(1);
  // Record every request and sign-in in DIR/audit.db and serve it as AuditEvent, as `serve` does.
  bool audit = false;
  bool access_log_shows_names = false;
};

inline constexpr const char* kTestOrganisation = "TEST1";
inline constexpr const char* kTestClientScope = "system/*.cruds";

class TestServer {
 public:
  explicit TestServer(size_t max_body = 1 << 20) : max_body_(max_body) {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("carerecord-test-" + std::to_string(random()) + std::to_string(random()));
    Start();
  }
  // With store options of the test's own (e.g. a page limit that makes the disk "full").
  explicit TestServer(std::function<void(store::SqliteOptions&)> configure_store,
                      size_t max_body = 1 << 20)
      : configure_store_(std::move(configure_store)), max_body_(max_body) {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("carerecord-test-" + std::to_string(random()) + std::to_string(random()));
    Start();
  }
  explicit TestServer(TestAuthOptions auth) : auth_options_(auth), max_body_(1 << 20) {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("carerecord-test-" + std::to_string(random()) + std::to_string(random()));
    Start();
  }
  ~TestServer() {
    Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Stops the server and closes the store, runs `while_stopped` on the data directory, then
  // opens the store and starts the server again (on a new port).
  void Restart(const std::function<void(const std::filesystem::path&)>& while_stopped = {}) {
    Stop();
    if (while_stopped) while_stopped(dir_);
    Start();
  }

  // Sends the test client's token unless `headers` has an Authorization header of its own; an
  // empty one is dropped, so the request carries no token at all.
  http::HttpResponse Send(std::string method, std::string target, std::string body = {},
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
    bool has_body_type = false, has_authorization = false;
    for (const auto& [name, value] : headers) {
      if (EqualsIgnoringCase(name, "content-type")) has_body_type = true;
      if (EqualsIgnoringCase(name, "authorization")) has_authorization = true;
    }
    if (!body.empty() && !has_body_type) {
      headers.emplace_back("Content-Type", "application/fhir+json");
    }
    if (!has_authorization) {
      headers.emplace_back("Authorization", "Bearer " + DefaultToken());
    } else {
      std::erase_if(headers, [](const auto& header) {
        return EqualsIgnoringCase(header.first, "authorization") && header.second.empty();
      });
    }
    auto response =
        client_->Send(std::move(method), std::move(target), std::move(headers), std::move(body));
    if (!response.ok()) {
      http::HttpResponse failed;
      failed.status = -1;
      failed.body = response.error().message;
      return failed;
    }
    return std::move(response).value();
  }
  http::HttpResponse Get(std::string target) { return Send("GET", std::move(target)); }

  static boost::json::object Json(const http::HttpResponse& response) {
    boost::system::error_code ec;
    auto value = boost::json::parse(response.body, ec);
    if (ec || !value.is_object()) return {};
    return value.as_object();
  }

  // A token of the test client with `scope` (and a patient context when `patient` is given),
  // from the server's own AccessTokens.
  std::string MintToken(const std::string& scope, const std::string& patient = {}) {
    access::AccessTokenGrant grant;
    grant.kind = access::PrincipalKind::kClient;
    grant.subject = client_id_;
    grant.client_id = client_id_;
    grant.organisation = kTestOrganisation;
    grant.role = "integration";
    grant.scope = scope;
    grant.patient = patient;
    auto issued = auth_->tokens().Issue(grant);
    EXPECT_TRUE(issued.ok()) << issued.error().message;
    return issued.ok() ? issued->token : std::string();
  }
  std::vector<std::pair<std::string, std::string>> Bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }

  app::AuthStack& auth() { return *auth_; }
  const std::string& client_id() const { return client_id_; }
  const std::string& client_secret() const { return client_secret_; }
  uint16_t port() const { return port_; }
  const std::filesystem::path& data_dir() const { return dir_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/fhir"; }
  store::Store& store() { return *store_; }
  interactions::FhirService& service() { return *service_; }
  // Creates as the server's own work does (a load, a feed: no token), which alone may state
  // what the server owns (fhir/server_owned.h): for a record only another path could have made.
  interactions::Response CreateAsServer(std::string_view type, std::string_view body) {
    interactions::RequestContext ctx;
    ctx.who.principal = "system:test";
    ctx.base_url = base();
    return service_->Create(ctx, type, body, "");
  }

 private:
  void Start() {
    store::SqliteOptions options;
    options.directory = dir_.string();
    options.durable = false;
    if (configure_store_) configure_store_(options);
    store_ = std::move(store::OpenSqliteStore(options)).value();
    service_ = std::make_unique<interactions::FhirService>(*store_, scope_policy_, nullptr);
    http::FhirRouteOptions route_options;
    if (auth_options_.audit) {
      audit::AuditLogOptions audit_options;
      audit_options.directory = dir_;
      audit_options.durable = false;
      audit_log_ = std::move(audit::AuditLog::Open(audit_options)).value();
      audit_sink_ = std::make_unique<audit::AuditLogRequestSink>(*audit_log_);
      audit_search_ = std::make_unique<audit::AuditSearch>(dir_);
      agent_records_ = std::move(store::OpenSqliteIdentityRecords(dir_.string())).value();
      audit_agents_ = std::make_unique<app::DirectoryAuditAgents>(*agent_records_);
      http::AuditRouteOptions audit_routes;
      audit_routes.policy = &scope_policy_;
      audit_routes.agents = audit_agents_.get();
      audit_routes.access_log_shows_names = auth_options_.access_log_shows_names;
      audit_routes_ = std::make_unique<http::AuditRoutes>(*audit_search_, audit_routes);
      route_options.audit = audit_sink_.get();
      route_options.audit_events = audit_routes_.get();
    }
    routes_ = std::make_unique<http::FhirRoutes>(*service_, route_options);
    http::ServerOptions server_options;
    server_options.max_body_bytes = max_body_;
    server_options.runs_on_io_thread = &http::AuthRoutes::IsQuickRead;
    server_ = std::make_unique<http::HttpServer>(
        server_options,
        [this](const http::HttpRequest& r) {
          http::AuthRoutes* routes = auth_routes_.load(std::memory_order_acquire);
          if (routes == nullptr) return http::FhirRoutes::ErrorResponse(503, "starting");
          return routes->Handle(r);
        },
        &http::ServerErrorResponse);
    port_ = server_->Start().value();
    app::AuthStackOptions auth;
    auth.data_dir = dir_;
    auth.fhir_base = base();
    auth.clock = auth_options_.clock;
    auth.token_ttl_seconds = auth_options_.token_ttl_seconds;
    auth.status_recheck_seconds = auth_options_.status_recheck_seconds;
    auth.directory.enabled_refresh = auth_options_.enabled_refresh;
    auto stack = app::AuthStack::Open(auth, *routes_);
    ASSERT_TRUE(stack.ok()) << stack.error().message;
    auth_ = std::move(stack).value();
    if (client_id_.empty()) AddTestClient();
    default_token_.clear();
    auth_routes_.store(&auth_->routes(), std::memory_order_release);
    client_ = std::make_unique<http::HttpClient>("127.0.0.1", port_);
  }
  void AddTestClient() {
    auto organisation = auth_->directory().AddOrganisation({kTestOrganisation, "Test", "other"});
    ASSERT_TRUE(organisation.ok()) << organisation.error().message;
    access::NewClient client;
    client.name = "test integration";
    client.ods_code = kTestOrganisation;
    client.role = "integration";
    client.scope = kTestClientScope;
    client.auth_kind = "secret";
    auto added = auth_->directory().AddClient(client);
    ASSERT_TRUE(added.ok()) << added.error().message;
    client_id_ = added->client.client_id;
    client_secret_ = added->secret;
  }

 public:
  // The test client's token, issued again shortly before it would expire. Thread-safe.
  std::string DefaultToken() {
    std::lock_guard lock(token_mutex_);
    const access::WallClock& clock = auth_options_.clock
                                         ? *auth_options_.clock
                                         : static_cast<const access::WallClock&>(system_clock_);
    if (default_token_.empty() || clock.NowSeconds() + 30 >= default_token_expires_) {
      default_token_ = MintToken(kTestClientScope);
      default_token_expires_ = clock.NowSeconds() + auth_options_.token_ttl_seconds;
    }
    return default_token_;
  }

 public:
  static bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }
  void Stop() {
    client_.reset();
    server_->Stop();
    server_.reset();
    auth_routes_.store(nullptr, std::memory_order_release);
    auth_.reset();
    routes_.reset();
    audit_routes_.reset();
    audit_agents_.reset();
    agent_records_.reset();
    audit_search_.reset();
    audit_sink_.reset();
    if (audit_log_) audit_log_->Close();
    audit_log_.reset();
    service_.reset();
    store_->Close();
    store_.reset();
  }

  std::function<void(store::SqliteOptions&)> configure_store_;
  TestAuthOptions auth_options_;
  size_t max_body_;
  std::filesystem::path dir_;
  // The server's own stack: the default region policy inside the scopes (the test client is an
  // integration client, which the policy leaves whole).
  access::RegionAccessPolicy policy_{
      std::make_shared<const access::RegionPolicy>(access::DefaultRegionPolicy())};
  access::ScopeLimitedPolicy scope_policy_{policy_};
  access::SystemWallClock system_clock_;
  std::unique_ptr<app::AuthStack> auth_;
  std::atomic<http::AuthRoutes*> auth_routes_{nullptr};
  std::string client_id_, client_secret_;
  std::mutex token_mutex_;
  std::string default_token_;
  int64_t default_token_expires_ = 0;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<interactions::FhirService> service_;
  std::unique_ptr<audit::AuditLog> audit_log_;
  std::unique_ptr<audit::AuditLogRequestSink> audit_sink_;
  std::unique_ptr<audit::AuditSearch> audit_search_;
  std::unique_ptr<store::IdentityRecords> agent_records_;
  std::unique_ptr<app::DirectoryAuditAgents> audit_agents_;
  std::unique_ptr<http::AuditRoutes> audit_routes_;
  std::unique_ptr<http::FhirRoutes> routes_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<http::HttpClient> client_;
  uint16_t port_ = 0;
};

// A client of its own (for a thread of a concurrency test) that sends the test client's token.
class AuthorizedClient {
 public:
  explicit AuthorizedClient(TestServer& server)
      : client_("127.0.0.1", server.port()), authorization_("Bearer " + server.DefaultToken()) {}
  base::Result<http::HttpResponse> Send(
      std::string method, std::string target,
      std::vector<std::pair<std::string, std::string>> headers = {}, std::string body = {}) {
    headers.emplace_back("Authorization", authorization_);
    return client_.Send(std::move(method), std::move(target), std::move(headers), std::move(body));
  }

 private:
  http::HttpClient client_;
  std::string authorization_;
};

// Creates or replaces Type/id with `body` (its id set to match) and fails the test unless the
// server accepts it.
inline void Put(TestServer& server, const std::string& type, const std::string& id,
                const std::string& body) {
  auto resource = boost::json::parse(body).as_object();
  resource["id"] = id;  // an update must carry the id of its URL
  auto response = server.Send("PUT", "/fhir/" + type + "/" + id, boost::json::serialize(resource));
  ASSERT_TRUE(response.status == 200 || response.status == 201)
      << type << "/" << id << ": " << response.body;
}

// The ids of the match entries of a searchset, sorted (order is tested separately).
inline std::vector<std::string> Ids(TestServer& server, const std::string& target) {
  auto response = server.Get(target);
  EXPECT_EQ(response.status, 200) << target << ": " << response.body;
  auto bundle = TestServer::Json(response);
  std::vector<std::string> ids;
  if (auto* entries = bundle.if_contains("entry")) {
    for (auto& entry : entries->as_array()) {
      auto& e = entry.as_object();
      if (e.at("search").as_object().at("mode").as_string() != "match") continue;
      ids.emplace_back(e.at("resource").as_object().at("id").as_string());
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// The target of the bundle's link with `relation` as a path on this server ("/fhir/..."), or
// "" when the bundle has none.
inline std::string Link(const boost::json::object& bundle, std::string_view relation) {
  if (auto* links = bundle.if_contains("link")) {
    for (auto& link : links->as_array()) {
      auto& l = link.as_object();
      if (l.at("relation").as_string() != relation) continue;
      std::string url(l.at("url").as_string());
      size_t at = url.find("/fhir/");
      return at == std::string::npos ? url : url.substr(at);
    }
  }
  return "";
}

// The ids of the match entries of every page from `target` on, following next links, in order.
inline std::vector<std::string> PagedIds(TestServer& server, std::string target,
                                         size_t max_pages = 50) {
  std::vector<std::string> ids;
  for (size_t page = 0; !target.empty() && page < max_pages; ++page) {
    auto response = server.Get(target);
    EXPECT_EQ(response.status, 200) << target << ": " << response.body;
    auto bundle = TestServer::Json(response);
    if (auto* entries = bundle.if_contains("entry")) {
      for (auto& entry : entries->as_array()) {
        auto& e = entry.as_object();
        if (e.at("search").as_object().at("mode").as_string() != "match") continue;
        ids.emplace_back(e.at("resource").as_object().at("id").as_string());
      }
    }
    target = Link(bundle, "next");
  }
  return ids;
}

}  // namespace carerecord::testing
