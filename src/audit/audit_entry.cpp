#include "audit/audit_entry.h"

#include <openssl/evp.h>

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <ctime>
#include <iterator>
#include <stdexcept>

#include "base/utf8.h"

namespace carerecord::audit {

namespace json = boost::json;

namespace {

// Whether Boost.JSON writes `text` (valid UTF-8) as it is between quotes: it escapes only `"`,
// `\` and the control characters below 0x20 (audit_log_test checks the two agree).
bool WrittenAsIs(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == '"' || c == '\\') return false;
  }
  return true;
}

void AppendString(std::string& out, std::string_view text) {
  if (base::IsValidUtf8(text)) {
    if (WrittenAsIs(text)) {  // most fields: no string of its own to build and copy
      out.push_back('"');
      out += text;
      out.push_back('"');
      return;
    }
    out += json::serialize(json::string_view(text.data(), text.size()));
  } else {
    const std::string replaced = base::ReplaceInvalidUtf8(text);
    out += json::serialize(json::string_view(replaced));
  }
}

// Opens the object when `out` is empty; separates from the previous field unless `out` already
// ends with the separator (the part after the seq starts with it).
void AppendKey(std::string& out, std::string_view key) {
  if (out.empty()) {
    out.push_back('{');
  } else if (out.back() != ',') {
    out.push_back(',');
  }
  out.push_back('"');
  out += key;
  out += "\":";
}

void AppendStringField(std::string& out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  AppendString(out, value);
}

void AppendIntField(std::string& out, std::string_view key, int64_t value) {
  AppendKey(out, key);
  out += std::to_string(value);
}

void AppendListField(std::string& out, std::string_view key,
                     const std::vector<std::string>& values) {
  AppendKey(out, key);
  out.push_back('[');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendString(out, values[i]);
  }
  out.push_back(']');
}

}  // namespace

std::string CanonicalParts::Join(int64_t seq) const {
  std::string out;
  JoinInto(seq, out);
  return out;
}

void CanonicalParts::JoinInto(int64_t seq, std::string& out) const {
  char digits[24];
  const auto written = std::to_chars(std::begin(digits), std::end(digits), seq);
  out.clear();
  out.reserve(before_seq.size() + after_seq.size() + 20);
  out += before_seq;
  out.append(digits, written.ptr);
  out += after_seq;
}

// The keys are written in bytewise order by hand (audit_entry_test checks it): the order is
// part of the format, not something a library's map happens to produce.
CanonicalParts CanonicalPartsOf(const AuditRecord& r) {
  CanonicalParts parts;
  std::string& out = parts.before_seq;
  out.reserve(512);
  AppendStringField(out, "action", r.action);
  AppendStringField(out, "address", r.address);
  AppendStringField(out, "client", r.client);
  AppendStringField(out, "detail", r.detail);
  AppendIntField(out, "items", r.items);
  AppendStringField(out, "method", r.method);
  AppendStringField(out, "organisation", r.organisation);
  AppendStringField(out, "outcome", r.outcome);
  AppendStringField(out, "path", r.path);
  AppendListField(out, "patients", r.patients);
  AppendStringField(out, "principal", r.principal);
  AppendStringField(out, "purpose", r.purpose);
  AppendStringField(out, "reason", r.reason);
  AppendListField(out, "resources", r.resources);
  AppendStringField(out, "role", r.role);
  AppendKey(out, "seq");
  std::string& tail = parts.after_seq;
  tail.push_back(',');
  AppendIntField(tail, "status", r.status);
  AppendIntField(tail, "time_ms", r.time_ms);
  AppendStringField(tail, "user", r.user);
  AppendIntField(tail, "v", 1);
  AppendIntField(tail, "withheld", r.withheld);
  tail.push_back('}');
  return parts;
}

std::string CanonicalBytes(const AuditRecord& record, int64_t seq) {
  return CanonicalPartsOf(record).Join(seq);
}

base::Result<AuditRecord> ParseCanonical(std::string_view canonical, int64_t* seq) {
  boost::system::error_code ec;
  json::value parsed = json::parse(canonical, ec);
  if (ec || !parsed.is_object()) return base::Invalid("the entry is not a JSON object");
  const json::object& o = parsed.as_object();
  AuditRecord r;
  auto text = [&](std::string_view key) -> std::string {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto number = [&](std::string_view key) -> int64_t {
    const json::value* v = o.if_contains(key);
    return v && v->is_int64() ? v->as_int64() : 0;
  };
  auto list = [&](std::string_view key) {
    std::vector<std::string> out;
    const json::value* v = o.if_contains(key);
    if (v && v->is_array()) {
      for (const auto& item : v->as_array()) {
        if (item.is_string()) out.emplace_back(item.as_string());
      }
    }
    return out;
  };
  r.action = text("action");
  r.address = text("address");
  r.client = text("client");
  r.detail = text("detail");
  r.items = number("items");
  r.method = text("method");
  r.organisation = text("organisation");
  r.outcome = text("outcome");
  r.path = text("path");
  r.patients = list("patients");
  r.principal = text("principal");
  r.purpose = text("purpose");
  r.reason = text("reason");
  r.resources = list("resources");
  r.role = text("role");
  r.status = static_cast<int>(number("status"));
  r.time_ms = number("time_ms");
  r.user = text("user");
  r.withheld = number("withheld");
  if (seq) *seq = number("seq");
  return r;
}

ChainHasher::ChainHasher()
    : context_(EVP_MD_CTX_new()), digest_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
  if (!context_ || !digest_) throw std::runtime_error("OpenSSL has no SHA-256");
}

ChainHasher::~ChainHasher() {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_));
  EVP_MD_free(static_cast<EVP_MD*>(digest_));
}

Hash ChainHasher::Next(const Hash& previous, std::string_view canonical) {
  auto* ctx = static_cast<EVP_MD_CTX*>(context_);
  Hash out{};
  unsigned int size = 0;
  if (EVP_DigestInit_ex2(ctx, static_cast<EVP_MD*>(digest_), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, previous.data(), previous.size()) != 1 ||
      EVP_DigestUpdate(ctx, canonical.data(), canonical.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &size) != 1 || size != out.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  return out;
}

std::string HexOf(const unsigned char* bytes, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return out;
}

bool HashFromHex(std::string_view hex, Hash& out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int high = nibble(hex[2 * i]), low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return true;
}

std::string UtcTimeText(int64_t time_ms) {
  std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(time_ms % 1000));
  return text;
}

int64_t NowUtcMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace carerecord::audit
