// The record store: every version of every resource, its search indexes and its patient
// compartment, behind a backend-neutral interface (SQLite now, PostgreSQL later).
// A Store is shared by all request threads; every method is thread-safe.
#pragma once

#include <atomic>
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

namespace carerecord::interactions {
class TransactionRunner;
}

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
  std::string sealing_facts;  // fhir::EncodeSealingFacts of this version (labels, code codings)
  // The organisation of whoever wrote the resource's first version; empty when not known (a
  // store written before it was recorded).
  std::string author_organisation;
};

// The body of the version an ItemFacts describes, read only when a policy asks for it (a scope
// restricted by search parameters, access/scope_restriction.h): most decisions never read it.
// Belongs to the one call that made the ItemFacts.
class ItemBody {
 public:
  virtual ~ItemBody() = default;
  // The version's resource JSON; empty for a deletion. Valid until the ItemBody goes.
  virtual base::Result<std::string_view> Json() = 0;
};

// An ItemBody over JSON already in memory.
class ItemBodyText final : public ItemBody {
 public:
  explicit ItemBodyText(std::string_view json) : json_(json) {}
  base::Result<std::string_view> Json() override { return json_; }

 private:
  std::string_view json_;
};

// Facts about an item the store is about to hand back, for the ReadGate to judge.
struct ItemFacts {
  std::string_view type;
  std::string_view id;
  std::string_view patient_id;  // empty when the item is in no patient's compartment
  // This version's meta.security labels and `code` codings (fhir/sealing_facts.h), and the
  // organisation that wrote the resource's first version (empty when not known).
  std::string_view sealing_facts;
  std::string_view author_organisation;
  // Where the gate may read the version's body; null when the caller has none (a policy that
  // needs it then withholds the item).
  ItemBody* body = nullptr;
};

// Every item a user-facing read returns passes through a ReadGate first (DESIGN principle 4).
// The access layer implements it: it decides per item and records what was disclosed for the
// audit. The store cannot return data without one. Used by one request on one thread.
class ReadGate {
 public:
  virtual ~ReadGate() = default;
  // False withholds the item: searches skip it; a read by id answers as if it were absent.
  virtual bool Admit(const ItemFacts& item) = 0;
  // Decides as Admit would, but records no disclosure: for an item the store only reads to find
  // others and never hands back ($everything's references from the record's earlier pages).
  virtual bool Permits(const ItemFacts& item) = 0;
  // True when this gate admits every item whatever its facts (the server's own work): counts
  // may then be taken from the indexes without asking per item.
  virtual bool AdmitsEverything() { return false; }
  // True when this gate admits no item of `type`, whatever its facts (a role that may not read
  // the type): a search of it then reads no match. False is always safe.
  virtual bool AdmitsNoneOf(std::string_view /*type*/) { return false; }
  // Counts `count` items withheld without asking about each: the matches of a count over a type
  // the gate admits none of (AdmitsNoneOf), so the audit's withheld agrees with a count that
  // asked Admit per match. For the audit only; never told to the caller.
  virtual void CountWithheld(int64_t /*count*/) {}
};

// One write of a transaction, fully prepared by the caller: validated, references resolved,
// meta.versionId set to `version` in `json`. meta.lastUpdated is set by Commit (see there).
struct PreparedWrite {
  std::string type;
  std::string id;
  int64_t version = 1;          // the new version; the write fails unless current is version - 1
  int64_t last_updated_ms = 0;  // provisional until Commit stamps it
  bool is_delete = false;
  std::string method;  // "POST", "PUT", "DELETE"
  std::string json;    // empty for a delete
  // Where the text of meta.lastUpdated starts in `json` (npos: nowhere), for Commit to stamp.
  size_t last_updated_at = std::string::npos;
  // `json` as the store keeps it (BodyCodec): made by Commit on the caller's thread before the
  // transaction is queued, so compression runs on the request threads in parallel, never on the
  // single writer nor while others wait; the body records where meta.lastUpdated goes.
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
  std::string sealing_facts;  // fhir::EncodeSealingFacts of `json`; empty for a delete
  // Where this version came from, when not the transaction's own: a transaction may carry
  // writes of many feed messages (each version keeps its own message's provenance).
  std::optional<Provenance> provenance;
};

// A condition that matched nothing on the caller's snapshot and must still match nothing when
// the transaction commits (If-None-Exist, a conditional update that creates), or the whole
// transaction fails with kConflict. The writer runs no search for it unless a resource of a
// type the search depends on was written after the snapshot (WriteTransaction::read_position);
// then it searches within a small fixed budget, and past that hands the transaction back
// (kConflict, location kCommitCheckHandedBack) to be prepared again on a newer snapshot.
struct CommitCheck {
  std::shared_ptr<const SearchSpec> spec;
  std::vector<std::string>
      excluded_ids;              // matches that do not count (this transaction deletes them)
  std::string conflict_message;  // the error when a match appeared
};
inline constexpr std::string_view kCommitCheckHandedBack = "commit-check";

struct WriteTransaction {
  std::vector<PreparedWrite> writes;
  std::vector<CommitCheck> checks;
  // TransactionReader::Position() of the snapshot the checks held on; 0: unknown, so every
  // check is searched again at commit.
  int64_t read_position = 0;
  Provenance provenance;  // of every write that names none of its own
  // The organisation of the user or client writing: kept as the author of every resource this
  // transaction creates (the sealing policy opens V items to it).
  std::string author_organisation;
};

// The current state of a resource as the write path needs it (no gate: writers prepare versions,
// they do not disclose data).
struct CurrentVersion {
  int64_t version = 0;  // 0 when it has never existed
  bool deleted = false;
  std::string json;  // current body when not deleted
  std::string sealing_facts;
  std::string author_organisation;
  std::string patient_id;  // whose compartment holds it (ItemFacts::patient_id); empty if none
};

// Reads used by the write path inside or outside a transaction. Not user-facing.
class TransactionReader {
 public:
  virtual ~TransactionReader() = default;
  virtual base::Result<CurrentVersion> Current(std::string_view type, std::string_view id) = 0;
  // Ids of current resources of `type` matching `spec` (conditional create/update/references),
  // at most `limit` + 1. With `visible`, only the matches it permits count: a caller's condition
  // matches only what the caller may read.
  virtual base::Result<std::vector<std::string>> MatchIds(const SearchSpec& spec, size_t limit,
                                                          ReadGate* visible = nullptr) = 0;
  // Where the store stood when this reader's snapshot began: its reads see every write up to
  // here and none after. 0 when the reader has no single snapshot.
  virtual int64_t Position() { return 0; }
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

// Patient/$everything: the patient's compartment (SearchPage::matches), then the resources in no
// patient's compartment that it references (SearchPage::included, each once across all pages),
// both counted by `count`. `types` and `since_ms` select from the two alike.
struct EverythingQuery {
  std::string patient_id;
  SearchBudget budget;  // its time and work, as a search's
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

// The only way to make one is to be the write path's runner (or the tests' named access): the
// ungated TransactionReader is reachable from nowhere else, so no user-facing read can use it.
class TransactionReaderKey {
 private:
  TransactionReaderKey() = default;
  friend class interactions::TransactionRunner;
  friend struct TransactionReaderKeyForTests;
};

struct CommitResult {
  int64_t commit_ms = 0;
  // The meta.lastUpdated Commit gave every write: never earlier than that of a transaction
  // committed before this one, so the order of lastUpdated is the order of commits.
  int64_t last_updated_ms = 0;
};

struct StoreStats {
  int64_t resources = 0;  // current, not deleted
  int64_t versions = 0;
  int64_t bytes = 0;  // on disk, indexes included
  // Commit checks (If-None-Exist) since the store opened: searched again by the writer because
  // a type they depend on was written after the caller's snapshot, and of those, handed back to
  // be prepared again because the search did not fit the writer's budget.
  int64_t checks_searched_by_writer = 0;
  int64_t checks_handed_back = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Commits all writes or none; durable (synced) before it returns. Encodes the bodies on the
  // caller's thread, then stamps meta.lastUpdated as it applies the writes (CommitResult). Fails
  // with kConflict when a version was overtaken or a check failed, kUnprocessable when a required
  // target is missing, kUnavailable when storage is full or failing (nothing is written; retry
  // later).
  virtual base::Result<CommitResult> Commit(WriteTransaction transaction) = 0;
  virtual std::unique_ptr<ReadSession> OpenRead(ReadGate& gate) = 0;
  // The write path's reader (see TransactionReaderKey).
  virtual std::unique_ptr<TransactionReader> OpenTransactionReader(TransactionReaderKey key) = 0;
  virtual base::Result<StoreStats> Stats() = 0;
  // How bodies are compressed; writers encode with it before Commit (PreparedWrite).
  virtual const BodyCodec& Codec() const = 0;
  virtual void Close() = 0;
};

struct SqliteOptions {
  std::string directory;
  bool durable = true;  // fsync each commit (synchronous=FULL); off only for throwaway tests
  // Reader connections open at most; a reader beyond them waits for one. Size it to the threads
  // that read at once (the server's io threads and workers) so that none waits.
  int reader_connections = 8;
  // Tests: a limit on the database's pages (PRAGMA max_page_count), read by the writer before
  // each commit group, so that a full disk can be made without root. Null or 0: no limit.
  std::shared_ptr<std::atomic<int64_t>> max_page_count;
};

// Only one process at a time may open a data folder's record store (it holds an exclusive lock
// on DIR/carerecord.lock while open): a second opener fails with kUnavailable and this location.
inline constexpr std::string_view kDataFolderInUse = "data-folder-in-use";

base::Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace carerecord::store
