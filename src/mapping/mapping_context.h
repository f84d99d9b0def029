// Internal to src/mapping/: the state one MapMessage call shares between the message kinds'
// mappings (ADT, ORU, MDM), and the Patient mapping they all start from. One thread, one message.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "hl7v2/message.h"
#include "mapping/hl7v2_values.h"
#include "mapping/mapped_message.h"

namespace carerecord::mapping::internal {

struct PatientMapping {
  std::string reference;  // "urn:uuid:..." of the mapped Patient
  std::string system;     // its identity
  std::string value;
  std::string authority;  // the assigning authority of that identifier (scopes related items)
};

class MappingContext {
 public:
  MappingContext(const hl7v2::Message& message, const FeedContext& feed);

  const hl7v2::Message& message() const { return message_; }
  const FeedContext& feed() const { return feed_; }
  FieldReader Reader(hl7v2::SegmentView segment) { return FieldReader(segment, &error_); }
  std::optional<hl7v2::Hl7Error>& error() { return error_; }
  MappedMessage& out() { return out_; }

  std::string System(std::string_view kind, std::string_view authority) const;
  // A TS value as a FHIR dateTime / instant, zoneless times read in MSH-7's zone.
  std::optional<std::string> DateTime(std::string_view ts) const;
  std::optional<std::string> Instant(std::string_view ts) const;
  // A TS field of `r` (SEG-`field`, first repetition and component) as a FHIR dateTime, or an
  // instant when `instant`; nullopt when empty. A value present but not a timestamp (month 13,
  // "yesterday") fails the message (102, naming the segment and field): a time the sender stated
  // is never silently dropped. An instant field whose valid time stops short of seconds (R4
  // instants need them) is left out with a warning: the sender said less, not something wrong.
  std::optional<std::string> TimeField(const FieldReader& r, size_t field, std::string_view what,
                                       bool instant = false);
  // Adds a resource and returns the "urn:uuid:..." that references it within the message.
  std::string Add(MappedResource resource);
  // A logical reference to the sending organisation (by ODS code).
  boost::json::object OrganisationReference() const;
  // The system staff identifiers (XCN-1) are kept under.
  std::string StaffSystem() const { return System("staff", ""); }

  // Maps the PID (and PD1) of the message into a Patient. ADT messages are the authority for
  // demographics (kUpsert); a lab or document feed's PID only makes sure the patient exists.
  std::optional<PatientMapping> MapPatient(hl7v2::SegmentView pid, WriteMode mode);

  // Reference to the visit of PV1-19 by identifier, for results and documents (the ADT feed
  // owns the Encounter itself); empty when PV1 names none.
  boost::json::object VisitReference();

  void Fail(hl7v2::ErrorCondition condition, hl7v2::ErrorLocation where, std::string reason);
  void Warn(std::string warning) { out_.warnings.push_back(std::move(warning)); }

 private:
  const hl7v2::Message& message_;
  const FeedContext& feed_;
  std::optional<int> zone_;
  std::optional<hl7v2::Hl7Error> error_;
  MappedMessage out_;
};

// The message kinds, each filling the context from the message's segments.
void MapAdt(MappingContext& ctx);
void MapObservationResult(MappingContext& ctx);
void MapDocument(MappingContext& ctx);

// Small JSON helpers shared by the mappings.
inline void PutIfAny(boost::json::object& o, std::string_view key, boost::json::object value) {
  if (!value.empty()) o[key] = std::move(value);
}
inline void PutIfAny(boost::json::object& o, std::string_view key, std::string value) {
  if (!value.empty()) o[key] = std::move(value);
}
// Sets `key` of an update's patch (WriteMode::kUpdateStated) as a field states it: `value` when
// the field has one that maps to something (one that maps to nothing states nothing), null when
// the sender sent "" (delete), nothing when the field is absent (no change).
void PutStated(boost::json::object& patch, std::string_view key, FieldState state,
               boost::json::value value);
// Adds a part of the array `member` that one field states (ArrayPart): its items are appended to
// the patch's `member`; a field whose value maps to no item states nothing.
void PutPart(MappedResource& resource, std::string_view member, std::string_view key,
             std::vector<std::string> values, FieldState state, boost::json::array items,
             bool prefix = false);
// The telecoms of an XTN field: a home field's (PID-13, NK1-5) are home or mobile, a business
// field's (PID-14, NK1-6) work, whatever XTN-2/3 say, so the field an item came from can be told
// again from its `use` when a later message states one field and not the other; an item of
// another use (temp, old, none) is no field's and no message changes it.
boost::json::array ReadTelecoms(const FieldReader& r, size_t field, bool business);
// The `use`s ReadTelecoms gives a home field's items and a business field's: their parts' values.
inline std::vector<std::string> HomeUses() { return {"home", "mobile"}; }
inline std::vector<std::string> BusinessUses() { return {"work"}; }

boost::json::object Coding(std::string_view system, std::string_view code,
                           std::string_view display = {});
boost::json::object Concept(std::string_view system, std::string_view code,
                            std::string_view display = {});

}  // namespace carerecord::mapping::internal
