// Checking and exporting the audit log: `carerecord audit verify` and `audit export`. Both read
// DIR/audit.db in one read transaction (WAL), so they run beside a serving process; they read
// the checkpoint file first, so every checkpoint they see names an entry their snapshot holds.
// Plain functions; each call opens its own connection.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "base/status.h"

namespace carerecord::audit {

struct VerifyOptions {
  std::filesystem::path directory;        // the data folder holding audit.db
  std::filesystem::path checkpoint_file;  // empty: DIR/audit-checkpoints
  std::filesystem::path public_key_file;  // empty: DIR/audit-checkpoint-public.pem
};

struct VerifyReport {
  bool ok = false;
  int64_t entries = 0;          // entries read
  int64_t checkpoints = 0;      // checkpoints checked
  int64_t signed_to = 0;        // the highest entry a checkpoint signs
  int64_t first_bad_seq = 0;    // when !ok and an entry is to blame
  int bad_checkpoint_line = 0;  // when !ok and a checkpoint line is to blame
  std::string why;
  // "ok N entries", "first bad entry: SEQ (why)" or "bad checkpoint: line L (why)".
  std::string Summary() const;
  // For a whole log: how far the checkpoints sign it, e.g. "signed to entry 12 by 3
  // checkpoints", and the entries after the last checkpoint (a running server signs its head
  // every second).
  std::string Signed() const;
};

// An error only when the log cannot be read at all (no audit.db, unreadable) or a checkpoint
// file named in `options` does not exist; a damaged log is an ok Result with report.ok false,
// and so is a log with entries and no checkpoint (nothing then shows it was not rewritten whole).
base::Result<VerifyReport> VerifyAuditLog(const VerifyOptions& options);

struct IndexVerifyReport {
  bool ok = false;
  bool present = false;       // DIR/audit-search.db exists
  int64_t indexed = 0;        // the entries the index says it holds (1..indexed_seq)
  int64_t rows = 0;           // its rows read
  int64_t first_bad_seq = 0;  // when !ok: the first entry whose rows differ
  // Of another format than this build's (audit_search.h, kAuditSearchFormat): as if absent,
  // searches do not read it and the next start rebuilds it; its rows are not compared.
  bool other_format = false;
  std::string why;
  // "index ok: N entries, R rows", "index absent: it is built from the log at the next start",
  // "index of format F: ... rebuilt ... at the next start", or "index: first entry whose rows
  // differ: SEQ (why); ..." saying how to rebuild it.
  std::string Summary() const;
};

// Checks DIR/audit-search.db (audit_search.h) against DIR/audit.db: every entry up to the
// index's indexed_seq has exactly the rows SearchKeysOf gives it (none missing, none extra), and
// no row names an entry beyond. Reads both in one snapshot each, the index in seq order (one
// sort of its rows). An error only when a file cannot be read.
base::Result<IndexVerifyReport> VerifyAuditSearchIndex(const std::filesystem::path& directory);

// Writes OUT/entries.jsonl (entry n's canonical bytes on line n), OUT/hashes.txt (hash_n in hex
// on line n), OUT/audit-checkpoints and OUT/audit-checkpoint-public.pem, for the independent
// procedure in the README (tools/verify_audit_export.py). Returns the number of entries.
base::Result<int64_t> ExportAuditLog(const VerifyOptions& options,
                                     const std::filesystem::path& out);

}  // namespace carerecord::audit
