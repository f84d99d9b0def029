// _text and _content: matched in the stored bodies of the candidates other conditions find,
// through an SQL function, since the text of every resource is not indexed.
#include <boost/json/parse.hpp>

#include "fhir/resource_text.h"
#include "store/body_codec.h"
#include "store/sqlite_search_internal.h"

namespace carerecord::store {
namespace {

void TextMatch(sqlite3_context* context, int argc, sqlite3_value** argv) {
  if (argc != 3 || sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_int(context, 0);  // a deleted version has no body
    return;
  }
  const auto* codec = static_cast<const BodyCodec*>(sqlite3_user_data(context));
  std::string_view stored(static_cast<const char*>(sqlite3_value_blob(argv[0])),
                          static_cast<size_t>(sqlite3_value_bytes(argv[0])));
  auto json = codec->Decode(stored);
  if (!json.ok()) {
    sqlite3_result_error(context, json.error().message.c_str(), -1);
    return;
  }
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(*json, ec);
  if (ec || !body.is_object()) {
    sqlite3_result_error(context, "a stored body does not parse", -1);
    return;
  }
  const bool content = sqlite3_value_int(argv[1]) != 0;
  const std::string text = content ? fhir::ContentSearchText(body.as_object())
                                   : fhir::NarrativeSearchText(body.as_object());
  std::string_view query(reinterpret_cast<const char*>(sqlite3_value_text(argv[2])),
                         static_cast<size_t>(sqlite3_value_bytes(argv[2])));
  sqlite3_result_int(context, fhir::TextMatchesAllWords(text, query) ? 1 : 0);
}

}  // namespace

base::Status RegisterTextMatch(SqliteConnection& db, const BodyCodec& codec) {
  const int rc = sqlite3_create_function_v2(
      db.raw(), "cr_text_match", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
      const_cast<BodyCodec*>(&codec), TextMatch, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return db.LastError("registering cr_text_match");
  return base::Status::Ok();
}

CompiledCondition CompileTextMatch(const Condition& c) {
  CompiledCondition out;
  out.has_part_column = false;
  out.rank = 99;
  const char* mode = c.special == Condition::Special::kContent ? "1" : "0";
  std::string ors;
  for (const SearchValue& v : c.values) {
    if (!ors.empty()) ors += " OR ";
    ors += std::string("cr_text_match((SELECT v.body FROM version v WHERE v.vid = r.vid), ") +
           mode + ", ?)";
    out.binds.push_back(v.text);
  }
  out.where = "(" + ors + ")";
  return out;
}

}  // namespace carerecord::store
