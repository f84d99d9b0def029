// HTTP integration tests of numbers kept exactly as the client wrote them (issue 17, defect 8):
// 1.50 stays 1.50, 1e2 stays 1e2, a 29-digit integer keeps its digits, through every way a
// stored resource comes back; numbers beyond a double's range, and integers beyond FHIR's
// 32 bits, are a 400 naming the element. Also: stored bodies deeper than Boost.JSON's default
// depth read back.
#include <gtest/gtest.h>

#include <string>

#include "store/sqlite/sqlite_db.h"
#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;
using Names = std::vector<std::string>;

// Numbers whose text a double would not give back, each as the client wrote it.
const char* const kWritten[] = {R"("value":1.50)",      R"("value":1e2)",
                                R"("value":0.010)",     R"("value":12345678901234567890123456789)",
                                R"("valueInteger":-0)", R"("value":-2.50E-3)"};

std::string ObservationBody(const std::string& id) {
  return R"({"resourceType":"Observation","id":")" + id + R"(","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"8302-2"}]},
    "subject":{"reference":"Patient/p1"},
    "valueQuantity":{"value":1.50,"unit":"m","system":"http://unitsofmeasure.org","code":"m"},
    "component":[{"code":{"text":"a"},"valueQuantity":{"value":1e2}},
                 {"code":{"text":"b"},"valueQuantity":{"value":0.010}},
                 {"code":{"text":"c"},"valueQuantity":{"value":12345678901234567890123456789}},
                 {"code":{"text":"d"},"valueInteger":-0},
                 {"code":{"text":"e"},"valueQuantity":{"value":-2.50E-3}}]})";
}

// Checks that `body` holds every number of ObservationBody as written, and no kept-number mark.
void ExpectExact(const std::string& body, const std::string& where) {
  for (const char* written : kWritten) {
    EXPECT_NE(body.find(written), std::string::npos)
        << where << " lost " << written << ": " << body;
  }
  EXPECT_EQ(body.find('\x1f'), std::string::npos) << where;
  EXPECT_EQ(body.find("\\u001f"), std::string::npos) << where;
  json::error_code ec;
  json::parse(body, ec);
  EXPECT_FALSE(ec) << where << " is not JSON: " << body;
}

class FhirNumbers : public ::testing::Test {
 protected:
  void SetUp() override {
    Put(server_, "Patient", "p1", R"({"resourceType":"Patient","name":[{"family":"Exact"}]})");
  }

  // The first issue of a 400's OperationOutcome: its diagnostics and expression.
  std::pair<std::string, std::string> Expect400(const http::HttpResponse& response) {
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_EQ(response.body.find("\\u001f"), std::string::npos) << response.body;
    EXPECT_EQ(response.body.find('\x1f'), std::string::npos) << response.body;
    auto outcome = TestServer::Json(response);
    if (!outcome.contains("issue")) {
      ADD_FAILURE() << "not an OperationOutcome: " << response.body;
      return {};
    }
    auto& issue = outcome["issue"].as_array().at(0).as_object();
    std::string expression;
    if (auto* e = issue.if_contains("expression")) expression = e->as_array().at(0).as_string();
    return {std::string(issue["diagnostics"].as_string()), expression};
  }

  TestServer server_;
};

TEST_F(FhirNumbers, CreateAndReadKeepEveryNumberAsWritten) {
  auto created = server_.Send("PUT", "/fhir/Observation/obs1", ObservationBody("obs1"));
  ASSERT_EQ(created.status, 201) << created.body;
  ExpectExact(created.body, "the create response");
  ExpectExact(server_.Get("/fhir/Observation/obs1").body, "read");
  ExpectExact(server_.Get("/fhir/Observation/obs1/_history/1").body, "vread");

  auto posted = server_.Send("POST", "/fhir/Observation", ObservationBody("ignored"));
  ASSERT_EQ(posted.status, 201) << posted.body;
  ExpectExact(posted.body, "the POST response");
}

TEST_F(FhirNumbers, SearchHistoryShapingAndEverythingKeepNumbersAsWritten) {
  ASSERT_EQ(server_.Send("PUT", "/fhir/Observation/obs1", ObservationBody("obs1")).status, 201);
  ExpectExact(server_.Get("/fhir/Observation?subject=Patient/p1").body, "search");
  ExpectExact(server_.Get("/fhir/Observation?_id=obs1&_summary=data").body, "_summary=data");
  ExpectExact(server_.Get("/fhir/Observation?_id=obs1&_elements=valueQuantity,component").body,
              "_elements on search");
  ExpectExact(server_.Get("/fhir/Observation/obs1?_elements=valueQuantity,component").body,
              "_elements on read");
  ExpectExact(server_.Get("/fhir/Observation/obs1/_history").body, "history");
  ExpectExact(server_.Get("/fhir/_history").body, "system history");
  ExpectExact(server_.Get("/fhir/Patient/p1/$everything").body, "$everything");
  ExpectExact(server_.Get("/fhir/Patient?_id=p1&_revinclude=Observation:subject").body,
              "_revinclude");
}

TEST_F(FhirNumbers, TransactionAndBatchResponsesKeepNumbersAsWritten) {
  const std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":)" + ObservationBody("tx1") +
                             R"(,"request":{"method":"PUT","url":"Observation/tx1"}}]})";
  auto response = server_.Send("POST", "/fhir", bundle, {{"Prefer", "return=representation"}});
  ASSERT_EQ(response.status, 200) << response.body;
  ExpectExact(response.body, "the transaction response");
  ExpectExact(server_.Get("/fhir/Observation/tx1").body, "read after the transaction");

  auto batch = server_.Send("POST", "/fhir", R"({"resourceType":"Bundle","type":"batch","entry":[
    {"request":{"method":"GET","url":"Observation/tx1"}}]})");
  ASSERT_EQ(batch.status, 200) << batch.body;
  ExpectExact(batch.body, "the batch read");
}

TEST_F(FhirNumbers, TheBodyReadBackIsAcceptedByPutAndStaysTheSame) {
  ASSERT_EQ(server_.Send("PUT", "/fhir/Observation/obs1", ObservationBody("obs1")).status, 201);
  const std::string first = server_.Get("/fhir/Observation/obs1").body;
  auto updated = server_.Send("PUT", "/fhir/Observation/obs1", first);
  ASSERT_EQ(updated.status, 200) << updated.body;
  ExpectExact(server_.Get("/fhir/Observation/obs1").body, "read after the PUT round trip");
}

TEST_F(FhirNumbers, SearchesMatchNumbersKeptAsWritten) {
  ASSERT_EQ(server_.Send("PUT", "/fhir/Observation/obs1", ObservationBody("obs1")).status, 201);
  Put(server_, "RiskAssessment", "risk", R"({"resourceType":"RiskAssessment","status":"final",
    "subject":{"reference":"Patient/p1"},"prediction":[{"probabilityDecimal":0.010}]})");
  const auto search = [&](const std::string& query) { return Ids(server_, "/fhir/" + query); };
  EXPECT_EQ(search("Observation?value-quantity=1.50"), Names{"obs1"});
  EXPECT_EQ(search("Observation?value-quantity=1.5"), Names{"obs1"});
  EXPECT_EQ(search("Observation?value-quantity=1.51"), Names{});
  EXPECT_EQ(search("Observation?value-quantity=1.50|http://unitsofmeasure.org|m"), Names{"obs1"});
  EXPECT_EQ(search("Observation?component-value-quantity=100"), Names{"obs1"});
  EXPECT_EQ(search("Observation?component-value-quantity=0.010"), Names{"obs1"});
  EXPECT_EQ(search("Observation?component-value-quantity=gt1e27"), Names{"obs1"});
  EXPECT_EQ(search("Observation?component-value-quantity=lt-0.002"), Names{"obs1"});
  EXPECT_EQ(search("RiskAssessment?probability=0.010"), Names{"risk"});
  EXPECT_EQ(search("RiskAssessment?probability=0.01"), Names{"risk"});
  EXPECT_EQ(search("RiskAssessment?probability=0.02"), Names{});
  EXPECT_EQ(search("RiskAssessment?probability=gt0.005&_sort=probability"), Names{"risk"});
  // A number is not text: _content does not find it by its digits.
  EXPECT_EQ(search("Observation?subject=Patient/p1&_content=a"), Names{"obs1"});
  EXPECT_EQ(search("Observation?subject=Patient/p1&_content=12345678901234567890123456789"),
            Names{});
}

TEST_F(FhirNumbers, ReindexOnOpenReadsNumbersAsWritten) {
  ASSERT_EQ(server_.Send("PUT", "/fhir/Observation/obs1", ObservationBody("obs1")).status, 201);
  server_.Restart([](const std::filesystem::path& dir) {
    auto db = store::SqliteConnection::Open((dir / "carerecord.db").string(), false);
    ASSERT_TRUE(db.ok()) << db.error().message;
    ASSERT_TRUE((*db)
                    ->Exec("DELETE FROM idx_quantity; DELETE FROM idx_composite; "
                           "DELETE FROM store_meta WHERE key = 'index_format'")
                    .ok());
  });
  EXPECT_EQ(Ids(server_, "/fhir/Observation?value-quantity=1.50"), Names{"obs1"});
  EXPECT_EQ(Ids(server_, "/fhir/Observation?component-value-quantity=0.010"), Names{"obs1"});
  ExpectExact(server_.Get("/fhir/Observation/obs1").body, "read after the reindex");
}

TEST_F(FhirNumbers, NumbersBeyondADoubleAreRefusedNamingTheElement) {
  const std::string digits(10000, '7');
  for (const std::string& number : {std::string("1e400"), std::string("-1e400"), digits,
                                    std::string("1e-400"), "-" + digits + ".5"}) {
    const std::string body = R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},"valueQuantity":{"value":)" +
                             number + "}}";
    auto [diagnostics, expression] = Expect400(server_.Send("PUT", "/fhir/Observation/big", body));
    EXPECT_EQ(expression, "/valueQuantity/value") << number.substr(0, 20);
    EXPECT_NE(diagnostics.find("outside the range"), std::string::npos) << diagnostics;
    EXPECT_LT(diagnostics.size(), 500u);  // the number is quoted, not a 10,000-digit echo
  }
  EXPECT_EQ(server_.Get("/fhir/Observation/big").status, 404);
}

TEST_F(FhirNumbers, IntegersBeyondFhirsRangeOrWithAFractionAreRefused) {
  const auto put = [&](const std::string& value) {
    return server_.Send(
        "PUT", "/fhir/Patient/twin",
        R"({"resourceType":"Patient","id":"twin","multipleBirthInteger":)" + value + "}");
  };
  for (std::string value :
       {"3000000000", "-2147483649", "12345678901234567890123456789", "18446744073709551616"}) {
    auto [diagnostics, expression] = Expect400(put(value));
    EXPECT_EQ(expression, "/multipleBirthInteger") << value;
    EXPECT_NE(diagnostics.find("Patient.multipleBirthInteger"), std::string::npos) << diagnostics;
    EXPECT_NE(diagnostics.find("2147483647"), std::string::npos) << diagnostics;
    EXPECT_NE(diagnostics.find(value), std::string::npos) << diagnostics;
  }
  for (std::string value : {"2.0", "1e2", "1.5"}) {
    auto [diagnostics, expression] = Expect400(put(value));
    EXPECT_EQ(expression, "/multipleBirthInteger") << value;
    EXPECT_NE(diagnostics.find("the number " + value), std::string::npos) << diagnostics;
  }
  EXPECT_EQ(server_.Get("/fhir/Patient/twin").status, 404);
  ASSERT_EQ(put("2147483647").status, 201);
  ASSERT_EQ(put("-0").status, 200);
  EXPECT_NE(server_.Get("/fhir/Patient/twin").body.find(R"("multipleBirthInteger":-0)"),
            std::string::npos);
}

TEST_F(FhirNumbers, AKeptNumberWhereAStringBelongsIsRefusedWithItsText) {
  auto [diagnostics, expression] = Expect400(server_.Send(
      "PUT", "/fhir/Patient/p2", R"({"resourceType":"Patient","id":"p2","gender":1.50})"));
  EXPECT_EQ(expression, "/gender");
  EXPECT_NE(diagnostics.find("the number 1.50"), std::string::npos) << diagnostics;
  Expect400(server_.Send("PUT", "/fhir/Patient/p2", R"({"resourceType":1e2,"id":"p2"})"));
  Expect400(server_.Send("POST", "/fhir", R"({"resourceType":"Bundle","type":1.50})"));
  // A batch answers each entry; the error quotes the number, not its mark.
  auto batch = server_.Send("POST", "/fhir", R"({"resourceType":"Bundle","type":"batch","entry":[
    {"request":{"method":1.50,"url":1e2}}]})");
  EXPECT_NE(batch.body.find("not the number 1.50"), std::string::npos) << batch.body;
  EXPECT_EQ(batch.body.find("\\u001f"), std::string::npos) << batch.body;
  EXPECT_EQ(batch.body.find('\x1f'), std::string::npos) << batch.body;
  EXPECT_EQ(server_.Get("/fhir/Patient/p2").status, 404);
}

// Boost.JSON's own parser stops at 32 levels; a request may nest 64. The store once read
// its bodies with Boost's parser, so a deep resource was stored but its _include failed.
TEST_F(FhirNumbers, DeepStoredResourcesReadBackForIncludesAndText) {
  std::string extension = R"({"url":"http://example.org/leaf","valueDecimal":2.50})";
  for (int i = 0; i < 20; ++i) {
    extension = R"({"url":"http://example.org/n","extension":[)" + extension + "]}";
  }
  const std::string body = R"({"resourceType":"Observation","id":"deep","status":"final",
    "code":{"text":"deep note"},"subject":{"reference":"Patient/p1"},"extension":[)" +
                           extension + "]}";
  ASSERT_EQ(server_.Send("PUT", "/fhir/Observation/deep", body).status, 201);
  auto included = server_.Get("/fhir/Observation?_id=deep&_include=Observation:subject");
  ASSERT_EQ(included.status, 200) << included.body;
  EXPECT_NE(included.body.find(R"("family":"Exact")"), std::string::npos) << included.body;
  EXPECT_NE(included.body.find(R"("valueDecimal":2.50)"), std::string::npos);
  // (Read as text: the test's own Boost.JSON parser stops at 32 levels too.)
  auto found = server_.Get("/fhir/Observation?subject=Patient/p1&_content=deep");
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_NE(found.body.find(R"("id":"deep")"), std::string::npos) << found.body;
}

}  // namespace
}  // namespace carerecord::testing
