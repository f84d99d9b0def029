// Hostile round 5b on the audit log's read side: a patient user's view of AuditEvent names no
// other patient and no item by id (finding 3), refuses filters by who acted (finding 4), writes
// name the patients whose record they changed (finding 6), and POST reads answer as the GET
// (finding 14).

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <boost/url/url.hpp>
#include <map>
#include <regex>
#include <string>

#include "audit/audit_reports.h"
#include "audit/audit_test_support.h"
#include "audited_server_test.h"
#include "test_server.h"

namespace carerecord {
namespace {

namespace json = boost::json;
using testing::TestServer;

constexpr const char* kPassword = testing::kAuditTestPassword;
constexpr const char* kRedirect = "http://127.0.0.1:9/callback";
// base64url(SHA-256(verifier)) of auth_authorize_test's verifier.
constexpr const char* kChallenge = "-lTipkk1dJLjNw5kKLi9U6OttbLY3I9yeoyyWTXtOCE";
constexpr const char* kOther = "other-patient-zz";
constexpr const char* kOtherItem = "obs-of-other-zz";
constexpr const char* kOwnItem = "obs-of-own-qq";

std::string Form(const std::vector<std::pair<std::string, std::string>>& params) {
  boost::urls::url url("http://x/");
  for (const auto& [name, value] : params) url.params().append({name, value});
  return std::string(url.encoded_query());
}

class PatientAuditView : public testing::AuditedServerTest {
 protected:
  explicit PatientAuditView(bool names = false) : AuditedServerTest(names) {}

  void SetUp() override {
    Put("Patient", "p1", R"({"resourceType":"Patient"})");
    Put("Patient", kOther, R"({"resourceType":"Patient"})");
    Put("Observation", kOwnItem,
        R"({"resourceType":"Observation","status":"final","code":{"text":"bp"},)"
        R"("subject":{"reference":"Patient/p1"}})");
    Put("Observation", kOtherItem,
        R"({"resourceType":"Observation","status":"final","code":{"text":"bp"},)"
        R"("subject":{"reference":"Patient/other-patient-zz"}})");
    AddUser("dr.jones", "clinician", "");
    AddUser("aud.it", "auditor", "");
    AddUser("pat.smith", "patient", "p1");
    jones_ = UserToken("dr.jones", "clinician", "user/*.cruds");
    auditor_ = UserToken("aud.it", "auditor", "user/*.rs");
    patient_ = UserToken("pat.smith", "patient", "patient/*.rs", "p1");
  }

  // What a patient user's reads of the log must never hold.
  void ExpectNothingOfOthers(const http::HttpResponse& response) {
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.body.find(kOther), std::string::npos) << response.body;
    EXPECT_EQ(response.body.find(kOtherItem), std::string::npos) << response.body;
    EXPECT_EQ(response.body.find(kOwnItem), std::string::npos) << response.body;
  }

  void ExpectPatientViewHidesOthers();

  std::string jones_, auditor_, patient_;
};

class PatientAuditViewWithNames : public PatientAuditView {
 protected:
  PatientAuditViewWithNames() : PatientAuditView(true) {}
};

// One entry names both patients and both items (a search over everyone, by the integration
// client); the patient reads it by id, by search and in their $access-log.
void PatientAuditView::ExpectPatientViewHidesOthers() {
  ASSERT_EQ(server_.Send("GET", "/fhir/Observation?_count=100").status, 200);
  int64_t seq = 0;
  const auto log = Log();
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].action == "search" && log[i].path == "/fhir/Observation?_count=100") {
      seq = static_cast<int64_t>(i + 1);
      ASSERT_EQ(log[i].patients.size(), 2u);  // the entry itself names both
    }
  }
  ASSERT_GT(seq, 0);
  auto by_id = As(patient_, "GET", "/fhir/AuditEvent/" + std::to_string(seq));
  ExpectNothingOfOthers(by_id);
  EXPECT_NE(by_id.body.find("Patient/p1"), std::string::npos) << by_id.body;   // their own stays
  EXPECT_NE(by_id.body.find("Observation"), std::string::npos) << by_id.body;  // the kind stays
  ExpectNothingOfOthers(As(patient_, "GET", "/fhir/AuditEvent?_count=200"));
  ExpectNothingOfOthers(As(patient_, "GET", "/fhir/Patient/p1/$access-log?_count=200"));
  // An auditor still sees every patient and item of the entry.
  auto audited = As(auditor_, "GET", "/fhir/AuditEvent/" + std::to_string(seq));
  ASSERT_EQ(audited.status, 200);
  EXPECT_NE(audited.body.find(kOther), std::string::npos) << audited.body;
  EXPECT_NE(audited.body.find(kOtherItem), std::string::npos) << audited.body;
}

TEST_F(PatientAuditView, APatientSeesNoOtherPatientAndNoItemIds) { ExpectPatientViewHidesOthers(); }

// Hostile 6a finding 10: `patient=<another id>` counted the entries that disclosed both records
// (an id that exists gave some, one that does not none). Another id now matches nothing.
TEST_F(PatientAuditView, APatientNamingAnotherPatientFindsNothingWhetherItExistsOrNot) {
  ASSERT_EQ(server_.Send("GET", "/fhir/Observation?_count=100").status, 200);  // names both
  auto Count = [&](const std::string& target) {
    auto response = As(patient_, "GET", target);
    EXPECT_EQ(response.status, 200) << target << ": " << response.body;
    auto bundle = json::parse(response.body).as_object();
    return bundle.contains("entry") ? bundle.at("entry").as_array().size() : size_t{0};
  };
  EXPECT_GT(Count("/fhir/AuditEvent?_count=200"), 0u);
  EXPECT_EQ(Count(std::string("/fhir/AuditEvent?_count=200&patient=") + kOther), 0u);
  EXPECT_EQ(Count("/fhir/AuditEvent?_count=200&patient=no-such-patient"), 0u);
  EXPECT_EQ(Count(std::string("/fhir/AuditEvent?_count=200&patient=Patient/") + kOther), 0u);
  // Naming both finds what naming their own finds (plus the entry of that search itself).
  const size_t own = Count("/fhir/AuditEvent?_count=200&patient=p1");
  EXPECT_EQ(Count(std::string("/fhir/AuditEvent?_count=200&patient=p1,") + kOther), own + 1);
}

TEST_F(PatientAuditViewWithNames, EvenWithStaffNamesShownAPatientSeesNoOtherPatientNorItemIds) {
  ExpectPatientViewHidesOthers();
}

TEST_F(PatientAuditView, APatientMayNotFilterByWhoActed) {
  ASSERT_EQ(As(jones_, "GET", "/fhir/Patient/p1").status, 200);
  for (const std::string target :
       {"/fhir/AuditEvent?altid=dr.jones", "/fhir/AuditEvent?agent=Practitioner/carerecord-user-1",
        "/fhir/Patient/p1/$access-log?altid=dr.jones", "/fhir/AuditEvent?altid=nobody"}) {
    SCOPED_TRACE(target);
    auto refused = As(patient_, "GET", target);
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_NE(refused.body.find("OperationOutcome"), std::string::npos);
    EXPECT_NE(refused.body.find("staff"), std::string::npos) << refused.body;
  }
  // The auditor filters by them as before; the patient's other filters still work.
  auto audited = As(auditor_, "GET", "/fhir/AuditEvent?altid=dr.jones");
  ASSERT_EQ(audited.status, 200);
  EXPECT_TRUE(TestServer::Json(audited).contains("entry"));
  EXPECT_EQ(As(patient_, "GET", "/fhir/AuditEvent?subtype=read").status, 200);
}

TEST_F(PatientAuditViewWithNames, WhereStaffNamesAreShownAPatientMayFilterByThem) {
  ASSERT_EQ(As(jones_, "GET", "/fhir/Patient/p1").status, 200);
  auto found = As(patient_, "GET", "/fhir/AuditEvent?altid=dr.jones");
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_TRUE(TestServer::Json(found).contains("entry"));
}

TEST_F(PatientAuditView, PostedSearchesOfTheLogAnswerAsTheGet) {
  ASSERT_EQ(As(jones_, "GET", "/fhir/Patient/p1").status, 200);
  constexpr const char* kForm = "application/x-www-form-urlencoded";
  auto ids = [](const http::HttpResponse& response) {
    std::vector<std::string> out;
    auto bundle = TestServer::Json(response);
    if (auto* entries = bundle.if_contains("entry")) {
      for (const auto& entry : entries->as_array()) {
        out.emplace_back(entry.at("resource").at("id").as_string());
      }
    }
    return out;
  };
  // Each GET is compared before the POST, so the POST's own entry is not among them.
  auto get = As(auditor_, "GET", "/fhir/AuditEvent?altid=dr.jones&subtype=read");
  auto post =
      As(auditor_, "POST", "/fhir/AuditEvent/_search", "altid=dr.jones&subtype=read", kForm);
  ASSERT_EQ(post.status, 200) << post.body;
  EXPECT_FALSE(ids(post).empty());
  EXPECT_EQ(ids(post), ids(get));
  // Query and form body together.
  auto mixed =
      As(auditor_, "POST", "/fhir/AuditEvent/_search?altid=dr.jones", "subtype=read", kForm);
  ASSERT_EQ(mixed.status, 200) << mixed.body;
  EXPECT_EQ(ids(mixed), ids(get));
  // A bad parameter is a 400, as in the GET.
  EXPECT_EQ(As(auditor_, "POST", "/fhir/AuditEvent/_search", "nonsense=1", kForm).status, 400);
  // The patient's access log by POST, with the patient's rules (no altid).
  auto own_get = As(patient_, "GET", "/fhir/Patient/p1/$access-log?subtype=read");
  auto own_post = As(patient_, "POST", "/fhir/Patient/p1/$access-log", "subtype=read", kForm);
  ASSERT_EQ(own_post.status, 200) << own_post.body;
  EXPECT_FALSE(ids(own_post).empty());
  EXPECT_EQ(ids(own_post), ids(own_get));
  EXPECT_EQ(As(patient_, "POST", "/fhir/Patient/p1/$access-log").status, 200);
  EXPECT_EQ(As(patient_, "POST", "/fhir/Patient/p1/$access-log", "altid=dr.jones", kForm).status,
            403);
  EXPECT_EQ(As(patient_, "POST", "/fhir/Patient/" + std::string(kOther) + "/$access-log").status,
            404);
  // A JSON body is not a search's: a clear 400.
  EXPECT_EQ(As(auditor_, "POST", "/fhir/AuditEvent/_search", "{}", "application/fhir+json").status,
            400);
  // The log has no history interaction: a 405 that says so and what to do instead, not a 404
  // as of a missing entry "_history" (hostile 5b finding 14).
  for (const char* history : {"/fhir/AuditEvent/_history", "/fhir/AuditEvent/1/_history",
                              "/fhir/AuditEvent/1/_history/1"}) {
    auto refused = As(auditor_, "GET", history);
    EXPECT_EQ(refused.status, 405) << history << ": " << refused.body;
    EXPECT_NE(refused.body.find("no history interaction"), std::string::npos) << refused.body;
  }
  // Still read-only: a POST to the type is a create, refused.
  EXPECT_EQ(As(auditor_, "POST", "/fhir/AuditEvent", R"({"resourceType":"AuditEvent"})",
               "application/fhir+json")
                .status,
            405);
  // Reads: audited as such, with no write intent before them.
  for (const auto& record : Log()) {
    if (record.path.find("$access-log") != std::string::npos ||
        record.path.find("AuditEvent/_search") != std::string::npos) {
      EXPECT_NE(record.action, "write-attempt") << record.path;
    }
  }
}

TEST_F(PatientAuditView, AFailedSignInUnderAnUnknownNameKeepsOnlyAKeyedHashOfIt) {
  access::NewClient app;
  app.name = "Ward app";
  app.ods_code = testing::kTestOrganisation;
  app.scope = "user/*.rs";
  app.auth_kind = "public";
  app.redirect_uris = {kRedirect};
  auto added = server_.auth().directory().AddClient(app);
  ASSERT_TRUE(added.ok());
  auto sign_in = [&](const std::string& username, const std::string& password) {
    auto page = server_.Send("GET",
                             "/auth/authorize?" + Form({{"response_type", "code"},
                                                        {"client_id", added->client.client_id},
                                                        {"redirect_uri", kRedirect},
                                                        {"scope", "user/*.rs"},
                                                        {"state", "s"},
                                                        {"aud", server_.base()},
                                                        {"code_challenge", kChallenge},
                                                        {"code_challenge_method", "S256"}}),
                             "", {{"Authorization", ""}});
    ASSERT_EQ(page.status, 200) << page.body;
    std::smatch match;
    ASSERT_TRUE(std::regex_search(page.body, match,
                                  std::regex(R"re(name="pending" value="([A-Za-z0-9_-]+)")re")));
    std::string cookie(page.Header("set-cookie"));
    cookie = cookie.substr(0, cookie.find(';'));
    server_.Send("POST", "/auth/authorize",
                 Form({{"pending", match[1]}, {"username", username}, {"password", password}}),
                 {{"Content-Type", "application/x-www-form-urlencoded"},
                  {"Cookie", cookie},
                  {"Authorization", ""}});
  };
  sign_in("HUNTER5PASSWORDXYZ", "x");
  sign_in("HUNTER5PASSWORDXYZ", "y");
  sign_in("OtherTypedSecret77", "z");
  sign_in("dr.jones", "wrong");
  std::vector<audit::AuditRecord> failed;
  for (const auto& record : Log()) {
    if (record.action == "sign-in-failed") failed.push_back(record);
    const std::string bytes = audit::CanonicalBytes(record, 1);
    EXPECT_EQ(bytes.find("HUNTER5PASSWORDXYZ"), std::string::npos) << bytes;
    EXPECT_EQ(bytes.find("OtherTypedSecret77"), std::string::npos) << bytes;
  }
  ASSERT_EQ(failed.size(), 4u);
  const std::regex label("unknown user [0-9a-f]{12}");
  EXPECT_TRUE(std::regex_match(failed[0].user, label)) << failed[0].user;
  EXPECT_EQ(failed[1].user, failed[0].user);  // the same name: attempts correlate
  EXPECT_TRUE(std::regex_match(failed[2].user, label)) << failed[2].user;
  EXPECT_NE(failed[2].user, failed[0].user);
  EXPECT_EQ(failed[3].user, "dr.jones");  // a known user's failure names them
  auto found = As(auditor_, "GET", "/fhir/AuditEvent?altid=HUNTER5PASSWORDXYZ");
  ASSERT_EQ(found.status, 200);
  EXPECT_FALSE(TestServer::Json(found).contains("entry"));
  auto by_label =
      As(auditor_, "GET", "/fhir/AuditEvent?altid=" + Form({{"v", failed[0].user}}).substr(2));
  ASSERT_EQ(by_label.status, 200);
  EXPECT_EQ(TestServer::Json(by_label).at("entry").as_array().size(), 2u);
}

TEST_F(PatientAuditView, WritesNameThePatientsWhoseRecordTheyChanged) {
  const std::string obs =
      R"({"resourceType":"Observation","id":"w1","status":"final","code":{"text":"hr"},)"
      R"("subject":{"reference":"Patient/p1"}})";
  // (Made by the setup's writer: a user, who does not read everything, may not choose an id.)
  ASSERT_EQ(server_.Send("PUT", "/fhir/Observation/w1", obs).status, 201);
  auto created = As(jones_, "POST", "/fhir/Observation",
                    R"({"resourceType":"Observation","status":"final","code":{"text":"rr"},)"
                    R"("subject":{"reference":"Patient/p1"}})",
                    "application/fhir+json");
  ASSERT_EQ(created.status, 201) << created.body;
  // Moved to the other patient: both records changed.
  std::string moved = obs;
  moved.replace(moved.find("Patient/p1"), 10, std::string("Patient/") + kOther);
  ASSERT_EQ(As(jones_, "PUT", "/fhir/Observation/w1", moved, "application/fhir+json").status, 200);
  const int deleted = As(jones_, "DELETE", "/fhir/Observation/" + std::string(kOwnItem)).status;
  ASSERT_TRUE(deleted == 200 || deleted == 204) << deleted;
  auto bundle = As(jones_, "POST", "/fhir",
                   R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":)"
                   R"({"method":"POST","url":"Condition"},"resource":{"resourceType":"Condition",)"
                   R"("subject":{"reference":"Patient/p1"}}}]})",
                   "application/fhir+json");
  ASSERT_EQ(bundle.status, 200) << bundle.body;

  std::map<std::string, std::vector<std::string>> patients_of;  // method path -> patients
  for (const auto& record : Log()) {
    if (record.action == "write-attempt" || record.principal != "user:dr.jones") continue;
    if (record.method == "GET") continue;
    patients_of[record.method + " " + record.path] = record.patients;
  }
  const std::vector<std::string> p1{"p1"};
  EXPECT_EQ(patients_of["PUT /fhir/Observation/w1"],
            (std::vector<std::string>{"other-patient-zz", "p1"}));  // the last PUT: both
  EXPECT_EQ(patients_of["POST /fhir/Observation"], p1);
  EXPECT_EQ(patients_of["DELETE /fhir/Observation/" + std::string(kOwnItem)], p1);
  EXPECT_EQ(patients_of["POST /fhir"], p1);

  // Found by patient, by the auditor and in the patient's own access log.
  auto by_patient = As(auditor_, "GET", "/fhir/AuditEvent?patient=p1&subtype=delete");
  ASSERT_EQ(by_patient.status, 200);
  EXPECT_TRUE(TestServer::Json(by_patient).contains("entry")) << by_patient.body;
  for (const char* subtype : {"create", "update", "delete", "transaction"}) {
    auto own = As(patient_, "GET", std::string("/fhir/Patient/p1/$access-log?subtype=") + subtype);
    ASSERT_EQ(own.status, 200);
    EXPECT_TRUE(TestServer::Json(own).contains("entry")) << subtype;
  }
  auto other =
      As(auditor_, "GET", std::string("/fhir/AuditEvent?subtype=update&patient=") + kOther);
  EXPECT_TRUE(TestServer::Json(other).contains("entry"));
}

}  // namespace
}  // namespace carerecord
