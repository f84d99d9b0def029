// PatientRecordWriter, measurements: vital signs and laboratory reports, with values that follow
// the patient's conditions.

#include <algorithm>
#include <vector>

#include "app/demo/patient_record.h"

namespace carerecord::app::demo {

using std::string_view;

namespace {

constexpr string_view kObservationCategory =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr Code kVitalSignsCategory{kObservationCategory, "vital-signs", "Vital Signs"};
constexpr Code kLaboratoryCategory{kObservationCategory, "laboratory", "Laboratory"};

}  // namespace

// --- observations ---

json::object PatientRecordWriter::ObservationResource(const Code& category, int64_t when,
                                                      const std::string& encounter) {
  json::object observation = NewResource("Observation");
  observation["status"] = "final";
  observation["category"] = json::array{Concept(category)};
  observation["code"] = nullptr;  // set by the caller; keeps code before subject
  observation["subject"] = Ref(patient_, display_);
  if (!encounter.empty()) observation["encounter"] = Ref(encounter);
  observation["effectiveDateTime"] = DateTimeText(when);
  return observation;
}

std::string PatientRecordWriter::AddVital(VitalId id, double value, int decimals, int64_t when,
                                          const std::string& encounter,
                                          const StaffMember& performer) {
  const VitalSign& vital = kVitalSigns[id];
  json::object observation = ObservationResource(kVitalSignsCategory, when, encounter);
  observation["code"] = Concept(vital.loinc, vital.snomed);
  observation["performer"] = json::array{Ref(performer.reference, performer.name)};
  observation["valueQuantity"] = Quantity(value, decimals, vital.unit, vital.ucum);
  return Add(std::move(observation));
}

void PatientRecordWriter::AddBloodPressure(int64_t when, const std::string& encounter,
                                           const StaffMember& performer) {
  const bool hypertensive = HasChronic(kHypertension, when);
  const int age = AgeAt(birth_, when);
  const int64_t systolic =
      hypertensive ? random_.Between(128, 172) : random_.Between(102, 122 + std::min(age, 80) / 4);
  const int64_t diastolic =
      std::min(systolic - 25, hypertensive ? random_.Between(76, 102) : random_.Between(60, 86));
  json::object observation = ObservationResource(kVitalSignsCategory, when, encounter);
  observation["code"] =
      Concept({kLoinc, "85354-9", "Blood pressure panel with all children optional"},
              {kSct, "75367002", "Blood pressure"});
  observation["performer"] = json::array{Ref(performer.reference, performer.name)};
  const auto component = [](const Code& loinc, const Code& snomed, int64_t value) {
    return json::object{
        {"code", Concept(loinc, snomed)},
        {"valueQuantity", Quantity(static_cast<double>(value), 0, "mmHg", "mm[Hg]")}};
  };
  observation["component"] =
      json::array{component({kLoinc, "8480-6", "Systolic blood pressure"},
                            {kSct, "271649006", "Systolic blood pressure"}, systolic),
                  component({kLoinc, "8462-4", "Diastolic blood pressure"},
                            {kSct, "271650006", "Diastolic blood pressure"}, diastolic)};
  Add(std::move(observation));
}

void PatientRecordWriter::AddWeight(int64_t when, const std::string& encounter,
                                    const StaffMember& performer, int age) {
  if (age >= 18) {
    const double weight = weight_kg_ + random_.Between(-30, 30) / 10.0;
    AddVital(kBodyWeight, weight, 1, when, encounter, performer);
    if (random_.Percent(50)) {
      const double metres = height_cm_ / 100.0;
      AddVital(kBodyMassIndex, weight / (metres * metres), 1, when, encounter, performer);
    }
    return;
  }
  // Children: a rough growth curve, scaled towards the adult they will become.
  const double years = static_cast<double>(when - birth_) / kYear;
  const double weight =
      years < 1 ? 3.5 + 6.5 * years
                : std::min(weight_kg_, 10.0 + 2.6 * (years - 1) + 0.12 * (years - 1) * (years - 1));
  const double height =
      years < 1 ? 50 + 25 * years : std::min(height_cm_, 75.0 + 6.2 * (years - 1));
  AddVital(kBodyWeight, weight * random_.Between(92, 108) / 100.0, 1, when, encounter, performer);
  AddVital(kBodyHeight, height * random_.Between(97, 103) / 100.0, 0, when, encounter, performer);
}

double PatientRecordWriter::HeartRate(bool unwell, int64_t when) {
  if (HasChronic(kAtrialFibrillation, when)) return static_cast<double>(random_.Between(70, 125));
  return static_cast<double>(unwell ? random_.Between(80, 118) : random_.Between(58, 92));
}

void PatientRecordWriter::AddObservationSet(int64_t when, const std::string& encounter,
                                            const StaffMember& performer, bool unwell) {
  if (AgeAt(birth_, when) >= 16) AddBloodPressure(when, encounter, performer);
  AddVital(kHeartRate, HeartRate(unwell, when), 0, when, encounter, performer);
  AddVital(kRespiratoryRate,
           static_cast<double>(unwell ? random_.Between(18, 28) : random_.Between(12, 18)), 0, when,
           encounter, performer);
  AddVital(kTemperature, (unwell ? random_.Between(368, 394) : random_.Between(360, 375)) / 10.0, 1,
           when, encounter, performer);
  const bool chest = HasChronic(kCopd) || unwell;
  AddVital(kOxygenSaturation,
           static_cast<double>(chest ? random_.Between(88, 96) : random_.Between(95, 100)), 0, when,
           encounter, performer);
}

// --- laboratory ---

double PatientRecordWriter::LabValue(LabTestId test, bool unwell, int64_t when) {
  const bool kidney = HasChronic(kKidneyDisease, when);
  switch (test) {
    case kHaemoglobin:
      return random_.Percent(5) ? random_.Between(95, 114)
                                : (female_ ? random_.Between(116, 152) : random_.Between(128, 168));
    case kWhiteCells:
      return (unwell ? random_.Between(105, 185) : random_.Between(40, 105)) / 10.0;
    case kPlatelets:
      return random_.Between(160, 380);
    case kSodium:
      return random_.Between(134, 145);
    case kPotassium:
      return random_.Between(kidney ? 40 : 36, kidney ? 58 : 51) / 10.0;
    case kUrea:
      return (kidney ? random_.Between(75, 160) : random_.Between(30, 75)) / 10.0;
    case kCreatinine:
      return kidney ? random_.Between(125, 240)
                    : (female_ ? random_.Between(50, 95) : random_.Between(62, 110));
    case kEgfr:
      return kidney ? random_.Between(22, 58) : random_.Between(age_ >= 70 ? 60 : 75, 105);
    case kHba1c:
      return HasChronic(kDiabetes, when) ? random_.Between(48, 86) : random_.Between(31, 41);
    case kCholesterol:
      return random_.Between(35, 68) / 10.0;
    case kHdlCholesterol:
      return random_.Between(9, 20) / 10.0;
    case kTriglycerides:
      return random_.Between(7, 26) / 10.0;
  }
  return 0;
}

void PatientRecordWriter::AddLabReport(LabPanel panel, int64_t sampled,
                                       const std::string& encounter, const StaffMember& requester,
                                       bool unwell) {
  std::vector<LabTestId> tests;
  switch (panel) {
    case LabPanel::kFullBloodCount:
      tests = {kHaemoglobin, kWhiteCells, kPlatelets};
      break;
    case LabPanel::kRenal:
      tests = {kSodium, kPotassium, kUrea, kCreatinine, kEgfr};
      break;
    case LabPanel::kHba1c:
      tests = {kHba1c};
      break;
    case LabPanel::kLipids:
      tests = {kCholesterol, kHdlCholesterol, kTriglycerides};
      break;
  }
  // Results come back the next working day, or within hours from the hospital.
  int64_t issued =
      sampled + (unwell ? random_.Between(1, 3) * kHour : kDay + random_.Between(0, 8) * kHour);
  issued = std::min(issued, kReferenceTime - kMinute);
  const LabPanelInfo& info = kLabPanels[static_cast<int>(panel)];
  json::array results;
  for (LabTestId id : tests) {
    const LabTest& test = kLabTests[id];
    const double value = LabValue(id, unwell, sampled);
    json::object observation = ObservationResource(kLaboratoryCategory, sampled, encounter);
    observation["code"] = Concept(test.code);
    observation["issued"] = DateTimeText(issued);
    observation["performer"] = json::array{Ref(kTrust, kTrustName)};
    observation["valueQuantity"] = Quantity(value, test.decimals, test.ucum, test.ucum);
    if (value < test.low || value > test.high) {
      const bool high = value > test.high;
      observation["interpretation"] =
          json::array{Concept({"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                               high ? "H" : "L", high ? "High" : "Low"})};
    }
    json::object range;
    if (test.low > 0) range["low"] = Quantity(test.low, test.decimals, test.ucum, test.ucum);
    range["high"] = Quantity(test.high, test.decimals, test.ucum, test.ucum);
    observation["referenceRange"] = json::array{std::move(range)};
    results.emplace_back(Ref(Add(std::move(observation)), test.code.display));
  }
  json::object report = NewResource("DiagnosticReport");
  report["status"] = "final";
  report["category"] = json::array{Concept(
      {"http://terminology.hl7.org/CodeSystem/v2-0074", info.section, info.section_display})};
  report["code"] = Concept(info.code);
  report["subject"] = Ref(patient_, display_);
  if (!encounter.empty()) report["encounter"] = Ref(encounter);
  report["effectiveDateTime"] = DateTimeText(sampled);
  report["issued"] = DateTimeText(issued);
  report["performer"] = json::array{Ref(kTrust, kTrustName)};
  report["resultsInterpreter"] = json::array{Ref(requester.reference, requester.name)};
  report["result"] = std::move(results);
  Add(std::move(report));
}

}  // namespace carerecord::app::demo
