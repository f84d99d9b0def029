// The SQLite store's schema and the name dictionaries (resource types, search parameters, code
// systems) that keep index rows small. Internal to src/store/.
#pragma once

#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "store/sqlite/sqlite_db.h"

namespace carerecord::store {

// Every table that holds patient data carries `part` or `patient_pk` (DESIGN principle 6):
// the pk of the Patient whose compartment the resource belongs to. In index tables `part` is 0
// for Patient resources themselves and for resources outside any compartment, so that finding a
// patient (by identifier, name) is one range scan, and so is any search within one patient.
inline constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS res_type (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS search_param (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
-- URIs that repeat across rows: code systems, and the values of uri parameters.
CREATE TABLE IF NOT EXISTS code_system (id INTEGER PRIMARY KEY, uri TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS feed_source (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
-- zstd dictionaries trained per resource type (body_codec.h); bodies name theirs by id.
CREATE TABLE IF NOT EXISTS body_dictionary (
  id INTEGER PRIMARY KEY, type_id INTEGER NOT NULL, dictionary BLOB NOT NULL);

-- One row per logical resource; never removed (a delete is a version), so pk is stable.
CREATE TABLE IF NOT EXISTS resource (
  pk INTEGER PRIMARY KEY,
  type_id INTEGER NOT NULL,
  id TEXT NOT NULL,
  patient_pk INTEGER NOT NULL,     -- distribution key: the compartment patient (itself for a Patient)
  version INTEGER NOT NULL,
  vid INTEGER NOT NULL,            -- the current version's row
  deleted INTEGER NOT NULL,
  last_updated INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS resource_by_id ON resource (type_id, id);
-- A type's resources in pk order: searches with no indexed condition, type history.
CREATE INDEX IF NOT EXISTS resource_by_type ON resource (type_id, deleted);
DROP INDEX IF EXISTS resource_by_updated;  -- no query used it well enough to pay its writes

-- Every version of every resource, the current one included; vid orders all writes.
CREATE TABLE IF NOT EXISTS version (
  vid INTEGER PRIMARY KEY,
  pk INTEGER NOT NULL,
  patient_pk INTEGER NOT NULL,
  version INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  method INTEGER NOT NULL,         -- 0 POST, 1 PUT, 2 DELETE
  source_id INTEGER NOT NULL,      -- feed_source: who sent it
  message_id TEXT,
  received INTEGER NOT NULL,
  body BLOB                        -- body_codec encoded; NULL for a delete
);
CREATE UNIQUE INDEX IF NOT EXISTS version_by_resource ON version (pk, version);

CREATE TABLE IF NOT EXISTS compartment (
  patient_pk INTEGER NOT NULL, type_id INTEGER NOT NULL, pk INTEGER NOT NULL,
  PRIMARY KEY (patient_pk, type_id, pk)) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS idx_token (
  param INTEGER NOT NULL, code TEXT NOT NULL, part INTEGER NOT NULL, system_id INTEGER NOT NULL,
  pk INTEGER NOT NULL,
  PRIMARY KEY (param, code, part, system_id, pk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_string (
  param INTEGER NOT NULL, part INTEGER NOT NULL, value TEXT NOT NULL, pk INTEGER NOT NULL,
  exact TEXT NOT NULL,             -- the text as written when it differs from value, else ''
  PRIMARY KEY (param, part, value, pk, exact)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_date (
  param INTEGER NOT NULL, part INTEGER NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL,
  pk INTEGER NOT NULL,
  PRIMARY KEY (param, part, low, high, pk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_number (
  param INTEGER NOT NULL, part INTEGER NOT NULL, value REAL NOT NULL, pk INTEGER NOT NULL,
  PRIMARY KEY (param, part, value, pk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_quantity (
  param INTEGER NOT NULL, part INTEGER NOT NULL, value REAL NOT NULL, system_id INTEGER NOT NULL,
  code TEXT NOT NULL, pk INTEGER NOT NULL,
  PRIMARY KEY (param, part, value, system_id, code, pk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_reference (
  param INTEGER NOT NULL, target_pk INTEGER NOT NULL, pk INTEGER NOT NULL, part INTEGER NOT NULL,
  PRIMARY KEY (param, target_pk, pk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_reference_url (
  param INTEGER NOT NULL, url TEXT NOT NULL, pk INTEGER NOT NULL, part INTEGER NOT NULL,
  PRIMARY KEY (param, url, pk)) WITHOUT ROWID;
-- Composite parameters (Observation code-value-quantity): one row per combination of the values
-- its components take in one element (the Observation, or one Observation.component). key is the
-- first component (a token's code, or a reference as Type/id or URL); v_ the second (a token or
-- a quantity's unit in v_system/v_code, a string normalised in v_code; a number, a quantity's
-- value or a date's range in v_low/v_high); w_ the third, a number, where there is one.
CREATE TABLE IF NOT EXISTS idx_composite (
  param INTEGER NOT NULL, key TEXT NOT NULL, part INTEGER NOT NULL, key_system INTEGER NOT NULL,
  v_code TEXT NOT NULL, v_system INTEGER NOT NULL, v_low REAL NOT NULL, v_high REAL NOT NULL,
  w_low REAL NOT NULL, w_high REAL NOT NULL, pk INTEGER NOT NULL,
  PRIMARY KEY (param, key, part, key_system, v_code, v_system, v_low, v_high, w_low, w_high, pk))
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_uri (  -- value_id: the URI in the code_system dictionary
  param INTEGER NOT NULL, value_id INTEGER NOT NULL, pk INTEGER NOT NULL, part INTEGER NOT NULL,
  PRIMARY KEY (param, value_id, pk)) WITHOUT ROWID;
)sql";

// The index tables, each emptied and refilled when a store's indexes are rebuilt.
inline constexpr const char* kIndexTables[] = {
    "idx_token",     "idx_string",        "idx_date", "idx_number",   "idx_quantity",
    "idx_reference", "idx_reference_url", "idx_uri",  "idx_composite"};

// Bump when the rows written for the same index entries change (a column, a normalisation), so
// stores written before rebuild their indexes on open. Changes to the generated search tables
// are caught by their fingerprint without this.
inline constexpr int kIndexFormat = 3;  // 3: string values cut to fhir::kMaxIndexedTextBytes

// Maps names to small integer ids, persisted in a dictionary table. Reads are lock-free of the
// database; the writer adds names. Thread-safe.
class NameDictionary {
 public:
  NameDictionary(std::string table, std::string column)
      : table_(std::move(table)), column_(std::move(column)) {}
  base::Status Load(SqliteConnection& db);
  // 0 when unknown.
  int64_t Find(std::string_view name) const;
  std::string NameOf(int64_t id) const;
  // Adds the name inside the caller's open write transaction. The caller must call Publish()
  // after the commit and Forget() after a rollback.
  base::Result<int64_t> Add(SqliteConnection& db, std::string_view name);
  void Publish();
  void Forget();

 private:
  std::string table_, column_;
  // Looked up by string_view without building a std::string (the writer asks per index row).
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> ids_;
  std::unordered_map<int64_t, std::string> names_;
  std::vector<std::pair<std::string, int64_t>> pending_;
};

}  // namespace carerecord::store
