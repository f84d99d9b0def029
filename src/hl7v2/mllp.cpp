#include "hl7v2/mllp.h"

#include <algorithm>
#include <cstring>

namespace carerecord::hl7v2 {
namespace {

// The first occurrence of either byte in [begin, end), or end.
const char* FindEither(const char* begin, const char* end, char a, char b) {
  const auto* first_a = static_cast<const char*>(std::memchr(begin, a, end - begin));
  const char* limit = first_a != nullptr ? first_a : end;
  const auto* first_b = static_cast<const char*>(std::memchr(begin, b, limit - begin));
  return first_b != nullptr ? first_b : limit;
}

}  // namespace

MllpDecoder::MllpDecoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void MllpDecoder::FlushJunk(std::vector<MllpEvent>& events) {
  if (junk_ == 0) return;
  events.push_back(MllpEvent{MllpEvent::Kind::kJunk, {}, junk_});
  junk_ = 0;
}

void MllpDecoder::EndFrame(std::vector<MllpEvent>& events) {
  MllpEvent event{MllpEvent::Kind::kFrame, std::move(frame_), 0};
  event.bytes = event.payload.size();
  events.push_back(std::move(event));
  frame_ = std::string();
  state_ = State::kOutside;
}

void MllpDecoder::Feed(std::string_view chunk, std::vector<MllpEvent>& events) {
  const char* p = chunk.data();
  const char* const end = p + chunk.size();
  while (p < end) {
    switch (state_) {
      case State::kOutside: {
        const auto* start = static_cast<const char*>(std::memchr(p, kMllpStart, end - p));
        const char* stop = start != nullptr ? start : end;
        for (; p < stop; ++p) {
          if (*p != '\r' && *p != '\n') ++junk_;
        }
        if (start != nullptr) {
          FlushJunk(events);
          state_ = State::kInFrame;
          frame_.clear();
          p = start + 1;
        }
        break;
      }
      case State::kInFrame: {
        const char* stop = FindEither(p, end, kMllpEnd, kMllpStart);
        const size_t length = static_cast<size_t>(stop - p);
        if (frame_.size() + length > max_frame_bytes_) {
          const size_t keep =
              std::min(length, kOversizeHeadBytes - std::min(frame_.size(), kOversizeHeadBytes));
          frame_.append(p, keep);
          skipped_ = frame_.size() - keep + length;
          frame_.resize(std::min(frame_.size(), kOversizeHeadBytes));
          events.push_back(MllpEvent{MllpEvent::Kind::kOversize, std::move(frame_), skipped_});
          frame_ = std::string();
          state_ = State::kSkipping;
          p = stop;
          break;
        }
        frame_.append(p, length);
        p = stop;
        if (p == end) break;
        if (*p == kMllpEnd) {
          // The frame ends here, not at the 0x0D after it: a sender that waits for its ACK
          // before sending anything more is answered (the 0x0D is ignored between frames).
          EndFrame(events);
        } else {  // a new start block: the frame so far never ended
          junk_ += frame_.size() + 1;
          FlushJunk(events);
          frame_.clear();
        }
        ++p;
        break;
      }
      case State::kSkipping: {
        const char* stop = FindEither(p, end, kMllpEnd, kMllpStart);
        skipped_ += static_cast<size_t>(stop - p);
        p = stop;
        if (p == end) break;
        if (*p == kMllpEnd) {
          state_ = State::kOutside;
          skipped_ = 0;
        } else {
          state_ = State::kInFrame;  // a new frame starts; the long one never ended
          frame_.clear();
        }
        ++p;
        break;
      }
    }
  }
  FlushJunk(events);
}

base::Result<std::string> EncodeMllpFrame(std::string_view message) {
  const size_t framing = message.find_first_of(std::string_view("\x0B\x1C", 2));
  if (framing != std::string_view::npos) {
    return base::Invalid("the message holds an MLLP framing byte (0x0B or 0x1C) at offset " +
                             std::to_string(framing),
                         "MLLP");
  }
  std::string frame;
  frame.reserve(message.size() + 3);
  frame += kMllpStart;
  frame.append(message);
  frame += kMllpEnd;
  frame += kMllpCarriageReturn;
  return frame;
}

}  // namespace carerecord::hl7v2
