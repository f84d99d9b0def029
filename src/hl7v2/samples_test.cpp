// The 139 sample messages of ../shared/data/hl7v2 (FHIR-Converter's, see SOURCES.md): each
// parses, its MSH-9/10/12 read as its own text says, every field unescapes, and writing its
// values and parsing them again gives the same values.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "hl7v2/batch.h"
#include "hl7v2/message.h"
#include "hl7v2/writer.h"

namespace carerecord::hl7v2 {
namespace {

namespace fs = std::filesystem;

const fs::path kSampleDir = fs::path(CARERECORD_SOURCE_DIR) / ".." / "shared" / "data" / "hl7v2";

std::vector<fs::path> SampleFiles() {
  std::vector<fs::path> files;
  if (!fs::is_directory(kSampleDir)) return files;
  for (const fs::directory_entry& entry : fs::directory_iterator(kSampleDir)) {
    if (entry.path().extension() == ".hl7") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// MSH-n read the plain way, straight off the file's first line, to check the parser against.
std::string NaiveMshField(std::string text, size_t n) {
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  const std::string line = text.substr(0, text.find_first_of("\r\n"));
  size_t start = 0;
  for (size_t i = 1; i < n; ++i) start = line.find('|', start) + 1;
  return line.substr(start, line.find('|', start) - start);
}

TEST(Hl7Samples, EveryShippedSampleParsesAndRoundTrips) {
  const std::vector<fs::path> files = SampleFiles();
  if (files.empty()) GTEST_SKIP() << "no HL7 v2 samples at " << kSampleDir;
  EXPECT_EQ(files.size(), 139u);
  size_t segments = 0;
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    const std::string bytes = ReadFile(file);
    auto message = ParseMessage(bytes);
    ASSERT_TRUE(message.ok()) << message.error().ToString();
    const std::string type = NaiveMshField(bytes, 9);
    EXPECT_EQ(message->header().message_code + "^" + message->header().trigger_event,
              type.substr(0, 7));
    EXPECT_EQ(message->header().control_id, NaiveMshField(bytes, 10));
    EXPECT_EQ(message->header().version, NaiveMshField(bytes, 12));
    EXPECT_EQ(message->FindSegment("MSH")->index(), 0u);
    segments += message->segment_count();

    auto values = ReadValues(*message);
    ASSERT_TRUE(values.ok()) << values.error().ToString();
    auto written = WriteMessage(*values, message->delimiters());
    ASSERT_TRUE(written.ok()) << written.error().ToString();
    auto reparsed = ParseMessage(*written);
    ASSERT_TRUE(reparsed.ok()) << reparsed.error().ToString();
    auto again = ReadValues(*reparsed);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *values);
  }
  // Blank lines are skipped, so fewer than the files' 2,255 lines.
  EXPECT_GT(segments, 2200u);
}

// The samples as one batch file, as a feed's nightly file would bring them: the files joined as
// they are (byte order marks and \n endings included) inside FHS/BHS ... BTS/FTS.
TEST(Hl7Samples, TheSamplesAsOneBatchFileSplitAndParse) {
  const std::vector<fs::path> files = SampleFiles();
  if (files.empty()) GTEST_SKIP() << "no HL7 v2 samples at " << kSampleDir;
  std::string file = "FHS|^~\\&|LAB|RBD\nBHS|^~\\&|LAB|RBD\n";
  std::vector<std::string> control_ids;
  for (const fs::path& path : files) {
    const std::string bytes = ReadFile(path);
    file += bytes;
    if (file.back() != '\n') file += '\n';
    control_ids.push_back(NaiveMshField(bytes, 10));
  }
  file += "BTS|" + std::to_string(files.size()) + "\nFTS|1\n";
  auto batch = SplitBatch(file);
  ASSERT_TRUE(batch.ok()) << batch.error().ToString();
  EXPECT_TRUE(batch->problems.empty()) << batch->problems.front().ToString();
  ASSERT_EQ(batch->messages.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    auto message = ParseMessage(batch->messages[i]);
    ASSERT_TRUE(message.ok()) << files[i].filename() << ": " << message.error().ToString();
    EXPECT_EQ(message->header().control_id, control_ids[i]) << files[i].filename();
  }
}

}  // namespace
}  // namespace carerecord::hl7v2
