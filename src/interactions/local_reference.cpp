#include "interactions/local_reference.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <vector>

namespace carerecord::interactions {
namespace {

namespace urls = boost::urls;

// The parts of an http(s) URL that decide which server and which path it names.
struct Origin {
  std::string host;  // lower case
  int port = 0;      // the scheme's default when none is given; -1 when not a port
  bool https = false;
  std::vector<std::string> segments;  // decoded, dot segments removed
};

int PortOf(const urls::url_view& url, bool https) {
  std::string_view text = url.port();
  while (!text.empty() && text.front() == '0') text.remove_prefix(1);
  if (!url.has_port() || url.port().empty()) return https ? 443 : 80;
  if (text.size() > 5) return -1;
  int port = 0;
  for (char c : text) port = port * 10 + (c - '0');
  return port <= 65535 ? port : -1;
}

std::optional<Origin> OriginOf(const urls::url_view& view) {
  const bool https = view.scheme_id() == urls::scheme::https;
  if (!https && view.scheme_id() != urls::scheme::http) return std::nullopt;
  urls::url normalized(view);
  normalized.normalize();  // scheme and host case, escapes of unreserved characters, dot segments
  Origin origin;
  origin.https = https;
  origin.host = normalized.host();
  for (char& c : origin.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  origin.port = PortOf(view, https);
  for (auto segment : normalized.segments()) origin.segments.push_back(segment);
  return origin;
}

// `url` with a trailing dot of its host (the DNS root: "127.0.0.1." is 127.0.0.1) removed.
// Done on the text because Boost.URL 1.81 reads "http://127.0.0.1.:80/x" as the IPv4 host
// 127.0.0.1 followed by the path ".:80/x".
std::string WithoutHostTrailingDot(std::string_view url) {
  std::string out(url);
  const size_t scheme_end = out.find("://");
  if (scheme_end == std::string::npos) return out;
  const size_t start = scheme_end + 3;
  size_t end = out.find_first_of("/?#", start);
  if (end == std::string::npos) end = out.size();
  const size_t at = out.rfind('@', end);
  const size_t host_start = at == std::string::npos || at < start ? start : at + 1;
  if (host_start < end && out[host_start] == '[') return out;  // an IPv6 literal has no dot
  size_t host_end = out.find(':', host_start);
  if (host_end == std::string::npos || host_end > end) host_end = end;
  if (host_end > host_start + 1 && out[host_end - 1] == '.') out.erase(host_end - 1, 1);
  return out;
}

}  // namespace

base::Result<std::optional<std::string>> LocalPathOf(std::string_view url,
                                                     std::string_view base_url) {
  const std::string text = WithoutHostTrailingDot(url);
  auto parsed = urls::parse_uri(text);
  if (!parsed) return std::optional<std::string>();  // not a URL this server could serve
  const urls::url_view& view = *parsed;
  if (!view.encoded_path().empty() && view.encoded_path().front() != '/') {
    return std::optional<std::string>();  // misread (see WithoutHostTrailingDot): not ours
  }
  if (view.scheme_id() != urls::scheme::http && view.scheme_id() != urls::scheme::https) {
    return std::optional<std::string>();
  }
  if (view.has_userinfo()) {
    return base::Invalid("the reference " + std::string(url) +
                         " carries user information before its host; a reference names a "
                         "resource, never a login");
  }
  for (auto segment : view.encoded_segments()) {
    if (segment.empty()) {
      return base::Invalid("the reference " + std::string(url) +
                           " has an empty path segment ('//'); write the resource's URL plainly");
    }
  }
  const std::string base_text = WithoutHostTrailingDot(base_url);
  auto base_view = urls::parse_uri(base_text);
  if (!base_view) return std::optional<std::string>();
  auto origin = OriginOf(*parsed);
  auto base = OriginOf(*base_view);
  if (!origin || !base || origin->https != base->https || origin->host != base->host ||
      origin->port != base->port || origin->port < 0) {
    return std::optional<std::string>();
  }
  std::vector<std::string> base_segments = base->segments;
  if (!base_segments.empty() && base_segments.back().empty()) base_segments.pop_back();
  if (origin->segments.size() <= base_segments.size() ||
      !std::equal(base_segments.begin(), base_segments.end(), origin->segments.begin())) {
    return std::optional<std::string>();
  }
  std::string relative;
  for (size_t i = base_segments.size(); i < origin->segments.size(); ++i) {
    if (!relative.empty()) relative += '/';
    relative += origin->segments[i];
  }
  if (view.has_query()) relative += "?" + std::string(view.encoded_query());
  if (view.has_fragment()) relative += "#" + std::string(view.encoded_fragment());
  return std::optional<std::string>(std::move(relative));
}

}  // namespace carerecord::interactions
