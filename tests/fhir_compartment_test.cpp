// Compartment search: GET Patient/{id}/{type} returns only that patient's resources of the type,
// with the type's search parameters applied on top.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "interactions/search_request.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

std::string Observation(const std::string& id, const std::string& patient,
                        const std::string& code) {
  return R"({"resourceType":"Observation","id":")" + id +
         R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" + code +
         R"("}]},"subject":{"reference":"Patient/)" + patient + R"("}})";
}

TEST(FhirCompartment, CompartmentSearchReturnsOnlyThatPatientsResources) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient","id":"a"})");
  Put(server, "Patient", "b", R"({"resourceType":"Patient","id":"b"})");
  Put(server, "Observation", "a1", Observation("a1", "a", "8867-4"));
  Put(server, "Observation", "a2", Observation("a2", "a", "29463-7"));
  Put(server, "Observation", "b1", Observation("b1", "b", "8867-4"));
  Put(server, "Condition", "ac",
      R"({"resourceType":"Condition","id":"ac","subject":{"reference":"Patient/a"}})");

  EXPECT_EQ(Ids(server, "/fhir/Patient/a/Observation"), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(Ids(server, "/fhir/Patient/a/Observation?code=8867-4"), std::vector<std::string>{"a1"});
  EXPECT_EQ(Ids(server, "/fhir/Patient/b/Observation"), std::vector<std::string>{"b1"});
  EXPECT_EQ(Ids(server, "/fhir/Patient/a/Condition"), std::vector<std::string>{"ac"});
  EXPECT_TRUE(Ids(server, "/fhir/Patient/nobody/Observation").empty());
}

// Deleting a Patient leaves the records that refer to it in place; searches by that reference
// once stopped finding them, hiding data that is still stored.
TEST(FhirCompartment, RecordsOfADeletedPatientAreStillFoundByItsReference) {
  TestServer server;
  Put(server, "Patient", "gone", R"({"resourceType":"Patient"})");
  Put(server, "Observation", "o1",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
      R"("subject":{"reference":"Patient/gone"}})");
  ASSERT_EQ(server.Send("DELETE", "/fhir/Patient/gone").status, 200);
  for (const char* target :
       {"/fhir/Observation?subject=Patient/gone", "/fhir/Observation?patient=gone",
        "/fhir/Observation?subject=gone", "/fhir/Patient/gone/Observation"}) {
    EXPECT_EQ(Ids(server, target), std::vector<std::string>{"o1"}) << target;
  }
}

TEST(FhirCompartment, TypeOutsideThePatientCompartmentIs400) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient","id":"a"})");
  EXPECT_EQ(server.Get("/fhir/Patient/a/Organization").status, 400);
  EXPECT_EQ(server.Get("/fhir/Patient/a/Spaceship").status, 404);
}

TEST(FhirCompartment, PagingLinksStayInTheCompartment) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient","id":"a"})");
  for (int i = 0; i < 5; ++i) {
    Put(server, "Observation", "o" + std::to_string(i),
        Observation("o" + std::to_string(i), "a", "8867-4"));
  }
  auto bundle = TestServer::Json(server.Get("/fhir/Patient/a/Observation?_count=2"));
  std::string next;
  for (auto& link : bundle["link"].as_array()) {
    if (link.as_object()["relation"] == "next") next = link.as_object()["url"].as_string();
  }
  EXPECT_NE(next.find("/fhir/Patient/a/Observation?"), std::string::npos) << next;
}

}  // namespace
}  // namespace carerecord::testing

namespace carerecord::testing {
namespace {

// A Provenance naming two patients is in both compartments, and a search on the second patient
// finds it even though its partition is the first one's.
TEST(FhirCompartment, ResourceOfTwoPatientsIsFoundFromEither) {
  TestServer server;
  Put(server, "Patient", "a", R"({"resourceType":"Patient"})");
  Put(server, "Patient", "b", R"({"resourceType":"Patient"})");
  Put(server, "Provenance", "prov", R"({"resourceType":"Provenance",
    "meta":{"tag":[{"system":"https://example.org/tags","code":"t1"}]},
    "target":[{"reference":"Patient/a"},{"reference":"Patient/b"}],
    "recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"display":"Clerk"}}]})");
  EXPECT_EQ(Ids(server, "/fhir/Provenance?patient=a"), std::vector<std::string>{"prov"});
  EXPECT_EQ(Ids(server, "/fhir/Provenance?patient=b"), std::vector<std::string>{"prov"});
  // A token condition with the patient: the search must not assume patient b's partition.
  EXPECT_EQ(Ids(server, "/fhir/Provenance?patient=b&_tag=https://example.org/tags%7Ct1"),
            std::vector<std::string>{"prov"});
  EXPECT_EQ(Ids(server, "/fhir/Patient/b/Provenance"), std::vector<std::string>{"prov"});
}

}  // namespace
}  // namespace carerecord::testing

namespace carerecord::testing {
namespace {

// combo-code and combo-value-quantity are code|component-code and value|component-value: they
// find a code or value wherever it sits, though only their parts are indexed.
TEST(FhirComboParameters, ComboSearchesFindTopLevelAndComponentValues) {
  TestServer server;
  Put(server, "Patient", "p", R"({"resourceType":"Patient"})");
  Put(server, "Observation", "bp", R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
    "subject":{"reference":"Patient/p"},
    "component":[
      {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
       "valueQuantity":{"value":150,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
      {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},
       "valueQuantity":{"value":95,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]})");
  Put(server, "Observation", "hr", R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},
    "subject":{"reference":"Patient/p"},
    "valueQuantity":{"value":72,"system":"http://unitsofmeasure.org","code":"/min"}})");
  using V = std::vector<std::string>;
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code=8480-6"), V{"bp"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code=http://loinc.org%7C8867-4"), V{"hr"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code=8867-4,85354-9"), (V{"bp", "hr"}));
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p&combo-code=8462-4"), V{"bp"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-code:text=heart"), V{"hr"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-value-quantity=gt100"), V{"bp"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?combo-value-quantity=lt80"), V{"hr"});
  EXPECT_EQ(Ids(server, "/fhir/Observation?patient=p&_sort=combo-code&_elements=id").size(), 2u);
  EXPECT_EQ(server.Get("/fhir/Observation?combo-code:missing=true").status, 400);
}

}  // namespace
}  // namespace carerecord::testing

namespace carerecord::testing {
namespace {

// Patient/$everything: the compartment, and the resources outside every compartment that it
// references (R4: "and any resource referenced from those"), each once however it is paged.
struct EverythingEntries {
  std::multiset<std::string> matches, included;
  size_t pages = 0;
};

EverythingEntries EverythingPages(TestServer& server, std::string target) {
  EverythingEntries out;
  while (!target.empty() && out.pages < 100) {
    auto response = server.Get(target);
    EXPECT_EQ(response.status, 200) << target << ": " << response.body;
    if (response.status != 200) break;
    ++out.pages;
    auto bundle = TestServer::Json(response);
    if (auto* entries = bundle.if_contains("entry")) {
      for (auto& entry : entries->as_array()) {
        auto& e = entry.as_object();
        auto& resource = e.at("resource").as_object();
        std::string key = std::string(resource.at("resourceType").as_string()) + "/" +
                          std::string(resource.at("id").as_string());
        EXPECT_EQ(e.at("fullUrl").as_string(), server.base() + "/" + key);
        (e.at("search").at("mode").as_string() == "match" ? out.matches : out.included).insert(key);
      }
    }
    target = Link(bundle, "next");
  }
  return out;
}

// A patient whose medication requests name a Medication and a Practitioner, whose report cites
// another patient's Observation, and whose record links to another Patient.
void PutMedicatedPatient(TestServer& server) {
  Put(server, "Patient", "q", R"({"resourceType":"Patient"})");
  Put(server, "Organization", "org", R"({"resourceType":"Organization","name":"Surgery"})");
  Put(server, "Organization", "unrelated", R"({"resourceType":"Organization","name":"Elsewhere"})");
  Put(server, "Patient", "p",
      R"({"resourceType":"Patient","link":[{"other":{"reference":"Patient/q"},"type":"seealso"}],
          "managingOrganization":{"reference":"Organization/org"}})");
  Put(server, "Medication", "med",
      R"({"resourceType":"Medication","manufacturer":{"reference":"Organization/unrelated"}})");
  Put(server, "Practitioner", "dr", R"({"resourceType":"Practitioner"})");
  for (const char* id : {"mr1", "mr2"}) {
    Put(server, "MedicationRequest", id,
        R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
            "subject":{"reference":"Patient/p"},"medicationReference":{"reference":"Medication/med"},
            "requester":{"reference":"Practitioner/dr"}})");
  }
  Put(server, "Observation", "q-obs", Observation("q-obs", "q", "8867-4"));
  Put(server, "DiagnosticReport", "report",
      R"({"resourceType":"DiagnosticReport","status":"final","code":{"text":"x"},
          "subject":{"reference":"Patient/p"},"result":[{"reference":"Observation/q-obs"}],
          "performer":[{"reference":"Practitioner/dr"},{"reference":"http://other.example/fhir/Practitioner/x"}]})");
}

TEST(FhirEverything, ReferencedResourcesOutsideTheCompartmentAreIncludedOnce) {
  TestServer server;
  PutMedicatedPatient(server);
  auto all = EverythingPages(server, "/fhir/Patient/p/$everything");
  EXPECT_EQ(all.pages, 1u);
  EXPECT_EQ(all.matches,
            (std::multiset<std::string>{"DiagnosticReport/report", "MedicationRequest/mr1",
                                        "MedicationRequest/mr2", "Patient/p"}));
  // Not Organization/unrelated (referenced only by the Medication: one step, as R4 says), not
  // Patient q nor q's Observation (another patient's record).
  EXPECT_EQ(all.included,
            (std::multiset<std::string>{"Medication/med", "Organization/org", "Practitioner/dr"}));
}

TEST(FhirEverything, EveryPageSizeGivesEachResourceExactlyOnce) {
  TestServer server;
  PutMedicatedPatient(server);
  for (int i = 0; i < 4; ++i) {
    Put(server, "Observation", "o" + std::to_string(i),
        Observation("o" + std::to_string(i), "p", "8867-4"));
  }
  auto whole = EverythingPages(server, "/fhir/Patient/p/$everything");
  ASSERT_EQ(whole.matches.size() + whole.included.size(), 11u);
  for (int count = 1; count <= 12; ++count) {
    auto paged =
        EverythingPages(server, "/fhir/Patient/p/$everything?_count=" + std::to_string(count));
    EXPECT_EQ(paged.matches, whole.matches) << "_count=" << count;
    EXPECT_EQ(paged.included, whole.included) << "_count=" << count;
    EXPECT_EQ(paged.pages, (11u + count - 1) / count) << "_count=" << count;
  }
}

TEST(FhirEverything, TypeSelectsFromTheReferencedResourcesToo) {
  TestServer server;
  PutMedicatedPatient(server);
  using M = std::multiset<std::string>;
  auto medications = EverythingPages(server, "/fhir/Patient/p/$everything?_type=Medication");
  EXPECT_TRUE(medications.matches.empty());
  EXPECT_EQ(medications.included, M{"Medication/med"});
  auto orders = EverythingPages(
      server, "/fhir/Patient/p/$everything?_type=MedicationRequest,Practitioner&_count=1");
  EXPECT_EQ(orders.matches, (M{"MedicationRequest/mr1", "MedicationRequest/mr2"}));
  EXPECT_EQ(orders.included, M{"Practitioner/dr"});
  // A type this server has never stored selects nothing; it is not an error.
  auto none = EverythingPages(server, "/fhir/Patient/p/$everything?_type=Substance");
  EXPECT_TRUE(none.matches.empty() && none.included.empty());
  EXPECT_EQ(server.Get("/fhir/Patient/p/$everything?_type=Spaceship").status, 400);
}

TEST(FhirEverything, SinceSelectsFromTheReferencedResourcesToo) {
  TestServer server;
  PutMedicatedPatient(server);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Put(server, "Organization", "marker", R"({"resourceType":"Organization"})");
  auto meta = TestServer::Json(server.Get("/fhir/Organization/marker"))["meta"].as_object();
  std::string since(meta["lastUpdated"].as_string());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Put(server, "Medication", "med", R"({"resourceType":"Medication","status":"active"})");
  Put(server, "MedicationRequest", "mr1",
      R"({"resourceType":"MedicationRequest","status":"stopped","intent":"order",
          "subject":{"reference":"Patient/p"},"medicationReference":{"reference":"Medication/med"}})");
  // Only what changed since: the Practitioner, still referenced by mr2 and the report, did not.
  auto changed = EverythingPages(
      server, "/fhir/Patient/p/$everything?" + interactions::EncodeQuery({{"_since", since}}));
  EXPECT_EQ(changed.matches, std::multiset<std::string>{"MedicationRequest/mr1"});
  EXPECT_EQ(changed.included, std::multiset<std::string>{"Medication/med"});
}

TEST(FhirEverything, CursorsThisServerDidNotMakeAre400) {
  TestServer server;
  PutMedicatedPatient(server);
  for (const char* cursor : {"e1.2x", "e1", "e-1.2", "e1.-2", "e.", "r", "rx", "r-1", "r1 ", "x1",
                             "e99999999999999999999.1"}) {
    auto response = server.Get("/fhir/Patient/p/$everything?" +
                               interactions::EncodeQuery({{"_cursor", cursor}}));
    EXPECT_EQ(response.status, 400) << cursor << ": " << response.body;
  }
}

}  // namespace
}  // namespace carerecord::testing

namespace carerecord::testing {
namespace {

// Withholds some items ("Type/id") and notes every item it admits, as the audit would.
class WithholdingGate final : public store::ReadGate {
 public:
  explicit WithholdingGate(std::set<std::string> withheld) : withheld_(std::move(withheld)) {}
  bool Admit(const store::ItemFacts& item) override {
    if (!Permits(item)) return false;
    disclosed.insert(std::string(item.type) + "/" + std::string(item.id));
    return true;
  }
  bool Permits(const store::ItemFacts& item) override {
    return !withheld_.count(std::string(item.type) + "/" + std::string(item.id));
  }
  std::multiset<std::string> disclosed;

 private:
  std::set<std::string> withheld_;
};

// A withheld resource lends $everything none of its references, even on pages that read the
// compartment again, and those re-reads disclose nothing: the gate admits exactly what returns.
TEST(FhirEverything, WithheldResourcesLendNoReferencesAndRereadsDiscloseNothing) {
  TestServer server;
  PutMedicatedPatient(server);
  for (size_t count = 1; count <= 8; ++count) {
    WithholdingGate gate({"MedicationRequest/mr1", "MedicationRequest/mr2", "Organization/org"});
    auto session = server.store().OpenRead(gate);
    store::EverythingQuery query;
    query.patient_id = "p";
    query.count = count;
    std::multiset<std::string> returned;
    for (int page_number = 0; page_number < 20; ++page_number) {
      auto page = session->Everything(query);
      ASSERT_TRUE(page.ok()) << page.error().message;
      for (const auto& r : page->matches) returned.insert(r.type + "/" + r.id);
      for (const auto& r : page->included) returned.insert(r.type + "/" + r.id);
      if (page->next_cursor.empty()) break;
      query.cursor = page->next_cursor;
    }
    // The Medication is referenced only by the withheld orders; the Organization is withheld.
    EXPECT_EQ(returned, (std::multiset<std::string>{"DiagnosticReport/report", "Patient/p",
                                                    "Practitioner/dr"}))
        << "_count=" << count;
    EXPECT_EQ(gate.disclosed, returned) << "_count=" << count;
  }
}

}  // namespace
}  // namespace carerecord::testing
