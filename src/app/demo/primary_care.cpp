// PatientRecordWriter, general practice: consultations (with what they measure, find and
// prescribe), repeat medication and vaccinations.

#include <algorithm>
#include <cstdio>

#include "app/demo/patient_record.h"

namespace carerecord::app::demo {

using fhir::DaysFromCivil;

namespace {

constexpr Code kAmbulatory{kActCode, "AMB", "ambulatory"};

struct Prescription {
  int medicine;
  int64_t start;
  std::string reason;
};

}  // namespace

// --- general practice ---

void PatientRecordWriter::AddGpConsultations() {
  double per_year = age_ < 5 ? 3.0 : age_ < 65 ? 1.3 : age_ < 85 ? 2.5 : 4.0;
  per_year += 0.8 * static_cast<double>(chronic_.size());
  const double years = static_cast<double>(kReferenceTime - start_) / kYear;
  int count = static_cast<int>(per_year * years * random_.Between(60, 140) / 100.0);
  count = std::min(count, 80);
  std::vector<int64_t> times;
  for (int i = 0; i < count; ++i) times.push_back(ClinicTime(start_, kReferenceTime - kDay));
  std::sort(times.begin(), times.end());
  for (int64_t when : times) AddGpConsultation(when);
}

void PatientRecordWriter::AddGpConsultation(int64_t when) {
  std::vector<const ChronicRecord*> active;
  for (const ChronicRecord& record : chronic_) {
    if (record.onset <= when) active.push_back(&record);
  }
  const bool review = !active.empty() && random_.Percent(55);
  const ChronicRecord* reviewed = review ? random_.Pick(active) : nullptr;
  const AcuteProblem* problem = nullptr;
  if (!review && random_.Percent(50)) {
    const AcuteProblem& candidate = random_.Pick(kGpProblems);
    if (AgeAt(birth_, when) >= candidate.min_age) problem = &candidate;
  }
  const StaffMember& clinician = review && random_.Percent(40) ? *practice_nurse_ : *gp_;
  const std::string encounter = NewUrn();
  const std::string problem_condition = problem != nullptr ? NewUrn() : std::string();

  json::object resource = EncounterResource(
      kAmbulatory,
      review    ? Code{kSct, "390906007", "Follow-up encounter"}
      : problem ? Code{kSct, "185345009", "Encounter for symptom"}
                : Code{kSct, "185349003", "Encounter for check up"},
      clinician, "PPRF", "primary performer", when, when + random_.Between(10, 20) * kMinute,
      practice_->reference, practice_->name);
  if (reviewed != nullptr) {
    resource["reasonReference"] = json::array{Ref(reviewed->reference)};
  } else if (problem != nullptr) {
    resource["reasonReference"] = json::array{Ref(problem_condition)};
  }
  Add(std::move(resource), encounter);

  const int age = AgeAt(birth_, when);
  const int64_t measured = when + 5 * kMinute;
  const auto reviewing = [&](int id) { return reviewed != nullptr && reviewed->id == id; };
  if (age >= 16) {
    const bool cardiovascular = reviewing(kHypertension) || reviewing(kDiabetes) ||
                                reviewing(kKidneyDisease) || reviewing(kHeartFailure) ||
                                reviewing(kStroke);
    if (cardiovascular || random_.Percent(60)) AddBloodPressure(measured, encounter, clinician);
    if (reviewing(kAtrialFibrillation) || random_.Percent(35)) {
      AddVital(kHeartRate, HeartRate(false, measured), 0, measured, encounter, clinician);
    }
    if (reviewing(kDiabetes) || reviewing(kHeartFailure) || random_.Percent(30)) {
      AddWeight(measured, encounter, clinician, age);
    }
  } else if (random_.Percent(60)) {
    AddWeight(measured, encounter, clinician, age);
  }
  if (problem != nullptr) {
    if (random_.Percent(60)) {
      AddVital(kTemperature, random_.Between(365, 389) / 10.0, 1, measured, encounter, clinician);
    }
    AddResolvingCondition(problem->code, when, 10, clinician, encounter, problem_condition);
    if (problem->medicine != kNoMedicine) {
      AddAcutePrescription(problem->medicine, when, encounter, clinician, problem_condition);
    }
  }

  const int64_t sampled = when + 10 * kMinute;
  if (reviewing(kDiabetes)) {
    AddLabReport(LabPanel::kHba1c, sampled, encounter, clinician);
    if (random_.Percent(60)) AddLabReport(LabPanel::kRenal, sampled, encounter, clinician);
    if (random_.Percent(40)) AddLabReport(LabPanel::kLipids, sampled, encounter, clinician);
  } else if (reviewing(kKidneyDisease) || reviewing(kHeartFailure)) {
    AddLabReport(LabPanel::kRenal, sampled, encounter, clinician);
    if (random_.Percent(30)) AddLabReport(LabPanel::kFullBloodCount, sampled, encounter, clinician);
  } else if (reviewing(kHypertension)) {
    if (random_.Percent(50)) AddLabReport(LabPanel::kRenal, sampled, encounter, clinician);
    if (random_.Percent(25)) AddLabReport(LabPanel::kLipids, sampled, encounter, clinician);
  } else if (reviewing(kAtrialFibrillation)) {
    if (random_.Percent(40)) AddLabReport(LabPanel::kFullBloodCount, sampled, encounter, clinician);
    if (random_.Percent(40)) AddLabReport(LabPanel::kRenal, sampled, encounter, clinician);
  } else if (age >= 18 && problem == nullptr && random_.Percent(15)) {
    AddLabReport(LabPanel::kFullBloodCount, sampled, encounter, clinician);
    if (random_.Percent(60)) AddLabReport(LabPanel::kRenal, sampled, encounter, clinician);
  }
}

// --- medicines and vaccines ---

void PatientRecordWriter::AddAcutePrescription(int medicine, int64_t when,
                                               const std::string& encounter,
                                               const StaffMember& prescriber,
                                               const std::string& reason) {
  json::object request = MedicationRequestResource(medicine, when, prescriber, reason, false);
  request["status"] = "completed";
  request["encounter"] = Ref(encounter);
  Add(std::move(request));
}

json::object PatientRecordWriter::MedicationRequestResource(int medicine, int64_t when,
                                                            const StaffMember& prescriber,
                                                            const std::string& reason,
                                                            bool repeat) {
  const Medicine& drug = kMedicines[medicine];
  json::object request = NewResource("MedicationRequest");
  request["status"] = "active";
  request["intent"] = "order";
  request["category"] =
      json::array{Concept({"http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                           "community", "Community"})};
  request["medicationCodeableConcept"] = Concept(drug.code);
  request["subject"] = Ref(patient_, display_);
  request["authoredOn"] = DateTimeText(when);
  request["requester"] = Ref(prescriber.reference, prescriber.name);
  if (!reason.empty()) request["reasonReference"] = json::array{Ref(reason)};
  request["courseOfTherapyType"] =
      Concept({"http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy",
               repeat ? "continuous" : "acute",
               repeat ? "Continuous long term therapy" : "Short course (acute) therapy"});
  request["dosageInstruction"] = json::array{json::object{{"text", drug.dosage}}};
  const int quantity = repeat ? drug.quantity : std::min(drug.quantity, 32);  // a short course
  json::object dispense{{"quantity", json::object{{"value", quantity}, {"unit", drug.unit}}}};
  if (repeat) {
    dispense["expectedSupplyDuration"] =
        json::object{{"value", 84}, {"unit", "days"}, {"system", kUcum}, {"code", "d"}};
  }
  request["dispenseRequest"] = std::move(dispense);
  return request;
}

void PatientRecordWriter::AddRepeatMedication() {
  std::vector<Prescription> prescriptions;
  for (const ChronicRecord& record : chronic_) {
    for (int medicine : kChronicConditions[record.id].medicines) {
      if (medicine == kNoMedicine) continue;
      if (medicine == kRamipril && random_.Percent(35)) medicine = kAmlodipine;
      const bool duplicate =
          std::any_of(prescriptions.begin(), prescriptions.end(),
                      [&](const Prescription& p) { return p.medicine == medicine; });
      if (duplicate) continue;
      prescriptions.push_back(
          {medicine, record.onset + random_.Between(1, 30) * kDay, record.reference});
    }
  }
  for (const Prescription& prescription : prescriptions) {
    if (prescription.start >= kReferenceTime) continue;
    const Medicine& drug = kMedicines[prescription.medicine];
    std::vector<int64_t> issues;
    for (int64_t at = std::max(prescription.start, kReferenceTime - 2 * kYear);
         at < kReferenceTime - kDay; at += (84 + random_.Between(-7, 7)) * kDay) {
      issues.push_back(ClinicTime(at, std::min(at + kDay, kReferenceTime - kDay)));
    }
    json::object statement = NewResource("MedicationStatement");
    statement["status"] = "active";
    statement["medicationCodeableConcept"] = Concept(drug.code);
    statement["subject"] = Ref(patient_, display_);
    statement["effectivePeriod"] = json::object{{"start", DateTimeText(prescription.start)}};
    statement["dateAsserted"] = DateTimeText(issues.empty() ? prescription.start : issues.back());
    statement["informationSource"] = Ref(gp_->reference, gp_->name);
    statement["reasonReference"] = json::array{Ref(prescription.reason)};
    statement["dosage"] = json::array{json::object{{"text", drug.dosage}}};
    Add(std::move(statement));
    for (size_t i = 0; i < issues.size(); ++i) {
      json::object request = MedicationRequestResource(prescription.medicine, issues[i], *gp_,
                                                       prescription.reason, true);
      // Only the latest issue of a repeat is current.
      if (i + 1 < issues.size()) request["status"] = "completed";
      Add(std::move(request));
    }
  }
}

void PatientRecordWriter::AddImmunization(const Code& vaccine, const Code& disease, int64_t when,
                                          int dose) {
  if (when < start_ || when >= kReferenceTime) return;
  json::object immunization = NewResource("Immunization");
  immunization["status"] = "completed";
  immunization["vaccineCode"] = Concept(vaccine);
  immunization["patient"] = Ref(patient_, display_);
  immunization["occurrenceDateTime"] = DateTimeText(when);
  immunization["recorded"] = DateTimeText(when);
  immunization["primarySource"] = true;
  char lot[16];
  std::snprintf(lot, sizeof lot, "%c%c%04d", static_cast<char>('A' + random_.Between(0, 25)),
                static_cast<char>('A' + random_.Between(0, 25)),
                static_cast<int>(random_.Between(0, 9999)));
  immunization["lotNumber"] = lot;
  const bool left = random_.Percent(70);
  immunization["site"] = Concept({"http://terminology.hl7.org/CodeSystem/v3-ActSite",
                                  left ? "LA" : "RA", left ? "left arm" : "right arm"});
  immunization["route"] = Concept({"http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration",
                                   "IM", "Injection, intramuscular"});
  immunization["doseQuantity"] = Quantity(0.5, 1, "mL", "mL");
  immunization["performer"] =
      json::array{json::object{{"actor", Ref(practice_nurse_->reference, practice_nurse_->name)}}};
  immunization["protocolApplied"] = json::array{json::object{
      {"targetDisease", json::array{Concept(disease)}}, {"doseNumberPositiveInt", dose}}};
  Add(std::move(immunization));
}

void PatientRecordWriter::AddImmunizations() {
  const Code flu{kSct, "1181000221105", "Influenza virus antigen only vaccine product"};
  const Code influenza{kSct, "6142004", "Influenza"};
  const Code covid_vaccine{kSct, "1119349007", "SARS-CoV-2 mRNA vaccine"};
  const Code covid{kSct, "840539006", "COVID-19"};
  const bool at_risk = HasChronic(kDiabetes) || HasChronic(kCopd) || HasChronic(kAsthma) ||
                       HasChronic(kHeartFailure) || HasChronic(kKidneyDisease);
  for (int year = 2016; year <= 2025; ++year) {
    const int64_t season = DaysFromCivil(year, 10, 1) * kDay;
    if ((AgeAt(birth_, season) >= 65 || (at_risk && AgeAt(birth_, season) >= 2)) &&
        random_.Percent(80)) {
      AddImmunization(flu, influenza, ClinicTime(season, season + 75 * kDay), 1);
    }
  }
  if (AgeAt(birth_, DaysFromCivil(2021, 1, 1) * kDay) >= 50 && random_.Percent(88)) {
    const int64_t first =
        ClinicTime(DaysFromCivil(2021, 1, 4) * kDay, DaysFromCivil(2021, 3, 31) * kDay);
    AddImmunization(covid_vaccine, covid, first, 1);
    AddImmunization(covid_vaccine, covid, first + random_.Between(56, 84) * kDay, 2);
    int dose = 3;
    for (int year : {2021, 2022, 2023, 2024, 2025}) {
      const int64_t autumn = DaysFromCivil(year, 9, 15) * kDay;
      if (year >= 2024 && AgeAt(birth_, autumn) < 75) continue;
      if (random_.Percent(75)) {
        AddImmunization(covid_vaccine, covid, ClinicTime(autumn, autumn + 70 * kDay), dose++);
      }
    }
  }
  const int64_t sixty_five = AddYears(birth_, 65);
  if (age_ >= 65 && random_.Percent(70)) {
    const int64_t from = std::max(sixty_five, start_);
    AddImmunization(
        {kSct, "836398006", "Streptococcus pneumoniae antigen-containing vaccine product"},
        {kSct, "16814004", "Pneumococcal infectious disease"},
        ClinicTime(from, std::min(from + kYear, kReferenceTime - kDay)), 1);
  }
}

}  // namespace carerecord::app::demo
