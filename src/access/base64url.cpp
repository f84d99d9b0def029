#include "access/base64url.h"

#include <openssl/evp.h>

#include <string>

namespace carerecord::access {

namespace {

// The 6-bit value of a url-alphabet character, or -1.
int UrlAlphabetValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(written));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

base::Result<std::string> Base64UrlDecode(std::string_view text, std::string_view what) {
  if (text.size() % 4 == 1) {
    return base::Invalid(std::string(what) + " is not base64url: its length (" +
                         std::to_string(text.size()) + ") cannot be one");
  }
  if (text.size() > (1u << 26)) return base::Invalid(std::string(what) + " is too long");
  std::string standard;
  standard.reserve(text.size() + 3);
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (UrlAlphabetValue(c) < 0) {
      std::string shown = (c >= 0x21 && c < 0x7f) ? std::string("'") + c + "'"
                                                  : "a control, space or non-ASCII character";
      return base::Invalid(std::string(what) + " is not base64url: " + shown + " at offset " +
                           std::to_string(i) +
                           " (no padding, no whitespace, alphabet A-Z a-z 0-9 - _)");
    }
    standard.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  // The bits of the last character below the encoded bytes must be zero: otherwise two texts
  // would decode to the same bytes, and a token could be altered without changing its meaning.
  const size_t tail = text.size() % 4;
  if (tail != 0) {
    int last = UrlAlphabetValue(text.back());
    int unused_mask = tail == 2 ? 0x0f : 0x03;
    if ((last & unused_mask) != 0) {
      return base::Invalid(std::string(what) +
                           " is not canonical base64url: its last character has stray bits");
    }
  }
  const size_t padding = tail == 0 ? 0 : 4 - tail;
  standard.append(padding, '=');
  std::string out(standard.size() / 4 * 3, '\0');
  int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(standard.data()),
                                static_cast<int>(standard.size()));
  if (decoded < 0) return base::Invalid(std::string(what) + " is not base64url");
  out.resize(static_cast<size_t>(decoded) - padding);
  return out;
}

}  // namespace carerecord::access
