// The store's SQL functions and the conditions built on them: _text and _content, matched in the
// stored bodies of the candidates other conditions find (the text of every resource is not
// indexed), and Location near, the great-circle distance to a stored position.
#include <algorithm>
#include <boost/json/parse.hpp>
#include <cmath>

#include "fhir/resource_text.h"
#include "store/body_codec.h"
#include "store/sqlite/sqlite_search_internal.h"

namespace carerecord::store {
namespace {

// Between the values of one _text or _content parameter (a control character: words are
// matched after normalisation, so it never stands in a word).
constexpr char kQuerySeparator = '\x1f';

void TextMatch(sqlite3_context* context, int argc, sqlite3_value** argv) {
  if (argc != 3 || sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_int(context, 0);  // a deleted version has no body
    return;
  }
  // Counted per statement, on the query argument, which is the same for every row.
  auto* read = static_cast<int*>(sqlite3_get_auxdata(context, 2));
  if (read == nullptr) {
    sqlite3_set_auxdata(context, 2, new int(0), [](void* p) { delete static_cast<int*>(p); });
    read = static_cast<int*>(sqlite3_get_auxdata(context, 2));
  }
  if (read != nullptr && ++*read > kMaxTextMatchBodies) {
    sqlite3_result_error(context, kTextMatchTooMany, -1);
    return;
  }
  const auto* codec = static_cast<const BodyCodec*>(sqlite3_user_data(context));
  std::string_view stored(static_cast<const char*>(sqlite3_value_blob(argv[0])),
                          static_cast<size_t>(sqlite3_value_bytes(argv[0])));
  auto body = codec->DecodeObject(stored);
  if (!body.ok()) {
    sqlite3_result_error(context, body.error().message.c_str(), -1);
    return;
  }
  const bool content = sqlite3_value_int(argv[1]) != 0;
  const std::string text =
      content ? fhir::ContentSearchText(*body) : fhir::NarrativeSearchText(*body);
  std::string_view queries(reinterpret_cast<const char*>(sqlite3_value_text(argv[2])),
                           static_cast<size_t>(sqlite3_value_bytes(argv[2])));
  // The values of one parameter are ORed, and passed together so the body is read once.
  bool match = false;
  while (!match) {
    const size_t end = queries.find(kQuerySeparator);
    match = fhir::TextMatchesAllWords(text, queries.substr(0, end));
    if (end == std::string_view::npos) break;
    queries.remove_prefix(end + 1);
  }
  sqlite3_result_int(context, match ? 1 : 0);
}

constexpr double kEarthRadiusKm = 6371.0088;  // the mean radius (IUGG)
constexpr double kRadians = 3.14159265358979323846 / 180;

double DistanceKm(double lat1, double long1, double lat2, double long2) {
  const double dlat = (lat2 - lat1) * kRadians;
  const double dlong = (long2 - long1) * kRadians;
  const double a = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(lat1 * kRadians) * std::cos(lat2 * kRadians) * std::sin(dlong / 2) *
                       std::sin(dlong / 2);
  return 2 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(a)));
}

void Distance(sqlite3_context* context, int argc, sqlite3_value** argv) {
  double v[4];
  for (int i = 0; i < 4 && i < argc; ++i) v[i] = sqlite3_value_double(argv[i]);
  sqlite3_result_double(context, DistanceKm(v[0], v[1], v[2], v[3]));
}

}  // namespace

base::Status RegisterSqlFunctions(SqliteConnection& db, const BodyCodec& codec) {
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
  if (sqlite3_create_function_v2(db.raw(), "cr_text_match", 3, flags,
                                 const_cast<BodyCodec*>(&codec), TextMatch, nullptr, nullptr,
                                 nullptr) != SQLITE_OK ||
      sqlite3_create_function_v2(db.raw(), "cr_distance_km", 4, flags, nullptr, Distance, nullptr,
                                 nullptr, nullptr) != SQLITE_OK) {
    return db.LastError("registering the store's SQL functions");
  }
  return base::Status::Ok();
}

CompiledCondition CompileNear(const Condition& c, int64_t param) {
  CompiledCondition out;
  out.table = "idx_composite x";
  out.rank = 40;
  out.binds.push_back(param);
  std::string ors;
  for (const SearchValue& v : c.values) {
    // A box around the point bounds the rows read; the exact distance decides. The circle's
    // widest longitude is asin(sin d / cos lat) either side; a circle over a pole takes all.
    const double angle = v.distance_km / kEarthRadiusKm;  // radians
    const double dlat = angle / kRadians;
    const double cos_lat = std::cos(v.latitude * kRadians);
    const bool over_pole = v.latitude + dlat >= 90 || v.latitude - dlat <= -90;
    const double ratio = cos_lat > 0 ? std::sin(std::min(angle, 1.5707963267948966)) / cos_lat : 2;
    const double dlong = over_pole || ratio >= 1 ? 360 : std::asin(ratio) / kRadians;
    std::string box = "x.v_low BETWEEN ? AND ?";
    out.binds.emplace_back(std::in_place_type<double>, v.latitude - dlat);
    out.binds.emplace_back(std::in_place_type<double>, v.latitude + dlat);
    if (v.longitude - dlong >= -180 && v.longitude + dlong <= 180) {  // not across 180°
      box += " AND x.w_low BETWEEN ? AND ?";
      out.binds.emplace_back(std::in_place_type<double>, v.longitude - dlong);
      out.binds.emplace_back(std::in_place_type<double>, v.longitude + dlong);
    }
    if (!ors.empty()) ors += " OR ";
    ors += "(" + box + " AND cr_distance_km(?, ?, x.v_low, x.w_low) <= ?)";
    out.binds.emplace_back(std::in_place_type<double>, v.latitude);
    out.binds.emplace_back(std::in_place_type<double>, v.longitude);
    out.binds.emplace_back(std::in_place_type<double>, v.distance_km);
  }
  // Positions are rows whose key columns are all empty: equal to them, the latitude range is a
  // range of the primary key.
  out.where =
      "x.param = ? AND x.key = '' AND x.part = 0 AND x.key_system = 0 AND x.v_code = '' AND "
      "x.v_system = 0 AND (" +
      ors + ")";
  return out;
}

CompiledCondition CompileTextMatch(const Condition& c) {
  CompiledCondition out;
  out.has_part_column = false;
  out.rank = 99;
  const char* mode = c.special == Condition::Special::kContent ? "1" : "0";
  std::string queries;
  for (const SearchValue& v : c.values) {
    if (!queries.empty()) queries.push_back(kQuerySeparator);
    queries += v.text;
  }
  out.where = std::string("cr_text_match((SELECT v.body FROM version v WHERE v.vid = r.vid), ") +
              mode + ", ?)";
  out.binds.push_back(std::move(queries));
  return out;
}

}  // namespace carerecord::store
