// Shared pieces of applying a mapped message (apply_mapped.cpp) and planning an A40 merge
// (apply_mapped_merge.cpp): what the record holds for an identity, how it is found and how a
// planned write becomes a transaction entry. Internal to src/feeds; not for other callers.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "feeds/apply_mapped.h"
#include "hl7v2/error.h"
#include "interactions/fhir_service.h"
#include "mapping/mapped_message.h"

namespace carerecord::feeds::internal {

// The current version of a resource as read from the record.
struct Stored {
  std::string id;
  int64_t version = 0;
  boost::json::object body;
};

enum class Decision { kCreate, kUpdate, kUnchanged, kOlder, kAbsent };

// One mapped resource, decided: what the record holds, and what is written (create / update).
struct Planned {
  const mapping::MappedResource* mapped = nullptr;
  std::optional<Stored> current;
  Decision decision = Decision::kUnchanged;
  boost::json::object body;  // what is written (create / update)
  // The round's batch lookup (FindAhead) found its identity absent: a create whose
  // If-None-Exist the transaction need not search again (RequestContext::entry_absent_since).
  bool found_absent_ahead = false;
};

// A search value for a token: FHIR's escapes (\ , $ |) in the value, after "system|".
std::string TokenValue(const std::string& system, const std::string& value);
// Percent-encoding for a query string.
std::string PercentEncode(std::string_view text);

base::Result<boost::json::object> ParseBody(std::string_view text);
// A FhirService response that is not a success as an error of the matching code, with the
// OperationOutcome's diagnostics.
base::Error ResponseError(const interactions::Response& response, std::string_view what);
int64_t VersionOf(const boost::json::object& body);
// The event time a stored version carries; 0 when it has none (written by another path).
int64_t EventTimeOf(const boost::json::object& body);

// The current version of a mapped resource: by id for a Binary, else by its identity.
base::Result<std::optional<Stored>> FindCurrent(interactions::FhirService& service,
                                                const interactions::RequestContext& ctx,
                                                const mapping::MappedResource& resource);

// What the record holds for identities found ahead (FindAhead), by IdentityKey: the current
// version, or none when the record holds none. An identity not in it is found on its own.
using FoundAhead = std::map<std::string, std::optional<Stored>>;
std::string IdentityKey(const mapping::MappedResource& r);

// Finds the identities of `wanted` (of one feed, no Binary) with one search per type and up
// to a hundred of them (`identifier=a,b,c`, through the gate as the feed, like FindCurrent's one
// search each) and notes each one's current version in `found`. Identities it cannot settle
// (two matches: FindCurrent's error; a page that may be cut short) are left out, so FindCurrent
// finds them alone as before.
base::Status FindAhead(interactions::FhirService& service, const interactions::RequestContext& ctx,
                       const std::vector<const mapping::MappedResource*>& wanted,
                       FoundAhead& found);

// Replaces every "reference" whose value is a key of `targets` (a urn:uuid of the message) with
// its target; a reference to an unresolved urn is removed (the Reference keeps its identifier
// or display) or, if that would leave the Reference empty, the element is dropped.
void Rewrite(boost::json::value& value, const std::map<std::string, std::string>& targets);

// Equal but for meta and id.
bool SameContent(const boost::json::object& a, const boost::json::object& b);

// The transaction entry that writes `p` (POST with ifNoneExist on its identity, PUT of a
// Binary by id, or PUT with ifMatch on the version read). Takes `p.body` (moved, not copied).
boost::json::object TransactionEntry(Planned& p, const std::string& local_uuid);

// The survivor a merged Patient's `replaced-by` link names; empty when it has none.
std::string ReplacedBy(const boost::json::object& patient);

// The Patient a merged Patient's data now belong to: its `replaced-by` link followed, through a
// chain of merges (A into B, then B into C: A's is C), to the one that has none.
base::Result<Stored> FinalSurvivor(interactions::FhirService& service,
                                   const interactions::RequestContext& ctx,
                                   const std::string& replaced_by);

// Moves the loser's compartment to the survivor and links the two Patients (A40). A merge that
// would leave the record on an inactive Patient or make Patients replace each other is refused
// (`refused`, nothing planned): a survivor merged away itself (into the loser: a cycle), a
// loser already merged into another Patient, one Patient as both.
base::Status PlanMerge(interactions::FhirService& service, const interactions::RequestContext& ctx,
                       const mapping::MappedMessage& message, std::vector<Planned>& planned,
                       const std::string& survivor_target, boost::json::array& extra_entries,
                       ApplyOutcome& outcome, std::optional<hl7v2::Hl7Error>& refused);

}  // namespace carerecord::feeds::internal
