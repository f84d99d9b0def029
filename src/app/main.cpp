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
#include "access/access_grants.h"
#include "access/care_relationships.h"
#include "access/region_access_policy.h"
#include "access/region_policy.h"
#include "access/scope_policy.h"
#include "app/audit_agents.h"
#include "app/audit_commands.h"
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
#include "app/oidc_serving.h"
#include "app/written_record.h"
#include "audit/audit_log.h"
#include "audit/audit_log_sink.h"
#include "audit/audit_search.h"
#include "audit/intent_reconcile.h"
#include "feeds/mapping_processor.h"
#include "http/audit_routes.h"
#include "http/auth_routes.h"
#include "http/fhir_routes.h"
#include "http/oidc_routes.h"
#include "http/patient_access_operations.h"
#include "http/server.h"
#include "http/server_error_response.h"
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

// The policy a server of DIR runs: FILE when given, else DIR/policy.json when present, else
// the built-in defaults (README).
base::Result<access::RegionPolicy> EffectivePolicy(const std::string& data_dir,
                                                   const std::string& policy_file) {
  if (!policy_file.empty()) return access::LoadRegionPolicy(policy_file);
  const std::string beside = data_dir + "/policy.json";
  if (std::ifstream(beside).good()) return access::LoadRegionPolicy(beside);
  return access::DefaultRegionPolicy();
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
  access::OidcSettings oidc;  // issuer empty: no regional IdP
  std::string oidc_ca_file;
  std::string audit_checkpoints;  // empty: DIR/audit-checkpoints
  http::PatientAccessOperations* patient_access = nullptr;
  bool access_log_shows_names = false;     // the policy's
  access::AccessPolicy* policy = nullptr;  // the server's, for the audit routes
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

  // The audit log, in the data folder: every request that returns, changes or is refused
  // patient data is recorded, durably, before it is answered.
  audit::AuditLogOptions audit_options;
  audit_options.directory = settings.data_dir;
  audit_options.checkpoint_file = settings.audit_checkpoints;
  audit_options.durable = settings.durable;
  auto audit_log = audit::AuditLog::Open(audit_options);
  if (!audit_log.ok()) {
    std::cerr << "carerecord: " << audit_log.error().message << "\n";
    return 1;
  }
  // Writes a stop caught between their commit and their outcome entry (kill -9, a power cut):
  // each intent left without an outcome gets an entry saying what the record holds of it,
  // before any request runs. Only the entries since the last start's check are read.
  app::StoreWrittenRecord written_record(store);
  if (auto reconciled =
          audit::ReconcileIntents(*audit_log.value(), settings.data_dir, written_record);
      !reconciled.ok()) {
    std::cerr << "carerecord: the audit log's write intents could not be reconciled ("
              << reconciled.error().message
              << "); `carerecord audit intents` lists those without an outcome" << std::endl;
  } else if (reconciled->open > 0) {
    std::cout << "audit: " << reconciled->ToString() << std::endl;
  }
  audit::AuditLogRequestSink audit_sink(*audit_log.value());
  // The log read back as AuditEvent (auditors; a patient user their own $access-log), its agents
  // named by the directory's Practitioner ids.
  auto agent_records = store::OpenSqliteIdentityRecords(settings.data_dir);
  if (!agent_records.ok()) {
    std::cerr << "carerecord: " << agent_records.error().message << "\n";
    return 1;
  }
  app::DirectoryAuditAgents audit_agents(*agent_records.value());
  audit::AuditSearch audit_search(settings.data_dir);
  http::AuditRouteOptions audit_route_options;
  audit_route_options.policy = settings.policy;
  audit_route_options.agents = &audit_agents;
  audit_route_options.access_log_shows_names = settings.access_log_shows_names;
  http::AuditRoutes audit_routes(audit_search, audit_route_options);
  http::FhirRouteOptions route_options{settings.public_url, &audit_sink, settings.patient_access};
  route_options.audit_events = &audit_routes;
  http::FhirRoutes routes(service, route_options);
  http::ServerOptions server_options;
  server_options.host = settings.host;
  server_options.port = settings.port;
  server_options.max_body_bytes = settings.max_body;
  server_options.worker_threads = settings.workers;
  server_options.io_threads = settings.io_threads;
  // Quick reads (a resource by id, metadata, the JWKS and discovery documents) run on the io
  // threads. A read's answer waits for its audit entry's sync, but no thread waits: the io
  // thread queues the entry and goes on, and sends the answer once the entry is durable
  // (FhirRoutes::HandleDeferred, ResponseHold).
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
  std::atomic<http::OidcRoutes*> oidc_routes{nullptr};
  http::HttpServer server(
      server_options,
      [&auth_routes, &oidc_routes, &feeds](const http::HttpRequest& request) {
        if (request.target == "/metrics" && request.method == "GET") {
          if (auto metrics = feeds.MetricsResponse()) return *metrics;
        }
        if (http::OidcRoutes::Handles(request)) {
          if (auto* oidc = oidc_routes.load(std::memory_order_acquire))
            return oidc->Handle(request);
        }
        http::AuthRoutes* routes = auth_routes.load(std::memory_order_acquire);
        if (routes == nullptr)
          return http::FhirRoutes::ErrorResponse(503, "the server is starting");
        return routes->Handle(request);
      },
      &http::ServerErrorResponse);
  auto bound = server.Start();
  if (!bound.ok()) {
    std::cerr << "carerecord: " << bound.error().message << "\n";
    return 1;
  }
  app::AuthStackOptions auth_options;
  auth_options.data_dir = settings.data_dir;
  auth_options.fhir_base = FhirBase(settings, bound.value());
  auth_options.token_ttl_seconds = settings.token_ttl_seconds;
  // The sign-in page links to the regional IdP, whose sign-ins end in the page's requests.
  if (!settings.oidc.issuer.empty()) auth_options.external_idp_label = settings.oidc.label;
  auto auth = app::AuthStack::Open(auth_options, routes);
  if (!auth.ok()) {
    std::cerr << "carerecord: " << auth.error().message << "\n";
    server.Stop();
    server.Wait();
    return 1;
  }
  http::PendingAuthorizationSink federated_sign_ins(auth.value()->authorizations());
  app::OidcServing oidc;
  if (auto started =
          oidc.Start(settings.oidc, settings.oidc_ca_file, auth.value()->endpoints().issuer,
                     auth.value()->directory(), federated_sign_ins);
      !started.ok()) {
    std::cerr << "carerecord: " << started.error().message << "\n";
    server.Stop();
    server.Wait();
    return 1;
  }
  // The regional IdP's callback and role form record their sign-ins as the token endpoint does.
  if (oidc.routes() != nullptr) oidc.routes()->RecordSignInsIn(&audit_sink);
  oidc_routes.store(oidc.routes(), std::memory_order_release);
  auth_routes.store(&auth.value()->routes(), std::memory_order_release);
  std::cout << "carerecord listening on http://" << settings.host << ":" << bound.value() << "/fhir"
            << std::endl;
  std::cout << "port " << bound.value() << std::endl;
  std::cout << "token endpoint " << auth.value()->endpoints().token_endpoint() << std::endl;
  if (oidc.routes() != nullptr) {
    std::cout << "sign-in through " << settings.oidc.issuer << " (" << settings.oidc.label
              << "), callback " << auth.value()->endpoints().issuer << "/auth/oidc/callback"
              << std::endl;
  }
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
  audit_log.value()->Close();  // a last signed checkpoint of the chain's head
  store.Close();               // every acknowledged commit is already synced; this checkpoints
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
  std::string audit_checkpoints;

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
  std::string policy_file;
  serve->add_option("--policy", policy_file,
                    "The region's access policy, JSON (default: DIR/policy.json when present, "
                    "else the built-in policy; see `policy show`)");
  serve->add_flag("--no-fsync", no_fsync,
                  "Do not sync commits to disk (tests only: a crash can lose acknowledged data)");
  serve->add_option("--audit-checkpoints", audit_checkpoints,
                    "File the audit log's signed checkpoints are appended to (default "
                    "DIR/audit-checkpoints; keep a copy where the database's administrator "
                    "cannot rewrite it)");
  app::AddMllpServeOptions(*serve, mllp);
  app::OidcServeSettings oidc;
  app::AddOidcServeOptions(*serve, oidc);

  std::vector<std::string> files;
  auto* load = app.add_subcommand("load", "Load FHIR Bundles (batch or transaction) from files");
  load->add_option("--data", data_dir, "Directory of the record store")->capture_default_str();
  load->add_option("files", files, "Bundle JSON files, loaded in the order given")
      ->required()
      ->check(CLI::ExistingFile);

  auto* stats = app.add_subcommand("stats", "Print what the store holds");
  stats->add_option("--data", data_dir, "Directory of the record store")->capture_default_str();

  auto* policy_command = app.add_subcommand("policy", "The region's access policy");
  policy_command->require_subcommand(1);
  auto* policy_show =
      policy_command->add_subcommand("show", "Print the effective access policy as JSON");
  policy_show->add_option("--data", data_dir, "Directory of the record store")
      ->capture_default_str();
  policy_show->add_option("--policy", policy_file, "A policy file, as serve --policy takes");

  app::IdentityCommands identity_commands(app);
  app::RegisterKeyCommands(app);
  app::RegisterFeedCommands(app);
  app::RegisterAuditCommands(app);
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

  std::shared_ptr<const access::RegionPolicy> region_policy;
  if (*serve || *policy_show) {
    auto loaded = EffectivePolicy(data_dir, policy_file);
    if (!loaded.ok()) {
      std::cerr << "carerecord: the access policy is refused: " << loaded.error().message << "\n";
      return 2;
    }
    region_policy = std::make_shared<const access::RegionPolicy>(std::move(loaded).value());
  }
  if (*policy_show) {
    std::cout << access::RegionPolicyJson(*region_policy) << "\n";
    return 0;
  }

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

  access::OidcSettings oidc_settings;
  if (*serve && (!oidc.issuer.empty() || !oidc.client_id.empty() ||
                 !oidc.client_secret_file.empty() || !oidc.role_map_file.empty())) {
    auto loaded = app::LoadOidcSettings(oidc);
    if (!loaded.ok()) {
      std::cerr << "carerecord: " << loaded.error().message << "\n";
      return 2;
    }
    oidc_settings = std::move(loaded).value();
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
  // serve waits for SIGTERM and SIGINT with sigwait: they are blocked before any thread starts
  // (the store's writer and checkpointer start as it opens), or one of those threads, not
  // blocking them, could take a SIGTERM sent before sigwait and end the process uncleanly.
  if (*serve) {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  }
  auto opened = store::OpenSqliteStore(store_options);
  if (!opened.ok()) {
    std::cerr << "carerecord: " << opened.error().message << "\n";
    return 1;
  }
  std::unique_ptr<store::Store> record_store = std::move(opened).value();
  // The region's policy (roles, sealing), narrowed by each token's scopes. load and stats run
  // as the server's own work, which the policy leaves whole.
  if (!region_policy) region_policy = std::make_shared<const access::RegionPolicy>();
  // A served record opens to a staff user only as the patient's relationships, objection,
  // declarations and break-glass allow (care_relationships.h); every write goes through the
  // store that keeps their cache true.
  access::SystemWallClock wall_clock;
  std::unique_ptr<access::AccessGrants> grants;
  std::unique_ptr<access::RecordCareRelationships> relationships;
  std::unique_ptr<access::RelationshipInvalidatingStore> served_store;
  std::unique_ptr<http::PatientAccessOperations> patient_access;
  if (*serve) {
    auto opened_grants = access::AccessGrants::Open(data_dir, !no_fsync, wall_clock.NowSeconds());
    if (!opened_grants.ok()) {
      std::cerr << "carerecord: " << opened_grants.error().message << "\n";
      return 1;
    }
    grants = std::move(opened_grants).value();
    relationships = std::make_unique<access::RecordCareRelationships>(*record_store, region_policy,
                                                                      *grants, wall_clock);
    served_store =
        std::make_unique<access::RelationshipInvalidatingStore>(*record_store, *relationships);
    patient_access = std::make_unique<http::PatientAccessOperations>(*served_store, *grants,
                                                                     region_policy, wall_clock);
  }
  store::Store& record = served_store ? *served_store : *record_store;
  access::RegionAccessPolicy region_access(region_policy, relationships.get());
  access::ScopeLimitedPolicy policy(region_access);
  interactions::FhirService service(record, policy, nullptr);

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

  ServeSettings settings{data_dir,    host,
                         port,        public_url,
                         max_body,    workers,
                         io_threads,  store_options.reader_connections,
                         demo,        demo_patients,
                         mllp,        !no_fsync,
                         token_ttl,   std::move(oidc_settings),
                         oidc.ca_file};
  settings.audit_checkpoints = audit_checkpoints;
  settings.patient_access = patient_access.get();
  settings.access_log_shows_names = region_policy->access_log_shows_names;
  settings.policy = &policy;
  return Serve(settings, service, record);
}
