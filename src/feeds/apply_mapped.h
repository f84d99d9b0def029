// Writes a mapped HL7 v2 message (mapping::MappedMessage) into the record through the normal
// write path: one FHIR transaction per message, on FhirService, with the feed as the store's
// provenance source and MSH-10 as its message id. The MLLP listener's processor calls this after
// mapping a message from the inbox. Thread-safe (FhirService is); messages of one feed should be
// applied in order, but a race is detected and retried, never half-applied.
//
// Ordering. Each mapped resource carries the message's event time (meta.extension
// mapping::kEventTimeExtension). It lives in meta because it is about this version's origin,
// not the clinical content, is returned with every read (so deciding needs no second lookup),
// and is per resource: one message may be newer for the Encounter and older for the Patient.
// meta.lastUpdated cannot serve (it is the commit time), nor the store's received time (a
// backlog is received late). For each resource, found by its identity (always this source's:
// the identity system carries the organisation's ODS code):
//   - absent: created (conditional on the identity, so a concurrent create is not doubled);
//   - the record holds a newer event time: left alone (a months-old backlog, a replayed
//     discharge, the original after its correction, an A01 after its A08);
//   - the same content, not older: left alone (a resend changes nothing, no new version);
//   - otherwise replaced, If-Match on the version read, so history keeps every version.
// A40 marks the losing Patient inactive with link replaced-by, links the survivor with replaces,
// and moves every resource of the loser's compartment to the survivor (new versions; the old
// ones stay in history).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "hl7v2/error.h"
#include "hl7v2/message.h"
#include "interactions/fhir_service.h"
#include "mapping/mapped_message.h"

namespace carerecord::feeds {

struct ApplyOutcome {
  std::vector<std::string> written;    // "Patient/id": created or replaced by this message
  std::vector<std::string> unchanged;  // already as the message says (a resend)
  std::vector<std::string> older;      // the record holds a newer state from this source
  std::vector<std::string> notes;      // what could not be applied and why (nothing to cancel)
};

// The request context a feed writes with: its own principal and organisation, the feed as the
// provenance source, MSH-10 as the message id and the inbox's received time.
interactions::RequestContext FeedRequestContext(const mapping::FeedContext& feed);

// Applies `message`. An error is the store's (kUnavailable: try again later), a conflict in
// the record this message cannot resolve (two resources holding one identity), or an A40 the
// record refuses (kUnprocessable, its reason naming PID-3 or MRG-1; MapAndApply gives its ERR):
// a survivor merged away itself (into the loser: the two would replace each other), a loser
// already merged into another patient, or one patient as both. Nothing of such a message is
// written. A merge applied before is not refused when its survivor has been merged on since (A
// into B, then B into C: A into B again changes nothing), and messages about a merged patient
// go to the end of its chain of merges (C).
base::Result<ApplyOutcome> ApplyMappedMessage(interactions::FhirService& service,
                                              const mapping::MappedMessage& message,
                                              const mapping::FeedContext& feed);

// Applies several messages at once: each planned on the record as it stands, then the writes
// of all of a feed's messages in one transaction (fewer, larger commits), every version keeping
// its own message's provenance (meta.source, and the store's columns through
// RequestContext::entry_provenance). The messages must not share an identity (they are planned
// on the same state: MappingProcessor's chains). When the combined transaction fails, nothing of
// it was written and each message is applied alone, so a failure is its message's alone; a
// merge (A40) is always applied alone. Results in the order given.
struct MessageToApply {
  const mapping::MappedMessage* message = nullptr;
  const mapping::FeedContext* feed = nullptr;
};
std::vector<base::Result<ApplyOutcome>> ApplyMappedMessages(
    interactions::FhirService& service, const std::vector<MessageToApply>& messages);

// One inbox message mapped and applied: what the listener's processor needs to answer (AA, or AE
// with ERR) and to keep a message in the error queue.
struct ProcessedMessage {
  // The mapping's reason, or the record's for a merge it refuses (error queue; ACK AE with ERR).
  std::optional<hl7v2::Hl7Error> refused;
  std::optional<base::Error> failed;  // the record's (kUnavailable: try again later)
  ApplyOutcome outcome;
  std::vector<std::string> warnings;  // the mapping's: what was left out and why
};
ProcessedMessage MapAndApply(interactions::FhirService& service, const hl7v2::Message& message,
                             const mapping::FeedContext& feed);

}  // namespace carerecord::feeds
