// HL7 v2's null rules as the mapping reads them (chapter 2: a field not sent changes nothing, ""
// deletes): what each field states, deletes or leaves, the parts of composed arrays, deceased[x],
// the defaults of a new resource, results with no value, and MergeStated applying it all.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "mapping/hl7v2_mapping.h"
#include "mapping/hl7v2_mapping_test_support.h"
#include "mapping/hl7v2_values.h"

namespace carerecord::mapping {
namespace {

using namespace testing;  // NOLINT: the message builders

// Whether `value` holds the string "" (HL7's null read as a value) anywhere.
bool HoldsQuotes(const json::value& value) {
  if (value.is_string()) return value.as_string() == "\"\"";
  if (value.is_array()) {
    for (const auto& item : value.as_array()) {
      if (HoldsQuotes(item)) return true;
    }
  }
  if (value.is_object()) {
    for (const auto& [key, member] : value.as_object()) {
      if (HoldsQuotes(member)) return true;
    }
  }
  return false;
}

FieldState PartState(const MappedResource& r, std::string_view member, std::string_view value) {
  for (const ArrayPart& part : r.parts) {
    if (part.member == member && !part.values.empty() && part.values[0] == value) {
      return part.state;
    }
  }
  return FieldState::kAbsent;
}

TEST(Hl7v2Mapping, TwoDoubleQuotesDeleteAndAreNeverAValue) {
  const std::string q = "\"\"";
  auto m = Map(
      {Msh("ADT^A08^ADT_A01", "1"), "EVN|A08|20260301101500",
       Seg("PID", {{1, "1"},
                   {3, "M1^^^RX1PAS^MR"},
                   {5, "DOE^JOHN"},
                   {7, q},
                   {8, q},
                   {11, q},
                   {13, q},
                   {14, q},
                   {16, q},
                   {29, q},
                   {30, q}}),
       Seg("PD1", {{3, q}, {4, q}}),
       Seg("PV1",
           {{2, "I"}, {3, q}, {7, q}, {10, q}, {14, q}, {19, "V1^^^RX1PAS^VN"}, {44, q}, {45, q}}),
       Seg("PV2", {{3, q}}), Seg("NK1", {{1, "1"}, {2, q}, {3, "SPO"}, {4, q}, {5, q}, {6, q}}),
       Seg("AL1", {{1, "1"}, {2, q}, {3, "PEN"}, {4, q}, {5, q}, {6, q}}),
       Seg("DG1", {{1, "1"}, {3, "I10^Hypertension^I10"}, {5, q}, {6, q}, {16, q}})});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  for (const auto& r : m->resources) {
    EXPECT_EQ(r.mode, WriteMode::kUpdateStated) << r.type;
    EXPECT_FALSE(HoldsQuotes(r.resource)) << r.type << ": " << json::serialize(r.resource);
  }
  const json::object& patient = Find(*m, "Patient")->resource;
  for (const char* nulled :
       {"birthDate", "gender", "address", "maritalStatus", "deceasedDateTime", "deceasedBoolean"}) {
    ASSERT_TRUE(patient.contains(nulled)) << nulled;
    EXPECT_TRUE(patient.at(nulled).is_null()) << nulled;
  }
  EXPECT_TRUE(patient.at("name").is_array());  // PID-5 holds a name
  const MappedResource& p = *Find(*m, "Patient");
  EXPECT_EQ(PartState(p, "telecom", "home"), FieldState::kNull);
  EXPECT_EQ(PartState(p, "telecom", "work"), FieldState::kNull);
  EXPECT_EQ(PartState(p, "generalPractitioner", "Organization"), FieldState::kNull);
  EXPECT_EQ(PartState(p, "generalPractitioner", "Practitioner"), FieldState::kNull);
  EXPECT_EQ(PartState(p, "identifier", kNhsNumberSystem), FieldState::kAbsent);
  const MappedResource& e = *Find(*m, "Encounter");
  EXPECT_EQ(Str(e.resource.at("status")), "in-progress");  // A08: PV1-45 "" withdraws a discharge
  EXPECT_TRUE(e.resource.at("location").is_null());
  EXPECT_TRUE(e.resource.at("serviceType").is_null());
  EXPECT_TRUE(e.resource.at("reasonCode").is_null());
  EXPECT_TRUE(e.resource.at("period").at("start").is_null());
  EXPECT_TRUE(e.resource.at("period").at("end").is_null());
  EXPECT_TRUE(e.resource.at("hospitalization").at("admitSource").is_null());
  EXPECT_EQ(PartState(e, "participant", "ATND"), FieldState::kNull);
  EXPECT_EQ(PartState(e, "participant", "REF"), FieldState::kAbsent);
  const json::object& kin = Find(*m, "RelatedPerson")->resource;
  EXPECT_TRUE(kin.at("name").is_null());
  EXPECT_TRUE(kin.at("address").is_null());
  const json::object& allergy = Find(*m, "AllergyIntolerance")->resource;
  for (const char* nulled : {"category", "criticality", "reaction", "onsetDateTime"}) {
    EXPECT_TRUE(allergy.at(nulled).is_null()) << nulled;
  }
  const json::object& condition = Find(*m, "Condition")->resource;
  for (const char* nulled : {"onsetDateTime", "verificationStatus", "recorder"}) {
    EXPECT_TRUE(condition.at(nulled).is_null()) << nulled;
  }
  // As a create, the nulls are no members at all.
  const json::object created = MergeStated(nullptr, p);
  EXPECT_FALSE(created.contains("birthDate"));
  EXPECT_FALSE(created.contains("telecom"));
}

TEST(Hl7v2Mapping, QuotesInsideAFieldAreNoValueEither) {
  // A component or repetition holding "" is empty too: never a name, a line or a number.
  auto m = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                "PID|1||M1^^^RX1PAS^MR||DOE^\"\"^\"\"||||||1 HIGH ST^\"\"^LEEDS||\"\"^PRN^PH~0113 "
                "496 0000^PRN^PH"});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  const json::object& patient = Find(*m, "Patient")->resource;
  EXPECT_FALSE(HoldsQuotes(patient)) << json::serialize(patient);
  EXPECT_FALSE(patient.at("name").as_array()[0].as_object().contains("given"));
  EXPECT_EQ(patient.at("address").as_array()[0].at("line").as_array(), (json::array{"1 HIGH ST"}));
  ASSERT_EQ(patient.at("telecom").as_array().size(), 1u);
  EXPECT_EQ(Str(patient.at("telecom").as_array()[0].at("value")), "0113 496 0000");
}

// Hostile round 8 L4: HL7's null is tested on the text as sent; an escaped \X2222\ is two quote
// characters, which the sender wrote as a value (a field of them is stated, not deleted).
// Hostile round 8 L6: "" in AL1-3 or DG1-3 (delete: which an AL1 or DG1 cannot do here) leaves
// that segment out with a warning; the rest of the message is mapped. Empty is still refused.
TEST(Hl7v2Mapping, AnAllergyOrDiagnosisOfQuotesIsLeftOutNotTheMessage) {
  const std::string q = "\"\"";
  auto m = Map({Msh("ADT^A08^ADT_A01", "1"), "EVN|A08|20260301101500",
                "PID|1||M1^^^RX1PAS^MR||DOE^ANN", Seg("AL1", {{1, "1"}, {3, q + "^" + q}}),
                Seg("AL1", {{1, "2"}, {3, "PEN^Penicillin^L"}}), Seg("DG1", {{1, "1"}, {3, q}})});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_TRUE(Find(*m, "Patient"));
  EXPECT_TRUE(Find(*m, "AllergyIntolerance"));
  EXPECT_FALSE(Find(*m, "Condition"));
  EXPECT_EQ(m->warnings.size(), 2u);
  auto empty = Map({Msh("ADT^A08^ADT_A01", "1"), "EVN|A08|20260301101500",
                    "PID|1||M1^^^RX1PAS^MR||DOE^ANN", Seg("AL1", {{1, "1"}, {2, "DA"}})});
  EXPECT_FALSE(empty.ok());
}

TEST(Hl7v2Mapping, EscapedQuotesAreAValueNotTheNull) {
  auto m = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                "PID|1||M1^^^RX1PAS^MR||\\X2222\\^ANN"});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  const json::object& patient = Find(*m, "Patient")->resource;
  EXPECT_EQ(Str(patient.at("name").as_array()[0].at("family")), "\"\"") << json::serialize(patient);
}

TEST(Hl7v2Mapping, AnEventTimeOfQuotesIsNoTimeAndMsh7OrdersTheMessage) {
  auto m = Map({Msh("ADT^A08^ADT_A01", "1", "20260301101500+0000"), "EVN|A08|\"\"",
                "PID|1||M1^^^RX1PAS^MR"});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_EQ(m->event_time, "2026-03-01T10:15:00+00:00");
}

TEST(Hl7v2Mapping, MaritalStatusFromPid16KeepsTheSendersCoding) {
  auto married = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                      Seg("PID", {{3, "M1^^^RX1PAS^MR"}, {16, "M^Married^HL70002"}})});
  ASSERT_TRUE(married.ok());
  const json::array& codings =
      Find(*married, "Patient")->resource.at("maritalStatus").at("coding").as_array();
  ASSERT_EQ(codings.size(), 2u);
  EXPECT_EQ(codings[0],
            (json::object{{"system", "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"},
                          {"code", "M"},
                          {"display", "Married"}}));
  EXPECT_EQ(Str(codings[1].at("system")), "http://terminology.hl7.org/CodeSystem/v2-0002");
  EXPECT_EQ(Str(codings[1].at("code")), "M");
  // Separated (A) is v3's L; with no CWE-3 the code is read as table 0002's.
  auto separated = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                        Seg("PID", {{3, "M1^^^RX1PAS^MR"}, {16, "A"}})});
  const json::array& a =
      Find(*separated, "Patient")->resource.at("maritalStatus").at("coding").as_array();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(Str(a[0].at("code")), "L");
  EXPECT_EQ(Str(a[1].at("system")), "http://terminology.hl7.org/CodeSystem/v2-0002");
  // P is a domestic partner in HL7's table and separated in HL7 UK's: no v3 code is guessed.
  auto partner = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                      Seg("PID", {{3, "M1^^^RX1PAS^MR"}, {16, "P"}})});
  const json::array& p =
      Find(*partner, "Patient")->resource.at("maritalStatus").at("coding").as_array();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(Str(p[0].at("code")), "P");
  // Unknown is v3's null flavour UNK.
  auto unknown = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                      Seg("PID", {{3, "M1^^^RX1PAS^MR"}, {16, "U"}})});
  const json::array& u =
      Find(*unknown, "Patient")->resource.at("maritalStatus").at("coding").as_array();
  EXPECT_EQ(Str(u[0].at("system")), "http://terminology.hl7.org/CodeSystem/v3-NullFlavor");
  EXPECT_EQ(Str(u[0].at("code")), "UNK");
  // A code that is not table 0002's (X, a lower-case m, an escaped | ) keeps no system: it is
  // not filed as one of the table's codes (hostile round 8 L2).
  for (const std::string code : {"X", "m", "\\F\\"}) {
    auto other = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                      Seg("PID", {{3, "M1^^^RX1PAS^MR"}, {16, code}})});
    ASSERT_TRUE(other.ok()) << code;
    const json::array& o =
        Find(*other, "Patient")->resource.at("maritalStatus").at("coding").as_array();
    ASSERT_EQ(o.size(), 1u) << code;
    EXPECT_FALSE(o[0].as_object().contains("system")) << code << ": " << json::serialize(o);
  }
  // A code CWE-3 names as table 0002's is the sender's word.
  auto named = Map({Msh("ADT^A28^ADT_A05", "1"), "EVN|A28|20260301101500",
                    Seg("PID", {{3, "M1^^^RX1PAS^MR"}, {16, "X^Other^HL70002"}})});
  EXPECT_EQ(
      Str(Find(*named, "Patient")->resource.at("maritalStatus").at("coding").at(0).at("system")),
      "http://terminology.hl7.org/CodeSystem/v2-0002");
}

// Hostile round 8, L3: PID-2 "" and the NHS number. PID-3's NH repetition wins in the same
// message; without one, PID-2 "" deletes the stored number (HL7: "" deletes the field's value,
// and PID-2 is where English feeds that use it carry the NHS number).
TEST(Hl7v2Mapping, Pid2QuotesDeleteTheNhsNumberOnlyWhenPid3StatesNone) {
  auto with = Map({Msh("ADT^A08^ADT_A01", "1"), "EVN|A08|20260301101500",
                   "PID|1|\"\"|M1^^^RX1PAS^MR~9434765919^^^NHS^NH"});
  ASSERT_TRUE(with.ok()) << with.error().ToString();
  EXPECT_EQ(PartState(*Find(*with, "Patient"), "identifier", kNhsNumberSystem), FieldState::kValue);
  const json::object stored = json::parse(R"({"resourceType": "Patient", "identifier": [
    {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}]})")
                                  .as_object();
  const json::object kept = MergeStated(&stored, *Find(*with, "Patient"));
  EXPECT_NE(json::serialize(kept).find("9434765919"), std::string::npos);
  auto without =
      Map({Msh("ADT^A08^ADT_A01", "1"), "EVN|A08|20260301101500", "PID|1|\"\"|M1^^^RX1PAS^MR"});
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(PartState(*Find(*without, "Patient"), "identifier", kNhsNumberSystem),
            FieldState::kNull);
  EXPECT_EQ(json::serialize(MergeStated(&stored, *Find(*without, "Patient"))).find("9434765919"),
            std::string::npos);
}

// Hostile round 8, L10: an OBX with no value (OBX-5 "" or empty) made an Observation with neither
// a value nor a reason; a "" of SN or DT failed the whole message as "not a number".
TEST(Hl7v2Mapping, ResultWithNoValueSaysWhyByItsStatus) {
  const std::string q = "\"\"";
  auto m = Map({Msh("ORU^R01^ORU_R01", "L1"), kPid,
                Seg("OBR", {{1, "1"}, {3, "FL77"}, {4, "UE^U and E^LOCAL"}, {25, "F"}}),
                Seg("OBX", {{1, "1"}, {2, "NM"}, {3, "22664-7^Potassium^LN"}, {5, q}, {11, "F"}}),
                Seg("OBX", {{1, "2"}, {2, "SN"}, {3, "2160-0^Creatinine^LN"}, {5, q}, {11, "X"}}),
                Seg("OBX", {{1, "3"}, {2, "DT"}, {3, "X2^Due^LOCAL"}, {11, "N"}}),
                Seg("OBX", {{1, "4"}, {2, "ST"}, {3, "X1^Comment^LOCAL"}, {5, q}, {11, "P"}}),
                Seg("OBX", {{1, "5"}, {2, "NM"}, {3, "2951-2^Sodium^LN"}, {5, "140"}, {11, "F"}})});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  const std::vector<std::string> reasons = {"unknown", "not-performed", "not-asked",
                                            "temp-unknown"};
  for (size_t i = 0; i < reasons.size(); ++i) {
    const json::object& observation = Find(*m, "Observation", i)->resource;
    EXPECT_FALSE(HoldsQuotes(observation)) << json::serialize(observation);
    ASSERT_TRUE(observation.contains("dataAbsentReason")) << json::serialize(observation);
    const json::value& coding = observation.at("dataAbsentReason").at("coding").at(0);
    EXPECT_EQ(Str(coding.at("system")), "http://terminology.hl7.org/CodeSystem/data-absent-reason");
    EXPECT_EQ(Str(coding.at("code")), reasons[i]);
  }
  EXPECT_EQ(Str(Find(*m, "Observation", 1)->resource.at("status")), "cancelled");
  const json::object& sodium = Find(*m, "Observation", 4)->resource;
  EXPECT_TRUE(sodium.contains("valueQuantity"));
  EXPECT_FALSE(sodium.contains("dataAbsentReason"));  // obs-6: never beside a value
  // Hostile round 9 N4: an SN whose numbers are "" or empty states no value either.
  for (const std::string& sn : {"^" + q, q + "^" + q, "<^" + q, "^^^" + q}) {
    SCOPED_TRACE(sn);
    auto one =
        Map({Msh("ORU^R01^ORU_R01", "L2"), kPid,
             Seg("OBR", {{1, "1"}, {3, "FL78"}, {4, "UE^U and E^LOCAL"}, {25, "F"}}),
             Seg("OBX", {{1, "1"}, {2, "SN"}, {3, "2160-0^Creatinine^LN"}, {5, sn}, {11, "F"}})});
    ASSERT_TRUE(one.ok()) << one.error().ToString();
    const json::object& observation = Find(*one, "Observation", 0)->resource;
    EXPECT_TRUE(observation.contains("dataAbsentReason")) << json::serialize(observation);
    EXPECT_FALSE(HoldsQuotes(observation)) << json::serialize(observation);
  }
  // Round 10 R3: a range missing one number keeps the other; a ratio missing one is no value
  // (R4's rat-1 wants both), its numbers kept as a note (round 11).
  const std::vector<std::pair<std::string, std::string>> partial = {
      {"^5^:^" + q, R"({"note":[{"text":"structured numeric as sent: ^5^:^"}]})"},
      {"^5^-^", R"({"valueRange":{"low":{"value":5}}})"},
      {"^" + q + "^-^7", R"({"valueRange":{"high":{"value":7}}})"}};
  for (const auto& [sn, expected] : partial) {
    SCOPED_TRACE(sn);
    auto one =
        Map({Msh("ORU^R01^ORU_R01", "L3"), kPid,
             Seg("OBR", {{1, "1"}, {3, "FL79"}, {4, "UE^U and E^LOCAL"}, {25, "F"}}),
             Seg("OBX", {{1, "1"}, {2, "SN"}, {3, "2160-0^Creatinine^LN"}, {5, sn}, {11, "F"}})});
    ASSERT_TRUE(one.ok()) << one.error().ToString();
    const json::object& observation = Find(*one, "Observation", 0)->resource;
    const json::object want = json::parse(expected).as_object();
    const auto& [member, value] = *want.begin();
    ASSERT_TRUE(observation.contains(member)) << json::serialize(observation);
    EXPECT_EQ(json::serialize(observation.at(member)), json::serialize(value));
    EXPECT_EQ(observation.contains("dataAbsentReason"), member == "note");
  }
}

// deceased[x] is one choice element fed by two fields: every PID-29 x PID-30 x stored state, as
// the table in ARCHITECTURE.md ("What an update states") gives it.
TEST(Hl7v2Mapping, DeceasedFromPid29AndPid30OverEveryStoredState) {
  const std::string q = "\"\"";
  auto deceased = [](const json::object& patient) -> std::string {
    if (auto* at = patient.if_contains("deceasedDateTime")) return "date " + Str(*at);
    if (auto* flag = patient.if_contains("deceasedBoolean")) {
      return flag->as_bool() ? "true" : "false";
    }
    return "-";
  };
  const std::vector<std::pair<std::string, json::object>> stored = {
      {"none", json::object{{"resourceType", "Patient"}}},
      {"true", json::object{{"resourceType", "Patient"}, {"deceasedBoolean", true}}},
      {"false", json::object{{"resourceType", "Patient"}, {"deceasedBoolean", false}}},
      {"date", json::object{{"resourceType", "Patient"}, {"deceasedDateTime", "2025-11-01"}}}};
  const std::string d0 = "date 2025-11-01", d1 = "date 2025-12-01";
  struct Row {
    std::string pid29, pid30;
    std::vector<std::string> results;  // over stored none, true, false, date
  };
  const std::vector<Row> table = {
      {"", "", {"-", "true", "false", d0}},       {"", q, {"-", "-", "-", d0}},
      {"", "Y", {"true", "true", "true", d0}},    {"", "N", {"false", "false", "false", "false"}},
      {q, "", {"-", "true", "false", "true"}},    {q, q, {"-", "-", "-", "-"}},
      {q, "Y", {"true", "true", "true", "true"}}, {q, "N", {"false", "false", "false", "false"}},
      {"20251201", "", {d1, d1, d1, d1}},         {"20251201", q, {d1, d1, d1, d1}},
      {"20251201", "Y", {d1, d1, d1, d1}},        {"20251201", "N", {d1, d1, d1, d1}},
  };
  for (const Row& row : table) {
    std::map<int, std::string> fields{{1, "1"}, {3, "M1^^^RX1PAS^MR"}};
    if (!row.pid29.empty()) fields[29] = row.pid29;
    if (!row.pid30.empty()) fields[30] = row.pid30;
    auto m = Map({Msh("ADT^A08^ADT_A01", "1"), "EVN|A08|20260301101500", Seg("PID", fields)});
    ASSERT_TRUE(m.ok()) << m.error().ToString();
    const MappedResource& p = *Find(*m, "Patient");
    const std::string where = "PID-29 '" + row.pid29 + "' PID-30 '" + row.pid30 + "' over ";
    for (size_t i = 0; i < stored.size(); ++i) {
      EXPECT_EQ(deceased(MergeStated(&stored[i].second, p)), row.results[i])
          << where << stored[i].first;
    }
    // A create is the update of nothing stored, with no nulls left.
    EXPECT_EQ(deceased(MergeStated(nullptr, p)), row.results[0]) << where << "a create";
  }
  // A date and N contradict each other: the date stands and the operator is told.
  auto both = Map({Msh("ADT^A08^ADT_A01", "1"), "EVN|A08|20260301101500",
                   Seg("PID", {{1, "1"}, {3, "M1^^^RX1PAS^MR"}, {29, "20251201"}, {30, "N"}})});
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->warnings.size(), 1u);
  EXPECT_NE(both->warnings[0].find("PID-30 'N'"), std::string::npos) << both->warnings[0];
  // A PID-29 of separators only states nothing (it used to drop the whole Patient silently).
  auto empty = Map({Msh("ADT^A08^ADT_A01", "1"), "EVN|A08|20260301101500",
                    Seg("PID", {{1, "1"}, {3, "M1^^^RX1PAS^MR"}, {29, "^"}, {30, "Y"}})});
  ASSERT_TRUE(empty.ok()) << empty.error().ToString();
  ASSERT_NE(Find(*empty, "Patient"), nullptr);
  EXPECT_EQ(deceased(MergeStated(&stored[3].second, *Find(*empty, "Patient"))), d0);
}

// Hostile round 8, L5: a DG1 without DG1-6 made a Condition whose status "" had deleted
// provisional again. The default is a new Condition's only.
TEST(Hl7v2Mapping, ANewConditionsDefaultStatusIsNotAnUpdates) {
  auto m = Map({Msh("ADT^A08^ADT_A01", "1"), "EVN|A08|20260301101500", "PID|1||M1^^^RX1PAS^MR",
                Seg("DG1", {{1, "1"}, {3, "I10^Hypertension^I10"}})});
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  const MappedResource& dg1 = *Find(*m, "Condition");
  EXPECT_EQ(Str(MergeStated(nullptr, dg1).at("verificationStatus").at("coding").at(0).at("code")),
            "provisional");
  const json::object deleted{{"resourceType", "Condition"}};
  EXPECT_FALSE(MergeStated(&deleted, dg1).contains("verificationStatus"));
  const json::object confirmed = json::parse(R"({"resourceType": "Condition",
    "verificationStatus": {"coding": [{"code": "confirmed"}]}})")
                                     .as_object();
  EXPECT_EQ(MergeStated(&confirmed, dg1).at("verificationStatus"),
            confirmed.at("verificationStatus"));
}

TEST(MergeStated, StatedReplacesNullDeletesAbsentStaysByPartAndMember) {
  const json::object stored = json::parse(R"({
    "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-02-14",
    "address": [{"city": "LEEDS"}],
    "telecom": [{"value": "1", "use": "home"}, {"value": "2", "use": "work"},
                {"value": "3", "use": "mobile"}, {"value": "5", "use": "temp"}, {"value": "6"}],
    "period": {"start": "2026-03-01", "end": "2026-03-05"}})")
                                  .as_object();
  MappedResource update;
  update.mode = WriteMode::kUpdateStated;
  update.resource = json::parse(R"({"resourceType": "Patient", "gender": "male",
    "birthDate": null, "telecom": [{"value": "4", "use": "home"}],
    "period": {"end": null}})")
                        .as_object();
  update.merged = {"period"};
  update.parts = {ArrayPart{"telecom", "/use", {"home", "mobile"}, FieldState::kValue},
                  ArrayPart{"telecom", "/use", {"work"}, FieldState::kAbsent}};
  update.fallbacks = {Fallback{"active", true, {"active"}},
                      Fallback{"gender", "unknown", {"gender"}}};
  const json::object merged = MergeStated(&stored, update);
  EXPECT_EQ(merged, json::parse(R"({
    "resourceType": "Patient", "id": "p1", "gender": "male", "address": [{"city": "LEEDS"}],
    "telecom": [{"value": "4", "use": "home"}, {"value": "2", "use": "work"},
                {"value": "5", "use": "temp"}, {"value": "6"}],
    "period": {"start": "2026-03-01"}, "active": true})")
                        .as_object());
  // The work part nulled, the home part left out: the home numbers stay, and those no field
  // could have sent (temp, no use).
  update.resource = json::parse(R"({"resourceType": "Patient"})").as_object();
  update.parts = {ArrayPart{"telecom", "/use", {"home", "mobile"}, FieldState::kAbsent},
                  ArrayPart{"telecom", "/use", {"work"}, FieldState::kNull}};
  const json::array kept = MergeStated(&stored, update).at("telecom").as_array();
  EXPECT_EQ(kept, json::parse(R"([{"value": "1", "use": "home"}, {"value": "3", "use": "mobile"},
                                   {"value": "5", "use": "temp"}, {"value": "6"}])")
                      .as_array());
  // A whole-resource mode (ORU's Observations) replaces: nothing stored survives.
  MappedResource whole;
  whole.resource = json::parse(R"({"resourceType": "Patient", "gender": null})").as_object();
  EXPECT_EQ(MergeStated(&stored, whole), (json::object{{"resourceType", "Patient"}}));
}

}  // namespace
}  // namespace carerecord::mapping
