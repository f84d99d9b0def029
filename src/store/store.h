// The record store: every version of every resource, its search indexes and its patient
// compartment, behind a backend-neutral interface (SQLite now, PostgreSQL later).
// A Store is shared by all request threads; every method is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "fhir/index_extraction.h"
#include "store/body_codec.h"
#include "store/search_spec.h"

namespace carerecord::store {

// Where a version came from (DESIGN principle 2): kept with every version.
struct Provenance {
  std::string source;      // organisation or feed that sent it, e.g. "fhir-api"
  std::string message_id;  // the sender's message or request id; may be empty
  int64_t received_ms = 0;
};

// One resource version as stored.
struct StoredResource {
  std::string type;
  std::string id;
  int64_t version = 0;
  int64_t last_updated_ms = 0;
  bool deleted = false;
  std::string method;      // "POST", "PUT" or "DELETE": how this version was made (history entries)
  std::string json;        // the resource JSON, meta.versionId and meta.lastUpdated included
  std::string patient_id;  // id of the Patient whose compartment holds it; empty if none
};

// Facts about an item the store is about to hand back, for the ReadGate to judge.
struct ItemFacts {
  std::string_view type;
  std::string_view id;
  std::string_view patient_id;  // empty when the item is in no patient's compartment
};

// Every item a user-facing read returns passes through a ReadGate first (DESIGN principle 4).
// The access layer implements it: it decides per item and records what was disclosed for the
// audit. The store cannot return data without one. Used by one request on one thread.
class ReadGate {
 public:
  virtual ~ReadGate() = default;
  // False withholds the item: searches skip it; a read by id answers as if it were absent.
  virtual bool Admit(const ItemFacts& item) = 0;
};

// One write of a transaction, fully prepared by the caller: validated, references resolved,
// meta.versionId/lastUpdated already set to `version`/`last_updated_ms` in `json`.
struct PreparedWrite {
  std::string type;
  std::string id;
  int64_t version = 1;  // the new version; the write fails unless current is version - 1
  int64_t last_updated_ms = 0;
  bool is_delete = false;
  std::string method;  // "POST", "PUT", "DELETE"
  std::string json;    // empty for a delete
  // `json` as the store keeps it (EncodeBody), made by the caller so compression runs on the
  // request threads in parallel rather than on the single writer.
  std::string encoded_json;
  fhir::IndexEntries index;
  // Patients (ids) whose compartment this version belongs to. The first is the resource's
  // distribution key. A Patient lists itself.
  std::vector<std::string> compartment_patients;
  // Local references ("Type/id") that must exist (current, not deleted) when this commits,
  // unless the same transaction creates them.
  std::vector<std::pair<std::string, std::string>> required_targets;
  // What the version being replaced was indexed under (from its body), so its rows can be
  // removed; empty for a create. Valid because the commit checks version - 1 is still current.
  fhir::IndexEntries previous_index;
  std::vector<std::string> previous_compartment_patients;
};

// A check re-run inside the write transaction, for conditional interactions whose outcome must
// hold at commit (If-None-Exist, conditional update): fails the whole transaction if it fails.
class TransactionReader;
using CommitCheck = std::function<base::Status(TransactionReader&)>;

struct WriteTransaction {
  std::vector<PreparedWrite> writes;
  std::vector<CommitCheck> checks;
  Provenance provenance;
};

// The current state of a resource as the write path needs it (no gate: writers prepare versions,
// they do not disclose data).
struct CurrentVersion {
  int64_t version = 0;  // 0 when it has never existed
  bool deleted = false;
  std::string json;  // current body when not deleted
};

// Reads used by the write path inside or outside a transaction. Not user-facing.
class TransactionReader {
 public:
  virtual ~TransactionReader() = default;
  virtual base::Result<CurrentVersion> Current(std::string_view type, std::string_view id) = 0;
  // Ids of current resources of `type` matching `spec` (conditional create/update/references).
  virtual base::Result<std::vector<std::string>> MatchIds(const SearchSpec& spec, size_t limit) = 0;
};

struct SearchPage {
  std::vector<StoredResource> matches;
  std::vector<StoredResource> included;  // _include / _revinclude results
  std::optional<int64_t> total;          // when asked for
  std::string next_cursor;               // empty when this is the last page
  std::string previous_cursor;           // empty when this is the first page
};

struct HistoryPage {
  std::vector<StoredResource> versions;  // newest first
  std::optional<int64_t> total;
  std::string next_cursor;
  std::string previous_cursor;
};

struct HistoryQuery {
  std::string type;  // empty: whole system
  std::string id;    // empty: whole type
  std::optional<int64_t> since_ms;
  std::optional<int64_t> at_ms;  // _at: versions current at this instant (not yet supported)
  size_t count = 50;
  std::string cursor;
  // _total=accurate: count every version. Otherwise only the first page has a total, and only
  // when the count stops below kMaxHistoryCounted (a total is optional in R4).
  bool total = false;
};
inline constexpr int64_t kMaxHistoryCounted = 10000;

struct EverythingQuery {
  std::string patient_id;
  std::optional<int64_t> since_ms;
  std::vector<std::string> types;  // empty: all
  size_t count = 1000;
  std::string cursor;
};

// A consistent snapshot for one request: every read in it sees the same committed state.
// Each item it returns has been admitted by the gate it was opened with.
class ReadSession {
 public:
  virtual ~ReadSession() = default;
  virtual base::Result<StoredResource> Read(std::string_view type, std::string_view id) = 0;
  virtual base::Result<StoredResource> ReadVersion(std::string_view type, std::string_view id,
                                                   int64_t version) = 0;
  virtual base::Result<SearchPage> Search(const SearchSpec& spec) = 0;
  virtual base::Result<HistoryPage> History(const HistoryQuery& query) = 0;
  virtual base::Result<SearchPage> Everything(const EverythingQuery& query) = 0;
};

struct CommitResult {
  int64_t commit_ms = 0;
};

struct StoreStats {
  int64_t resources = 0;  // current, not deleted
  int64_t versions = 0;
  int64_t bytes = 0;  // on disk, indexes included
};

class Store {
 public:
  virtual ~Store() = default;
  // Commits all writes or none; durable (synced) before it returns. Fails with kConflict when a
  // version was overtaken, kUnprocessable when a required target is missing.
  virtual base::Result<CommitResult> Commit(WriteTransaction transaction) = 0;
  virtual std::unique_ptr<ReadSession> OpenRead(ReadGate& gate) = 0;
  virtual std::unique_ptr<TransactionReader> OpenTransactionReader() = 0;
  virtual base::Result<StoreStats> Stats() = 0;
  // How bodies are compressed; writers encode with it before Commit (PreparedWrite).
  virtual const BodyCodec& Codec() const = 0;
  virtual void Close() = 0;
};

struct SqliteOptions {
  std::string directory;
  bool durable = true;  // fsync each commit (synchronous=FULL); off only for throwaway tests
  int reader_connections = 8;
};

base::Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace carerecord::store
