// PatientRecordWriter, hospital care: emergency attendances, admissions (emergency and elective),
// procedures and discharge summaries.

#include <algorithm>

#include "app/demo/patient_record.h"

namespace carerecord::app::demo {

namespace {

constexpr Code kEmergency{kActCode, "EMER", "emergency"};
constexpr Code kInpatient{kActCode, "IMP", "inpatient encounter"};

}  // namespace

void PatientRecordWriter::AddEmergencyCare() {
  const int roll = static_cast<int>(random_.Between(0, 99));
  int attendances = age_ < 18   ? (roll < 60   ? 0
                                   : roll < 90 ? 1
                                               : 2)
                    : age_ < 70 ? (roll < 65   ? 0
                                   : roll < 90 ? 1
                                   : roll < 98 ? 2
                                               : 3)
                                : (roll < 35   ? 0
                                   : roll < 65 ? 1
                                   : roll < 85 ? 2
                                   : roll < 95 ? 3
                                               : 4);
  for (int i = 0; i < attendances; ++i) {
    const int64_t when = AnyTime(start_, kReferenceTime - 2 * kDay);
    const int age = AgeAt(birth_, when);
    const int group = age < 18 ? 0 : age < 70 ? 1 : 2;
    int total = 0;
    for (const EmergencyPresentation& p : kPresentations) {
      if (age >= p.min_age) total += p.weight[group];
    }
    int pick = static_cast<int>(random_.Between(0, total - 1));
    for (const EmergencyPresentation& p : kPresentations) {
      if (age < p.min_age) continue;
      pick -= p.weight[group];
      if (pick < 0) {
        AddEmergencyAttendance(when, p, {});
        break;
      }
    }
  }
  // Exacerbations of long-term lung and heart disease come in through the same door.
  for (int id : {kCopd, kHeartFailure}) {
    const ChronicRecord* record = Chronic(id);
    if (record == nullptr) continue;
    const int64_t from = record->onset + 30 * kDay;
    const int64_t to = kReferenceTime - 2 * kDay;
    const int exacerbations = from < to ? static_cast<int>(random_.Between(0, 2)) : 0;
    for (int i = 0; i < exacerbations; ++i) {
      const EmergencyPresentation exacerbation{
          kDyspnoea,
          kChronicConditions[id].code,
          kChestXray,
          100,
          id == kCopd ? kOxygenByMask : kNoCode,
          id == kCopd ? Specialty::kRespiratory : Specialty::kCardiology,
          0,
          {0, 0, 0},
          0};
      AddEmergencyAttendance(AnyTime(from, to), exacerbation, record->reference);
    }
  }
}

void PatientRecordWriter::AddEmergencyAttendance(int64_t when,
                                                 const EmergencyPresentation& presentation,
                                                 const std::string& existing_condition) {
  const StaffMember& doctor = region_.Consultant(random_, Specialty::kEmergency);
  const int64_t left = when + random_.Between(120, 420) * kMinute;
  const std::string encounter = NewUrn();
  const std::string condition = existing_condition.empty() ? NewUrn() : existing_condition;
  json::object resource =
      EncounterResource(kEmergency, {kSct, "50849002", "Emergency room admission"}, doctor, "PPRF",
                        "primary performer", when, left, kTrust, kTrustName);
  resource["reasonCode"] = json::array{Concept(presentation.complaint)};
  resource["diagnosis"] = json::array{json::object{{"condition", Ref(condition)}, {"rank", 1}}};
  Add(std::move(resource), encounter);

  const bool unwell =
      presentation.complaint.code == kDyspnoea.code || presentation.complaint.code == "386661006";
  AddObservationSet(when + 15 * kMinute, encounter, doctor, unwell);
  if (existing_condition.empty()) {
    AddResolvingCondition(presentation.diagnosis, when + kHour, presentation.recovery_days, doctor,
                          encounter, condition);
  }
  if (!presentation.department_procedure.code.empty()) {
    AddProcedure(presentation.department_procedure, when + kHour, encounter, doctor, condition);
  }
  if (AgeAt(birth_, when) >= 16 && (unwell || presentation.admit_percent > 0)) {
    AddLabReport(LabPanel::kFullBloodCount, when + 30 * kMinute, encounter, doctor, unwell);
    AddLabReport(LabPanel::kRenal, when + 30 * kMinute, encounter, doctor, unwell);
  }
  if (presentation.complaint.code == kFall.code && AgeAt(birth_, when) >= 65) fell_ = true;
  if (random_.Percent(presentation.admit_percent) && left < kReferenceTime) {
    AddAdmission(left, presentation, condition, true);
  }
}

void PatientRecordWriter::AddAdmission(int64_t start, const EmergencyPresentation& presentation,
                                       const std::string& condition, bool emergency) {
  const StaffMember& consultant = region_.Consultant(random_, presentation.admitting);
  if (start >= kReferenceTime - 2 * kYear) hospital_consultant_ = &consultant;
  const int days = static_cast<int>(random_.Between(1, 8)) +
                   (presentation.ward_procedure.code == "52734007" ? 5 : 0);
  // Patients go home in the daytime.
  const int64_t end = FloorDiv(start + days * kDay, kDay) * kDay + random_.Between(10, 17) * kHour +
                      random_.Between(0, 5) * 10 * kMinute;
  const std::string encounter = NewUrn();
  json::object resource =
      EncounterResource(kInpatient,
                        emergency ? Code{kSct, "183452005", "Emergency hospital admission"}
                                  : Code{kSct, "183495009", "Non-urgent orthopedic admission"},
                        consultant, "ATND", "attender", start, end, kTrust, kTrustName);
  resource["reasonReference"] = json::array{Ref(condition)};
  resource["diagnosis"] = json::array{
      json::object{{"condition", Ref(condition)},
                   {"use", Concept({"http://terminology.hl7.org/CodeSystem/diagnosis-role", "DD",
                                    "Discharge diagnosis"})},
                   {"rank", 1}}};
  json::object hospitalization{
      {"admitSource", emergency ? Concept({"http://terminology.hl7.org/CodeSystem/admit-source",
                                           "emd", "From accident/emergency department"})
                                : Concept({"http://terminology.hl7.org/CodeSystem/admit-source",
                                           "outp", "From outpatient department"})}};
  if (end < kReferenceTime) {
    hospitalization["dischargeDisposition"] =
        Concept({"http://terminology.hl7.org/CodeSystem/discharge-disposition", "home", "Home"});
  }
  resource["hospitalization"] = std::move(hospitalization);
  Add(std::move(resource), encounter);

  AddObservationSet(start + kHour, encounter, consultant, false);
  if (!emergency) {
    AddLabReport(LabPanel::kFullBloodCount, start + kHour, encounter, consultant);
    AddLabReport(LabPanel::kRenal, start + kHour, encounter, consultant);
  }
  if (!presentation.ward_procedure.code.empty()) {
    AddProcedure(presentation.ward_procedure, start + random_.Between(4, 30) * kHour, encounter,
                 consultant, condition);
  }
  if (end >= kReferenceTime) return;  // still on the ward
  if (days >= 3) AddObservationSet(end - 2 * kHour, encounter, consultant, false);
  AddDischargeSummary(start, end, encounter, consultant, presentation);
  if (AgeAt(birth_, end) >= 70 && random_.Percent(50)) {
    AddCommunityEpisode(end + random_.Between(1, 4) * kDay, "Support at home after discharge",
                        condition);
  }
}

void PatientRecordWriter::AddDischargeSummary(int64_t start, int64_t end,
                                              const std::string& encounter,
                                              const StaffMember& consultant,
                                              const EmergencyPresentation& presentation) {
  std::string nhs =
      nhs_number_.substr(0, 3) + " " + nhs_number_.substr(3, 3) + " " + nhs_number_.substr(6);
  std::string letter;
  letter += "Casterbridge County Hospital\nDischarge summary\n";
  letter += "(Synthetic demonstration data: this letter describes no real person.)\n\n";
  letter += "Patient: " + display_ + "\nNHS number: " + nhs +
            "\nDate of birth: " + DateText(birth_) + "\n";
  letter += "Admitted: " + DateText(start) + "\nDischarged: " + DateText(end) + "\n";
  letter += "Consultant: " + consultant.name + "\n\n";
  letter += "Presenting complaint: " + std::string(presentation.complaint.display) + "\n";
  letter += "Diagnosis: " + std::string(presentation.diagnosis.display) + "\n";
  letter +=
      "Procedure: " +
      std::string(presentation.ward_procedure.code.empty() ? "None"
                                                           : presentation.ward_procedure.display) +
      "\n\n";
  letter +=
      "Treated on the ward; observations settled and the patient was mobile before "
      "discharge.\nDischarged to usual place of residence.\n\n";
  letter += "Actions for GP: please review in two weeks and continue usual medication.\n";
  letter += "Copy to: " + practice_->name + "\n";

  json::object document = NewResource("DocumentReference");
  document["status"] = "current";
  document["docStatus"] = "final";
  document["type"] = Concept({kSct, "373942005", "Discharge summary"});
  document["subject"] = Ref(patient_, display_);
  document["date"] = DateTimeText(end);
  document["author"] =
      json::array{Ref(consultant.reference, consultant.name), Ref(kTrust, kTrustName)};
  document["custodian"] = Ref(kTrust, kTrustName);
  document["description"] = "Discharge summary: " + std::string(presentation.diagnosis.display);
  document["content"] =
      json::array{json::object{{"attachment", json::object{{"contentType", "text/plain"},
                                                           {"language", "en-GB"},
                                                           {"data", Base64(letter)},
                                                           {"title", "Discharge summary"},
                                                           {"creation", DateTimeText(end)}}}}};
  document["context"] =
      json::object{{"encounter", json::array{Ref(encounter)}}, {"period", Period(start, end)}};
  Add(std::move(document));
}

void PatientRecordWriter::AddProcedure(const Code& code, int64_t when, const std::string& encounter,
                                       const StaffMember& performer, const std::string& reason) {
  json::object procedure = NewResource("Procedure");
  procedure["status"] = "completed";
  procedure["code"] = Concept(code);
  procedure["subject"] = Ref(patient_, display_);
  if (!encounter.empty()) procedure["encounter"] = Ref(encounter);
  procedure["performedDateTime"] = DateTimeText(std::min(when, kReferenceTime - kMinute));
  procedure["performer"] =
      json::array{json::object{{"actor", Ref(performer.reference, performer.name)}}};
  if (!reason.empty()) procedure["reasonReference"] = json::array{Ref(reason)};
  Add(std::move(procedure));
}

void PatientRecordWriter::AddElectiveSurgery() {
  const ChronicRecord* knee = Chronic(kOsteoarthritis);
  if (knee == nullptr || !random_.Percent(15)) return;
  const int64_t earliest = knee->onset + 180 * kDay;
  if (earliest >= kReferenceTime - 30 * kDay) return;
  const int64_t when = ClinicTime(earliest, kReferenceTime - 30 * kDay);
  const EmergencyPresentation operation{{kSct, "239873007", "Osteoarthritis of knee"},
                                        {kSct, "239873007", "Osteoarthritis of knee"},
                                        kNoCode,
                                        100,
                                        {kSct, "609588000", "Total knee replacement"},
                                        Specialty::kOrthopaedics,
                                        0,
                                        {0, 0, 0},
                                        0};
  AddAdmission(when, operation, knee->reference, false);
}

}  // namespace carerecord::app::demo
