// The server's one outbound HTTP client: what the OIDC relying party (access/oidc_rp.h) fetches
// from the regional IdP. https with the certificate chain checked against the system's CA store
// (or a given CA file) and the host name checked against the certificate; http only to a loopback
// host (a test IdP). One request per connection, bounded in time and in response size.
// Thread-safe: each request has its own io_context and connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "access/oidc_rp.h"
#include "base/status.h"

namespace carerecord::http {

struct OutboundHttpsOptions {
  std::chrono::milliseconds timeout = std::chrono::seconds(10);  // connect, TLS, write, read each
  size_t max_response_bytes = 1 << 20;
  std::string ca_file;  // PEM CA certificates to trust instead of the system's; empty: system
};

class OutboundHttpsClient final : public access::OidcTransport {
 public:
  explicit OutboundHttpsClient(OutboundHttpsOptions options = {});

  base::Result<access::OidcHttpResponse> Get(const std::string& url) override;
  base::Result<access::OidcHttpResponse> PostForm(const std::string& url, const std::string& body,
                                                  const std::string& authorization) override;

 private:
  base::Result<access::OidcHttpResponse> Send(const std::string& method, const std::string& url,
                                              const std::string& body,
                                              const std::string& authorization);

  const OutboundHttpsOptions options_;
};

}  // namespace carerecord::http
