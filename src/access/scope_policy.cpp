#include "access/scope_policy.h"

#include "access/scope_restriction.h"

namespace carerecord::access {

namespace {

ScopeLevel LevelForMessages(const AccessContext& who) {
  if (!who.patient.empty()) return ScopeLevel::kPatient;
  return who.kind == PrincipalKind::kClient ? ScopeLevel::kSystem : ScopeLevel::kUser;
}

// A scope this server can honour for `who`: see CheckInteractionScope.
bool Honoured(const ClinicalScope& scope, const AccessContext& who) {
  if (scope.level == ScopeLevel::kPatient && who.patient.empty()) return false;
  return scope.restrictions.empty() || !UnenforceableRestriction(scope);
}

// Whether `scope` reads `item` for `who` on the item's facts (type, level, patient), its
// restrictions aside.
bool ReadsItem(const ClinicalScope& scope, const AccessContext& who, const store::ItemFacts& item) {
  if ((scope.permissions & (kPermitRead | kPermitSearch)) == 0) return false;
  if (scope.resource_type != "*" && scope.resource_type != item.type) return false;
  if (!Honoured(scope, who)) return false;
  return scope.level != ScopeLevel::kPatient || item.patient_id.empty() ||
         item.patient_id == who.patient;
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
    std::string why;
    for (const ClinicalScope* scope : decision.allowing) {
      if (scope->level == ScopeLevel::kPatient && who.patient.empty()) {
        why = "a patient-level scope needs a patient context";
      } else if (auto unenforceable = UnenforceableRestriction(*scope)) {
        why = *unenforceable;
      }
    }
    refusal.message += " (the token's '" + held + "' cannot be used here: " + why + ")";
  }
  return refusal;
}

std::optional<ScopeRefusal> CheckWriteRestrictions(const AccessContext& who,
                                                   FhirInteraction interaction,
                                                   std::string_view type, std::string_view id,
                                                   std::string_view written,
                                                   std::string_view current) {
  if (!who.scopes) return std::nullopt;
  ScopeDecision decision = who.scopes->Covers(interaction, type, LevelForMessages(who));
  std::vector<const ClinicalScope*> restricted;
  for (const ClinicalScope* scope : decision.allowing) {
    if (!Honoured(*scope, who)) continue;
    if (scope->restrictions.empty()) return std::nullopt;
    restricted.push_back(scope);
  }
  if (restricted.empty()) return std::nullopt;  // CheckInteractionScope refused it already
  store::ItemBodyText written_body(written), current_body(current);
  RestrictedItem written_item(type, id, &written_body), current_item(type, id, &current_body);
  std::string held;
  for (const ClinicalScope* scope : restricted) {
    if ((written.empty() || written_item.Matches(*scope)) &&
        (current.empty() || current_item.Matches(*scope))) {
      return std::nullopt;
    }
    held += (held.empty() ? "'" : ", '") + scope->text + "'";
  }
  ScopeRefusal refusal;
  refusal.missing_scope = restricted.front()->text;
  const std::string what =
      written.empty()   ? "the current version of " + std::string(type) + "/" + std::string(id)
      : current.empty() ? "the " + std::string(type) + " written"
                        : "the " + std::string(type) + " written or its current version";
  refusal.message = "the access token's scope " + held + " does not allow this write: " + what +
                    " does not match the scope's restriction";
  return refusal;
}

bool ScopeLimitedPolicy::AdmitsEverything(const AccessContext& who) {
  if (!inner_.AdmitsEverything(who)) return false;
  if (!who.scopes) return true;
  for (const ClinicalScope& scope : who.scopes->clinical()) {
    if (scope.resource_type == "*" && (scope.permissions & (kPermitRead | kPermitSearch)) != 0 &&
        scope.level != ScopeLevel::kPatient && scope.restrictions.empty() && Honoured(scope, who)) {
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
    // An unrestricted scope admits the item on its facts alone; only when none does are the
    // restricted ones asked, and the item's body read (once, for all of them).
    bool covered = false, restricted = false;
    for (const ClinicalScope& scope : who.scopes->clinical()) {
      if (!ReadsItem(scope, who, item)) continue;
      if (!scope.restrictions.empty()) {
        restricted = true;
        continue;
      }
      covered = true;
      break;
    }
    if (!covered && restricted) {
      RestrictedItem restricted_item(item);
      for (const ClinicalScope& scope : who.scopes->clinical()) {
        if (scope.restrictions.empty() || !ReadsItem(scope, who, item)) continue;
        if (restricted_item.Matches(scope)) {
          covered = true;
          break;
        }
      }
    }
    if (!covered) return ReadDecision::kWithhold;
  }
  return inner_.Decide(who, item);
}

}  // namespace carerecord::access
