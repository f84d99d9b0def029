// Builds the demo region in two steps: the region (organisations and staff) drawn once from the
// seed, then each patient's record from a random stream of its own, seeded by the seed and the
// patient's number. The generator's parts live in app/demo/.
#include "app/demo_region.h"

#include <algorithm>

#include "app/demo/care_providers.h"
#include "app/demo/patient_record.h"
#include "app/demo/people.h"

namespace carerecord::app {

std::vector<std::string> GenerateDemoRegion(const DemoRegionOptions& options) {
  std::vector<std::string> bundles;
  const int patients = std::clamp(options.patients, 0, kMaxDemoPatients);
  bundles.reserve(static_cast<size_t>(patients) + 1);
  demo::Region region;
  bundles.push_back(demo::WriteRegion(options.seed, options.gp_practices, region));
  demo::TestNhsNumbers nhs_numbers(options.seed);
  for (int number = 0; number < patients; ++number) {
    bundles.push_back(
        demo::PatientRecordWriter(region, options.seed, number, nhs_numbers.Next()).Write());
  }
  return bundles;
}

}  // namespace carerecord::app
