#include "feeds/metrics.h"

#include <cstdint>

namespace carerecord::feeds {
namespace {

// A label value with \, " and line feeds escaped as the format asks.
std::string LabelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

struct Family {
  const char* name;
  const char* type;
  const char* help;
  int64_t FeedStats::*field;
};

constexpr Family kFamilies[] = {
    {"carerecord_feed_messages_received_total", "counter",
     "Messages committed to the inbox (a resend is not counted again)", &FeedStats::received},
    {"carerecord_feed_messages_accepted_total", "counter",
     "Messages processed into the record (mapped)", &FeedStats::accepted},
    {"carerecord_feed_messages_pending", "gauge", "Messages received and not yet processed",
     &FeedStats::pending},
    {"carerecord_feed_messages_in_error", "gauge",
     "Messages in the error queue (error or rejected)", &FeedStats::in_error},
    {"carerecord_feed_duplicates_total", "counter",
     "Identical resends acknowledged again without storing", &FeedStats::duplicates},
};

}  // namespace

std::string PrometheusText(const std::vector<FeedStats>& stats) {
  std::string out;
  for (const Family& family : kFamilies) {
    out += std::string("# HELP ") + family.name + " " + family.help + "\n";
    out += std::string("# TYPE ") + family.name + " " + family.type + "\n";
    for (const FeedStats& s : stats) {
      out += std::string(family.name) + "{feed=\"" + LabelValue(s.feed_name) + "\"} " +
             std::to_string(s.*family.field) + "\n";
    }
  }
  out +=
      "# HELP carerecord_feed_last_received_timestamp_seconds When the feed's last message was "
      "received (Unix time; 0: never)\n";
  out += "# TYPE carerecord_feed_last_received_timestamp_seconds gauge\n";
  for (const FeedStats& s : stats) {
    const int64_t ms = s.last_received_ms;
    std::string seconds =
        std::to_string(ms / 1000) + "." + std::to_string(1000 + ms % 1000).substr(1);
    out += "carerecord_feed_last_received_timestamp_seconds{feed=\"" + LabelValue(s.feed_name) +
           "\"} " + seconds + "\n";
  }
  return out;
}

}  // namespace carerecord::feeds
