// A token parameter with several values (`identifier=a,b,c`): each value matches as it would
// alone, whatever mix of systems, codes alone, systems never seen and :not they come in. (The
// store adds the values' codes as an IN list so SQLite walks the key per code: the matches
// must be exactly those of the ORed values.)
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/test_server.h"

namespace carerecord::testing {
namespace {

using Names = std::vector<std::string>;

Names Sorted(Names names) {
  std::sort(names.begin(), names.end());
  return names;
}

void PutPatients(TestServer& server) {
  // a, b: system s1; c: system s2; d: s1 and s2 with other codes; e: a code under s2 that is
  // a's code under s1.
  Put(server, "Patient", "a",
      R"({"resourceType":"Patient","identifier":[{"system":"urn:s1","value":"A1"}]})");
  Put(server, "Patient", "b",
      R"({"resourceType":"Patient","identifier":[{"system":"urn:s1","value":"B1"}]})");
  Put(server, "Patient", "c",
      R"({"resourceType":"Patient","identifier":[{"system":"urn:s2","value":"C2"}]})");
  Put(server, "Patient", "d",
      R"({"resourceType":"Patient","identifier":[{"system":"urn:s1","value":"D1"},{"system":"urn:s2","value":"D2"}]})");
  Put(server, "Patient", "e",
      R"({"resourceType":"Patient","identifier":[{"system":"urn:s2","value":"A1"}]})");
}

TEST(FhirSearchTokenValues, SeveralValuesMatchAsEachWouldAlone) {
  TestServer server;
  PutPatients(server);
  auto ids = [&](const std::string& query) {
    return Sorted(Ids(server, "/fhir/Patient?" + query));
  };
  EXPECT_EQ(ids("identifier=urn:s1%7CA1,urn:s1%7CB1"), (Names{"a", "b"}));
  // The same code under another system is not a match of s1|A1.
  EXPECT_EQ(ids("identifier=urn:s1%7CA1,urn:s2%7CC2"), (Names{"a", "c"}));
  EXPECT_EQ(ids("identifier=urn:s2%7CA1,urn:s2%7CD2"), (Names{"d", "e"}));
  // A code alone matches under any system.
  EXPECT_EQ(ids("identifier=A1,urn:s2%7CC2"), (Names{"a", "c", "e"}));
  // A system never seen matches nothing; the other values still match.
  EXPECT_EQ(ids("identifier=urn:never%7CA1,urn:s1%7CB1"), (Names{"b"}));
  EXPECT_EQ(ids("identifier=urn:never%7CA1,urn:never%7CB1"), Names{});
  // A system alone (no code) beside codes.
  EXPECT_EQ(ids("identifier=urn:s2%7C,urn:s1%7CA1"), (Names{"a", "c", "d", "e"}));
  // Values that match nothing beside ones that do; one value given twice.
  EXPECT_EQ(ids("identifier=urn:s1%7CZZ,urn:s1%7CB1,urn:s1%7CB1"), (Names{"b"}));
  // :not of several: none of them.
  EXPECT_EQ(ids("identifier:not=urn:s1%7CA1,urn:s2%7CC2"), (Names{"b", "d", "e"}));
  // Beside another condition that drives the search (the values are then checked per match).
  EXPECT_EQ(ids("_id=a,b,c&identifier=urn:s1%7CA1,urn:s2%7CC2"), (Names{"a", "c"}));
  EXPECT_EQ(ids("_id=b,d&identifier=urn:s1%7CA1,urn:s2%7CD2"), (Names{"d"}));
}

}  // namespace
}  // namespace carerecord::testing
