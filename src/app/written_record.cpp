#include "app/written_record.h"

#include <algorithm>

#include "access/access_context.h"

namespace carerecord::app {

base::Result<std::vector<audit::StoredVersion>> StoreWrittenRecord::VersionsSince(
    std::string_view type, std::string_view id, int64_t since_ms) {
  access::OpenPolicy policy;
  access::AccessContext server;
  server.principal = "system:audit-reconcile";
  access::RequestGate gate(policy, nullptr, server, "history");
  auto session = store_.OpenRead(gate);
  if (!session) {
    return base::MakeError(base::ErrorCode::kUnavailable, "the record store cannot be read now");
  }
  store::HistoryQuery query;
  query.type = std::string(type);
  query.id = std::string(id);
  query.since_ms = since_ms;
  query.count = 1000;
  std::vector<audit::StoredVersion> versions;
  for (;;) {
    auto page = session->History(query);
    if (!page.ok()) {
      // A type the store has never held, or an instance that never existed: nothing written.
      if (page.error().code == base::ErrorCode::kNotFound ||
          page.error().code == base::ErrorCode::kInvalid) {
        break;
      }
      return page.error();
    }
    for (store::StoredResource& r : page->versions) {
      versions.push_back({std::move(r.type), std::move(r.id), r.version, r.last_updated_ms,
                          r.deleted, std::move(r.patient_id), std::move(r.author_organisation)});
    }
    if (page->next_cursor.empty()) break;
    query.cursor = page->next_cursor;
  }
  // History pages are newest first.
  std::stable_sort(versions.begin(), versions.end(), [](const auto& a, const auto& b) {
    return a.last_updated_ms != b.last_updated_ms ? a.last_updated_ms < b.last_updated_ms
                                                  : a.version < b.version;
  });
  return versions;
}

}  // namespace carerecord::app
