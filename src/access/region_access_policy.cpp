#include "access/region_access_policy.h"

#include <boost/json.hpp>

#include "access/consent_objection.h"
#include "fhir/index_extraction.h"
#include "fhir/json_read.h"
#include "fhir/patient_facts.h"
#include "fhir/sealing_facts.h"

namespace carerecord::access {

std::string_view RegionAccessPolicy::OwnPatient(const AccessContext& who) {
  if (!who.patient.empty()) return who.patient;
  constexpr std::string_view kPrefix = "Patient/";
  std::string_view user = who.fhir_user;
  if (user.substr(0, kPrefix.size()) == kPrefix) return user.substr(kPrefix.size());
  return {};
}

RegionAccessPolicy::RegionAccessPolicy(std::shared_ptr<const RegionPolicy> policy,
                                       CareRelationships* relationships)
    : policy_(std::move(policy)), relationships_(relationships) {
  for (size_t role = 0; role < reads_patient_data_.size(); ++role) {
    for (const std::string& type : policy_->roles[role].read_types) {
      if (!OutsidePatientCompartment(type) && type != "AuditEvent") {
        reads_patient_data_[role] = true;
        break;
      }
    }
  }
}

ReadDecision RegionAccessPolicy::Decide(const AccessContext& who, const store::ItemFacts& item) {
  constexpr ReadDecision kWithhold = ReadDecision::kWithhold;
  if (FullAccess(who)) return ReadDecision::kAdmit;
  auto role = ParseRole(who.role);
  if (!role) return kWithhold;
  const RegionPolicy& policy = *policy_;
  if (!policy.Of(*role).read_types.count(item.type)) return kWithhold;
  if (!policy.Of(*role).AdmitsCategory(item.type, item.sealing_facts)) return kWithhold;
  // Outside every compartment by type, yet patient data: a Binary is its document's content,
  // and a stored Bundle (a document, a message) may hold anyone's record. A Binary is read as
  // its securityContext is; a Bundle only by those who read everything.
  if (item.type == "Binary") return DecideByContext(who, item);
  if (item.type == "Bundle") return kWithhold;
  const bool outside = OutsidePatientCompartment(item.type);
  // An item of a compartment's type that names no patient by a literal reference (a subject
  // given only by NHS number) is in no record, so no relationship, objection or patient can
  // decide it: staff read it no more than they read a record they may not open.
  if (!outside && item.patient_id.empty() && item.type != "AuditEvent") return kWithhold;
  const ReadDecision admitted =
      outside ? DecideNamedPatients(who, *role, item) : RecordDecision(who, *role, item);
  if (admitted == kWithhold) return kWithhold;
  if (*role == Role::kPatient) {
    std::string_view own = OwnPatient(who);
    if (!outside && (own.empty() || item.patient_id != own)) return kWithhold;
  }
  return SealingAdmits(who, *role, item) ? admitted : kWithhold;
}

ReadDecision RegionAccessPolicy::DecideByContext(const AccessContext& who,
                                                 const store::ItemFacts& item) {
  if (!relationships_ || item.body == nullptr) return ReadDecision::kWithhold;
  auto json = item.body->Json();
  if (!json.ok() || json->empty()) return ReadDecision::kWithhold;
  boost::system::error_code ec;
  boost::json::value binary = boost::json::parse(json.value(), ec);
  if (ec || !binary.is_object()) return ReadDecision::kWithhold;
  const boost::json::value* context = binary.as_object().if_contains("securityContext");
  const boost::json::value* reference =
      context && context->is_object() ? context->as_object().if_contains("reference") : nullptr;
  if (reference == nullptr || !reference->is_string()) return ReadDecision::kWithhold;
  const std::string_view text = reference->as_string();
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || text.find('/', slash + 1) != std::string_view::npos) {
    return ReadDecision::kWithhold;  // only a local Type/id is followed
  }
  const std::string_view type = text.substr(0, slash), id = text.substr(slash + 1);
  if (type == "Binary" || type == "Bundle") return ReadDecision::kWithhold;
  auto facts = relationships_->FactsOf(type, id);
  if (!facts) return ReadDecision::kWithhold;
  store::ItemBodyText body(facts->json);
  const store::ItemFacts standing_for{
      facts->type, facts->id, facts->patient_id, facts->sealing_facts, facts->author_organisation,
      &body};
  // The Binary's own labels hold too: its seal and its context's.
  auto role = ParseRole(who.role);
  if (!role || !SealingAdmits(who, *role, item)) return ReadDecision::kWithhold;
  return Decide(who, standing_for);
}

ReadDecision RegionAccessPolicy::DecideNamedPatients(const AccessContext& who, Role role,
                                                     const store::ItemFacts& item) {
  const fhir::NamedPatients named = fhir::PatientsNamedIn(item.sealing_facts);
  std::vector<std::string_view> patients = named.ids;
  fhir::ResourcePatients from_body;
  if (!named.every_part_looked_at && fhir::HasPatientLines(item.type)) {
    // A version written before the patient lines (or before the unresolved ones): its body says.
    if (item.body == nullptr) return ReadDecision::kWithhold;
    auto json = item.body->Json();
    if (!json.ok()) return ReadDecision::kWithhold;
    if (!json->empty()) {
      boost::system::error_code ec;
      boost::json::value body = boost::json::parse(json.value(), ec);
      if (ec || !body.is_object()) return ReadDecision::kWithhold;
      from_body = fhir::PatientsNamedBy(body.as_object());
      patients.insert(patients.end(), from_body.ids.begin(), from_body.ids.end());
    }
  }
  // A patient named by an NHS number, another identifier or a contained Patient is in no record
  // that could decide: read as a compartment item naming no patient is (integration clients
  // only, who do not come here).
  if (named.unresolved || from_body.unresolved) return ReadDecision::kWithhold;
  if (patients.empty()) return ReadDecision::kAdmit;
  if (!reads_patient_data_[static_cast<size_t>(role)]) return ReadDecision::kWithhold;
  if (role == Role::kPatient) {
    const std::string_view own = OwnPatient(who);
    for (std::string_view patient : patients) {
      if (own.empty() || patient != own) return ReadDecision::kWithhold;
    }
    return ReadDecision::kAdmit;
  }
  ReadDecision decision = ReadDecision::kAdmit;
  for (std::string_view patient : patients) {
    const store::ItemFacts in_record{
        item.type, item.id, patient, item.sealing_facts, item.author_organisation, item.body};
    switch (RecordDecision(who, role, in_record)) {
      case ReadDecision::kWithhold:
        return ReadDecision::kWithhold;
      case ReadDecision::kAdmitByBreakGlass:
        decision = ReadDecision::kAdmitByBreakGlass;
        break;
      case ReadDecision::kAdmit:
        break;
    }
  }
  return decision;
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
    case RecordAccess::kDeclared:
      return ReadDecision::kAdmit;
    case RecordAccess::kBreakGlass:
      return ReadDecision::kAdmitByBreakGlass;
    case RecordAccess::kClosed:
      break;
  }
  return ReadDecision::kWithhold;
}

std::optional<std::string> RegionAccessPolicy::RefuseWriteInRecordOf(const AccessContext& who,
                                                                     std::string_view patient_id,
                                                                     std::string_view type) {
  return RefuseInRecordOf(who, patient_id, type, nullptr);
}

std::optional<std::string> RegionAccessPolicy::RefuseChangeInRecordOf(
    const AccessContext& who, std::string_view patient_id, std::string_view type,
    std::string_view author_organisation) {
  return RefuseInRecordOf(who, patient_id, type, &author_organisation);
}

std::optional<std::string> RegionAccessPolicy::RefuseInRecordOf(
    const AccessContext& who, std::string_view patient_id, std::string_view type,
    const std::string_view* author_organisation) {
  if (FullAccess(who) || !relationships_ || who.role == RoleName(Role::kPatient)) {
    return std::nullopt;
  }
  const std::string under_grant =
      "a declared relationship or break-glass opens the record of Patient/" +
      std::string(patient_id) + " to you alone: under it you may ";
  switch (relationships_->Decide(who, patient_id)) {
    case RecordAccess::kOpen:
      return std::nullopt;
    case RecordAccess::kDeclared:
    case RecordAccess::kBreakGlass:
      if (MakesTiesOrObjection(type)) {
        return under_grant + "not " + (author_organisation ? "change or delete " : "write ") +
               std::string(type) +
               " (Patient, Encounter, EpisodeOfCare, CareTeam, ServiceRequest and Consent make "
               "or close the organisation's access; they need a care relationship found in the "
               "record)";
      }
      if (author_organisation == nullptr ||
          (!who.organisation.empty() && *author_organisation == who.organisation)) {
        return std::nullopt;
      }
      return under_grant +
             "add to the record, and change or delete only what your "
             "organisation wrote; this " +
             std::string(type) +
             " was written by another organisation (changing or deleting it needs a care "
             "relationship found in the record)";
    case RecordAccess::kClosed:
      break;
  }
  // One text whether the patient exists or not (the record of one that does not is open to no
  // one).
  return "you may not write in the record of Patient/" + std::string(patient_id) +
         ": your organisation has no care relationship with this patient that lets you open it "
         "($declare-relationship, or $break-glass in an emergency)";
}

bool RegionAccessPolicy::OpensOnlyByBreakGlass(const AccessContext& who,
                                               std::string_view patient_id) {
  if (FullAccess(who) || !relationships_ || who.role == RoleName(Role::kPatient)) return false;
  return relationships_->Decide(who, patient_id) == RecordAccess::kBreakGlass;
}

namespace {

// The first of a Patient's links whose other patient is not named by a literal reference to a
// Patient of this server. References to this server's own base are stored relative
// (write_preparation.cpp), so an absolute URL here is another server's.
std::optional<base::Error> UnresolvableLink(std::string_view json) {
  if (json.find("\"link\"") == std::string_view::npos) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value patient = boost::json::parse(json, ec);
  if (ec || !patient.is_object()) return std::nullopt;  // validated before
  std::optional<base::Error> problem;
  fhir::EachObjectMember(
      patient.as_object(), "link", [&](const boost::json::object& link, size_t i) {
        if (problem) return;
        const boost::json::object* other = fhir::ObjectMember(link, "other");
        const std::string_view reference = other ? fhir::TextMember(*other, "reference") : "";
        auto parsed = fhir::ParseReference(reference);
        if (parsed && parsed->type == "Patient" &&
            reference.find("://") == std::string_view::npos) {
          return;
        }
        // What names the other patient instead, when no reference does.
        std::string named = "'" + std::string(reference) + "'";
        if (reference.empty()) {
          named = other && other->contains("identifier") ? "one named by identifier"
                  : other && other->contains("display")  ? "one named by display only"
                                                         : "one with no reference";
        }
        problem = base::MakeError(
            base::ErrorCode::kUnprocessable,
            "a link between patients must name its other patient by a literal reference to a "
            "Patient of this server (Patient/ID): " +
                named +
                " does not, so the access policy could not tell whose record the link is in, nor "
                "whether you may write there. Links between sources' patients are the patient "
                "index's (integration clients) to make",
            "Patient.link[" + std::to_string(i) + "].other");
      });
  return problem;
}

}  // namespace

std::optional<base::Error> RegionAccessPolicy::RefuseUnenforceable(const AccessContext& who,
                                                                   std::string_view type,
                                                                   std::string_view json) {
  if (!relationships_) return std::nullopt;
  if (type == "Patient" && !FullAccess(who)) return UnresolvableLink(json);
  if (type != "Consent") return std::nullopt;
  boost::system::error_code ec;
  boost::json::value consent = boost::json::parse(json, ec);
  if (ec || !consent.is_object()) return std::nullopt;  // validated before; nothing to enforce
  const ResourceLookup lookup = [this](std::string_view target_type,
                                       std::string_view id) -> std::optional<std::string> {
    auto facts = relationships_->FactsOf(target_type, id);
    if (!facts) return std::nullopt;
    return std::move(facts->json);
  };
  return UnenforceableObjection(consent.as_object(), lookup);
}

std::optional<std::string> RegionAccessPolicy::RefuseObjectionWrite(const AccessContext& who,
                                                                    std::string_view json,
                                                                    std::string_view previous) {
  if (FullAccess(who) || !relationships_) return std::nullopt;
  for (std::string_view text : {json, previous}) {
    if (text.empty()) continue;
    boost::system::error_code ec;
    boost::json::value consent = boost::json::parse(text, ec);
    if (ec || !consent.is_object() || !IsObjection(consent.as_object())) continue;
    const boost::json::value* patient = consent.as_object().if_contains("patient");
    const boost::json::value* reference =
        patient && patient->is_object() ? patient->as_object().if_contains("reference") : nullptr;
    auto named = reference && reference->is_string() ? fhir::ParseReference(reference->as_string())
                                                     : std::nullopt;
    const std::string patient_id = named && named->type == "Patient" ? named->id : "";
    if (who.role == RoleName(Role::kPatient)) {
      if (!patient_id.empty() && OwnPatient(who) == patient_id) continue;
    } else if (!patient_id.empty() && !who.organisation.empty() &&
               relationships_->KeepsRecordOf(who.organisation, patient_id)) {
      continue;
    }
    return std::string(
               "only the patient, their GP practice or managing organisation, or an integration "
               "client may record, change or withdraw a patient's objection to sharing their "
               "record (an active patient-privacy Consent with a deny)") +
           (patient_id.empty() ? std::string()
                               : "; your organisation is not the GP practice or managing "
                                 "organisation of Patient/" +
                                     patient_id);
  }
  return std::nullopt;
}

bool RegionAccessPolicy::MakesTiesOrObjection(std::string_view type) {
  return type == "Patient" || type == "Encounter" || type == "EpisodeOfCare" ||
         type == "CareTeam" || type == "ServiceRequest" || type == "Consent";
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
