// The demo region's care providers: the integrated care board, hospital trust, community trust,
// hospice, council and GP practices, and the staff who work for them. GenerateDemoRegion draws the
// Region once with WriteRegion; the patient record writers then only read it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "app/demo/random.h"
#include "app/demo/terminology.h"

namespace carerecord::app::demo {

// The organisations every region has, by their fixed ids.
inline constexpr std::string_view kIcb = "Organization/org-icb";
inline constexpr std::string_view kTrust = "Organization/org-trust";
inline constexpr std::string_view kCommunityTrust = "Organization/org-community";
inline constexpr std::string_view kHospice = "Organization/org-hospice";
inline constexpr std::string_view kCouncil = "Organization/org-council";
inline constexpr std::string_view kIcbName = "NHS Casterbridge Integrated Care Board";
inline constexpr std::string_view kTrustName = "Casterbridge Hospitals NHS Foundation Trust";
inline constexpr std::string_view kCommunityTrustName = "South Wessex Community Health NHS Trust";
inline constexpr std::string_view kHospiceName = "Egdon Vale Hospice";
inline constexpr std::string_view kCouncilName = "Casterbridge Council Adult Social Care";

struct StaffMember {
  std::string reference;  // "Practitioner/pract-12"
  std::string name;       // "Dr Sarah Hughes"
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

// Fills `region` with organisations and staff drawn from `seed` (at least one GP practice) and
// returns the transaction Bundle that PUTs them under fixed ids.
std::string WriteRegion(uint64_t seed, int practices, Region& region);

}  // namespace carerecord::app::demo
