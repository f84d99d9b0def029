#include "fhir/search_text.h"

namespace carerecord::fhir {
namespace {

// Base letters of U+00C0..U+00FF (Latin-1 Supplement), lower-cased; 0 where there is none.
constexpr const char* kLatin1Fold =
    "aaaaaaaceeeeiiii"    // C0..CF
    "dnooooo\0ouuuuyts"   // D0..DF (D7 multiplication sign, DE thorn, DF sharp s)
    "aaaaaaaceeeeiiii"    // E0..EF
    "dnooooo\0ouuuuyty";  // F0..FF

}  // namespace

std::string NormalizeForSearch(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
      continue;
    }
    // Two-byte sequences C3 80..C3 BF encode U+00C0..U+00FF.
    if (c == 0xC3 && i + 1 < text.size()) {
      unsigned char next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0xBF) {
        char base = kLatin1Fold[next - 0x80];
        if (base != '\0') {
          out.push_back(base);
          ++i;
          continue;
        }
      }
    }
    out.push_back(static_cast<char>(c));
  }
  return out;
}

std::string_view IndexedPrefix(std::string_view text) {
  if (text.size() <= kMaxIndexedTextBytes) return text;
  size_t end = kMaxIndexedTextBytes;
  // Back over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace carerecord::fhir
