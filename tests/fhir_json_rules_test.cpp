// HTTP integration tests of FHIR's JSON rules beyond plain JSON (issue 17, defect 11): no key
// twice, no control characters in strings, clean query values, contained resources, extensions
// and narratives as R4 constrains them, and error bodies that are always valid JSON.
#include <gtest/gtest.h>

#include <string>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

namespace json = boost::json;

struct Issue {
  std::string diagnostics;
  std::string expression;
};

class FhirJsonRules : public ::testing::Test {
 protected:
  // Checks the response is a 400 whose body is a valid-JSON OperationOutcome; its first issue.
  Issue Expect400(const http::HttpResponse& response) {
    EXPECT_EQ(response.status, 400) << response.body;
    json::error_code ec;
    json::value outcome = json::parse(response.body, ec);  // refuses invalid UTF-8 too
    EXPECT_FALSE(ec) << "not valid JSON: " << response.body;
    Issue issue;
    if (ec || !outcome.is_object() || outcome.as_object()["resourceType"] != "OperationOutcome") {
      ADD_FAILURE() << "not an OperationOutcome: " << response.body;
      return issue;
    }
    json::object& first = outcome.as_object()["issue"].as_array().at(0).as_object();
    issue.diagnostics = first["diagnostics"].as_string();
    if (auto* expression = first.if_contains("expression")) {
      issue.expression = expression->as_array().at(0).as_string();
    }
    return issue;
  }

  // A Patient body with `members` (raw JSON text, starting with a comma) added.
  static std::string Patient(const std::string& members) {
    return R"({"resourceType":"Patient","id":"p1")" + members + "}";
  }

  http::HttpResponse PutPatient(const std::string& body) {
    return server_.Send("PUT", "/fhir/Patient/p1", body);
  }

  TestServer server_;
};

TEST_F(FhirJsonRules, DuplicateKeyIsRefusedNamingTheKeyAndWhere) {
  Issue issue = Expect400(
      server_.Send("PUT", "/fhir/Patient/a", R"({"resourceType":"Patient","id":"a","id":"b"})"));
  EXPECT_NE(issue.diagnostics.find("\"id\""), std::string::npos) << issue.diagnostics;
  EXPECT_EQ(issue.expression, "/id");
  EXPECT_EQ(server_.Get("/fhir/Patient/a").status, 404);
  EXPECT_EQ(server_.Get("/fhir/Patient/b").status, 404);
}

TEST_F(FhirJsonRules, DuplicateKeyDeepInsideIsRefusedWithItsPointer) {
  Issue issue = Expect400(
      PutPatient(Patient(R"(,"name":[{"family":"A"},{"given":["x"],"family":"B","family":"C"}])")));
  EXPECT_NE(issue.diagnostics.find("\"family\""), std::string::npos) << issue.diagnostics;
  EXPECT_EQ(issue.expression, "/name/1/family");
}

TEST_F(FhirJsonRules, BundleWithTypeTwiceIsRefused) {
  Issue issue = Expect400(server_.Send(
      "POST", "/fhir", R"({"resourceType":"Bundle","type":"batch","type":"transaction"})"));
  EXPECT_NE(issue.diagnostics.find("\"type\""), std::string::npos) << issue.diagnostics;
  EXPECT_EQ(issue.expression, "/type");
}

TEST_F(FhirJsonRules, EqualKeysInDifferentObjectsAreFine) {
  auto response = PutPatient(Patient(R"(,"name":[{"family":"A"},{"family":"B"}])"));
  EXPECT_EQ(response.status, 201) << response.body;
}

TEST_F(FhirJsonRules, EscapedControlCharacterInAStringIsRefusedNamingTheElement) {
  for (std::string escape : {"\\u0000", "\\u001f", "\\b", "\\f", "\\u0007"}) {
    Issue issue = Expect400(PutPatient(Patient(R"(,"name":[{"family":"Ab)" + escape + R"(c"}])")));
    EXPECT_NE(issue.diagnostics.find("control character"), std::string::npos) << issue.diagnostics;
    EXPECT_EQ(issue.expression, "/name/0/family") << escape;
  }
  EXPECT_EQ(server_.Get("/fhir/Patient/p1").status, 404);
}

TEST_F(FhirJsonRules, TabNewlineAndEscapedBackslashesAreFine) {
  // "\\u0000" is a backslash and the text u0000, not a NUL.
  auto response = PutPatient(Patient(R"(,"name":[{"text":"a\tb\nc\r\\u0000\\b"}])"));
  EXPECT_EQ(response.status, 201) << response.body;
}

TEST_F(FhirJsonRules, NulInASearchValueIsRefused) {
  Issue issue = Expect400(server_.Get("/fhir/Patient?name=a%00zzzz"));
  EXPECT_EQ(issue.expression, "name");
  EXPECT_NE(issue.diagnostics.find("NUL"), std::string::npos) << issue.diagnostics;
}

TEST_F(FhirJsonRules, MalformedPercentEscapeIsRefusedNamingTheParameter) {
  for (std::string query : {"name=%zz", "name=%4", "family=x&name=a%", "name=%g1"}) {
    Issue issue = Expect400(server_.Get("/fhir/Patient?" + query));
    EXPECT_EQ(issue.expression, "name") << query;
    EXPECT_NE(issue.diagnostics.find("percent-escape"), std::string::npos) << issue.diagnostics;
  }
  EXPECT_EQ(server_.Get("/fhir/Patient?name=%41b").status, 200);
}

TEST_F(FhirJsonRules, MalformedEscapeOrNulInAFormSearchIsRefused) {
  std::vector<std::pair<std::string, std::string>> form = {
      {"Content-Type", "application/x-www-form-urlencoded"}};
  auto bad_escape = server_.Send("POST", "/fhir/Patient/_search", "name=%zz", form);
  EXPECT_EQ(Expect400(bad_escape).expression, "name");
  auto nul = server_.Send("POST", "/fhir/Patient/_search", "name=a%00b", form);
  EXPECT_EQ(Expect400(nul).expression, "name");
  // A search by POST takes a form: a JSON body is not read as one (R4 3.1.0.1.3).
  auto json_body = server_.Send("POST", "/fhir/Patient/_search", R"({"name":"x"})",
                                {{"Content-Type", "application/fhir+json"}});
  EXPECT_EQ(Expect400(json_body).expression, "Content-Type");
  // Query and form together are counted as one query.
  std::string many;
  for (int i = 0; i < 150; ++i) many += "name=a" + std::to_string(i) + "&";
  auto counted = server_.Send("POST", "/fhir/Patient/_search?" + many, many, form);
  EXPECT_EQ(counted.status, 400) << counted.body.substr(0, 200);
  EXPECT_EQ(server_.Send("POST", "/fhir/Patient/_search?name=x", "", form).status, 200);
}

TEST_F(FhirJsonRules, ErrorBodiesAreValidJsonWhateverBytesTheUrlCarried) {
  auto type = server_.Get("/fhir/Pat%FFient");
  EXPECT_EQ(type.status, 404);
  json::error_code ec;
  json::parse(type.body, ec);
  EXPECT_FALSE(ec) << type.body;
  EXPECT_NE(type.body.find("Pat\xEF\xBF\xBDient"), std::string::npos) << type.body;
  Expect400(server_.Get("/fhir/Patient/bad%FE%80id"));
  Expect400(server_.Get("/fhir/Patient?birthdate=19%C3"));
}

constexpr const char* kNarrative =
    R"(,"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">)";

TEST_F(FhirJsonRules, ContainedResourceRulesAreEnforced) {
  const std::string org = R"({"resourceType":"Organization","id":"o1","name":"X")";
  struct Case {
    std::string members;
    std::string rule;
    std::string pointer;
  };
  std::vector<Case> cases = {
      {R"(,"contained":[)" + org +
           R"(,"meta":{"versionId":"2"}}],)"
           R"("managingOrganization":{"reference":"#o1"})",
       "dom-4", "/contained/0/meta/versionId"},
      {R"(,"contained":[)" + org +
           R"(,"meta":{"lastUpdated":"2020-01-01T00:00:00Z"}}],)"
           R"("managingOrganization":{"reference":"#o1"})",
       "dom-4", "/contained/0/meta/lastUpdated"},
      {R"(,"contained":[)" + org +
           R"(,"meta":{"security":[{"code":"R"}]}}],)"
           R"("managingOrganization":{"reference":"#o1"})",
       "dom-5", "/contained/0/meta/security"},
      {R"(,"contained":[{"resourceType":"Organization","name":"X"}])", "dom-3", "/contained/0/id"},
      {R"(,"contained":[)" + org + R"(}])", "dom-3", "/contained/0"},
      {R"(,"contained":[)" + org +
           R"(,"contained":[{"resourceType":"Organization","id":"x"}]}],)"
           R"("managingOrganization":{"reference":"#o1"})",
       "dom-2", ""},
  };
  for (const Case& c : cases) {
    Issue issue = Expect400(PutPatient(Patient(c.members)));
    EXPECT_NE(issue.diagnostics.find(c.rule), std::string::npos) << c.members << "\n"
                                                                 << issue.diagnostics;
    if (!c.pointer.empty()) {
      EXPECT_EQ(issue.expression, c.pointer) << c.members;
    }
  }
  EXPECT_EQ(server_.Get("/fhir/Patient/p1").status, 404);
}

// The rules a hostile tester found still accepted: each a 400 naming the rule and the element.
TEST_F(FhirJsonRules, MoreContainedExtensionAndPrimitiveRulesAreEnforced) {
  const std::string org = R"({"resourceType":"Organization","id":"o1","name":"X")";
  const std::string refers = R"(,"managingOrganization":{"reference":"#o1"})";
  struct Case {
    std::string members;
    std::string rule;
    std::string pointer;
  };
  std::vector<Case> cases = {
      {R"(,"contained":[)" + org + "}," + org + "}]" + refers, "same id", "/contained/1/id"},
      {R"(,"contained":[)" + org + R"(}],"managingOrganization":{"reference":"#o2"})", "ref-1",
       "/managingOrganization/reference"},
      {R"(,"managingOrganization":{"reference":"#o1"})", "ref-1",
       "/managingOrganization/reference"},
      {R"(,"contained":[)" + org +
           R"(,"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">X</div>"}}])" +
           refers,
       "dom-1", "/contained/0/text"},
      {R"(,"extension":[{"url":"http://x.org/e"}])", "ext-1", "/extension/0"},
      {R"(,"name":[{"given":[null],"_given":[null]}])", "ele-1", "/name/0/_given/0"},
      {R"(,"name":[{"given":["A",null],"_given":[null,{"id":"x"}]}])", "ele-1", "/name/0/_given/1"},
      {R"(,"_active":{"id":"x"})", "ele-1", "/_active"},
  };
  for (const Case& c : cases) {
    Issue issue = Expect400(PutPatient(Patient(c.members)));
    EXPECT_NE(issue.diagnostics.find(c.rule), std::string::npos) << c.members << "\n"
                                                                 << issue.diagnostics;
    EXPECT_EQ(issue.expression, c.pointer) << c.members;
  }
  EXPECT_EQ(server_.Get("/fhir/Patient/p1").status, 404);
  // What the rules allow: a value or extensions on a primitive, "#" for the container.
  for (const std::string members :
       {R"(,"_active":{"id":"x","extension":[{"url":"http://x.org/e","valueString":"y"}]})",
        R"(,"active":true,"_active":{"id":"x"})",
        R"(,"name":[{"given":["A",null],"_given":[{"id":"a"},)"
        R"({"extension":[{"url":"http://x.org/e","valueCode":"unknown"}]}]}])"}) {
    auto accepted = PutPatient(Patient(members));
    EXPECT_LT(accepted.status, 300) << members << ": " << accepted.body;
  }
}

// A Bundle's fullUrl urn:uuid: or urn:oid: is what its references resolve by: it must be one.
TEST_F(FhirJsonRules, BundleFullUrlThatIsNotAUuidOrOidIsRefused) {
  auto bundle = [](const std::string& full_url) {
    return R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":")" + full_url +
           R"(","resource":{"resourceType":"Patient"},)"
           R"("request":{"method":"POST","url":"Patient"}}]})";
  };
  for (const std::string full_url :
       {"urn:uuid:not-a-uuid", "urn:uuid:1", "urn:uuid:0000000-0000-4000-8000-0000000000001",
        "urn:oid:1..2", "urn:oid:abc", "urn:oid:"}) {
    Issue issue = Expect400(server_.Send("POST", "/fhir", bundle(full_url)));
    EXPECT_EQ(issue.expression, "Bundle.entry[0].fullUrl") << full_url << ": " << issue.diagnostics;
    // A Bundle stored as a resource (a document, a collection) by the same rule.
    Issue stored = Expect400(server_.Send(
        "PUT", "/fhir/Bundle/b1",
        R"({"resourceType":"Bundle","id":"b1","type":"collection","entry":[{"fullUrl":")" +
            full_url + R"(","resource":{"resourceType":"Patient"}}]})"));
    EXPECT_EQ(stored.expression, "/entry/0/fullUrl") << full_url << ": " << stored.diagnostics;
  }
  for (const std::string full_url :
       {"urn:uuid:6f2c5b1e-8f3a-4c7d-9e2b-1a2b3c4d5e6f", "urn:oid:1.2.840.10008"}) {
    auto accepted = server_.Send("POST", "/fhir", bundle(full_url));
    EXPECT_EQ(accepted.status, 200) << full_url << ": " << accepted.body;
  }
}

TEST_F(FhirJsonRules, ReferencedContainedResourcesAreAccepted) {
  auto referenced =
      PutPatient(Patient(R"(,"contained":[{"resourceType":"Organization","id":"o1",)"
                         R"("name":"X"}],"managingOrganization":{"reference":"#o1"})"));
  EXPECT_EQ(referenced.status, 201) << referenced.body;
  // A contained resource may instead refer to its container as "#".
  auto observation = server_.Send(
      "PUT", "/fhir/Observation/ob1",
      R"({"resourceType":"Observation","id":"ob1","status":"final","code":{"text":"x"},)"
      R"("contained":[{"resourceType":"Provenance","id":"pv","target":[{"reference":"#"}],)"
      R"("recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"display":"A"}}]}]})");
  EXPECT_EQ(observation.status, 201) << observation.body;
}

TEST_F(FhirJsonRules, ExtensionNeedsAUrlAndNotBothValueAndExtensions) {
  Issue no_url = Expect400(PutPatient(Patient(R"(,"extension":[{"valueString":"x"}])")));
  EXPECT_EQ(no_url.expression, "/extension/0/url");
  Issue both =
      Expect400(PutPatient(Patient(R"(,"extension":[{"url":"http://x.org/e","valueString":"x",)"
                                   R"("extension":[{"url":"a","valueString":"y"}]}])")));
  EXPECT_NE(both.diagnostics.find("ext-1"), std::string::npos) << both.diagnostics;
  EXPECT_EQ(both.expression, "/extension/0");
  auto nested = PutPatient(Patient(
      R"(,"extension":[{"url":"http://x.org/e","extension":[{"url":"a","valueString":"y"}]}])"));
  EXPECT_EQ(nested.status, 201) << nested.body;
}

TEST_F(FhirJsonRules, NarrativeOutsideFhirsXhtmlSubsetIsRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\">a<script>alert(1)</script></div>)", "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><style>p{}</style>a</div>)", "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><object data=\"x\"></object>a</div>)",
       "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><iframe src=\"x\"></iframe>a</div>)",
       "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><form></form>a</div>)", "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><p onclick=\"x()\">a</p></div>)", "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\" JavaScript:x()\">a</a></div>)",
       "txt-1"},
      // Entities and whitespace a browser decodes before it reads the scheme.
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"&#106;avascript:x()\">a</a></div>)",
       "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"jav&#x09;ascript:x()\">a</a></div>)",
       "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"javascript&colon;x()\">a</a></div>)",
       "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><img src=\"data:text/html,x\"/>a</div>)",
       "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"data:image/png,x\">a</a></div>)",
       "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><p style=\"background:url(x)\">a</p></div>)",
       "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><p style=\"x:\\75rl(y)\">a</p></div>)",
       "txt-1"},
      {R"(<div>no namespace</div>)", "txt-1"},
      {R"(<p xmlns=\"http://www.w3.org/1999/xhtml\">not a div</p>)", "txt-1"},
      {R"(just text)", "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>unclosed</div>)", "txt-1"},
      {R"(<div xmlns=\"http://www.w3.org/1999/xhtml\">  <p> </p> </div>)", "txt-2"},
  };
  for (const auto& [div, rule] : cases) {
    Issue issue =
        Expect400(PutPatient(Patient(R"(,"text":{"status":"generated","div":")" + div + R"("})")));
    EXPECT_NE(issue.diagnostics.find(rule), std::string::npos) << div << "\n" << issue.diagnostics;
    EXPECT_EQ(issue.expression, "/text/div") << div;
  }
  EXPECT_EQ(server_.Get("/fhir/Patient/p1").status, 404);
}

TEST_F(FhirJsonRules, NarrativeInFhirsXhtmlSubsetIsAccepted) {
  auto response = PutPatient(
      Patient(std::string(kNarrative) +
              R"(<!-- note --><p class=\"x\" style=\"color:red\">Jo &amp; <b>Bloggs</b><br/></p>)"
              R"(<table border=\"1\"><tr><td colspan=\"2\">x</td></tr></table>)"
              R"(<a href=\"https://example.org\">link</a><img src=\"data:image/png;base64,AA==\"/>)"
              R"(<a href=\"#p1\">in</a><a href=\"Patient/p1?x=1&amp;y=2\">rel</a>)"
              R"(<a href=\"mailto:a@example.org\">mail</a><p style=\"color:rgb(1,2,3)\">c</p>)"
              R"(</div>"})"));
  EXPECT_EQ(response.status, 201) << response.body;
}

}  // namespace
}  // namespace carerecord::testing
