#include "access/scopes.h"

#include <algorithm>
#include <array>

#include "access/scope_restriction.h"
#include "fhir/search_parameters.h"

namespace carerecord::access {

namespace {

using base::Invalid;

constexpr size_t kMaxScopeBytes = 1024;
constexpr size_t kMaxScopeStringBytes = size_t{16} * 1024;
constexpr size_t kMaxScopes = 256;

constexpr std::array<std::string_view, 8> kOtherScopes = {
    "openid",         "fhirUser",         "profile",        "launch",
    "launch/patient", "launch/encounter", "offline_access", "online_access"};

constexpr std::array<std::pair<ScopePermission, char>, 5> kLetters = {{{kPermitCreate, 'c'},
                                                                       {kPermitRead, 'r'},
                                                                       {kPermitUpdate, 'u'},
                                                                       {kPermitDelete, 'd'},
                                                                       {kPermitSearch, 's'}}};

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding as the search path reads a query: "%7C" is '|', '+' is a space.
base::Result<std::string> DecodeComponent(std::string_view text, std::string_view scope) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      int high = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0 || (high == 0 && low == 0)) {
        return Invalid("scope " + Quoted(scope) +
                       ": a '%' must be followed by two hex digits "
                       "(and not be %00)");
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c == '+' ? ' ' : c);
    }
  }
  return out;
}

bool IsParameterNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':';
}

base::Status ParseRestriction(std::string_view text, std::string_view scope,
                              const std::string& resource_type, ClinicalScope& out) {
  if (text.empty()) return Invalid("scope " + Quoted(scope) + ": nothing after '?'");
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('&', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(start, end - start);
    size_t equals = part.find('=');
    if (part.empty() || equals == 0 || equals == std::string_view::npos ||
        equals + 1 == part.size()) {
      return Invalid("scope " + Quoted(scope) + ": restriction " + Quoted(part) +
                     " must be name=value");
    }
    std::string_view name = part.substr(0, equals);
    if (!std::all_of(name.begin(), name.end(), IsParameterNameChar)) {
      return Invalid("scope " + Quoted(scope) + ": " + Quoted(name) +
                     " is not a search parameter name");
    }
    std::string_view base_name = name.substr(0, name.find(':'));
    std::string_view type = resource_type == "*" ? std::string_view("Resource") : resource_type;
    if (fhir::FindSearchParam(type, base_name) == nullptr) {
      return Invalid("scope " + Quoted(scope) + ": " + Quoted(base_name) +
                     " is not a search parameter of " +
                     (resource_type == "*" ? std::string("every resource type") : resource_type));
    }
    auto value = DecodeComponent(part.substr(equals + 1), scope);
    if (!value.ok()) return value.error();
    out.restrictions.push_back({std::string(name), std::move(value).value()});
    start = end + 1;
  }
  out.restriction_text = std::string(text);
  return base::Status::Ok();
}

base::Result<uint8_t> ParsePermissions(std::string_view letters, std::string_view scope,
                                       bool& is_v1) {
  is_v1 = true;
  if (letters == "read") return uint8_t{kPermitRead | kPermitSearch};
  if (letters == "write") return uint8_t{kPermitCreate | kPermitUpdate | kPermitDelete};
  if (letters == "*") return kAllPermissions;
  is_v1 = false;
  if (letters.empty()) return Invalid("scope " + Quoted(scope) + " names no permission");
  uint8_t permissions = 0;
  size_t next = 0;  // letters must follow c, r, u, d, s, each at most once
  for (char c : letters) {
    size_t at = next;
    while (at < kLetters.size() && kLetters[at].second != c) ++at;
    if (at == kLetters.size()) {
      bool known = std::any_of(kLetters.begin(), kLetters.end(),
                               [c](const auto& letter) { return letter.second == c; });
      return Invalid("scope " + Quoted(scope) + ": " +
                     (known ? "permissions must be written once each in the order c, r, u, d, s"
                            : "'" + std::string(1, c) +
                                  "' is not a permission (c, r, u, d, s; or v1 read, write, *)"));
    }
    permissions |= kLetters[at].first;
    next = at + 1;
  }
  return permissions;
}

// Whether `wide` allows everything `narrow` does.
bool Includes(const ClinicalScope& wide, const ClinicalScope& narrow) {
  if (wide.level != narrow.level) return false;
  if (wide.resource_type != "*" && wide.resource_type != narrow.resource_type) return false;
  if ((narrow.permissions & ~wide.permissions) != 0) return false;
  return std::all_of(wide.restrictions.begin(), wide.restrictions.end(), [&](const auto& r) {
    return std::find(narrow.restrictions.begin(), narrow.restrictions.end(), r) !=
           narrow.restrictions.end();
  });
}

std::optional<ClinicalScope> Intersect(const ClinicalScope& requested,
                                       const ClinicalScope& allowed) {
  if (requested.level != allowed.level) return std::nullopt;
  ClinicalScope out;
  out.level = requested.level;
  if (requested.resource_type == allowed.resource_type || allowed.resource_type == "*") {
    out.resource_type = requested.resource_type;
  } else if (requested.resource_type == "*") {
    out.resource_type = allowed.resource_type;
  } else {
    return std::nullopt;
  }
  out.permissions = requested.permissions & allowed.permissions;
  if (out.permissions == 0) return std::nullopt;
  out.restrictions = requested.restrictions;
  out.restriction_text = requested.restriction_text;
  bool added = false;
  for (const ScopeRestriction& r : allowed.restrictions) {
    if (std::find(out.restrictions.begin(), out.restrictions.end(), r) == out.restrictions.end()) {
      out.restrictions.push_back(r);
      added = true;
    }
  }
  if (added) {
    out.restriction_text = out.restriction_text.empty()
                               ? allowed.restriction_text
                               : out.restriction_text + "&" + allowed.restriction_text;
  }
  out.text = out.SameGrant(requested) ? requested.text : out.V2Text();
  return out;
}

}  // namespace

std::string_view ScopeLevelName(ScopeLevel level) {
  switch (level) {
    case ScopeLevel::kPatient:
      return "patient";
    case ScopeLevel::kUser:
      return "user";
    case ScopeLevel::kSystem:
      return "system";
  }
  return "?";
}

ScopePermission PermissionFor(FhirInteraction interaction) {
  switch (interaction) {
    case FhirInteraction::kRead:
    case FhirInteraction::kVread:
    case FhirInteraction::kHistoryInstance:
      return kPermitRead;
    case FhirInteraction::kSearchType:
    case FhirInteraction::kSearchSystem:
    case FhirInteraction::kHistoryType:
    case FhirInteraction::kHistorySystem:
      return kPermitSearch;
    case FhirInteraction::kCreate:
      return kPermitCreate;
    case FhirInteraction::kUpdate:
    case FhirInteraction::kPatch:
      return kPermitUpdate;
    case FhirInteraction::kDelete:
      return kPermitDelete;
  }
  return kPermitRead;
}

char PermissionLetter(ScopePermission permission) {
  for (auto [bit, letter] : kLetters) {
    if (bit == permission) return letter;
  }
  return '?';
}

std::string ClinicalScope::V2Text() const {
  std::string out = std::string(ScopeLevelName(level)) + "/" + resource_type + ".";
  for (auto [bit, letter] : kLetters) {
    if (permissions & bit) out.push_back(letter);
  }
  if (!restriction_text.empty()) out += "?" + restriction_text;
  return out;
}

bool ClinicalScope::SameGrant(const ClinicalScope& other) const {
  return level == other.level && resource_type == other.resource_type &&
         permissions == other.permissions && restrictions == other.restrictions;
}

bool ScopeDecision::unrestricted() const {
  return std::any_of(allowing.begin(), allowing.end(),
                     [](const ClinicalScope* s) { return s->restrictions.empty(); });
}

base::Result<ClinicalScope> ParseClinicalScope(std::string_view text) {
  if (text.size() > kMaxScopeBytes) {
    return Invalid("a scope is longer than " + std::to_string(kMaxScopeBytes) + " bytes");
  }
  ClinicalScope scope;
  scope.text = std::string(text);
  size_t slash = text.find('/');
  std::string_view level = text.substr(0, slash);
  if (level == "patient") {
    scope.level = ScopeLevel::kPatient;
  } else if (level == "user") {
    scope.level = ScopeLevel::kUser;
  } else if (level == "system") {
    scope.level = ScopeLevel::kSystem;
  } else {
    return Invalid("scope " + Quoted(text) + " must start with patient/, user/ or system/");
  }
  std::string_view rest = text.substr(slash + 1);
  size_t question = rest.find('?');
  std::string_view restriction =
      question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);
  std::string_view resource_and_permissions = rest.substr(0, question);
  size_t dot = resource_and_permissions.rfind('.');
  if (dot == std::string_view::npos) {
    return Invalid("scope " + Quoted(text) +
                   " must be level/ResourceType.permissions (e.g. patient/Observation.rs)");
  }
  std::string_view type = resource_and_permissions.substr(0, dot);
  if (type != "*" && !fhir::IsResourceType(type)) {
    return Invalid("scope " + Quoted(text) + ": " + Quoted(type) +
                   " is not an R4 resource type (nor '*')");
  }
  scope.resource_type = std::string(type);
  bool is_v1 = false;
  auto permissions = ParsePermissions(resource_and_permissions.substr(dot + 1), text, is_v1);
  if (!permissions.ok()) return permissions.error();
  scope.permissions = *permissions;
  if (question != std::string_view::npos) {
    if (is_v1) {
      return Invalid("scope " + Quoted(text) +
                     ": restrictions need v2 permissions (e.g. .rs), not v1's read/write/*");
    }
    CR_RETURN_IF_ERROR(ParseRestriction(restriction, text, scope.resource_type, scope));
  }
  return scope;
}

base::Result<ScopeSet> ScopeSet::Parse(std::string_view text) {
  if (text.size() > kMaxScopeStringBytes) {
    return Invalid("the scope string is longer than " + std::to_string(kMaxScopeStringBytes) +
                   " bytes");
  }
  ScopeSet set;
  size_t count = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view scope = text.substr(start, end - start);
    start = end + 1;
    if (scope.empty()) continue;  // several spaces between scopes
    if (++count > kMaxScopes) {
      return Invalid("more than " + std::to_string(kMaxScopes) + " scopes");
    }
    for (char c : scope) {
      // RFC 6749 3.3: scope tokens are printable ASCII without space, '"' or '\'.
      if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') {
        return Invalid("scope " + Quoted(scope) + " holds a character scopes may not have");
      }
    }
    if (std::find(kOtherScopes.begin(), kOtherScopes.end(), scope) != kOtherScopes.end()) {
      set.AddOther(std::string(scope));
      continue;
    }
    if (scope.find('/') == std::string_view::npos || scope.rfind("launch/", 0) == 0) {
      return Invalid("scope " + Quoted(scope) +
                     " is not one this server knows (SMART clinical "
                     "scopes, openid, fhirUser, profile, launch, launch/patient, "
                     "launch/encounter, offline_access, online_access)");
    }
    auto clinical = ParseClinicalScope(scope);
    if (!clinical.ok()) return clinical.error();
    set.Add(std::move(clinical).value());
  }
  return set;
}

void ScopeSet::Add(ClinicalScope scope) {
  for (const ClinicalScope& existing : clinical_) {
    if (existing.text == scope.text) return;
  }
  clinical_.push_back(std::move(scope));
}

void ScopeSet::AddOther(std::string scope) {
  if (!Has(scope)) other_.push_back(std::move(scope));
}

bool ScopeSet::Has(std::string_view other_scope) const {
  return std::find(other_.begin(), other_.end(), other_scope) != other_.end();
}

ScopeSet ScopeSet::NarrowTo(const ScopeSet& allowed) const {
  std::vector<ClinicalScope> candidates;
  for (const ClinicalScope& requested : clinical_) {
    for (const ClinicalScope& permitted : allowed.clinical_) {
      // A restriction this server cannot enforce is never granted (it would allow nothing).
      auto granted = Intersect(requested, permitted);
      if (granted && !UnenforceableRestriction(*granted)) candidates.push_back(*granted);
    }
  }
  ScopeSet out;
  // A candidate that another includes adds nothing; of two equal ones the first stays.
  std::vector<bool> redundant(candidates.size(), false);
  for (size_t i = 0; i < candidates.size(); ++i) {
    for (size_t j = 0; j < candidates.size() && !redundant[i]; ++j) {
      if (i == j || !Includes(candidates[j], candidates[i])) continue;
      redundant[i] = !Includes(candidates[i], candidates[j]) || j < i;
    }
  }
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (!redundant[i]) out.Add(std::move(candidates[i]));
  }
  for (const std::string& other : other_) {
    if (allowed.Has(other)) out.AddOther(other);
  }
  return out;
}

ScopeDecision ScopeSet::Covers(FhirInteraction interaction, std::string_view resource_type,
                               ScopeLevel level_for_message) const {
  ScopeDecision decision;
  const ScopePermission needed = PermissionFor(interaction);
  for (const ClinicalScope& scope : clinical_) {
    if ((scope.permissions & needed) == 0) continue;
    if (scope.resource_type != "*" && scope.resource_type != resource_type) continue;
    decision.allowing.push_back(&scope);
  }
  decision.allowed = !decision.allowing.empty();
  if (!decision.allowed) {
    decision.missing_scope = std::string(ScopeLevelName(level_for_message)) + "/" +
                             std::string(resource_type) + "." + PermissionLetter(needed);
  }
  return decision;
}

std::string ScopeSet::ToString() const {
  std::string out;
  for (const ClinicalScope& scope : clinical_) {
    if (!out.empty()) out += ' ';
    out += scope.text;
  }
  for (const std::string& other : other_) {
    if (!out.empty()) out += ' ';
    out += other;
  }
  return out;
}

}  // namespace carerecord::access
