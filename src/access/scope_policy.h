// What a token's scopes allow one request: the interaction check the HTTP routes make before
// calling an interaction (a 403 naming the missing scope), and ScopeLimitedPolicy, which wraps
// the server's AccessPolicy so that every item a read returns is one the scopes cover: of a type
// a scope may read, matching the scope's search-style restrictions if it has any, and, under a
// patient-level scope, in the token's patient's compartment or in no patient's compartment. Scopes
// narrow what the wrapped policy allows, never widen it. Pure functions; ScopeLimitedPolicy is
// thread-safe when the wrapped policy is.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "access/access_context.h"
#include "access/scopes.h"

namespace carerecord::access {

struct ScopeRefusal {
  std::string missing_scope;  // e.g. "patient/Observation.s"
  std::string message;        // for the OperationOutcome: names the scope and the interaction
};

// Whether `who` may make `interaction` on `resource_type` ("*" for the whole server). A context
// without scopes (the server's own work) may. A scope counts only when it can be honoured:
// a patient-level scope needs the token's patient context, and a scope with search-style
// restrictions needs restrictions this server enforces (scope_restriction.h); one it cannot
// enforce allows nothing rather than everything. A restricted scope allows the interaction; what
// it returns is limited per item (ScopeLimitedPolicy) and what it writes by
// CheckWriteRestrictions.
std::optional<ScopeRefusal> CheckInteractionScope(const AccessContext& who,
                                                  FhirInteraction interaction,
                                                  std::string_view resource_type);

// Whether `who`'s scopes allow this write of `type`/`id` once its resource is known: some scope
// that allows `interaction` (kCreate, kUpdate or kDelete, as the route checked) is unrestricted,
// or both `written` (the JSON to be stored; empty for a delete) and `current` (the current
// version's JSON; empty when there is none) match all its restrictions. The refusal names the
// restricted scopes that did not match. Nothing is parsed unless every such scope is restricted.
std::optional<ScopeRefusal> CheckWriteRestrictions(const AccessContext& who,
                                                   FhirInteraction interaction,
                                                   std::string_view type, std::string_view id,
                                                   std::string_view written,
                                                   std::string_view current);

class ScopeLimitedPolicy final : public AccessPolicy {
 public:
  explicit ScopeLimitedPolicy(AccessPolicy& inner) : inner_(inner) {}
  bool MayRead(const AccessContext& who, const store::ItemFacts& item) override {
    return Decide(who, item) != ReadDecision::kWithhold;
  }
  ReadDecision Decide(const AccessContext& who, const store::ItemFacts& item) override;
  // When the wrapped policy does and a scope reads every type beyond one patient (system/*.rs).
  bool AdmitsEverything(const AccessContext& who) override;
  // When the wrapped policy does, or no honoured scope reads the type.
  bool RefusesType(const AccessContext& who, std::string_view type) override;
  std::optional<std::string> RefuseWrite(const AccessContext& who, std::string_view type) override {
    return inner_.RefuseWrite(who, type);
  }
  std::optional<base::Error> RefuseUnenforceable(const AccessContext& who, std::string_view type,
                                                 std::string_view json) override {
    return inner_.RefuseUnenforceable(who, type, json);
  }
  std::optional<std::string> RefuseObjectionWrite(const AccessContext& who, std::string_view json,
                                                  std::string_view previous) override {
    return inner_.RefuseObjectionWrite(who, json, previous);
  }
  std::optional<std::string> RefuseChangeInRecordOf(const AccessContext& who,
                                                    std::string_view patient_id,
                                                    std::string_view type,
                                                    std::string_view author_organisation) override {
    return inner_.RefuseChangeInRecordOf(who, patient_id, type, author_organisation);
  }
  std::optional<std::string> RefuseWriteInRecordOf(const AccessContext& who,
                                                   std::string_view patient_id,
                                                   std::string_view type) override {
    return inner_.RefuseWriteInRecordOf(who, patient_id, type);
  }
  bool OpensOnlyByBreakGlass(const AccessContext& who, std::string_view patient_id) override {
    return inner_.OpensOnlyByBreakGlass(who, patient_id);
  }

 private:
  AccessPolicy& inner_;
};

}  // namespace carerecord::access
