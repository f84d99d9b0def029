// The carerecord command line: serve the FHIR API, load Bundles, print what is stored.

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "access/access_context.h"
#include "access/scope_policy.h"
#include "app/auth_stack.h"
#include "app/demo_directory.h"
#include "app/demo_region.h"
#include "app/directory_sync.h"
#include "app/feed_commands.h"
#include "app/feed_serving.h"
#include "app/host_port.h"
#include "app/identity_commands.h"
#include "app/ingest_command.h"
#include "app/key_commands.h"
#include "feeds/mapping_processor.h"
#include "http/auth_routes.h"
#include "http/fhir_routes.h"
#include "http/server.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace {

using namespace carerecord;

interactions::RequestContext SystemContext(const std::string& source) {
  interactions::RequestContext ctx;
  ctx.who.principal = "system:" + source;
  ctx.who.purpose = "load";
  ctx.base_url = "urn:carerecord:local";
  ctx.prefer_return = interactions::PreferReturn::kMinimal;
  return ctx;
}

// Posts each Bundle through the same transaction path as the API; stops at the first failure.
int LoadBundles(interactions::FhirService& service, const std::vector<std::string>& bundles,
                const std::vector<std::string>& names) {
  auto ctx = SystemContext("load");
  for (size_t i = 0; i < bundles.size(); ++i) {
    interactions::Response response = service.ProcessBundle(ctx, bundles[i]);
    if (response.status >= 300) {
      std::cerr << "carerecord: " << names[i] << ": HTTP " << response.status << ": "
                << response.body << "\n";
      return 1;
    }
  }
  return 0;
}

// How many connections the server may hold: what file descriptors the store does not need (its
// readers, the writer, WAL files, checkpoints and some room to spare), at most `most`. The soft
// limit is raised to the hard one first (Debian's default soft limit is 1,024).
int ConnectionsWithinFileLimit(int reader_connections, int most) {
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) return most;
  const int spare = reader_connections * 3 + 256;
  return std::clamp(static_cast<int>(std::min<rlim_t>(files.rlim_cur, 1 << 30)) - spare, 16, most);
}

// What `serve` was asked for, beyond the store and the service.
struct ServeSettings {
  std::string data_dir;
  std::string host;
  uint16_t port = 0;
  std::string public_url;
  size_t max_body = 0;
  int workers = 0;
  int io_threads = 0;
  int reader_connections = 0;
  bool demo = false;
  int demo_patients = 0;
  app::MllpServeSettings mllp;
  bool durable = true;
  int64_t token_ttl_seconds = 300;
};

// The FHIR base clients see: --public-url, else the address the server listens on.
std::string FhirBase(const ServeSettings& settings, uint16_t bound_port) {
  if (!settings.public_url.empty()) return settings.public_url;
  const bool ipv6 = settings.host.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + settings.host + "]" : settings.host) + ":" +
         std::to_string(bound_port) + "/fhir";
}

// Loads the demo region into an empty store when asked, then serves until SIGTERM or SIGINT.
int Serve(const ServeSettings& settings, interactions::FhirService& service, store::Store& store) {
  if (settings.demo) {
    auto s = store.Stats();
    if (s.ok() && s->resources == 0) {
      app::DemoRegionOptions demo_options;
      demo_options.patients = settings.demo_patients;
      auto bundles = app::GenerateDemoRegion(demo_options);
      std::vector<std::string> names(bundles.size(), "demo region");
      std::cout << "loading the demo region (" << settings.demo_patients << " patients)..."
                << std::endl;
      if (LoadBundles(service, bundles, names) != 0) return 1;
      // Who may sign in to it, printed on this first start only (the store is not empty next).
      auto records = store::OpenSqliteIdentityRecords(settings.data_dir);
      if (!records.ok()) {
        std::cerr << "carerecord: " << records.error().message << "\n";
        return 1;
      }
      access::Directory directory(*records.value());
      auto printed = app::CreateDemoDirectory(directory, service);
      if (!printed.ok()) {
        std::cerr << "carerecord: the demo's directory: " << printed.error().message << "\n";
        return 1;
      }
      std::cout << printed.value() << std::flush;
    }
  }

  // Block the signals in every thread; one thread waits for them synchronously.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  http::FhirRoutes routes(service, http::FhirRouteOptions{settings.public_url});
  http::ServerOptions server_options;
  server_options.host = settings.host;
  server_options.port = settings.port;
  server_options.max_body_bytes = settings.max_body;
  server_options.worker_threads = settings.workers;
  server_options.io_threads = settings.io_threads;
  server_options.runs_on_io_thread = &http::AuthRoutes::IsQuickRead;
  server_options.max_connections =
      ConnectionsWithinFileLimit(settings.reader_connections, server_options.max_connections);
  // HL7 v2 over MLLP into the inbox, before HTTP so /metrics finds it; the inbox worker maps
  // each committed message into the record through the same write path as the API.
  feeds::MappingProcessor mapping(service);
  app::FeedServing feeds;
  if (auto started = feeds.Start(settings.data_dir, settings.mllp, settings.durable, &mapping);
      !started.ok()) {
    std::cerr << "carerecord: " << started.error().message << "\n";
    return 1;
  }
  // Every request passes the sign-in gate, which can be built only once the port (and so the
  // FHIR base, the tokens' audience) is known: until then requests are answered 503. /metrics
  // (feed counts, no patient data) is answered before it, for a scraper on the local network.
  std::atomic<http::AuthRoutes*> auth_routes{nullptr};
  http::HttpServer server(
      server_options,
      [&auth_routes, &feeds](const http::HttpRequest& request) {
        if (request.target == "/metrics" && request.method == "GET") {
          if (auto metrics = feeds.MetricsResponse()) return *metrics;
        }
        http::AuthRoutes* routes = auth_routes.load(std::memory_order_acquire);
        if (routes == nullptr)
          return http::FhirRoutes::ErrorResponse(503, "the server is starting");
        return routes->Handle(request);
      },
      [](int status, std::string message) {
        return http::FhirRoutes::ErrorResponse(status, message);
      });
  auto bound = server.Start();
  if (!bound.ok()) {
    std::cerr << "carerecord: " << bound.error().message << "\n";
    return 1;
  }
  app::AuthStackOptions auth_options;
  auth_options.data_dir = settings.data_dir;
  auth_options.fhir_base = FhirBase(settings, bound.value());
  auth_options.token_ttl_seconds = settings.token_ttl_seconds;
  auto auth = app::AuthStack::Open(auth_options, routes);
  if (!auth.ok()) {
    std::cerr << "carerecord: " << auth.error().message << "\n";
    server.Stop();
    server.Wait();
    return 1;
  }
  auth_routes.store(&auth.value()->routes(), std::memory_order_release);
  std::cout << "carerecord listening on http://" << settings.host << ":" << bound.value() << "/fhir"
            << std::endl;
  std::cout << "port " << bound.value() << std::endl;
  std::cout << "token endpoint " << auth.value()->endpoints().token_endpoint() << std::endl;
  // The directory's organisations and staff as FHIR resources, written by this process while it
  // holds the record store: now, and within a second of each change the command line makes.
  app::DirectorySyncLoop directory_sync(settings.data_dir, store);
  if (auto started = directory_sync.Start(); !started.ok()) {
    std::cerr << "carerecord: " << started.error().message << "\n";
    server.Stop();
    server.Wait();
    return 1;
  }

  int received = 0;
  sigwait(&signals, &received);
  std::cout << "carerecord: signal " << received << ", shutting down" << std::endl;
  feeds.Stop();
  directory_sync.Stop();
  server.Stop();
  server.Wait();
  store.Close();  // every acknowledged commit is already synced; this checkpoints
  std::cout << "carerecord: stopped" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"carerecord: a shared care record server (FHIR R4)"};
  app.require_subcommand(1);

  std::string data_dir = "data";
  std::string listen = "127.0.0.1:8080";
  std::string public_url;
  bool demo = false;
  int demo_patients = 200;
  size_t max_body = 32 << 20;
  int workers = 64;
  // One core is left to the workers, the writer and the checkpointer: on 2 cores, two io
  // threads time-sharing with them (and a local client) put read p99 at 1.2-3.5 ms, one io
  // thread at 1.0-1.4 ms (bench/outside_bench).
  int io_threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()) - 1);
  bool no_fsync = false;
  app::MllpServeSettings mllp;
  int64_t token_ttl = 300;

  auto* serve = app.add_subcommand("serve", "Serve the FHIR R4 API at /fhir/");
  serve->add_option("--data", data_dir, "Directory of the record store (created if absent)")
      ->capture_default_str();
  serve
      ->add_option("--http", listen,
                   "Address to listen on, HOST:PORT; port 0 picks a free one and prints it")
      ->capture_default_str();
  serve->add_option("--public-url", public_url,
                    "Base URL clients see, e.g. https://record.example.org/fhir (default: "
                    "http://ADDRESS:PORT/fhir, the address a client connected to; never the "
                    "Host header)");
  serve->add_flag("--demo", demo, "Load a synthetic demo region when the store is empty");
  serve->add_option("--demo-patients", demo_patients, "Patients in the demo region")
      ->capture_default_str();
  serve->add_option("--max-body", max_body, "Largest request body accepted, in bytes")
      ->capture_default_str();
  serve->add_option("--workers", workers, "Threads that run writes (each may wait on a commit)")
      ->capture_default_str();
  serve
      ->add_option("--io-threads", io_threads,
                   "Threads that run the event loops and quick reads (metadata, read by id); "
                   "default one per core but one")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  serve
      ->add_option("--token-ttl", token_ttl,
                   "Lifetime of the access tokens the server issues, in seconds")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, access::kMaxTokenTtlSeconds));
  serve->add_flag("--no-fsync", no_fsync,
                  "Do not sync commits to disk (tests only: a crash can lose acknowledged data)");
  app::AddMllpServeOptions(*serve, mllp);

  std::vector<std::string> files;
  auto* load = app.add_subcommand("load", "Load FHIR Bundles (batch or transaction) from files");
  load->add_option("--data", data_dir, "Directory of the record store")->capture_default_str();
  load->add_option("files", files, "Bundle JSON files, loaded in the order given")
      ->required()
      ->check(CLI::ExistingFile);

  auto* stats = app.add_subcommand("stats", "Print what the store holds");
  stats->add_option("--data", data_dir, "Directory of the record store")->capture_default_str();

  app::IdentityCommands identity_commands(app);
  app::RegisterKeyCommands(app);
  app::RegisterFeedCommands(app);
  app::RegisterIngestCommand(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& done) {
    return app.exit(done);  // a command run from its callback (keys): its own status
  } catch (const CLI::ParseError& error) {
    // CLI11 prints its message; --help and --version exit 0. Any other mistake on the command
    // line exits 2, as this program's own checks below do: CLI11's codes (106 for a missing
    // option, 109 for an extra argument...) would each look like a different failure to a script.
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (auto status = identity_commands.RunIfChosen()) return *status;

  std::string host;
  uint16_t port = 0;
  if (*serve && !app::SplitHostPort(listen, host, port)) {
    std::cerr << "carerecord: --http must be HOST:PORT, e.g. 127.0.0.1:8080, not '" << listen
              << "'\n";
    return 2;
  }

  // The base decides which absolute references are this server's own: it must be a URL.
  while (!public_url.empty() && public_url.back() == '/') public_url.pop_back();
  if (*serve && !public_url.empty() && public_url.rfind("http://", 0) != 0 &&
      public_url.rfind("https://", 0) != 0) {
    std::cerr << "carerecord: --public-url must be an http:// or https:// URL, not '" << public_url
              << "'\n";
    return 2;
  }

  store::SqliteOptions store_options;
  store_options.directory = data_dir;
  store_options.durable = !no_fsync;
  // Every thread that can read at once (io threads, workers, large-body workers) gets a
  // connection without waiting, and a few more serve the rest (stats, the demo loader), and
  // the feed mapping's threads.
  if (*serve) {
    store_options.reader_connections = io_threads + workers +
                                       http::ServerOptions{}.large_body_threads + 2 +
                                       feeds::MappingProcessorOptions{}.parallel;
  }
  auto opened = store::OpenSqliteStore(store_options);
  if (!opened.ok()) {
    std::cerr << "carerecord: " << opened.error().message << "\n";
    return 1;
  }
  std::unique_ptr<store::Store> record_store = std::move(opened).value();
  // The full policy (roles, relationships, consent) is the next issue; today every caller with a
  // valid token reads what its scopes allow.
  access::OpenPolicy open_policy;
  access::ScopeLimitedPolicy policy(open_policy);
  interactions::FhirService service(*record_store, policy, nullptr);

  if (*stats) {
    auto s = record_store->Stats();
    if (!s.ok()) {
      std::cerr << "carerecord: " << s.error().message << "\n";
      return 1;
    }
    std::cout << "resources " << s->resources << "\nversions " << s->versions << "\nbytes "
              << s->bytes << "\n";
    return 0;
  }

  if (*load) {
    std::vector<std::string> bundles;
    for (const std::string& file : files) {
      std::ifstream in(file, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      bundles.push_back(text.str());
    }
    int rc = LoadBundles(service, bundles, files);
    record_store->Close();
    if (rc == 0) std::cout << "loaded " << files.size() << " bundle(s)\n";
    return rc;
  }

  ServeSettings settings{data_dir, host,          port,       public_url,
                         max_body, workers,       io_threads, store_options.reader_connections,
                         demo,     demo_patients, mllp,       !no_fsync,
                         token_ttl};
  return Serve(settings, service, *record_store);
}
