// libFuzzer target over src/hl7v2: the input is read as one message (default and tiny limits),
// every field is unescaped, the values are written and parsed again (they must come back the
// same), an ACK is built and must parse with MSA-2 = MSH-10 (or, for input the parser refused,
// the reject must parse), the input is split as a batch, and fed to an MLLP decoder in chunks
// (a frame never over the limit, a re-encoded frame decoding to itself). Built by
// scripts/fuzz.sh.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "hl7v2/ack.h"
#include "hl7v2/batch.h"
#include "hl7v2/message.h"
#include "hl7v2/mllp.h"
#include "hl7v2/writer.h"

namespace {

using namespace carerecord::hl7v2;

void Check(bool condition) {
  if (!condition) std::abort();
}

void UnescapeEverything(const Message& message) {
  for (const SegmentView segment : message) {
    for (size_t field = 1; field <= segment.field_count(); ++field) {
      const size_t repetitions = segment.RepetitionCount(field);
      for (size_t repetition = 1; repetition <= repetitions; ++repetition) {
        (void)segment.Text(field, repetition, 0, 0);
        (void)segment.Text(field, repetition, 1, 1);
      }
    }
  }
}

void RoundTrip(const Message& message) {
  auto values = ReadValues(message);
  if (!values.ok()) return;  // text the declared character set cannot hold, a \C escape
  auto written = WriteMessage(*values, message.delimiters());
  Check(written.ok());
  auto reparsed = ParseMessage(*written);
  Check(reparsed.ok());
  auto again = ReadValues(*reparsed);
  Check(again.ok() && *again == *values);
}

void Acknowledge(const Message& message) {
  AckDetails details;
  details.code = AckCode::kAE;
  details.errors.push_back(MakeHl7Error(ErrorCondition::kDataTypeError,
                                        ErrorLocation{"PID", 2, 3, 1, 1, 1}, "bad | ^ ~ \\ &"));
  const std::string ack = BuildAck(message, details, Responder{"carerecord", "R|D^Z"});
  auto parsed = ParseMessage(ack);
  Check(parsed.ok());
  Check(parsed->Get("MSA", 2) == message.Get("MSH", 10));
  Check(parsed->Get("MSA", 1) == "AE");
  Check(parsed->charset() == message.charset());
  (void)ReadAckPolicy(message.header());
}

void Reject(std::string_view bytes, const Hl7Error& error) {
  const std::string reject = BuildRejectForUnreadable(bytes, error, Responder{});
  ParseOptions any_version;
  any_version.check_version = false;
  auto parsed = ParseMessage(reject, any_version);
  Check(parsed.ok());
  Check(parsed->Get("MSA", 1) == "AR");
}

void Frame(std::string_view bytes) {
  const size_t max_frame = 256;
  MllpDecoder decoder(max_frame);
  std::vector<MllpEvent> events;
  const size_t chunk = bytes.empty() ? 1 : 1 + static_cast<unsigned char>(bytes[0]) % 17;
  for (size_t i = 0; i < bytes.size(); i += chunk) {
    decoder.Feed(bytes.substr(i, chunk), events);
    Check(decoder.buffered_bytes() <= max_frame);
  }
  for (const MllpEvent& event : events) {
    if (event.kind != MllpEvent::Kind::kFrame) continue;
    Check(event.payload.size() <= max_frame);
    auto encoded = EncodeMllpFrame(event.payload);
    Check(encoded.ok());
    MllpDecoder again(max_frame);
    std::vector<MllpEvent> decoded;
    again.Feed(*encoded, decoded);
    Check(decoded.size() == 1 && decoded[0].payload == event.payload);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto message = ParseMessage(bytes);
  if (message.ok()) {
    UnescapeEverything(*message);
    RoundTrip(*message);
    Acknowledge(*message);
  } else {
    Reject(bytes, message.error());
  }
  ParseOptions tiny;
  tiny.limits = ParseLimits{512, 64, 8, 3};
  (void)ParseMessage(bytes, tiny);
  auto batch = SplitBatch(bytes, 64);
  if (batch.ok()) {
    for (std::string_view part : batch->messages) (void)ParseMessage(part, tiny);
  }
  Frame(bytes);
  return 0;
}
