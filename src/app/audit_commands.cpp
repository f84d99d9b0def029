#include "app/audit_commands.h"

#include <boost/json.hpp>
#include <iostream>
#include <memory>
#include <string>

#include "audit/audit_reports.h"
#include "audit/audit_verify.h"
#include "audit/intent_reconcile.h"

namespace carerecord::app {

namespace {

struct AuditSettings {
  std::string data_dir = "data";
  std::string checkpoints;  // empty: DIR/audit-checkpoints
  std::string public_key;   // empty: DIR/audit-checkpoint-public.pem
  std::string out;
  std::string since;
  std::string format = "table";
  bool skip_index = false;
  bool since_last_start = false;
};

audit::VerifyOptions VerifyOptionsOf(const AuditSettings& settings) {
  audit::VerifyOptions options;
  options.directory = settings.data_dir;
  options.checkpoint_file = settings.checkpoints;
  options.public_key_file = settings.public_key;
  return options;
}

int Verify(const AuditSettings& settings) {
  auto report = audit::VerifyAuditLog(VerifyOptionsOf(settings));
  if (!report.ok()) {
    std::cerr << "carerecord: " << report.error().message << "\n";
    return 1;
  }
  std::cout << report->Summary() << std::endl;
  if (report->ok) std::cout << report->Signed() << std::endl;
  if (settings.skip_index) return report->ok ? 0 : 1;
  // The search index the FHIR view (AuditEvent, $access-log) is served from: derived from the
  // log, outside the chain, so checked against it here (a removed row hides an entry there).
  auto index = audit::VerifyAuditSearchIndex(settings.data_dir);
  if (!index.ok()) {
    std::cerr << "carerecord: " << index.error().message << "\n";
    return 1;
  }
  std::cout << index->Summary() << std::endl;
  // An index absent or of another build's format is not read; the next start builds it.
  return report->ok && (index->ok || !index->present || index->other_format) ? 0 : 1;
}

int Export(const AuditSettings& settings) {
  auto exported = audit::ExportAuditLog(VerifyOptionsOf(settings), settings.out);
  if (!exported.ok()) {
    std::cerr << "carerecord: " << exported.error().message << "\n";
    return 1;
  }
  std::cout << "exported " << *exported << " entries to " << settings.out << std::endl;
  return 0;
}

// `what`: "report", or the action listed ("break-glass", "declare-relationship").
int Report(const AuditSettings& settings, const std::string& what) {
  auto since = audit::ParseSinceDate(settings.since);
  if (!since.ok()) {
    std::cerr << "carerecord: --since: " << since.error().message << "\n";
    return 2;
  }
  const auto format =
      settings.format == "json" ? audit::ReportFormat::kJson : audit::ReportFormat::kTable;
  // One entry at a time: the counts, or only the events listed.
  audit::MonthlyAccessCounter counter;
  std::vector<audit::AuditRecord> listed;
  auto read = audit::ForEachAuditEntry(settings.data_dir, *since, [&](audit::AuditRecord&& entry) {
    if (what == "report") {
      counter.Add(entry);
    } else if (entry.action == what) {
      listed.push_back(std::move(entry));
    }
  });
  if (!read.ok()) {
    std::cerr << "carerecord: " << read.error().message << "\n";
    return 1;
  }
  std::cout << (what == "report" ? audit::FormatMonthlyAccess(counter.Rows(), format)
                                 : audit::FormatEvents(listed, what, format))
            << std::flush;
  return 0;
}

// The write intents with no outcome entry after them: one line each (a table for people, every
// field a JSON string so none can forge a line, or one JSON object per line).
int Intents(const AuditSettings& settings) {
  auto scan = audit::FindIntentsWithoutOutcome(settings.data_dir, !settings.since_last_start);
  if (!scan.ok()) {
    std::cerr << "carerecord: " << scan.error().message << "\n";
    return 1;
  }
  for (const audit::OpenIntent& intent : scan->open) {
    const audit::AuditRecord& r = intent.record;
    boost::json::object line{{"seq", intent.seq},        {"time", audit::UtcTimeText(r.time_ms)},
                             {"principal", r.principal}, {"organisation", r.organisation},
                             {"role", r.role},           {"method", r.method},
                             {"path", r.path},           {"detail", r.detail},
                             {"purpose", r.purpose}};
    if (settings.format == "json") {
      std::cout << boost::json::serialize(line) << "\n";
    } else {
      std::cout << intent.seq << " " << line["time"].as_string().c_str();
      for (const char* key : {"principal", "organisation", "method", "path", "detail"}) {
        std::cout << " " << boost::json::serialize(line[key]);
      }
      std::cout << "\n";
    }
  }
  if (settings.format != "json") {
    std::cout << scan->open.size() << " write intent(s) without an outcome in entries "
              << scan->after_seq + 1 << "-" << scan->head_seq << std::endl;
  }
  return 0;
}

void AddData(CLI::App* command, AuditSettings& settings) {
  command->add_option("--data", settings.data_dir, "Directory of the record store")
      ->capture_default_str();
}

void AddReportOptions(CLI::App* command, AuditSettings& settings) {
  AddData(command, settings);
  command
      ->add_option("--since", settings.since,
                   "From this UTC date or time: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z]")
      ->required();
  command
      ->add_option("--format", settings.format,
                   "table (for people) or json (one JSON object per line)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

}  // namespace

void RegisterAuditCommands(CLI::App& app) {
  auto settings = std::make_shared<AuditSettings>();
  auto* audit = app.add_subcommand("audit", "The tamper-evident audit log of who saw what");
  audit->require_subcommand(1);

  auto* verify = audit->add_subcommand(
      "verify",
      "Check the hash chain and signed checkpoints ('ok N entries' or 'first bad entry: SEQ "
      "(why)'), then the search index the AuditEvent view is served from against the log "
      "('index ok: ...' or 'index: first entry whose rows differ: SEQ (why)'); exit 0 when "
      "both are whole, else 1");
  AddData(verify, *settings);
  verify->add_option("--checkpoints", settings->checkpoints,
                     "The checkpoint file (default DIR/audit-checkpoints)");
  verify->add_option("--public-key", settings->public_key,
                     "The checkpoint public key a verifier pinned (default "
                     "DIR/audit-checkpoint-public.pem)");
  verify->add_flag("--skip-index", settings->skip_index,
                   "Check the chain and checkpoints only, not the search index (whose check "
                   "reads and sorts every index row: about 14 s per million entries here)");
  verify->callback([settings] { throw CLI::RuntimeError(Verify(*settings)); });

  auto* exporter = audit->add_subcommand(
      "export", "Write the chain, checkpoints and public key for an independent verifier");
  AddData(exporter, *settings);
  exporter->add_option("--checkpoints", settings->checkpoints,
                       "The checkpoint file (default DIR/audit-checkpoints)");
  exporter->add_option("--out", settings->out, "Directory to write the export to")->required();
  exporter->callback([settings] { throw CLI::RuntimeError(Export(*settings)); });

  auto* intents = audit->add_subcommand(
      "intents",
      "Write intents with no outcome entry after them (a stop between a write's commit and its "
      "outcome's append; the server gives each an entry at its next start): SEQ TIME PRINCIPAL "
      "ORGANISATION METHOD PATH DETAIL, then a count");
  AddData(intents, *settings);
  intents->add_flag("--since-last-start", settings->since_last_start,
                    "Only the entries after the last start's check (what the next start "
                    "reconciles)");
  intents
      ->add_option("--format", settings->format,
                   "table (for people) or json (one JSON object per line)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  intents->callback([settings] { throw CLI::RuntimeError(Intents(*settings)); });

  auto* report = audit->add_subcommand(
      "report", "Accesses per organisation per month, distinct users, break-glass, declarations");
  AddReportOptions(report, *settings);
  report->callback([settings] { throw CLI::RuntimeError(Report(*settings, "report")); });

  auto* break_glass = audit->add_subcommand("break-glass", "Break-glass events, for review");
  AddReportOptions(break_glass, *settings);
  break_glass->callback([settings] { throw CLI::RuntimeError(Report(*settings, "break-glass")); });

  auto* declarations = audit->add_subcommand("declarations", "Declared relationships, for review");
  AddReportOptions(declarations, *settings);
  declarations->callback(
      [settings] { throw CLI::RuntimeError(Report(*settings, "declare-relationship")); });
}

}  // namespace carerecord::app
