// DemoRandom: the demo generator's seeded random stream, the same on every standard library, so
// a seed gives the same region everywhere. One per writer; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>

namespace carerecord::app::demo {

// Mixes a seed (or a seed and a number) into another, so related seeds give unrelated streams.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class DemoRandom {
 public:
  explicit DemoRandom(uint64_t seed) : engine_(seed) {}

  // Uniform over [low, high]. Rejection sampling rather than std::uniform_int_distribution,
  // whose algorithm each standard library chooses for itself.
  int64_t Between(int64_t low, int64_t high) {
    const uint64_t span = static_cast<uint64_t>(high - low) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t x = engine_();
    while (x >= limit) x = engine_();
    return low + static_cast<int64_t>(x % span);
  }
  bool Percent(int64_t percent) { return Between(0, 99) < percent; }
  bool PerMille(int64_t per_mille) { return Between(0, 999) < per_mille; }
  template <typename Container>
  const auto& Pick(const Container& items) {
    return items[static_cast<size_t>(Between(0, static_cast<int64_t>(std::size(items)) - 1))];
  }

  // A version 4 UUID in canonical form.
  std::string Uuid() {
    const uint64_t hi = (engine_() & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
    const uint64_t lo = (engine_() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 32; ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
      const uint64_t word = i < 16 ? hi : lo;
      out += kHex[(word >> (60 - 4 * (i % 16))) & 0xf];
    }
    return out;
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace carerecord::app::demo
