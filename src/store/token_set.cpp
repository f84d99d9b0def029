#include "store/token_set.h"

#include <array>

namespace carerecord::store {
namespace {

std::array<const TokenSet*, 2> Sides(const TokenSet& one, const TokenSet& other) {
  return {&one, &other};
}

}  // namespace

bool TokenSet::Contains(std::string_view system, std::string_view code) const {
  std::pair<std::string, std::string> key(system, code);
  if (codes.count(key)) return true;
  auto whole = whole_systems.find(key.first);
  return whole != whole_systems.end() && !whole->second.count(key.second);
}

size_t TokenSet::ListedCodes() const {
  size_t n = codes.size();
  for (const auto& [system, except] : whole_systems) n += except.size();
  return n;
}

// Each operation builds the result's whole systems first, then keeps the listed codes it holds
// that those do not already cover, so a code is never both listed and covered.

void TokenSet::UnionWith(const TokenSet& other) {
  TokenSet out;
  for (const TokenSet* side : Sides(*this, other)) {
    for (const auto& [system, except] : side->whole_systems) {
      if (out.whole_systems.count(system)) continue;
      // A code of the system is missing from the union only if both sides miss it, and any
      // code this side misses is one of its exceptions.
      std::set<std::string>& missing = out.whole_systems[system];
      for (const std::string& code : except) {
        if (!Contains(system, code) && !other.Contains(system, code)) missing.insert(code);
      }
    }
  }
  for (const TokenSet* side : Sides(*this, other)) {
    for (const auto& code : side->codes) {
      if (!out.whole_systems.count(code.first)) out.codes.insert(code);
    }
  }
  *this = std::move(out);
}

void TokenSet::IntersectWith(const TokenSet& other) {
  TokenSet out;
  for (const auto& [system, except] : whole_systems) {
    auto theirs = other.whole_systems.find(system);
    if (theirs == other.whole_systems.end()) continue;
    std::set<std::string>& missing = out.whole_systems[system];
    missing.insert(except.begin(), except.end());
    missing.insert(theirs->second.begin(), theirs->second.end());
  }
  for (const TokenSet* side : Sides(*this, other)) {
    for (const auto& [system, code] : side->codes) {
      if (out.whole_systems.count(system)) continue;
      if (Contains(system, code) && other.Contains(system, code)) out.codes.emplace(system, code);
    }
  }
  *this = std::move(out);
}

void TokenSet::Subtract(const TokenSet& other) {
  TokenSet out;
  for (const auto& [system, except] : whole_systems) {
    auto theirs = other.whole_systems.find(system);
    if (theirs != other.whole_systems.end()) {
      // All of the system minus nearly all of it: what the other side leaves out, if ours.
      for (const std::string& code : theirs->second) {
        if (Contains(system, code)) out.codes.emplace(system, code);
      }
      continue;
    }
    std::set<std::string>& missing = out.whole_systems[system];
    missing = except;
    for (const auto& [their_system, code] : other.codes) {
      if (their_system == system) missing.insert(code);
    }
  }
  for (const auto& [system, code] : codes) {
    if (!other.Contains(system, code)) out.codes.emplace(system, code);
  }
  *this = std::move(out);
}

}  // namespace carerecord::store
