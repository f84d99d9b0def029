#include "app/demo/patient_record.h"

#include <algorithm>
#include <cstdio>

namespace carerecord::app::demo {

using fhir::CivilFromDays;
using std::string_view;

PatientRecordWriter::PatientRecordWriter(const Region& region, uint64_t seed, int number,
                                         std::string nhs_number)
    : region_(region),
      random_(SplitMix64(seed ^ SplitMix64(0x50415449454e54ULL + static_cast<uint64_t>(number)))),
      number_(number),
      nhs_number_(std::move(nhs_number)) {}

std::string PatientRecordWriter::Write() {
  DrawPerson();
  AddPatient();
  AddNextOfKin();
  AddConsent();
  AddChronicConditions();
  AddAllergies();
  AddGpConsultations();
  AddEmergencyCare();
  AddElectiveSurgery();
  AddSocialAndPalliativeCare();
  AddFlags();
  AddRepeatMedication();
  AddImmunizations();
  AddCareTeam();
  AddCarePlans();
  AddProvenance();
  return bundle_.Finish();
}

// --- who the patient is ---

void PatientRecordWriter::DrawPerson() {
  female_ = random_.Percent(51);
  const int band = static_cast<int>(random_.Between(0, 99));
  age_ = band < 15   ? static_cast<int>(random_.Between(0, 17))
         : band < 60 ? static_cast<int>(random_.Between(18, 64))
         : band < 90 ? static_cast<int>(random_.Between(65, 84))
                     : static_cast<int>(random_.Between(85, 99));
  birth_ = FloorDiv(AddYears(kReferenceTime, -age_) - random_.Between(1, 364) * kDay, kDay) * kDay;
  age_ = AgeAt(birth_, kReferenceTime);
  start_ = std::max(kWindowStart, birth_ + 7 * kDay);
  name_ = DrawName(random_, female_, static_cast<int>(CivilFromDays(birth_ / kDay).year));
  DrawKinship();
  display_ = name_.Display();
  practice_ = &random_.Pick(region_.practices);
  gp_ = &region_.staff[random_.Pick(practice_->gps)];
  practice_nurse_ = &region_.staff[practice_->nurse];
  home_ = Address(random_, "home");
  height_cm_ = female_ ? random_.Between(152, 175) : random_.Between(163, 190);
  weight_kg_ = female_ ? random_.Between(50, 95) : random_.Between(60, 110);
}

void PatientRecordWriter::DrawKinship() {
  if (age_ < 18) {
    kin_ = random_.Percent(70) ? Kinship{"MTH", "mother", true, true}
                               : Kinship{"FTH", "father", false, true};
    return;
  }
  if (random_.Percent(75)) {
    if (age_ >= 25 && random_.Percent(55)) {
      const bool spouse_female = random_.Percent(95) ? !female_ : female_;
      kin_ = spouse_female ? Kinship{"WIFE", "wife", true, true}
                           : Kinship{"HUSB", "husband", false, true};
      has_spouse_ = true;
    } else if (age_ >= 45) {
      kin_ = random_.Percent(50) ? Kinship{"DAU", "natural daughter", true, false}
                                 : Kinship{"SON", "natural son", false, false};
    } else {
      const int pick = static_cast<int>(random_.Between(0, 3));
      kin_ = pick == 0   ? Kinship{"SIS", "sister", true, false}
             : pick == 1 ? Kinship{"BRO", "brother", false, false}
             : pick == 2 ? Kinship{"FRND", "unrelated friend", random_.Percent(50), false}
                         : Kinship{"NBOR", "neighbor", random_.Percent(50), false};
    }
  }
  if (has_spouse_) {
    marital_ = {kMaritalStatus, "M", "Married"};
  } else if (age_ >= 70 && random_.Percent(60)) {
    marital_ = {kMaritalStatus, "W", "Widowed"};
  } else if (age_ >= 35 && random_.Percent(35)) {
    marital_ = {kMaritalStatus, "D", "Divorced"};
  } else {
    marital_ = {kMaritalStatus, "S", "Never Married"};
  }
  if (!female_) {
    name_.prefix = "Mr";
  } else if (has_spouse_) {
    name_.prefix = "Mrs";
  } else {
    name_.prefix = marital_.code == "S" ? (random_.Percent(50) ? "Miss" : "Ms")
                                        : (random_.Percent(60) ? "Mrs" : "Ms");
  }
}

void PatientRecordWriter::AddPatient() {
  patient_ = NewUrn();
  json::object patient = NewResource("Patient");
  char hospital_number[16];
  std::snprintf(hospital_number, sizeof hospital_number, "CH%07d", 1000000 + number_);
  patient["identifier"] =
      json::array{json::object{{"system", kNhsNumberSystem}, {"value", nhs_number_}},
                  json::object{{"type", Concept({"http://terminology.hl7.org/CodeSystem/v2-0203",
                                                 "MR", "Medical record number"})},
                               {"system", kHospitalNumberSystem},
                               {"value", hospital_number}}};
  patient["active"] = true;
  patient["name"] = json::array{HumanName(name_)};
  json::array telecom{
      json::object{{"system", "phone"}, {"value", DramaMobile(random_)}, {"use", "mobile"}}};
  if (random_.Percent(50)) {
    telecom.emplace_back(
        json::object{{"system", "phone"}, {"value", DramaLandline(random_)}, {"use", "home"}});
  }
  patient["telecom"] = std::move(telecom);
  patient["gender"] = female_ ? "female" : "male";
  patient["birthDate"] = DateText(birth_);
  patient["address"] = json::array{home_};
  if (!marital_.code.empty()) patient["maritalStatus"] = Concept(marital_);
  patient["generalPractitioner"] =
      json::array{Ref(practice_->reference, practice_->name), Ref(gp_->reference, gp_->name)};
  patient["managingOrganization"] = Ref(practice_->reference, practice_->name);
  Add(std::move(patient), patient_);
}

void PatientRecordWriter::AddNextOfKin() {
  if (!kin_) return;
  const Kinship& relation = *kin_;
  const int birth_year = static_cast<int>(CivilFromDays(birth_ / kDay).year);
  PersonName name = DrawName(random_, relation.female, birth_year);
  name.middle.clear();
  if (relation.code != "FRND" && relation.code != "NBOR" && random_.Percent(80)) {
    name.family = name_.family;
  }
  next_of_kin_name_ = name.Display();
  json::object person = NewResource("RelatedPerson");
  person["active"] = true;
  person["patient"] = Ref(patient_, display_);
  person["relationship"] =
      json::array{Concept({kRoleCode, relation.code, relation.display}),
                  Concept({"http://terminology.hl7.org/CodeSystem/v2-0131", "N", "Next-of-Kin"})};
  person["name"] = json::array{HumanName(name)};
  person["telecom"] = json::array{
      json::object{{"system", "phone"}, {"value", DramaMobile(random_)}, {"use", "mobile"}}};
  person["gender"] = relation.female ? "female" : "male";
  person["address"] = json::array{relation.same_home ? home_ : Address(random_, "home")};
  next_of_kin_ = Add(std::move(person));
}

void PatientRecordWriter::AddConsent() {
  const int64_t when = ClinicTime(start_, std::min(kReferenceTime, start_ + 3 * kYear));
  const bool opted_out = random_.Percent(4);
  json::object consent = NewResource("Consent");
  consent["status"] = "active";
  consent["scope"] = Concept(
      {"http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy", "Privacy Consent"});
  consent["category"] = json::array{Concept({kLoinc, "59284-0", "Patient Consent"})};
  consent["patient"] = Ref(patient_, display_);
  consent["dateTime"] = DateTimeText(when);
  consent["performer"] =
      json::array{age_ < 18 && AgeAt(birth_, when) < 16 ? Ref(next_of_kin_, next_of_kin_name_)
                                                        : Ref(patient_, display_)};
  consent["organization"] = json::array{Ref(kIcb, kIcbName)};
  consent["policyRule"] =
      opted_out ? Concept({kActCode, "OPTOUT", "opt-out"}) : Concept({kActCode, "OPTIN", "opt-in"});
  // An opt-out is a whole-record objection: the gate refuses a deny narrowed to a purpose,
  // class or code it could not enforce (consent_objection.cpp), so only the permit names one.
  json::object provision{{"type", opted_out ? "deny" : "permit"},
                         {"period", json::object{{"start", DateTimeText(when)}}}};
  if (!opted_out) {
    provision["purpose"] =
        json::array{json::object{{"system", "http://terminology.hl7.org/CodeSystem/v3-ActReason"},
                                 {"code", "TREAT"},
                                 {"display", "treatment"}}};
  }
  consent["provision"] = std::move(provision);
  Add(std::move(consent));
}

// --- problems ---

void PatientRecordWriter::AddChronicConditions() {
  const int band = age_ < 18 ? 0 : age_ < 65 ? 1 : age_ < 85 ? 2 : 3;
  for (int id = 0; id < kChronicCount; ++id) {
    const ChronicCondition& condition = kChronicConditions[id];
    if (age_ < condition.min_age || (condition.female_only && !female_)) continue;
    if (!random_.PerMille(condition.per_mille[band])) continue;
    int64_t earliest = std::max(start_, AddYears(birth_, condition.min_age));
    if (condition.life_limiting) earliest = std::max(earliest, kReferenceTime - 4 * kYear);
    const int64_t latest = kReferenceTime - 60 * kDay;
    if (earliest >= latest) continue;
    const int64_t onset = ClinicTime(earliest, latest);
    json::object resource = ConditionResource(condition.code, "problem-list-item",
                                              "Problem List Item", onset, *gp_, {});
    resource["clinicalStatus"] = ClinicalStatus("active", "Active");
    chronic_.push_back({id, onset, Add(std::move(resource))});
  }
}

json::object PatientRecordWriter::ConditionResource(const Code& code, string_view category,
                                                    string_view category_display, int64_t onset,
                                                    const StaffMember& recorder,
                                                    const std::string& encounter) {
  json::object condition = NewResource("Condition");
  condition["clinicalStatus"] = nullptr;  // keeps the element order readable; set by caller
  condition["verificationStatus"] = Concept(
      {"http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"});
  condition["category"] = json::array{Concept(
      {"http://terminology.hl7.org/CodeSystem/condition-category", category, category_display})};
  condition["code"] = Concept(code);
  condition["subject"] = Ref(patient_, display_);
  if (!encounter.empty()) condition["encounter"] = Ref(encounter);
  condition["onsetDateTime"] = DateTimeText(onset);
  condition["recordedDate"] = DateTimeText(onset);
  condition["recorder"] = Ref(recorder.reference, recorder.name);
  return condition;
}

json::object PatientRecordWriter::ClinicalStatus(string_view code, string_view display) {
  return Concept({"http://terminology.hl7.org/CodeSystem/condition-clinical", code, display});
}

void PatientRecordWriter::AddResolvingCondition(const Code& code, int64_t when, int recovery_days,
                                                const StaffMember& recorder,
                                                const std::string& encounter,
                                                const std::string& urn) {
  json::object condition = ConditionResource(code, "encounter-diagnosis", "Encounter Diagnosis",
                                             when, recorder, encounter);
  const int64_t abated = when + (recovery_days + random_.Between(0, recovery_days / 2)) * kDay;
  if (abated < kReferenceTime) {
    condition["clinicalStatus"] = ClinicalStatus("resolved", "Resolved");
    condition["abatementDateTime"] = DateTimeText(abated);
  } else {
    condition["clinicalStatus"] = ClinicalStatus("active", "Active");
  }
  Add(std::move(condition), urn);
}

const ChronicRecord* PatientRecordWriter::Chronic(int id) const {
  for (const ChronicRecord& record : chronic_) {
    if (record.id == id) return &record;
  }
  return nullptr;
}

bool PatientRecordWriter::HasChronic(int id, int64_t at) const {
  const ChronicRecord* record = Chronic(id);
  return record != nullptr && record->onset <= at;
}

void PatientRecordWriter::AddAllergies() {
  struct Allergy {
    Code code;
    string_view category;
    int per_mille;
    Code reaction;
  };
  static constexpr Allergy kAllergies[] = {
      {{kSct, "91936005", "Allergy to penicillin"},
       "medication",
       110,
       {kSct, "271807003", "Eruption of skin"}},
      {{kSct, "91935009", "Allergy to peanuts"}, "food", 20, {kSct, "247472004", "Wheal"}},
      {{kSct, "300916003", "Latex allergy"},
       "environment",
       15,
       {kSct, "271807003", "Eruption of skin"}},
      {{kSct, "418689008", "Allergy to grass pollen"},
       "environment",
       80,
       {kSct, "76067001", "Sneezing"}},
      {{kSct, "232350006", "House dust mite allergy"},
       "environment",
       40,
       {kSct, "76067001", "Sneezing"}},
      {{kSct, "424213003", "Allergy to bee venom"},
       "environment",
       10,
       {kSct, "39579001", "Anaphylaxis"}},
  };
  for (const Allergy& allergy : kAllergies) {
    if (!random_.PerMille(allergy.per_mille)) continue;
    const bool anaphylaxis = allergy.reaction.code == "39579001" ||
                             (allergy.category != "environment" && random_.Percent(8));
    const Code reaction = anaphylaxis ? Code{kSct, "39579001", "Anaphylaxis"} : allergy.reaction;
    json::object resource = NewResource("AllergyIntolerance");
    resource["clinicalStatus"] = Concept(
        {"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"});
    resource["verificationStatus"] =
        Concept({"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                 "confirmed", "Confirmed"});
    resource["type"] = "allergy";
    resource["category"] = json::array{allergy.category};
    resource["criticality"] = anaphylaxis ? "high" : "low";
    resource["code"] = Concept(allergy.code);
    resource["patient"] = Ref(patient_, display_);
    resource["recordedDate"] = DateTimeText(ClinicTime(start_, kReferenceTime - kDay));
    resource["recorder"] = Ref(gp_->reference, gp_->name);
    resource["reaction"] =
        json::array{json::object{{"manifestation", json::array{Concept(reaction)}},
                                 {"severity", anaphylaxis ? "severe" : "mild"}}};
    Add(std::move(resource));
  }
}

// --- what every part uses: encounters, entries, times ---

json::object PatientRecordWriter::EncounterResource(
    const Code& encounter_class, const Code& type, const StaffMember& clinician,
    string_view participation, string_view participation_display, int64_t start, int64_t end,
    string_view provider, string_view provider_name) {
  json::object encounter = NewResource("Encounter");
  encounter["status"] = end < kReferenceTime ? "finished" : "in-progress";
  encounter["class"] = CodingOf(encounter_class);
  encounter["type"] = json::array{Concept(type)};
  encounter["subject"] = Ref(patient_, display_);
  encounter["participant"] = json::array{json::object{
      {"type", json::array{Concept({"http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                    participation, participation_display})}},
      {"individual", Ref(clinician.reference, clinician.name)}}};
  encounter["period"] = Period(start, end);
  encounter["serviceProvider"] = Ref(provider, provider_name);
  return encounter;
}

void PatientRecordWriter::AddProvenance() {
  json::object provenance = AssemblyProvenance(targets_);
  Add(std::move(provenance));
}

std::string PatientRecordWriter::NewUrn() { return "urn:uuid:" + random_.Uuid(); }

std::string PatientRecordWriter::Add(json::object resource, std::string urn) {
  if (urn.empty()) urn = NewUrn();
  bundle_.Append(urn, resource, "POST", resource.at("resourceType").as_string());
  targets_.push_back(urn);
  return urn;
}

int64_t PatientRecordWriter::ClinicTime(int64_t from, int64_t to) {
  if (to <= from) to = from + kDay;
  int64_t day = FloorDiv(random_.Between(from, to - 1), kDay);
  const int64_t weekday = ((day + 4) % 7 + 7) % 7;  // 0 is Sunday
  if (weekday == 6) day -= 1;
  if (weekday == 0) day -= 2;
  const int64_t at = day * kDay + 8 * kHour + 30 * kMinute + random_.Between(0, 53) * 10 * kMinute;
  return std::min(at, kReferenceTime - kHour);
}

int64_t PatientRecordWriter::AnyTime(int64_t from, int64_t to) {
  if (to <= from) to = from + kDay;
  return FloorDiv(random_.Between(from, to - 1), kMinute) * kMinute;
}

}  // namespace carerecord::app::demo
