// HTTP integration tests of _filter: each comparison is an ordinary search parameter (co is
// :contains, pr :missing, in a ValueSet...; eq on a string the whole value), combined with and
// / or / not and parentheses; a chained path; and the errors of what cannot be filtered here.
#include <gtest/gtest.h>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

using Names = std::vector<std::string>;

// Percent-encodes a filter for the query string.
std::string Filter(const std::string& type, const std::string& filter) {
  std::string out = "/fhir/" + type + "?_filter=";
  for (unsigned char c : filter) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

class FhirSearchFilter : public ::testing::Test {
 protected:
  void SetUp() override {
    Put(server_, "Patient", "peter", R"({"resourceType":"Patient","gender":"male",
      "name":[{"family":"Smith","given":["Peter"]}],"birthDate":"2015-01-02"})");
    Put(server_, "Patient", "petra", R"({"resourceType":"Patient","gender":"female",
      "name":[{"family":"Jones","given":["Petra"]}],"birthDate":"1980-07-01"})");
    Put(server_, "Patient", "anna", R"({"resourceType":"Patient",
      "name":[{"family":"Peterson","given":["Anna"]}],"birthDate":"2016-03-03"})");
    Put(server_, "Observation", "hr", R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
      "subject":{"reference":"Patient/peter"},"valueQuantity":{"value":72}})");
    Put(server_, "Observation", "glucose", R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},
      "subject":{"reference":"Patient/petra"},"valueQuantity":{"value":5.4}})");
  }
  Names Search(const std::string& type, const std::string& filter) {
    return Ids(server_, Filter(type, filter));
  }
  TestServer server_;
};

TEST_F(FhirSearchFilter, ComparisonsAreTheMatchingSearchParameters) {
  EXPECT_EQ(Search("Patient", "name co \"ete\""), (Names{"anna", "peter"}));
  EXPECT_EQ(Search("Patient", "given sw pet"), (Names{"peter", "petra"}));
  EXPECT_EQ(Search("Patient", "given eq \"peter\""), Names{"peter"});
  EXPECT_EQ(Search("Observation", "patient.given eq PETRA"), Names{"glucose"});
  EXPECT_EQ(Search("Patient", "given eq \"pete\""), Names{});
  EXPECT_EQ(Search("Patient", "birthdate ge 2014-10-10"), (Names{"anna", "peter"}));
  EXPECT_EQ(Search("Patient", "gender pr false"), Names{"anna"});
  EXPECT_EQ(Search("Patient", "gender ne male"), (Names{"anna", "petra"}));
  EXPECT_EQ(Search("Observation", "code eq http://loinc.org|1234-5"), Names{});
  EXPECT_EQ(Search("Observation", "code eq http://loinc.org|8867-4"), Names{"hr"});
  EXPECT_EQ(Search("Observation", "value-quantity gt 10"), Names{"hr"});
  EXPECT_EQ(Search("Observation", "subject re Patient/petra"), Names{"glucose"});
}

TEST_F(FhirSearchFilter, AndOrNotAndParentheses) {
  EXPECT_EQ(Search("Patient", "given eq \"peter\" and birthdate ge 2014-10-10"), Names{"peter"});
  EXPECT_EQ(Search("Patient", "gender eq female or birthdate ge 2016"), (Names{"anna", "petra"}));
  EXPECT_EQ(Search("Patient", "not (gender eq male)"), (Names{"anna", "petra"}));
  // and binds tighter than or.
  EXPECT_EQ(Search("Patient", "gender eq male or gender eq female and birthdate lt 1990"),
            (Names{"peter", "petra"}));
  EXPECT_EQ(Search("Patient", "(gender eq male or gender eq female) and birthdate lt 1990"),
            Names{"petra"});
  EXPECT_EQ(Search("Patient", "name co pet and not (family eq Peterson or gender eq female)"),
            Names{"peter"});
}

TEST_F(FhirSearchFilter, ChainedPathsAndOrdinaryParametersTogether) {
  EXPECT_EQ(Search("Observation", "subject:Patient.name co \"jones\""), Names{"glucose"});
  EXPECT_EQ(Search("Observation", "patient.gender eq male or code eq 2339-0"),
            (Names{"glucose", "hr"}));
  EXPECT_EQ(
      Ids(server_, Filter("Observation", "value-quantity gt 1 or code eq x") + "&patient=petra"),
      Names{"glucose"});
}

TEST_F(FhirSearchFilter, AChainThroughAReferenceWithoutTargetsIs400) {
  auto response = server_.Get(Filter("RequestGroup", "instantiates-canonical.name eq x"));
  EXPECT_EQ(response.status, 400) << response.body;
}

TEST_F(FhirSearchFilter, PagingKeepsTheFilter) {
  auto page = TestServer::Json(
      server_.Get(Filter("Patient", "name co pet or gender pr true") + "&_count=1"));
  std::string next;
  for (auto& link : page["link"].as_array()) {
    if (link.as_object()["relation"].as_string() == "next") {
      next = std::string(link.as_object()["url"].as_string());
    }
  }
  ASSERT_NE(next.find("_filter="), std::string::npos) << next;
  EXPECT_EQ(page["entry"].as_array().size(), 1u);
}

TEST_F(FhirSearchFilter, WhatCannotBeFilteredHereIs400SayingWhere) {
  for (const char* filter :
       {"name co", "name xx pet", "(name co pet", "name co \"pet", "nickname eq x",
        "related[type eq has-component].target pr true", "name ew son", "gender co ma",
        "birthdate co 2015", "gender pr maybe", "name co pet and", "not name co pet",
        "name:exact eq Peter", "organization.partof.partof.partof.partof.name eq x"}) {
    auto response = server_.Get(Filter("Patient", filter));
    EXPECT_EQ(response.status, 400) << filter << ": " << response.body;
    EXPECT_NE(response.body.find("_filter"), std::string::npos) << filter << response.body;
  }
}

}  // namespace
}  // namespace carerecord::testing
