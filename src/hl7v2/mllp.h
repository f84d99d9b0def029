// MLLP framing (HL7's Minimal Lower Layer Protocol): a frame is 0x0B, the message, 0x1C 0x0D.
// MllpDecoder is fed the bytes of a connection in whatever chunks they arrive and yields whole
// frames, reports bytes outside frames (junk) and frames over the size limit, which it skips to
// their end without buffering them. One decoder per connection; not safe for concurrent use.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace carerecord::hl7v2 {

inline constexpr char kMllpStart = '\x0B';
inline constexpr char kMllpEnd = '\x1C';
inline constexpr char kMllpCarriageReturn = '\x0D';

struct MllpEvent {
  enum class Kind {
    kFrame,     // payload: one message, framing removed
    kJunk,      // `bytes` bytes outside any frame were dropped (or a frame cut short by a new
                // start block), reported once per Feed or per run
    kOversize,  // a frame passed the limit: payload holds its first bytes (for an MSH to
                // answer), the rest of the frame is being skipped; reported once per frame
  };
  Kind kind = Kind::kFrame;
  std::string payload;
  size_t bytes = 0;  // the payload's size for a frame; how many bytes for junk/oversize so far
};

class MllpDecoder {
 public:
  // How much of an oversize frame's start is kept in its event.
  static constexpr size_t kOversizeHeadBytes = 4096;

  explicit MllpDecoder(size_t max_frame_bytes = size_t{64} << 20);

  // Consumes a chunk and appends what it completed to `events`. Carriage returns and line
  // feeds between frames are ignored (some senders end a frame with a newline), not junk.
  // A frame ends at its 0x1C, whether or not the 0x0D has come yet (a sender that sends
  // `0x0B msg 0x1C` and waits is answered); the byte after it is read as outside a frame.
  void Feed(std::string_view chunk, std::vector<MllpEvent>& events);

  // True while inside a frame (the connection closing now would cut a message short).
  bool InFrame() const { return state_ != State::kOutside; }
  size_t buffered_bytes() const { return frame_.size(); }

 private:
  enum class State { kOutside, kInFrame, kSkipping };
  void EndFrame(std::vector<MllpEvent>& events);
  void FlushJunk(std::vector<MllpEvent>& events);

  size_t max_frame_bytes_;
  State state_ = State::kOutside;
  std::string frame_;
  size_t junk_ = 0;
  size_t skipped_ = 0;
};

// 0x0B + message + 0x1C 0x0D; an error when the message holds a framing byte (0x0B or 0x1C),
// which would end or restart the frame early at the receiver.
base::Result<std::string> EncodeMllpFrame(std::string_view message);

}  // namespace carerecord::hl7v2
