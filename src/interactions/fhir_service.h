// The FHIR R4 interactions (read, vread, search, history, create, update, delete, batch,
// transaction, $everything, capabilities) over the record store. Knows FHIR's REST rules but
// nothing of HTTP transport: src/http/ routes requests here. Every read opens the store through
// an access::RequestGate, so policy and audit hook in at this one place.
// A FhirService is shared by all request threads; every method is thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "access/access_context.h"
#include "interactions/search_request.h"
#include "store/store.h"

namespace carerecord::interactions {

enum class PreferReturn { kDefault, kMinimal, kRepresentation, kOperationOutcome };

// What the caller's request says beyond its path and body.
struct RequestContext {
  access::AccessContext who;
  std::string base_url;  // "http://127.0.0.1:8080/fhir", for fullUrl, Location and links
  bool strict = false;   // Prefer: handling=strict
  PreferReturn prefer_return = PreferReturn::kDefault;
  std::string request_id;  // kept as the provenance message id of what this request writes
  // The provenance source and received time of what this request writes, when it speaks for a
  // feed (src/feeds/: the feed's name, and when its message reached the inbox); empty and 0
  // for the API's own requests, which are ServiceOptions::source and now.
  std::string source;
  int64_t received_ms = 0;
  // For a transaction Bundle carrying the writes of many feed messages (src/feeds/): the
  // provenance of each entry, one per entry in order, kept on the versions it writes instead of
  // the request's. Set only by the server's own callers, never from a client's request.
  std::vector<store::Provenance> entry_provenance;
  // For such a Bundle: per entry, 0, or a position of the record (RecordPosition()) read before
  // the caller found the entry's If-None-Exist condition matching nothing through this same
  // gate. The entry's own search is then skipped and the writer's commit check covers every
  // write after that position (so a match created since is still refused). Set only by the
  // server's own callers, never from a client's request.
  std::vector<int64_t> entry_absent_since;
  // When the request's searches must be done by: a Bundle runs many, each with its own budget,
  // so each gets at most what is left of the request's. None by default.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();

  // `budget`'s time cut to what is left before the deadline.
  void Bound(store::SearchBudget& budget) const {
    if (deadline == std::chrono::steady_clock::time_point::max()) return;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    budget.max_milliseconds =
        std::max<int64_t>(0, std::min<int64_t>(budget.max_milliseconds, left));
  }
};

// A FHIR response: status, the FHIR-defined headers, and a JSON body (may be empty).
struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // ETag, Location, Last-Modified
  std::string body;
};

struct ServiceOptions {
  std::string source = "fhir-api";  // provenance source of writes through the API
  SearchLimits limits;
  size_t everything_max_count = 5000;
  // A batch or transaction Bundle holds at most this many entries (413 beyond), and its GET
  // entries are refused (413 each) once the response has grown to this size: together they
  // bound the work and memory of one POST (a Synthea lifetime record has under 3,000 entries).
  size_t bundle_max_entries = 20000;
  size_t bundle_response_max_bytes = size_t{64} << 20;
};

class FhirService {
 public:
  FhirService(store::Store& store, access::AccessPolicy& policy, access::AuditSink* audit,
              ServiceOptions options = {});

  Response Capabilities(const RequestContext& ctx) const;
  // `params`: _summary (true, text, data) and _elements shape the resource as on search.
  Response Read(const RequestContext& ctx, std::string_view type, std::string_view id,
                const QueryParams& params = {});
  Response VRead(const RequestContext& ctx, std::string_view type, std::string_view id,
                 std::string_view version, const QueryParams& params = {});
  Response Search(const RequestContext& ctx, std::string_view type, const QueryParams& params);
  // Patient/{patient_id}/{type}?params: the search within one patient's compartment.
  Response CompartmentSearch(const RequestContext& ctx, std::string_view patient_id,
                             std::string_view type, const QueryParams& params);
  Response History(const RequestContext& ctx, std::string_view type, std::string_view id,
                   const QueryParams& params);
  Response Everything(const RequestContext& ctx, std::string_view id, const QueryParams& params);

  Response Create(const RequestContext& ctx, std::string_view type, std::string_view body,
                  std::string_view if_none_exist);
  Response Update(const RequestContext& ctx, std::string_view type, std::string_view id,
                  std::string_view body, std::string_view if_match);
  Response ConditionalUpdate(const RequestContext& ctx, std::string_view type,
                             const QueryParams& params, std::string_view body);
  Response Delete(const RequestContext& ctx, std::string_view type, std::string_view id);
  Response ConditionalDelete(const RequestContext& ctx, std::string_view type,
                             const QueryParams& params);
  // POST of a Bundle of type batch or transaction to the base.
  Response ProcessBundle(const RequestContext& ctx, std::string_view body);
  // Where the record stands now (the newest committed version); 0 when unknown. For
  // RequestContext::entry_absent_since.
  int64_t RecordPosition();

  // A FHIR error response (OperationOutcome) for an error found outside the service, e.g. by
  // the HTTP layer (unknown route, body too large).
  static Response ErrorResponse(const base::Error& error);

  // Whether only `who`'s break-glass opens `patient_id`'s record (the policy's
  // OpensOnlyByBreakGlass): for the audit's purpose of use of a write's intent.
  bool OpensOnlyByBreakGlass(const access::AccessContext& who, std::string_view patient_id) {
    return policy_.OpensOnlyByBreakGlass(who, patient_id);
  }
  // Whether the current version of Type/`id` is in a record only `who`'s break-glass opens: for
  // the purpose of use of the intent of a write by id (a DELETE names no patient before it runs).
  // Reads the version's facts through a gate that admits nothing, so nothing is disclosed.
  bool StoredInRecordOnlyBreakGlassOpens(const access::AccessContext& who, std::string_view type,
                                         std::string_view id);

 private:
  friend class TransactionRunner;
  Response RunSearch(const RequestContext& ctx, std::string_view type, const QueryParams& params,
                     std::string_view compartment_patient);
  store::Store& store_;
  access::AccessPolicy& policy_;
  access::AuditSink* audit_;
  ServiceOptions options_;
  std::string capability_json_;
};

}  // namespace carerecord::interactions
