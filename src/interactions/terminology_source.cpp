#include "interactions/terminology_source.h"

#include <algorithm>

#include "fhir/fhir_date.h"
#include "fhir/json_read.h"
#include "interactions/fhir_json.h"
#include "interactions/search_request.h"

namespace carerecord::interactions {

namespace json = boost::json;
using fhir::StringMember;

namespace {

// More versions of one url than this is not a terminology store this server expects.
constexpr size_t kMaxVersions = 1000;

base::Result<store::SearchSpec> UrlSearch(std::string_view type, std::string_view url) {
  std::string value;  // one value, even with a comma in it
  for (char c : url) {
    if (c == ',' || c == '\\') value.push_back('\\');
    value.push_back(c);
  }
  auto parsed = ParseSearch(type, {{"url", value}}, /*strict=*/true);
  if (!parsed.ok()) return parsed.error();
  parsed->spec.count = kMaxVersions;
  return std::move(parsed->spec);
}

base::Result<json::object> ParseStored(const std::string& text) {
  auto value = ParseJson(text);
  if (!value.ok()) return value.error();
  if (!value->is_object()) return base::MakeError(base::ErrorCode::kInternal, "a stored body");
  return std::move(value->as_object());
}

class SessionSource final : public TerminologySource {
 public:
  explicit SessionSource(store::ReadSession& session) : session_(session) {}
  base::Result<std::vector<json::object>> FindByUrl(std::string_view type,
                                                    std::string_view url) override {
    auto spec = UrlSearch(type, url);
    if (!spec.ok()) return spec.error();
    auto page = session_.Search(spec.value());
    if (!page.ok()) return page.error();
    std::vector<json::object> out;
    for (const store::StoredResource& r : page->matches) {
      auto object = ParseStored(r.json);
      if (!object.ok()) return object.error();
      out.push_back(std::move(object).value());
    }
    return out;
  }
  base::Result<std::optional<json::object>> FindById(std::string_view type,
                                                     std::string_view id) override {
    auto read = session_.Read(type, id);
    if (!read.ok()) {
      base::ErrorCode code = read.error().code;
      if (code == base::ErrorCode::kNotFound || code == base::ErrorCode::kGone) {
        return std::optional<json::object>();
      }
      return read.error();
    }
    auto object = ParseStored(read->json);
    if (!object.ok()) return object.error();
    return std::optional<json::object>(std::move(object).value());
  }

 private:
  store::ReadSession& session_;
};

class TransactionSource final : public TerminologySource {
 public:
  explicit TransactionSource(store::TransactionReader& reader) : reader_(reader) {}
  base::Result<std::vector<json::object>> FindByUrl(std::string_view type,
                                                    std::string_view url) override {
    auto spec = UrlSearch(type, url);
    if (!spec.ok()) return spec.error();
    auto ids = reader_.MatchIds(spec.value(), kMaxVersions);
    if (!ids.ok()) return ids.error();
    std::vector<json::object> out;
    for (const std::string& id : ids.value()) {
      auto found = FindById(type, id);
      if (!found.ok()) return found.error();
      if (found.value()) out.push_back(std::move(*found.value()));
    }
    return out;
  }
  base::Result<std::optional<json::object>> FindById(std::string_view type,
                                                     std::string_view id) override {
    auto current = reader_.Current(type, id);
    if (!current.ok()) return current.error();
    if (current->version == 0 || current->deleted) return std::optional<json::object>();
    auto object = ParseStored(current->json);
    if (!object.ok()) return object.error();
    return std::optional<json::object>(std::move(object).value());
  }

 private:
  store::TransactionReader& reader_;
};

// "1.10.0" as {1, 10, 0}; nullopt unless every part is digits.
std::optional<std::vector<int64_t>> NumericVersion(std::string_view version) {
  std::vector<int64_t> parts{0};
  if (version.empty() || version.size() > 60) return std::nullopt;
  for (char c : version) {
    if (c == '.') {
      parts.push_back(0);
    } else if (c >= '0' && c <= '9' && parts.back() < (int64_t{1} << 40)) {
      parts.back() = parts.back() * 10 + (c - '0');
    } else {
      return std::nullopt;
    }
  }
  return parts;
}

int64_t LastUpdated(const json::object& resource) {
  const json::value* meta = resource.if_contains("meta");
  if (!meta || !meta->is_object()) return 0;
  auto range = fhir::ParseFhirDate(StringMember(meta->as_object(), "lastUpdated"));
  return range.ok() ? range->low_ms : 0;
}

// Picks the most recent of several versions of one canonical resource (see FindCanonical).
json::object& Latest(std::vector<json::object>& candidates) {
  bool numeric = std::all_of(candidates.begin(), candidates.end(), [](const json::object& r) {
    return NumericVersion(StringMember(r, "version")).has_value();
  });
  auto older = [numeric](const json::object& a, const json::object& b) {
    if (numeric) {
      auto va = *NumericVersion(StringMember(a, "version"));
      auto vb = *NumericVersion(StringMember(b, "version"));
      if (va != vb) return va < vb;
    }
    return LastUpdated(a) < LastUpdated(b);
  };
  return *std::max_element(candidates.begin(), candidates.end(), older);
}

}  // namespace

std::unique_ptr<TerminologySource> ReadSessionTerminology(store::ReadSession& session) {
  return std::make_unique<SessionSource>(session);
}

std::unique_ptr<TerminologySource> TransactionReaderTerminology(store::TransactionReader& reader) {
  return std::make_unique<TransactionSource>(reader);
}

base::Result<std::optional<json::object>> FindCanonical(TerminologySource& source,
                                                        std::string_view type,
                                                        std::string_view reference) {
  std::string prefix = std::string(type) + "/";
  if (reference.substr(0, prefix.size()) == prefix &&
      reference.find_first_of(":|", prefix.size()) == std::string_view::npos) {
    return source.FindById(type, reference.substr(prefix.size()));
  }
  size_t bar = reference.find('|');
  std::string_view url = reference.substr(0, bar);
  auto candidates = source.FindByUrl(type, url);
  if (!candidates.ok()) return candidates.error();
  if (bar != std::string_view::npos) {
    std::string_view version = reference.substr(bar + 1);
    std::erase_if(candidates.value(),
                  [&](const json::object& r) { return StringMember(r, "version") != version; });
  }
  if (candidates->empty()) return std::optional<json::object>();
  return std::optional<json::object>(std::move(Latest(candidates.value())));
}

}  // namespace carerecord::interactions
