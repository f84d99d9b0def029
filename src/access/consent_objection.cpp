#include "access/consent_objection.h"

#include <boost/json.hpp>

#include "fhir/index_extraction.h"

namespace carerecord::access {
namespace {

namespace json = boost::json;

constexpr std::string_view kConsentScopeSystem =
    "http://terminology.hl7.org/CodeSystem/consentscope";

std::string_view Text(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value && value->is_string() ? std::string_view(value->as_string()) : std::string_view();
}

const json::object* Object(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value ? value->if_object() : nullptr;
}

// The objects of an array member (or the one object it holds), with their index.
template <typename Visit>
void EachObject(const json::object& object, std::string_view key, Visit&& visit) {
  const json::value* value = object.if_contains(key);
  if (!value) return;
  if (const json::object* one = value->if_object()) {
    visit(*one, size_t{0});
  } else if (const json::array* many = value->if_array()) {
    for (size_t i = 0; i < many->size(); ++i) {
      if (const json::object* each = (*many)[i].if_object()) visit(*each, i);
    }
  }
}

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
  if (Text(provision, "type") == "deny") return true;
  bool found = false;
  EachObject(provision, "provision",
             [&](const json::object& nested, size_t) { found = found || HasDeny(nested); });
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
  if (const json::object* identifier = Object(reference, "identifier")) {
    if (Text(*identifier, "system") == kOdsSystem && !Text(*identifier, "value").empty()) {
      out.emplace_back(Text(*identifier, "value"));
      return out;
    }
  }
  auto [type, id] = LiteralTarget(Text(reference, "reference"));
  if (id.empty() || hops > 1) return out;
  if (type != "Organization" && type != "PractitionerRole") return out;
  auto text = lookup(type, id);
  if (!text) return out;
  boost::system::error_code ec;
  json::value parsed = json::parse(*text, ec);
  if (ec || !parsed.is_object()) return out;
  const json::object& resource = parsed.as_object();
  if (type == "Organization") {
    EachObject(resource, "identifier", [&](const json::object& identifier, size_t) {
      if (Text(identifier, "system") == kOdsSystem && !Text(identifier, "value").empty()) {
        out.emplace_back(Text(identifier, "value"));
      }
    });
  } else if (const json::object* organisation = Object(resource, "organization")) {
    out = OrganisationsNamed(*organisation, lookup, hops + 1);
  }
  return out;
}

bool IsObjection(const json::object& consent) {
  if (Text(consent, "status") != "active") return false;
  if (const json::object* scope = Object(consent, "scope")) {
    bool privacy = true;
    EachObject(*scope, "coding", [&](const json::object& coding, size_t) {
      if (Text(coding, "system") == kConsentScopeSystem &&
          Text(coding, "code") != "patient-privacy") {
        privacy = false;
      }
    });
    if (!privacy) return false;
  }
  const json::object* provision = Object(consent, "provision");
  return provision != nullptr && HasDeny(*provision);
}

std::optional<base::Error> UnenforceableObjection(const json::object& consent,
                                                  const ResourceLookup& lookup) {
  if (!IsObjection(consent)) return std::nullopt;
  const json::object* patient = Object(consent, "patient");
  auto named = patient ? fhir::ParseReference(Text(*patient, "reference")) : std::nullopt;
  if (!named || named->type != "Patient") {
    return Unenforceable(
        "Consent.patient",
        "it names its patient by no literal reference (Patient/ID), so it closes no record. "
        "Give patient.reference; in a transaction Bundle a conditional reference "
        "(Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>) finds the patient "
        "by NHS number");
  }
  const json::object& provision = *Object(consent, "provision");
  if (Text(provision, "type") != "deny") {
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
  std::optional<base::Error> problem;
  EachObject(provision, "actor", [&](const json::object& actor, size_t i) {
    if (problem) return;
    const std::string where = "Consent.provision.actor[" + std::to_string(i) + "].reference";
    const json::object* reference = Object(actor, "reference");
    const json::object* identifier = reference ? Object(*reference, "identifier") : nullptr;
    if (identifier && Text(*identifier, "system") == kOdsSystem &&
        !IsOdsCode(Text(*identifier, "value"))) {
      problem = Unenforceable(
          where + ".identifier.value",
          "'" + std::string(Text(*identifier, "value")) +
              "' is not an ODS code as organisations are known here (upper-case letters and "
              "digits), so it would refuse no organisation");
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
