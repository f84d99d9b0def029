#include "store/sqlite/sqlite_schema.h"

namespace carerecord::store {

base::Status NameDictionary::Load(SqliteConnection& db) {
  auto stmt = db.Prepare("SELECT id, " + column_ + " FROM " + table_);
  if (!stmt.ok()) return stmt.error();
  std::unique_lock lock(mutex_);
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    std::string name(stmt->Text(1));
    ids_[name] = stmt->Int(0);
    names_[stmt->Int(0)] = std::move(name);
  }
  return base::Status::Ok();
}

int64_t NameDictionary::Find(std::string_view name) const {
  std::shared_lock lock(mutex_);
  auto it = ids_.find(name);
  return it == ids_.end() ? 0 : it->second;
}

std::string NameDictionary::NameOf(int64_t id) const {
  std::shared_lock lock(mutex_);
  auto it = names_.find(id);
  return it == names_.end() ? std::string() : it->second;
}

base::Result<int64_t> NameDictionary::Add(SqliteConnection& db, std::string_view name) {
  if (int64_t id = Find(name)) return id;
  for (const auto& [pending_name, id] : pending_) {
    if (pending_name == name) return id;
  }
  auto stmt = db.Cached("INSERT INTO " + table_ + " (" + column_ + ") VALUES (?)");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, name);
  CR_RETURN_IF_ERROR((*stmt)->Run());
  int64_t id = sqlite3_last_insert_rowid(db.raw());
  pending_.emplace_back(std::string(name), id);
  return id;
}

void NameDictionary::Publish() {
  std::unique_lock lock(mutex_);
  for (auto& [name, id] : pending_) {
    names_[id] = name;
    ids_[std::move(name)] = id;
  }
  pending_.clear();
}

void NameDictionary::Forget() { pending_.clear(); }

}  // namespace carerecord::store
