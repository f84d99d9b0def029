// The one write path: create, update, delete (plain and conditional), batch and transaction
// all become a list of PlannedEntry that a TransactionRunner resolves (ids, urn:uuid and
// conditional references, versions) and commits as one store transaction. Internal to
// src/interactions/; a TransactionRunner serves one request on one thread.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "interactions/fhir_service.h"
#include "store/store.h"

namespace carerecord::interactions {

// One entry of a write: what was asked and, once resolved, what will be done.
struct PlannedEntry {
  std::string method;  // POST, PUT, DELETE, GET
  std::string type;
  std::string id;                        // from the URL (PUT/DELETE/GET instance)
  std::string url;                       // as given, for GET entries and messages
  std::optional<QueryParams> condition;  // conditional PUT/DELETE, or POST If-None-Exist
  // The client's resource as sent. Never changed, so that a retry starts from it again.
  std::optional<boost::json::object> resource;
  std::string full_url;
  std::optional<int64_t> if_match;
  std::string where;  // "Bundle.entry[3]" for messages
  // Where this entry's versions come from, when not the request's (RequestContext::
  // entry_provenance).
  std::optional<store::Provenance> provenance;
  // RequestContext::entry_absent_since: > 0 when the caller found this entry's If-None-Exist
  // condition matching nothing on a snapshot at or after this position.
  int64_t absent_since = 0;

  // Resolution.
  bool noop = false;  // conditional create that matched, or delete of nothing
  bool created = false;
  bool conditional_create = false;  // conditional PUT that matched nothing
  int status = 200;
  std::string resolved_id;
  int64_t version = 0;
  int64_t last_updated_ms = 0;
  std::string stored_json;
  size_t last_updated_at = std::string::npos;  // meta.lastUpdated's text in stored_json
  std::optional<Response> read_response;       // GET entries
  // The patients whose record this entry's write changed (the compartments of the new version
  // and of the one it replaced or deleted), for the request's audit entry.
  std::vector<std::string> written_patients;
};

class TransactionRunner {
 public:
  TransactionRunner(FhirService& service, const RequestContext& ctx)
      : service_(service), ctx_(ctx) {}

  // Resolves and commits the entries all-or-nothing; retries, from the client's resources
  // again, when a concurrent commit overtook a version or broke a condition this one relied on.
  // A version pinned with If-Match is then re-checked and fails with 412. A condition the
  // writer handed back (too costly to confirm there) is retried a few times, then a 503.
  base::Status Run(std::vector<PlannedEntry>& entries);
  // FhirService::RecordPosition: the newest committed version, from a snapshot begun now.
  static int64_t RecordPosition(store::Store& store);

 private:
  static void ResetResolution(PlannedEntry& e) {
    e.noop = e.created = e.conditional_create = false;
    e.status = 200;
    e.resolved_id.clear();
    e.version = 0;
    e.last_updated_ms = 0;
    e.stored_json.clear();
    e.last_updated_at = std::string::npos;
    e.written_patients.clear();
  }
  // Tells the request's audit (RequestContext::who.request_audit) whose records were written.
  void RecordWrittenPatients(const std::vector<PlannedEntry>& entries) const;

  base::Status RunOnce(std::vector<PlannedEntry>& entries);
  base::Status DecideTarget(PlannedEntry& e);
  base::Status DecideConditionalCreate(PlannedEntry& e);
  // The search of a conditional operation or reference, understood exactly and with its
  // terminology expanded.
  base::Result<ParsedSearch> ParseCondition(const std::string& type, const QueryParams& query);
  base::Result<std::vector<std::string>> Match(const std::string& type, const QueryParams& query,
                                               const std::string& where);
  void CheckStillNoMatchAtCommit(const std::string& type, const QueryParams& query);
  void CheckStillNoMatchAtCommit(const std::string& type, ParsedSearch parsed);
  base::Status ResolveReferences(const PlannedEntry& entry, boost::json::object& resource);
  bool MayReadCurrent(std::string_view type, std::string_view id,
                      const store::CurrentVersion& current);
  base::Status CheckTargetsReadable(const store::WriteTransaction& transaction);
  // A write of a transaction, for the checks after every entry is prepared.
  struct WrittenEntry {
    size_t index;  // in WriteTransaction::writes
    const PlannedEntry* entry;
    // An update or delete of what exists: the organisation that wrote its first version.
    std::optional<std::string> changed_author;
    // A Consent's version replaced or deleted (empty when none): whether it was an objection.
    std::string previous_consent;
  };
  base::Status CheckRecordsWritable(const store::PreparedWrite& write, const WrittenEntry& entry,
                                    const std::set<std::string>& new_patients);
  // A 403 when the token's scopes for this write are all restricted (SMART's search-style
  // restrictions) and `written` (empty for a delete) or `current` (empty when none) fails them.
  base::Status CheckScopeRestrictions(const PlannedEntry& e, std::string_view written,
                                      std::string_view current);

  FhirService& service_;
  const RequestContext& ctx_;
  std::unique_ptr<store::TransactionReader> reader_;
  // The first attempt takes the caller's word that a condition matches nothing
  // (PlannedEntry::absent_since); the lowest such position, which the commit checks then hold
  // on. A retry searches again.
  bool trust_absent_ = true;
  int64_t absent_since_ = 0;
  std::unordered_map<std::string, std::string> full_urls_;            // urn:uuid:... -> Type/id
  std::unordered_map<std::string, std::string> conditional_refs_;     // Type?query -> Type/id
  std::unordered_map<std::string, std::string> conditional_creates_;  // Type?query -> id
  std::unordered_map<std::string, std::string> conditions_used_;      // Type?query -> method
  // "Type/id" of resources this transaction deletes: processed first, so later conditions
  // (If-None-Exist, conditional update) must not match them.
  std::unordered_set<std::string> deleted_here_;
  std::vector<store::CommitCheck> checks_;
  bool commit_conflict_ = false;
  bool check_handed_back_ = false;
};

// The version in an ETag (W/"3" or "3"), or nothing when it is not one.
std::optional<int64_t> ParseETagVersion(std::string_view etag);

}  // namespace carerecord::interactions
