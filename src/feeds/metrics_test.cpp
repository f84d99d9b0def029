// The figures as Prometheus text: one family per figure, a sample per feed, labels escaped.
#include "feeds/metrics.h"

#include <gtest/gtest.h>

namespace carerecord::feeds {
namespace {

TEST(PrometheusTextTest, EachFigureIsASamplePerFeed) {
  FeedStats rdz{"rdz-pas", 10, 7, 1, 2, 3, 1765000000123};
  FeedStats odd{"a \"b\"\\c", 1, 0, 0, 1, 0, 0};
  const std::string text = PrometheusText({rdz, odd});
  EXPECT_NE(text.find("# TYPE carerecord_feed_messages_received_total counter\n"
                      "carerecord_feed_messages_received_total{feed=\"rdz-pas\"} 10\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("carerecord_feed_messages_accepted_total{feed=\"rdz-pas\"} 7\n"),
            std::string::npos);
  EXPECT_NE(text.find("carerecord_feed_messages_pending{feed=\"rdz-pas\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("carerecord_feed_messages_in_error{feed=\"rdz-pas\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("carerecord_feed_duplicates_total{feed=\"rdz-pas\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("carerecord_feed_last_received_timestamp_seconds{feed=\"rdz-pas\"} "
                      "1765000000.123\n"),
            std::string::npos);
  EXPECT_NE(text.find("carerecord_feed_messages_received_total{feed=\"a \\\"b\\\"\\\\c\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("carerecord_feed_last_received_timestamp_seconds{feed=\"a \\\"b\\\"\\\\c\"} "
                      "0.000\n"),
            std::string::npos);
}

}  // namespace
}  // namespace carerecord::feeds
