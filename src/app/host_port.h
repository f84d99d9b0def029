// "HOST:PORT" as the command line takes it (--http, --mllp): IPv6 hosts in brackets, the whole
// port digits ("8080x" is a typo, not port 8080). For main.cpp and the feed listener's options.
#pragma once

#include <cstdint>
#include <string>

namespace carerecord::app {

bool SplitHostPort(const std::string& text, std::string& host, uint16_t& port);

}  // namespace carerecord::app
