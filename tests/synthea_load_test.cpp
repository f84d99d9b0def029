// Loads every Synthea bundle of ../shared/data/synthea-r4 as a transaction over HTTP (provider
// bundles first) and checks that each patient's $everything returns exactly that patient's
// compartment (every resource of the patient's bundle except those R4 keeps out of the patient
// compartment: Medication, Device) and every resource outside it that the compartment
// references (its Medications, Practitioners, Organizations, Locations), each exactly once,
// with one page and with many.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "fhir/reference_scan.h"
#include "fhir/search_parameters.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string IdFromLocation(std::string_view location) {
  // Type/id/_history/n
  size_t first = location.find('/');
  size_t second = location.find('/', first + 1);
  return std::string(location.substr(first + 1, second - first - 1));
}

struct Everything {
  std::multiset<std::string> matches, included;
  std::set<std::string> references;  // made by the matches
  size_t pages = 0;
};

Everything FetchEverything(TestServer& server, std::string next) {
  Everything out;
  while (!next.empty()) {
    auto page = server.Get(next);
    EXPECT_EQ(page.status, 200) << page.body.substr(0, 1000);
    if (page.status != 200) break;
    ++out.pages;
    json::object bundle = TestServer::Json(page);
    if (auto* entries = bundle.if_contains("entry")) {
      for (auto& e : entries->as_array()) {
        auto& resource = e.as_object()["resource"].as_object();
        std::string key = std::string(resource["resourceType"].as_string()) + "/" +
                          std::string(resource["id"].as_string());
        if (e.at("search").at("mode").as_string() == "match") {
          out.matches.insert(key);
          fhir::ForEachReference(resource, [&](std::string_view r) { out.references.emplace(r); });
        } else {
          out.included.insert(key);
        }
      }
    }
    next = Link(bundle, "next");
  }
  return out;
}

TEST(SyntheaLoad, EveryPatientsEverythingIsTheirCompartmentAndWhatItReferences) {
  fs::path dir = fs::path(CARERECORD_SOURCE_DIR) / ".." / "shared" / "data" / "synthea-r4";
  if (!fs::exists(dir)) GTEST_SKIP() << "no Synthea data at " << dir;
  std::vector<fs::path> providers, patients;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    (entry.path().filename().string().rfind("0-", 0) == 0 ? providers : patients)
        .push_back(entry.path());
  }
  std::sort(providers.begin(), providers.end());
  std::sort(patients.begin(), patients.end());
  ASSERT_EQ(providers.size(), 2u);
  ASSERT_EQ(patients.size(), 40u);

  TestServer server(64 << 20);
  for (const fs::path& path : providers) {
    auto response = server.Send("POST", "/fhir", ReadFile(path));
    ASSERT_EQ(response.status, 200) << path << ": " << response.body.substr(0, 2000);
  }
  // Loading the provider bundle again changes nothing: every entry is If-None-Exist.
  {
    auto again = server.Send("POST", "/fhir", ReadFile(providers[1]));
    ASSERT_EQ(again.status, 200);
    auto practitioners = TestServer::Json(server.Get("/fhir/Practitioner?_summary=count"));
    EXPECT_EQ(practitioners["total"].as_int64(), 195);
  }

  size_t checked_resources = 0, referenced_medications = 0;
  for (const fs::path& path : patients) {
    std::string text = ReadFile(path);
    auto response = server.Send("POST", "/fhir", text);
    ASSERT_EQ(response.status, 200) << path << ": " << response.body.substr(0, 2000);
    json::object request = json::parse(text).as_object();
    json::object result = TestServer::Json(response);
    auto& request_entries = request["entry"].as_array();
    auto& result_entries = result["entry"].as_array();
    ASSERT_EQ(request_entries.size(), result_entries.size());

    std::multiset<std::string> expected;
    std::string patient_id;
    for (size_t i = 0; i < request_entries.size(); ++i) {
      std::string type(
          request_entries[i].as_object()["resource"].as_object()["resourceType"].as_string());
      auto& entry_response = result_entries[i].as_object()["response"].as_object();
      EXPECT_EQ(entry_response["status"].as_string(), "201 Created");
      std::string id = IdFromLocation(entry_response["location"].as_string());
      if (type == "Patient") patient_id = id;
      if (type != "Patient" && fhir::PatientCompartmentParams(type).empty()) continue;
      expected.insert(type + "/" + id);
    }
    ASSERT_FALSE(patient_id.empty());

    // What the compartment references outside itself, where this server holds it. Synthea
    // references no other patient's record, so that is everything outside any compartment.
    auto whole =
        FetchEverything(server, "/fhir/Patient/" + patient_id + "/$everything?_count=5000");
    EXPECT_EQ(whole.matches, expected) << path;
    std::multiset<std::string> referenced;
    for (const std::string& reference : whole.references) {
      if (reference.find(':') != std::string::npos || expected.count(reference)) continue;
      if (server.Get("/fhir/" + reference).status == 200) referenced.insert(reference);
    }
    EXPECT_FALSE(referenced.empty()) << path;
    EXPECT_EQ(whole.included, referenced) << path;
    EXPECT_EQ(whole.pages, (expected.size() + referenced.size() + 4999) / 5000) << path;
    for (const std::string& key : referenced) {
      if (key.rfind("Medication/", 0) == 0) ++referenced_medications;
    }
    // The same with small pages: each resource once, across pages.
    auto paged = FetchEverything(server, "/fhir/Patient/" + patient_id + "/$everything?_count=37");
    EXPECT_EQ(paged.pages, (expected.size() + referenced.size() + 36) / 37) << path;
    EXPECT_EQ(paged.matches, expected) << path;
    EXPECT_EQ(paged.included, referenced) << path;
    checked_resources += expected.size();
  }
  EXPECT_GT(referenced_medications, 0u);
  EXPECT_GT(checked_resources, 26000u);
}

}  // namespace
}  // namespace carerecord::testing
