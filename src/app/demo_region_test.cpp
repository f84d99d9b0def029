#include "app/demo_region.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fhir/reference_scan.h"
#include "fhir/resource_validation.h"

namespace carerecord::app {
namespace {

namespace json = boost::json;

// Small regions keep the tests quick; the default region is checked once for size.
DemoRegionOptions SmallRegion(int patients = 40) {
  DemoRegionOptions options;
  options.patients = patients;
  options.gp_practices = 3;
  return options;
}

std::vector<json::object> Parse(const std::vector<std::string>& bundles) {
  std::vector<json::object> parsed;
  for (const std::string& text : bundles) parsed.push_back(json::parse(text).as_object());
  return parsed;
}

const json::array& Entries(const json::object& bundle) { return bundle.at("entry").as_array(); }

std::string TypeOf(const json::value& entry) {
  return std::string(entry.at("resource").at("resourceType").as_string());
}

void CollectStrings(const json::value& value, std::vector<std::string>& out) {
  if (const json::object* object = value.if_object()) {
    for (const auto& member : *object) CollectStrings(member.value(), out);
  } else if (const json::array* array = value.if_array()) {
    for (const json::value& item : *array) CollectStrings(item, out);
  } else if (value.is_string()) {
    out.emplace_back(value.get_string());
  }
}

bool PassesModulus11(const std::string& number) {
  if (number.size() != 10) return false;
  int sum = 0;
  for (int i = 0; i < 9; ++i) {
    if (number[i] < '0' || number[i] > '9') return false;
    sum += (number[i] - '0') * (10 - i);
  }
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  return check != 10 && number[9] == '0' + check;
}

TEST(DemoRegionTest, SameOptionsGiveByteIdenticalOutput) {
  EXPECT_EQ(GenerateDemoRegion(SmallRegion()), GenerateDemoRegion(SmallRegion()));
}

TEST(DemoRegionTest, DifferentSeedsGiveDifferentPatients) {
  DemoRegionOptions other = SmallRegion();
  other.seed += 1;
  const auto a = GenerateDemoRegion(SmallRegion());
  const auto b = GenerateDemoRegion(other);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_NE(a[1], b[1]);
}

TEST(DemoRegionTest, PatientRecordDoesNotDependOnHowManyPatientsFollow) {
  const auto few = GenerateDemoRegion(SmallRegion(5));
  const auto many = GenerateDemoRegion(SmallRegion(12));
  ASSERT_EQ(few.size(), 6u);
  ASSERT_EQ(many.size(), 13u);
  for (size_t i = 0; i < few.size(); ++i) EXPECT_EQ(few[i], many[i]) << "bundle " << i;
}

TEST(DemoRegionTest, FirstBundlePutsOrganizationsPractitionersAndRolesUnderFixedIds) {
  const auto bundles = Parse(GenerateDemoRegion(SmallRegion(1)));
  const json::object& region = bundles.front();
  EXPECT_EQ(region.at("type").as_string(), "transaction");
  std::map<std::string, int> by_type;
  std::set<std::string> urls;
  for (const json::value& entry : Entries(region)) {
    const json::object& request = entry.at("request").as_object();
    const std::string type = TypeOf(entry);
    const std::string id(entry.at("resource").at("id").as_string());
    EXPECT_EQ(request.at("method").as_string(), "PUT");
    EXPECT_EQ(request.at("url").as_string(), type + "/" + id);
    urls.insert(type + "/" + id);
    ++by_type[type];
  }
  for (const char* url :
       {"Organization/org-trust", "Organization/org-community", "Organization/org-hospice",
        "Organization/org-council", "Organization/org-gp-1", "Organization/org-gp-3",
        "Practitioner/pract-1", "PractitionerRole/role-1"}) {
    EXPECT_TRUE(urls.count(url)) << url;
  }
  EXPECT_FALSE(urls.count("Organization/org-gp-4"));
  EXPECT_GE(by_type["Practitioner"], 20);
  EXPECT_EQ(by_type["Practitioner"], by_type["PractitionerRole"]);

  for (const json::value& entry : Entries(region)) {
    const json::object& resource = entry.at("resource").as_object();
    const std::string type = TypeOf(entry);
    if (type == "Organization") {
      const json::object& identifier = resource.at("identifier").at(0).as_object();
      EXPECT_EQ(identifier.at("system").as_string(),
                "https://fhir.nhs.uk/Id/ods-organization-code");
    } else if (type == "PractitionerRole") {
      // Each role links a practitioner to an organisation created in the same bundle.
      EXPECT_TRUE(urls.count(std::string(resource.at("practitioner").at("reference").as_string())));
      EXPECT_TRUE(urls.count(std::string(resource.at("organization").at("reference").as_string())));
    }
  }
  int doctors_with_gmc_numbers = 0;
  for (const json::value& entry : Entries(region)) {
    if (TypeOf(entry) != "Practitioner") continue;
    const json::object& identifier = entry.at("resource").at("identifier").at(0).as_object();
    if (identifier.at("system").as_string() == "https://fhir.hl7.org.uk/Id/gmc-number") {
      ++doctors_with_gmc_numbers;
    }
  }
  EXPECT_GE(doctors_with_gmc_numbers, 9 + 16);  // three GPs a practice, hospital consultants
}

TEST(DemoRegionTest, EachPatientBundleHoldsExactlyOnePatientPostedWithUrnFullUrls) {
  const auto bundles = Parse(GenerateDemoRegion(SmallRegion()));
  for (size_t b = 1; b < bundles.size(); ++b) {
    int patients = 0;
    for (const json::value& entry : Entries(bundles[b])) {
      if (TypeOf(entry) == "Patient") ++patients;
      EXPECT_EQ(entry.at("request").at("method").as_string(), "POST");
      EXPECT_EQ(entry.at("request").at("url").as_string(), TypeOf(entry));
      const std::string full_url(entry.at("fullUrl").as_string());
      EXPECT_EQ(full_url.rfind("urn:uuid:", 0), 0u) << full_url;
      EXPECT_EQ(full_url.size(), 45u) << full_url;
    }
    EXPECT_EQ(patients, 1) << "bundle " << b;
  }
}

TEST(DemoRegionTest, EveryNhsNumberIsAValidTestNumberAndUnique) {
  const auto bundles = Parse(GenerateDemoRegion(SmallRegion(150)));
  std::set<std::string> seen;
  for (size_t b = 1; b < bundles.size(); ++b) {
    for (const json::value& entry : Entries(bundles[b])) {
      if (TypeOf(entry) != "Patient") continue;
      for (const json::value& identifier : entry.at("resource").at("identifier").as_array()) {
        if (identifier.at("system").as_string() != "https://fhir.nhs.uk/Id/nhs-number") continue;
        const std::string number(identifier.at("value").as_string());
        EXPECT_EQ(number.rfind("999", 0), 0u) << number;
        EXPECT_TRUE(PassesModulus11(number)) << number;
        EXPECT_TRUE(seen.insert(number).second) << "duplicate " << number;
      }
    }
  }
  EXPECT_EQ(seen.size(), 150u);
}

TEST(DemoRegionTest, EveryReferenceResolvesInItsBundleOrTheRegion) {
  const auto bundles = Parse(GenerateDemoRegion(SmallRegion()));
  std::set<std::string> region_urls;
  for (const json::value& entry : Entries(bundles.front())) {
    region_urls.insert(TypeOf(entry) + "/" +
                       std::string(entry.at("resource").at("id").as_string()));
  }
  for (size_t b = 1; b < bundles.size(); ++b) {
    std::set<std::string> full_urls;
    for (const json::value& entry : Entries(bundles[b])) {
      EXPECT_TRUE(full_urls.insert(std::string(entry.at("fullUrl").as_string())).second);
    }
    std::vector<std::string> references;
    for (const json::value& entry : Entries(bundles[b])) {
      fhir::ForEachReference(entry.at("resource"),
                             [&](std::string_view r) { references.emplace_back(r); });
    }
    ASSERT_FALSE(references.empty());
    for (const std::string& reference : references) {
      if (reference.rfind("urn:uuid:", 0) == 0) {
        EXPECT_TRUE(full_urls.count(reference)) << "bundle " << b << ": " << reference;
      } else {
        EXPECT_TRUE(region_urls.count(reference)) << "bundle " << b << ": " << reference;
      }
    }
  }
}

TEST(DemoRegionTest, ProvenanceTargetsEveryOtherEntryOfItsBundle) {
  const auto bundles = Parse(GenerateDemoRegion(SmallRegion(10)));
  for (size_t b = 1; b < bundles.size(); ++b) {
    std::set<std::string> others;
    const json::object* provenance = nullptr;
    for (const json::value& entry : Entries(bundles[b])) {
      if (TypeOf(entry) == "Provenance") {
        ASSERT_EQ(provenance, nullptr) << "two Provenances in bundle " << b;
        provenance = &entry.at("resource").as_object();
      } else {
        others.insert(std::string(entry.at("fullUrl").as_string()));
      }
    }
    ASSERT_NE(provenance, nullptr);
    std::set<std::string> targets;
    for (const json::value& target : provenance->at("target").as_array()) {
      targets.insert(std::string(target.at("reference").as_string()));
    }
    EXPECT_EQ(targets, others) << "bundle " << b;
  }
}

TEST(DemoRegionTest, NoDateLiesAfterTheReferenceDate) {
  const auto bundles = Parse(GenerateDemoRegion(SmallRegion()));
  const std::string reference_instant = std::string(kDemoRegionReferenceDate) + "T00:00:00Z";
  std::vector<std::string> strings;
  for (const json::object& bundle : bundles) CollectStrings(bundle, strings);
  int dates = 0;
  for (const std::string& s : strings) {
    const bool looks_like_date = s.size() >= 10 && s[4] == '-' && s[7] == '-' &&
                                 std::isdigit(static_cast<unsigned char>(s[0])) &&
                                 std::isdigit(static_cast<unsigned char>(s[9]));
    if (!looks_like_date) continue;
    ++dates;
    EXPECT_LE(s, reference_instant);
    EXPECT_GE(s.substr(0, 4), "1920") << s;
  }
  EXPECT_GT(dates, 1000);
}

TEST(DemoRegionTest, NumbersAreWrittenWithoutExponents) {
  for (const std::string& text : GenerateDemoRegion(SmallRegion(10))) {
    bool in_string = false;
    for (size_t i = 1; i < text.size(); ++i) {
      const char c = text[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if ((c == 'E' || c == 'e') && std::isdigit(static_cast<unsigned char>(text[i - 1]))) {
        ADD_FAILURE() << "exponent near: " << text.substr(i > 20 ? i - 20 : 0, 40);
        break;
      }
    }
  }
}

std::string DecodeBase64(const std::string& text) {
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    if (c == '=') break;
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    bits = (bits << 6) | static_cast<uint32_t>(alphabet.find(c));
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

TEST(DemoRegionTest, DischargeSummaryCarriesTheLetterAsBase64PlainText) {
  int letters = 0;
  for (const json::object& bundle : Parse(GenerateDemoRegion(SmallRegion(60)))) {
    std::string nhs_number;
    for (const json::value& entry : Entries(bundle)) {
      if (TypeOf(entry) == "Patient") {
        nhs_number =
            std::string(entry.at("resource").at("identifier").at(0).at("value").as_string());
      }
      if (TypeOf(entry) != "DocumentReference") continue;
      const json::object& attachment =
          entry.at("resource").at("content").at(0).at("attachment").as_object();
      EXPECT_EQ(attachment.at("contentType").as_string(), "text/plain");
      const std::string letter = DecodeBase64(std::string(attachment.at("data").as_string()));
      EXPECT_NE(letter.find("Discharge summary"), std::string::npos) << letter;
      // The letter prints the NHS number in its usual 3-3-4 groups.
      const std::string grouped =
          nhs_number.substr(0, 3) + " " + nhs_number.substr(3, 3) + " " + nhs_number.substr(6);
      EXPECT_NE(letter.find(grouped), std::string::npos) << letter;
      ++letters;
    }
  }
  EXPECT_GT(letters, 0);
}

TEST(DemoRegionTest, RecordsCoverTheSharedCareResourceTypes) {
  std::map<std::string, int> counts;
  for (const json::object& bundle : Parse(GenerateDemoRegion(SmallRegion(60)))) {
    for (const json::value& entry : Entries(bundle)) ++counts[TypeOf(entry)];
  }
  for (const char* type :
       {"Patient", "Encounter", "Condition", "Observation", "AllergyIntolerance",
        "MedicationStatement", "MedicationRequest", "Immunization", "DiagnosticReport",
        "DocumentReference", "CarePlan", "CareTeam", "Flag", "Consent", "RelatedPerson",
        "EpisodeOfCare", "Procedure", "Provenance"}) {
    EXPECT_GT(counts[type], 0) << type;
  }
  EXPECT_EQ(counts["Patient"], 60);
  EXPECT_EQ(counts["Consent"], 60);
}

TEST(DemoRegionTest, DefaultRegionHoldsTwentyToFortyThousandResources) {
  size_t resources = 0;
  for (const json::object& bundle : Parse(GenerateDemoRegion(DemoRegionOptions{}))) {
    resources += Entries(bundle).size();
  }
  EXPECT_GE(resources, 20000u);
  EXPECT_LE(resources, 40000u);
}

TEST(DemoRegionTest, EveryResourcePassesTheR4StructuralValidator) {
  const auto bundles = Parse(GenerateDemoRegion(SmallRegion(80)));
  for (size_t b = 0; b < bundles.size(); ++b) {
    const base::Status bundle_status = fhir::ValidateResource(bundles[b]);
    EXPECT_TRUE(bundle_status.ok()) << "bundle " << b << ": " << bundle_status.error().message
                                    << " at " << bundle_status.error().location;
    for (const json::value& entry : Entries(bundles[b])) {
      const base::Status status = fhir::ValidateResource(entry.at("resource").as_object());
      EXPECT_TRUE(status.ok()) << "bundle " << b << ": " << status.error().message << " at "
                               << status.error().location;
      if (!status.ok()) return;
    }
  }
}

}  // namespace
}  // namespace carerecord::app
