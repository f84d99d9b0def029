// The codes and identifier systems the demo region uses, and the clinical facts the generator
// attaches to them (prevalence by age, first-line medicines, reference ranges, what follows an
// emergency presentation). Constant tables; included by the demo generator's files only.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace carerecord::app::demo {

// Systems are the canonical FHIR/UK ones.
inline constexpr std::string_view kSct = "http://snomed.info/sct";
inline constexpr std::string_view kLoinc = "http://loinc.org";
inline constexpr std::string_view kDmd = "https://dmd.nhs.uk";
inline constexpr std::string_view kUcum = "http://unitsofmeasure.org";
inline constexpr std::string_view kActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
inline constexpr std::string_view kRoleCode = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
inline constexpr std::string_view kNhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number";
inline constexpr std::string_view kOdsSystem = "https://fhir.nhs.uk/Id/ods-organization-code";
inline constexpr std::string_view kGmcSystem = "https://fhir.hl7.org.uk/Id/gmc-number";
inline constexpr std::string_view kNmcSystem = "https://fhir.hl7.org.uk/Id/nmc-number";
// Local identifiers of the fictional organisations live under the reserved .example domain.
inline constexpr std::string_view kHospitalNumberSystem =
    "https://fhir.casterbridge.example/Id/hospital-number";
inline constexpr std::string_view kCouncilStaffSystem =
    "https://fhir.casterbridge.example/Id/council-staff-number";

struct Code {
  std::string_view system;
  std::string_view code;
  std::string_view display;
};

struct Medicine {
  Code code;
  std::string_view dosage;
  int quantity;  // per 84-day issue (or per course)
  std::string_view unit;
};

enum MedicineId {
  kMetformin,
  kRamipril,
  kAmlodipine,
  kSalbutamol,
  kFurosemide,
  kParacetamol,
  kAspirin,
  kCitalopram,
  kApixaban,
  kBisoprolol,
  kAmoxicillin,
  kNoMedicine = -1,
};

// The tables below keep one entry per line or two; clang-format would stack every field.
// clang-format off

// dm+d virtual medicinal products.
inline constexpr Medicine kMedicines[] = {
    {{kDmd, "325278007", "Metformin 500mg tablets"}, "One tablet twice a day with food", 168,
     "tablet"},
    {{kDmd, "318901006", "Ramipril 2.5mg capsules"}, "One capsule once a day", 84, "capsule"},
    {{kDmd, "319283006", "Amlodipine 5mg tablets"}, "One tablet once a day", 84, "tablet"},
    {{kDmd, "320176004", "Salbutamol 100micrograms/dose inhaler CFC free"},
     "Two puffs when required for breathlessness", 2, "inhaler"},
    {{kDmd, "317972000", "Furosemide 40mg tablets"}, "One tablet each morning", 84, "tablet"},
    {{kDmd, "322236009", "Paracetamol 500mg tablets"},
     "One or two tablets up to four times a day when required", 200, "tablet"},
    {{kDmd, "319773006", "Aspirin 75mg dispersible tablets"}, "One tablet once a day", 84,
     "tablet"},
    {{kDmd, "321987003", "Citalopram 20mg tablets"}, "One tablet once a day", 84, "tablet"},
    {{kDmd, "42206511000001102", "Apixaban 5mg tablets"}, "One tablet twice a day", 168, "tablet"},
    {{kDmd, "318590006", "Bisoprolol 5mg tablets"}, "One tablet once a day", 84, "tablet"},
    {{kDmd, "323509004", "Amoxicillin 250mg capsules"},
     "Two capsules three times a day for five days", 30, "capsule"},
};

enum ChronicId {
  kHypertension, kDiabetes, kAsthma, kCopd, kDepression, kAnxiety, kAtrialFibrillation,
  kHeartFailure, kKidneyDisease, kDementia, kOsteoarthritis, kOsteoporosis, kStroke, kColonCancer,
  kBreastCancer, kLungCancer,
};

struct ChronicCondition {
  Code code;
  int min_age;
  std::array<int, 4> per_mille;  // prevalence in the age bands 0-17, 18-64, 65-84, 85+
  std::array<int, 2> medicines;
  bool female_only;
  bool life_limiting;  // brings in the hospice
};

// Indexed by ChronicId.
inline constexpr ChronicCondition kChronicConditions[] = {
    {{kSct, "38341003", "Hypertensive disorder"}, 30, {0, 120, 450, 550},
     {kRamipril, kNoMedicine}, false, false},
    {{kSct, "44054006", "Type 2 diabetes mellitus"}, 25, {0, 60, 180, 180},
     {kMetformin, kNoMedicine}, false, false},
    {{kSct, "195967001", "Asthma"}, 3, {90, 80, 60, 50}, {kSalbutamol, kNoMedicine}, false, false},
    {{kSct, "13645005", "Chronic obstructive lung disease"}, 40, {0, 20, 100, 120},
     {kSalbutamol, kNoMedicine}, false, false},
    {{kSct, "35489007", "Depressive disorder"}, 14, {10, 100, 80, 60},
     {kCitalopram, kNoMedicine}, false, false},
    {{kSct, "197480006", "Anxiety disorder"}, 10, {20, 60, 40, 30}, {kNoMedicine, kNoMedicine},
     false, false},
    {{kSct, "49436004", "Atrial fibrillation"}, 45, {0, 10, 100, 180}, {kApixaban, kBisoprolol},
     false, false},
    {{kSct, "84114007", "Heart failure"}, 45, {0, 5, 60, 120}, {kFurosemide, kBisoprolol},
     false, false},
    {{kSct, "709044004", "Chronic kidney disease"}, 40, {0, 20, 150, 250},
     {kNoMedicine, kNoMedicine}, false, false},
    {{kSct, "52448006", "Dementia"}, 60, {0, 0, 60, 250}, {kNoMedicine, kNoMedicine}, false, true},
    {{kSct, "239873007", "Osteoarthritis of knee"}, 40, {0, 50, 250, 350},
     {kParacetamol, kNoMedicine}, false, false},
    {{kSct, "64859006", "Osteoporosis"}, 50, {0, 10, 80, 200}, {kNoMedicine, kNoMedicine}, false,
     false},
    {{kSct, "230690007", "Cerebrovascular accident"}, 45, {0, 10, 40, 80},
     {kAspirin, kNoMedicine}, false, false},
    {{kSct, "363406005", "Malignant tumor of colon"}, 50, {0, 2, 15, 20},
     {kNoMedicine, kNoMedicine}, false, true},
    {{kSct, "254837009", "Malignant neoplasm of breast"}, 35, {0, 6, 25, 25},
     {kNoMedicine, kNoMedicine}, true, true},
    {{kSct, "254632001", "Small cell carcinoma of lung"}, 50, {0, 1, 10, 10},
     {kNoMedicine, kNoMedicine}, false, true},
};
inline constexpr int kChronicCount = static_cast<int>(std::size(kChronicConditions));

struct AcuteProblem {
  Code code;
  int medicine;
  int min_age;
};

// Seen and treated in general practice; resolved within weeks.
inline constexpr AcuteProblem kGpProblems[] = {
    {{kSct, "68566005", "Urinary tract infectious disease"}, kNoMedicine, 16},
    {{kSct, "50417007", "Lower respiratory tract infection"}, kAmoxicillin, 0},
    {{kSct, "444814009", "Viral sinusitis"}, kNoMedicine, 0},
    {{kSct, "195662009", "Acute viral pharyngitis"}, kNoMedicine, 0},
    {{kSct, "279039007", "Low back pain"}, kParacetamol, 16},
    {{kSct, "9826008", "Conjunctivitis"}, kNoMedicine, 0},
    {{kSct, "25064002", "Headache"}, kNoMedicine, 5},
};

enum class Specialty {
  kEmergency, kAcuteMedicine, kGeriatrics, kRespiratory, kCardiology, kOrthopaedics,
  kGeneralSurgery, kDiabetes,
};
inline constexpr std::string_view kSpecialtyNames[] = {
    "Emergency medicine", "Acute internal medicine", "Geriatric medicine", "Respiratory medicine",
    "Cardiology", "Trauma and orthopaedics", "General surgery", "Diabetes and endocrinology",
};
inline constexpr int kSpecialtyCount = static_cast<int>(std::size(kSpecialtyNames));

inline constexpr Code kNoCode{};

// What brings someone to the emergency department, what is found, and what follows.
struct EmergencyPresentation {
  Code complaint;
  Code diagnosis;
  Code department_procedure;
  int admit_percent;
  Code ward_procedure;
  Specialty admitting;
  int min_age;
  std::array<int, 3> weight;  // relative likelihood for ages <18, 18-69, 70+
  int recovery_days;
};

inline constexpr Code kFall{kSct, "217082002", "Accidental fall"};
inline constexpr Code kBoneImmobilisation{kSct, "274474001", "Bone immobilization"};
inline constexpr Code kDyspnoea{kSct, "267036007", "Dyspnea"};
inline constexpr Code kOxygenByMask{kSct, "371908008", "Oxygen administration by mask"};
inline constexpr Code kChestXray{kSct, "399208008", "Plain chest X-ray"};

inline constexpr EmergencyPresentation kPresentations[] = {
    {kFall, {kSct, "65966004", "Fracture of forearm"}, kBoneImmobilisation, 0, kNoCode,
     Specialty::kOrthopaedics, 3, {6, 3, 4}, 42},
    {kFall, {kSct, "5913000", "Fracture of neck of femur"}, kNoCode, 100,
     {kSct, "52734007", "Total replacement of hip"}, Specialty::kOrthopaedics, 60, {0, 1, 6}, 90},
    {kFall, {kSct, "16114001", "Fracture of ankle"}, kBoneImmobilisation, 0, kNoCode,
     Specialty::kOrthopaedics, 8, {3, 3, 2}, 42},
    {{kSct, "283371005", "Laceration of forearm"}, {kSct, "283371005", "Laceration of forearm"},
     {kSct, "288086009", "Suture open wound"}, 0, kNoCode, Specialty::kEmergency, 2, {5, 4, 2},
     14},
    {kFall, {kSct, "62106007", "Concussion with no loss of consciousness"}, kNoCode, 10, kNoCode,
     Specialty::kEmergency, 1, {5, 2, 3}, 14},
    {{kSct, "29857009", "Chest pain"}, {kSct, "29857009", "Chest pain"},
     {kSct, "29303009", "Electrocardiographic procedure"}, 25,
     {kSct, "40701008", "Echocardiography"}, Specialty::kCardiology, 25, {0, 4, 4}, 7},
    {kDyspnoea, {kSct, "233604007", "Pneumonia"}, kChestXray, 60, kOxygenByMask,
     Specialty::kRespiratory, 0, {2, 2, 5}, 28},
    {{kSct, "21522001", "Abdominal pain"}, {kSct, "74400008", "Appendicitis"}, kNoCode, 100,
     {kSct, "80146002", "Appendectomy"}, Specialty::kGeneralSurgery, 5, {3, 2, 1}, 28},
    {{kSct, "386661006", "Fever"}, {kSct, "68566005", "Urinary tract infectious disease"}, kNoCode,
     40, kNoCode, Specialty::kGeriatrics, 16, {0, 1, 4}, 14},
};

struct VitalSign {
  Code loinc;
  Code snomed;
  std::string_view unit;
  std::string_view ucum;
};

enum VitalId {
  kHeartRate, kRespiratoryRate, kTemperature, kOxygenSaturation, kBodyWeight, kBodyHeight,
  kBodyMassIndex,
};

inline constexpr VitalSign kVitalSigns[] = {
    {{kLoinc, "8867-4", "Heart rate"}, {kSct, "364075005", "Heart rate"}, "beats/minute", "/min"},
    {{kLoinc, "9279-1", "Respiratory rate"}, {kSct, "86290005", "Respiratory rate"},
     "breaths/minute", "/min"},
    {{kLoinc, "8310-5", "Body temperature"}, {kSct, "386725007", "Body temperature"},
     "degree Celsius", "Cel"},
    {{kLoinc, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"},
     {kSct, "431314004", "Peripheral oxygen saturation"}, "%", "%"},
    {{kLoinc, "29463-7", "Body weight"}, {kSct, "27113001", "Body weight"}, "kg", "kg"},
    {{kLoinc, "8302-2", "Body height"}, {kSct, "50373000", "Body height measure"}, "cm", "cm"},
    {{kLoinc, "39156-5", "Body mass index (BMI) [Ratio]"}, {kSct, "60621009", "Body mass index"},
     "kg/m2", "kg/m2"},
};

struct LabTest {
  Code code;
  std::string_view ucum;
  double low;  // reference range; 0 for none
  double high;
  int decimals;
};

enum LabTestId {
  kHaemoglobin, kWhiteCells, kPlatelets, kSodium, kPotassium, kUrea, kCreatinine, kEgfr, kHba1c,
  kCholesterol, kHdlCholesterol, kTriglycerides,
};

inline constexpr LabTest kLabTests[] = {
    {{kLoinc, "718-7", "Hemoglobin [Mass/volume] in Blood"}, "g/L", 120, 170, 0},
    {{kLoinc, "6690-2", "Leukocytes [#/volume] in Blood by Automated count"}, "10*9/L", 4.0, 11.0,
     1},
    {{kLoinc, "777-3", "Platelets [#/volume] in Blood by Automated count"}, "10*9/L", 150, 400, 0},
    {{kLoinc, "2951-2", "Sodium [Moles/volume] in Serum or Plasma"}, "mmol/L", 133, 146, 0},
    {{kLoinc, "2823-3", "Potassium [Moles/volume] in Serum or Plasma"}, "mmol/L", 3.5, 5.3, 1},
    {{kLoinc, "22664-7", "Urea [Moles/volume] in Serum or Plasma"}, "mmol/L", 2.5, 7.8, 1},
    {{kLoinc, "14682-9", "Creatinine [Moles/volume] in Serum or Plasma"}, "umol/L", 59, 104, 0},
    {{kLoinc, "33914-3", "Glomerular filtration rate/1.73 sq M.predicted"}, "mL/min/{1.73_m2}", 60,
     120, 0},
    {{kLoinc, "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol"}, "mmol/mol",
     20, 41, 0},
    {{kLoinc, "14647-2", "Cholesterol [Moles/volume] in Serum or Plasma"}, "mmol/L", 0, 5.0, 1},
    {{kLoinc, "14646-4", "Cholesterol in HDL [Moles/volume] in Serum or Plasma"}, "mmol/L", 1.0,
     2.5, 1},
    {{kLoinc, "14927-8", "Triglyceride [Moles/volume] in Serum or Plasma"}, "mmol/L", 0, 1.7, 1},
};

enum class LabPanel { kFullBloodCount, kRenal, kHba1c, kLipids };

struct LabPanelInfo {
  Code code;
  std::string_view section;  // v2-0074 diagnostic service section
  std::string_view section_display;
};

inline constexpr LabPanelInfo kLabPanels[] = {
    {{kLoinc, "58410-2", "Complete blood count (hemogram) panel - Blood by Automated count"}, "HM",
     "Hematology"},
    {{kLoinc, "24362-6", "Renal function panel - Serum or Plasma"}, "CH", "Chemistry"},
    {{kLoinc, "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol"}, "CH",
     "Chemistry"},
    {{kLoinc, "57698-3", "Lipid panel with direct LDL - Serum or Plasma"}, "CH", "Chemistry"},
};

// clang-format on

}  // namespace carerecord::app::demo
