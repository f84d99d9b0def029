// HL7 v2 to FHIR R4 (UK Core where it applies): ADT (A01-A08, A11-A13, A28, A31, A40), ORU^R01
// and MDM (T02, T04, T06, T08, T10, T11) messages into the resources they state, each with its
// source-scoped identity and its provenance. Pure: no store; the MLLP listener's processor and
// feeds::ApplyMappedMessage call it. Safe from any thread.
#pragma once

#include "hl7v2/message.h"
#include "mapping/mapped_message.h"

namespace carerecord::mapping {

// What `message` means as FHIR, or an error naming the segment, field and reason (for the error
// queue and the ACK's ERR): an unsupported message type or event (200/201), a required field
// missing (101: PID-3, OBR-4, TXA-12...), a value that is not of its type (102).
//
// Provenance on every resource: meta.source is "urn:carerecord:feed:<feed>#<MSH-10>", meta.tag
// holds the organisation's ODS code (system kOdsSystem), and meta.extension kEventTimeExtension
// the message's event time (see feeds/apply_mapped.h for why each lives there).
hl7v2::Result<MappedMessage> MapMessage(const hl7v2::Message& message, const FeedContext& feed);

// The identity system of a kind of item from this organisation: kIdentitySystemPrefix, the ODS
// code, the kind, and the sender's assigning authority when there is one
// ("urn:carerecord:source:RX1:mrn:RX1PAS"). Scoping by organisation is what keeps one source's
// resend or update from ever touching another source's resource.
std::string IdentitySystem(std::string_view ods, std::string_view kind, std::string_view authority);

}  // namespace carerecord::mapping
