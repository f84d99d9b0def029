#include "access/consent_objection.h"

#include <boost/json.hpp>
#include <utility>

#include "fhir/index_extraction.h"
#include "fhir/json_read.h"

namespace carerecord::access {
namespace {

namespace json = boost::json;

constexpr std::string_view kConsentScopeSystem =
    "http://terminology.hl7.org/CodeSystem/consentscope";

// "Organization/ID" from a relative or absolute literal reference (the server stores its own
// references relative); a version suffix is dropped.
std::pair<std::string_view, std::string_view> LiteralTarget(std::string_view reference) {
  if (const size_t history = reference.find("/_history/"); history != std::string_view::npos) {
    reference = reference.substr(0, history);
  }
  const size_t id_at = reference.rfind('/');
  if (id_at == std::string_view::npos || id_at == 0) return {};
  const size_t type_at = reference.rfind('/', id_at - 1);
  const std::string_view type =
      reference.substr(type_at == std::string_view::npos ? 0 : type_at + 1,
                       id_at - (type_at == std::string_view::npos ? 0 : type_at + 1));
  return {type, reference.substr(id_at + 1)};
}

bool HasDeny(const json::object& provision) {
  if (fhir::TextMember(provision, "type") == "deny") return true;
  bool found = false;
  fhir::EachObjectMember(provision, "provision", [&](const json::object& nested, size_t) {
    found = found || HasDeny(nested);
  });
  return found;
}

// ODS codes are upper-case letters and digits; ties match them exactly.
bool IsOdsCode(std::string_view code) {
  if (code.empty()) return false;
  for (char c : code) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

base::Error Unenforceable(std::string location, std::string why) {
  return base::MakeError(base::ErrorCode::kUnprocessable,
                         "this Consent objects to sharing the record (an active patient-privacy "
                         "Consent with a deny), but the access policy could not enforce it as "
                         "written: " +
                             why,
                         std::move(location));
}

}  // namespace

std::vector<std::string> OrganisationsNamed(const json::object& reference,
                                            const ResourceLookup& lookup, int hops) {
  std::vector<std::string> out;
  if (const json::object* identifier = fhir::ObjectMember(reference, "identifier")) {
    if (fhir::TextMember(*identifier, "system") == kOdsSystem &&
        !fhir::TextMember(*identifier, "value").empty()) {
      out.emplace_back(fhir::TextMember(*identifier, "value"));
      return out;
    }
  }
  auto [type, id] = LiteralTarget(fhir::TextMember(reference, "reference"));
  if (id.empty() || hops > 1) return out;
  if (type != "Organization" && type != "PractitionerRole") return out;
  auto text = lookup(type, id);
  if (!text) return out;
  boost::system::error_code ec;
  json::value parsed = json::parse(*text, ec);
  if (ec || !parsed.is_object()) return out;
  const json::object& resource = parsed.as_object();
  if (type == "Organization") {
    fhir::EachObjectMember(resource, "identifier", [&](const json::object& identifier, size_t) {
      if (fhir::TextMember(identifier, "system") == kOdsSystem &&
          !fhir::TextMember(identifier, "value").empty()) {
        out.emplace_back(fhir::TextMember(identifier, "value"));
      }
    });
  } else if (const json::object* organisation = fhir::ObjectMember(resource, "organization")) {
    out = OrganisationsNamed(*organisation, lookup, hops + 1);
  }
  return out;
}

namespace {

// What a Consent's scope says, by its consentscope codings: a coding with code `patient-privacy`
// under another system is not read as one (any system may use that word for anything).
struct ConsentScope {
  bool privacy = false;  // http://terminology.hl7.org/CodeSystem/consentscope|patient-privacy
  bool other = false;    // another code of that system (research, treatment, adr)
};
ConsentScope ScopeOf(const json::object& consent) {
  ConsentScope scope;
  if (const json::object* scope_concept = fhir::ObjectMember(consent, "scope")) {
    fhir::EachObjectMember(*scope_concept, "coding", [&](const json::object& coding, size_t) {
      if (fhir::TextMember(coding, "system") != kConsentScopeSystem) return;
      (fhir::TextMember(coding, "code") == "patient-privacy" ? scope.privacy : scope.other) = true;
    });
  }
  return scope;
}

bool ActiveWithDeny(const json::object& consent) {
  if (fhir::TextMember(consent, "status") != "active") return false;
  const json::object* provision = fhir::ObjectMember(consent, "provision");
  return provision != nullptr && HasDeny(*provision);
}

// The elements of a provision that narrow what it denies to some data, purpose or action: the
// policy enforces an objection to the whole record (or to named organisations) only.
constexpr std::pair<std::string_view, std::string_view> kNarrowingElements[] = {
    {"class", "some types of resource"},
    {"purpose", "some purposes of use"},
    {"action", "some actions"},
    {"code", "items of some codes"},
    {"securityLabel", "items of some security labels"},
    {"data", "some items"},
    {"dataPeriod", "data of some period"},
};

}  // namespace

bool IsObjection(const json::object& consent) {
  const ConsentScope scope = ScopeOf(consent);
  return scope.privacy && !scope.other && ActiveWithDeny(consent);
}

std::optional<base::Error> UnenforceableObjection(const json::object& consent,
                                                  const ResourceLookup& lookup) {
  if (const ConsentScope scope = ScopeOf(consent);
      scope.privacy && scope.other && ActiveWithDeny(consent)) {
    return Unenforceable(
        "Consent.scope",
        "its scope is patient-privacy and another consentscope code at once, so whether it is "
        "an objection to sharing cannot be told. Give one scope: patient-privacy for an "
        "objection");
  }
  if (!IsObjection(consent)) return std::nullopt;
  if (consent.contains("modifierExtension")) {
    return Unenforceable("Consent.modifierExtension",
                         "a modifier extension may change what the Consent means, and none is "
                         "understood here");
  }
  const json::object* patient = fhir::ObjectMember(consent, "patient");
  auto named =
      patient ? fhir::ParseReference(fhir::TextMember(*patient, "reference")) : std::nullopt;
  if (named && named->type == "Patient" &&
      fhir::TextMember(*patient, "reference").find("://") != std::string_view::npos) {
    // This server's own URLs are stored relative (write_preparation.cpp): this is another's.
    return Unenforceable(
        "Consent.patient.reference",
        "it names a patient on another server (" +
            std::string(fhir::TextMember(*patient, "reference")) +
            "), whose record is not kept here, so it closes no record. Give the patient of "
            "this server as Patient/ID");
  }
  if (!named || named->type != "Patient") {
    return Unenforceable(
        "Consent.patient",
        "it names its patient by no literal reference (Patient/ID), so it closes no record. "
        "Give patient.reference; in a transaction Bundle a conditional reference "
        "(Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>) finds the patient "
        "by NHS number");
  }
  const json::object& provision = *fhir::ObjectMember(consent, "provision");
  if (fhir::TextMember(provision, "type") != "deny") {
    return Unenforceable(
        "Consent.provision.type",
        "its deny is in a nested provision, and only the top-level provision is enforced. Put "
        "the deny in Consent.provision (type deny, with the refused organisations as its actors, "
        "or none to refuse every organisation but the GP practice)");
  }
  if (provision.contains("provision")) {
    return Unenforceable(
        "Consent.provision.provision",
        "nested provisions (exceptions to the deny) are not enforced: the deny would apply to "
        "them too. Write the objection as one top-level provision, naming as its actors only "
        "the organisations refused");
  }
  for (const auto& [element, what] : kNarrowingElements) {
    if (!provision.contains(element)) continue;
    return Unenforceable(
        "Consent.provision." + std::string(element),
        "its deny is limited to " + std::string(what) + " (provision." + std::string(element) +
            "), and the policy enforces an objection only to the whole record: to every "
            "organisation but the GP practice, or to the organisations named as actors, for the "
            "provision's period. Enforced as a whole-record objection it would refuse more than "
            "the patient objected to. Seal the items concerned instead (meta.security), or write "
            "the objection without provision." +
            std::string(element));
  }
  if (provision.contains("modifierExtension")) {
    return Unenforceable("Consent.provision.modifierExtension",
                         "a modifier extension may change what the provision means, and none is "
                         "understood here");
  }
  std::optional<base::Error> problem;
  fhir::EachObjectMember(provision, "actor", [&](const json::object& actor, size_t i) {
    if (problem) return;
    const std::string where = "Consent.provision.actor[" + std::to_string(i) + "].reference";
    const json::object* reference = fhir::ObjectMember(actor, "reference");
    const json::object* identifier =
        reference ? fhir::ObjectMember(*reference, "identifier") : nullptr;
    if (identifier && fhir::TextMember(*identifier, "system") == kOdsSystem &&
        !IsOdsCode(fhir::TextMember(*identifier, "value"))) {
      problem = Unenforceable(
          where + ".identifier.value",
          "'" + std::string(fhir::TextMember(*identifier, "value")) +
              "' is not an ODS code as organisations are known here (upper-case letters and "
              "digits), so it would refuse no organisation");
      return;
    }
    if (reference &&
        fhir::TextMember(*reference, "reference").find("://") != std::string_view::npos) {
      problem = Unenforceable(
          where,
          "'" + std::string(fhir::TextMember(*reference, "reference")) +
              "' is another server's resource, and organisations are known here by their ODS "
              "code: give the actor as an ODS identifier (system " +
              std::string(kOdsSystem) + ") or an Organization/ID of this server");
      return;
    }
    if (!reference || OrganisationsNamed(*reference, lookup).empty()) {
      problem = Unenforceable(
          where,
          "the actor names no organisation. An objection refuses organisations: give each "
          "actor as an ODS identifier (system " +
              std::string(kOdsSystem) +
              "), an Organization/ID with one, or a PractitionerRole/ID (its organisation); "
              "practitioners, patients, related persons and care teams are not enforced");
    }
  });
  return problem;
}

}  // namespace carerecord::access
