// HTTP integration tests of the bounds on one request body's JSON (issue 17, defect 10): items
// in one array, values in one resource and in one body, and the index rows one resource gives
// the writer. Beyond each, a 413 OperationOutcome naming the limit (and where it was passed);
// within them, the resource is stored. (That real
// data fits is shown by the Synthea load test, which posts every bundle at hand.)
#include <gtest/gtest.h>

#include <string>

#include "fhir/index_extraction.h"
#include "interactions/fhir_json.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

using interactions::kMaxJsonArrayItems;
using interactions::kMaxJsonValues;
using interactions::kMaxResourceJsonValues;

// A JSON array of `n` one-letter strings.
std::string Strings(size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) out += i ? R"(,"a")" : R"("a")";
  return out + "]";
}

// A Patient whose names hold `names` given-name arrays of `per_name` items each.
std::string PatientWithGivenNames(size_t names, size_t per_name, const std::string& id = "p1") {
  std::string body = R"({"resourceType":"Patient","id":")" + id + R"(","name":[)";
  for (size_t i = 0; i < names; ++i)
    body += (i ? ",{\"given\":" : "{\"given\":") + Strings(per_name) + "}";
  return body + "]}";
}

class FhirJsonLimits : public ::testing::Test {
 protected:
  // The 413's first issue: its diagnostics and expression.
  std::pair<std::string, std::string> Expect413(const http::HttpResponse& response) {
    EXPECT_EQ(response.status, 413) << response.body.substr(0, 500);
    auto outcome = TestServer::Json(response);
    if (!outcome.contains("issue")) {
      ADD_FAILURE() << "not an OperationOutcome: " << response.body.substr(0, 500);
      return {};
    }
    auto& issue = outcome["issue"].as_array().at(0).as_object();
    std::string expression;
    if (auto* e = issue.if_contains("expression")) expression = e->as_array().at(0).as_string();
    return {std::string(issue["diagnostics"].as_string()), expression};
  }

  TestServer server_{32 << 20};
};

TEST_F(FhirJsonLimits, AnArrayBeyondTheLimitIsA413NamingIt) {
  auto [diagnostics, expression] = Expect413(
      server_.Send("PUT", "/fhir/Patient/p1", PatientWithGivenNames(1, kMaxJsonArrayItems + 1)));
  EXPECT_EQ(expression, "/name/0/given");
  EXPECT_NE(diagnostics.find(std::to_string(kMaxJsonArrayItems)), std::string::npos) << diagnostics;
  EXPECT_EQ(server_.Get("/fhir/Patient/p1").status, 404);
  // At the limit, the resource is stored (an element no search parameter indexes).
  std::string days = "[";
  for (size_t i = 0; i < kMaxJsonArrayItems; ++i) days += i ? R"(,"mon")" : R"("mon")";
  auto at_limit = server_.Send("PUT", "/fhir/Location/l1",
                               R"({"resourceType":"Location","id":"l1","hoursOfOperation":[
                               {"daysOfWeek":)" +
                                   days + "]}]}");
  EXPECT_EQ(at_limit.status, 201) << at_limit.body.substr(0, 500);
}

TEST_F(FhirJsonLimits, AResourceWithMoreIndexValuesThanTheWriterTakesIsA413) {
  // Within the JSON limits, but each given name is a row in several indexes.
  auto [diagnostics, expression] = Expect413(server_.Send(
      "PUT", "/fhir/Patient/p1", PatientWithGivenNames(1, fhir::kMaxIndexEntries + 1)));
  EXPECT_NE(diagnostics.find(std::to_string(fhir::kMaxIndexEntries)), std::string::npos)
      << diagnostics;
  EXPECT_EQ(server_.Get("/fhir/Patient/p1").status, 404);
  const std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":)" + PatientWithGivenNames(1, fhir::kMaxIndexEntries + 1) +
                             R"(,"request":{"method":"PUT","url":"Patient/p1"}}]})";
  Expect413(server_.Send("POST", "/fhir", bundle));
  EXPECT_EQ(server_.Get("/fhir/Patient/p1").status, 404);
  auto small = server_.Send("PUT", "/fhir/Patient/p1", PatientWithGivenNames(1, 1000));
  EXPECT_EQ(small.status, 201) << small.body.substr(0, 500);
}

TEST_F(FhirJsonLimits, AResourceBeyondTheLimitIsA413AloneOrInABundle) {
  const size_t names = kMaxResourceJsonValues / 10'000 + 1;
  const std::string big = PatientWithGivenNames(names, 10'000);
  auto [diagnostics, expression] = Expect413(server_.Send("PUT", "/fhir/Patient/p1", big));
  EXPECT_EQ(expression, "/");
  EXPECT_NE(diagnostics.find(std::to_string(kMaxResourceJsonValues)), std::string::npos)
      << diagnostics;

  const std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Patient","id":"small"},
     "request":{"method":"PUT","url":"Patient/small"}},
    {"resource":)" + big + R"(,"request":{"method":"PUT","url":"Patient/p1"}}]})";
  std::tie(diagnostics, expression) = Expect413(server_.Send("POST", "/fhir", bundle));
  EXPECT_EQ(expression, "/entry/1/resource");
  EXPECT_EQ(server_.Get("/fhir/Patient/small").status, 404);
  EXPECT_EQ(server_.Get("/fhir/Patient/p1").status, 404);
}

TEST_F(FhirJsonLimits, ABodyBeyondTheLimitIsA413) {
  // Resources each within their limit, together beyond the body's.
  const size_t per_resource = kMaxResourceJsonValues / 2;
  const size_t resources = kMaxJsonValues / per_resource + 1;
  std::string bundle = R"({"resourceType":"Bundle","type":"batch","entry":[)";
  for (size_t i = 0; i < resources; ++i) {
    const std::string id = "p" + std::to_string(i);
    bundle += (i ? "," : "") + std::string(R"({"resource":)") +
              PatientWithGivenNames(per_resource / 10'000, 10'000, id) +
              R"(,"request":{"method":"PUT","url":"Patient/)" + id + "\"}}";
  }
  bundle += "]}";
  auto [diagnostics, expression] = Expect413(server_.Send("POST", "/fhir", bundle));
  EXPECT_NE(diagnostics.find(std::to_string(kMaxJsonValues)), std::string::npos) << diagnostics;
  EXPECT_TRUE(expression.starts_with("/entry/")) << expression;
  EXPECT_EQ(server_.Get("/fhir/Patient/p0").status, 404);
  // The server goes on answering.
  EXPECT_EQ(server_.Get("/fhir/metadata").status, 200);
}

TEST_F(FhirJsonLimits, OneHugeFlatArrayIsRefusedQuickly) {
  // The shape that once took 40 s and 6.5 GB: one array of millions of numbers.
  std::string body = R"({"resourceType":"Patient","id":"p1","name":[{"given":[)";
  for (int i = 0; i < 2'000'000; ++i) body += i ? ",1" : "1";
  body += "]}]}";
  auto [diagnostics, expression] = Expect413(server_.Send("PUT", "/fhir/Patient/p1", body));
  EXPECT_EQ(expression, "/name/0/given");
  EXPECT_EQ(server_.Get("/fhir/metadata").status, 200);
}

}  // namespace
}  // namespace carerecord::testing
