// Opening DIR/audit.db to read it (verify, export, reports), beside a server that may be
// appending to it. The caller owns the handle (sqlite3_close_v2).
#pragma once

#include <filesystem>

#include "base/status.h"

struct sqlite3;

namespace carerecord::audit {

// An error naming the file when there is no audit log in `directory` or it cannot be opened.
base::Result<sqlite3*> OpenAuditDatabaseToRead(const std::filesystem::path& directory);

}  // namespace carerecord::audit
