// The region's policy (region_policy.h) decided per item: the role may read the item's type; a
// patient reads only their own compartment; an R item only by restricted_readers roles; a V
// item or one with a protected code only by users and clients of the organisation that wrote
// its first version. The server's own work (no kind) and `integration` clients see everything.
// Composed inside ScopeLimitedPolicy, so a token's scopes narrow it and never widen it.
// Thread-safe: it holds the immutable policy and a thread-safe relationship source.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "access/access_context.h"
#include "access/region_policy.h"

namespace carerecord::access {

// Whether a staff user's organisation has a care relationship with a patient (from the record,
// a declaration or break-glass): the next step of issue 20 plugs its answer in here, asked per
// patient and cached per request by the implementation. None given: not yet enforced.
class CareRelationships {
 public:
  virtual ~CareRelationships() = default;
  virtual bool Has(const AccessContext& who, std::string_view patient_id) = 0;
};

class RegionAccessPolicy final : public AccessPolicy {
 public:
  explicit RegionAccessPolicy(std::shared_ptr<const RegionPolicy> policy,
                              CareRelationships* relationships = nullptr)
      : policy_(std::move(policy)), relationships_(relationships) {}

  bool MayRead(const AccessContext& who, const store::ItemFacts& item) override;
  bool AdmitsEverything(const AccessContext& who) override { return FullAccess(who); }
  // A role that may not read the type (or no role the policy knows).
  bool RefusesType(const AccessContext& who, std::string_view type) override;
  std::optional<std::string> RefuseWrite(const AccessContext& who, std::string_view type) override;

  const RegionPolicy& policy() const { return *policy_; }

  // The server's own work and integration clients: every item, every type.
  static bool FullAccess(const AccessContext& who) {
    return !who.kind || who.role == RoleName(Role::kIntegration);
  }
  // The Patient id a `patient` user acts for: the token's patient context, else fhirUser's.
  static std::string_view OwnPatient(const AccessContext& who);

 private:
  std::shared_ptr<const RegionPolicy> policy_;
  CareRelationships* relationships_;
};

}  // namespace carerecord::access
