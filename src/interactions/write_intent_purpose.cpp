// FhirService::StoredInRecordOnlyBreakGlassOpens: the patient of a stored item, for the purpose
// of use of a write's intent entry, read without disclosing the item to anyone.
#include <string>

#include "interactions/fhir_service.h"

namespace carerecord::interactions {
namespace {

// Keeps the compartment patient of the items it is shown and admits none of them: the store
// answers as if they were absent, and no disclosure is recorded.
class PatientOfGate final : public store::ReadGate {
 public:
  bool Admit(const store::ItemFacts& item) override {
    patient_ = std::string(item.patient_id);
    return false;
  }
  bool Permits(const store::ItemFacts&) override { return false; }
  const std::string& patient() const { return patient_; }

 private:
  std::string patient_;
};

}  // namespace

bool FhirService::StoredInRecordOnlyBreakGlassOpens(const access::AccessContext& who,
                                                    std::string_view type, std::string_view id) {
  PatientOfGate gate;
  auto session = store_.OpenRead(gate);
  if (!session) return false;
  (void)session->Read(type, id);
  return !gate.patient().empty() && policy_.OpensOnlyByBreakGlass(who, gate.patient());
}

}  // namespace carerecord::interactions
