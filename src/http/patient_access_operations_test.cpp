// The reason of $break-glass and $declare-relationship (hostile round 5b, finding 13): something
// visible, at most kMaxReasonCharacters, no bidirectional controls, given once.

#include "http/patient_access_operations.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace carerecord::http {
namespace {

std::string Body(const std::vector<std::string>& reasons) {
  boost::json::array parameters;
  for (const std::string& reason : reasons) {
    parameters.push_back(boost::json::object{{"name", "reason"}, {"valueString", reason}});
  }
  return boost::json::serialize(
      boost::json::object{{"resourceType", "Parameters"}, {"parameter", parameters}});
}

base::Result<std::string> Reason(const std::string& reason) {
  return PatientAccessOperations::ReasonOf(Body({reason}));
}

TEST(PatientAccessReasonTest, AVisibleReasonIsKeptAsTyped) {
  for (const std::string reason :
       {"seen in A&E", "  unconscious\n", "x", "d\u00e9j\u00e0 vu \u05e9\u05dc\u05d5\u05dd",
        "\u200bunconscious"}) {
    auto got = Reason(reason);
    ASSERT_TRUE(got.ok()) << reason << ": " << got.error().message;
    EXPECT_EQ(got.value(), reason);
  }
}

TEST(PatientAccessReasonTest, AReasonWithNothingVisibleIsRefused) {
  for (const std::string& reason : std::vector<std::string>{
           "", "   ", "\r\n", "\t", "\u200b", "\u200b\u200c\u200d\u2060", "\ufeff", "\u00a0\u3000",
           std::string("\x01\x7f", 2), "\u00ad", "\u2028", "\u200e\u200f"}) {
    auto got = Reason(reason);
    ASSERT_FALSE(got.ok()) << "accepted: " << reason;
    EXPECT_EQ(got.error().code, base::ErrorCode::kInvalid);
    EXPECT_NE(got.error().message.find("visible"), std::string::npos) << got.error().message;
  }
}

TEST(PatientAccessReasonTest, BidirectionalControlsAreRefused) {
  for (const std::string reason :
       {"seen \u202e in A&E", "\u202aa", "b\u202d", "\u2066c\u2069", "d\u2067", "e\u2068"}) {
    auto got = Reason(reason);
    ASSERT_FALSE(got.ok()) << "accepted: " << reason;
    EXPECT_NE(got.error().message.find("bidirectional"), std::string::npos) << got.error().message;
  }
}

TEST(PatientAccessReasonTest, AReasonIsAtMostAThousandCharacters) {
  const size_t most = PatientAccessOperations::kMaxReasonCharacters;
  EXPECT_TRUE(Reason(std::string(most, 'a')).ok());
  // Characters, not bytes: a thousand two-byte letters are accepted.
  std::string accented;
  for (size_t i = 0; i < most; ++i) accented += "\u00e9";
  EXPECT_TRUE(Reason(accented).ok());
  auto long_reason = Reason(std::string(most + 1, 'a'));
  ASSERT_FALSE(long_reason.ok());
  EXPECT_NE(long_reason.error().message.find("1000"), std::string::npos)
      << long_reason.error().message;
  EXPECT_FALSE(Reason(std::string(200000, 'a')).ok());
}

TEST(PatientAccessReasonTest, AReasonGivenTwiceIsRefused) {
  auto twice = PatientAccessOperations::ReasonOf(Body({"first", "second"}));
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message.find("twice"), std::string::npos) << twice.error().message;
  EXPECT_FALSE(PatientAccessOperations::ReasonOf(Body({"", "second"})).ok());
}

}  // namespace
}  // namespace carerecord::http
