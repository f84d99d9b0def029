#include "http/patient_access_operations.h"

#include <boost/json.hpp>

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

// The `reason` of a Parameters body, or the error naming what is missing.
base::Result<std::string> ReasonOf(std::string_view body) {
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
  if (list && list->is_array()) {
    for (const json::value& parameter : list->as_array()) {
      const json::object* object = parameter.if_object();
      const json::value* name = object ? object->if_contains("name") : nullptr;
      if (!name || !name->is_string() || name->as_string() != "reason") continue;
      const json::value* text = object->if_contains("valueString");
      if (!text || !text->is_string()) {
        return base::Invalid("the parameter 'reason' must be a valueString",
                             "Parameters.parameter.valueString");
      }
      std::string reason(text->as_string());
      if (reason.find_first_not_of(" \t\r\n") == std::string::npos) {
        return base::Invalid(
            "the parameter 'reason' must not be empty: say why you need the record",
            "Parameters.parameter.valueString");
      }
      return reason;
    }
  }
  return base::Invalid(
      "the parameter 'reason' (valueString) is required: say why you need the record",
      "Parameters.parameter");
}

}  // namespace

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
