#include "app/demo/care_providers.h"

#include <algorithm>
#include <cstdio>

#include "app/demo/fhir_elements.h"
#include "app/demo/people.h"
#include "app/demo/transaction_bundle.h"

namespace carerecord::app::demo {
namespace {

using std::string_view;

// Beyond these, practices are numbered.
// clang-format off
constexpr string_view kPracticeNames[] = {
    "Mellstock Surgery", "Durnover Medical Centre", "Froom Valley Practice",
    "Weatherbury Health Centre", "Chalkdown Surgery", "Hintock Family Practice",
    "Budmouth Road Surgery", "Kingsbere Medical Practice", "Greyhope Health Centre",
    "Sherton Abbas Surgery", "Egdon Heath Practice", "Lulstead Medical Centre"};
// clang-format on

enum class StaffKind {
  kGp,
  kPracticeNurse,
  kConsultant,
  kCommunityNurse,
  kHospiceDoctor,
  kHospiceNurse,
  kSocialWorker
};

class RegionWriter {
 public:
  RegionWriter(uint64_t seed, int practices) : random_(SplitMix64(seed ^ 0x5245474eULL)) {
    practices_ = std::max(practices, 1);
  }

  // Fills `region` and returns the transaction Bundle that creates it.
  std::string Write(Region& region) {
    AddOrganization("org-icb", "Y99000", kIcbName, "govt", "Government");
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

    region.staff.push_back({"Practitioner/" + id, display});
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

}  // namespace

std::string WriteRegion(uint64_t seed, int practices, Region& region) {
  return RegionWriter(seed, practices).Write(region);
}

}  // namespace carerecord::app::demo
