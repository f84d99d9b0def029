// PatientRecordWriter: one patient's shared care record as a transaction Bundle, drawn from a
// random stream of the patient's own, so patient k's record does not depend on the others.
// GenerateDemoRegion makes one per patient and calls Write once; not thread-safe. The methods are
// defined by part of the record: patient_record.cpp (the person, problems, entries),
// primary_care.cpp, measurements.cpp, hospital_care.cpp and community_care.cpp.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/demo/calendar.h"
#include "app/demo/care_providers.h"
#include "app/demo/fhir_elements.h"
#include "app/demo/people.h"
#include "app/demo/random.h"
#include "app/demo/terminology.h"
#include "app/demo/transaction_bundle.h"

namespace carerecord::app::demo {

struct ChronicRecord {
  int id;
  int64_t onset;
  std::string reference;
};

struct CarePlanActivity {
  Code code;
  std::string_view description;
};

class PatientRecordWriter {
 public:
  PatientRecordWriter(const Region& region, uint64_t seed, int number, std::string nhs_number);

  // The patient's transaction Bundle; call once.
  std::string Write();

 private:
  // --- who the patient is (patient_record.cpp) ---
  void DrawPerson();
  // Next of kin, marital status and title hang together, so they are drawn together.
  void DrawKinship();
  void AddPatient();
  void AddNextOfKin();
  void AddConsent();

  // --- problems (patient_record.cpp) ---
  void AddChronicConditions();
  json::object ConditionResource(const Code& code, std::string_view category,
                                 std::string_view category_display, int64_t onset,
                                 const StaffMember& recorder, const std::string& encounter);
  static json::object ClinicalStatus(std::string_view code, std::string_view display);
  // An episode's diagnosis that resolves `recovery_days` later (or is still active).
  void AddResolvingCondition(const Code& code, int64_t when, int recovery_days,
                             const StaffMember& recorder, const std::string& encounter,
                             const std::string& urn);
  const ChronicRecord* Chronic(int id) const;
  bool HasChronic(int id, int64_t at = kReferenceTime) const;
  void AddAllergies();

  // --- what every part uses: encounters, entries, times (patient_record.cpp) ---
  json::object EncounterResource(const Code& encounter_class, const Code& type,
                                 const StaffMember& clinician, std::string_view participation,
                                 std::string_view participation_display, int64_t start, int64_t end,
                                 std::string_view provider, std::string_view provider_name);
  void AddProvenance();
  std::string NewUrn();
  // Appends `resource` as a POST entry under `urn` (a new one if empty); returns the urn.
  std::string Add(json::object resource, std::string urn = {});
  // A weekday between 08:30 and 17:20, somewhere in [from, to).
  int64_t ClinicTime(int64_t from, int64_t to);
  // Any minute in [from, to): emergencies keep no hours.
  int64_t AnyTime(int64_t from, int64_t to);

  // --- general practice, medicines and vaccines (primary_care.cpp) ---
  void AddGpConsultations();
  void AddGpConsultation(int64_t when);
  void AddAcutePrescription(int medicine, int64_t when, const std::string& encounter,
                            const StaffMember& prescriber, const std::string& reason);
  json::object MedicationRequestResource(int medicine, int64_t when, const StaffMember& prescriber,
                                         const std::string& reason, bool repeat);
  void AddRepeatMedication();
  void AddImmunization(const Code& vaccine, const Code& disease, int64_t when, int dose);
  void AddImmunizations();

  // --- observations and laboratory reports (measurements.cpp) ---
  json::object ObservationResource(const Code& category, int64_t when,
                                   const std::string& encounter);
  std::string AddVital(VitalId id, double value, int decimals, int64_t when,
                       const std::string& encounter, const StaffMember& performer);
  void AddBloodPressure(int64_t when, const std::string& encounter, const StaffMember& performer);
  void AddWeight(int64_t when, const std::string& encounter, const StaffMember& performer, int age);
  double HeartRate(bool unwell, int64_t when);
  void AddObservationSet(int64_t when, const std::string& encounter, const StaffMember& performer,
                         bool unwell);
  double LabValue(LabTestId test, bool unwell, int64_t when);
  void AddLabReport(LabPanel panel, int64_t sampled, const std::string& encounter,
                    const StaffMember& requester, bool unwell = false);

  // --- hospital (hospital_care.cpp) ---
  void AddEmergencyCare();
  void AddEmergencyAttendance(int64_t when, const EmergencyPresentation& presentation,
                              const std::string& existing_condition);
  // A hospital stay; emergency ones follow an attendance, elective ones come from clinic.
  void AddAdmission(int64_t start, const EmergencyPresentation& presentation,
                    const std::string& condition, bool emergency);
  void AddDischargeSummary(int64_t start, int64_t end, const std::string& encounter,
                           const StaffMember& consultant,
                           const EmergencyPresentation& presentation);
  void AddProcedure(const Code& code, int64_t when, const std::string& encounter,
                    const StaffMember& performer, const std::string& reason);
  void AddElectiveSurgery();

  // --- community, social and palliative care; flags, care team, plans (community_care.cpp) ---
  void AddCommunityEpisode(int64_t start, std::string_view reason, const std::string& condition);
  void AddSocialAndPalliativeCare();
  void AddSocialCareAssessment();
  void AddPalliativeEpisode(const ChronicRecord& record);
  void AddFlag(const json::object& code, const Code& category, int64_t since,
               std::string_view author, std::string_view author_name);
  void AddFlags();
  void AddCareTeam();
  void AddCarePlan(std::string_view title, std::string_view description, const Code& specific,
                   int64_t since, const StaffMember& author, const std::string& addresses,
                   std::initializer_list<CarePlanActivity> activities);
  void AddCarePlans();

  struct Kinship {
    std::string_view code;  // v3-RoleCode
    std::string_view display;
    bool female;
    bool same_home;
  };
  static constexpr std::string_view kMaritalStatus =
      "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus";

  const Region& region_;
  DemoRandom random_;
  int number_;
  std::string nhs_number_;
  TransactionText bundle_;
  std::vector<std::string> targets_;

  std::string patient_;
  PersonName name_;
  std::string display_;  // "Leo Robinson", shown with every reference to the patient
  bool female_ = false;
  int64_t birth_ = 0;
  int age_ = 0;
  int64_t start_ = 0;  // the first moment the record can mention
  const GpPractice* practice_ = nullptr;
  const StaffMember* gp_ = nullptr;
  const StaffMember* practice_nurse_ = nullptr;
  json::object home_;
  double height_cm_ = 0;
  double weight_kg_ = 0;

  std::vector<ChronicRecord> chronic_;
  std::optional<Kinship> kin_;
  Code marital_;
  std::string next_of_kin_;
  std::string next_of_kin_name_;
  bool has_spouse_ = false;
  bool lives_alone_ = false;
  bool fell_ = false;
  bool community_episode_ = false;
  const StaffMember* community_nurse_ = nullptr;
  // The consultant of the latest hospital stay of the last two years: on the care team, so the
  // hospital trust keeps a care relationship with the patient (issue 20).
  const StaffMember* hospital_consultant_ = nullptr;
  std::string community_reason_;
  const StaffMember* social_worker_ = nullptr;
  int64_t home_care_since_ = 0;
  bool palliative_ = false;
  int64_t palliative_since_ = 0;
  std::string palliative_condition_;
  std::string care_team_;
};

}  // namespace carerecord::app::demo
