// The write path's reads on the SQLite store: the current version of a resource, and the ids a
// condition matches, over the caller's connection (the writer's, inside its transaction, or a
// reader's outside it).

#include <optional>

#include "store/sqlite/sqlite_search_budget.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace carerecord::store {
namespace {

// Reads for the write path over a caller's connection (the writer's, inside its transaction).
class SqliteTransactionReader final : public TransactionReader {
 public:
  SqliteTransactionReader(SqliteConnection& db, const SqliteNames& names)
      : db_(db), names_(names) {}

  base::Result<CurrentVersion> Current(std::string_view type, std::string_view id) override {
    CurrentVersion out;
    int64_t patient_pk = 0;
    int64_t type_id = names_.types.Find(type);
    if (!type_id) return out;
    auto stmt = db_.Cached(
        "SELECT r.version, r.deleted, v.body, v.sealing_facts, r.author_org, r.patient_pk "
        "FROM resource r "
        "JOIN version v ON v.vid = r.vid "
        "WHERE r.type_id = ? AND r.id = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, type_id).Bind(2, id);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (row.value()) {
      out.version = (*stmt)->Int(0);
      out.deleted = (*stmt)->Int(1) != 0;
      out.sealing_facts = std::string((*stmt)->Text(3));
      out.author_organisation = std::string((*stmt)->Text(4));
      patient_pk = (*stmt)->Int(5);
      if (!out.deleted) {
        auto json = names_.codec->Decode((*stmt)->Blob(2));
        if (!json.ok()) {
          (*stmt)->Reset();
          return json.error();
        }
        out.json = std::move(json).value();
      }
    }
    (*stmt)->Reset();
    if (patient_pk != 0) {
      auto patient = PatientIdOf(patient_pk);
      if (!patient.ok()) return patient.error();
      out.patient_id = std::move(patient).value();
    }
    return out;
  }

  // The bounded matching step every inner search uses (MatchPks), within the spec's budget.
  // With a gate, matches it does not permit are passed over, reading further (doubling) until
  // `limit` + 1 permitted ones are found or the matches run out.
  base::Result<std::vector<std::string>> MatchIds(const SearchSpec& spec, size_t limit,
                                                  ReadGate* visible) override {
    SearchRun run(db_, spec.budget);
    if (visible) {
      // The condition's chains and _has match only what the caller may read, as its matches do.
      run.FilterInnerMatches([this, visible](int64_t pk) -> base::Result<bool> {
        auto id = PermittedId(pk, visible);
        if (!id.ok()) return id.error();
        return id->has_value();
      });
    }
    std::vector<std::string> ids;
    size_t asked = visible ? 4 * (limit + 1) : limit;
    for (;;) {
      auto pks = MatchPks(db_, names_, spec, asked, run);
      if (!pks.ok()) return run.Explain(pks.error());
      ids.clear();
      for (int64_t pk : *pks) {
        if (ids.size() > limit) break;
        auto id = PermittedId(pk, visible);
        if (!id.ok()) return id.error();
        if (id->has_value()) ids.push_back(std::move(**id));
      }
      if (!visible || ids.size() > limit || pks->size() <= asked) return ids;
      asked *= 2;
    }
  }

 private:
  // The id of resource `pk` when it is current and `visible` (if given) permits it.
  base::Result<std::optional<std::string>> PermittedId(int64_t pk, ReadGate* visible) {
    auto stmt = db_.Cached(std::string("SELECT ") + kItemFactsColumns +
                           " FROM resource r JOIN version v ON v.vid = r.vid WHERE r.pk = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, pk);
    auto row = (*stmt)->Step();
    std::optional<std::string> id;
    base::Status status;
    if (!row.ok()) {
      status = row.error();
    } else if (row.value()) {
      bool permitted = true;
      if (visible) {
        auto patient = PatientIdOf((*stmt)->Int(2));
        if (patient.ok()) {
          const std::string type = names_.types.NameOf((*stmt)->Int(0));
          StoredItemBody body(db_, *names_.codec, (*stmt)->Int(kItemFactsVidColumn));
          permitted = visible->Permits(ItemFacts{type, (*stmt)->Text(1), patient.value(),
                                                 (*stmt)->Text(3), (*stmt)->Text(4), &body});
        } else {
          status = patient.error();
        }
      }
      if (status.ok() && permitted) id = std::string((*stmt)->Text(1));
    }
    (*stmt)->Reset();
    if (!status.ok()) return status.error();
    return id;
  }

  base::Result<std::string> PatientIdOf(int64_t pk) {
    if (pk == 0) return std::string();
    auto stmt = db_.Cached("SELECT id FROM resource WHERE pk = ?");
    if (!stmt.ok()) return stmt.error();
    (*stmt)->Bind(1, pk);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    std::string id = row.value() ? std::string((*stmt)->Text(0)) : std::string();
    (*stmt)->Reset();
    return id;
  }

  SqliteConnection& db_;
  const SqliteNames& names_;
};

}  // namespace

std::unique_ptr<TransactionReader> MakeSqliteTransactionReader(SqliteConnection& db,
                                                               const SqliteNames& names) {
  return std::make_unique<SqliteTransactionReader>(db, names);
}

}  // namespace carerecord::store
