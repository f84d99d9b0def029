// The URNs carerecord's own work mints and a client's write may not claim (PrepareWrite in
// interactions/write_preparation.cpp): the identifier systems under which the hospital feeds find
// their sources' resources, the meta extension that orders a source's messages, and the
// meta.source of a feed's message. Written by the mapping (mapping/hl7v2_mapping.h).
#pragma once

namespace carerecord::fhir {

// "urn:carerecord:source:RX1:mrn:GOOD%20HEALTH": an organisation's kind of identifier, as a feed
// of that organisation states it.
inline constexpr char kSourceIdentifierPrefix[] = "urn:carerecord:source:";
// meta.extension: the time of the source event a version states (what orders a feed's messages).
inline constexpr char kEventTimeExtension[] = "urn:carerecord:extension:source-event-time";
// meta.source of a version a feed wrote: "urn:carerecord:feed:<feed>#<MSH-10>".
inline constexpr char kFeedSourcePrefix[] = "urn:carerecord:feed:";
// The id of a Binary that holds a feed's document content: "doc-" and 40 hex digits of the
// SHA-256 of its document's identity (a Binary has no identifier to be found by).
inline constexpr char kFeedBinaryIdPrefix[] = "doc-";

}  // namespace carerecord::fhir
