// A whole carerecord server in the test process: a fresh SQLite store in a temporary directory,
// the FHIR service, routes and HTTP server on a free loopback port, and a client for it.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "access/access_context.h"
#include "http/client.h"
#include "http/fhir_routes.h"
#include "http/server.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace carerecord::testing {

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

  http::HttpResponse Send(std::string method, std::string target, std::string body = {},
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
    if (!body.empty()) headers.emplace_back("Content-Type", "application/fhir+json");
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

  uint16_t port() const { return port_; }
  const std::filesystem::path& data_dir() const { return dir_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/fhir"; }
  store::Store& store() { return *store_; }
  interactions::FhirService& service() { return *service_; }

 private:
  void Start() {
    store::SqliteOptions options;
    options.directory = dir_.string();
    options.durable = false;
    if (configure_store_) configure_store_(options);
    store_ = std::move(store::OpenSqliteStore(options)).value();
    service_ = std::make_unique<interactions::FhirService>(*store_, policy_, nullptr);
    routes_ = std::make_unique<http::FhirRoutes>(*service_, http::FhirRouteOptions{});
    http::ServerOptions server_options;
    server_options.max_body_bytes = max_body_;
    server_options.runs_on_io_thread = &http::FhirRoutes::IsQuickRead;
    server_ = std::make_unique<http::HttpServer>(
        server_options, [this](const http::HttpRequest& r) { return routes_->Handle(r); },
        [](int status, std::string message) {
          return http::FhirRoutes::ErrorResponse(status, message);
        });
    port_ = server_->Start().value();
    client_ = std::make_unique<http::HttpClient>("127.0.0.1", port_);
  }
  void Stop() {
    client_.reset();
    server_->Stop();
    server_.reset();
    routes_.reset();
    service_.reset();
    store_->Close();
    store_.reset();
  }

  std::function<void(store::SqliteOptions&)> configure_store_;
  size_t max_body_;
  std::filesystem::path dir_;
  access::OpenPolicy policy_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<interactions::FhirService> service_;
  std::unique_ptr<http::FhirRoutes> routes_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<http::HttpClient> client_;
  uint16_t port_ = 0;
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
