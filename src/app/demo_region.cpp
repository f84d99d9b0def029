// Builds the demo region in two steps: the region (organisations and staff) drawn once from the
// seed, then each patient's record from a random stream of its own, seeded by the seed and the
// patient's number. Resources are built as Boost.JSON objects and written by a small serializer
// that prints decimals as people write them (72.3, not Boost's 7.23E1).
#include "app/demo_region.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/fhir_date.h"
#include "fhir/json_text.h"

namespace carerecord::app {
namespace {

namespace json = boost::json;
using std::string_view;

// ---------------------------------------------------------------------------------------------
// Terminology: codes used by the generator. Systems are the canonical FHIR/UK ones.

constexpr string_view kSct = "http://snomed.info/sct";
constexpr string_view kLoinc = "http://loinc.org";
constexpr string_view kDmd = "https://dmd.nhs.uk";
constexpr string_view kUcum = "http://unitsofmeasure.org";
constexpr string_view kActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
constexpr string_view kRoleCode = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
constexpr string_view kNhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number";
constexpr string_view kOdsSystem = "https://fhir.nhs.uk/Id/ods-organization-code";
constexpr string_view kGmcSystem = "https://fhir.hl7.org.uk/Id/gmc-number";
constexpr string_view kNmcSystem = "https://fhir.hl7.org.uk/Id/nmc-number";
// Local identifiers of the fictional organisations live under the reserved .example domain.
constexpr string_view kHospitalNumberSystem =
    "https://fhir.casterbridge.example/Id/hospital-number";
constexpr string_view kCouncilStaffSystem =
    "https://fhir.casterbridge.example/Id/council-staff-number";

struct Code {
  string_view system;
  string_view code;
  string_view display;
};

struct Medicine {
  Code code;
  string_view dosage;
  int quantity;  // per 84-day issue (or per course)
  string_view unit;
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
constexpr Medicine kMedicines[] = {
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
constexpr ChronicCondition kChronicConditions[] = {
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
constexpr int kChronicCount = static_cast<int>(std::size(kChronicConditions));

struct AcuteProblem {
  Code code;
  int medicine;
  int min_age;
};

// Seen and treated in general practice; resolved within weeks.
constexpr AcuteProblem kGpProblems[] = {
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
constexpr string_view kSpecialtyNames[] = {
    "Emergency medicine", "Acute internal medicine", "Geriatric medicine", "Respiratory medicine",
    "Cardiology", "Trauma and orthopaedics", "General surgery", "Diabetes and endocrinology",
};
constexpr int kSpecialtyCount = static_cast<int>(std::size(kSpecialtyNames));

constexpr Code kNoCode{};

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

constexpr Code kFall{kSct, "217082002", "Accidental fall"};
constexpr Code kBoneImmobilisation{kSct, "274474001", "Bone immobilization"};
constexpr Code kDyspnoea{kSct, "267036007", "Dyspnea"};
constexpr Code kOxygenByMask{kSct, "371908008", "Oxygen administration by mask"};
constexpr Code kChestXray{kSct, "399208008", "Plain chest X-ray"};

constexpr EmergencyPresentation kPresentations[] = {
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
  string_view unit;
  string_view ucum;
};

enum VitalId {
  kHeartRate, kRespiratoryRate, kTemperature, kOxygenSaturation, kBodyWeight, kBodyHeight,
  kBodyMassIndex,
};

constexpr VitalSign kVitalSigns[] = {
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
  string_view ucum;
  double low;  // reference range; 0 for none
  double high;
  int decimals;
};

enum LabTestId {
  kHaemoglobin, kWhiteCells, kPlatelets, kSodium, kPotassium, kUrea, kCreatinine, kEgfr, kHba1c,
  kCholesterol, kHdlCholesterol, kTriglycerides,
};

constexpr LabTest kLabTests[] = {
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
  string_view section;  // v2-0074 diagnostic service section
  string_view section_display;
};

constexpr LabPanelInfo kLabPanels[] = {
    {{kLoinc, "58410-2", "Complete blood count (hemogram) panel - Blood by Automated count"}, "HM",
     "Hematology"},
    {{kLoinc, "24362-6", "Renal function panel - Serum or Plasma"}, "CH", "Chemistry"},
    {{kLoinc, "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol"}, "CH",
     "Chemistry"},
    {{kLoinc, "57698-3", "Lipid panel with direct LDL - Serum or Plasma"}, "CH", "Chemistry"},
};

// ---------------------------------------------------------------------------------------------
// Names and places. Common names combined at random; the streets and town are invented.

constexpr string_view kFemaleNamesOlder[] = {
    "Margaret", "Patricia", "Susan", "Jean", "Barbara", "Elizabeth", "Mary", "Joan", "Dorothy",
    "Sheila", "Brenda", "Pauline", "Valerie", "Christine", "Janet", "Maureen", "Linda", "Carol",
    "Ann", "Gillian", "Sandra", "Kathleen", "Doreen", "Irene"};
constexpr string_view kFemaleNamesYounger[] = {
    "Sarah", "Emma", "Claire", "Helen", "Rachel", "Laura", "Sophie", "Emily", "Olivia", "Amelia",
    "Isla", "Grace", "Lucy", "Hannah", "Ruby", "Ella", "Jessica", "Karen", "Julie", "Nicola",
    "Chloe", "Megan", "Charlotte", "Freya"};
constexpr string_view kMaleNamesOlder[] = {
    "John", "David", "Michael", "Peter", "Robert", "James", "William", "Richard", "Brian", "Alan",
    "Kenneth", "Keith", "Derek", "Graham", "Roger", "Colin", "Geoffrey", "Trevor", "Dennis",
    "Raymond", "Anthony", "Malcolm", "Barry", "Terence"};
constexpr string_view kMaleNamesYounger[] = {
    "Paul", "Mark", "Andrew", "Stephen", "Christopher", "Daniel", "Matthew", "Thomas", "Oliver",
    "Harry", "Jack", "George", "Noah", "Leo", "Samuel", "Joseph", "Jacob", "Oscar", "Alfie",
    "Benjamin", "Luke", "Adam", "Ryan", "Liam"};
constexpr string_view kSurnames[] = {
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson",
    "Clarke", "Patel", "Khan", "Lewis", "James", "Hughes", "Edwards", "Harris", "Martin", "Cooper",
    "King", "Baker", "Turner", "Hill", "Moore", "Clark", "Ward", "Morris", "Parker", "Bennett",
    "Cook", "Price", "Bailey", "Shaw", "Mills", "Lee", "Russell", "Palmer", "Grant"};
constexpr string_view kStreetStems[] = {
    "Mellstock", "Weatherbury", "Budmouth", "Egdon", "Durnover", "Froom", "Shottsford",
    "Kingsbere", "Sherton", "Chalkdown", "Hintock", "Lulstead", "Marlott", "Nettlecombe",
    "Abbotsea", "Greyhope", "Wyvern", "Oakhanger", "Stourcastle", "Anglebury", "Emminster"};
constexpr string_view kStreetKinds[] = {
    "Road", "Lane", "Close", "Street", "Avenue", "Gardens", "Way", "Crescent", "Drive", "Terrace"};
constexpr string_view kPracticeNames[] = {
    "Mellstock Surgery", "Durnover Medical Centre", "Froom Valley Practice",
    "Weatherbury Health Centre", "Chalkdown Surgery", "Hintock Family Practice",
    "Budmouth Road Surgery", "Kingsbere Medical Practice", "Greyhope Health Centre",
    "Sherton Abbas Surgery", "Egdon Heath Practice", "Lulstead Medical Centre"};

// clang-format on

constexpr string_view kTown = "Casterbridge";
constexpr string_view kCounty = "Dorset";
// Inward codes never use C, I, K, M, O or V.
constexpr string_view kInwardLetters = "ABDEFGHJLNPQRSTUWXYZ";

// ---------------------------------------------------------------------------------------------
// Randomness that is the same on every standard library.

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class DemoRandom {
 public:
  explicit DemoRandom(uint64_t seed) : engine_(seed) {}

  // Uniform over [low, high]. Rejection sampling rather than std::uniform_int_distribution,
  // whose algorithm each standard library chooses for itself.
  int64_t Between(int64_t low, int64_t high) {
    const uint64_t span = static_cast<uint64_t>(high - low) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t x = engine_();
    while (x >= limit) x = engine_();
    return low + static_cast<int64_t>(x % span);
  }
  bool Percent(int64_t percent) { return Between(0, 99) < percent; }
  bool PerMille(int64_t per_mille) { return Between(0, 999) < per_mille; }
  template <typename Container>
  const auto& Pick(const Container& items) {
    return items[static_cast<size_t>(Between(0, static_cast<int64_t>(std::size(items)) - 1))];
  }

  // A version 4 UUID in canonical form.
  std::string Uuid() {
    const uint64_t hi = (engine_() & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
    const uint64_t lo = (engine_() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 32; ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
      const uint64_t word = i < 16 ? hi : lo;
      out += kHex[(word >> (60 - 4 * (i % 16))) & 0xf];
    }
    return out;
  }

 private:
  std::mt19937_64 engine_;
};

// ---------------------------------------------------------------------------------------------
// Calendar arithmetic on UTC seconds (proleptic Gregorian; H. Hinnant's civil algorithms).

constexpr int64_t kMinute = 60;
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;
constexpr int64_t kYear = 365 * kDay + kDay / 4;

using fhir::CivilDate;
using fhir::CivilFromDays;
using fhir::DaysFromCivil;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

constexpr int64_t kReferenceTime = DaysFromCivil(2026, 11, 1) * kDay;
constexpr int64_t kWindowStart = DaysFromCivil(2016, 11, 1) * kDay;

std::string DateText(int64_t seconds) {
  const CivilDate c = CivilFromDays(FloorDiv(seconds, kDay));
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(c.year), c.month,
                c.day);
  return buf;
}

// A dateTime (and instant) to the second, in UTC.
std::string DateTimeText(int64_t seconds) {
  const int64_t in_day = seconds - FloorDiv(seconds, kDay) * kDay;
  char buf[16];
  std::snprintf(buf, sizeof buf, "T%02d:%02d:%02dZ", static_cast<int>(in_day / kHour),
                static_cast<int>(in_day % kHour / kMinute), static_cast<int>(in_day % kMinute));
  return DateText(seconds) + buf;
}

// Whole years from `birth` to `when`.
int AgeAt(int64_t birth, int64_t when) {
  const CivilDate b = CivilFromDays(FloorDiv(birth, kDay));
  const CivilDate w = CivilFromDays(FloorDiv(when, kDay));
  int age = static_cast<int>(w.year - b.year);
  if (w.month < b.month || (w.month == b.month && w.day < b.day)) --age;
  return age;
}

int64_t AddYears(int64_t seconds, int years) { return seconds + years * kYear; }

// ---------------------------------------------------------------------------------------------
// JSON building and writing.

json::object CodingOf(const Code& code) {
  return json::object{{"system", code.system}, {"code", code.code}, {"display", code.display}};
}

json::object Concept(const Code& code) {
  return json::object{{"coding", json::array{CodingOf(code)}}, {"text", code.display}};
}

json::object Concept(const Code& first, const Code& second) {
  return json::object{{"coding", json::array{CodingOf(first), CodingOf(second)}},
                      {"text", first.display}};
}

json::object TextConcept(string_view text) { return json::object{{"text", text}}; }

json::object Ref(string_view reference, string_view display = {}) {
  json::object out{{"reference", reference}};
  if (!display.empty()) out["display"] = display;
  return out;
}

double Rounded(double value, int decimals) {
  double scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  return static_cast<double>(static_cast<int64_t>(value * scale + (value >= 0 ? 0.5 : -0.5))) /
         scale;
}

json::value Number(double value, int decimals) {
  if (decimals == 0) return json::value(static_cast<int64_t>(Rounded(value, 0)));
  return json::value(Rounded(value, decimals));
}

json::object Quantity(double value, int decimals, string_view unit, string_view ucum) {
  return json::object{
      {"value", Number(value, decimals)}, {"unit", unit}, {"system", kUcum}, {"code", ucum}};
}

json::object Period(int64_t start, int64_t end) {
  json::object out{{"start", DateTimeText(start)}};
  if (end > start && end <= kReferenceTime) out["end"] = DateTimeText(end);
  return out;
}

// A transaction Bundle written entry by entry, so each resource's DOM lives only until written.
class TransactionText {
 public:
  TransactionText() {
    text_.reserve(1 << 18);
    text_ = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  }

  void Append(string_view full_url, const json::object& resource, string_view method,
              string_view url) {
    text_ += entries_++ == 0 ? "{" : ",{";
    if (!full_url.empty()) {
      text_ += "\"fullUrl\":";
      fhir::AppendJsonString(text_, full_url);
      text_ += ',';
    }
    text_ += "\"resource\":";
    fhir::AppendJson(text_, resource);
    text_ += ",\"request\":{\"method\":";
    fhir::AppendJsonString(text_, method);
    text_ += ",\"url\":";
    fhir::AppendJsonString(text_, url);
    text_ += "}}";
  }

  std::string Finish() {
    text_ += "]}";
    return std::move(text_);
  }

 private:
  std::string text_;
  size_t entries_ = 0;
};

std::string Base64(string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Every resource carries the HL7 tag for test data, so no one mistakes it for a real record.
json::object NewResource(string_view type) {
  json::object tag{{"system", "http://terminology.hl7.org/CodeSystem/v3-ActReason"},
                   {"code", "HTEST"},
                   {"display", "test health data"}};
  return json::object{{"resourceType", type}, {"meta", {{"tag", json::array{std::move(tag)}}}}};
}

std::string DramaLandline(DemoRandom& random) {
  return "01632 960" + std::to_string(100 + random.Between(0, 899));
}

std::string DramaMobile(DemoRandom& random) {
  return "07700 900" + std::to_string(100 + random.Between(0, 899));
}

std::string Postcode(DemoRandom& random) {
  std::string out =
      "DT" + std::to_string(random.Between(1, 11)) + " " + std::to_string(random.Between(1, 9));
  out += random.Pick(kInwardLetters);
  out += random.Pick(kInwardLetters);
  return out;
}

json::object Address(DemoRandom& random, string_view use) {
  std::string line = std::to_string(random.Between(1, 160)) + " " +
                     std::string(random.Pick(kStreetStems)) + " " +
                     std::string(random.Pick(kStreetKinds));
  return json::object{
      {"use", use},          {"line", json::array{json::string(line)}}, {"city", kTown},
      {"district", kCounty}, {"postalCode", Postcode(random)},          {"country", "GB"}};
}

struct PersonName {
  std::string given;
  std::string middle;
  std::string family;
  std::string prefix;
  std::string Display() const { return given + " " + family; }
};

PersonName DrawName(DemoRandom& random, bool female, int birth_year) {
  const bool older = birth_year < 1970;
  PersonName name;
  const auto& pool = female ? (older ? kFemaleNamesOlder : kFemaleNamesYounger)
                            : (older ? kMaleNamesOlder : kMaleNamesYounger);
  name.given = random.Pick(pool);
  if (random.Percent(30)) {
    do {
      name.middle = random.Pick(pool);
    } while (name.middle == name.given);
  }
  name.family = random.Pick(kSurnames);
  return name;
}

json::object HumanName(const PersonName& name) {
  json::array given{json::string(name.given)};
  if (!name.middle.empty()) given.emplace_back(json::string(name.middle));
  json::object out{{"use", "official"}, {"family", name.family}, {"given", std::move(given)}};
  if (!name.prefix.empty()) out["prefix"] = json::array{json::string(name.prefix)};
  return out;
}

// ---------------------------------------------------------------------------------------------
// The region: organisations and the people who work for them.

constexpr string_view kIcb = "Organization/org-icb";
constexpr string_view kTrust = "Organization/org-trust";
constexpr string_view kCommunityTrust = "Organization/org-community";
constexpr string_view kHospice = "Organization/org-hospice";
constexpr string_view kCouncil = "Organization/org-council";
constexpr string_view kTrustName = "Casterbridge Hospitals NHS Foundation Trust";
constexpr string_view kCommunityTrustName = "South Wessex Community Health NHS Trust";
constexpr string_view kHospiceName = "Egdon Vale Hospice";
constexpr string_view kCouncilName = "Casterbridge Council Adult Social Care";

enum class StaffKind {
  kGp,
  kPracticeNurse,
  kConsultant,
  kCommunityNurse,
  kHospiceDoctor,
  kHospiceNurse,
  kSocialWorker
};

struct StaffMember {
  std::string reference;  // "Practitioner/pract-12"
  std::string name;       // "Dr Sarah Hughes"
  std::string organization;
  StaffKind kind;
};

struct GpPractice {
  std::string reference;
  std::string name;
  std::vector<size_t> gps;
  size_t nurse;
};

struct Region {
  std::vector<StaffMember> staff;
  std::vector<GpPractice> practices;
  std::array<std::vector<size_t>, kSpecialtyCount> consultants;
  std::vector<size_t> community_nurses;
  std::vector<size_t> social_workers;
  size_t hospice_doctor = 0;
  size_t hospice_nurse = 0;

  const StaffMember& Consultant(DemoRandom& random, Specialty specialty) const {
    return staff[random.Pick(consultants[static_cast<int>(specialty)])];
  }
};

// The Provenance every demo bundle ends with: the ICB assembled these entries.
json::object AssemblyProvenance(const std::vector<std::string>& targets) {
  json::object provenance = NewResource("Provenance");
  json::array references;
  for (const std::string& target : targets) {
    references.emplace_back(json::object{{"reference", target}});
  }
  provenance["target"] = std::move(references);
  provenance["recorded"] = DateTimeText(kReferenceTime);
  provenance["activity"] =
      Concept({"http://terminology.hl7.org/CodeSystem/v3-DataOperation", "CREATE", "create"});
  provenance["agent"] = json::array{json::object{
      {"type", Concept({"http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "assembler", "Assembler"})},
      {"who", Ref(kIcb, "NHS Casterbridge Integrated Care Board")}}};
  return provenance;
}

class RegionWriter {
 public:
  RegionWriter(uint64_t seed, int practices) : random_(SplitMix64(seed ^ 0x5245474eULL)) {
    practices_ = std::max(practices, 1);
  }

  // Fills `region` and returns the transaction Bundle that creates it.
  std::string Write(Region& region) {
    AddOrganization("org-icb", "Y99000", "NHS Casterbridge Integrated Care Board", "govt",
                    "Government");
    AddOrganization("org-trust", "Y99001", kTrustName, "prov", "Healthcare Provider");
    AddOrganization("org-community", "Y99002", kCommunityTrustName, "prov", "Healthcare Provider");
    AddOrganization("org-hospice", "Y99003", kHospiceName, "prov", "Healthcare Provider");
    AddOrganization("org-council", "Y99004", kCouncilName, "govt", "Government");
    for (int p = 0; p < practices_; ++p) {
      const std::string id = "org-gp-" + std::to_string(p + 1);
      std::string name = p < static_cast<int>(std::size(kPracticeNames))
                             ? std::string(kPracticeNames[p])
                             : "Casterbridge Practice " + std::to_string(p + 1);
      char ods[16];
      std::snprintf(ods, sizeof ods, "Y99%03d", 100 + p);
      AddOrganization(id, ods, name, "prov", "Healthcare Provider");
      GpPractice practice{"Organization/" + id, name, {}, 0};
      for (int g = 0; g < 3; ++g) {
        practice.gps.push_back(
            AddStaff(region, StaffKind::kGp, practice.reference, name, "General practice"));
      }
      practice.nurse =
          AddStaff(region, StaffKind::kPracticeNurse, practice.reference, name, "Practice nursing");
      region.practices.push_back(std::move(practice));
    }
    for (int s = 0; s < kSpecialtyCount; ++s) {
      const int count = s == static_cast<int>(Specialty::kEmergency) ? 3 : 2;
      for (int c = 0; c < count; ++c) {
        region.consultants[s].push_back(AddStaff(
            region, StaffKind::kConsultant, std::string(kTrust), kTrustName, kSpecialtyNames[s]));
      }
    }
    for (int n = 0; n < 4; ++n) {
      region.community_nurses.push_back(AddStaff(region, StaffKind::kCommunityNurse,
                                                 std::string(kCommunityTrust), kCommunityTrustName,
                                                 "District nursing"));
    }
    region.hospice_doctor = AddStaff(region, StaffKind::kHospiceDoctor, std::string(kHospice),
                                     kHospiceName, "Palliative medicine");
    region.hospice_nurse = AddStaff(region, StaffKind::kHospiceNurse, std::string(kHospice),
                                    kHospiceName, "Palliative care nursing");
    for (int w = 0; w < 3; ++w) {
      region.social_workers.push_back(AddStaff(region, StaffKind::kSocialWorker,
                                               std::string(kCouncil), kCouncilName,
                                               "Adult social care"));
    }
    AddProvenance();
    return bundle_.Finish();
  }

 private:
  void Put(json::object resource, const std::string& type, const std::string& id) {
    targets_.push_back(type + "/" + id);
    bundle_.Append({}, resource, "PUT", targets_.back());
  }

  void AddOrganization(const std::string& id, string_view ods, string_view name,
                       string_view type_code, string_view type_display) {
    json::object org = NewResource("Organization");
    org["id"] = id;
    org["identifier"] = json::array{json::object{{"system", kOdsSystem}, {"value", ods}}};
    org["active"] = true;
    org["type"] = json::array{Concept(
        {"http://terminology.hl7.org/CodeSystem/organization-type", type_code, type_display})};
    org["name"] = name;
    org["telecom"] = json::array{
        json::object{{"system", "phone"}, {"value", DramaLandline(random_)}, {"use", "work"}}};
    org["address"] = json::array{Address(random_, "work")};
    Put(std::move(org), "Organization", id);
  }

  size_t AddStaff(Region& region, StaffKind kind, const std::string& organization,
                  string_view organization_name, string_view specialty) {
    const size_t index = region.staff.size();
    const std::string id = "pract-" + std::to_string(index + 1);
    const bool female = random_.Percent(55);
    PersonName name = DrawName(random_, female, static_cast<int>(random_.Between(1960, 1995)));
    name.middle.clear();
    const bool doctor = kind == StaffKind::kGp || kind == StaffKind::kConsultant ||
                        kind == StaffKind::kHospiceDoctor;
    name.prefix = doctor ? "Dr" : (female ? "Ms" : "Mr");

    json::object identifier;
    Code role;
    ++registration_;
    if (doctor) {
      // Real GMC numbers have not reached 9,900,000.
      identifier = {{"system", kGmcSystem}, {"value", std::to_string(9900000 + registration_)}};
      role = kind == StaffKind::kGp ? Code{kSct, "62247001", "General practitioner"}
                                    : Code{kSct, "309343006", "Physician"};
    } else if (kind == StaffKind::kSocialWorker) {
      char value[16];
      std::snprintf(value, sizeof value, "ASC%05d", registration_);
      identifier = {{"system", kCouncilStaffSystem}, {"value", value}};
      role = {kSct, "106328005", "Social worker"};
    } else {
      char value[16];
      std::snprintf(value, sizeof value, "99Z%04d%c", registration_,
                    static_cast<char>('A' + registration_ % 26));
      identifier = {{"system", kNmcSystem}, {"value", value}};
      role = {kSct, "224535009", "Registered nurse"};
    }
    const std::string display = name.prefix + " " + name.Display();
    json::object practitioner = NewResource("Practitioner");
    practitioner["id"] = id;
    practitioner["identifier"] = json::array{std::move(identifier)};
    practitioner["active"] = true;
    practitioner["name"] = json::array{HumanName(name)};
    practitioner["telecom"] = json::array{
        json::object{{"system", "phone"}, {"value", DramaLandline(random_)}, {"use", "work"}}};
    practitioner["gender"] = female ? "female" : "male";
    Put(std::move(practitioner), "Practitioner", id);

    const std::string role_id = "role-" + std::to_string(index + 1);
    json::object practitioner_role = NewResource("PractitionerRole");
    practitioner_role["id"] = role_id;
    practitioner_role["active"] = true;
    practitioner_role["practitioner"] = Ref("Practitioner/" + id, display);
    practitioner_role["organization"] = Ref(organization, organization_name);
    practitioner_role["code"] = json::array{Concept(role)};
    practitioner_role["specialty"] = json::array{TextConcept(specialty)};
    Put(std::move(practitioner_role), "PractitionerRole", role_id);

    region.staff.push_back({"Practitioner/" + id, display, organization, kind});
    return index;
  }

  void AddProvenance() {
    json::object provenance = AssemblyProvenance(targets_);
    provenance["id"] = "demo-region";
    Put(std::move(provenance), "Provenance", "demo-region");
  }

  DemoRandom random_;
  int practices_;
  int registration_ = 0;
  TransactionText bundle_;
  std::vector<std::string> targets_;
};

// ---------------------------------------------------------------------------------------------
// One patient's record.

constexpr string_view kObservationCategory =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr Code kVitalSignsCategory{kObservationCategory, "vital-signs", "Vital Signs"};
constexpr Code kLaboratoryCategory{kObservationCategory, "laboratory", "Laboratory"};
constexpr Code kAmbulatory{kActCode, "AMB", "ambulatory"};
constexpr Code kEmergency{kActCode, "EMER", "emergency"};
constexpr Code kInpatient{kActCode, "IMP", "inpatient encounter"};
constexpr Code kHomeHealth{kActCode, "HH", "home health"};
constexpr Code kHomeVisit{kSct, "439708006", "Home visit"};
constexpr Code kCarePlan{kSct, "734163000", "Care plan"};
constexpr string_view kFlagCategory = "http://terminology.hl7.org/CodeSystem/flag-category";

struct ChronicRecord {
  int id;
  int64_t onset;
  std::string reference;
};

struct Prescription {
  int medicine;
  int64_t start;
  std::string reason;
};

struct CarePlanActivity {
  Code code;
  string_view description;
};

class PatientRecordWriter {
 public:
  PatientRecordWriter(const Region& region, uint64_t seed, int number, std::string nhs_number)
      : region_(region),
        random_(SplitMix64(seed ^ SplitMix64(0x50415449454e54ULL + static_cast<uint64_t>(number)))),
        number_(number),
        nhs_number_(std::move(nhs_number)) {}

  std::string Write() {
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

 private:
  // --- who the patient is ---

  void DrawPerson() {
    female_ = random_.Percent(51);
    const int band = static_cast<int>(random_.Between(0, 99));
    age_ = band < 15   ? static_cast<int>(random_.Between(0, 17))
           : band < 60 ? static_cast<int>(random_.Between(18, 64))
           : band < 90 ? static_cast<int>(random_.Between(65, 84))
                       : static_cast<int>(random_.Between(85, 99));
    birth_ =
        FloorDiv(AddYears(kReferenceTime, -age_) - random_.Between(1, 364) * kDay, kDay) * kDay;
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

  // Next of kin, marital status and title hang together, so they are drawn together.
  void DrawKinship() {
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

  void AddPatient() {
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

  void AddNextOfKin() {
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

  void AddConsent() {
    const int64_t when = ClinicTime(start_, std::min(kReferenceTime, start_ + 3 * kYear));
    const bool opted_out = random_.Percent(4);
    json::object consent = NewResource("Consent");
    consent["status"] = "active";
    consent["scope"] = Concept({"http://terminology.hl7.org/CodeSystem/consentscope",
                                "patient-privacy", "Privacy Consent"});
    consent["category"] = json::array{Concept({kLoinc, "59284-0", "Patient Consent"})};
    consent["patient"] = Ref(patient_, display_);
    consent["dateTime"] = DateTimeText(when);
    consent["performer"] =
        json::array{age_ < 18 && AgeAt(birth_, when) < 16 ? Ref(next_of_kin_, next_of_kin_name_)
                                                          : Ref(patient_, display_)};
    consent["organization"] = json::array{Ref(kIcb, "NHS Casterbridge Integrated Care Board")};
    consent["policyRule"] = opted_out ? Concept({kActCode, "OPTOUT", "opt-out"})
                                      : Concept({kActCode, "OPTIN", "opt-in"});
    consent["provision"] = json::object{
        {"type", opted_out ? "deny" : "permit"},
        {"period", json::object{{"start", DateTimeText(when)}}},
        {"purpose",
         json::array{json::object{{"system", "http://terminology.hl7.org/CodeSystem/v3-ActReason"},
                                  {"code", "TREAT"},
                                  {"display", "treatment"}}}}};
    Add(std::move(consent));
  }

  // --- problems ---

  void AddChronicConditions() {
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

  json::object ConditionResource(const Code& code, string_view category,
                                 string_view category_display, int64_t onset,
                                 const StaffMember& recorder, const std::string& encounter) {
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

  static json::object ClinicalStatus(string_view code, string_view display) {
    return Concept({"http://terminology.hl7.org/CodeSystem/condition-clinical", code, display});
  }

  // An episode's diagnosis that resolves `recovery_days` later (or is still active).
  void AddResolvingCondition(const Code& code, int64_t when, int recovery_days,
                             const StaffMember& recorder, const std::string& encounter,
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

  const ChronicRecord* Chronic(int id) const {
    for (const ChronicRecord& record : chronic_) {
      if (record.id == id) return &record;
    }
    return nullptr;
  }

  bool HasChronic(int id, int64_t at = kReferenceTime) const {
    const ChronicRecord* record = Chronic(id);
    return record != nullptr && record->onset <= at;
  }

  void AddAllergies() {
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
      resource["clinicalStatus"] =
          Concept({"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active",
                   "Active"});
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

  // --- general practice ---

  void AddGpConsultations() {
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

  void AddGpConsultation(int64_t when) {
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
      if (random_.Percent(30))
        AddLabReport(LabPanel::kFullBloodCount, sampled, encounter, clinician);
    } else if (reviewing(kHypertension)) {
      if (random_.Percent(50)) AddLabReport(LabPanel::kRenal, sampled, encounter, clinician);
      if (random_.Percent(25)) AddLabReport(LabPanel::kLipids, sampled, encounter, clinician);
    } else if (reviewing(kAtrialFibrillation)) {
      if (random_.Percent(40))
        AddLabReport(LabPanel::kFullBloodCount, sampled, encounter, clinician);
      if (random_.Percent(40)) AddLabReport(LabPanel::kRenal, sampled, encounter, clinician);
    } else if (age >= 18 && problem == nullptr && random_.Percent(15)) {
      AddLabReport(LabPanel::kFullBloodCount, sampled, encounter, clinician);
      if (random_.Percent(60)) AddLabReport(LabPanel::kRenal, sampled, encounter, clinician);
    }
  }

  json::object EncounterResource(const Code& encounter_class, const Code& type,
                                 const StaffMember& clinician, string_view participation,
                                 string_view participation_display, int64_t start, int64_t end,
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

  // --- observations ---

  json::object ObservationResource(const Code& category, int64_t when,
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

  std::string AddVital(VitalId id, double value, int decimals, int64_t when,
                       const std::string& encounter, const StaffMember& performer) {
    const VitalSign& vital = kVitalSigns[id];
    json::object observation = ObservationResource(kVitalSignsCategory, when, encounter);
    observation["code"] = Concept(vital.loinc, vital.snomed);
    observation["performer"] = json::array{Ref(performer.reference, performer.name)};
    observation["valueQuantity"] = Quantity(value, decimals, vital.unit, vital.ucum);
    return Add(std::move(observation));
  }

  void AddBloodPressure(int64_t when, const std::string& encounter, const StaffMember& performer) {
    const bool hypertensive = HasChronic(kHypertension, when);
    const int age = AgeAt(birth_, when);
    const int64_t systolic = hypertensive ? random_.Between(128, 172)
                                          : random_.Between(102, 122 + std::min(age, 80) / 4);
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

  void AddWeight(int64_t when, const std::string& encounter, const StaffMember& performer,
                 int age) {
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
        years < 1
            ? 3.5 + 6.5 * years
            : std::min(weight_kg_, 10.0 + 2.6 * (years - 1) + 0.12 * (years - 1) * (years - 1));
    const double height =
        years < 1 ? 50 + 25 * years : std::min(height_cm_, 75.0 + 6.2 * (years - 1));
    AddVital(kBodyWeight, weight * random_.Between(92, 108) / 100.0, 1, when, encounter, performer);
    AddVital(kBodyHeight, height * random_.Between(97, 103) / 100.0, 0, when, encounter, performer);
  }

  double HeartRate(bool unwell, int64_t when) {
    if (HasChronic(kAtrialFibrillation, when)) return static_cast<double>(random_.Between(70, 125));
    return static_cast<double>(unwell ? random_.Between(80, 118) : random_.Between(58, 92));
  }

  void AddObservationSet(int64_t when, const std::string& encounter, const StaffMember& performer,
                         bool unwell) {
    if (AgeAt(birth_, when) >= 16) AddBloodPressure(when, encounter, performer);
    AddVital(kHeartRate, HeartRate(unwell, when), 0, when, encounter, performer);
    AddVital(kRespiratoryRate,
             static_cast<double>(unwell ? random_.Between(18, 28) : random_.Between(12, 18)), 0,
             when, encounter, performer);
    AddVital(kTemperature, (unwell ? random_.Between(368, 394) : random_.Between(360, 375)) / 10.0,
             1, when, encounter, performer);
    const bool chest = HasChronic(kCopd) || unwell;
    AddVital(kOxygenSaturation,
             static_cast<double>(chest ? random_.Between(88, 96) : random_.Between(95, 100)), 0,
             when, encounter, performer);
  }

  // --- laboratory ---

  double LabValue(LabTestId test, bool unwell, int64_t when) {
    const bool kidney = HasChronic(kKidneyDisease, when);
    switch (test) {
      case kHaemoglobin:
        return random_.Percent(5)
                   ? random_.Between(95, 114)
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

  void AddLabReport(LabPanel panel, int64_t sampled, const std::string& encounter,
                    const StaffMember& requester, bool unwell = false) {
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
        observation["interpretation"] = json::array{
            Concept({"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
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

  // --- hospital ---

  void AddEmergencyCare() {
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

  void AddEmergencyAttendance(int64_t when, const EmergencyPresentation& presentation,
                              const std::string& existing_condition) {
    const StaffMember& doctor = region_.Consultant(random_, Specialty::kEmergency);
    const int64_t left = when + random_.Between(120, 420) * kMinute;
    const std::string encounter = NewUrn();
    const std::string condition = existing_condition.empty() ? NewUrn() : existing_condition;
    json::object resource =
        EncounterResource(kEmergency, {kSct, "50849002", "Emergency room admission"}, doctor,
                          "PPRF", "primary performer", when, left, kTrust, kTrustName);
    resource["reasonCode"] = json::array{Concept(presentation.complaint)};
    resource["diagnosis"] = json::array{json::object{{"condition", Ref(condition)}, {"rank", 1}}};
    Add(std::move(resource), encounter);

    const bool unwell =
        presentation.complaint.code == kDyspnoea.code || presentation.complaint.code == "386661006";
    AddObservationSet(when + 15 * kMinute, encounter, doctor, unwell);
    if (existing_condition.empty()) {
      AddResolvingCondition(presentation.diagnosis, when + kHour, presentation.recovery_days,
                            doctor, encounter, condition);
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

  // A hospital stay; emergency ones follow an attendance, elective ones come from clinic.
  void AddAdmission(int64_t start, const EmergencyPresentation& presentation,
                    const std::string& condition, bool emergency) {
    const StaffMember& consultant = region_.Consultant(random_, presentation.admitting);
    const int days = static_cast<int>(random_.Between(1, 8)) +
                     (presentation.ward_procedure.code == "52734007" ? 5 : 0);
    // Patients go home in the daytime.
    const int64_t end = FloorDiv(start + days * kDay, kDay) * kDay +
                        random_.Between(10, 17) * kHour + random_.Between(0, 5) * 10 * kMinute;
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

  void AddDischargeSummary(int64_t start, int64_t end, const std::string& encounter,
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
    letter += "Procedure: " +
              std::string(presentation.ward_procedure.code.empty()
                              ? "None"
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

  void AddProcedure(const Code& code, int64_t when, const std::string& encounter,
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

  void AddElectiveSurgery() {
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

  // --- community, social and palliative care ---

  void AddCommunityEpisode(int64_t start, string_view reason, const std::string& condition) {
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

  void AddSocialAndPalliativeCare() {
    const bool lives_alone = age_ >= 65 && !has_spouse_ && random_.Percent(55);
    lives_alone_ = lives_alone;
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

  void AddSocialCareAssessment() {
    social_worker_ = &region_.staff[random_.Pick(region_.social_workers)];
    const int64_t when = ClinicTime(kReferenceTime - 3 * kYear, kReferenceTime - 7 * kDay);
    json::object visit =
        EncounterResource(kHomeHealth, kHomeVisit, *social_worker_, "PPRF", "primary performer",
                          when, when + random_.Between(45, 90) * kMinute, kCouncil, kCouncilName);
    visit["reasonCode"] =
        json::array{TextConcept("Care Act 2014 assessment of care and support needs")};
    Add(std::move(visit));
    home_care_since_ = when + random_.Between(7, 28) * kDay;
    if (home_care_since_ >= kReferenceTime) home_care_since_ = kReferenceTime - kDay;
  }

  void AddPalliativeEpisode(const ChronicRecord& record) {
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

  void AddFlag(const json::object& code, const Code& category, int64_t since, string_view author,
               string_view author_name) {
    json::object flag = NewResource("Flag");
    flag["status"] = "active";
    flag["category"] = json::array{Concept(category)};
    flag["code"] = code;
    flag["subject"] = Ref(patient_, display_);
    flag["period"] = json::object{{"start", DateTimeText(since)}};
    flag["author"] = Ref(author, author_name);
    Add(std::move(flag));
  }

  void AddFlags() {
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

  // --- medicines and vaccines ---

  void AddAcutePrescription(int medicine, int64_t when, const std::string& encounter,
                            const StaffMember& prescriber, const std::string& reason) {
    json::object request = MedicationRequestResource(medicine, when, prescriber, reason, false);
    request["status"] = "completed";
    request["encounter"] = Ref(encounter);
    Add(std::move(request));
  }

  json::object MedicationRequestResource(int medicine, int64_t when, const StaffMember& prescriber,
                                         const std::string& reason, bool repeat) {
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

  void AddRepeatMedication() {
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

  void AddImmunization(const Code& vaccine, const Code& disease, int64_t when, int dose) {
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
    immunization["route"] =
        Concept({"http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration", "IM",
                 "Injection, intramuscular"});
    immunization["doseQuantity"] = Quantity(0.5, 1, "mL", "mL");
    immunization["performer"] = json::array{
        json::object{{"actor", Ref(practice_nurse_->reference, practice_nurse_->name)}}};
    immunization["protocolApplied"] = json::array{json::object{
        {"targetDisease", json::array{Concept(disease)}}, {"doseNumberPositiveInt", dose}}};
    Add(std::move(immunization));
  }

  void AddImmunizations() {
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

  // --- who looks after the patient, and the plans they share ---

  void AddCareTeam() {
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

  void AddCarePlan(string_view title, string_view description, const Code& specific, int64_t since,
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

  void AddCarePlans() {
    const auto since = [&](const ChronicRecord& record) {
      return std::min(record.onset + random_.Between(7, 60) * kDay, kReferenceTime - kDay);
    };
    if (const ChronicRecord* r = Chronic(kDiabetes)) {
      AddCarePlan(
          "Type 2 diabetes care plan",
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

  void AddProvenance() {
    json::object provenance = AssemblyProvenance(targets_);
    Add(std::move(provenance));
  }

  // --- entries ---

  std::string NewUrn() { return "urn:uuid:" + random_.Uuid(); }

  std::string Add(json::object resource, std::string urn = {}) {
    if (urn.empty()) urn = NewUrn();
    bundle_.Append(urn, resource, "POST", resource.at("resourceType").as_string());
    targets_.push_back(urn);
    return urn;
  }

  // A weekday between 08:30 and 17:20, somewhere in [from, to).
  int64_t ClinicTime(int64_t from, int64_t to) {
    if (to <= from) to = from + kDay;
    int64_t day = FloorDiv(random_.Between(from, to - 1), kDay);
    const int64_t weekday = ((day + 4) % 7 + 7) % 7;  // 0 is Sunday
    if (weekday == 6) day -= 1;
    if (weekday == 0) day -= 2;
    const int64_t at =
        day * kDay + 8 * kHour + 30 * kMinute + random_.Between(0, 53) * 10 * kMinute;
    return std::min(at, kReferenceTime - kHour);
  }

  // Any minute in [from, to): emergencies keep no hours.
  int64_t AnyTime(int64_t from, int64_t to) {
    if (to <= from) to = from + kDay;
    return FloorDiv(random_.Between(from, to - 1), kMinute) * kMinute;
  }

  struct Kinship {
    string_view code;  // v3-RoleCode
    string_view display;
    bool female;
    bool same_home;
  };
  static constexpr string_view kMaritalStatus =
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
  std::string community_reason_;
  const StaffMember* social_worker_ = nullptr;
  int64_t home_care_since_ = 0;
  bool palliative_ = false;
  int64_t palliative_since_ = 0;
  std::string palliative_condition_;
  std::string care_team_;
};

// NHS numbers 999 000 0000 to 999 999 9999 are never issued; walk them in a seeded order,
// skipping the bodies whose modulus 11 check digit would be 10.
class TestNhsNumbers {
 public:
  explicit TestNhsNumbers(uint64_t seed) : offset_(SplitMix64(seed) % 1000000) {}

  std::string Next() {
    for (;;) {
      // 7919 is coprime to 10^6, so the walk visits each body once.
      const uint64_t body = (counter_++ * 7919 + offset_) % 1000000;
      char digits[11];
      std::snprintf(digits, sizeof digits, "999%06llu", static_cast<unsigned long long>(body));
      int sum = 0;
      for (int i = 0; i < 9; ++i) sum += (digits[i] - '0') * (10 - i);
      int check = 11 - sum % 11;
      if (check == 11) check = 0;
      if (check == 10) continue;
      return std::string(digits, 9) + static_cast<char>('0' + check);
    }
  }

 private:
  uint64_t offset_;
  uint64_t counter_ = 0;
};

}  // namespace

std::vector<std::string> GenerateDemoRegion(const DemoRegionOptions& options) {
  std::vector<std::string> bundles;
  const int patients = std::clamp(options.patients, 0, kMaxDemoPatients);
  bundles.reserve(static_cast<size_t>(patients) + 1);
  Region region;
  bundles.push_back(RegionWriter(options.seed, options.gp_practices).Write(region));
  TestNhsNumbers nhs_numbers(options.seed);
  for (int number = 0; number < patients; ++number) {
    bundles.push_back(
        PatientRecordWriter(region, options.seed, number, nhs_numbers.Next()).Write());
  }
  return bundles;
}

}  // namespace carerecord::app
