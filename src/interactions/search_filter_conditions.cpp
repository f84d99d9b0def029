// _filter as search conditions: each comparison of the expression (search_filter.h) written back
// as an ordinary parameter and parsed like one; a top-level `and` becomes ordinary conditions,
// `or` and `not` a tree of conditions (store::FilterNode).

#include "interactions/search_parser.h"

namespace carerecord::interactions {

using base::Invalid;
using fhir::SearchParamType;
using store::Condition;
using store::Modifier;

namespace {

// The type of the parameter a _filter path (subject:Patient.name) ends on.
base::Result<SearchParamType> FilterPathType(std::string type, std::string_view path) {
  for (int links = 0;; ++links) {
    if (links > kMaxChainLinks) {
      return Invalid("_filter: " + std::string(path.substr(0, 64)) + " chains more than " +
                         std::to_string(kMaxChainLinks) + " references",
                     "_filter");
    }
    const size_t dot = path.find('.');
    std::string_view segment = path.substr(0, dot);
    std::string_view code = segment.substr(0, segment.find(':'));
    const bool last = dot == std::string_view::npos;
    if (last && segment.size() > code.size()) {
      return Invalid("_filter: the operator says how " + std::string(code) +
                         " is compared; a modifier is not used with it",
                     "_filter");
    }
    if (last && code == "_id") return SearchParamType::kToken;
    if (last && code == "_lastUpdated") return SearchParamType::kDate;
    const fhir::SearchParamDef* def = fhir::FindSearchParam(type, code);
    if (def == nullptr || !def->indexed) {
      return Invalid("_filter: '" + std::string(code) + "' is not a search parameter of " + type +
                         " that this server supports",
                     "_filter");
    }
    if (last) return def->type;
    if (def->type != SearchParamType::kReference) {
      return Invalid("_filter: only reference parameters can be chained, not " + def->code,
                     "_filter");
    }
    auto target = ChainTarget(*def, segment.substr(std::min(segment.size(), code.size() + 1)),
                              path.substr(dot + 1), "_filter");
    if (!target.ok()) return target.error();
    type = std::move(target).value();
    path.remove_prefix(dot + 1);
  }
}

}  // namespace

base::Result<Condition> SearchParser::FilterCondition(const std::string& type,
                                                      const FilterExpression& leaf) {
  auto path_type = FilterPathType(type, leaf.path);
  if (!path_type.ok()) return path_type.error();
  auto parameter = FilterLeafAsParameter(leaf, *path_type);
  if (!parameter.ok()) return parameter.error();
  store::SearchSpec one;
  one.type = type;
  CR_RETURN_IF_ERROR(ParseCondition(type, parameter->name, parameter->value, one, false));
  if (one.conditions.size() != 1) {
    return Invalid("_filter: " + leaf.path + " " + leaf.op + " cannot be searched here", "_filter");
  }
  Condition& condition = one.conditions.front();
  // eq on a string is the whole value, as case- and accent-insensitive as any string search
  // (given eq "peter" finds Peter); in a chain, on the innermost condition.
  if (leaf.op == "eq" && *path_type == SearchParamType::kString) {
    Condition* innermost = &condition;
    while (!innermost->values.empty() && innermost->values.front().chain) {
      innermost = &innermost->values.front().chain->conditions.front();
    }
    innermost->modifier = Modifier::kEquals;
  }
  return std::move(condition);
}

base::Result<store::FilterNode> SearchParser::FilterTree(const std::string& type,
                                                         const FilterExpression& e) {
  store::FilterNode node;
  if (e.kind == FilterExpression::Kind::kLeaf) {
    auto condition = FilterCondition(type, e);
    if (!condition.ok()) return condition.error();
    node.condition.push_back(std::move(condition).value());
    return node;
  }
  node.kind = e.kind == FilterExpression::Kind::kAnd  ? store::FilterNode::Kind::kAnd
              : e.kind == FilterExpression::Kind::kOr ? store::FilterNode::Kind::kOr
                                                      : store::FilterNode::Kind::kNot;
  for (const FilterExpression& child : e.children) {
    auto subtree = FilterTree(type, child);
    if (!subtree.ok()) return subtree.error();
    node.children.push_back(std::move(subtree).value());
  }
  return node;
}

// A top-level `and` becomes ordinary conditions, so its parts can drive the search; or / not
// parts become one condition each holding their tree.
base::Status SearchParser::ParseFilterParameter(const std::string& type, std::string_view value,
                                                store::SearchSpec& spec) {
  auto expression = ParseFilter(value);
  if (!expression.ok()) return expression.error();
  std::vector<const FilterExpression*> parts;
  if (expression->kind == FilterExpression::Kind::kAnd) {
    for (const FilterExpression& child : expression->children) parts.push_back(&child);
  } else {
    parts.push_back(&*expression);
  }
  for (const FilterExpression* part : parts) {
    if (part->kind == FilterExpression::Kind::kLeaf) {
      auto condition = FilterCondition(type, *part);
      if (!condition.ok()) return condition.error();
      spec.conditions.push_back(std::move(condition).value());
      continue;
    }
    auto tree = FilterTree(type, *part);
    if (!tree.ok()) return tree.error();
    Condition condition;
    condition.special = Condition::Special::kFilter;
    condition.filter = std::make_shared<store::FilterNode>(std::move(tree).value());
    spec.conditions.push_back(std::move(condition));
  }
  parsed_.applied.emplace_back("_filter", std::string(value));
  return base::Status::Ok();
}

}  // namespace carerecord::interactions
