// The sealing columns' migration (see AddSealingColumnsIfMissing in sqlite_store_internal.h).

#include <boost/json/parse.hpp>

#include "fhir/sealing_facts.h"
#include "store/body_codec.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {
namespace {

base::Result<bool> HasColumn(SqliteConnection& db, const char* table, std::string_view column) {
  auto stmt = db.Prepare(std::string("PRAGMA table_info(") + table + ")");
  if (!stmt.ok()) return stmt.error();
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) return false;
    if (stmt->Text(1) == column) return true;
  }
}

base::Status FillSealingFacts(SqliteConnection& db, const BodyCodec& codec) {
  auto select = db.Prepare("SELECT vid, body FROM version WHERE body IS NOT NULL");
  if (!select.ok()) return select.error();
  auto update = db.Prepare("UPDATE version SET sealing_facts = ? WHERE vid = ?");
  if (!update.ok()) return update.error();
  for (;;) {
    auto row = select->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    auto object = codec.DecodeObject(select->Blob(1));
    if (!object.ok()) return object.error();
    std::string facts = fhir::EncodeSealingFacts(object.value());
    if (facts.empty()) continue;
    update->Bind(1, std::string_view(facts)).Bind(2, select->Int(0));
    CR_RETURN_IF_ERROR(update->Run());
  }
  return base::Status::Ok();
}

}  // namespace

base::Status AddSealingColumnsIfMissing(SqliteConnection& db, const BodyCodec& codec) {
  auto has = HasColumn(db, "version", "sealing_facts");
  if (!has.ok()) return has.error();
  if (has.value()) return base::Status::Ok();
  // One transaction: a crash part way leaves neither column, and the next open starts again.
  CR_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  base::Status status =
      db.Exec("ALTER TABLE version ADD COLUMN sealing_facts TEXT NOT NULL DEFAULT ''");
  if (status.ok()) {
    status = db.Exec("ALTER TABLE resource ADD COLUMN author_org TEXT NOT NULL DEFAULT ''");
  }
  if (status.ok()) status = FillSealingFacts(db, codec);
  if (status.ok()) status = db.Exec("COMMIT");
  if (!status.ok()) (void)db.Exec("ROLLBACK");
  return status;
}

}  // namespace carerecord::store
