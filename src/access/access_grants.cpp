#include "access/access_grants.h"

#include "store/sqlite/sqlite_db.h"

namespace carerecord::access {
namespace {

constexpr const char* kGrantSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS access_grant (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,              -- 'declared' or 'break-glass'
  principal TEXT NOT NULL,
  organisation TEXT NOT NULL,
  patient TEXT NOT NULL,
  reason TEXT NOT NULL,
  granted_at INTEGER NOT NULL,     -- seconds since the epoch
  until INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS access_grant_until ON access_grant (until);
)sql";

}  // namespace

std::string_view GrantKindName(GrantKind kind) {
  return kind == GrantKind::kBreakGlass ? "break-glass" : "declared";
}

AccessGrants::AccessGrants(std::unique_ptr<store::SqliteConnection> db) : db_(std::move(db)) {}
AccessGrants::~AccessGrants() = default;

base::Result<std::unique_ptr<AccessGrants>> AccessGrants::Open(const std::string& data_directory,
                                                               bool durable, int64_t now) {
  auto db = store::SqliteConnection::OpenSideInDataDir(data_directory, durable, kGrantSchemaSql);
  if (!db.ok()) return db.error();
  std::unique_ptr<AccessGrants> grants(new AccessGrants(std::move(db).value()));
  auto stmt = grants->db_->Prepare(
      "SELECT kind, principal, organisation, patient, until FROM access_grant WHERE until > ?");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, now);
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    AccessGrant grant;
    grant.kind = stmt->Text(0) == "break-glass" ? GrantKind::kBreakGlass : GrantKind::kDeclared;
    grant.principal = std::string(stmt->Text(1));
    grant.organisation = std::string(stmt->Text(2));
    grant.patient = std::string(stmt->Text(3));
    grant.until = stmt->Int(4);
    grants->Hold(grant);
  }
  return grants;
}

base::Status AccessGrants::Add(const AccessGrant& grant) {
  {
    std::lock_guard lock(write_mutex_);
    auto stmt = db_->Cached(
        "INSERT INTO access_grant (kind, principal, organisation, patient, reason, granted_at, "
        "until) VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!stmt.ok()) return stmt.error();
    (*stmt)
        ->Bind(1, GrantKindName(grant.kind))
        .Bind(2, grant.principal)
        .Bind(3, grant.organisation)
        .Bind(4, grant.patient)
        .Bind(5, grant.reason)
        .Bind(6, grant.granted_at)
        .Bind(7, grant.until);
    CR_RETURN_IF_ERROR((*stmt)->Run());
  }
  Hold(grant);
  return base::Status::Ok();
}

void AccessGrants::Hold(const AccessGrant& grant) {
  std::unique_lock lock(mutex_);
  std::vector<Held>& held = by_patient_[grant.patient];
  for (Held& h : held) {
    if (h.kind == grant.kind && h.principal == grant.principal &&
        h.organisation == grant.organisation) {
      h.until = std::max(h.until, grant.until);
      return;
    }
  }
  held.push_back({grant.kind, grant.principal, grant.organisation, grant.until});
}

int64_t AccessGrants::Until(GrantKind kind, std::string_view principal,
                            std::string_view organisation, std::string_view patient) const {
  std::shared_lock lock(mutex_);
  auto it = by_patient_.find(patient);
  if (it == by_patient_.end()) return 0;
  for (const Held& h : it->second) {
    if (h.kind == kind && h.principal == principal && h.organisation == organisation) {
      return h.until;
    }
  }
  return 0;
}

}  // namespace carerecord::access
