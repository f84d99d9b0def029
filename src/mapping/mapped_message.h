// What one HL7 v2 message means as FHIR R4: the resources it states, each with the identity it is
// found by (a business identifier scoped to the sending organisation), the message's event time,
// and a merge when the sender asks for one. Made by MapMessage (hl7v2_mapping.h) and written into
// the record by feeds::ApplyMappedMessage. Plain values; safe to copy between threads.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fhir/server_owned.h"
#include "hl7v2/error.h"

namespace carerecord::mapping {

// The feed a message arrived on, as the listener knows it.
struct FeedContext {
  std::string feed;              // the feed's name ("rx1-pas")
  std::string organisation_ods;  // the ODS code of the organisation the feed speaks for ("RX1")
  std::string sending_facility;  // MSH-4 as configured for the feed
  int64_t received_ms = 0;       // when the raw message was committed to the inbox
  std::string message_id;        // MSH-10
};

// ODS codes name organisations in UK Core (Organization.identifier, references, meta.tag).
inline constexpr char kOdsSystem[] = "https://fhir.nhs.uk/Id/ods-organization-code";
inline constexpr char kNhsNumberSystem[] = "https://fhir.nhs.uk/Id/nhs-number";
// Every identity system starts with this, then the organisation's ODS code and a kind:
// "urn:carerecord:source:RX1:mrn:GOOD%20HEALTH" (see IdentitySystem).
// Only the server's own work writes these (fhir/server_owned.h).
inline constexpr const char (&kIdentitySystemPrefix)[sizeof(fhir::kSourceIdentifierPrefix)] =
    fhir::kSourceIdentifierPrefix;
// The message's event time, in meta.extension of every mapped resource (see apply_mapped.h).
using fhir::kEventTimeExtension;

// How a mapped resource is written.
enum class WriteMode {
  kUpsert,          // the message states this resource whole: create, or replace an older state
  kUpdateStated,    // the message states part of it (HL7 v2's null rules): see MergeStated
  kCreateIfAbsent,  // the message needs it to exist but is not its authority (a lab's PID)
  kPatchExisting,   // set `resource`'s top-level members on the stored one; nothing if absent
};

// What a message says of one field, in HL7 v2's terms for a message that updates (chapter 2,
// "null values in fields"): not sent means no change, "" means delete the value held.
enum class FieldState { kAbsent, kNull, kValue };

// A part of an array member that one field states on its own (Patient.telecom: PID-13's numbers
// and PID-14's). Its items, stored or mapped, are those whose string at `key` (a JSON pointer
// into the item, "/use") is one of `values`, the ones its field can produce, or with `prefix`
// begins with one (PID-3: the identifiers under this organisation's source systems). On an
// update a stated part's items
// replace the stored ones it owns, a nulled part's are deleted, an absent part's are kept; stored
// items no part owns (a `temp` phone a clinician added) are kept whatever the message says.
struct ArrayPart {
  std::string member;               // "telecom"
  std::string key;                  // "/use"
  std::vector<std::string> values;  // {"home", "mobile"}
  FieldState state = FieldState::kAbsent;
  bool prefix = false;  // `values` begin the string at `key`, rather than are it
};

// A member an update implies without stating it: set only when the resource holds none of
// `unless` once the update is merged (an A08 that states no admit or discharge time leaves the
// stored status; a new Encounter still needs one), and, when `held` names members, only when the
// stored version held one of them (PID-29 "" deletes a date of death, not the death the date
// implied: deceasedBoolean true where a deceasedDateTime was). A `create_only` one is what a new
// resource starts with (a new Condition is provisional): on an update a member the result lacks
// was deleted (by "" or by a user), and a field not sent changes nothing, so it stays deleted.
// (For a required member, Encounter.status or class, the two are the same: a stored one holds it.)
struct Fallback {
  std::string member;
  boost::json::value value;
  std::vector<std::string> unless;
  std::vector<std::string> held = {};
  bool create_only = false;
};

struct MappedResource {
  std::string type;  // "Patient"
  // The identity: the one identifier (system|value) this resource is found by. A Binary has no
  // identifier element, so it has `fixed_id` instead (derived from its document's identity).
  std::string identity_system;
  std::string identity_value;
  std::string fixed_id;
  WriteMode mode = WriteMode::kUpsert;
  // The resource without id; references to other resources of the message are
  // "urn:uuid:" + their `local_uuid`. For kUpdateStated, what the message states of it as a merge
  // patch (RFC 7386): a member present is stated, null is deleted (the field held ""), absent is
  // left as stored; objects in `merged` are merged member by member, arrays in `parts` part by
  // part, and `fallbacks` fill what the result still lacks. MergeStated applies it.
  boost::json::object resource;
  std::string local_uuid;
  std::vector<std::string> merged;  // "period": start (PV1-44) and end (PV1-45) stated apart
  std::vector<ArrayPart> parts;
  std::vector<Fallback> fallbacks;
};

// `mapped` as written over `stored` (nullptr: a create): kUpdateStated merges its patch as the
// null rules say; any other mode is `resource` whole, without null members.
boost::json::object MergeStated(const boost::json::object* stored, const MappedResource& mapped);

// A40: the source says `loser` (MRG-1) is the same person as `survivor` (PID-3).
struct PatientMerge {
  std::string survivor_system, survivor_value;
  std::string loser_system, loser_value;
  // Where each is in the message (PID-3, MRG-1): the ERR of a merge the record refuses.
  hl7v2::ErrorLocation survivor_at, loser_at;
};

struct MappedMessage {
  std::string message_type;  // "ADT^A01"
  std::string event_time;    // FHIR dateTime of the event (EVN-2, OBR-22, TXA-4 or MSH-7)
  int64_t event_ms = 0;      // the same as UTC milliseconds: what ordering compares
  std::vector<MappedResource> resources;
  std::optional<PatientMerge> merge;
  // What was left out, for the operator (an invalid NHS number, an OBX outside any OBR).
  std::vector<std::string> warnings;
};

}  // namespace carerecord::mapping
