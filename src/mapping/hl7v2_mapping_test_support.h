// Small HL7 v2 messages of our own for the mapping's tests (hl7v2_mapping_test.cpp,
// hl7v2_null_rules_test.cpp): segments from numbered fields, an MSH, a full PID, and MapMessage
// with every resource it makes checked against R4 as created.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/resource_validation.h"
#include "mapping/hl7v2_mapping.h"
#include "mapping/hl7v2_values.h"

namespace carerecord::mapping::testing {

namespace json = boost::json;

inline std::string Str(const json::value& v) { return std::string(v.as_string()); }

// A message from its segments, each ended by \r.
inline std::string Er7(const std::vector<std::string>& segments) {
  std::string out;
  for (const auto& s : segments) out += s + "\r";
  return out;
}

// A segment from its numbered fields; fields not given are empty.
inline std::string Seg(std::string id, const std::map<int, std::string>& fields) {
  const int last = fields.empty() ? 0 : fields.rbegin()->first;
  for (int n = 1; n <= last; ++n) {
    auto found = fields.find(n);
    id += "|" + (found == fields.end() ? std::string() : found->second);
  }
  return id;
}

inline std::string Msh(std::string_view type, std::string_view control_id,
                       std::string_view when = "20260301101500+0000") {
  return "MSH|^~\\&|PAS|RX1HOSP|CARERECORD|REGION|" + std::string(when) + "||" + std::string(type) +
         "|" + std::string(control_id) + "|P|2.5.1";
}

inline constexpr char kPid[] =
    "PID|1||M123456^^^RX1PAS^MR~9434765919^^^NHS^NH||SMITH^JANE^MARY^^MRS^^L||19800214|F|||"
    "1 HIGH STREET^FLAT 2^LEEDS^WEST YORKSHIRE^LS1 4AP^GBR^H||0113 496 0000^PRN^PH~"
    "^NET^Internet^jane@example.org|07700 900123^WPN^CP||||||||||||||||||01";

struct Mapped {
  std::string bytes;
  std::optional<hl7v2::Message> message;
  std::optional<hl7v2::Result<MappedMessage>> result;
  const MappedMessage& operator*() const { return result->value(); }
  const MappedMessage* operator->() const { return &result->value(); }
  bool ok() const { return result->ok(); }
  const hl7v2::Hl7Error& error() const { return result->error(); }
};

inline Mapped Map(const std::vector<std::string>& segments) {
  Mapped m;
  m.bytes = Er7(segments);
  auto parsed = hl7v2::ParseMessage(std::string_view(m.bytes));
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().ToString());
  m.message.emplace(std::move(parsed).value());
  FeedContext feed{"rx1-pas", "RX1", "RX1HOSP", 1'800'000'000'000, m.message->header().control_id};
  m.result.emplace(MapMessage(*m.message, feed));
  if (m.result->ok()) {
    for (const auto& r : (*m.result)->resources) {
      if (r.mode == WriteMode::kPatchExisting) continue;
      json::object resource = MergeStated(nullptr, r);  // as created
      resource["id"] = "x";
      auto valid = fhir::ValidateResource(resource);
      EXPECT_TRUE(valid.ok()) << r.type << ": "
                              << (valid.ok()
                                      ? ""
                                      : valid.error().message + " at " + valid.error().location);
    }
  }
  return m;
}

inline const MappedResource* Find(const MappedMessage& m, std::string_view type, size_t n = 0) {
  for (const auto& r : m.resources) {
    if (r.type == type && n-- == 0) return &r;
  }
  return nullptr;
}

}  // namespace carerecord::mapping::testing
