// Index rows: how one resource version's index entries become rows of the idx_ tables (and
// are taken away again), and the rebuild of every index when their format changes.
#include <algorithm>
#include <boost/json/parse.hpp>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>
#include <variant>

#include "fhir/index_extraction.h"
#include "fhir/search_parameters.h"
#include "fhir/search_text.h"
#include "store/body_codec.h"
#include "store/sqlite/sqlite_search_internal.h"

namespace carerecord::store {
namespace {

// Rows for one INSERT statement, gathered, then written as INSERT ... VALUES (...), (...), ... in
// chunks.
class RowBatch {
 public:
  explicit RowBatch(const char* sql) : sql(sql) {
    std::string_view text(sql);
    size_t values = text.find("VALUES ");
    prefix_ = std::string(text.substr(0, values + 7));
    tuple_ = std::string(text.substr(values + 7));
    columns_ = static_cast<int>(std::count(tuple_.begin(), tuple_.end(), '?'));
  }
  // A whole row's values, in order.
  void AddRow(std::vector<BindValue>&& row) {
    row.resize(static_cast<size_t>(columns_));
    for (BindValue& v : row) values_.push_back(std::move(v));
    ++rows_;
  }

  base::Status Write(SqliteConnection& db) {
    constexpr size_t kRowsPerStatement = 32;
    for (size_t first = 0; first < rows_; first += kRowsPerStatement) {
      size_t n = std::min(kRowsPerStatement, rows_ - first);
      std::string sql_text = prefix_;
      for (size_t i = 0; i < n; ++i) {
        if (i) sql_text += ',';
        sql_text += tuple_;
      }
      auto stmt = db.Cached(sql_text);
      if (!stmt.ok()) return stmt.error();
      const BindValue* begin = values_.data() + first * columns_;
      BindValues(**stmt, begin, begin + n * columns_);
      CR_RETURN_IF_ERROR((*stmt)->Run());
    }
    return base::Status::Ok();
  }

  const char* sql;

 private:
  std::string prefix_, tuple_;
  int columns_ = 0;
  size_t rows_ = 0;
  std::vector<BindValue> values_;
};

// The SQL of the two reference tables' rows: the target a row names is looked up when it is
// written, so those rows are always taken away and written again (see ReplaceIndexRows).
constexpr const char* kInsertReference =
    "INSERT OR IGNORE INTO idx_reference (param, target_pk, pk, part) VALUES (?,?,?,?)";
constexpr const char* kInsertReferenceUrl =
    "INSERT OR IGNORE INTO idx_reference_url (param, url, pk, part) VALUES (?,?,?,?)";

// One index row: the statements that add and take it away, and its values in the INSERT's
// order (the DELETE binds the first as many as it has placeholders).
struct IndexRow {
  const char* insert_sql;
  const char* delete_sql;
  std::vector<BindValue> values;
  bool operator<(const IndexRow& other) const {
    if (insert_sql != other.insert_sql)
      return std::less<const char*>()(insert_sql, other.insert_sql);
    return values < other.values;
  }
  bool operator==(const IndexRow& other) const {
    return insert_sql == other.insert_sql && values == other.values;
  }
};

// Records one row's values through the Bind calls a statement takes.
class RowRecorder {
 public:
  explicit RowRecorder(std::vector<BindValue>& values) : values_(values) {}
  RowRecorder& Bind(int index, int64_t v) { return Set(index, v); }
  RowRecorder& Bind(int index, double v) { return Set(index, v); }
  RowRecorder& Bind(int index, std::string_view v) { return Set(index, std::string(v)); }

 private:
  RowRecorder& Set(int index, BindValue v) {
    const size_t at = static_cast<size_t>(index - 1);
    if (values_.size() <= at) values_.resize(at + 1);
    values_[at] = std::move(v);
    return *this;
  }
  std::vector<BindValue>& values_;
};

// Inserts are gathered per statement and written as multi-row INSERTs (one statement run per
// table instead of one per row). The rows' values are moved into the statements.
base::Status InsertRows(SqliteConnection& db, const std::vector<IndexRow*>& rows) {
  std::vector<RowBatch> batches;
  for (IndexRow* row : rows) {
    RowBatch* batch = nullptr;
    for (RowBatch& b : batches) {
      if (b.sql == row->insert_sql) batch = &b;
    }
    if (!batch) batch = &batches.emplace_back(row->insert_sql);
    batch->AddRow(std::move(row->values));
  }
  for (RowBatch& batch : batches) CR_RETURN_IF_ERROR(batch.Write(db));
  return base::Status::Ok();
}

// Deletes run row by row.
base::Status DeleteRows(SqliteConnection& db, const std::vector<const IndexRow*>& rows) {
  for (const IndexRow* row : rows) {
    auto stmt = db.Cached(row->delete_sql);
    if (!stmt.ok()) return stmt.error();
    const auto placeholders = static_cast<size_t>(
        std::count(row->delete_sql, row->delete_sql + std::strlen(row->delete_sql), '?'));
    const BindValue* begin = row->values.data();
    BindValues(**stmt, begin, begin + std::min(placeholders, row->values.size()));
    CR_RETURN_IF_ERROR((*stmt)->Run());
  }
  return base::Status::Ok();
}

// The rows one version of resource `pk` in partition `part` is indexed under. Both directions,
// and a replacement's difference, go through here, so that what a version adds is exactly what
// its replacement takes away.
base::Result<std::vector<IndexRow>> IndexRowsOf(const SqliteNames& names,
                                                const fhir::IndexEntries& index, int64_t pk,
                                                int64_t part, const TargetLookup& find_target) {
  auto params = fhir::AllSearchParams();
  std::vector<IndexRow> rows;
  const bool remove = false;  // every row records its whole INSERT
  auto run = [&](const char* insert_sql, const char* delete_sql, const auto& bind) -> base::Status {
    IndexRow& row = rows.emplace_back(IndexRow{insert_sql, delete_sql, {}});
    RowRecorder recorder(row.values);
    bind(recorder);
    return base::Status::Ok();
  };
  for (const auto& token : index.tokens) {
    const auto& def = params[token.param_id];
    int64_t system_id = token.system.empty() ? 0 : names.systems.Find(token.system);
    CR_RETURN_IF_ERROR(
        run("INSERT OR IGNORE INTO idx_token (param, code, part, system_id, pk) VALUES (?,?,?,?,?)",
            "DELETE FROM idx_token WHERE param=? AND code=? AND part=? AND system_id=? AND pk=?",
            [&](auto& s) {
              s.Bind(1, token.of_type ? names.OfTypeParamId(def) : names.ParamId(def))
                  .Bind(2, token.code)
                  .Bind(3, part)
                  .Bind(4, system_id);
              s.Bind(5, pk);
            }));
    if (!token.text.empty()) {
      std::string normalized(fhir::IndexedPrefix(fhir::NormalizeForSearch(token.text)));
      CR_RETURN_IF_ERROR(run(
          "INSERT OR IGNORE INTO idx_string (param, part, value, pk, exact) VALUES (?,?,?,?,'')",
          "DELETE FROM idx_string WHERE param=? AND part=? AND value=? AND pk=? AND exact=''",
          [&](auto& s) {
            s.Bind(1, names.TextParamId(def)).Bind(2, part).Bind(3, normalized).Bind(4, pk);
          }));
    }
  }
  for (const auto& entry : index.strings) {
    std::string normalized = fhir::NormalizeForSearch(entry.value);
    std::string_view exact =
        normalized == entry.value ? std::string_view() : fhir::IndexedPrefix(entry.value);
    normalized.resize(fhir::IndexedPrefix(normalized).size());
    CR_RETURN_IF_ERROR(
        run("INSERT OR IGNORE INTO idx_string (param, part, value, pk, exact) VALUES (?,?,?,?,?)",
            "DELETE FROM idx_string WHERE param=? AND part=? AND value=? AND pk=? AND exact=?",
            [&](auto& s) {
              s.Bind(1, names.ParamId(params[entry.param_id])).Bind(2, part).Bind(3, normalized);
              s.Bind(4, pk).Bind(5, exact);
            }));
  }
  for (const auto& entry : index.dates) {
    CR_RETURN_IF_ERROR(
        run("INSERT OR IGNORE INTO idx_date (param, part, low, high, pk) VALUES (?,?,?,?,?)",
            "DELETE FROM idx_date WHERE param=? AND part=? AND low=? AND high=? AND pk=?",
            [&](auto& s) {
              s.Bind(1, names.ParamId(params[entry.param_id])).Bind(2, part);
              s.Bind(3, entry.low_ms).Bind(4, entry.high_ms).Bind(5, pk);
            }));
  }
  for (const auto& entry : index.numbers) {
    CR_RETURN_IF_ERROR(
        run("INSERT OR IGNORE INTO idx_number (param, part, value, pk) VALUES (?,?,?,?)",
            "DELETE FROM idx_number WHERE param=? AND part=? AND value=? AND pk=?", [&](auto& s) {
              s.Bind(1, names.ParamId(params[entry.param_id])).Bind(2, part);
              s.Bind(3, entry.value).Bind(4, pk);
            }));
  }
  for (const auto& entry : index.quantities) {
    int64_t system_id = entry.system.empty() ? 0 : names.systems.Find(entry.system);
    // A quantity is found by its code in its system, and by its human unit without a system.
    std::vector<std::pair<int64_t, std::string_view>> keys;
    if (!entry.code.empty()) keys.emplace_back(system_id, entry.code);
    if (!entry.unit.empty() && entry.unit != entry.code) {
      keys.emplace_back(0, entry.unit);
    }
    if (keys.empty()) keys.emplace_back(0, std::string_view());
    for (const auto& key : keys) {  // not a structured binding: clang 14 cannot capture one
      CR_RETURN_IF_ERROR(
          run("INSERT OR IGNORE INTO idx_quantity (param, part, value, system_id, code, pk) "
              "VALUES (?,?,?,?,?,?)",
              "DELETE FROM idx_quantity WHERE param=? AND part=? AND value=? AND system_id=? AND "
              "code=? AND pk=?",
              [&](auto& s) {
                s.Bind(1, names.ParamId(params[entry.param_id])).Bind(2, part).Bind(3, entry.value);
                s.Bind(4, key.first).Bind(5, key.second).Bind(6, pk);
              }));
    }
  }
  for (const auto& entry : index.references) {
    int64_t target_pk = 0;
    if (!entry.target_type.empty()) {
      auto found = find_target(entry.target_type, entry.target_id);
      if (!found.ok()) return found.error();
      target_pk = found.value();
    }
    int64_t param = names.ParamId(params[entry.param_id]);
    if (target_pk) {
      CR_RETURN_IF_ERROR(run(kInsertReference,
                             "DELETE FROM idx_reference WHERE param=? AND target_pk=? AND pk=?",
                             [&](auto& s) {
                               s.Bind(1, param).Bind(2, target_pk).Bind(3, pk);
                               if (!remove) s.Bind(4, part);
                             }));
    } else {
      std::string url =
          entry.target_type.empty() ? entry.target_id : entry.target_type + "/" + entry.target_id;
      CR_RETURN_IF_ERROR(run(kInsertReferenceUrl,
                             "DELETE FROM idx_reference_url WHERE param=? AND url=? AND pk=?",
                             [&](auto& s) {
                               s.Bind(1, param).Bind(2, url).Bind(3, pk);
                               if (!remove) s.Bind(4, part);
                             }));
    }
  }
  for (const auto& entry : index.uris) {
    CR_RETURN_IF_ERROR(
        run("INSERT OR IGNORE INTO idx_uri (param, value_id, pk, part) VALUES (?,?,?,?)",
            "DELETE FROM idx_uri WHERE param=? AND value_id=? AND pk=?", [&](auto& s) {
              s.Bind(1, names.ParamId(params[entry.param_id]))
                  .Bind(2, names.systems.Find(entry.value))
                  .Bind(3, pk);
              if (!remove) s.Bind(4, part);
            }));
  }
  for (const auto& entry : index.composites) {
    const auto& def = params[entry.param_id];
    // A string component is matched like a string parameter: normalised, by prefix.
    const bool normalise =
        def.components.size() > 1 && def.components[1]->type == fhir::SearchParamType::kString;
    std::string code = normalise
                           ? std::string(fhir::IndexedPrefix(fhir::NormalizeForSearch(entry.code)))
                           : std::string();
    CR_RETURN_IF_ERROR(
        run("INSERT OR IGNORE INTO idx_composite (param, key, part, key_system, v_code, v_system, "
            "v_low, v_high, w_low, w_high, pk) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            "DELETE FROM idx_composite WHERE param=? AND key=? AND part=? AND key_system=? AND "
            "v_code=? AND v_system=? AND v_low=? AND v_high=? AND w_low=? AND w_high=? AND pk=?",
            [&](auto& s) {
              s.Bind(1, names.ParamId(def)).Bind(2, entry.key).Bind(3, part);
              s.Bind(4, entry.key_system.empty() ? 0 : names.systems.Find(entry.key_system));
              s.Bind(5, normalise ? std::string_view(code) : std::string_view(entry.code));
              s.Bind(6, entry.system.empty() ? 0 : names.systems.Find(entry.system));
              s.Bind(7, entry.low).Bind(8, entry.high).Bind(9, entry.low2).Bind(10, entry.high2);
              s.Bind(11, pk);
            }));
  }
  return rows;
}

}  // namespace

base::Status WriteIndexRows(SqliteConnection& db, const SqliteNames& names,
                            const fhir::IndexEntries& index, int64_t pk, int64_t part, bool remove,
                            const TargetLookup& find_target) {
  auto rows = IndexRowsOf(names, index, pk, part, find_target);
  if (!rows.ok()) return rows.error();
  if (remove) {
    std::vector<const IndexRow*> all;
    all.reserve(rows->size());
    for (const IndexRow& row : *rows) all.push_back(&row);
    return DeleteRows(db, all);
  }
  std::vector<IndexRow*> all;
  all.reserve(rows->size());
  for (IndexRow& row : *rows) all.push_back(&row);
  return InsertRows(db, all);
}

base::Status ReplaceIndexRows(SqliteConnection& db, const SqliteNames& names,
                              const fhir::IndexEntries& previous, int64_t previous_part,
                              const fhir::IndexEntries& index, int64_t part, int64_t pk,
                              const TargetLookup& find_target) {
  auto old_rows = IndexRowsOf(names, previous, pk, previous_part, find_target);
  if (!old_rows.ok()) return old_rows.error();
  auto new_rows = IndexRowsOf(names, index, pk, part, find_target);
  if (!new_rows.ok()) return new_rows.error();
  std::sort(old_rows->begin(), old_rows->end());
  std::sort(new_rows->begin(), new_rows->end());
  auto is_reference = [](const IndexRow& row) {
    return row.insert_sql == kInsertReference || row.insert_sql == kInsertReferenceUrl;
  };
  // A row in both is left as it is; a reference row goes and comes back, as the target it
  // names is looked up again (a target created since the old version was written).
  std::vector<const IndexRow*> gone;
  std::vector<IndexRow*> added;
  for (const IndexRow& row : *old_rows) {
    if (is_reference(row) || !std::binary_search(new_rows->begin(), new_rows->end(), row)) {
      gone.push_back(&row);
    }
  }
  for (IndexRow& row : *new_rows) {
    if (is_reference(row) || !std::binary_search(old_rows->begin(), old_rows->end(), row)) {
      added.push_back(&row);
    }
  }
  CR_RETURN_IF_ERROR(DeleteRows(db, gone));
  return InsertRows(db, added);
}

void CollectNewSystems(const SqliteNames& names, const fhir::IndexEntries& index,
                       std::set<std::string>& out) {
  auto add = [&](const std::string& system) {
    if (!system.empty() && !names.systems.Find(system)) out.insert(system);
  };
  for (const auto& token : index.tokens) add(token.system);
  for (const auto& quantity : index.quantities) add(quantity.system);
  for (const auto& uri : index.uris) add(uri.value);
  for (const auto& composite : index.composites) {
    add(composite.key_system);
    add(composite.system);
  }
}

namespace {

std::string ExpectedIndexFormat() {
  return std::to_string(kIndexFormat) + ":" + std::string(fhir::SearchTablesFingerprint());
}

base::Result<std::string> StoredIndexFormat(SqliteConnection& db) {
  auto stmt = db.Prepare("SELECT value FROM store_meta WHERE key = 'index_format'");
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  return *row ? std::string(stmt->Text(0)) : std::string();
}

struct StoredResource {
  int64_t pk;
  std::string type;
  int64_t patient_pk;
  std::string body;  // encoded
};

// The current, not deleted, resources after `after_pk`, in pk order.
base::Result<std::vector<StoredResource>> ReadBatch(SqliteConnection& db, const SqliteNames& names,
                                                    int64_t after_pk, int limit) {
  auto stmt = db.Cached(
      "SELECT r.pk, r.type_id, r.patient_pk, v.body FROM resource r JOIN version v ON v.vid = "
      "r.vid WHERE r.pk > ? AND r.deleted = 0 ORDER BY r.pk LIMIT ?");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, after_pk).Bind(2, static_cast<int64_t>(limit));
  std::vector<StoredResource> out;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    out.push_back({(*stmt)->Int(0), names.types.NameOf((*stmt)->Int(1)), (*stmt)->Int(2),
                   std::string((*stmt)->Blob(3))});
  }
  (*stmt)->Reset();
  return out;
}

// Writes one resource's index rows as the write path would, registering new code systems.
base::Status Reindex(SqliteConnection& db, SqliteNames& names, const BodyCodec& codec,
                     const StoredResource& resource) {
  auto parsed = codec.DecodeObject(resource.body);
  if (!parsed.ok()) {
    return base::MakeError(base::ErrorCode::kInternal, "stored body of " + resource.type + " pk " +
                                                           std::to_string(resource.pk) + ": " +
                                                           parsed.error().message);
  }
  fhir::IndexEntries entries = fhir::ExtractIndexEntries(*parsed, resource.type);
  std::set<std::string> systems;
  CollectNewSystems(names, entries, systems);
  for (const std::string& system : systems) {
    if (auto id = names.systems.Add(db, system); !id.ok()) return id.error();
  }
  // Published at once, inside the transaction, so the rows below find them: nothing reads the
  // store yet, and if the rebuild fails the store does not open.
  names.systems.Publish();
  const int64_t part = resource.type == "Patient" ? 0 : resource.patient_pk;
  return WriteIndexRows(db, names, entries, resource.pk, part, false,
                        [&](std::string_view type, std::string_view id) {
                          return FindPk(db, names, type, id, /*include_deleted=*/true);
                        });
}

base::Status RebuildIndexes(SqliteConnection& db, SqliteNames& names, const BodyCodec& codec) {
  for (const char* table : kIndexTables) {
    CR_RETURN_IF_ERROR(db.Exec(std::string("DELETE FROM ") + table));
  }
  int64_t after = 0;
  size_t done = 0;
  for (;;) {
    auto batch = ReadBatch(db, names, after, 2000);
    if (!batch.ok()) return batch.error();
    if (batch->empty()) return base::Status::Ok();
    for (const StoredResource& resource : *batch) {
      CR_RETURN_IF_ERROR(Reindex(db, names, codec, resource));
    }
    after = batch->back().pk;
    done += batch->size();
    if (done % 100000 < batch->size()) {
      std::fprintf(stderr, "carerecord: reindexed %zu resources\n", done);
    }
  }
}

}  // namespace

base::Status RebuildIndexesIfStale(SqliteConnection& db, SqliteNames& names,
                                   const BodyCodec& codec) {
  auto stored = StoredIndexFormat(db);
  if (!stored.ok()) return stored.error();
  const std::string expected = ExpectedIndexFormat();
  if (*stored == expected) return base::Status::Ok();
  // One transaction: a crash part way leaves the old indexes and format, and the next open
  // starts again. Searches are not served until it is done.
  CR_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  base::Status status = RebuildIndexes(db, names, codec);
  if (status.ok()) {
    auto set = db.Prepare(
        "INSERT OR REPLACE INTO store_meta (key, value) VALUES "
        "('index_format', ?)");
    status = set.ok() ? set->Bind(1, std::string_view(expected)).Run() : set.error();
  }
  if (status.ok()) status = db.Exec("COMMIT");
  if (!status.ok()) (void)db.Exec("ROLLBACK");
  return status;
}

}  // namespace carerecord::store
