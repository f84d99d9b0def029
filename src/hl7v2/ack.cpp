#include "hl7v2/ack.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

namespace carerecord::hl7v2 {
namespace {

// The pieces of the received MSH an ACK echoes, as raw ER7 in the received delimiters.
struct EchoedHeader {
  Delimiters delimiters;
  std::string sending_application;    // MSH-3, becomes our MSH-5
  std::string sending_facility;       // MSH-4, becomes our MSH-6
  std::string trigger_event;          // MSH-9.2
  std::string control_id;             // MSH-10, becomes MSA-2
  std::string processing_id;          // MSH-11
  std::string version;                // MSH-12
  std::string character_set;          // MSH-18, first repetition
  Charset charset = Charset::kAscii;  // what it names, for our own text
};

AckCondition ReadCondition(std::string_view value) {
  if (value == "NE") return AckCondition::kNever;
  if (value == "ER") return AckCondition::kErrorOnly;
  if (value == "SU") return AckCondition::kSuccessOnly;
  return AckCondition::kAlways;  // AL, and (in enhanced mode) empty or unknown: see AckPolicy
}

bool Wants(AckCondition condition, bool good) {
  switch (condition) {
    case AckCondition::kAlways:
      return true;
    case AckCondition::kNever:
      return false;
    case AckCondition::kErrorOnly:
      return !good;
    case AckCondition::kSuccessOnly:
      return good;
  }
  return true;
}

// Our own text, escaped for the ACK; a character the set cannot hold becomes '?', as an ACK
// must go out whatever its text says.
std::string Escape(std::string_view text, const Delimiters& delimiters, Charset charset) {
  auto escaped = EscapeText(text, delimiters, charset, ErrorLocation{});
  if (escaped.ok()) return std::move(*escaped);
  std::string ascii;
  for (char c : text) ascii += static_cast<unsigned char>(c) < 0x80 ? c : '?';
  escaped = EscapeText(ascii, delimiters, Charset::kAscii, ErrorLocation{});
  return escaped.ok() ? std::move(*escaped) : std::string();
}

std::string Number(int value) { return value > 0 ? std::to_string(value) : std::string(); }

// ERR-2 (ERL) or the first three parts of ERR-1 (ELD): segment^sequence^field[^rep^comp^sub].
std::string Location(const ErrorLocation& where, const Delimiters& d, Charset charset, bool full) {
  std::string text = Escape(where.segment_id, d, charset) + d.component +
                     Number(where.segment_sequence) + d.component + Number(where.field);
  if (full) {
    text += d.component + Number(where.repetition) + d.component + Number(where.component) +
            d.component + Number(where.subcomponent);
    while (!text.empty() && text.back() == d.component) text.pop_back();
  }
  return text;
}

std::string WriteAck(const EchoedHeader& echo, const AckDetails& details,
                     const Responder& responder) {
  const Delimiters& d = echo.delimiters;
  const Charset charset = echo.charset;
  const int version = VersionNumber(echo.version);
  const bool modern_err = version == 0 || version >= 25;
  const bool has_structure = version == 0 || version >= 24 || echo.version.rfind("2.3.1", 0) == 0;
  const std::string f(1, d.field);
  const std::string timestamp = details.timestamp.empty() ? TimestampNow() : details.timestamp;
  const std::string control_id = details.control_id.empty() ? NewControlId() : details.control_id;

  std::string message_type = "ACK";
  if (!echo.trigger_event.empty() || has_structure)
    message_type += d.component + echo.trigger_event;
  if (has_structure) message_type += d.component + std::string("ACK");

  std::string out =
      "MSH" + f + d.EncodingCharacters() + f + Escape(responder.application, d, charset) + f +
      Escape(responder.facility, d, charset) + f + echo.sending_application + f +
      echo.sending_facility + f + Escape(timestamp, d, charset) + f + f + message_type + f +
      Escape(control_id, d, charset) + f + echo.processing_id + f + echo.version;
  if (!echo.character_set.empty()) out += f + f + f + f + f + f + echo.character_set;
  out += '\r';

  out += "MSA" + f + std::string(AckCodeText(details.code)) + f + echo.control_id;
  if (!modern_err) {
    std::string text = details.text;
    if (text.empty() && !details.errors.empty()) text = details.errors.front().reason;
    if (!text.empty()) out += f + Escape(text, d, charset);
  }
  out += '\r';

  if (details.errors.empty()) return out;
  if (!modern_err) {
    out += "ERR" + f;
    for (size_t i = 0; i < details.errors.size(); ++i) {
      const Hl7Error& error = details.errors[i];
      if (i > 0) out += d.repetition;
      out += Location(error.location, d, charset, false) + d.component +
             std::to_string(static_cast<int>(error.condition)) + d.subcomponent +
             Escape(ErrorConditionText(error.condition), d, charset) + d.subcomponent + "HL70357";
    }
    out += '\r';
    return out;
  }
  for (const Hl7Error& error : details.errors) {
    out += "ERR" + f + f + Location(error.location, d, charset, true) + f +
           std::to_string(static_cast<int>(error.condition)) + d.component +
           Escape(ErrorConditionText(error.condition), d, charset) + d.component + "HL70357" + f +
           "E" + f + f + f + Escape(error.ToString(), d, charset) + '\r';
  }
  return out;
}

// Keeps printable ASCII of a salvaged raw piece, escape characters aside, so nothing from
// unparsable bytes can break the ACK's structure or leave an escape sequence we cannot read.
std::string Salvage(std::string_view raw, char escape, size_t max = 199) {
  std::string out;
  for (char c : raw.substr(0, max)) {
    if (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F &&
        c != escape) {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string_view AckCodeText(AckCode code) {
  switch (code) {
    case AckCode::kAA:
      return "AA";
    case AckCode::kAE:
      return "AE";
    case AckCode::kAR:
      return "AR";
    case AckCode::kCA:
      return "CA";
    case AckCode::kCE:
      return "CE";
    case AckCode::kCR:
      return "CR";
  }
  return "AR";
}

bool AckPolicy::WantsAcceptAck(bool accepted) const { return enhanced && Wants(accept, accepted); }

bool AckPolicy::WantsApplicationAck(bool successful) const {
  return !enhanced || Wants(application, successful);
}

AckPolicy ReadAckPolicy(const MessageHeader& header) {
  AckPolicy policy;
  if (header.accept_ack_type.empty() && header.application_ack_type.empty()) return policy;
  policy.enhanced = true;
  policy.accept = ReadCondition(header.accept_ack_type);
  policy.application = ReadCondition(header.application_ack_type);
  return policy;
}

std::string BuildAck(const Message& received, const AckDetails& details,
                     const Responder& responder) {
  const SegmentView msh = received.segment(0);
  EchoedHeader echo;
  echo.delimiters = received.delimiters();
  echo.sending_application = std::string(msh.Get(3));
  echo.sending_facility = std::string(msh.Get(4));
  echo.trigger_event = std::string(msh.Get(9, 1, 2));
  echo.control_id = std::string(msh.Get(10));
  echo.processing_id = std::string(msh.Get(11));
  echo.version = std::string(msh.Get(12));
  echo.character_set = std::string(msh.Get(18, 1));
  echo.charset = received.charset();
  return WriteAck(echo, details, responder);
}

std::string BuildRejectForUnreadable(std::string_view bytes, const Hl7Error& error,
                                     const Responder& responder, const AckDetails& details) {
  AckDetails reject = details;
  if (reject.code != AckCode::kCR) reject.code = AckCode::kAR;
  reject.errors = {error};
  EchoedHeader echo;
  echo.version = "2.5";
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
  while (!bytes.empty() && (bytes.front() == '\r' || bytes.front() == '\n')) bytes.remove_prefix(1);
  size_t encoding_length = 0;
  auto delimiters = bytes.substr(0, 3) == "MSH" ? ReadDelimiters(bytes, encoding_length)
                                                : Result<Delimiters>(error);
  if (delimiters.ok()) {
    echo.delimiters = *delimiters;
    const std::string_view line = bytes.substr(0, bytes.find_first_of("\r\n"));
    const char f = delimiters->field;
    // The split counts "MSH" as piece 1 and MSH-2 as piece 2, so MSH-n is piece n.
    const char e = delimiters->escape;
    echo.sending_application = Salvage(NthPiece(line, f, 3), e);
    echo.sending_facility = Salvage(NthPiece(line, f, 4), e);
    echo.trigger_event = Salvage(NthPiece(NthPiece(line, f, 9), delimiters->component, 2), e, 20);
    echo.control_id = Salvage(NthPiece(line, f, 10), e);
    echo.processing_id = Salvage(NthPiece(line, f, 11), e, 20);
    // Only a version that reads as one (digits and dots) is echoed.
    const std::string version = Salvage(NthPiece(line, f, 12), e, 20);
    if (VersionNumber(version) > 0 &&
        version.find_first_not_of("0123456789.") == std::string::npos) {
      echo.version = version;
    }
    // Our text goes out in ASCII-safe form: the sender's MSH-18 is not echoed from bytes we
    // could not read.
  }
  return WriteAck(echo, reject, responder);
}

std::string NewControlId() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  char text[19];
  std::snprintf(text, sizeof(text), "CR%016llx", static_cast<unsigned long long>(generator()));
  return text;
}

std::string TimestampNow() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%d%H%M%S+0000", &utc);
  return text;
}

}  // namespace carerecord::hl7v2
