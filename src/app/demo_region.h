// The synthetic demo region the server loads into an empty store (`serve --demo`): a fictional
// town's hospital trust, GP practices, community trust, hospice and council, and patients whose
// shared care records span the ten years before a fixed reference date. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace carerecord::app {

// Every generated date lies before this instant, so the region does not depend on the clock.
inline constexpr char kDemoRegionReferenceDate[] = "2026-11-01";

struct DemoRegionOptions {
  uint64_t seed = 20261128;
  int patients = 200;  // at most kMaxDemoPatients
  int gp_practices = 6;
};

// NHS numbers come from the 999 test range, which holds this many valid numbers.
inline constexpr int kMaxDemoPatients = 900000;

// FHIR R4 transaction Bundles as JSON text. The first PUTs the region's Organizations,
// Practitioners and PractitionerRoles under fixed ids ("Organization/org-gp-1",
// "Practitioner/pract-12"); then one Bundle per patient POSTs that patient's record, its entries
// linked by urn:uuid and to the region by those ids. The same options give the same bytes, and
// patient k's record does not depend on how many patients follow it.
//
// No real person is described: names are drawn at random from lists of common names, addresses
// are invented streets in the fictional town of Casterbridge, NHS numbers are in the 999 range
// that is never issued, telephone numbers are in Ofcom's ranges reserved for drama, and every
// resource is tagged HTEST (test health data).
std::vector<std::string> GenerateDemoRegion(const DemoRegionOptions& options);

}  // namespace carerecord::app
