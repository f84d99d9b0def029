// _sort on the SQLite store: every match (at most kMaxSorted) gets an order-preserving byte
// encoding of its sort keys, pk last, and pages are cut by key (a keyset cursor), so a page
// boundary stays put while resources are added or removed elsewhere.

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "store/sqlite/sqlite_search_compiler.h"

namespace carerecord::store {
namespace {

using base::ErrorCode;
using base::MakeError;
using fhir::SearchParamType;

// The most matches a sorted search gathers.
constexpr size_t kMaxSorted = 10000;
// The bytes of a text sort key that order it.
constexpr size_t kMaxSortTextBytes = 256;

// An order-preserving byte encoding of sort keys: comparing encoded strings compares the keys.
void EncodeInt(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}
uint64_t OrderedDouble(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return (bits & (uint64_t{1} << 63)) ? ~bits : bits | (uint64_t{1} << 63);
}

std::string ToHex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}
std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// How a sort key's values are read. `by_resource`: one statement per resource, its pk as ?1
// (_id, _lastUpdated, from the resource row). Otherwise one statement per partition, its part
// as ?1, giving (pk, value) rows: an index table's key leads with (param, part), not the pk, so
// reading a partition's rows once serves every match in it, where a probe per match would read
// them all again for each (a Patient sort over the region was quadratic).
struct SortKeyQuery {
  std::string sql;
  bool text = false;
  bool by_resource = false;
};

base::Result<SortKeyQuery> QueryForSortKey(const SqliteNames& names, const SortKey& sort) {
  if (sort.special == SortKey::Special::kId) {
    return SortKeyQuery{"SELECT id FROM resource WHERE pk = ?1", true, true};
  }
  if (sort.special == SortKey::Special::kLastUpdated) {
    return SortKeyQuery{"SELECT last_updated FROM resource WHERE pk = ?1", false, true};
  }
  // Rows of a union parameter are its parts' (see CompileUnion).
  std::string params;
  if (sort.param->union_of.empty()) {
    params = std::to_string(names.ParamId(*sort.param));
  } else {
    for (const fhir::SearchParamDef* part : sort.param->union_of) {
      params += (params.empty() ? "" : ",") + std::to_string(names.ParamId(*part));
    }
  }
  auto query = [&](const std::string& column, const char* table, bool text) {
    return SortKeyQuery{"SELECT pk, " + column + " FROM " + table + " WHERE param IN (" + params +
                            ") AND part = ?1",
                        text, false};
  };
  switch (sort.param->type) {
    case SearchParamType::kDate:
      return query(sort.descending ? "high" : "low", "idx_date", false);
    case SearchParamType::kString:
      return query("value", "idx_string", true);
    case SearchParamType::kToken:
      return query("code", "idx_token", true);
    case SearchParamType::kNumber:
      return query("value", "idx_number", false);
    case SearchParamType::kQuantity:
      return query("value", "idx_quantity", false);
    default:
      return MakeError(ErrorCode::kInvalid,
                       "cannot sort by " + sort.param->code + " (a " +
                           std::string(fhir::SearchParamTypeName(sort.param->type)) + " parameter)",
                       "_sort");
  }
}

// Column `column` of the current row as an order-preserving component of a key.
std::string KeyComponent(SqliteStatement& stmt, int column, bool text, bool descending) {
  std::string component;
  if (text) {
    // A prefix orders strings as well as the whole for all but the longest, which then tie and
    // fall to the pk: keys and cursors stay small whatever a client stored (1 MB names once
    // made a sort take gigabytes and a next link longer than the server accepts).
    component = std::string(stmt.Text(column).substr(0, kMaxSortTextBytes));
    component.push_back('\0');
  } else if (sqlite3_column_type(stmt.raw(), column) == SQLITE_FLOAT) {
    EncodeInt(component, OrderedDouble(stmt.Real(column)));
  } else {
    EncodeInt(component, static_cast<uint64_t>(stmt.Int(column)) ^ (uint64_t{1} << 63));
  }
  if (descending) {
    for (char& ch : component) ch = static_cast<char>(~static_cast<unsigned char>(ch));
  }
  return component;
}

}  // namespace

// The partition (index rows' `part`) of each of `pks`, as the conditions' EXISTS checks take it.
base::Result<std::vector<int64_t>> SearchCompiler::PartsOf(const std::vector<int64_t>& pks) {
  std::vector<int64_t> parts(pks.size(), 0);
  if (spec_.type == "Patient") return parts;  // Patients' rows are all in partition 0
  auto stmt = db_.Cached("SELECT patient_pk FROM resource WHERE pk = ?1");
  if (!stmt.ok()) return stmt.error();
  for (size_t i = 0; i < pks.size(); ++i) {
    (*stmt)->Bind(1, pks[i]);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (row.value()) parts[i] = (*stmt)->Int(0);
    (*stmt)->Reset();
  }
  return parts;
}

base::Result<std::vector<std::string>> SearchCompiler::SortKeys(const std::vector<int64_t>& pks) {
  std::vector<std::string> keys(pks.size());
  std::optional<std::vector<int64_t>> parts;
  std::unordered_map<int64_t, size_t> position;  // pk -> its index in pks
  for (size_t i = 0; i < pks.size(); ++i) position.emplace(pks[i], i);
  for (const SortKey& sort : spec_.sort) {
    auto query = QueryForSortKey(names_, sort);
    if (!query.ok()) return query.error();
    auto stmt = db_.Cached(query->sql);
    if (!stmt.ok()) return stmt.error();
    // Each match's component of this key: the least encoded value of its rows (for a
    // descending key the encoding is inverted, so that is its greatest value); none sorts last.
    std::vector<std::optional<std::string>> components(pks.size());
    if (query->by_resource) {
      for (size_t i = 0; i < pks.size(); ++i) {
        (*stmt)->Bind(1, pks[i]);
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.error();
        if (row.value() && !(*stmt)->IsNull(0)) {
          components[i] = KeyComponent(**stmt, 0, query->text, sort.descending);
        }
        (*stmt)->Reset();
      }
    } else {
      if (!parts) {
        auto read = PartsOf(pks);
        if (!read.ok()) return read.error();
        parts = std::move(read).value();
      }
      std::vector<int64_t> distinct = *parts;
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      for (int64_t part : distinct) {
        (*stmt)->Bind(1, part);
        while (true) {
          auto row = (*stmt)->Step();
          if (!row.ok()) return row.error();
          if (!row.value()) break;
          auto at = position.find((*stmt)->Int(0));
          if (at == position.end() || (*stmt)->IsNull(1)) continue;
          std::string component = KeyComponent(**stmt, 1, query->text, sort.descending);
          auto& best = components[at->second];
          if (!best || component < *best) best = std::move(component);
        }
        (*stmt)->Reset();
      }
    }
    for (size_t i = 0; i < pks.size(); ++i) {
      keys[i].push_back(components[i] ? '\x00' : '\x01');  // resources without the value sort last
      if (components[i]) keys[i] += *components[i];
    }
  }
  for (size_t i = 0; i < pks.size(); ++i) EncodeInt(keys[i], static_cast<uint64_t>(pks[i]));
  return keys;
}

// Sorted: gather every match (bounded), order by encoded keys, and page by key, so a page
// boundary stays put while resources are added or removed elsewhere. Gated, only the permitted
// matches are gathered (and count towards the bound), so every key, page and cursor is one of
// a match the caller may read.
base::Result<PkPage> SearchCompiler::SortedPage(const Sql& query, PkPage page) {
  Sql bounded = query;
  if (!Gated()) bounded.Add(" LIMIT " + std::to_string(kMaxSorted + 1));
  auto gathered = StepPermittedPks(bounded, kMaxSorted + 1);
  if (!gathered.ok()) return gathered.error();
  const std::vector<int64_t>& all = *gathered;
  if (all.size() > kMaxSorted) {
    return MakeError(ErrorCode::kInvalid,
                     "more than " + std::to_string(kMaxSorted) +
                         " matches to sort; narrow the search or drop _sort",
                     "_sort");
  }
  auto sort_keys = SortKeys(all);
  if (!sort_keys.ok()) return sort_keys.error();
  const std::vector<std::string>& keys = *sort_keys;
  std::vector<size_t> order(all.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  size_t start = 0, end = order.size();
  bool backward = false;
  const std::string& cursor = spec_.cursor;
  if (!cursor.empty()) {
    auto key = FromHex(cursor.substr(1));
    if (!key || (cursor[0] != 'n' && cursor[0] != 'p')) {
      return base::Invalid("the paging cursor is not one this server made", "_cursor");
    }
    backward = cursor[0] == 'p';
    auto pos = std::lower_bound(order.begin(), order.end(), *key,
                                [&](size_t i, const std::string& k) { return keys[i] < k; });
    size_t at = pos - order.begin();
    if (backward) {
      end = at;
      start = end > spec_.count ? end - spec_.count : 0;
    } else {
      start = at < order.size() && keys[order[at]] == *key ? at + 1 : at;
    }
  }
  if (!backward) end = std::min(order.size(), start + spec_.count);
  for (size_t i = start; i < end; ++i) {
    page.pks.push_back(all[order[i]]);
    page.cursors_after.push_back("n" + ToHex(keys[order[i]]));
  }
  if (end < order.size() && end > start) page.next_cursor = "n" + ToHex(keys[order[end - 1]]);
  if (start > 0 && end > start) page.previous_cursor = "p" + ToHex(keys[order[start]]);
  return page;
}

}  // namespace carerecord::store
