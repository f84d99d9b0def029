// The patient's objection as the access policy reads it from a Consent (issue 20): which
// organisations a reference names (an ODS identifier, an Organization, a PractitionerRole's
// organisation), and whether a Consent that objects says only what the policy enforces, so that
// an objection it cannot enforce is refused when written instead of being kept and ignored.
// Pure functions over a lookup; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace carerecord::access {

inline constexpr std::string_view kOdsSystem = "https://fhir.nhs.uk/Id/ods-organization-code";

// A resource of the store by "Type/id": the JSON text, or none when not known.
using ResourceLookup =
    std::function<std::optional<std::string>(std::string_view type, std::string_view id)>;

// The ODS codes a Reference names: its ODS identifier, or by literal reference an Organization's
// ODS identifiers or a PractitionerRole's organisation's (two hops at most).
std::vector<std::string> OrganisationsNamed(const boost::json::object& reference,
                                            const ResourceLookup& lookup, int hops = 0);

// Whether a Consent is one the policy reads as an objection: active, of the patient-privacy scope
// (a coding http://terminology.hl7.org/CodeSystem/consentscope|patient-privacy, and no other code
// of that system; the same code under another system is not it), with a deny in its provisions.
// Any other Consent is an ordinary item of the record and closes nothing.
bool IsObjection(const boost::json::object& consent);

// Why the policy could not enforce `consent`, an objection, as written (a 422 naming the element
// and saying what is enforced), or nothing when it can or it is no objection. Enforced: a
// patient named by a literal reference; the deny in the top-level provision, with no nested
// provisions and nothing that narrows it (class, purpose, action, code, securityLabel, data,
// dataPeriod; a period is enforced) and no modifier extension; actors that are organisations
// by an upper-case ODS identifier, an Organization with one, or a PractitionerRole of one. An
// active deny whose scope is patient-privacy and another consentscope code is refused too.
std::optional<base::Error> UnenforceableObjection(const boost::json::object& consent,
                                                  const ResourceLookup& lookup);

}  // namespace carerecord::access
