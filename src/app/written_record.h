// The record store as the audit's reconciliation of write intents reads it (audit/
// intent_reconcile.h): the server's own read at start, through an admit-all gate that records
// nothing (no caller is disclosed anything).
#pragma once

#include "audit/intent_reconcile.h"
#include "store/store.h"

namespace carerecord::app {

class StoreWrittenRecord final : public audit::WrittenRecord {
 public:
  explicit StoreWrittenRecord(store::Store& store) : store_(store) {}
  base::Result<std::vector<audit::StoredVersion>> VersionsSince(std::string_view type,
                                                                std::string_view id,
                                                                int64_t since_ms) override;

 private:
  store::Store& store_;
};

}  // namespace carerecord::app
