// Mapped HL7 v2 messages of our own written into a real store (an in-process server) by
// ApplyMappedMessage, for tests/feeds_apply_mapped_test.cpp and tests/feeds_null_rules_test.cpp:
// segment builders, and a fixture that maps and applies a message and reads back through the API.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <string>
#include <string_view>

#include "feeds/apply_mapped.h"
#include "hl7v2/message.h"
#include "interactions/fhir_json.h"
#include "mapping/hl7v2_mapping.h"
#include "tests/test_server.h"

namespace carerecord::feeds::apply_testing {

namespace json = boost::json;
using carerecord::testing::TestServer;

inline std::string Str(const json::value& v) { return std::string(v.as_string()); }

inline std::string Seg(std::string id, const std::map<int, std::string>& fields) {
  const int last = fields.empty() ? 0 : fields.rbegin()->first;
  for (int n = 1; n <= last; ++n) {
    auto found = fields.find(n);
    id += "|" + (found == fields.end() ? std::string() : found->second);
  }
  return id;
}

inline std::string Msh(std::string_view type, std::string_view id, std::string_view when) {
  return "MSH|^~\\&|PAS|RX1HOSP|CARERECORD|REGION|" + std::string(when) + "||" + std::string(type) +
         "|" + std::string(id) + "|P|2.5.1";
}

inline std::string Pid(std::string_view mrn, std::string_view family = "SMITH",
                       std::string_view given = "JANE") {
  return "PID|1||" + std::string(mrn) + "^^^RX1PAS^MR~9434765919^^^NHS^NH||" + std::string(family) +
         "^" + std::string(given) + "^^^^^L||19800214|F";
}

inline std::string Pv1(std::string_view visit, std::string_view ward, std::string_view admitted,
                       std::string_view discharged = "") {
  return Seg("PV1", {{1, "1"},
                     {2, "I"},
                     {3, std::string(ward) + "^BAY1^BED1"},
                     {19, std::string(visit) + "^^^RX1PAS^VN"},
                     {44, std::string(admitted)},
                     {45, std::string(discharged)}});
}

inline std::string Adt(std::string_view trigger, std::string_view id, std::string_view when,
                       std::vector<std::string> rest) {
  std::string out = Msh("ADT^" + std::string(trigger), id, when) + "\rEVN|" + std::string(trigger) +
                    "|" + std::string(when) + "\r";
  for (const auto& s : rest) out += s + "\r";
  return out;
}

inline std::string Oru(std::string_view id, std::string_view when, std::string_view mrn,
                       std::string_view status, std::string_view value) {
  return Msh("ORU^R01^ORU_R01", id, when) + "\r" + Pid(mrn) + "\r" +
         Seg("OBR",
             {{1, "1"}, {3, "FL77^RX1LAB"}, {4, "UE^U and E^LOCAL"}, {25, std::string(status)}}) +
         "\r" +
         Seg("OBX", {{1, "1"},
                     {2, "NM"},
                     {3, "22664-7^Potassium^LN"},
                     {5, std::string(value)},
                     {6, "mmol/L"},
                     {11, std::string(status)}}) +
         "\r";
}

class ApplyMappedTest : public ::testing::Test {
 protected:
  // Parses, maps and applies one message as feed `feed` of organisation `ods`.
  ApplyOutcome Apply(const std::string& bytes, std::string feed = "rx1-pas",
                     std::string ods = "RX1") {
    auto message = hl7v2::ParseMessage(std::string_view(bytes));
    EXPECT_TRUE(message.ok()) << (message.ok() ? "" : message.error().ToString());
    if (!message.ok()) return {};
    mapping::FeedContext context{feed, ods, "RX1HOSP", 1'800'000'000'000,
                                 message->header().control_id};
    auto mapped = mapping::MapMessage(message.value(), context);
    EXPECT_TRUE(mapped.ok()) << (mapped.ok() ? "" : mapped.error().ToString());
    if (!mapped.ok()) return {};
    auto applied = ApplyMappedMessage(server_.service(), mapped.value(), context);
    EXPECT_TRUE(applied.ok()) << (applied.ok() ? "" : applied.error().message);
    return applied.ok() ? applied.value() : ApplyOutcome{};
  }

  // The one resource of `type` matching `query` through the HTTP API.
  json::object One(const std::string& type, const std::string& query) {
    auto response = server_.Get("/fhir/" + type + "?" + query);
    EXPECT_EQ(response.status, 200) << response.body;
    // Parsed as the server parses, so numbers stay as written (4.90).
    auto parsed = interactions::ParseJson(response.body);
    EXPECT_TRUE(parsed.ok());
    if (!parsed.ok()) return {};
    auto bundle = parsed->as_object();
    auto* entries = bundle.if_contains("entry");
    EXPECT_TRUE(entries && entries->as_array().size() == 1)
        << type << "?" << query << ": " << response.body;
    if (!entries || entries->as_array().empty()) return {};
    return entries->as_array()[0].at("resource").as_object();
  }

  size_t Versions(const std::string& type, const std::string& id) {
    auto bundle = TestServer::Json(server_.Get("/fhir/" + type + "/" + id + "/_history"));
    auto* entries = bundle.if_contains("entry");
    return entries ? entries->as_array().size() : 0;
  }

  static constexpr char kMrn[] = "identifier=urn:carerecord:source:RX1:mrn:RX1PAS%7C";
  static constexpr char kVisit[] = "identifier=urn:carerecord:source:RX1:visit:RX1PAS%7C";

  TestServer server_;
};

}  // namespace carerecord::feeds::apply_testing
