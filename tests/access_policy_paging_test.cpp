// Paging through withheld items: every page, link and total a caller gets is the one a store
// that never held what the caller may not read would give (the oracle), for hidden matches
// first, in the middle, last and in runs, pk-ordered and sorted, forward and back, and inside a
// batch; each cursor is placed at the last item the page returned, never at a withheld row; and
// a type the caller's role may not read is not read at all. $everything pages alike.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <random>
#include <set>

#include "access/region_access_policy.h"
#include "access/scope_policy.h"
#include "interactions/fhir_service.h"
#include "interactions/search_query.h"
#include "store/store.h"

namespace carerecord {
namespace {

namespace json = boost::json;
using interactions::QueryParams;
using interactions::RequestContext;
using interactions::Response;

constexpr const char* kAuthor = "ORG-A";
constexpr const char* kOther = "ORG-B";
constexpr const char* kCode = "44054006";

struct Item {
  std::string id, body;
};

// Ten Conditions of one code in creation order; "-v" ones are very restricted (the author's
// organisation only), "-r" ones restricted (not allied health). Their recorded dates are a
// permutation of creation order, so a sort by it pages in another order than pk.
std::vector<Item> Conditions() {
  const std::vector<std::string> ids = {"c01-v", "c02-v", "c03",   "c04-r", "c05-v",
                                        "c06",   "c07-v", "c08-r", "c09-v", "c10-v"};
  std::vector<Item> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids[i];
    std::string meta;
    if (id.back() == 'v' || id.back() == 'r') {
      meta = std::string(R"("meta":{"security":[{"system":")") +
             "http://terminology.hl7.org/CodeSystem/v3-Confidentiality" + R"(","code":")" +
             (id.back() == 'v' ? "V" : "R") + R"("}]},)";
    }
    const int day = static_cast<int>((i * 7) % ids.size()) + 10;
    out.push_back({id, R"({"resourceType":"Condition","id":")" + id + R"(",)" + meta +
                           R"("code":{"coding":[{"system":"http://snomed.info/sct","code":")" +
                           kCode + R"("}]},"subject":{"reference":"Patient/p1"},)" +
                           R"("recordedDate":"2020-01-)" + std::to_string(day) + R"("})"});
  }
  return out;
}

// Later versions for the history tests, interleaved: updates of plain and sealed Conditions,
// and c11-v, written plain and then labelled V by its author (which seals its first version too).
std::vector<Item> HistoryUpdates() {
  std::vector<Item> out;
  const std::vector<Item> conditions = Conditions();
  auto later = [&](const std::string& id) {
    for (const Item& item : conditions) {
      if (item.id != id) continue;
      std::string body = item.body;
      body.insert(body.size() - 1, R"(,"note":[{"text":"reviewed"}])");
      out.push_back({id, body});
    }
  };
  auto c11 = [&](bool sealed) {
    out.push_back({"c11-v", std::string(R"({"resourceType":"Condition","id":"c11-v",)") +
                                (sealed ? R"("meta":{"security":[{"system":")"
                                          R"(http://terminology.hl7.org/CodeSystem/)"
                                          R"(v3-Confidentiality","code":"V"}]},)"
                                        : "") +
                                R"("code":{"coding":[{"system":"http://snomed.info/sct","code":")" +
                                kCode + R"("}]},"subject":{"reference":"Patient/p1"}})"});
  };
  later("c02-v");
  later("c03");
  c11(false);
  later("c05-v");
  later("c06");
  c11(true);
  later("c09-v");
  later("c10-v");
  return out;
}

struct Caller {
  std::string role, organisation;
  std::set<std::string> sees;  // the Conditions this caller may read
};

std::vector<Caller> Callers() {
  return {
      {"nurse", kOther, {"c03", "c04-r", "c06", "c08-r"}},
      {"allied-health", kOther, {"c03", "c06"}},
      {"admin-staff", kOther, {}},  // may not read Condition at all
      {"clinician",
       kAuthor,
       {"c01-v", "c02-v", "c03", "c04-r", "c05-v", "c06", "c07-v", "c08-r", "c09-v", "c10-v"}},
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
  return ctx;
}

// The server's policy stack, counting the decisions it is asked for.
class CountingPolicy final : public access::AccessPolicy {
 public:
  explicit CountingPolicy(access::AccessPolicy& inner) : inner_(inner) {}
  bool MayRead(const access::AccessContext& who, const store::ItemFacts& item) override {
    ++decisions;
    return inner_.MayRead(who, item);
  }
  bool AdmitsEverything(const access::AccessContext& who) override {
    return inner_.AdmitsEverything(who);
  }
  bool RefusesType(const access::AccessContext& who, std::string_view type) override {
    return type_fast_path && inner_.RefusesType(who, type);
  }
  std::optional<std::string> RefuseWrite(const access::AccessContext& who,
                                         std::string_view type) override {
    return inner_.RefuseWrite(who, type);
  }
  std::atomic<int64_t> decisions{0};
  // False: a refused type is decided item by item, as a policy without RefusesType would.
  bool type_fast_path = true;

 private:
  access::AccessPolicy& inner_;
};

// The disclosures the requests hand to the audit.
class RecordingAudit final : public access::AuditSink {
 public:
  void Record(const access::Disclosure& disclosure) override { seen.push_back(disclosure); }
  std::vector<access::Disclosure> seen;
};

class PagingServer {
 public:
  // Writes the Patient and the Conditions in `only`, in order, as the author's integration feed;
  // `updates`: then the later versions of HistoryUpdates() in `only`, in order.
  explicit PagingServer(const std::set<std::string>& only, bool updates = false) {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("carerecord-paging-" + std::to_string(random()) + std::to_string(random()));
    store::SqliteOptions options;
    options.directory = dir_.string();
    options.durable = false;
    store_ = std::move(store::OpenSqliteStore(options)).value();
    service_ = std::make_unique<interactions::FhirService>(*store_, counting_, &audit_);
    RequestContext ctx = ContextFor("integration", kAuthor);
    Response p =
        service_->Update(ctx, "Patient", "p1", R"({"resourceType":"Patient","id":"p1"})", "");
    EXPECT_EQ(p.status, 201) << p.body;
    for (const Item& item : Conditions()) {
      if (!only.count(item.id)) continue;
      Response r = service_->Update(ctx, "Condition", item.id, item.body, "");
      EXPECT_EQ(r.status, 201) << item.id << ": " << r.body;
    }
    for (const Item& item : updates ? HistoryUpdates() : std::vector<Item>{}) {
      if (!only.count(item.id)) continue;
      Response r = service_->Update(ctx, "Condition", item.id, item.body, "");
      EXPECT_LT(r.status, 300) << item.id << ": " << r.body;
    }
  }
  ~PagingServer() {
    service_.reset();
    store_->Close();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  interactions::FhirService& service() { return *service_; }
  int64_t decisions() const { return counting_.decisions; }
  CountingPolicy& policy() { return counting_; }
  RecordingAudit& audit() { return audit_; }

 private:
  std::filesystem::path dir_;
  access::RegionAccessPolicy policy_{
      std::make_shared<const access::RegionPolicy>(access::DefaultRegionPolicy())};
  access::ScopeLimitedPolicy scope_policy_{policy_};
  CountingPolicy counting_{scope_policy_};
  RecordingAudit audit_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<interactions::FhirService> service_;
};

// One searchset page: its entries in order (id and mode), its total and its links.
struct Page {
  int status = 0;
  std::vector<std::string> entries;
  std::string total;
  std::string next, previous;  // the links' URLs; empty when absent
  std::string Describe() const {
    std::string out = std::to_string(status) + " total=" + total + " [";
    for (const std::string& e : entries) out += e + " ";
    return out + "]" + (next.empty() ? "" : " next") + (previous.empty() ? "" : " previous");
  }
};

Page ReadPage(const json::object& bundle, int status) {
  Page page;
  page.status = status;
  if (auto* total = bundle.if_contains("total")) page.total = json::serialize(*total);
  if (auto* links = bundle.if_contains("link")) {
    for (const json::value& link : links->as_array()) {
      const json::object& l = link.as_object();
      std::string relation(l.at("relation").as_string());
      if (relation == "next") page.next = std::string(l.at("url").as_string());
      if (relation == "previous") page.previous = std::string(l.at("url").as_string());
    }
  }
  if (auto* list = bundle.if_contains("entry")) {
    for (const json::value& entry : list->as_array()) {
      const json::object& e = entry.as_object();
      const json::object& resource = e.at("resource").as_object();
      std::string mode = json::serialize(e.at("search").as_object().at("mode"));
      page.entries.push_back(std::string(resource.at("id").as_string()) + ":" + mode);
    }
  }
  return page;
}

Page Parse(const Response& r) {
  Page page;
  page.status = r.status;
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec || !body.is_object() || body.as_object().at("resourceType") != "Bundle") return page;
  return ReadPage(body.as_object(), r.status);
}

// A link's query, as the search takes it; `count`, when given, replaces its _count.
QueryParams LinkParams(const std::string& url, const std::string& count = "") {
  auto params = interactions::DecodeQuery(url.substr(url.find('?') + 1));
  EXPECT_TRUE(params.ok()) << url;
  QueryParams out;
  for (auto& p : params.value()) {
    if (!count.empty() && p.first == "_count") continue;
    out.push_back(std::move(p));
  }
  if (!count.empty()) out.emplace_back("_count", count);
  return out;
}

// Every page from the first by next links, then back from the last by previous links.
std::vector<Page> Walk(interactions::FhirService& service, const RequestContext& ctx,
                       const QueryParams& params) {
  std::vector<Page> pages{Parse(service.Search(ctx, "Condition", params))};
  while (!pages.back().next.empty() && pages.size() < 40) {
    pages.push_back(Parse(service.Search(ctx, "Condition", LinkParams(pages.back().next))));
  }
  Page at = pages.back();
  for (int back = 0; !at.previous.empty() && back < 40; ++back) {
    at = Parse(service.Search(ctx, "Condition", LinkParams(at.previous)));
    pages.push_back(at);
  }
  return pages;
}

// `by_time`: with a sort by _lastUpdated, whose order within one store is fixed but which two
// stores written one after the other do not share (writes in the same millisecond tie).
std::vector<QueryParams> Searches(bool by_time = false) {
  std::vector<QueryParams> out;
  for (const char* count : {"1", "2", "3"}) {
    out.push_back({{"code", kCode}, {"_count", count}});
    out.push_back({{"patient", "p1"}, {"_lastUpdated", "gt2000-01-01"}, {"_count", count}});
    out.push_back({{"code", kCode}, {"_sort", "-_id"}, {"_count", count}});
    if (by_time) out.push_back({{"code", kCode}, {"_sort", "-_lastUpdated"}, {"_count", count}});
    out.push_back({{"code", kCode}, {"_sort", "recorded-date"}, {"_count", count}});
    out.push_back({{"patient", "p1"},
                   {"_sort", "-recorded-date"},
                   {"_total", "accurate"},
                   {"_count", count}});
    out.push_back({{"code", kCode}, {"_include", "Condition:subject"}, {"_count", count}});
  }
  return out;
}

std::string Describe(const QueryParams& params) {
  std::string out;
  for (const auto& [name, value] : params) out += name + "=" + value + "&";
  return out;
}

TEST(AccessPolicyPaging, EveryPageAndLinkIsTheOneOfAStoreThatNeverHeldTheWithheldItems) {
  PagingServer full(Callers().back().sees);
  const RequestContext integration = ContextFor("integration", kOther);
  for (const Caller& caller : Callers()) {
    SCOPED_TRACE(caller.role + "@" + caller.organisation);
    PagingServer oracle(caller.sees);
    const RequestContext ctx = ContextFor(caller.role, caller.organisation);
    for (const QueryParams& params : Searches()) {
      SCOPED_TRACE(Describe(params));
      std::vector<Page> got = Walk(full.service(), ctx, params);
      std::vector<Page> want = Walk(oracle.service(), integration, params);
      ASSERT_EQ(got.size(), want.size()) << got.back().Describe();
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].Describe(), want[i].Describe()) << "page " << i;
      }
    }
  }
}

// The cursors are placed at the pages' last (next) and first (previous) returned items: one who
// sees everything, following them, finds the withheld items that lay beyond, which a cursor at
// the last row scanned would have skipped.
TEST(AccessPolicyPaging, CursorsAreAtTheItemsReturnedNotAtWithheldRows) {
  PagingServer full(Callers().back().sees);
  const RequestContext integration = ContextFor("integration", kOther);
  const RequestContext nurse = ContextFor("nurse", kOther);
  for (const QueryParams& params : Searches(/*by_time=*/true)) {
    SCOPED_TRACE(Describe(params));
    // The whole order, as one page.
    QueryParams all = params;
    for (auto& p : all) {
      if (p.first == "_count") p.second = "100";
    }
    std::vector<std::string> order;
    for (const std::string& e :
         Parse(full.service().Search(integration, "Condition", all)).entries) {
      if (e.find("match") != std::string::npos) order.push_back(e);
    }
    ASSERT_EQ(order.size(), 10u);
    auto position = [&](const std::string& entry) {
      return std::find(order.begin(), order.end(), entry) - order.begin();
    };
    auto matches = [](const Page& page) {
      std::vector<std::string> out;
      for (const std::string& e : page.entries) {
        if (e.find("match") != std::string::npos) out.push_back(e);
      }
      return out;
    };
    for (const Page& page : Walk(full.service(), nurse, params)) {
      std::vector<std::string> returned = matches(page);
      if (!page.next.empty()) {
        ASSERT_FALSE(returned.empty());
        Page after =
            Parse(full.service().Search(integration, "Condition", LinkParams(page.next, "100")));
        ASSERT_FALSE(matches(after).empty()) << page.Describe();
        EXPECT_EQ(position(matches(after).front()), position(returned.back()) + 1)
            << page.Describe();
      }
      if (!page.previous.empty()) {
        ASSERT_FALSE(returned.empty());
        Page before = Parse(
            full.service().Search(integration, "Condition", LinkParams(page.previous, "100")));
        ASSERT_FALSE(matches(before).empty()) << page.Describe();
        EXPECT_EQ(position(matches(before).back()), position(returned.front()) - 1)
            << page.Describe();
      }
    }
  }
}

// $everything pages the same way: withheld members take no place on a page and give no cursor.
TEST(AccessPolicyPaging, EverythingPagesAsTheOraclesDoes) {
  PagingServer full(Callers().back().sees);
  auto walk = [](interactions::FhirService& service, const RequestContext& ctx,
                 const std::string& count, const std::string& types) {
    std::vector<std::string> pages;
    QueryParams params{{"_count", count}};
    if (!types.empty()) params.emplace_back("_type", types);
    Page page = Parse(service.Everything(ctx, "p1", params));
    pages.push_back(page.Describe());
    while (!page.next.empty() && pages.size() < 40) {
      page = Parse(service.Everything(ctx, "p1", LinkParams(page.next)));
      pages.push_back(page.Describe());
    }
    return pages;
  };
  for (const Caller& caller : Callers()) {
    SCOPED_TRACE(caller.role + "@" + caller.organisation);
    PagingServer oracle(caller.sees);
    for (const char* count : {"1", "2", "3"}) {
      // All, and the Conditions only, so the withheld ones are the record's last rows.
      for (const char* types : {"", "Condition"}) {
        SCOPED_TRACE(std::string(count) + " " + types);
        EXPECT_EQ(walk(full.service(), ContextFor(caller.role, caller.organisation), count, types),
                  walk(oracle.service(), ContextFor("integration", kOther), count, types));
      }
    }
  }
}

// A batch's GET entries page as the searches do.
TEST(AccessPolicyPaging, ABatchsSearchesPageAsTheOraclesDo) {
  PagingServer full(Callers().back().sees);
  std::string batch = R"({"resourceType":"Bundle","type":"batch","entry":[)";
  bool first = true;
  for (const QueryParams& params : Searches()) {
    batch += std::string(first ? "" : ",") + R"({"request":{"method":"GET","url":"Condition?)" +
             interactions::EncodeQuery(params) + R"("}})";
    first = false;
  }
  batch += "]}";
  auto pages = [&](interactions::FhirService& service, const RequestContext& ctx) {
    Response r = service.ProcessBundle(ctx, batch);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> out;
    json::value body = json::parse(r.body);
    for (const json::value& entry : body.as_object().at("entry").as_array()) {
      const json::object& e = entry.as_object();
      const json::object& resource = e.at("resource").as_object();
      out.push_back(ReadPage(resource, 200).Describe());
    }
    return out;
  };
  for (const Caller& caller : Callers()) {
    SCOPED_TRACE(caller.role + "@" + caller.organisation);
    PagingServer oracle(caller.sees);
    std::vector<std::string> got =
        pages(full.service(), ContextFor(caller.role, caller.organisation));
    std::vector<std::string> want = pages(oracle.service(), ContextFor("integration", kOther));
    ASSERT_EQ(got.size(), Searches().size());
    EXPECT_EQ(got, want);
  }
}

// A role that may not read the type at all: an empty page with no next link, and no match read
// (the policy is asked about none); the same search by a role that reads the type asks it.
TEST(AccessPolicyPaging, ATypeTheRoleMayNotReadIsNotRead) {
  PagingServer full(Callers().back().sees);
  for (const QueryParams& params : Searches()) {
    SCOPED_TRACE(Describe(params));
    const int64_t before = full.decisions();
    Page page =
        Parse(full.service().Search(ContextFor("admin-staff", kOther), "Condition", params));
    EXPECT_EQ(page.status, 200);
    EXPECT_TRUE(page.entries.empty()) << page.Describe();
    EXPECT_TRUE(page.next.empty()) << page.Describe();
    EXPECT_EQ(full.decisions(), before);
    Response counted = full.service().Search(ContextFor("admin-staff", kOther), "Condition",
                                             {{"code", kCode}, {"_summary", "count"}});
    EXPECT_NE(counted.body.find("\"total\":0"), std::string::npos) << counted.body;
    EXPECT_EQ(full.decisions(), before);
    full.service().Search(ContextFor("nurse", kOther), "Condition", params);
    EXPECT_GT(full.decisions(), before);
  }
  // A search that is an error is still the same error.
  Response text = full.service().Search(ContextFor("admin-staff", kOther), "Condition",
                                        {{"_content", "anything"}});
  EXPECT_EQ(text.status, 400) << text.body;
}

// A history page: its entries ("Type/id/version") in order, its total and its links.
Page ParseHistory(const Response& r) {
  Page page;
  page.status = r.status;
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec || !body.is_object() || body.as_object().at("resourceType") != "Bundle") return page;
  const json::object& bundle = body.as_object();
  if (auto* total = bundle.if_contains("total")) page.total = json::serialize(*total);
  if (auto* links = bundle.if_contains("link")) {
    for (const json::value& link : links->as_array()) {
      const json::object& l = link.as_object();
      std::string relation(l.at("relation").as_string());
      if (relation == "next") page.next = std::string(l.at("url").as_string());
      if (relation == "previous") page.previous = std::string(l.at("url").as_string());
    }
  }
  if (auto* list = bundle.if_contains("entry")) {
    for (const json::value& entry : list->as_array()) {
      const json::object& e = entry.as_object();
      std::string url(e.at("fullUrl").as_string());
      std::string etag(e.at("response").as_object().at("etag").as_string());
      page.entries.push_back(url.substr(url.find("/fhir/") + 6) + "@" + etag);
    }
  }
  return page;
}

struct HistoryOf {
  std::string type, id;
};

std::vector<HistoryOf> Histories() {
  return {{"", ""},
          {"Condition", ""},
          {"Patient", ""},
          {"Condition", "c03"},
          {"Condition", "c05-v"},
          {"Condition", "c11-v"}};
}

std::vector<QueryParams> HistoryParams() {
  std::vector<QueryParams> out;
  for (const char* count : {"1", "2", "3"}) {
    out.push_back({{"_count", count}});
    out.push_back({{"_count", count}, {"_total", "accurate"}});
  }
  return out;
}

// Every history page from the first by next links, then back from the last by previous links.
std::vector<Page> WalkHistory(interactions::FhirService& service, const RequestContext& ctx,
                              const HistoryOf& of, const QueryParams& params) {
  std::vector<Page> pages{ParseHistory(service.History(ctx, of.type, of.id, params))};
  while (!pages.back().next.empty() && pages.size() < 60) {
    pages.push_back(
        ParseHistory(service.History(ctx, of.type, of.id, LinkParams(pages.back().next))));
  }
  Page at = pages.back();
  for (int back = 0; !at.previous.empty() && back < 60; ++back) {
    at = ParseHistory(service.History(ctx, of.type, of.id, LinkParams(at.previous)));
    pages.push_back(at);
  }
  return pages;
}

std::set<std::string> WithC11(std::set<std::string> sees, const Caller& caller) {
  if (caller.organisation == kAuthor) sees.insert("c11-v");
  return sees;
}

// History (system, type, instance) pages as a store that never held the withheld versions:
// no page is emptied by withheld versions, no next link leads only to withheld ones, the totals
// agree, and the way back by previous links gives the same pages again.
TEST(AccessPolicyPaging, HistoryPagesAsTheOraclesDoes) {
  PagingServer full(WithC11(Callers().back().sees, Callers().back()), /*updates=*/true);
  const RequestContext integration = ContextFor("integration", kOther);
  for (const Caller& caller : Callers()) {
    SCOPED_TRACE(caller.role + "@" + caller.organisation);
    PagingServer oracle(WithC11(caller.sees, caller), /*updates=*/true);
    const RequestContext ctx = ContextFor(caller.role, caller.organisation);
    for (const HistoryOf& of : Histories()) {
      for (const QueryParams& params : HistoryParams()) {
        SCOPED_TRACE(of.type + "/" + of.id + "?" + Describe(params));
        std::vector<Page> got = WalkHistory(full.service(), ctx, of, params);
        std::vector<Page> want = WalkHistory(oracle.service(), integration, of, params);
        ASSERT_EQ(got.size(), want.size()) << got.back().Describe();
        for (size_t i = 0; i < got.size(); ++i) {
          EXPECT_EQ(got[i].Describe(), want[i].Describe()) << "page " << i;
          EXPECT_FALSE(got[i].status == 200 && got[i].entries.empty() && !got[i].next.empty())
              << "page " << i << " is empty but has a next link";
        }
      }
    }
  }
}

// A history page's cursors are at the versions it returned: one who sees everything, following
// its next (previous) link, meets the version right after (before) the page's last (first).
TEST(AccessPolicyPaging, HistoryCursorsAreAtTheVersionsReturned) {
  PagingServer full(WithC11(Callers().back().sees, Callers().back()), /*updates=*/true);
  const RequestContext integration = ContextFor("integration", kOther);
  for (const Caller& caller : Callers()) {
    const RequestContext ctx = ContextFor(caller.role, caller.organisation);
    for (const HistoryOf& of : Histories()) {
      SCOPED_TRACE(caller.role + " " + of.type + "/" + of.id);
      const std::vector<std::string> order =
          ParseHistory(full.service().History(integration, of.type, of.id, {{"_count", "100"}}))
              .entries;
      auto position = [&](const std::string& entry) {
        return std::find(order.begin(), order.end(), entry) - order.begin();
      };
      for (const Page& page : WalkHistory(full.service(), ctx, of, {{"_count", "2"}})) {
        if (!page.next.empty()) {
          ASSERT_FALSE(page.entries.empty());
          Page after = ParseHistory(
              full.service().History(integration, of.type, of.id, LinkParams(page.next, "100")));
          ASSERT_FALSE(after.entries.empty()) << page.Describe();
          EXPECT_EQ(position(after.entries.front()), position(page.entries.back()) + 1)
              << page.Describe();
        }
        if (!page.previous.empty()) {
          ASSERT_FALSE(page.entries.empty());
          Page before = ParseHistory(full.service().History(integration, of.type, of.id,
                                                            LinkParams(page.previous, "100")));
          ASSERT_FALSE(before.entries.empty()) << page.Describe();
          EXPECT_EQ(position(before.entries.back()), position(page.entries.front()) - 1)
              << page.Describe();
        }
      }
    }
  }
}

// A count's audit entry says how many matches were withheld from it (for auditors; the caller's
// answer is the count of what it may read, nothing more), and says the same whether the gate
// decided each match or knew at once that the role reads no item of the type.
TEST(AccessPolicyPaging, ACountsAuditSaysWhatWasWithheldOnEitherPath) {
  PagingServer full(Callers().back().sees);
  const std::vector<QueryParams> counts = {
      {{"code", kCode}, {"_summary", "count"}},
      {{"code", kCode}, {"_count", "0"}},
      {{"patient", "p1"}, {"_total", "accurate"}, {"_count", "2"}},
  };
  struct Case {
    std::string role;
    bool fast_path;
    std::string total;
    int64_t withheld;
  };
  for (const Case& c : std::vector<Case>{{"admin-staff", true, "0", 10},
                                         {"admin-staff", false, "0", 10},
                                         {"nurse", true, "4", 6},
                                         {"allied-health", true, "2", 8},
                                         {"clinician", true, "10", 0}}) {
    full.policy().type_fast_path = c.fast_path;
    const std::string organisation = c.role == "clinician" ? kAuthor : kOther;
    for (const QueryParams& params : counts) {
      SCOPED_TRACE(c.role + (c.fast_path ? " fast " : " slow ") + Describe(params));
      full.audit().seen.clear();
      Response r = full.service().Search(ContextFor(c.role, organisation), "Condition", params);
      EXPECT_EQ(Parse(r).total, c.total) << r.body;
      int64_t withheld = 0;
      for (const access::Disclosure& d : full.audit().seen) withheld += d.withheld;
      EXPECT_EQ(withheld, c.withheld);
      if (c.withheld > 0) {
        EXPECT_EQ(r.body.find("\"total\":" + std::to_string(c.withheld)), std::string::npos);
      }
    }
  }
}

}  // namespace
}  // namespace carerecord
