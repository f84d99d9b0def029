// The access policy's matrix: each role against plain, restricted (R), very restricted (V) and
// protected-code items, over every read path, compared with an oracle: the same request against
// a store that never held the items the role may not see. Also the write refusals.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <regex>
#include <set>

#include "access/region_access_policy.h"
#include "access/scope_policy.h"
#include "interactions/fhir_service.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace carerecord {
namespace {

namespace json = boost::json;
using interactions::QueryParams;
using interactions::RequestContext;
using interactions::Response;

constexpr const char* kAuthor = "ORG-A";
constexpr const char* kOther = "ORG-B";

// The record: a patient, four Observations/Conditions of each kind, and two Practitioners.
struct Item {
  std::string type, id, body;
};
std::vector<Item> RecordItems() {
  const std::string subject = R"("subject":{"reference":"Patient/p1"})";
  auto observation = [&](const std::string& id, const std::string& extra) {
    return Item{"Observation", id,
                R"({"resourceType":"Observation","id":")" + id +
                    R"(","status":"final","identifier":[{"system":"urn:test","value":")" + id +
                    R"("}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)" +
                    subject + extra + "}"};
  };
  auto label = [](const char* code) {
    return std::string(R"(,"meta":{"security":[{"system":")") +
           "http://terminology.hl7.org/CodeSystem/v3-Confidentiality" + R"(","code":")" + code +
           R"("}]})";
  };
  return {
      {"Patient", "p1", R"({"resourceType":"Patient","id":"p1","gender":"female"})"},
      {"Practitioner", "pr-1", R"({"resourceType":"Practitioner","id":"pr-1"})"},
      {"Practitioner", "pr-2", R"({"resourceType":"Practitioner","id":"pr-2"})"},
      observation("obs-plain", ""),
      observation("obs-r", label("R")),
      observation("obs-v", label("V") + R"(,"performer":[{"reference":"Practitioner/pr-2"}])"),
      {"Condition", "cond-prot",
       R"({"resourceType":"Condition","id":"cond-prot","code":{"coding":[{"system":"http://snomed.info/sct","code":"407377005"}]},)" +
           subject + "}"},
  };
}

struct Caller {
  std::string name;
  std::string role;
  std::string organisation;
  std::set<std::string> sees;  // ids this caller may read
};

// The expected visibility, written out: the matrix's oracle side.
std::vector<Caller> Callers() {
  const std::set<std::string> all = {"p1",    "pr-1",  "pr-2",     "obs-plain",
                                     "obs-r", "obs-v", "cond-prot"};
  return {
      {"clinician-author", "clinician", kAuthor, all},
      {"clinician-other", "clinician", kOther, {"p1", "pr-1", "pr-2", "obs-plain", "obs-r"}},
      {"nurse-other", "nurse", kOther, {"p1", "pr-1", "pr-2", "obs-plain", "obs-r"}},
      {"allied-other", "allied-health", kOther, {"p1", "pr-1", "pr-2", "obs-plain"}},
      {"admin-other", "admin-staff", kOther, {"p1", "pr-1", "pr-2"}},
      {"social-other", "social-worker", kOther, {"p1", "pr-1", "pr-2"}},
      {"auditor", "auditor", kOther, {"pr-1", "pr-2"}},
      {"system-admin", "system-admin", kOther, {"pr-1", "pr-2"}},
      {"patient-own", "patient", "", {"p1", "obs-plain"}},
      {"integration", "integration", kOther, all},
  };
}

RequestContext ContextFor(const std::string& role, const std::string& organisation) {
  RequestContext ctx;
  ctx.base_url = "http://test/fhir";
  ctx.who.kind =
      role == "integration" ? access::PrincipalKind::kClient : access::PrincipalKind::kUser;
  ctx.who.principal = role + "@" + organisation;
  ctx.who.role = role;
  ctx.who.organisation = organisation;
  if (role == "patient") {
    ctx.who.patient = "p1";
    ctx.who.fhir_user = "Patient/p1";
  }
  return ctx;
}

// A store, the server's policy stack and a FhirService over it.
class RecordServer {
 public:
  RecordServer() {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("carerecord-matrix-" + std::to_string(random()) + std::to_string(random()));
    Open();
  }
  ~RecordServer() {
    service_.reset();
    store_->Close();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // Writes the items (in order) as an integration client of the author's organisation.
  void Write(const std::vector<Item>& items, const std::set<std::string>& only) {
    RequestContext ctx = ContextFor("integration", kAuthor);
    for (const Item& item : items) {
      if (!only.count(item.id)) continue;
      Response r = service_->Update(ctx, item.type, item.id, item.body, "");
      ASSERT_EQ(r.status, 201) << item.id << ": " << r.body;
    }
  }
  interactions::FhirService& service() { return *service_; }

  // Closes the store, runs `while_closed` on its data directory, and opens it again.
  void Reopen(const std::function<void(const std::filesystem::path&)>& while_closed) {
    service_.reset();
    store_->Close();
    store_.reset();
    while_closed(dir_);
    Open();
  }

 private:
  void Open() {
    store::SqliteOptions options;
    options.directory = dir_.string();
    options.durable = false;
    store_ = std::move(store::OpenSqliteStore(options)).value();
    service_ = std::make_unique<interactions::FhirService>(*store_, scope_policy_, nullptr);
  }

  std::filesystem::path dir_;
  access::RegionAccessPolicy policy_{
      std::make_shared<const access::RegionPolicy>(access::DefaultRegionPolicy())};
  access::ScopeLimitedPolicy scope_policy_{policy_};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<interactions::FhirService> service_;
};

// What a response says, without what differs between two stores of the same content (times,
// Bundle ids): the status, the total, and each entry's fullUrl, mode and version.
std::string Normalized(const Response& r) {
  std::string out = std::to_string(r.status);
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec || !body.is_object()) return out;
  const json::object& o = body.as_object();
  if (o.at("resourceType") != "Bundle") {
    if (auto* id = o.if_contains("id")) out += " " + json::serialize(*id);
    return out;
  }
  if (auto* total = o.if_contains("total")) out += " total=" + json::serialize(*total);
  std::vector<std::string> entries;
  if (auto* list = o.if_contains("entry")) {
    for (const json::value& entry : list->as_array()) {
      const json::object& e = entry.as_object();
      std::string line = e.contains("fullUrl") ? std::string(e.at("fullUrl").as_string()) : "?";
      if (auto* search = e.if_contains("search")) line += " " + json::serialize(*search);
      if (auto* resource = e.if_contains("resource")) {
        const json::object& res = resource->as_object();
        if (auto* meta = res.if_contains("meta")) {
          if (auto* v = meta->as_object().if_contains("versionId"))
            line += " v" + json::serialize(*v);
        }
        if (res.at("resourceType") == "OperationOutcome") continue;
      }
      entries.push_back(line);
    }
  }
  std::sort(entries.begin(), entries.end());
  for (const std::string& e : entries) out += "\n  " + e;
  return out;
}

// Every read path, by name, as one caller.
std::vector<std::pair<std::string, Response>> ReadPaths(interactions::FhirService& service,
                                                        const RequestContext& ctx) {
  std::vector<std::pair<std::string, Response>> out;
  for (const Item& item : RecordItems()) {
    out.emplace_back("read " + item.id, service.Read(ctx, item.type, item.id));
    out.emplace_back("vread " + item.id, service.VRead(ctx, item.type, item.id, "1"));
    out.emplace_back("history " + item.id, service.History(ctx, item.type, item.id, {}));
  }
  for (const char* type : {"Observation", "Condition", "Patient", "Practitioner"}) {
    std::string t(type);
    out.emplace_back("search " + t, service.Search(ctx, type, {}));
    out.emplace_back("total " + t, service.Search(ctx, type, {{"_total", "accurate"}}));
    out.emplace_back("summary=count " + t, service.Search(ctx, type, {{"_summary", "count"}}));
    out.emplace_back("count=0 " + t, service.Search(ctx, type, {{"_count", "0"}}));
    out.emplace_back("type history " + t, service.History(ctx, type, "", {}));
    out.emplace_back("type history total " + t,
                     service.History(ctx, type, "", {{"_total", "accurate"}}));
  }
  out.emplace_back("search Observation by patient",
                   service.Search(ctx, "Observation", {{"patient", "p1"}}));
  out.emplace_back("include performer",
                   service.Search(ctx, "Observation", {{"_include", "Observation:performer"}}));
  out.emplace_back(
      "revinclude subject",
      service.Search(ctx, "Patient", {{"_id", "p1"}, {"_revinclude", "Observation:subject"}}));
  out.emplace_back("revinclude performer",
                   service.Search(ctx, "Practitioner", {{"_revinclude", "Observation:performer"}}));
  // Chains and _has match only what the caller may read: they cannot probe withheld items.
  out.emplace_back("has observation",
                   service.Search(ctx, "Patient", {{"_has:Observation:subject:code", "8867-4"}}));
  out.emplace_back("has protected condition",
                   service.Search(ctx, "Patient", {{"_has:Condition:subject:code", "407377005"}}));
  out.emplace_back("chain to patient",
                   service.Search(ctx, "Observation", {{"subject:Patient.gender", "female"}}));
  // A withheld item reached by one round lends nothing to the next (:iterate).
  out.emplace_back("revinclude then iterate",
                   service.Search(ctx, "Patient",
                                  {{"_id", "p1"},
                                   {"_revinclude", "Observation:subject"},
                                   {"_include:iterate", "Observation:performer"}}));
  out.emplace_back("system history", service.History(ctx, "", "", {}));
  out.emplace_back("system history total", service.History(ctx, "", "", {{"_total", "accurate"}}));
  out.emplace_back("everything", service.Everything(ctx, "p1", {}));
  return out;
}

TEST(AccessPolicyMatrix, EveryReadPathAnswersAsAStoreThatNeverHeldTheWithheldItems) {
  RecordServer full;
  full.Write(RecordItems(), Callers().front().sees);
  for (const Caller& caller : Callers()) {
    SCOPED_TRACE(caller.name);
    RecordServer oracle;
    oracle.Write(RecordItems(), caller.sees);
    RequestContext ctx = ContextFor(caller.role, caller.organisation);
    auto got = ReadPaths(full.service(), ctx);
    // The oracle is asked by a caller that sees all it holds, so only what is stored differs.
    auto want = ReadPaths(oracle.service(), ContextFor("integration", kOther));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(Normalized(got[i].second), Normalized(want[i].second))
          << caller.name << ": " << got[i].first;
    }
  }
}

TEST(AccessPolicyMatrix, ARoleWithoutTheTypeCannotWriteItAndIsToldWhy) {
  RecordServer record;
  record.Write(RecordItems(), {"p1"});
  Response r = record.service().Update(
      ContextFor("admin-staff", kOther), "Observation", "new-obs",
      R"({"resourceType":"Observation","id":"new-obs","status":"final","code":{"text":"x"}})", "");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("roles.admin-staff.write"), std::string::npos) << r.body;
  EXPECT_EQ(
      record.service().Read(ContextFor("integration", kOther), "Observation", "new-obs").status,
      404);
  Response auditor = record.service().Create(ContextFor("auditor", kOther), "Patient",
                                             R"({"resourceType":"Patient"})", "");
  EXPECT_EQ(auditor.status, 403) << auditor.body;
  Response admin = record.service().Create(ContextFor("admin-staff", kOther), "Patient",
                                           R"({"resourceType":"Patient"})", "");
  EXPECT_EQ(admin.status, 201) << admin.body;
}

// What a refused write may say: that it was refused, and nothing of the item.
void ExpectRefusedRevealingNothing(const Response& r, const std::string& what) {
  EXPECT_EQ(r.status, 405) << what << ": " << r.body;
  EXPECT_NE(r.body.find("there is no"), std::string::npos) << what << ": " << r.body;
  for (const char* revealing : {"version", "exists", "match", "If-Match", "407377005", "8867-4"}) {
    EXPECT_EQ(r.body.find(revealing), std::string::npos) << what << ": " << r.body;
  }
  for (const auto& [name, value] : r.headers) {
    EXPECT_NE(name, "ETag") << what;
    EXPECT_NE(name, "Location") << what;
  }
}

// `text` with every `from` made `to`.
std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// A write on a withheld id is answered exactly as the same write on an id never used: the same
// status, headers and text but for the id (hostile 5b finding 10: a PUT was 403 on a withheld
// id and 201 on a free one, which told the id was taken).
void ExpectAnsweredAsAFreeId(const std::function<Response(const std::string& id)>& write,
                             const std::string& hidden_id, const std::string& what) {
  const std::string free_id = "free-" + hidden_id;
  Response hidden = write(hidden_id);
  Response free = write(free_id);
  ExpectRefusedRevealingNothing(hidden, what);
  EXPECT_EQ(hidden.status, free.status) << what << ": " << free.body;
  EXPECT_EQ(hidden.headers, free.headers) << what;
  EXPECT_EQ(Replaced(hidden.body, hidden_id, free_id), free.body) << what;
}

TEST(AccessPolicyMatrix, AWriterThatCannotReadAnItemCannotChangeItNorLearnOfIt) {
  RecordServer record;
  record.Write(RecordItems(), Callers().front().sees);
  const std::string labelled_patient =
      R"({"resourceType":"Patient","id":"p-r","gender":"male","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]}})";
  record.Write({{"Patient", "p-r", labelled_patient}}, {"p-r"});
  RequestContext integration = ContextFor("integration", kOther);
  auto stored = [&](const char* type, const char* id) {
    Response r = record.service().Read(integration, type, id);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  };
  const std::string obs_v = stored("Observation", "obs-v");
  const std::string cond_prot = stored("Condition", "cond-prot");
  const std::string p_r = stored("Patient", "p-r");

  RequestContext clinician = ContextFor("clinician", kOther);
  RequestContext nurse = ContextFor("nurse", kOther);
  RequestContext admin = ContextFor("admin-staff", kOther);
  ASSERT_EQ(record.service().Read(admin, "Patient", "p-r").status, 404);
  const std::string plain_obs =
      R"({"resourceType":"Observation","id":"obs-v","status":"amended","code":{"text":"x"},"subject":{"reference":"Patient/p1"}})";
  const std::string plain_cond =
      R"({"resourceType":"Condition","id":"cond-prot","code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}]},"subject":{"reference":"Patient/p1"}})";
  const std::string plain_patient = R"({"resourceType":"Patient","id":"p-r","gender":"other"})";

  // A plain update of a V item, and of a protected-code item that would replace its code: each
  // answered as the same update of a free id (whose update-as-create such a writer may not do).
  ExpectAnsweredAsAFreeId(
      [&](const std::string& id) {
        return record.service().Update(clinician, "Observation", id,
                                       Replaced(plain_obs, "obs-v", id), "");
      },
      "obs-v", "PUT obs-v");
  ExpectAnsweredAsAFreeId(
      [&](const std::string& id) {
        return record.service().Update(nurse, "Condition", id,
                                       Replaced(plain_cond, "cond-prot", id), "");
      },
      "cond-prot", "PUT cond-prot");
  // An R Patient that admin staff may not read: the same answer with the right version, a wrong
  // one, or none; If-Match tells nothing.
  for (const char* pinned : {"", "W/\"1\"", "W/\"7\""}) {
    ExpectAnsweredAsAFreeId(
        [&](const std::string& id) {
          return record.service().Update(admin, "Patient", id, Replaced(plain_patient, "p-r", id),
                                         pinned);
        },
        "p-r", std::string("PUT p-r If-Match ") + pinned);
  }
  // A conditional update that matches nothing the caller may read, on the hidden id: refused as
  // the plain update is, never "exists but does not match".
  ExpectAnsweredAsAFreeId(
      [&](const std::string& id) {
        return record.service().ConditionalUpdate(nurse, "Condition", {{"_id", id}},
                                                  Replaced(plain_cond, "cond-prot", id));
      },
      "cond-prot", "conditional PUT cond-prot");
  // Inside a transaction, with a write it may make: all refused, nothing written.
  auto transaction = [&](const std::string& id) {
    return R"({"resourceType":"Bundle","type":"transaction","entry":[)"
           R"({"resource":{"resourceType":"Observation","status":"final","code":{"text":"new"},"subject":{"reference":"Patient/p1"}},"request":{"method":"POST","url":"Observation"}},)"
           R"({"resource":)" +
           Replaced(plain_obs, "obs-v", id) + R"(,"request":{"method":"PUT","url":"Observation/)" +
           id + R"("}}]})";
  };
  ExpectAnsweredAsAFreeId(
      [&](const std::string& id) {
        return record.service().ProcessBundle(clinician, transaction(id));
      },
      "obs-v", "transaction PUT obs-v");
  auto batch = [&](const std::string& id) {
    return R"({"resourceType":"Bundle","type":"batch","entry":[{"resource":)" +
           Replaced(plain_obs, "obs-v", id) + R"(,"request":{"method":"PUT","url":"Observation/)" +
           id + R"("}}]})";
  };
  Response batched = record.service().ProcessBundle(clinician, batch("obs-v"));
  Response batched_free = record.service().ProcessBundle(clinician, batch("free-obs-v"));
  EXPECT_EQ(batched.status, 200) << batched.body;
  EXPECT_NE(batched.body.find("405"), std::string::npos) << batched.body;
  EXPECT_EQ(batched.body.find("version"), std::string::npos) << batched.body;
  static const std::regex bundle_id(R"("id":"[A-Za-z0-9.\-]+")");
  EXPECT_EQ(std::regex_replace(Replaced(batched.body, "obs-v", "free-obs-v"), bundle_id, "ID"),
            std::regex_replace(batched_free.body, bundle_id, "ID"));
  // A delete of what it cannot read deletes nothing, and is answered as for an absent id.
  Response del = record.service().Delete(clinician, "Observation", "obs-v");
  Response absent = record.service().Delete(clinician, "Observation", "never-was");
  EXPECT_EQ(del.status, absent.status) << del.body;
  EXPECT_EQ(del.body, absent.body);

  // Nothing changed: each is still its first version, as its author wrote it, and no free id
  // was taken.
  for (const char* id : {"free-obs-v", "free-cond-prot"}) {
    EXPECT_EQ(record.service().Read(integration, "Observation", id).status, 404) << id;
    EXPECT_EQ(record.service().Read(integration, "Condition", id).status, 404) << id;
  }
  EXPECT_EQ(record.service().Read(integration, "Patient", "free-p-r").status, 404);
  EXPECT_EQ(stored("Observation", "obs-v"), obs_v);
  EXPECT_EQ(stored("Condition", "cond-prot"), cond_prot);
  EXPECT_EQ(stored("Patient", "p-r"), p_r);
  Response observations =
      record.service().Search(integration, "Observation", {{"_total", "accurate"}});
  EXPECT_NE(observations.body.find("\"total\":3"), std::string::npos) << observations.body;
  for (const char* id : {"obs-v", "cond-prot", "p-r"}) {
    const char* type = id[0] == 'o' ? "Observation" : id[0] == 'c' ? "Condition" : "Patient";
    EXPECT_EQ(record.service().VRead(integration, type, id, "2").status, 404) << id;
  }
  // Who may read it may write it, the label kept when sent, or removed by its author.
  Response labelled = record.service().Update(
      ContextFor("clinician", kOther), "Observation", "obs-r",
      R"({"resourceType":"Observation","id":"obs-r","status":"amended","code":{"text":"x"},"subject":{"reference":"Patient/p1"},"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]}})",
      "");
  EXPECT_EQ(labelled.status, 200) << labelled.body;
  EXPECT_EQ(
      record.service().Read(ContextFor("allied-health", kOther), "Observation", "obs-r").status,
      404);
  Response unseal = record.service().Update(ContextFor("clinician", kAuthor), "Observation",
                                            "obs-v", plain_obs, "");
  EXPECT_EQ(unseal.status, 200) << unseal.body;
  EXPECT_EQ(record.service().Read(clinician, "Observation", "obs-v").status, 200);
}

// A write whose reference names an item the writer may not read is answered exactly as one
// naming an id that does not exist (status and text), for create, update, transaction and batch;
// a writer who may read the item writes it.
TEST(AccessPolicyMatrix, AReferenceToAnItemTheWriterCannotReadIsAnsweredAsAMissingOne) {
  RecordServer record;
  std::set<std::string> everything;
  for (const Item& item : RecordItems()) everything.insert(item.id);
  record.Write(RecordItems(), everything);
  auto encounter = [](const std::string& target) {
    const bool condition = target.rfind("Condition/", 0) == 0;
    return R"({"resourceType":"Encounter","id":"enc-1","status":"finished","class":{"system":)"
           R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":)"
           R"({"reference":"Patient/p1"},)" +
           (condition ? R"("diagnosis":[{"condition":{"reference":")" + target + R"("}}]})"
                      : R"("reasonReference":[{"reference":")" + target + R"("}]})");
  };
  auto bundle = [&](const std::string& type, const std::string& target) {
    return R"({"resourceType":"Bundle","type":")" + type + R"(","entry":[{"resource":)" +
           encounter(target) + R"(,"request":{"method":"PUT","url":"Encounter/enc-1"}}]})";
  };
  // The missing id of the target's type.
  auto missing_of = [](const std::string& target) {
    return target.substr(0, target.find('/')) + "/never-was";
  };
  // The answers with the target's name made the missing one's, and made ids fixed.
  auto normalized = [&](const Response& r, const std::string& target) {
    std::string body = r.body;
    const std::string missing = missing_of(target);
    for (size_t at = 0; (at = body.find(target, at)) != std::string::npos; at += missing.size()) {
      body.replace(at, target.size(), missing);
    }
    // A created Encounter's id and a response Bundle's id are new each time.
    static const std::regex created(R"(Encounter/[A-Za-z0-9.\-]+)");
    static const std::regex bundle_id(R"("id":"[A-Za-z0-9.\-]+")");
    body = std::regex_replace(body, created, "Encounter/X");
    return std::to_string(r.status) + " " + std::regex_replace(body, bundle_id, R"("id":"X")");
  };
  const RequestContext other = ContextFor("clinician", kOther);
  const RequestContext author = ContextFor("clinician", kAuthor);
  // The Encounter the updates replace (a writer that does not read everything updates only what
  // it can read).
  record.Write({{"Encounter", "enc-1", encounter("Observation/obs-plain")}}, {"enc-1"});
  for (const std::string target : {"Condition/cond-prot", "Observation/obs-v"}) {
    SCOPED_TRACE(target);
    interactions::FhirService& service = record.service();
    using Write = std::function<Response(const RequestContext&, const std::string&)>;
    const std::vector<std::pair<std::string, Write>> writes = {
        {"create",
         [&](const RequestContext& ctx, const std::string& t) {
           return service.Create(ctx, "Encounter", encounter(t), "");
         }},
        {"update",
         [&](const RequestContext& ctx, const std::string& t) {
           return service.Update(ctx, "Encounter", "enc-1", encounter(t), "");
         }},
        {"transaction",
         [&](const RequestContext& ctx, const std::string& t) {
           return service.ProcessBundle(ctx, bundle("transaction", t));
         }},
        {"batch",
         [&](const RequestContext& ctx, const std::string& t) {
           return service.ProcessBundle(ctx, bundle("batch", t));
         }},
    };
    for (const auto& [name, write] : writes) {
      SCOPED_TRACE(name);
      Response hidden = write(other, target);
      Response missing = write(other, missing_of(target));
      EXPECT_NE(missing.body.find("which does not exist"), std::string::npos) << missing.body;
      EXPECT_EQ(normalized(hidden, target), normalized(missing, missing_of(target)));
      EXPECT_EQ(record.service().VRead(other, "Encounter", "enc-1", "2").status, 404);
    }
    // Its author's organisation reads it, so may refer to it.
    Response allowed = record.service().Create(author, "Encounter", encounter(target), "");
    EXPECT_EQ(allowed.status, 201) << allowed.body;
  }
}

// A social worker reads, finds and updates DocumentReference of social-care categories only; a
// document whose category later changes away is closed to them, its earlier versions too.
TEST(AccessPolicyMatrix, ASocialWorkerReadsDocumentsOfSocialCareCategoriesOnly) {
  RecordServer record;
  record.Write(RecordItems(), {"p1"});
  auto document = [](const std::string& id, const std::string& system, const std::string& code) {
    return R"({"resourceType":"DocumentReference","id":")" + id +
           R"(","status":"current","subject":{"reference":"Patient/p1"},"category":[{"coding":[{"system":")" +
           system + R"(","code":")" + code +
           R"("}]}],"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]})";
  };
  const std::string care = "https://carerecord.example/CodeSystem/document-category";
  const RequestContext social = ContextFor("social-worker", kOther);
  const RequestContext feed = ContextFor("integration", kAuthor);
  interactions::FhirService& service = record.service();
  // (The feed writes the ids: a social worker, who does not read everything, may not choose one.)
  EXPECT_EQ(
      service
          .Update(feed, "DocumentReference", "d-care", document("d-care", care, "social-care"), "")
          .status,
      201);
  EXPECT_EQ(service
                .Update(feed, "DocumentReference", "d-clinical",
                        document("d-clinical", "http://loinc.org", "11488-4"), "")
                .status,
            201);
  EXPECT_EQ(service
                .Update(feed, "DocumentReference", "d-later",
                        document("d-later", care, "social-care"), "")
                .status,
            201);
  EXPECT_EQ(service.Read(social, "DocumentReference", "d-later").status, 200);
  EXPECT_EQ(service
                .Update(feed, "DocumentReference", "d-later",
                        document("d-later", "http://loinc.org", "11488-4"), "")
                .status,
            200);

  EXPECT_EQ(service.Read(social, "DocumentReference", "d-care").status, 200);
  EXPECT_EQ(service
                .Update(social, "DocumentReference", "d-care",
                        document("d-care", care, "social-care"), "")
                .status,
            200);
  EXPECT_EQ(service.Read(social, "DocumentReference", "d-clinical").status, 404);
  EXPECT_EQ(service.Read(social, "DocumentReference", "d-later").status, 404);
  EXPECT_EQ(service.VRead(social, "DocumentReference", "d-later", "1").status, 404);
  EXPECT_EQ(service
                .Update(social, "DocumentReference", "d-clinical",
                        document("d-clinical", care, "social-care"), "")
                .status,
            405);
  Response found =
      service.Search(social, "DocumentReference", {{"patient", "p1"}, {"_total", "accurate"}});
  EXPECT_NE(found.body.find("\"total\":1"), std::string::npos) << found.body;
  EXPECT_NE(found.body.find("d-care"), std::string::npos);
  Response history = service.History(social, "DocumentReference", "", {{"_total", "accurate"}});
  EXPECT_NE(history.body.find("\"total\":2"), std::string::npos) << history.body;  // d-care's two
  // A clinician reads them all.
  EXPECT_EQ(service.Read(ContextFor("clinician", kOther), "DocumentReference", "d-clinical").status,
            200);
}

// A resource sealed by a later version seals its earlier ones: vread, history and their counts
// answer as a store that never held it.
TEST(AccessPolicyMatrix, AnItemSealedLaterSealsItsEarlierVersions) {
  const std::string subject = R"(,"subject":{"reference":"Patient/p1"})";
  const std::string v_label =
      R"(,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"V"}]})";
  auto condition = [&](const std::string& id, const std::string& code, const std::string& extra) {
    return R"({"resourceType":"Condition","id":")" + id +
           R"(","code":{"coding":[{"system":"http://snomed.info/sct","code":")" + code + R"("}]})" +
           subject + extra + "}";
  };
  RecordServer full, oracle;
  full.Write(RecordItems(), {"p1", "obs-plain"});
  oracle.Write(RecordItems(), {"p1", "obs-plain"});
  // Version 1 plain, version 2 labelled V (or given a protected code) by its author.
  RequestContext author = ContextFor("integration", kAuthor);
  for (auto [id, sealed] : {std::pair<std::string, std::string>{
                                "c-later-v", condition("c-later-v", "38341003", v_label)},
                            {"c-later-prot", condition("c-later-prot", "407377005", "")}}) {
    ASSERT_EQ(
        full.service().Update(author, "Condition", id, condition(id, "38341003", ""), "").status,
        201);
    ASSERT_EQ(full.service().Update(author, "Condition", id, sealed, "").status, 200);
  }
  RequestContext other = ContextFor("clinician", kOther);
  for (const char* id : {"c-later-v", "c-later-prot"}) {
    SCOPED_TRACE(id);
    EXPECT_EQ(full.service().Read(other, "Condition", id).status, 404);
    EXPECT_EQ(full.service().History(other, "Condition", id, {}).status, 404);
    for (const char* version : {"1", "2"}) {
      Response r = full.service().VRead(other, "Condition", id, version);
      EXPECT_EQ(r.status, 404) << version << ": " << r.body;
      EXPECT_EQ(r.body.find("38341003"), std::string::npos) << r.body;
      // Its author's organisation reads every version.
      EXPECT_EQ(
          full.service().VRead(ContextFor("clinician", kAuthor), "Condition", id, version).status,
          200);
    }
  }
  RequestContext oracle_reader = ContextFor("integration", kOther);
  for (const char* type : {"Condition", ""}) {
    for (const QueryParams& params :
         std::vector<QueryParams>{{},
                                  {{"_total", "accurate"}},
                                  {{"_since", "2000-01-01"}},
                                  {{"_since", "2000-01-01"}, {"_total", "accurate"}}}) {
      Response got = full.service().History(other, type, "", params);
      Response want = oracle.service().History(oracle_reader, type, "", params);
      EXPECT_EQ(Normalized(got), Normalized(want)) << "history " << type;
      EXPECT_EQ(got.body.find("c-later"), std::string::npos) << got.body;
    }
  }
}

TEST(AccessPolicyMatrix, ConditionsMatchOnlyWhatTheCallerMayRead) {
  RecordServer record;
  record.Write(RecordItems(), Callers().front().sees);
  RequestContext other = ContextFor("clinician", kOther);
  const std::string body =
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}})";
  // If-None-Exist matching only the sealed item: as if absent, so a new one is made.
  Response create =
      record.service().Create(other, "Observation", body, "identifier=urn:test|obs-v");
  EXPECT_EQ(create.status, 201) << create.body;
  EXPECT_EQ(create.body.find("obs-v"), std::string::npos) << create.body;
  // The same as the author: it matches, and nothing is made.
  Response author = record.service().Create(ContextFor("clinician", kAuthor), "Observation", body,
                                            "identifier=urn:test|obs-v");
  EXPECT_EQ(author.status, 200) << author.body;
  // A conditional delete of what it cannot see deletes nothing.
  record.service().ConditionalDelete(other, "Observation", {{"identifier", "urn:test|obs-r"}});
  Response gone =
      record.service().ConditionalDelete(other, "Observation", {{"identifier", "urn:test|obs-v"}});
  EXPECT_LT(gone.status, 300) << gone.body;
  EXPECT_EQ(record.service().Read(ContextFor("integration", kOther), "Observation", "obs-v").status,
            200);
}

TEST(AccessPolicyMatrix, APatientsSearchIsNarrowedToTheirOwnRecord) {
  RecordServer record;
  record.Write(RecordItems(), Callers().front().sees);
  RequestContext ctx = ContextFor("integration", kAuthor);
  ASSERT_EQ(record.service()
                .Update(ctx, "Patient", "p2", R"({"resourceType":"Patient","id":"p2"})", "")
                .status,
            201);
  ASSERT_EQ(
      record.service()
          .Update(
              ctx, "Observation", "obs-p2",
              R"({"resourceType":"Observation","id":"obs-p2","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}})",
              "")
          .status,
      201);
  Response mine =
      record.service().Search(ContextFor("patient", ""), "Observation", {{"_total", "accurate"}});
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_NE(mine.body.find("\"total\":1"), std::string::npos) << mine.body;
  EXPECT_NE(mine.body.find("obs-plain"), std::string::npos);
  EXPECT_EQ(mine.body.find("obs-p2"), std::string::npos);
}

TEST(AccessPolicyMatrix, AStoreFromBeforeTheSealingColumnsGetsThemFromItsBodies) {
  RecordServer record;
  record.Write(RecordItems(), Callers().front().sees);
  record.Reopen([](const std::filesystem::path& dir) {
    auto db = store::SqliteConnection::Open((dir / "carerecord.db").string(), false);
    ASSERT_TRUE(db.ok()) << db.error().message;
    for (const char* sql : {"ALTER TABLE version DROP COLUMN sealing_facts",
                            "ALTER TABLE resource DROP COLUMN author_org"}) {
      auto status = (*db)->Exec(sql);
      ASSERT_TRUE(status.ok()) << status.error().message;
    }
  });
  auto status = [&](const char* role, const char* organisation, const char* type, const char* id) {
    return record.service().Read(ContextFor(role, organisation), type, id).status;
  };
  EXPECT_EQ(status("clinician", kOther, "Observation", "obs-r"), 200);
  EXPECT_EQ(status("allied-health", kOther, "Observation", "obs-r"), 404);  // R, from the body
  EXPECT_EQ(status("allied-health", kOther, "Observation", "obs-plain"), 200);
  // The authors of what was written before are not known: V and protected items open to none
  // but integration and the server's own work.
  EXPECT_EQ(status("clinician", kAuthor, "Observation", "obs-v"), 404);
  EXPECT_EQ(status("clinician", kAuthor, "Condition", "cond-prot"), 404);
  EXPECT_EQ(status("integration", kOther, "Condition", "cond-prot"), 200);
}

}  // namespace
}  // namespace carerecord
