// The people and places of the fictional town of Casterbridge: names drawn from lists of common
// names by birth cohort, invented street addresses, telephone numbers in Ofcom's drama ranges and
// NHS numbers from the never-issued 999 range. Used by the region and patient record writers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "app/demo/fhir_elements.h"
#include "app/demo/random.h"

namespace carerecord::app::demo {

struct PersonName {
  std::string given;
  std::string middle;
  std::string family;
  std::string prefix;
  std::string Display() const { return given + " " + family; }
};

// Given names follow fashion, so they are drawn from the pool of the person's generation.
PersonName DrawName(DemoRandom& random, bool female, int birth_year);
json::object HumanName(const PersonName& name);
// A street in Casterbridge with a DT postcode.
json::object Address(DemoRandom& random, std::string_view use);
std::string DramaLandline(DemoRandom& random);
std::string DramaMobile(DemoRandom& random);

// NHS numbers 999 000 0000 to 999 999 9999 are never issued; walk them in a seeded order,
// skipping the bodies whose modulus 11 check digit would be 10.
class TestNhsNumbers {
 public:
  explicit TestNhsNumbers(uint64_t seed);

  // The next unused valid number; there are kMaxDemoPatients of them.
  std::string Next();

 private:
  uint64_t offset_;
  uint64_t counter_ = 0;
};

}  // namespace carerecord::app::demo
