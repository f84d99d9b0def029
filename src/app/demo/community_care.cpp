// PatientRecordWriter, care outside hospital and general practice: district nursing, social care
// and palliative care, and what coordinates everyone: flags, the care team and care plans.

#include <algorithm>
#include <vector>

#include "app/demo/patient_record.h"

namespace carerecord::app::demo {

using std::string_view;

namespace {

constexpr Code kHomeHealth{kActCode, "HH", "home health"};
constexpr Code kHomeVisit{kSct, "439708006", "Home visit"};
constexpr Code kCarePlan{kSct, "734163000", "Care plan"};
constexpr string_view kFlagCategory = "http://terminology.hl7.org/CodeSystem/flag-category";

}  // namespace

// --- community, social and palliative care ---

void PatientRecordWriter::AddCommunityEpisode(int64_t start, string_view reason,
                                              const std::string& condition) {
  if (start >= kReferenceTime - kDay || community_episode_) return;
  community_episode_ = true;
  const StaffMember& nurse = region_.staff[random_.Pick(region_.community_nurses)];
  const std::string episode = NewUrn();
  const int planned = static_cast<int>(random_.Between(3, 10));
  std::vector<int64_t> visits;
  int64_t visit = ClinicTime(start, start + kDay);
  for (int i = 0; i < planned && visit < kReferenceTime - kDay; ++i) {
    visits.push_back(visit);
    visit = ClinicTime(visit + 5 * kDay, visit + 11 * kDay);
  }
  const bool finished =
      visits.size() == static_cast<size_t>(planned) && visits.back() + kDay < kReferenceTime;
  json::object resource = NewResource("EpisodeOfCare");
  resource["status"] = finished ? "finished" : "active";
  resource["type"] = json::array{TextConcept("District nursing")};
  if (!condition.empty()) {
    resource["diagnosis"] = json::array{json::object{{"condition", Ref(condition)}, {"rank", 1}}};
  }
  resource["patient"] = Ref(patient_, display_);
  resource["managingOrganization"] = Ref(kCommunityTrust, kCommunityTrustName);
  resource["period"] = Period(start, finished ? visits.back() + kDay : start);
  resource["careManager"] = Ref(nurse.reference, nurse.name);
  Add(std::move(resource), episode);
  community_nurse_ = &nurse;
  community_reason_ = std::string(reason);

  for (int64_t at : visits) {
    const std::string encounter = NewUrn();
    json::object home_visit = EncounterResource(
        kHomeHealth, kHomeVisit, nurse, "PPRF", "primary performer", at,
        at + random_.Between(20, 60) * kMinute, kCommunityTrust, kCommunityTrustName);
    home_visit["episodeOfCare"] = json::array{Ref(episode)};
    home_visit["reasonCode"] = json::array{TextConcept(reason)};
    Add(std::move(home_visit), encounter);
    if (random_.Percent(55)) {
      AddProcedure(random_.Percent(50) ? Code{kSct, "385949008", "Dressing change management"}
                                       : Code{kSct, "225358003", "Wound care"},
                   at + 10 * kMinute, encounter, nurse, condition);
    } else {
      AddBloodPressure(at + 10 * kMinute, encounter, nurse);
      AddVital(kHeartRate, HeartRate(false, at), 0, at + 10 * kMinute, encounter, nurse);
    }
  }
}

void PatientRecordWriter::AddSocialAndPalliativeCare() {
  lives_alone_ = age_ >= 65 && !has_spouse_ && random_.Percent(55);
  if (age_ >= 78 && !community_episode_ &&
      (HasChronic(kHeartFailure) || HasChronic(kCopd) || random_.Percent(20))) {
    AddCommunityEpisode(ClinicTime(kReferenceTime - 2 * kYear, kReferenceTime - 14 * kDay),
                        "Long-term condition support at home", {});
  }
  if (age_ >= 75 && (lives_alone_ || HasChronic(kDementia)) && random_.Percent(60)) {
    AddSocialCareAssessment();
  }
  for (const ChronicRecord& record : chronic_) {
    const bool life_limiting = kChronicConditions[record.id].life_limiting;
    if (!life_limiting || palliative_) continue;
    if (record.id == kDementia && (age_ < 85 || !random_.Percent(30))) continue;
    AddPalliativeEpisode(record);
  }
}

void PatientRecordWriter::AddSocialCareAssessment() {
  social_worker_ = &region_.staff[random_.Pick(region_.social_workers)];
  const int64_t when = ClinicTime(kReferenceTime - 3 * kYear, kReferenceTime - 7 * kDay);
  json::object visit =
      EncounterResource(kHomeHealth, kHomeVisit, *social_worker_, "PPRF", "primary performer", when,
                        when + random_.Between(45, 90) * kMinute, kCouncil, kCouncilName);
  visit["reasonCode"] =
      json::array{TextConcept("Care Act 2014 assessment of care and support needs")};
  Add(std::move(visit));
  home_care_since_ = when + random_.Between(7, 28) * kDay;
  if (home_care_since_ >= kReferenceTime) home_care_since_ = kReferenceTime - kDay;
}

void PatientRecordWriter::AddPalliativeEpisode(const ChronicRecord& record) {
  const int64_t earliest = record.onset + 90 * kDay;
  if (earliest >= kReferenceTime - 14 * kDay) return;
  palliative_ = true;
  palliative_since_ = ClinicTime(earliest, kReferenceTime - 14 * kDay);
  const StaffMember& nurse = region_.staff[region_.hospice_nurse];
  const std::string episode = NewUrn();
  json::object resource = NewResource("EpisodeOfCare");
  resource["status"] = "active";
  resource["type"] = json::array{TextConcept("Specialist palliative care")};
  resource["diagnosis"] =
      json::array{json::object{{"condition", Ref(record.reference)}, {"rank", 1}}};
  resource["patient"] = Ref(patient_, display_);
  resource["managingOrganization"] = Ref(kHospice, kHospiceName);
  resource["period"] = Period(palliative_since_, palliative_since_);
  resource["careManager"] = Ref(nurse.reference, nurse.name);
  Add(std::move(resource), episode);
  int64_t at = palliative_since_;
  for (int i = 0; i < 4 && at < kReferenceTime - kDay; ++i) {
    json::object visit =
        EncounterResource(kHomeHealth, kHomeVisit, nurse, "PPRF", "primary performer", at,
                          at + random_.Between(30, 75) * kMinute, kHospice, kHospiceName);
    visit["episodeOfCare"] = json::array{Ref(episode)};
    visit["reasonReference"] = json::array{Ref(record.reference)};
    Add(std::move(visit));
    at = ClinicTime(at + 14 * kDay, at + 35 * kDay);
  }
  palliative_condition_ = record.reference;
}

// --- flags ---

void PatientRecordWriter::AddFlag(const json::object& code, const Code& category, int64_t since,
                                  string_view author, string_view author_name) {
  json::object flag = NewResource("Flag");
  flag["status"] = "active";
  flag["category"] = json::array{Concept(category)};
  flag["code"] = code;
  flag["subject"] = Ref(patient_, display_);
  flag["period"] = json::object{{"start", DateTimeText(since)}};
  flag["author"] = Ref(author, author_name);
  Add(std::move(flag));
}

void PatientRecordWriter::AddFlags() {
  const Code safety{kFlagCategory, "safety", "Safety"};
  const Code admin{kFlagCategory, "admin", "Administrative"};
  const Code clinical{kFlagCategory, "clinical", "Clinical"};
  const auto since = [&] {
    return ClinicTime(std::max(start_, kReferenceTime - 4 * kYear), kReferenceTime - kDay);
  };
  if (lives_alone_) {
    AddFlag(Concept({kSct, "105529008", "Lives alone"}), safety, since(), practice_->reference,
            practice_->name);
    if (age_ >= 75 && random_.Percent(60)) {
      AddFlag(TextConcept("Key safe by the front door: the code is held by the district nursing "
                          "team and the home care agency"),
              admin, since(), kCommunityTrust, kCommunityTrustName);
    }
  }
  if (fell_ || (age_ >= 85 && random_.Percent(40))) {
    AddFlag(Concept({kSct, "129839007", "At risk for falls"}), safety, since(),
            practice_->reference, practice_->name);
  }
  if (age_ >= 75 && random_.Percent(12)) {
    json::object hearing = Concept({kSct, "15188001", "Hearing loss"});
    hearing["text"] = "Hard of hearing: face the patient and speak clearly";
    AddFlag(hearing, clinical, since(), practice_->reference, practice_->name);
  }
  if (home_care_since_ > 0) {
    AddFlag(TextConcept("Receives a home care package: carers visit twice daily"), admin,
            home_care_since_, kCouncil, kCouncilName);
  }
  if (palliative_) {
    AddFlag(Concept({kSct, "304253006", "Not for resuscitation"}),
            {kFlagCategory, "advance-directive", "Advance Directive"}, palliative_since_,
            gp_->reference, gp_->name);
  }
}

// --- who looks after the patient, and the plans they share ---

void PatientRecordWriter::AddCareTeam() {
  const bool needed = !chronic_.empty() || community_episode_ || social_worker_ != nullptr ||
                      palliative_ || age_ >= 75;
  if (!needed) return;
  json::array participants;
  const auto member = [&](const Code& role, string_view role_text, string_view reference,
                          string_view display, string_view on_behalf_of) {
    json::object role_concept = role.code.empty() ? TextConcept(role_text) : Concept(role);
    if (!role.code.empty()) role_concept["text"] = role_text;
    json::object participant{{"role", json::array{std::move(role_concept)}},
                             {"member", Ref(reference, display)}};
    if (!on_behalf_of.empty()) participant["onBehalfOf"] = Ref(on_behalf_of);
    participants.emplace_back(std::move(participant));
  };
  const Code nurse{kSct, "224535009", "Registered nurse"};
  member({kSct, "116154003", "Patient"}, "Patient", patient_, display_, {});
  member({kSct, "62247001", "General practitioner"}, "GP", gp_->reference, gp_->name,
         practice_->reference);
  member(nurse, "Practice nurse", practice_nurse_->reference, practice_nurse_->name,
         practice_->reference);
  if (community_nurse_ != nullptr) {
    member(nurse, "District nurse", community_nurse_->reference, community_nurse_->name,
           kCommunityTrust);
  }
  if (hospital_consultant_ != nullptr) {
    member({kSct, "158965000", "Medical practitioner"}, "Hospital consultant",
           hospital_consultant_->reference, hospital_consultant_->name, kTrust);
  }
  if (social_worker_ != nullptr) {
    member({kSct, "106328005", "Social worker"}, "Social worker", social_worker_->reference,
           social_worker_->name, kCouncil);
  }
  if (palliative_) {
    const StaffMember& doctor = region_.staff[region_.hospice_doctor];
    member({kSct, "309343006", "Physician"}, "Palliative care consultant", doctor.reference,
           doctor.name, kHospice);
  }
  if (!next_of_kin_.empty()) {
    member(kNoCode, "Next of kin", next_of_kin_, next_of_kin_name_, {});
  }
  int64_t since = kReferenceTime - kDay;
  for (const ChronicRecord& record : chronic_) since = std::min(since, record.onset);
  if (chronic_.empty()) since = ClinicTime(start_, kReferenceTime - kDay);
  json::object team = NewResource("CareTeam");
  team["status"] = "active";
  team["category"] = json::array{
      Concept({kLoinc, "LA28865-6", "Longitudinal care-coordination focused care team"})};
  team["name"] = "Care team for " + display_;
  team["subject"] = Ref(patient_, display_);
  team["period"] = json::object{{"start", DateTimeText(since)}};
  team["participant"] = std::move(participants);
  team["managingOrganization"] = json::array{Ref(practice_->reference, practice_->name)};
  care_team_ = Add(std::move(team));
}

void PatientRecordWriter::AddCarePlan(string_view title, string_view description,
                                      const Code& specific, int64_t since,
                                      const StaffMember& author, const std::string& addresses,
                                      std::initializer_list<CarePlanActivity> activities) {
  json::object plan = NewResource("CarePlan");
  plan["status"] = "active";
  plan["intent"] = "plan";
  json::array category{Concept(kCarePlan)};
  if (!specific.code.empty()) category.emplace_back(Concept(specific));
  plan["category"] = std::move(category);
  plan["title"] = title;
  plan["description"] = description;
  plan["subject"] = Ref(patient_, display_);
  plan["period"] = json::object{{"start", DateTimeText(since)}};
  plan["created"] = DateTimeText(since);
  plan["author"] = Ref(author.reference, author.name);
  if (!care_team_.empty()) plan["careTeam"] = json::array{Ref(care_team_)};
  if (!addresses.empty()) plan["addresses"] = json::array{Ref(addresses)};
  json::array items;
  for (const CarePlanActivity& activity : activities) {
    items.emplace_back(
        json::object{{"detail", json::object{{"code", Concept(activity.code)},
                                             {"status", "in-progress"},
                                             {"description", activity.description}}}});
  }
  plan["activity"] = std::move(items);
  Add(std::move(plan));
}

void PatientRecordWriter::AddCarePlans() {
  const auto since = [&](const ChronicRecord& record) {
    return std::min(record.onset + random_.Between(7, 60) * kDay, kReferenceTime - kDay);
  };
  if (const ChronicRecord* r = Chronic(kDiabetes)) {
    AddCarePlan("Type 2 diabetes care plan",
                "Agreed targets: HbA1c below 53 mmol/mol, blood "
                "pressure below 140/90. Annual foot and eye checks.",
                {kSct, "698360004", "Diabetes self management plan"}, since(*r), *gp_, r->reference,
                {{{kSct, "160670007", "Diabetic diet"}, "Structured education: healthy eating"},
                 {{kSct, "229065009", "Exercise therapy"}, "Thirty minutes of walking most days"}});
  }
  if (const ChronicRecord* r = Chronic(kCopd)) {
    AddCarePlan(
        "COPD management plan",
        "Rescue pack at home. Call the practice if sputum "
        "changes colour or breathlessness worsens.",
        {kSct, "412776001", "Chronic obstructive pulmonary disease clinical management plan"},
        since(*r), *gp_, r->reference,
        {{{kSct, "15081005", "Pulmonary rehabilitation"},
          "Six-week pulmonary rehabilitation course"},
         {{kSct, "225323000", "Smoking cessation education"}, "Stop smoking support offered"}});
  }
  if (const ChronicRecord* r = Chronic(kHeartFailure)) {
    AddCarePlan("Heart failure plan",
                "Weigh daily; report a gain of more than 2 kg in three "
                "days to the practice.",
                kNoCode, since(*r), *gp_, r->reference,
                {{{kSct, "183063000", "Low salt diet education"}, "Reduce salt in the diet"}});
  }
  if (const ChronicRecord* r = Chronic(kHypertension); r != nullptr && random_.Percent(40)) {
    AddCarePlan("Blood pressure plan", "Target below 140/90 in clinic; home readings welcome.",
                kNoCode, since(*r), *practice_nurse_, r->reference,
                {{{kSct, "443402002", "Lifestyle education regarding hypertension"},
                  "Diet, exercise and alcohol advice"}});
  }
  if (const ChronicRecord* r = Chronic(kDementia)) {
    AddCarePlan(
        "Living well with dementia",
        "Keep to familiar routines; family to be involved "
        "in decisions. Review memory and carer strain yearly.",
        kNoCode, since(*r), *gp_, r->reference,
        {{{kSct, "710125008", "Promotion of use of memory skills"}, "Memory aids at home"},
         {{kSct, "850261000000100", "Education about dementia"}, "Information for the family"}});
  }
  if (community_nurse_ != nullptr) {
    AddCarePlan(
        "District nursing care plan", community_reason_, kNoCode,
        ClinicTime(std::max(start_, kReferenceTime - 2 * kYear), kReferenceTime - kDay),
        *community_nurse_, {},
        {{{kSct, "385949008", "Dressing change management"}, "Dressings as needed"},
         {{kSct, "384758001", "Self-care interventions"}, "Encourage independence at home"}});
  }
  if (social_worker_ != nullptr) {
    AddCarePlan("Care and support plan", "Home care twice daily for personal care and meals.",
                kNoCode, home_care_since_, *social_worker_, {},
                {{{kSct, "315043002", "Long term social support"}, "Home care package"}});
  }
  if (palliative_) {
    AddCarePlan("Advance care plan",
                "Wishes to be cared for at home. Not for resuscitation; "
                "anticipatory medicines in the home.",
                kNoCode, palliative_since_, region_.staff[region_.hospice_doctor],
                palliative_condition_,
                {{{kSct, "182964004", "Terminal care"}, "Symptom control at home"},
                 {{kSct, "133918004", "Comfort measures"}, "Comfort and dignity first"}});
  }
}

}  // namespace carerecord::app::demo
