#include "access/region_access_policy.h"

#include "fhir/sealing_facts.h"

namespace carerecord::access {

std::string_view RegionAccessPolicy::OwnPatient(const AccessContext& who) {
  if (!who.patient.empty()) return who.patient;
  constexpr std::string_view kPrefix = "Patient/";
  std::string_view user = who.fhir_user;
  if (user.substr(0, kPrefix.size()) == kPrefix) return user.substr(kPrefix.size());
  return {};
}

bool RegionAccessPolicy::MayRead(const AccessContext& who, const store::ItemFacts& item) {
  if (FullAccess(who)) return true;
  auto role = ParseRole(who.role);
  if (!role) return false;
  const RegionPolicy& policy = *policy_;
  if (!policy.Of(*role).read_types.count(item.type)) return false;
  if (!policy.Of(*role).AdmitsCategory(item.type, item.sealing_facts)) return false;
  const bool outside = OutsidePatientCompartment(item.type);
  if (*role == Role::kPatient) {
    std::string_view own = OwnPatient(who);
    if (!outside && (own.empty() || item.patient_id != own)) return false;
  } else if (relationships_ && !item.patient_id.empty() &&
             !relationships_->Has(who, item.patient_id)) {
    return false;
  }
  if (item.sealing_facts.empty()) return true;
  const bool very_restricted =
      fhir::HasSecurityLabel(item.sealing_facts, fhir::kConfidentialitySystem, "V");
  if (very_restricted || policy.IsProtected(item.sealing_facts)) {
    // Only the author's organisation: an item whose author is not known is opened to no one.
    if (who.organisation.empty() || who.organisation != item.author_organisation) return false;
  }
  if (fhir::HasSecurityLabel(item.sealing_facts, fhir::kConfidentialitySystem, "R") &&
      !policy.restricted_readers.count(*role)) {
    return false;
  }
  return true;
}

bool RegionAccessPolicy::RefusesType(const AccessContext& who, std::string_view type) {
  if (FullAccess(who)) return false;
  auto role = ParseRole(who.role);
  return !role || !policy_->Of(*role).read_types.count(type);
}

std::optional<std::string> RegionAccessPolicy::RefuseWrite(const AccessContext& who,
                                                           std::string_view type) {
  if (FullAccess(who)) return std::nullopt;
  auto role = ParseRole(who.role);
  if (!role) {
    return "the role '" + who.role + "' is not one the access policy knows, so it may not write";
  }
  if (policy_->Of(*role).write_types.count(type)) return std::nullopt;
  return "the role '" + who.role + "' may not write " + std::string(type) +
         " resources (the access policy's roles." + who.role + ".write)";
}

}  // namespace carerecord::access
