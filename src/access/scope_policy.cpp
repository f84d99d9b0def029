#include "access/scope_policy.h"

namespace carerecord::access {

namespace {

ScopeLevel LevelForMessages(const AccessContext& who) {
  if (!who.patient.empty()) return ScopeLevel::kPatient;
  return who.kind == PrincipalKind::kClient ? ScopeLevel::kSystem : ScopeLevel::kUser;
}

// A scope this server can honour for `who`: see CheckInteractionScope.
bool Honoured(const ClinicalScope& scope, const AccessContext& who) {
  if (!scope.restrictions.empty()) return false;
  return scope.level != ScopeLevel::kPatient || !who.patient.empty();
}

}  // namespace

std::optional<ScopeRefusal> CheckInteractionScope(const AccessContext& who,
                                                  FhirInteraction interaction,
                                                  std::string_view resource_type) {
  if (!who.scopes) return std::nullopt;
  ScopeDecision decision = who.scopes->Covers(interaction, resource_type, LevelForMessages(who));
  for (const ClinicalScope* scope : decision.allowing) {
    if (Honoured(*scope, who)) return std::nullopt;
  }
  const ScopePermission needed = PermissionFor(interaction);
  ScopeRefusal refusal;
  refusal.missing_scope = decision.allowed
                              ? std::string(ScopeLevelName(LevelForMessages(who))) + "/" +
                                    std::string(resource_type) + "." + PermissionLetter(needed)
                              : decision.missing_scope;
  refusal.message = "the access token's scopes do not allow this request: it needs the scope '" +
                    refusal.missing_scope + "'";
  if (decision.allowed) {
    std::string held;
    for (const ClinicalScope* scope : decision.allowing) {
      if (!held.empty()) held += ' ';
      held += scope->text;
    }
    refusal.message +=
        " (the token's '" + held + "' cannot be used here: " +
        (who.patient.empty() ? "a patient-level scope needs a patient context, or " : "") +
        "scope restrictions after '?' are not yet enforced by this server)";
  }
  return refusal;
}

bool ScopeLimitedPolicy::AdmitsEverything(const AccessContext& who) {
  if (!inner_.AdmitsEverything(who)) return false;
  if (!who.scopes) return true;
  for (const ClinicalScope& scope : who.scopes->clinical()) {
    if (scope.resource_type == "*" && (scope.permissions & (kPermitRead | kPermitSearch)) != 0 &&
        scope.level != ScopeLevel::kPatient && Honoured(scope, who)) {
      return true;
    }
  }
  return false;
}

bool ScopeLimitedPolicy::RefusesType(const AccessContext& who, std::string_view type) {
  if (inner_.RefusesType(who, type)) return true;
  if (!who.scopes) return false;
  for (const ClinicalScope& scope : who.scopes->clinical()) {
    if ((scope.permissions & (kPermitRead | kPermitSearch)) == 0) continue;
    if (scope.resource_type != "*" && scope.resource_type != type) continue;
    if (Honoured(scope, who)) return false;  // MayRead may let an item through this scope
  }
  return true;
}

ReadDecision ScopeLimitedPolicy::Decide(const AccessContext& who, const store::ItemFacts& item) {
  if (who.scopes) {
    bool covered = false;
    for (const ClinicalScope& scope : who.scopes->clinical()) {
      if ((scope.permissions & (kPermitRead | kPermitSearch)) == 0) continue;
      if (scope.resource_type != "*" && scope.resource_type != item.type) continue;
      if (!Honoured(scope, who)) continue;
      if (scope.level == ScopeLevel::kPatient && !item.patient_id.empty() &&
          item.patient_id != who.patient) {
        continue;
      }
      covered = true;
      break;
    }
    if (!covered) return ReadDecision::kWithhold;
  }
  return inner_.Decide(who, item);
}

}  // namespace carerecord::access
