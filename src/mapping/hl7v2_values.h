// HL7 v2 data types read as FHIR R4 data types: names (XPN), addresses (XAD), telecoms (XTN),
// coded values (CE/CWE), clinicians (XCN), timestamps (TS/DTM) and NHS numbers. The message
// mappings (hl7v2_mapping.cpp and beside it) call these. Pure; safe from any thread.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "hl7v2/message.h"
#include "mapping/mapped_message.h"

namespace carerecord::mapping {

// Whether raw (escaped) text is HL7's null, `""` (spaces around it allowed): tested before
// unescaping, so an escaped `\X2222\` is the two characters, a value.
bool IsNullText(std::string_view raw);

// Reads unescaped text from one segment, keeping the first error: a mapping reads dozens of
// fields and reports the first that could not be decoded, so each read returns "" after a
// failure and the caller checks `error()` once at the end.
class FieldReader {
 public:
  FieldReader(hl7v2::SegmentView segment, std::optional<hl7v2::Hl7Error>* error)
      : segment_(segment), error_(error) {}
  std::string Text(size_t field, size_t repetition = 1, size_t component = 1,
                   size_t subcomponent = 1) const;
  // What the message says of a whole field: nothing (absent: no change on an update), "" (null:
  // delete), or a value. Text() reads "" at any level as empty, never as a value.
  FieldState State(size_t field) const;
  size_t Repetitions(size_t field) const { return segment_.RepetitionCount(field); }
  const hl7v2::SegmentView& segment() const { return segment_; }
  void Fail(hl7v2::ErrorCondition condition, size_t field, std::string reason, size_t rep = 0,
            size_t comp = 0) const;

 private:
  hl7v2::SegmentView segment_;
  std::optional<hl7v2::Hl7Error>* error_;
};

// A TS/DTM value ("YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]") as a FHIR dateTime. A time without
// a zone is read in `default_zone` when the message gave one (MSH-7's), else as UK local time
// (Europe/London, with its summer time), since these feeds are English hospitals. Seconds are
// added when missing (FHIR wants them with a time). nullopt when the text is not a timestamp.
std::optional<std::string> ToFhirDateTime(std::string_view ts,
                                          std::optional<int> default_zone_minutes);
// The same, but only when it has at least seconds' precision (a FHIR instant).
std::optional<std::string> ToFhirInstant(std::string_view ts,
                                         std::optional<int> default_zone_minutes);
// The zone of a TS value in minutes east of UTC, when it carries one.
std::optional<int> ZoneOf(std::string_view ts);
// Offset of UK local time from UTC (0 or 60) at a local civil time.
int LondonOffsetMinutes(int year, int month, int day, int hour);

// The NHS number check: ten digits whose modulus-11 check digit is right.
bool IsValidNhsNumber(std::string_view text);

// XPN at (field, rep) -> HumanName (empty object when there is no name).
boost::json::object ReadHumanName(const FieldReader& r, size_t field, size_t rep);
// XAD -> Address.
boost::json::object ReadAddress(const FieldReader& r, size_t field, size_t rep);
// XTN -> ContactPoint; `default_use` when XTN-2 says nothing ("home" for PID-13, "work" PID-14).
boost::json::object ReadContactPoint(const FieldReader& r, size_t field, size_t rep,
                                     std::string_view default_use);
// CE/CWE -> CodeableConcept (both triplets, and the original text).
boost::json::object ReadCodeableConcept(const FieldReader& r, size_t field, size_t rep = 1);
// PID-16 (CWE, HL7 table 0002) -> Patient.maritalStatus: the sender's coding as
// ReadCodeableConcept reads it (table 0002's system when CWE-3 names none and the code is one of
// the table's; no system for another code), after a v3-MaritalStatus coding where the code
// corresponds (empty object when there is no code).
boost::json::object ReadMaritalStatus(const FieldReader& r, size_t field);
// XCN -> a logical Reference to a Practitioner: identifier (XCN-1 under `system_prefix` and the
// assigning authority, XCN-9) and display ("Dr Kathleen Woolfson").
boost::json::object ReadClinicianReference(const FieldReader& r, size_t field, size_t rep,
                                           std::string_view staff_system);
// A coding system named in HL7 v2 (CWE-3: "LN", "SCT", "I10", "UCUM", "HL70078") as a FHIR
// system URI; unknown names are kept as "urn:carerecord:v2-coding-system:NAME".
std::string CodingSystemUri(std::string_view v2_name);
// A v2 unit (OBX-6) as UCUM: the code when it maps, else nullopt.
std::optional<std::string> UcumCode(std::string_view unit, std::string_view coding_system);
// Percent-encodes what a URN part may not hold (and ':' so parts stay apart).
std::string UrnPart(std::string_view text);
// A JSON number from its decimal text, kept as written ("5.10" stays 5.10); nullopt when it
// is not a number.
std::optional<boost::json::value> DecimalValue(std::string_view text);

}  // namespace carerecord::mapping
