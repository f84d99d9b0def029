#include "store/body_codec.h"

#include <gtest/gtest.h>

#include <string>

#include "fhir/fhir_date.h"

namespace carerecord::store {
namespace {

constexpr int64_t kCommitMs = 1796645000123;  // 2026-12-07T12:43:20.123Z

std::string Resource(const std::string& stamp, size_t padding) {
  return R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"1","lastUpdated":")" + stamp +
         R"("},"text":")" + std::string(padding, 'x') + R"("})";
}

size_t StampAt(const std::string& json) {
  return json.find("\"lastUpdated\":\"") + std::string_view("\"lastUpdated\":\"").size();
}

// A body encoded before its commit gets the commit's time when it is read with it, whatever the
// frame (raw, zstd, with a dictionary), and reads back as encoded without it.
TEST(BodyCodec, AStampedBodyReadsWithItsVersionsTime) {
  BodyCodec codec;
  for (size_t padding : {0, 40, 5000}) {
    std::string prepared = Resource("2026-12-07T12:00:00.000Z", padding);
    std::string stored = codec.Encode("Patient", prepared, StampAt(prepared));
    auto read = codec.Decode(stored, kCommitMs);
    ASSERT_TRUE(read.ok()) << padding;
    EXPECT_EQ(*read, Resource(fhir::FormatInstant(kCommitMs), padding)) << padding;
    auto as_encoded = codec.Decode(stored);
    ASSERT_TRUE(as_encoded.ok());
    EXPECT_EQ(*as_encoded, prepared);
  }
}

TEST(BodyCodec, ReencodingWithADictionaryKeepsTheStampsPlace) {
  BodyCodec codec;
  std::string prepared = Resource("2026-12-07T12:00:00.000Z", 300);
  std::string stored = codec.Encode("Patient", prepared, StampAt(prepared));
  std::vector<std::string> samples;
  for (int i = 0; i < 400; ++i) {
    samples.push_back(Resource("2026-12-07T12:00:00.000Z", 100 + i % 50) + std::to_string(i));
  }
  std::string dictionary = BodyCodec::TrainDictionary(samples);
  ASSERT_FALSE(dictionary.empty());
  codec.AddDictionary(7, "Patient", dictionary);
  auto reencoded = codec.Reencode("Patient", stored);
  ASSERT_TRUE(reencoded.ok());
  EXPECT_NE(*reencoded, stored);
  auto read = codec.Decode(*reencoded, kCommitMs);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, Resource(fhir::FormatInstant(kCommitMs), 300));
}

// Bodies written before stamps were kept apart carry their time in the text: read as they are.
TEST(BodyCodec, AnUnstampedBodyReadsAsStored) {
  BodyCodec codec;
  std::string json = Resource("2026-01-01T00:00:00.000Z", 500);
  std::string stored = codec.Encode("Patient", json);
  auto read = codec.Decode(stored, kCommitMs);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, json);
}

TEST(BodyCodec, AStampOutsideTheBodyIsCorruptNotACrash) {
  BodyCodec codec;
  std::string json = R"({"meta":{"lastUpdated":"2026-01-01T00:00:00.000Z"}})";
  std::string stored = codec.Encode("Patient", json, StampAt(json));
  ASSERT_EQ(stored[0], 'r');  // raw: small enough to patch by hand
  // The offset (bytes 1-4) pointing past the end, and then at a text with no closing quote.
  std::string past = stored;
  past[1] = '\x7f';
  EXPECT_FALSE(codec.Decode(past, kCommitMs).ok());
  std::string unclosed = stored.substr(0, stored.size() - 3);
  EXPECT_FALSE(codec.Decode(unclosed, kCommitMs).ok());
  EXPECT_FALSE(codec.Decode(std::string("z\x01"), kCommitMs).ok());
  EXPECT_FALSE(codec.Decode(std::string("d\x01\x00\x00\x00\x01"), kCommitMs).ok());
}

}  // namespace
}  // namespace carerecord::store
