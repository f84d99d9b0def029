// What the sign-in gate costs, measured in one run against the same build: read by id
// (GET /fhir/Observation/{id}) under wrk (1 thread, 32 keep-alive connections) through two
// servers in this process over one store and one FhirService: one behind AuthRoutes, every
// request carrying a Bearer token that is verified (per-thread memo, then the shared cache),
// and one handing FhirRoutes a pre-verified identity with the same scopes, so that only the
// token's check differs. Rounds alternate. Then client-credentials tokens issued per second
// through POST /auth/token (client_secret_post, and client_secret_basic).
//
//   build/bench/gate_bench [--observations 2000] [--seconds 8] [--rounds 3] [--io-threads 1]

#include <openssl/evp.h>
#include <signal.h>
#include <sys/resource.h>

#include <boost/json.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "access/scope_policy.h"
#include "app/auth_stack.h"
#include "http/client.h"
#include "http/server.h"
#include "interactions/fhir_service.h"
#include "store/store.h"
#include "wrk_run.h"

namespace {

using namespace carerecord;
namespace fs = std::filesystem;
namespace json = boost::json;

}  // namespace

int main(int argc, char** argv) {
  int observations = 2000, seconds = 8, rounds = 3, io_threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--observations") observations = std::stoi(argv[i + 1]);
    if (flag == "--seconds") seconds = std::stoi(argv[i + 1]);
    if (flag == "--rounds") rounds = std::stoi(argv[i + 1]);
    if (flag == "--io-threads") io_threads = std::stoi(argv[i + 1]);
  }
  std::signal(SIGPIPE, SIG_IGN);
  const fs::path work = fs::current_path() / "gate-bench-data";
  fs::remove_all(work);
  fs::create_directories(work);

  store::SqliteOptions store_options;
  store_options.directory = work.string();
  store_options.durable = false;
  store_options.reader_connections = 2 * (io_threads + 32) + 4;
  auto store = std::move(store::OpenSqliteStore(store_options)).value();
  access::OpenPolicy open_policy;
  access::ScopeLimitedPolicy policy(open_policy);
  interactions::FhirService service(*store, policy, nullptr);
  interactions::RequestContext load;
  load.who.principal = "system:bench";
  load.base_url = "urn:carerecord:local";
  load.prefer_return = interactions::PreferReturn::kMinimal;
  std::vector<std::string> ids;
  for (int i = 0; i < observations; ++i) {
    const std::string id = "obs-" + std::to_string(i);
    auto response = service.Update(
        load, "Observation", id,
        R"({"resourceType":"Observation","id":")" + id +
            R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},)"
            R"("valueQuantity":{"value":)" +
            std::to_string(60 + i % 40) + R"(,"unit":"kg"}})",
        "");
    if (response.status >= 300) {
      std::cerr << "loading failed: " << response.body << "\n";
      return 1;
    }
    ids.push_back(id);
  }

  http::FhirRoutes routes(service, {});
  http::ServerOptions options;
  options.io_threads = io_threads;
  options.runs_on_io_thread = &http::AuthRoutes::IsQuickRead;
  auto error = [](int status, std::string message, std::string_view) {
    return http::FhirRoutes::ErrorResponse(status, message);
  };
  std::atomic<http::AuthRoutes*> auth_routes{nullptr};
  http::HttpServer gated(
      options,
      [&](const http::HttpRequest& r) {
        http::AuthRoutes* auth = auth_routes.load(std::memory_order_acquire);
        return auth ? auth->Handle(r) : http::FhirRoutes::ErrorResponse(503, "starting");
      },
      error);
  const uint16_t gated_port = gated.Start().value();
  app::AuthStackOptions auth_options;
  auth_options.data_dir = work;
  auth_options.fhir_base = "http://127.0.0.1:" + std::to_string(gated_port) + "/fhir";
  auto auth = std::move(app::AuthStack::Open(auth_options, routes)).value();
  auth_routes.store(&auth->routes(), std::memory_order_release);

  (void)auth->directory().AddOrganisation({"BENCH1", "Bench", "other"});
  access::NewClient client{"bench", "BENCH1", "integration", "system/*.rs", "secret", "", {}};
  auto added = auth->directory().AddClient(client);
  if (!added.ok()) {
    std::cerr << added.error().message << "\n";
    return 1;
  }
  http::HttpClient token_client("127.0.0.1", gated_port);
  const std::string form = "grant_type=client_credentials&client_id=" + added->client.client_id +
                           "&client_secret=" + added->secret;
  auto token_response = token_client.Send(
      "POST", "/auth/token", {{"Content-Type", "application/x-www-form-urlencoded"}}, form);
  if (!token_response.ok() || token_response->status != 200) {
    std::cerr << "no token\n";
    return 1;
  }
  const std::string token(
      json::parse(token_response->body).as_object().at("access_token").as_string());

  // The same identity and scopes, handed over without a token to check.
  auto scopes =
      std::make_shared<const access::ScopeSet>(access::ScopeSet::Parse("system/*.rs").value());
  http::HttpServer preverified(
      options,
      [&](const http::HttpRequest& r) {
        access::AccessContext who;
        who.kind = access::PrincipalKind::kClient;
        who.principal = "client:" + added->client.client_id;
        who.client_id = added->client.client_id;
        who.organisation = "BENCH1";
        who.role = "integration";
        who.scopes = scopes;
        return routes.Handle(r, who);
      },
      error);
  const uint16_t preverified_port = preverified.Start().value();

  std::string ids_lua = "local ids = {";
  for (const std::string& id : ids) ids_lua += "\"" + id + "\",";
  ids_lua += "}\nlocal n = 0\n";
  const fs::path with_token = work / "token.lua", without = work / "plain.lua";
  bench::WriteScript(with_token,
                     ids_lua + "wrk.headers[\"Authorization\"] = \"Bearer " + token +
                         "\"\nrequest = function()\n  n = n + 1\n  return wrk.format(\"GET\", "
                         "\"/fhir/Observation/\" .. ids[(n % #ids) + 1])\nend\n");
  bench::WriteScript(without, ids_lua +
                                  "request = function()\n  n = n + 1\n  return wrk.format(\"GET\", "
                                  "\"/fhir/Observation/\" .. ids[(n % #ids) + 1])\nend\n");

  std::printf(
      "gate_bench: read by id, wrk -t1 -c32 -d%ds, %d Observations, %d io thread(s), "
      "%u cores\n",
      seconds, observations, io_threads, std::thread::hardware_concurrency());
  bench::RunWrk(2, gated_port, with_token);  // warm up both
  bench::RunWrk(2, preverified_port, without);
  double sum_ratio = 0, sum_cpu_ratio = 0;
  for (int round = 1; round <= rounds; ++round) {
    bench::WrkRun plain = bench::RunWrk(seconds, preverified_port, without);
    bench::WrkRun gate = bench::RunWrk(seconds, gated_port, with_token);
    if (!plain.ok || !gate.ok || plain.non_2xx || gate.non_2xx) {
      std::fprintf(stderr, "wrk failed or saw errors (non-2xx %ld / %ld)\n", plain.non_2xx,
                   gate.non_2xx);
      return 1;
    }
    std::printf(
        "  round %d: pre-verified %8.0f req/s %5.1f us CPU | token %8.0f req/s %5.1f us "
        "CPU | token/pre-verified %.3f req/s, %.3f CPU\n",
        round, plain.rps, plain.cpu_us, gate.rps, gate.cpu_us, gate.rps / plain.rps,
        gate.cpu_us / plain.cpu_us);
    sum_ratio += gate.rps / plain.rps;
    sum_cpu_ratio += gate.cpu_us / plain.cpu_us;
    std::fflush(stdout);
  }
  std::printf(
      "  mean: token/pre-verified %.3f of req/s, %.3f of CPU per request (goal: at most "
      "5%% slower)\n",
      sum_ratio / rounds, sum_cpu_ratio / rounds);

  // Tokens issued per second through the endpoint.
  const fs::path post = work / "post.lua", basic = work / "basic.lua";
  bench::WriteScript(post, "wrk.method = \"POST\"\nwrk.path = \"/auth/token\"\nwrk.body = \"" +
                               form +
                               "\"\nwrk.headers[\"Content-Type\"] = "
                               "\"application/x-www-form-urlencoded\"\n");
  std::string credentials = added->client.client_id + ":" + added->secret;
  std::string encoded(4 * ((credentials.size() + 2) / 3) + 1, '\0');
  encoded.resize(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                 reinterpret_cast<const unsigned char*>(credentials.data()),
                                 static_cast<int>(credentials.size())));
  bench::WriteScript(basic,
                     "wrk.method = \"POST\"\nwrk.path = \"/auth/token\"\nwrk.body = "
                     "\"grant_type=client_credentials\"\n"
                     "wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n"
                     "wrk.headers[\"Authorization\"] = \"Basic " +
                         encoded + "\"\n");
  for (auto [name, script] :
       {std::pair{"client_secret_post", post}, {"client_secret_basic", basic}}) {
    // /auth/token runs on the worker pool: the request path of a write.
    bench::WrkRun issued = bench::RunWrk(seconds, gated_port, script);
    std::printf("token endpoint, %s: %8.0f tokens/s, %5.1f us CPU each%s (goal: >= 2,000/s)\n",
                name, issued.rps, issued.cpu_us, issued.non_2xx ? " (errors!)" : "");
  }
  gated.Stop();
  preverified.Stop();
  store->Close();
  fs::remove_all(work);
  return 0;
}
