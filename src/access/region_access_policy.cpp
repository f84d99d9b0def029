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

ReadDecision RegionAccessPolicy::Decide(const AccessContext& who, const store::ItemFacts& item) {
  constexpr ReadDecision kWithhold = ReadDecision::kWithhold;
  if (FullAccess(who)) return ReadDecision::kAdmit;
  auto role = ParseRole(who.role);
  if (!role) return kWithhold;
  const RegionPolicy& policy = *policy_;
  if (!policy.Of(*role).read_types.count(item.type)) return kWithhold;
  if (!policy.Of(*role).AdmitsCategory(item.type, item.sealing_facts)) return kWithhold;
  const bool outside = OutsidePatientCompartment(item.type);
  const ReadDecision admitted = RecordDecision(who, *role, item);
  if (admitted == kWithhold) return kWithhold;
  if (*role == Role::kPatient) {
    std::string_view own = OwnPatient(who);
    if (!outside && (own.empty() || item.patient_id != own)) return kWithhold;
  }
  return SealingAdmits(who, *role, item) ? admitted : kWithhold;
}

ReadDecision RegionAccessPolicy::RecordDecision(const AccessContext& who, Role role,
                                                const store::ItemFacts& item) {
  // The audit trail is the auditors' to read whatever the relationships (and AuditEvent is the
  // one type of the compartment they read).
  if (!relationships_ || role == Role::kPatient || item.patient_id.empty() ||
      item.type == "AuditEvent") {
    return ReadDecision::kAdmit;
  }
  switch (relationships_->Decide(who, item.patient_id)) {
    case RecordAccess::kOpen:
      return ReadDecision::kAdmit;
    case RecordAccess::kBreakGlass:
      return ReadDecision::kAdmitByBreakGlass;
    case RecordAccess::kClosed:
      break;
  }
  return ReadDecision::kWithhold;
}

bool RegionAccessPolicy::MayWriteInRecordOf(const AccessContext& who, std::string_view patient_id) {
  if (FullAccess(who) || !relationships_ || who.role == RoleName(Role::kPatient)) return true;
  return relationships_->Has(who, patient_id);
}

bool RegionAccessPolicy::SealingAdmits(const AccessContext& who, Role role,
                                       const store::ItemFacts& item) const {
  const RegionPolicy& policy = *policy_;
  if (item.sealing_facts.empty()) return true;
  const bool very_restricted =
      fhir::HasSecurityLabel(item.sealing_facts, fhir::kConfidentialitySystem, "V");
  if (very_restricted || policy.IsProtected(item.sealing_facts)) {
    // Only the author's organisation: an item whose author is not known is opened to no one.
    if (who.organisation.empty() || who.organisation != item.author_organisation) return false;
  }
  if (fhir::HasSecurityLabel(item.sealing_facts, fhir::kConfidentialitySystem, "R") &&
      !policy.restricted_readers.count(role)) {
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
