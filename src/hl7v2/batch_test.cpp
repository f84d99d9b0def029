// Batch files: FHS/BHS/BTS/FTS envelopes split into messages, their counts checked.
#include "hl7v2/batch.h"

#include <gtest/gtest.h>

namespace carerecord::hl7v2 {
namespace {

std::string Msh(std::string_view id) {
  return "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|" + std::string(id) + "|P|2.5\rPID|1||" +
         std::string(id) + "\r";
}

TEST(Hl7Batch, SplitsAFileIntoItsMessages) {
  const std::string file = "FHS|^~\\&|LAB|HOSP\rBHS|^~\\&|LAB|HOSP\r" + Msh("M1") + Msh("M2") +
                           "BTS|2\rBHS|^~\\&\r" + Msh("M3") + "BTS|1\rFTS|2\r";
  auto batch = SplitBatch(file);
  ASSERT_TRUE(batch.ok()) << batch.error().ToString();
  EXPECT_EQ(batch->file_header, "FHS|^~\\&|LAB|HOSP");
  EXPECT_EQ(batch->batch_count, 2u);
  ASSERT_EQ(batch->messages.size(), 3u);
  EXPECT_TRUE(batch->problems.empty()) << batch->problems.front().ToString();
  for (size_t i = 0; i < 3; ++i) {
    auto message = ParseMessage(batch->messages[i]);
    ASSERT_TRUE(message.ok()) << message.error().ToString();
    EXPECT_EQ(message->header().control_id, "M" + std::to_string(i + 1));
    EXPECT_EQ(message->segment_count(), 2u);
  }
}

TEST(Hl7Batch, ReportsWrongCountsAndMissingTrailers) {
  const std::string file = "FHS|^~\\&\nBHS|^~\\&\n" + Msh("M1") + Msh("M2") + "BTS|3\nFTS|5\n";
  auto batch = SplitBatch(file);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->messages.size(), 2u);
  ASSERT_EQ(batch->problems.size(), 2u);
  EXPECT_EQ(batch->problems[0].location.segment_id, "BTS");
  EXPECT_EQ(batch->problems[0].location.field, 1);
  EXPECT_NE(batch->problems[0].reason.find("BTS-1 says 3 messages but 2 were found"),
            std::string::npos);
  EXPECT_NE(batch->problems[1].reason.find("FTS-1 says 5 batches but 1 were found"),
            std::string::npos);

  auto unfinished = SplitBatch("FHS|^~\\&\rBHS|^~\\&\r" + Msh("M1"));
  ASSERT_TRUE(unfinished.ok());
  ASSERT_EQ(unfinished->problems.size(), 2u);
  EXPECT_NE(unfinished->problems[0].reason.find("has no BTS"), std::string::npos);
  EXPECT_NE(unfinished->problems[1].reason.find("has no FTS"), std::string::npos);

  auto not_a_number = SplitBatch("BHS|^~\\&\r" + Msh("M1") + "BTS|one\r");
  ASSERT_TRUE(not_a_number.ok());
  ASSERT_EQ(not_a_number->problems.size(), 1u);
  EXPECT_NE(not_a_number->problems[0].reason.find("not a count"), std::string::npos);
}

TEST(Hl7Batch, ReadsMessagesWithoutAnEnvelope) {
  auto batch = SplitBatch(" \r\n" + Msh("M1") + "\r\n" + Msh("M2") + "\t\n");
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->messages.size(), 2u);
  EXPECT_TRUE(batch->problems.empty());
  EXPECT_EQ(batch->batch_count, 0u);
}

TEST(Hl7Batch, RefusesWhatCannotBeSplit) {
  auto stray = SplitBatch("BHS|^~\\&\rPID|1\r" + Msh("M1"));
  ASSERT_FALSE(stray.ok());
  EXPECT_EQ(stray.error().location.segment_sequence, 2);
  EXPECT_NE(stray.error().reason.find("outside any message"), std::string::npos);

  auto late_fhs = SplitBatch(Msh("M1") + "FHS|^~\\&\r");
  ASSERT_FALSE(late_fhs.ok());
  EXPECT_NE(late_fhs.error().reason.find("first segment"), std::string::npos);

  auto bad_delimiters = SplitBatch("FHS|^^\\&\r" + Msh("M1"));
  ASSERT_FALSE(bad_delimiters.ok());
  EXPECT_EQ(bad_delimiters.error().location.segment_id, "FHS");

  auto after_end = SplitBatch("FHS|^~\\&\r" + Msh("M1") + "FTS|0\r" + Msh("M2"));
  ASSERT_FALSE(after_end.ok());
  EXPECT_NE(after_end.error().reason.find("after the file trailer"), std::string::npos);

  auto too_many = SplitBatch(Msh("M1") + Msh("M2") + Msh("M3"), 2);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().code, base::ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace carerecord::hl7v2
