// StoredItemBody: a version's body read for the gate only when a policy asks for it.
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {

base::Result<std::string_view> StoredItemBody::Json() {
  if (json_) return std::string_view(*json_);
  if (db_ == nullptr) {
    auto decoded =
        stored_.empty() ? base::Result<std::string>(std::string()) : codec_.Decode(stored_);
    if (!decoded.ok()) return decoded.error();
    json_ = std::move(decoded).value();
    return std::string_view(*json_);
  }
  auto stmt = db_->Cached("SELECT body FROM version WHERE vid = ?");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, vid_);
  auto row = (*stmt)->Step();
  base::Result<std::string> decoded = std::string();
  if (!row.ok()) {
    decoded = row.error();
  } else if (row.value() && !(*stmt)->IsNull(0)) {
    decoded = codec_.Decode((*stmt)->Blob(0));
  }
  (*stmt)->Reset();
  if (!decoded.ok()) return decoded.error();
  json_ = std::move(decoded).value();
  return std::string_view(*json_);
}

}  // namespace carerecord::store
