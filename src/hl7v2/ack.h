// Acknowledgements for received HL7 v2 messages: the original-mode ACK (MSA AA/AE/AR), the
// enhanced-mode accept ACK (CA/CE/CR) and what MSH-15/16 ask for, ERR segments from Hl7Errors in
// the style of the message's version, and a reject for bytes too broken to parse. The MLLP
// listener calls these. Pure functions (NewControlId and TimestampNow read the clock and a
// random source); safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hl7v2/error.h"
#include "hl7v2/message.h"

namespace carerecord::hl7v2 {

// Who we are in MSH-3 and MSH-4 of our ACKs.
struct Responder {
  std::string application = "carerecord";
  std::string facility;
};

// MSA-1: AA/AE/AR answer for the application (original mode, or enhanced application ACK);
// CA/CE/CR say the message is (or is not) safely received (enhanced accept ACK).
enum class AckCode { kAA, kAE, kAR, kCA, kCE, kCR };
std::string_view AckCodeText(AckCode code);

// HL7 table 0155, the values of MSH-15 and MSH-16.
enum class AckCondition { kAlways, kNever, kErrorOnly, kSuccessOnly };

// Which acknowledgements the sender asked for. Both MSH-15 and MSH-16 empty is original mode:
// one application ACK, always. Otherwise enhanced mode, each field read by table 0155; a field
// left empty (or holding a value table 0155 lacks) in enhanced mode is read as AL, so a sender
// that half-asks still hears back rather than resending into silence.
struct AckPolicy {
  bool enhanced = false;
  AckCondition accept = AckCondition::kNever;
  AckCondition application = AckCondition::kAlways;

  // Whether to send an accept ACK (CA when accepted, else CE/CR) for this outcome.
  bool WantsAcceptAck(bool accepted) const;
  // Whether to send an application ACK (AA when successful, else AE/AR) for this outcome.
  bool WantsApplicationAck(bool successful) const;
};
AckPolicy ReadAckPolicy(const MessageHeader& header);

struct AckDetails {
  AckCode code = AckCode::kAA;
  // Each becomes an ERR segment (v2.5 and later: ERR-2 location, ERR-3 code, ERR-4 severity E,
  // ERR-7 the reason) or an ERR-1 repetition (before 2.5: segment^sequence^field^code&text).
  std::vector<Hl7Error> errors;
  // MSA-3 text, sent for versions before 2.5 (where MSA-3 still exists); when empty the first
  // error's reason is used.
  std::string text;
  std::string control_id;  // MSH-10 of the ACK; NewControlId() when empty
  std::string timestamp;   // MSH-7; TimestampNow() when empty
};

// The ACK for a parsed message, in its delimiters (segments ended by \r): MSH-3/4 ours, MSH-5/6
// its MSH-3/4, MSH-9 ACK^<its trigger>^ACK (ACK^<trigger> before v2.3.1), MSH-11/12/18 echoed,
// MSA-2 its MSH-10.
std::string BuildAck(const Message& received, const AckDetails& details,
                     const Responder& responder);

// An AR for bytes ParseMessage refused, carrying `error` in ERR. What can still be read of an
// MSH at the start (delimiters, MSH-3/4/9/10/11/12, printable ASCII only) is echoed as BuildAck
// would; otherwise the ACK uses the default delimiters and version 2.5 and MSA-2 is empty.
std::string BuildRejectForUnreadable(std::string_view bytes, const Hl7Error& error,
                                     const Responder& responder, const AckDetails& details = {});

// A fresh MSH-10: "CR" and 16 random hex digits (18 characters, within ST's 20 of v2.5).
std::string NewControlId();
// Now in UTC as an HL7 DTM: YYYYMMDDHHMMSS+0000.
std::string TimestampNow();

}  // namespace carerecord::hl7v2
