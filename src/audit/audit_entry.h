// One entry of the audit log (AuditRecord), its canonical bytes and the hash chain over them.
// The canonical encoding is what is hashed, stored and exported: an outside verifier hashes the
// stored bytes and may parse them with any JSON parser. Pure functions; safe from any thread.
//
// Canonical encoding (format "v":1): one JSON object, no whitespace, its keys in bytewise order
// (action, address, client, detail, items, method, organisation, outcome, path, patients,
// principal, purpose, reason, resources, role, seq, status, time_ms, user, v, withheld), integers
// in decimal, strings as Boost.JSON writes them: `"`, `\` and every control character escaped
// (\n, \t, \u0001, ...), invalid UTF-8 replaced by U+FFFD. So an entry never holds a raw newline
// or control byte: no field can end it or forge a second one, and one entry is one line.
//
// Chain: hash_0 is 32 zero bytes; hash_n = SHA-256(hash_{n-1} || canonical_n), raw 32 bytes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace carerecord::audit {

using Hash = std::array<unsigned char, 32>;

// What one request, sign-in or other event did. Empty strings and zero counts are written as
// such (every key is always present), so the shape of an entry never depends on its content.
struct AuditRecord {
  int64_t time_ms = 0;       // UTC, milliseconds since 1970; set by AuditLog::Append when 0
  std::string principal;     // "user:NAME", "client:ID", "system:SOURCE"
  std::string user;          // the username, when a user acted
  std::string client;        // the client id that holds the token
  std::string organisation;  // ODS code of the organisation they act for
  std::string role;
  std::vector<std::string> patients;  // Patient ids whose data was returned or changed
  std::string action;  // read, vread, search, history, everything, create, update, delete,
                       // bundle, break-glass, declare-relationship, sign-in, sign-in-failed,
                       // write-attempt (the intent of a write, durable before it runs)
  std::vector<std::string> resources;  // "Type/id" returned or changed (at most a few hundred)
  int64_t items = 0;                   // items returned
  int64_t withheld = 0;                // items the policy withheld
  std::string purpose = "TREAT";       // purpose of use: TREAT, BTG
  std::string reason;                  // a declared or break-glass reason, as the user wrote it
  std::string outcome;  // "success", "refused" (401/403), "failed", "pending" (an intent)
  int status = 0;       // the HTTP status answered; 0 for events that are not a request
  std::string method;   // the HTTP method
  std::string path;     // the request's path and query, as sent
  std::string address;  // the caller's IP address
  std::string detail;   // free text, e.g. why a sign-in failed
};

// The canonical bytes of `record` as entry `seq`, split around the seq so that the expensive
// part is built by the appending thread and the single writer only splices the number in.
struct CanonicalParts {
  std::string before_seq;  // ends with `"seq":`
  std::string after_seq;   // starts with `,"status":`
  std::string Join(int64_t seq) const;
  void JoinInto(int64_t seq, std::string& out) const;  // replaces what `out` held
};
CanonicalParts CanonicalPartsOf(const AuditRecord& record);
std::string CanonicalBytes(const AuditRecord& record, int64_t seq);

// Reads an entry back from its canonical bytes (for reports and the FHIR view).
base::Result<AuditRecord> ParseCanonical(std::string_view canonical, int64_t* seq = nullptr);

// hash_n from hash_{n-1} and canonical_n. ChainHasher reuses one digest context (for verify's
// speed); a ChainHasher is used by one thread.
class ChainHasher {
 public:
  ChainHasher();
  ~ChainHasher();
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;
  Hash Next(const Hash& previous, std::string_view canonical);

 private:
  void* context_;  // EVP_MD_CTX
  void* digest_;   // EVP_MD
};

std::string HexOf(const unsigned char* bytes, size_t size);
inline std::string HexOf(const Hash& hash) { return HexOf(hash.data(), hash.size()); }
bool HashFromHex(std::string_view hex, Hash& out);

// "2026-12-07T15:23:16.123Z"
std::string UtcTimeText(int64_t time_ms);
int64_t NowUtcMs();

}  // namespace carerecord::audit
