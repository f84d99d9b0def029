// The time token checks are made against: seconds since the Unix epoch. The token code takes a
// WallClock so tests can set the time; the server uses SystemWallClock. Both are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace carerecord::access {

class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual int64_t NowSeconds() const = 0;
};

class SystemWallClock final : public WallClock {
 public:
  int64_t NowSeconds() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that only moves when told to (tests and benchmarks).
class ManualWallClock final : public WallClock {
 public:
  explicit ManualWallClock(int64_t now) : now_(now) {}
  int64_t NowSeconds() const override { return now_.load(std::memory_order_relaxed); }
  void Set(int64_t now) { now_.store(now, std::memory_order_relaxed); }
  void Advance(int64_t seconds) { now_.fetch_add(seconds, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace carerecord::access
