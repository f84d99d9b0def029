// MLLP framing: frames across any chunking, junk between frames, over-long frames skipped.
#include "hl7v2/mllp.h"

#include <gtest/gtest.h>

namespace carerecord::hl7v2 {
namespace {

std::string Frame(std::string_view message) { return *EncodeMllpFrame(message); }

std::vector<MllpEvent> FeedAll(MllpDecoder& decoder, std::string_view bytes, size_t chunk) {
  std::vector<MllpEvent> events;
  for (size_t i = 0; i < bytes.size(); i += chunk) decoder.Feed(bytes.substr(i, chunk), events);
  return events;
}

std::vector<std::string> Frames(const std::vector<MllpEvent>& events) {
  std::vector<std::string> frames;
  for (const MllpEvent& event : events) {
    if (event.kind == MllpEvent::Kind::kFrame) frames.push_back(event.payload);
  }
  return frames;
}

size_t JunkBytes(const std::vector<MllpEvent>& events) {
  size_t junk = 0;
  for (const MllpEvent& event : events) {
    if (event.kind == MllpEvent::Kind::kJunk) junk += event.bytes;
  }
  return junk;
}

TEST(Mllp, EncodesAFrame) {
  EXPECT_EQ(Frame("MSH|x\r"), "\x0BMSH|x\r\x1C\r");
  EXPECT_FALSE(EncodeMllpFrame("bad\x1C").ok());
  EXPECT_FALSE(EncodeMllpFrame("bad\x0B").ok());
}

TEST(Mllp, DecodesFramesSplitAcrossAnyChunks) {
  const std::string stream = Frame("MSH|one\rPID|1\r") + Frame("MSH|two\r") + Frame("");
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    MllpDecoder decoder;
    const std::vector<MllpEvent> events = FeedAll(decoder, stream, chunk);
    EXPECT_EQ(Frames(events), (std::vector<std::string>{"MSH|one\rPID|1\r", "MSH|two\r", ""}))
        << "chunk " << chunk;
    EXPECT_EQ(JunkBytes(events), 0u);
    EXPECT_FALSE(decoder.InFrame());
  }
}

TEST(Mllp, ReportsJunkBetweenFramesAndIgnoresNewlines) {
  MllpDecoder decoder;
  std::vector<MllpEvent> events;
  decoder.Feed("hello" + Frame("MSH|a\r") + "\r\n" + Frame("MSH|b\r") + "xyz", events);
  EXPECT_EQ(Frames(events), (std::vector<std::string>{"MSH|a\r", "MSH|b\r"}));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, MllpEvent::Kind::kJunk);
  EXPECT_EQ(events[0].bytes, 5u);
  EXPECT_EQ(events[3].kind, MllpEvent::Kind::kJunk);
  EXPECT_EQ(events[3].bytes, 3u);
}

TEST(Mllp, AFrameCutShortByANewStartIsJunk) {
  MllpDecoder decoder;
  std::vector<MllpEvent> events;
  decoder.Feed("\x0BMSH|lost" + Frame("MSH|kept\r"), events);
  EXPECT_EQ(Frames(events), (std::vector<std::string>{"MSH|kept\r"}));
  EXPECT_EQ(JunkBytes(events), 9u);  // the start block and the 8 bytes after it
}

TEST(Mllp, AcceptsAnEndBlockWithoutItsCarriageReturn) {
  MllpDecoder decoder;
  std::vector<MllpEvent> events;
  decoder.Feed("\x0BMSH|a\r\x1C\x0BMSH|b\r\x1C\r", events);
  EXPECT_EQ(Frames(events), (std::vector<std::string>{"MSH|a\r", "MSH|b\r"}));
}

// Hostile round 8 L1: a sender that sends `0x0B msg 0x1C` and waits got no ACK until another
// byte came; the frame ends at its 0x1C, and the 0x0D when it comes is nothing.
TEST(Mllp, AFrameEndsAtItsEndBlockBeforeTheCarriageReturnComes) {
  MllpDecoder decoder;
  std::vector<MllpEvent> events;
  decoder.Feed("\x0BMSH|a\r\x1C", events);
  EXPECT_EQ(Frames(events), (std::vector<std::string>{"MSH|a\r"}));
  EXPECT_FALSE(decoder.InFrame());
  events.clear();
  decoder.Feed("\r", events);
  EXPECT_TRUE(events.empty());
  // Likewise the end of an over-long frame being skipped.
  MllpDecoder small(8);
  small.Feed("\x0BMSH|0123456789\r\x1C", events);
  EXPECT_FALSE(small.InFrame());
}

TEST(Mllp, SkipsAnOverLongFrameReportingItOnce) {
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{100000}}) {
    MllpDecoder decoder(1000);
    const std::string big = "MSH|big\r" + std::string(5000, 'x');
    const std::string stream = Frame(big) + Frame("MSH|after\r");
    const std::vector<MllpEvent> events = FeedAll(decoder, stream, chunk);
    size_t oversize = 0;
    for (const MllpEvent& event : events) {
      if (event.kind != MllpEvent::Kind::kOversize) continue;
      ++oversize;
      EXPECT_EQ(event.payload.substr(0, 8), "MSH|big\r");  // the head, for an MSH to answer
      EXPECT_LE(event.payload.size(), MllpDecoder::kOversizeHeadBytes);
      EXPECT_GT(event.bytes, 1000u);
    }
    EXPECT_EQ(oversize, 1u) << "chunk " << chunk;
    EXPECT_EQ(Frames(events), (std::vector<std::string>{"MSH|after\r"})) << "chunk " << chunk;
    EXPECT_LE(decoder.buffered_bytes(), 1000u);
  }
}

TEST(Mllp, NeverBuffersMoreThanTheLimit) {
  MllpDecoder decoder(1 << 16);
  std::vector<MllpEvent> events;
  decoder.Feed("\x0B", events);
  const std::string chunk(1 << 14, 'y');
  for (int i = 0; i < 1000; ++i) {  // 16 MB of a frame that never ends
    decoder.Feed(chunk, events);
    ASSERT_LE(decoder.buffered_bytes(), size_t{1} << 16);
  }
  EXPECT_TRUE(decoder.InFrame());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, MllpEvent::Kind::kOversize);
}

TEST(Mllp, AFrameOfExactlyTheLimitPasses) {
  MllpDecoder decoder(10);
  std::vector<MllpEvent> events;
  decoder.Feed(Frame("0123456789") + Frame("0123456789A"), events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, MllpEvent::Kind::kFrame);
  EXPECT_EQ(events[1].kind, MllpEvent::Kind::kOversize);
}

}  // namespace
}  // namespace carerecord::hl7v2
