// The two operations a staff user opens a patient's record with (issue 20):
// POST /fhir/Patient/ID/$declare-relationship and POST /fhir/Patient/ID/$break-glass, each with a
// Parameters body whose `reason` (valueString) is required. A declaration opens the record to
// that user for declaration_days, unless the patient objects; break-glass for
// break_glass_minutes, whatever the relationship or objection (never sealed items). Both are kept
// in AccessGrants (durable) and audited by http::FhirRoutes as every request is (actions
// "declare-relationship" and "break-glass", with the reason; break-glass with purpose BTG).
// Thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "access/access_grants.h"
#include "access/region_policy.h"
#include "access/wall_clock.h"
#include "interactions/fhir_service.h"
#include "store/store.h"

namespace carerecord::http {

class PatientAccessOperations {
 public:
  PatientAccessOperations(store::Store& store, access::AccessGrants& grants,
                          std::shared_ptr<const access::RegionPolicy> policy,
                          const access::WallClock& clock)
      : store_(store), grants_(grants), policy_(std::move(policy)), clock_(clock) {}

  // "$declare-relationship" or "$break-glass".
  static bool Names(std::string_view operation);

  // The `reason` of a Parameters body (JSON), or a kInvalid error naming what is wrong: no
  // Parameters, no reason, `reason` given twice, not a valueString, longer than
  // kMaxReasonCharacters, nothing visible (only whitespace, zero-width, format or control
  // characters), or a bidirectional embedding, override or isolate control (U+202A-U+202E,
  // U+2066-U+2069), which could reorder the line where the reason is shown. Refused, not
  // stripped: the reason kept is the one the user typed.
  static constexpr size_t kMaxReasonCharacters = 1000;
  static base::Result<std::string> ReasonOf(std::string_view body);

  // The operation on Patient/`patient_id` for `ctx.who`: 200 with a Parameters saying until
  // when; 403 for a caller who may not open records (not a staff user who reads patient data,
  // or a token without a scope to read Patient); 400 for a body without a non-empty reason;
  // 404 for a patient the record does not hold.
  interactions::Response Run(const interactions::RequestContext& ctx, std::string_view operation,
                             std::string_view patient_id, std::string_view body);

 private:
  store::Store& store_;
  access::AccessGrants& grants_;
  std::shared_ptr<const access::RegionPolicy> policy_;
  const access::WallClock& clock_;
};

}  // namespace carerecord::http
