#include "interactions/terminology_expansion.h"

#include <boost/json/array.hpp>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "fhir/code_system_hierarchy.h"
#include "fhir/json_number.h"
#include "fhir/json_read.h"

namespace carerecord::interactions {
namespace {

using fhir::StringMember;

namespace json = boost::json;
using base::Invalid;
using store::Modifier;
using store::TokenSet;

constexpr size_t kMaxValueSetDepth = 32;
// ValueSets read for one request: stored ValueSets are anyone's to write, and must not make one
// search read without end.
constexpr size_t kMaxValueSetLookups = 1000;

// The objects of an array member, skipping anything else.
std::vector<const json::object*> ObjectsAt(const json::object& object, std::string_view key) {
  std::vector<const json::object*> out;
  const json::value* value = object.if_contains(key);
  if (!value || !value->is_array()) return out;
  for (const json::value& item : value->as_array()) {
    if (item.is_object()) out.push_back(&item.as_object());
  }
  return out;
}

std::optional<int64_t> IntAt(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  const std::optional<double> number = value ? fhir::NumberValue(*value) : std::nullopt;
  if (!number || *number != std::floor(*number) || std::abs(*number) > 9e15) return std::nullopt;
  return static_cast<int64_t>(*number);
}

base::Error TooLarge(const std::string& what) {
  return Invalid(what + " expands to more than " + std::to_string(kMaxExpandedCodes) +
                 " codes: too large to search by");
}

class Expander {
 public:
  explicit Expander(TerminologySource& source) : source_(source) {}

  // :in: the codes of the ValueSet that `reference` names.
  base::Result<TokenSet> ValueSet(const std::string& reference);
  // :below / :above: `code` of `system` and the codes under (or over) it.
  base::Result<TokenSet> Subsumption(const std::string& system, const std::string& code,
                                     bool below);

 private:
  base::Result<TokenSet> Expand(const json::object& value_set, const std::string& name);
  base::Result<std::optional<TokenSet>> FromExpansion(const json::object& value_set,
                                                      const std::string& name);
  base::Result<TokenSet> Include(const json::object& include, const std::string& name);
  base::Result<TokenSet> Filter(const std::string& system, const std::string& version,
                                const json::object& filter, const std::string& name);
  // `consequence` completes "no CodeSystem X is stored on this server, so ...".
  base::Result<const fhir::CodeSystemHierarchy*> Hierarchy(const std::string& system,
                                                           const std::string& version,
                                                           const std::string& consequence);

  TerminologySource& source_;
  std::vector<std::string> path_;  // the ValueSets being expanded, outermost first
  // Each ValueSet is expanded once per request, however often it is named (A including B
  // twice, code:in=A,A).
  std::map<std::string, TokenSet> expanded_;
  size_t lookups_ = 0;
  std::map<std::string, fhir::CodeSystemHierarchy> hierarchies_;
};

base::Result<TokenSet> Expander::ValueSet(const std::string& reference) {
  if (std::find(path_.begin(), path_.end(), reference) != path_.end()) {
    std::string cycle;
    for (const std::string& outer : path_) cycle += outer + " -> ";
    return Invalid("ValueSet " + reference + " includes itself (" + cycle + reference +
                   "), so it cannot be expanded");
  }
  if (path_.size() >= kMaxValueSetDepth) {
    return Invalid("ValueSet " + reference + " is included more than " +
                   std::to_string(kMaxValueSetDepth) + " levels deep");
  }
  if (auto it = expanded_.find(reference); it != expanded_.end()) return it->second;
  if (++lookups_ > kMaxValueSetLookups) {
    return Invalid("expanding ValueSet " + reference + " needs more than " +
                   std::to_string(kMaxValueSetLookups) + " ValueSets, too many for one search");
  }
  auto found = FindCanonical(source_, "ValueSet", reference);
  if (!found.ok()) return found.error();
  if (!found.value()) {
    return Invalid("ValueSet " + reference +
                   " is not stored on this server, and there is no terminology service to "
                   "expand it: store the ValueSet here first");
  }
  path_.push_back(reference);
  auto expanded = Expand(*found.value(), reference);
  path_.pop_back();
  if (expanded.ok()) expanded_.emplace(reference, *expanded);
  return expanded;
}

base::Result<TokenSet> Expander::Expand(const json::object& value_set, const std::string& name) {
  auto listed = FromExpansion(value_set, name);
  if (!listed.ok()) return listed.error();
  if (listed.value()) return std::move(*listed.value());
  const json::value* compose = value_set.if_contains("compose");
  if (!compose || !compose->is_object()) {
    return Invalid("ValueSet " + name +
                   " has neither a complete expansion nor a compose, so it cannot be expanded");
  }
  auto includes = ObjectsAt(compose->as_object(), "include");
  if (includes.empty()) return Invalid("ValueSet " + name + " has no compose.include");
  TokenSet out;
  for (const json::object* include : includes) {
    auto part = Include(*include, name);
    if (!part.ok()) return part.error();
    out.UnionWith(part.value());
    if (out.ListedCodes() > kMaxExpandedCodes) return TooLarge("ValueSet " + name);
  }
  for (const json::object* exclude : ObjectsAt(compose->as_object(), "exclude")) {
    auto part = Include(*exclude, name);
    if (!part.ok()) return part.error();
    out.Subtract(part.value());
    if (out.ListedCodes() > kMaxExpandedCodes) return TooLarge("ValueSet " + name);
  }
  return out;
}

// The stored expansion's codes; nullopt when there is none, or when it is partial (paged or
// truncated) and the compose can be expanded instead.
base::Result<std::optional<TokenSet>> Expander::FromExpansion(const json::object& value_set,
                                                              const std::string& name) {
  const json::value* expansion = value_set.if_contains("expansion");
  if (!expansion || !expansion->is_object()) return std::optional<TokenSet>();
  TokenSet out;
  size_t listed = 0;
  std::vector<const json::object*> pending = ObjectsAt(expansion->as_object(), "contains");
  while (!pending.empty()) {
    const json::object* item = pending.back();
    pending.pop_back();
    for (const json::object* nested : ObjectsAt(*item, "contains")) pending.push_back(nested);
    std::string code = StringMember(*item, "code");
    if (code.empty()) continue;  // a grouping entry, not a code
    std::string system = StringMember(*item, "system");
    if (system.empty()) {
      return Invalid("the expansion of ValueSet " + name + " lists the code " + code +
                     " without a system");
    }
    out.codes.emplace(std::move(system), std::move(code));
    if (++listed > kMaxExpandedCodes) return TooLarge("ValueSet " + name);
  }
  auto total = IntAt(expansion->as_object(), "total");
  auto offset = IntAt(expansion->as_object(), "offset");
  if ((total && *total > static_cast<int64_t>(listed)) || (offset && *offset > 0)) {
    if (value_set.contains("compose")) return std::optional<TokenSet>();
    return Invalid("the stored expansion of ValueSet " + name + " lists " + std::to_string(listed) +
                   " of its " + std::to_string(total.value_or(0)) +
                   " codes and it has no compose to expand instead");
  }
  return std::optional<TokenSet>(std::move(out));
}

// One compose.include (or exclude): its parts (concepts, filters, value sets) all narrow it.
base::Result<TokenSet> Expander::Include(const json::object& include, const std::string& name) {
  std::optional<TokenSet> out;
  auto narrow = [&out](TokenSet part) {
    if (out) {
      out->IntersectWith(part);
    } else {
      out = std::move(part);
    }
  };
  std::string system = StringMember(include, "system");
  if (!system.empty()) {
    auto concepts = ObjectsAt(include, "concept");
    auto filters = ObjectsAt(include, "filter");
    if (!concepts.empty()) {
      TokenSet listed;
      for (const json::object* listed_concept : concepts) {
        std::string code = StringMember(*listed_concept, "code");
        if (!code.empty()) listed.codes.emplace(system, std::move(code));
      }
      narrow(std::move(listed));
    }
    for (const json::object* filter : filters) {
      auto part = Filter(system, StringMember(include, "version"), *filter, name);
      if (!part.ok()) return part.error();
      narrow(std::move(part).value());
    }
    if (concepts.empty() && filters.empty()) {
      TokenSet whole;  // every code of the system
      whole.whole_systems[system];
      narrow(std::move(whole));
    }
  }
  if (const json::value* value_sets = include.if_contains("valueSet");
      value_sets && value_sets->is_array()) {
    for (const json::value& reference : value_sets->as_array()) {
      if (!fhir::IfText(reference)) continue;
      auto part = ValueSet(std::string(*fhir::IfText(reference)));
      if (!part.ok()) return part.error();
      narrow(std::move(part).value());
    }
  }
  if (!out) {
    return Invalid("a compose.include or exclude of ValueSet " + name +
                   " has neither a system nor a valueSet");
  }
  return std::move(*out);
}

base::Result<TokenSet> Expander::Filter(const std::string& system, const std::string& version,
                                        const json::object& filter, const std::string& name) {
  std::string property = StringMember(filter, "property");
  std::string op = StringMember(filter, "op");
  std::string value = StringMember(filter, "value");
  std::string described = "the filter '" + property + " " + op + " " + value + "' on " + system +
                          " in ValueSet " + name;
  if (property != "concept" || (op != "is-a" && op != "descendent-of")) {
    return Invalid(described +
                   " cannot be expanded here: only concept is-a and descendent-of filters on a "
                   "CodeSystem stored in this server can");
  }
  auto hierarchy = Hierarchy(system, version, described + " cannot be expanded here");
  if (!hierarchy.ok()) return hierarchy.error();
  if (!(*hierarchy)->Defines(value)) {
    return Invalid(described + " names a code that CodeSystem " + system + " does not define");
  }
  bool with_self = op == "is-a";
  auto codes = (*hierarchy)->Closure(value, true, kMaxExpandedCodes + (with_self ? 0 : 1));
  if (!codes) return TooLarge(described);
  TokenSet out;
  for (size_t i = with_self ? 0 : 1; i < codes->size(); ++i) out.codes.emplace(system, (*codes)[i]);
  return out;
}

base::Result<TokenSet> Expander::Subsumption(const std::string& system, const std::string& code,
                                             bool below) {
  std::string searched = (below ? ":below " : ":above ") + system + "|" + code;
  auto hierarchy = Hierarchy(system, "", searched + " cannot be searched");
  if (!hierarchy.ok()) return hierarchy.error();
  if (!(*hierarchy)->Defines(code)) {
    return Invalid("the CodeSystem " + system + " stored on this server does not define " + code +
                   ", so " + searched + " cannot be searched");
  }
  auto codes = (*hierarchy)->Closure(code, below, kMaxExpandedCodes);
  if (!codes) return TooLarge(searched);
  TokenSet out;
  for (std::string& related : *codes) out.codes.emplace(system, std::move(related));
  return out;
}

base::Result<const fhir::CodeSystemHierarchy*> Expander::Hierarchy(const std::string& system,
                                                                   const std::string& version,
                                                                   const std::string& consequence) {
  std::string canonical = version.empty() ? system : system + "|" + version;
  if (auto it = hierarchies_.find(canonical); it != hierarchies_.end()) return &it->second;
  auto found = FindCanonical(source_, "CodeSystem", canonical);
  if (!found.ok()) return found.error();
  if (!found.value()) {
    return Invalid("no CodeSystem " + canonical + " is stored on this server, so " + consequence);
  }
  auto hierarchy = fhir::CodeSystemHierarchy::FromResource(*found.value());
  if (!hierarchy.ok()) return hierarchy.error();
  return &hierarchies_.emplace(canonical, std::move(hierarchy).value()).first->second;
}

bool NeedsTerminology(const store::Condition& c) {
  return c.param && c.param->type == fhir::SearchParamType::kToken &&
         (c.modifier == Modifier::kIn || c.modifier == Modifier::kNotIn ||
          c.modifier == Modifier::kAbove || c.modifier == Modifier::kBelow);
}

std::string ParameterName(const store::Condition& c) {
  switch (c.modifier) {
    case Modifier::kIn:
      return c.param->code + ":in";
    case Modifier::kNotIn:
      return c.param->code + ":not-in";
    case Modifier::kAbove:
      return c.param->code + ":above";
    default:
      return c.param->code + ":below";
  }
}

base::Status ExpandConditions(store::SearchSpec& spec, Expander& expander);

base::Status ExpandFilter(store::FilterNode& node, Expander& expander) {
  store::SearchSpec leaves;  // the node's own condition, expanded like a search's
  leaves.conditions = std::move(node.condition);
  base::Status status = ExpandConditions(leaves, expander);
  node.condition = std::move(leaves.conditions);
  CR_RETURN_IF_ERROR(status);
  for (store::FilterNode& child : node.children) CR_RETURN_IF_ERROR(ExpandFilter(child, expander));
  return base::Status::Ok();
}

base::Status ExpandConditions(store::SearchSpec& spec, Expander& expander) {
  for (store::Condition& c : spec.conditions) {
    for (store::SearchValue& v : c.values) {
      if (v.chain) CR_RETURN_IF_ERROR(ExpandConditions(*v.chain, expander));
    }
    if (c.filter) CR_RETURN_IF_ERROR(ExpandFilter(*c.filter, expander));
    if (!NeedsTerminology(c)) continue;
    std::string where = ParameterName(c);
    size_t listed = 0;  // over all values: each is an OR term of one search
    for (store::SearchValue& v : c.values) {
      bool value_set = c.modifier == Modifier::kIn || c.modifier == Modifier::kNotIn;
      auto codes = value_set
                       ? expander.ValueSet(v.text)
                       : expander.Subsumption(v.system, v.code, c.modifier == Modifier::kBelow);
      if (!codes.ok()) {
        base::Error error = codes.error();
        error.location = where;
        return error;
      }
      listed += codes->ListedCodes();
      if (listed > kMaxExpandedCodes) {
        base::Error error = TooLarge(where);
        error.location = where;
        return error;
      }
      v.codes = std::make_shared<const TokenSet>(std::move(codes).value());
    }
  }
  return base::Status::Ok();
}

}  // namespace

base::Status ExpandSearchTerminology(store::SearchSpec& spec, TerminologySource& source) {
  Expander expander(source);
  return ExpandConditions(spec, expander);
}

}  // namespace carerecord::interactions
