#include "http/patient_access_operations.h"

#include <algorithm>
#include <boost/json.hpp>
#include <optional>
#include <vector>

#include "access/roles.h"
#include "access/scope_policy.h"
#include "fhir/fhir_date.h"
#include "interactions/responses.h"

namespace carerecord::http {
namespace {

namespace json = boost::json;
using base::ErrorCode;
using interactions::Response;

constexpr std::string_view kDeclare = "$declare-relationship";
constexpr std::string_view kBreakGlass = "$break-glass";

Response Error(ErrorCode code, std::string message, std::string where = {}) {
  return interactions::FhirService::ErrorResponse(
      base::MakeError(code, std::move(message), std::move(where)));
}

// Only whether the Patient is there: the server's own look, never disclosed beyond a 404.
class ExistenceGate final : public store::ReadGate {
 public:
  bool Admit(const store::ItemFacts&) override { return true; }
  bool Permits(const store::ItemFacts&) override { return true; }
  bool AdmitsEverything() override { return true; }
};

// The code points of valid UTF-8 (Boost.JSON has checked it); nullopt if it is not.
std::optional<std::vector<char32_t>> CodePointsOf(std::string_view text) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t length = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : 4;
    if (i + length > text.size()) return std::nullopt;
    char32_t c = length == 1 ? lead : lead & (0x7f >> length);
    for (size_t k = 1; k < length; ++k) {
      c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
    }
    out.push_back(c);
    i += length;
  }
  return out;
}

bool IsBidiControl(char32_t c) {
  return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

// Shows nothing on screen: controls, whitespace, zero-width and other format characters.
bool IsInvisible(char32_t c) {
  return c <= 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad || c == 0x034f || c == 0x061c ||
         c == 0x115f || c == 0x1160 || c == 0x1680 || c == 0x180e || (c >= 0x2000 && c <= 0x200f) ||
         (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) || c == 0x3000 ||
         c == 0x3164 || c == 0xfeff || c == 0xffa0 || (c >= 0xfe00 && c <= 0xfe0f) ||
         (c >= 0xfff0 && c <= 0xfffb) || (c >= 0xe0000 && c <= 0xe0fff);
}

}  // namespace

base::Result<std::string> PatientAccessOperations::ReasonOf(std::string_view body) {
  constexpr std::string_view kWhere = "Parameters.parameter.valueString";
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) {
    return base::Invalid("the body must be a Parameters resource (JSON) with a 'reason'", "body");
  }
  const json::object& parameters = value.as_object();
  const json::value* type = parameters.if_contains("resourceType");
  if (!type || !type->is_string() || type->as_string() != "Parameters") {
    return base::Invalid("the body must be a Parameters resource", "resourceType");
  }
  const json::value* list = parameters.if_contains("parameter");
  std::optional<std::string> reason;
  if (list && list->is_array()) {
    for (const json::value& parameter : list->as_array()) {
      const json::object* object = parameter.if_object();
      const json::value* name = object ? object->if_contains("name") : nullptr;
      if (!name || !name->is_string() || name->as_string() != "reason") continue;
      if (reason) {
        return base::Invalid("the parameter 'reason' is given twice: give one reason",
                             "Parameters.parameter");
      }
      const json::value* text = object->if_contains("valueString");
      if (!text || !text->is_string()) {
        return base::Invalid("the parameter 'reason' must be a valueString", std::string(kWhere));
      }
      reason = std::string(text->as_string());
    }
  }
  if (!reason) {
    return base::Invalid(
        "the parameter 'reason' (valueString) is required: say why you need the record",
        "Parameters.parameter");
  }
  auto points = CodePointsOf(*reason);
  if (!points) return base::Invalid("the parameter 'reason' is not UTF-8", std::string(kWhere));
  if (points->size() > kMaxReasonCharacters) {
    return base::Invalid("the parameter 'reason' is " + std::to_string(points->size()) +
                             " characters long; at most " + std::to_string(kMaxReasonCharacters) +
                             " are accepted",
                         std::string(kWhere));
  }
  if (std::any_of(points->begin(), points->end(), IsBidiControl)) {
    return base::Invalid(
        "the parameter 'reason' holds a bidirectional text control (U+202A-U+202E or "
        "U+2066-U+2069), which could reorder where it is shown: type the reason without it",
        std::string(kWhere));
  }
  if (std::all_of(points->begin(), points->end(), IsInvisible)) {
    return base::Invalid(
        "the parameter 'reason' must not be empty (it has no visible character): say why you "
        "need the record",
        std::string(kWhere));
  }
  return std::move(*reason);
}

bool PatientAccessOperations::Names(std::string_view operation) {
  return operation == kDeclare || operation == kBreakGlass;
}

Response PatientAccessOperations::Run(const interactions::RequestContext& ctx,
                                      std::string_view operation, std::string_view patient_id,
                                      std::string_view body) {
  const access::AccessContext& who = ctx.who;
  const bool break_glass = operation == kBreakGlass;
  // Staff users who read patient data: not patients (their own record is theirs), not clients
  // (integration reads everything already), not roles that read no Patient.
  auto role = access::ParseRole(who.role);
  if (who.kind != access::PrincipalKind::kUser || !role || *role == access::Role::kPatient ||
      !policy_->Of(*role).read_types.count(std::string_view("Patient"))) {
    return Error(ErrorCode::kForbidden, std::string(operation.substr(1)) +
                                            " is for staff users whose role reads patient data");
  }
  if (auto refusal =
          access::CheckInteractionScope(who, access::FhirInteraction::kRead, "Patient")) {
    return Error(ErrorCode::kForbidden, std::move(refusal->message));
  }
  auto reason = ReasonOf(body);
  if (!reason.ok())
    return Error(reason.error().code, reason.error().message, reason.error().location);
  if (auto bad = interactions::CheckTypeAndId("Patient", patient_id); !bad.ok()) {
    return Error(bad.error().code, bad.error().message, bad.error().location);
  }
  ExistenceGate gate;
  auto session = store_.OpenRead(gate);
  auto patient = session ? session->Read("Patient", patient_id)
                         : base::Result<store::StoredResource>(base::MakeError(
                               ErrorCode::kUnavailable, "the server cannot read data just now"));
  if (!patient.ok() && patient.error().code == ErrorCode::kUnavailable) {
    return Error(ErrorCode::kUnavailable, patient.error().message);
  }
  if (!patient.ok() || patient->deleted) {
    return Error(ErrorCode::kNotFound, "Patient/" + std::string(patient_id) + " is not known");
  }

  access::AccessGrant grant;
  grant.kind = break_glass ? access::GrantKind::kBreakGlass : access::GrantKind::kDeclared;
  grant.principal = who.principal;
  grant.organisation = who.organisation;
  grant.patient = std::string(patient_id);
  grant.reason = std::move(reason).value();
  grant.granted_at = clock_.NowSeconds();
  grant.until = grant.granted_at + (break_glass ? int64_t{policy_->break_glass_minutes} * 60
                                                : int64_t{policy_->declaration_days} * 86400);
  if (auto added = grants_.Add(grant); !added.ok()) {
    return Error(ErrorCode::kUnavailable,
                 "the " + std::string(break_glass ? "break-glass" : "declaration") +
                     " could not be recorded; nothing was opened; retry shortly");
  }
  const std::string until = fhir::FormatInstant(grant.until * 1000);
  const std::string message =
      break_glass
          ? "Break-glass: the record of Patient/" + grant.patient + " is open to you until " +
                until + ". Every access is recorded with purpose of use BTG and reviewed."
          : "Declared relationship: the record of Patient/" + grant.patient +
                " is open to you until " + until +
                ", unless the patient has objected to sharing it with your organisation.";
  json::object outcome{{"resourceType", "OperationOutcome"},
                       {"issue", json::array{json::object{{"severity", "information"},
                                                          {"code", "informational"},
                                                          {"diagnostics", message}}}}};
  json::object answer{
      {"resourceType", "Parameters"},
      {"parameter",
       json::array{json::object{
                       {"name", "patient"},
                       {"valueReference", json::object{{"reference", "Patient/" + grant.patient}}}},
                   json::object{{"name", "until"}, {"valueInstant", until}},
                   json::object{{"name", "outcome"}, {"resource", std::move(outcome)}}}}};
  Response response;
  response.status = 200;
  response.body = json::serialize(answer);
  return response;
}

}  // namespace carerecord::http
