// The inbox's per-feed figures in the Prometheus text exposition format (version 0.0.4), for
// `GET /metrics`. A pure function; safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "feeds/inbox.h"

namespace carerecord::feeds {

std::string PrometheusText(const std::vector<FeedStats>& stats);

}  // namespace carerecord::feeds
