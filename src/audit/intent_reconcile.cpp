#include "audit/intent_reconcile.h"

#include <sqlite3.h>

#include <algorithm>
#include <deque>
#include <map>

#include "audit/audit_database.h"
#include "audit/audit_log.h"

namespace carerecord::audit {
namespace {

constexpr char kIntentAction[] = "write-attempt";
constexpr char kReconciler[] = "system:carerecord";

// The caller, method, path and address an intent shares with its outcome.
std::string KeyOf(const AuditRecord& r) {
  std::string key = r.principal;
  for (const std::string* part : {&r.method, &r.path, &r.address}) {
    key += '\0';
    key += *part;
  }
  return key;
}

// An entry that answers a request (an outcome, a reconciling entry), not an intent, a sign-in or
// the reconciler's marker.
bool IsOutcome(const AuditRecord& r) {
  return r.action != kIntentAction && r.action != kReconcileAction && !r.method.empty();
}

bool ChangedSomething(const AuditRecord& r) {
  return r.outcome == "success" && r.action != "read" && r.action != "vread" &&
         r.action != "search" && r.action != "history" && r.action != "everything";
}

// The path's segments after /fhir, without the query; `query` tells whether it had one.
std::vector<std::string> SegmentsOf(std::string_view path, bool& query) {
  const size_t question = path.find('?');
  query = question != std::string_view::npos;
  path = path.substr(0, question);
  if (path.starts_with("/fhir")) path.remove_prefix(5);
  std::vector<std::string> segments;
  while (!path.empty()) {
    if (path[0] == '/') {
      path.remove_prefix(1);
      continue;
    }
    const size_t slash = path.find('/');
    segments.emplace_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return segments;
}

std::string IntendedAction(const AuditRecord& intent) {
  std::string_view detail = intent.detail;
  if (detail.starts_with("intends ")) detail.remove_prefix(8);
  return std::string(detail);
}

base::Result<int64_t> LastMarker(sqlite3* db) {
  // Keys are in bytewise order, `action` first: a marker's bytes start with this.
  const std::string prefix = std::string("{\"action\":\"") + kReconcileAction + "\"";
  sqlite3_stmt* statement = nullptr;
  // From the head backwards: the marker of the last start is near it.
  int rc = sqlite3_prepare_v2(db,
                              "SELECT seq FROM audit_entry WHERE substr(canonical, 1, ?1) = "
                              "CAST(?2 AS BLOB) ORDER BY seq DESC LIMIT 1",
                              -1, &statement, nullptr);
  int64_t seq = 0;
  if (rc == SQLITE_OK) {
    sqlite3_bind_int(statement, 1, static_cast<int>(prefix.size()));
    sqlite3_bind_blob(statement, 2, prefix.data(), static_cast<int>(prefix.size()),
                      SQLITE_TRANSIENT);
    rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW) {
      seq = sqlite3_column_int64(statement, 0);
      rc = SQLITE_DONE;
    }
  }
  sqlite3_finalize(statement);
  if (rc != SQLITE_DONE) {
    return base::MakeError(base::ErrorCode::kUnavailable,
                           std::string("cannot read the audit log: ") + sqlite3_errmsg(db));
  }
  return seq;
}

}  // namespace

base::Result<IntentScan> FindIntentsWithoutOutcome(const std::filesystem::path& directory,
                                                   bool whole_log) {
  auto opened = OpenAuditDatabaseToRead(directory);
  if (!opened.ok()) return opened.error();
  sqlite3* db = opened.value();
  IntentScan scan;
  std::string error;
  // One snapshot for the marker and the entries after it.
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  if (!whole_log) {
    auto marker = LastMarker(db);
    if (!marker.ok()) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close_v2(db);
      return marker.error();
    }
    scan.after_seq = marker.value();
  }
  scan.head_seq = scan.after_seq;
  // Open intents per key, oldest first.
  std::map<std::string, std::deque<OpenIntent>> open;
  sqlite3_stmt* statement = nullptr;
  int rc =
      sqlite3_prepare_v2(db, "SELECT seq, canonical FROM audit_entry WHERE seq > ?1 ORDER BY seq",
                         -1, &statement, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(statement, 1, scan.after_seq);
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
      const int64_t seq = sqlite3_column_int64(statement, 0);
      std::string_view canonical(static_cast<const char*>(sqlite3_column_blob(statement, 1)),
                                 static_cast<size_t>(sqlite3_column_bytes(statement, 1)));
      scan.head_seq = seq;
      auto record = ParseCanonical(canonical);
      if (!record.ok()) {
        error = "entry " + std::to_string(seq) + " cannot be read (" + record.error().message +
                "); run `carerecord audit verify`";
        break;
      }
      if (record->action == kIntentAction) {
        std::deque<OpenIntent>& same = open[KeyOf(*record)];
        OpenIntent intent{seq, std::move(record).value(), 0};
        intent.window_start_ms = intent.record.time_ms;
        for (const OpenIntent& earlier : same) {
          intent.window_start_ms = std::min(intent.window_start_ms, earlier.record.time_ms);
        }
        same.push_back(std::move(intent));
      } else if (IsOutcome(*record)) {
        if (ChangedSomething(*record)) {
          for (const std::string& resource : record->resources) {
            scan.changed.emplace_back(record->time_ms, resource);
          }
        }
        auto same = open.find(KeyOf(*record));
        if (same != open.end() && !same->second.empty()) same->second.pop_front();
      }
    }
    if (error.empty() && rc != SQLITE_DONE) error = sqlite3_errmsg(db);
  } else {
    error = sqlite3_errmsg(db);
  }
  sqlite3_finalize(statement);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close_v2(db);
  if (!error.empty()) {
    return base::MakeError(base::ErrorCode::kUnavailable, "cannot read the audit log: " + error);
  }
  for (auto& [key, intents] : open) {
    for (OpenIntent& intent : intents) scan.open.push_back(std::move(intent));
  }
  std::sort(scan.open.begin(), scan.open.end(),
            [](const OpenIntent& a, const OpenIntent& b) { return a.seq < b.seq; });
  return scan;
}

AuditRecord ReconcilingEntry(const OpenIntent& intent, const std::optional<StoredVersion>& found,
                             bool looked_up) {
  const AuditRecord& i = intent.record;
  AuditRecord entry;
  // The intent's caller, method, path and address: this entry is that request's outcome.
  entry.principal = i.principal;
  entry.user = i.user;
  entry.client = i.client;
  entry.organisation = i.organisation;
  entry.role = i.role;
  entry.patients = i.patients;
  entry.purpose = i.purpose;
  entry.reason = i.reason;
  entry.method = i.method;
  entry.path = i.path;
  entry.address = i.address;
  entry.status = 0;  // never answered
  std::string action = IntendedAction(i);
  if (action == "unknown" && i.method == "PATCH") action = "update";
  entry.action = action.empty() ? "unknown" : action;
  const std::string why =
      "outcome not recorded before a stop (intent " + std::to_string(intent.seq) + "): ";
  if (!looked_up) {
    entry.outcome = "unknown";
    entry.detail = why + "a " + entry.action +
                   " by this path is not looked up by type and id; the record may hold its "
                   "changes";
    return entry;
  }
  if (!found) {
    entry.outcome = "failed";
    entry.detail = why + "not written (the record holds no change it made)";
    return entry;
  }
  entry.outcome = "success";
  const std::string resource = found->type + "/" + found->id;
  entry.resources.push_back(resource);
  entry.items = 0;
  if (!found->patient_id.empty() && std::find(entry.patients.begin(), entry.patients.end(),
                                              found->patient_id) == entry.patients.end()) {
    entry.patients.push_back(found->patient_id);
  }
  const std::string what = found->deleted ? "deleted" : found->version == 1 ? "created" : "updated";
  entry.action = found->deleted                              ? "delete"
                 : found->version == 1 && i.method == "POST" ? "create"
                                                             : entry.action;
  entry.detail = why + what + " " + resource + "/_history/" + std::to_string(found->version);
  return entry;
}

std::string ReconcileSummary::ToString() const {
  if (open == 0) {
    return "every write intent after entry " + std::to_string(after_seq) + " has its outcome";
  }
  return std::to_string(open) + " write intent(s) after entry " + std::to_string(after_seq) +
         " had no outcome (a stop between a commit and its audit entry): " +
         std::to_string(committed) + " written, " + std::to_string(not_written) + " not written, " +
         std::to_string(unknown) + " not looked up; each now has an entry";
}

base::Result<ReconcileSummary> ReconcileIntents(AuditLog& log,
                                                const std::filesystem::path& directory,
                                                WrittenRecord& record) {
  auto scan = FindIntentsWithoutOutcome(directory, /*whole_log=*/false);
  if (!scan.ok()) return scan.error();
  ReconcileSummary summary;
  summary.after_seq = scan->after_seq;
  summary.head_seq = scan->head_seq;
  summary.open = static_cast<int>(scan->open.size());
  // Versions an outcome (or an earlier reconciling entry of this run) already accounts for.
  std::set<std::string> claimed_creations;
  std::map<std::string, int> claimed_versions;
  for (const OpenIntent& intent : scan->open) {
    bool query = false;
    const std::vector<std::string> segments = SegmentsOf(intent.record.path, query);
    const std::string action = IntendedAction(intent.record);
    const std::string& method = intent.record.method;
    std::optional<StoredVersion> found;
    bool looked_up = false;
    if (!query && segments.size() == 1 && method == "POST" && action == "create") {
      // A create: the first version of a resource of its type, written from the intent on by its
      // organisation, that no entry names.
      looked_up = true;
      auto versions = record.VersionsSince(segments[0], "", intent.window_start_ms);
      if (!versions.ok()) return versions.error();
      for (const StoredVersion& v : versions.value()) {
        const std::string name = v.type + "/" + v.id;
        if (v.version != 1 || claimed_creations.contains(name)) continue;
        if (!intent.record.organisation.empty() && !v.author_organisation.empty() &&
            v.author_organisation != intent.record.organisation) {
          continue;
        }
        const bool named = std::any_of(scan->changed.begin(), scan->changed.end(),
                                       [&name](const auto& c) { return c.second == name; });
        if (named) continue;
        claimed_creations.insert(name);
        found = v;
        break;
      }
    } else if (!query && segments.size() == 2 && !segments[1].starts_with('$') &&
               !segments[1].starts_with('_') &&
               (method == "PUT" || method == "DELETE" || method == "PATCH")) {
      // A write by id: a version of Type/id from the intent on that no outcome accounts for.
      looked_up = true;
      const std::string name = segments[0] + "/" + segments[1];
      auto versions = record.VersionsSince(segments[0], segments[1], intent.window_start_ms);
      if (!versions.ok()) return versions.error();
      int accounted = static_cast<int>(std::count_if(
          scan->changed.begin(), scan->changed.end(),
          [&](const auto& c) { return c.second == name && c.first >= intent.window_start_ms; }));
      accounted += claimed_versions[name];
      if (static_cast<int>(versions->size()) > accounted) {
        found = versions.value()[static_cast<size_t>(accounted)];
        ++claimed_versions[name];
      }
    }
    if (!looked_up) {
      ++summary.unknown;
    } else if (found) {
      ++summary.committed;
    } else {
      ++summary.not_written;
    }
    auto appended = log.Append(ReconcilingEntry(intent, found, looked_up));
    if (!appended.ok()) return appended.error();
  }
  // Nothing since the last marker: no new one (a server restarted often adds none).
  if (scan->head_seq == scan->after_seq) return summary;
  AuditRecord marker;
  marker.principal = kReconciler;
  marker.action = kReconcileAction;
  marker.outcome = "success";
  marker.detail = "write intents of entries " + std::to_string(scan->after_seq + 1) + "-" +
                  std::to_string(scan->head_seq) +
                  " checked at start: " + std::to_string(summary.open) + " without an outcome, " +
                  std::to_string(summary.committed) + " of them written, " +
                  std::to_string(summary.not_written) + " not written, " +
                  std::to_string(summary.unknown) + " not looked up";
  auto appended = log.Append(std::move(marker));
  if (!appended.ok()) return appended.error();
  summary.marked = true;
  return summary;
}

}  // namespace carerecord::audit
