#include "interactions/search_filter.h"

#include <algorithm>
#include <cctype>

namespace carerecord::interactions {
namespace {

using base::Invalid;

class FilterParser {
 public:
  explicit FilterParser(std::string_view text) : text_(text) {}

  base::Result<FilterExpression> Parse() {
    auto expression = Or();
    if (!expression.ok()) return expression;
    SkipSpace();
    if (at_ < text_.size()) return Error("unexpected '" + std::string(Rest(12)) + "'");
    return expression;
  }

 private:
  static constexpr int kMaxDepth = 32;
  // Each comparison is a condition of its own, as a parameter of the query is.
  static constexpr int kMaxComparisons = 100;

  base::Result<FilterExpression> Or() { return Chain("or", FilterExpression::Kind::kOr); }
  base::Result<FilterExpression> And() { return Chain("and", FilterExpression::Kind::kAnd); }

  // operand (word operand)*, with `word` the logical operator of this level.
  base::Result<FilterExpression> Chain(std::string_view word, FilterExpression::Kind kind) {
    auto first = word == "or" ? And() : Unary();
    if (!first.ok()) return first;
    FilterExpression out;
    out.kind = kind;
    out.children.push_back(std::move(first).value());
    while (TakeWord(word)) {
      auto next = word == "or" ? And() : Unary();
      if (!next.ok()) return next;
      out.children.push_back(std::move(next).value());
    }
    if (out.children.size() == 1) return std::move(out.children.front());
    return out;
  }

  base::Result<FilterExpression> Unary() {
    if (++depth_ > kMaxDepth) return Error("nested too deeply");
    base::Result<FilterExpression> out = Primary();
    --depth_;
    return out;
  }

  base::Result<FilterExpression> Primary() {
    SkipSpace();
    if (TakeWord("not")) {
      SkipSpace();
      if (!Take('(')) return Error("'not' takes a filter in parentheses");
      auto inner = Group();
      if (!inner.ok()) return inner;
      FilterExpression out;
      out.kind = FilterExpression::Kind::kNot;
      out.children.push_back(std::move(inner).value());
      return out;
    }
    if (Take('(')) return Group();
    return Comparison();
  }

  // After '(': a filter and its ')'.
  base::Result<FilterExpression> Group() {
    auto inner = Or();
    if (!inner.ok()) return inner;
    SkipSpace();
    if (!Take(')')) return Error("a '(' is not closed");
    return inner;
  }

  base::Result<FilterExpression> Comparison() {
    if (++comparisons_ > kMaxComparisons) {
      return Error("more than " + std::to_string(kMaxComparisons) + " comparisons");
    }
    std::string path = Word();
    if (path.empty()) return Error("expected a search parameter");
    if (path.find('[') != std::string::npos) {
      return Error("paths with a [filter] (" + path + ") are not supported by this server");
    }
    std::string op = Word();
    SkipSpace();
    auto value = Value();
    if (!value.ok()) return value.error();
    static const char* kOperators[] = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "co",
                                       "sw", "ew", "pr", "po", "ss", "sb", "in", "ni", "re"};
    if (std::find(std::begin(kOperators), std::end(kOperators), op) == std::end(kOperators)) {
      return Error("'" + op + "' is not a filter operator");
    }
    FilterExpression out;
    out.path = std::move(path);
    out.op = std::move(op);
    out.value = std::move(value).value();
    return out;
  }

  base::Result<std::string> Value() {
    if (!Take('"')) {
      std::string token = Word();
      if (token.empty()) return Error("expected a value");
      return token;
    }
    std::string out;
    while (at_ < text_.size() && text_[at_] != '"') {
      if (text_[at_] == '\\' && at_ + 1 < text_.size()) ++at_;
      out.push_back(text_[at_++]);
    }
    if (!Take('"')) return Error("a quoted value is not closed");
    return out;
  }

  // Non-space characters up to a parenthesis that closes a group.
  std::string Word() {
    SkipSpace();
    size_t start = at_;
    while (at_ < text_.size() && !std::isspace(static_cast<unsigned char>(text_[at_])) &&
           text_[at_] != ')' && text_[at_] != '(') {
      ++at_;
    }
    return std::string(text_.substr(start, at_ - start));
  }

  bool TakeWord(std::string_view word) {
    SkipSpace();
    if (text_.substr(at_, word.size()) != word) return false;
    size_t end = at_ + word.size();
    if (end < text_.size() && !std::isspace(static_cast<unsigned char>(text_[end])) &&
        text_[end] != '(') {
      return false;
    }
    at_ = end;
    return true;
  }

  bool Take(char c) {
    SkipSpace();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }

  void SkipSpace() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }

  std::string_view Rest(size_t n) const { return text_.substr(at_, n); }

  base::Error Error(const std::string& what) const {
    return Invalid("_filter at character " + std::to_string(at_ + 1) + ": " + what, "_filter");
  }

  std::string_view text_;
  size_t at_ = 0;
  int depth_ = 0;
  int comparisons_ = 0;
};

// Commas, dollars and backslashes are the query syntax's own: escaped so a value stays one.
std::string EscapeValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\' || c == '$') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

base::Result<FilterExpression> ParseFilter(std::string_view text) {
  return FilterParser(text).Parse();
}

base::Result<FilterParameter> FilterLeafAsParameter(const FilterExpression& leaf,
                                                    fhir::SearchParamType type) {
  using T = fhir::SearchParamType;
  const std::string& op = leaf.op;
  const std::string value = EscapeValue(leaf.value);
  const bool ordered = type == T::kNumber || type == T::kDate || type == T::kQuantity;
  auto as = [&](std::string suffix, std::string v) {
    return FilterParameter{leaf.path + suffix, std::move(v)};
  };
  if (op == "pr") {
    if (leaf.value != "true" && leaf.value != "false") {
      return Invalid("_filter: pr takes true or false", "_filter");
    }
    return as(":missing", leaf.value == "true" ? "false" : "true");
  }
  if (ordered && op != "co" && op != "sw" && op != "ew" && op != "po" && op != "ss" && op != "sb" &&
      op != "in" && op != "ni" && op != "re") {
    return as("", op + value);
  }
  if (op == "eq") return as("", value);  // a string's eq: the search parser makes it whole
  if (op == "ne" && type == T::kToken) return as(":not", value);
  if (op == "co" && type == T::kString) return as(":contains", value);
  if (op == "sw" && type == T::kString) return as("", value);
  if (op == "re" && type == T::kReference) return as("", value);
  if ((op == "in" || op == "ni") && type == T::kToken) {
    return as(op == "in" ? ":in" : ":not-in", value);
  }
  if ((op == "sb" || op == "ss") && (type == T::kToken || type == T::kUri)) {
    return as(op == "sb" ? ":below" : ":above", value);
  }
  return Invalid("_filter: " + leaf.path + " (a " + std::string(fhir::SearchParamTypeName(type)) +
                     " parameter) does not take " + op + " here",
                 "_filter");
}

}  // namespace carerecord::interactions
