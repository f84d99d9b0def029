// Runs on every ingested resource, so it walks the key paths the generator compiled from the
// FHIRPath expressions: no expression evaluation, no maps built per call (one binary search for
// the type, one per property of the resource), and strings are copied only into the entries.
#include "fhir/index_extraction.h"

#include <algorithm>
#include <boost/json.hpp>
#include <climits>

#include "fhir/fhir_date.h"
#include "fhir/generated/fhir_tables.h"
#include "fhir/json_number.h"
#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"

namespace carerecord::fhir {
namespace {

namespace gen = generated;
namespace json = boost::json;

struct ReferenceView {
  std::string_view type;
  std::string_view id;
  std::string_view version;
  std::string_view base;  // the server's base URL of an absolute reference; empty if relative
};

// The part of `text` after the last '/', and `text` shortened to before it.
std::string_view PopSegment(std::string_view& text) {
  const size_t slash = text.rfind('/');
  if (slash == std::string_view::npos) {
    std::string_view all = text;
    text = {};
    return all;
  }
  std::string_view last = text.substr(slash + 1);
  text = text.substr(0, slash);
  return last;
}

std::optional<ReferenceView> ParseReferenceView(std::string_view reference) {
  if (reference.empty() || reference.front() == '#' ||
      reference.find('?') != std::string_view::npos) {
    return std::nullopt;  // contained, or a conditional reference a transaction resolves
  }
  std::string_view rest = reference;
  ReferenceView out;
  std::string_view last = PopSegment(rest);
  std::string_view before = PopSegment(rest);
  if (before == "_history") {
    out.version = last;
    last = PopSegment(rest);
    before = PopSegment(rest);
    if (!IsValidId(out.version)) return std::nullopt;
  }
  out.type = before;
  out.id = last;
  if (!IsResourceType(out.type) || !IsValidId(out.id)) return std::nullopt;
  // What is left is empty for a relative reference, or a server's base URL.
  if (!rest.empty() && !rest.starts_with("http://") && !rest.starts_with("https://")) {
    return std::nullopt;
  }
  out.base = rest;
  return out;
}

// A linear scan with an inline compare: the objects read here (Coding, Quantity, Reference) have
// a handful of members, where this beats boost::json's lookup and its memcmp calls.
const json::value* Member(const json::object& object, std::string_view key) {
  for (const json::key_value_pair& member : object) {
    if (gen::KeyEquals(member.key(), key)) return &member.value();
  }
  return nullptr;
}

std::string_view StringAt(const json::object& object, std::string_view key) {
  const json::value* v = Member(object, key);
  if (v == nullptr) return {};
  const json::string* s = IfText(*v);
  return s != nullptr ? std::string_view(*s) : std::string_view();
}

std::optional<double> NumberOf(const json::value* v) {
  return v != nullptr ? NumberValue(*v) : std::nullopt;
}

bool PassesFilter(const json::value& value, const gen::PathStep& step) {
  switch (step.filter) {
    case gen::StepFilter::kNone:
      return true;
    case gen::StepFilter::kResolveIs: {
      const json::object* reference = value.if_object();
      if (reference == nullptr) return false;
      if (auto parsed = ParseReferenceView(StringAt(*reference, "reference"))) {
        return parsed->type == step.arg1;
      }
      return StringAt(*reference, "type") == step.arg1;
    }
    case gen::StepFilter::kChildEquals: {
      const json::object* object = value.if_object();
      return object != nullptr && StringAt(*object, step.arg1) == step.arg2;
    }
  }
  return false;
}

// Emits the entries of one parameter for each value its paths end on.
class EntrySink {
 public:
  explicit EntrySink(IndexEntries& out) : out_(out) {}

  void SetParam(uint32_t param_id, SearchParamType type) {
    param_ = param_id;
    type_ = type;
  }

  void Leaf(const json::value& value, gen::Leaf leaf) {
    switch (type_) {
      case SearchParamType::kToken:
        return Token(value, leaf);
      case SearchParamType::kString:
        return String(value, leaf);
      case SearchParamType::kDate:
        return Date(value, leaf);
      case SearchParamType::kNumber:
        if (auto n = NumberOf(&value)) out_.numbers.push_back({param_, *n});
        return;
      case SearchParamType::kQuantity:
        return Quantity(value, leaf);
      case SearchParamType::kReference:
        return Reference(value, leaf);
      case SearchParamType::kUri:
        if (const json::string* s = IfText(value)) out_.uris.push_back({param_, std::string(*s)});
        return;
      case SearchParamType::kSpecial:
        if (leaf == gen::Leaf::kPosition) Position(value);
        return;
      default:
        return;
    }
  }

  // `Patient.deceased.exists() and Patient.deceased != false` on the object holding deceased[x].
  void ExistsAndNotFalse(const json::object& parent, std::string_view base) {
    bool value = false;
    for (const auto& member : parent) {
      const std::string_view key = member.key();
      if (key.size() > base.size() && key.starts_with(base) && key[base.size()] >= 'A' &&
          key[base.size()] <= 'Z') {
        const bool* flag = member.value().if_bool();
        value = flag == nullptr || *flag;
      }
    }
    out_.tokens.push_back({param_, {}, value ? "true" : "false", {}});
  }

 private:
  void AddToken(std::string_view system, std::string_view code, std::string_view text) {
    out_.tokens.push_back({param_, std::string(system), std::string(code), std::string(text)});
  }

  void Token(const json::value& value, gen::Leaf leaf) {
    if (const json::string* s = IfText(value)) {
      AddToken({}, *s, {});
      return;
    }
    if (const bool* b = value.if_bool()) {
      AddToken({}, *b ? "true" : "false", {});
      return;
    }
    const json::object* object = value.if_object();
    if (object == nullptr) return;
    switch (leaf) {
      case gen::Leaf::kCodeableConcept: {
        // One entry per coding; the concept's text gets its own entry (no system or code)
        // unless a coding's display already carries it, so :text finds either.
        const std::string_view text = StringAt(*object, "text");
        bool text_seen = text.empty();
        if (const json::value* codings = Member(*object, "coding")) {
          if (const json::array* array = codings->if_array()) {
            for (const json::value& coding : *array) {
              if (const json::object* c = coding.if_object()) {
                const std::string_view display = StringAt(*c, "display");
                text_seen = text_seen || display == text;
                AddToken(StringAt(*c, "system"), StringAt(*c, "code"), display);
              }
            }
          }
        }
        if (!text_seen) AddToken({}, {}, text);
        return;
      }
      case gen::Leaf::kCoding:
        AddToken(StringAt(*object, "system"), StringAt(*object, "code"),
                 StringAt(*object, "display"));
        return;
      case gen::Leaf::kIdentifier: {
        std::string_view type_text;
        if (const json::value* type = Member(*object, "type")) {
          if (const json::object* t = type->if_object()) type_text = StringAt(*t, "text");
        }
        std::string_view value = StringAt(*object, "value");
        AddToken(StringAt(*object, "system"), value, type_text);
        AddIdentifierTypes(*object, value);
        return;
      }
      case gen::Leaf::kContactPoint:
        AddToken(StringAt(*object, "system"), StringAt(*object, "value"), {});
        return;
      default:
        return;
    }
  }

  // identifier:of-type=type-system|type-code|value: one entry per coding of Identifier.type.
  void AddIdentifierTypes(const json::object& identifier, std::string_view value) {
    const json::value* type = Member(identifier, "type");
    if (value.empty() || type == nullptr || !type->is_object()) return;
    const json::value* codings = Member(type->get_object(), "coding");
    if (codings == nullptr || !codings->is_array()) return;
    for (const json::value& coding : codings->get_array()) {
      if (!coding.is_object()) continue;
      std::string_view system = StringAt(coding.get_object(), "system");
      std::string_view code = StringAt(coding.get_object(), "code");
      if (system.empty() || code.empty()) continue;
      std::string key;
      key.reserve(system.size() + code.size() + 1);
      key.append(system).push_back('|');
      key.append(code);
      out_.tokens.push_back({param_, std::move(key), std::string(value), {}, true});
    }
  }

  void AddString(std::string_view s) {
    if (!s.empty()) out_.strings.push_back({param_, std::string(s)});
  }

  void AddStrings(const json::object& object, std::string_view key) {
    const json::value* v = Member(object, key);
    if (v == nullptr) return;
    if (const json::string* s = IfText(*v)) return AddString(*s);
    if (const json::array* array = v->if_array()) {
      for (const json::value& item : *array) {
        if (const json::string* s = IfText(item)) AddString(*s);
      }
    }
  }

  void String(const json::value& value, gen::Leaf leaf) {
    if (const json::string* s = IfText(value)) return AddString(*s);
    const json::object* object = value.if_object();
    if (object == nullptr) return;
    if (leaf == gen::Leaf::kHumanName) {
      for (std::string_view key : {"family", "given", "prefix", "suffix", "text"}) {
        AddStrings(*object, key);
      }
    } else if (leaf == gen::Leaf::kAddress) {
      for (std::string_view key :
           {"line", "city", "district", "state", "postalCode", "country", "text"}) {
        AddStrings(*object, key);
      }
    }
  }

  void AddPeriod(const json::object& period) {
    int64_t low = INT64_MIN, high = INT64_MAX;
    const std::string_view start = StringAt(period, "start");
    const std::string_view end = StringAt(period, "end");
    if (start.empty() && end.empty()) return;
    if (!start.empty()) {
      auto range = ParseFhirDate(start);
      if (!range.ok()) return;
      low = range->low_ms;
    }
    if (!end.empty()) {
      auto range = ParseFhirDate(end);
      if (!range.ok()) return;
      high = range->high_ms;
    }
    out_.dates.push_back({param_, low, high});
  }

  void AddDate(std::string_view text) {
    auto range = ParseFhirDate(text);
    if (range.ok()) out_.dates.push_back({param_, range->low_ms, range->high_ms});
  }

  void Date(const json::value& value, gen::Leaf leaf) {
    if (const json::string* s = IfText(value)) return AddDate(*s);
    const json::object* object = value.if_object();
    if (object == nullptr) return;
    if (leaf == gen::Leaf::kPeriod) return AddPeriod(*object);
    if (leaf != gen::Leaf::kTiming) return;
    if (const json::value* events = Member(*object, "event")) {
      if (const json::array* array = events->if_array()) {
        for (const json::value& event : *array) {
          if (const json::string* s = IfText(event)) AddDate(*s);
        }
      }
    }
    if (const json::value* repeat = Member(*object, "repeat")) {
      if (const json::object* r = repeat->if_object()) {
        if (const json::value* bounds = Member(*r, "boundsPeriod")) {
          if (const json::object* period = bounds->if_object()) AddPeriod(*period);
        }
      }
    }
  }

  void AddQuantity(const json::object& quantity) {
    auto value = NumberOf(Member(quantity, "value"));
    if (!value) return;
    out_.quantities.push_back({param_, *value, std::string(StringAt(quantity, "system")),
                               std::string(StringAt(quantity, "code")),
                               std::string(StringAt(quantity, "unit"))});
  }

  void Quantity(const json::value& value, gen::Leaf leaf) {
    const json::object* object = value.if_object();
    if (object == nullptr) return;
    switch (leaf) {
      case gen::Leaf::kQuantity:
        return AddQuantity(*object);
      case gen::Leaf::kMoney: {
        auto amount = NumberOf(Member(*object, "value"));
        if (!amount) return;
        const std::string_view currency = StringAt(*object, "currency");
        out_.quantities.push_back({param_, *amount,
                                   currency.empty() ? std::string() : "urn:iso:std:iso:4217",
                                   std::string(currency), std::string(currency)});
        return;
      }
      case gen::Leaf::kRange:
        // A range is indexed as its two ends, so comparisons match either bound.
        for (std::string_view end : {"low", "high"}) {
          if (const json::value* v = Member(*object, end)) {
            if (const json::object* q = v->if_object()) AddQuantity(*q);
          }
        }
        return;
      default:
        return;
    }
  }

  void Reference(const json::value& value, gen::Leaf leaf) {
    std::string_view reference;
    if (const json::string* s = IfText(value)) {
      reference = *s;  // canonical or uri: the whole URL is the target
      if (!reference.empty()) out_.references.push_back({param_, {}, std::string(reference)});
      return;
    }
    const json::object* object = value.if_object();
    if (object == nullptr) return;
    // Reference.identifier, for reference:identifier searches: a token under this parameter.
    if (const json::value* identifier = Member(*object, "identifier")) {
      if (const json::object* id = identifier->if_object()) {
        std::string_view value = StringAt(*id, "value");
        if (!value.empty()) {
          out_.tokens.push_back(
              {param_, std::string(StringAt(*id, "system")), std::string(value), {}});
        }
      }
    }
    reference = StringAt(*object, "reference");
    if (reference.empty() || reference.front() == '#') return;
    // An absolute reference names a resource on another server (the write path makes this
    // server's own absolute references relative first), so it is indexed by its whole URL.
    if (auto parsed = ParseReferenceView(reference); parsed && parsed->base.empty()) {
      out_.references.push_back({param_, std::string(parsed->type), std::string(parsed->id)});
    } else {
      out_.references.push_back({param_, {}, std::string(reference)});
    }
  }

  // Location.near: a position is a composite row of its latitude (low) and longitude (low2).
  void Position(const json::value& value) {
    const json::object* position = value.if_object();
    if (position == nullptr) return;
    auto latitude = NumberOf(Member(*position, "latitude"));
    auto longitude = NumberOf(Member(*position, "longitude"));
    if (!latitude || !longitude) return;
    out_.composites.push_back(
        {param_, {}, {}, {}, {}, *latitude, *latitude, *longitude, *longitude});
  }

  IndexEntries& out_;
  uint32_t param_ = 0;
  SearchParamType type_ = SearchParamType::kToken;
};

template <typename AtEnd>
void WalkObject(const json::object& object, const gen::PathStep* step, const gen::PathStep* end,
                AtEnd& at_end);

// Hands `value` to `at_end` when the path is done, else follows the rest of it.
template <typename AtEnd>
void WalkValue(const json::value& value, const gen::PathStep* step, const gen::PathStep* end,
               AtEnd& at_end) {
  if (step == end) {
    at_end(value);
  } else if (const json::object* object = value.if_object()) {
    WalkObject(*object, step, end, at_end);
  }
}

// Follows `step..end` (not empty) from `object`, walking arrays element by element.
template <typename AtEnd>
void WalkObject(const json::object& object, const gen::PathStep* step, const gen::PathStep* end,
                AtEnd& at_end) {
  const json::value* child = Member(object, step->key);
  if (child == nullptr) return;
  if (const json::array* array = child->if_array()) {
    for (const json::value& item : *array) {
      if (PassesFilter(item, *step)) WalkValue(item, step + 1, end, at_end);
    }
  } else if (PassesFilter(*child, *step)) {
    WalkValue(*child, step + 1, end, at_end);
  }
}

// Runs `path` from the value of its first step, `child`, found in the resource.
void FollowPath(const json::value& child, const gen::ParamPath& path, EntrySink& sink) {
  const gen::ParamRow& param = gen::kParams[path.param];
  sink.SetParam(path.param, static_cast<SearchParamType>(param.type));
  const gen::PathStep* first = gen::kSteps + path.first_step;
  const gen::PathStep* end = first + path.step_count;
  auto at_end = [&](const json::value& value) {
    if (path.leaf != gen::Leaf::kExistsAndNotFalse) {
      sink.Leaf(value, path.leaf);
    } else if (const json::object* object = value.if_object()) {
      sink.ExistsAndNotFalse(*object, gen::kSteps[path.first_step + path.step_count - 1].key);
    }
  };
  if (path.leaf == gen::Leaf::kExistsAndNotFalse) --end;  // it tests the choice's parent
  if (const json::array* array = child.if_array()) {
    for (const json::value& item : *array) {
      if (PassesFilter(item, *first)) WalkValue(item, first + 1, end, at_end);
    }
  } else if (PassesFilter(child, *first)) {
    WalkValue(child, first + 1, end, at_end);
  }
}

// One component's values, as the parts of a CompositeEntry hold them.
struct ComponentValue {
  std::string system;
  std::string code;
  double low = 0;
  double high = 0;
};

// Reads one component of a composite from its context element.
std::vector<ComponentValue> ReadComponent(const json::object& resource, const json::object& context,
                                          const gen::CompositePart& part, uint32_t param) {
  IndexEntries found;
  EntrySink sink(found);
  const auto type = static_cast<SearchParamType>(gen::kParams[part.definition].type);
  sink.SetParam(param, type);
  for (uint16_t p = 0; p < part.path_count; ++p) {
    const gen::ParamPath& path = gen::kPaths[part.first_path + p];
    const gen::PathStep* first = gen::kSteps + path.first_step;
    auto at_end = [&](const json::value& value) { sink.Leaf(value, path.leaf); };
    WalkObject(part.from_resource ? resource : context, first, first + path.step_count, at_end);
  }
  std::vector<ComponentValue> out;
  switch (type) {
    case SearchParamType::kToken:
      for (TokenEntry& t : found.tokens) {
        if (!t.code.empty() && !t.of_type) out.push_back({std::move(t.system), std::move(t.code)});
      }
      break;
    case SearchParamType::kReference:
      for (ReferenceEntry& r : found.references) {
        std::string key =
            r.target_type.empty() ? std::move(r.target_id) : r.target_type + "/" + r.target_id;
        out.push_back({{}, std::move(key)});
      }
      break;
    case SearchParamType::kQuantity:
      // As idx_quantity: by its code in its system, and by its human unit without a system.
      for (QuantityEntry& q : found.quantities) {
        if (!q.unit.empty() && q.unit != q.code) out.push_back({{}, q.unit, q.value, q.value});
        if (!q.code.empty() || q.unit.empty()) {
          out.push_back({std::move(q.system), std::move(q.code), q.value, q.value});
        }
      }
      break;
    case SearchParamType::kNumber:
      for (const NumberEntry& n : found.numbers) out.push_back({{}, {}, n.value, n.value});
      break;
    case SearchParamType::kDate:
      for (const DateEntry& d : found.dates) {
        out.push_back({{}, {}, static_cast<double>(d.low_ms), static_cast<double>(d.high_ms)});
      }
      break;
    case SearchParamType::kString:
      for (StringEntry& e : found.strings) out.push_back({{}, std::move(e.value)});
      break;
    default:
      break;
  }
  return out;
}

// A composite's entries for one context element: every combination of its components' values
// (an Observation coded in LOINC and SNOMED with one value gives two).
void AddCompositeEntries(const json::object& resource, const json::object& context,
                         const gen::CompositeContext& row, std::vector<CompositeEntry>& out) {
  // An element with more combinations than this (8 codings with 8 values) is not indexed
  // past them; no R4 resource comes near it in practice.
  constexpr size_t kMaxPerContext = 64;
  std::vector<std::vector<ComponentValue>> parts;
  for (uint8_t i = 0; i < row.part_count && i < 3; ++i) {
    parts.push_back(
        ReadComponent(resource, context, gen::kCompositeParts[row.first_part + i], row.param));
    if (parts.back().empty()) return;  // every component must be there
  }
  if (parts.size() < 2) return;
  if (parts.size() == 2) parts.push_back({ComponentValue{}});
  size_t added = 0;
  for (const ComponentValue& key : parts[0]) {
    for (const ComponentValue& second : parts[1]) {
      for (const ComponentValue& third : parts[2]) {
        if (++added > kMaxPerContext) return;
        out.push_back({row.param, key.system, key.code, second.system, second.code, second.low,
                       second.high, third.low, third.high});
      }
    }
  }
}

void ExtractComposites(const json::object& resource, const gen::ResourceTypeRow& type,
                       std::vector<CompositeEntry>& out) {
  for (uint16_t i = 0; i < type.composite_context_count; ++i) {
    const gen::CompositeContext& row = gen::kCompositeContexts[type.first_composite_context + i];
    if (IsUnionParam(row.param)) continue;  // combo-*: searched through its parts' rows
    if (row.step_count == 0) {
      AddCompositeEntries(resource, resource, row, out);
      continue;
    }
    const gen::PathStep* first = gen::kSteps + row.first_step;
    auto at_end = [&](const json::value& value) {
      if (const json::object* context = value.if_object()) {
        AddCompositeEntries(resource, *context, row, out);
      }
    };
    WalkObject(resource, first, first + row.step_count, at_end);
  }
}

}  // namespace

IndexEntries ExtractIndexEntries(const boost::json::object& resource,
                                 std::string_view resource_type) {
  IndexEntries out;
  const gen::ResourceTypeRow* row = gen::FindResourceTypeRow(resource_type);
  if (row == nullptr) return out;
  out.tokens.reserve(8);
  out.references.reserve(4);
  EntrySink sink(out);
  const gen::PathByFirstKey* begin = gen::kPathsByFirstKey + row->first_path_by_key;
  const gen::PathByFirstKey* end = begin + row->path_by_key_count;
  // Tests of a choice element's presence run whatever the resource holds; they sort first.
  for (; begin != end && begin->key.empty(); ++begin) {
    const gen::ParamPath& path = gen::kPaths[begin->path];
    sink.SetParam(path.param, static_cast<SearchParamType>(gen::kParams[path.param].type));
    sink.ExistsAndNotFalse(resource, gen::kSteps[path.first_step].key);
  }
  for (const json::key_value_pair& member : resource) {
    const std::string_view key = member.key();
    const gen::PathByFirstKey* it =
        std::lower_bound(begin, end, key, [](const gen::PathByFirstKey& p, std::string_view k) {
          return gen::LengthFirstLess(p.key, k);
        });
    for (; it != end && gen::KeyEquals(it->key, key); ++it) {
      // A union parameter (combo-code) is searched through its parts' rows.
      if (IsUnionParam(gen::kPaths[it->path].param)) continue;
      FollowPath(member.value(), gen::kPaths[it->path], sink);
    }
  }
  ExtractComposites(resource, *row, out.composites);
  return out;
}

size_t IndexEntryCount(const IndexEntries& entries) {
  return entries.tokens.size() + entries.strings.size() + entries.dates.size() +
         entries.numbers.size() + entries.quantities.size() + entries.references.size() +
         entries.uris.size() + entries.composites.size();
}

std::optional<ParsedReference> ParseReference(std::string_view reference) {
  auto view = ParseReferenceView(reference);
  if (!view) return std::nullopt;
  return ParsedReference{std::string(view->type), std::string(view->id),
                         std::string(view->version)};
}

}  // namespace carerecord::fhir
