// One audit entry per FHIR request, made durable before the answer's first byte. The gates of a
// request hand their disclosures to its RequestDisclosures (AccessContext::request_audit); when
// the answer is ready, http::FhirRoutes makes an AuditedRequest of them and of the request, and
// appends it to the RequestAuditLog, which returns only once the entry is durable. When it
// fails, the answer becomes a 503 with nothing of what was read (fail closed).
// RequestDisclosures is used by the threads of one request (locked); a RequestAuditLog by all.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "access/access_context.h"
#include "base/status.h"

namespace carerecord::access {

struct AuditedRequest {
  Disclosure disclosure;  // what the request's gates saw, merged; its `who` is the caller
  std::string action;     // read, search, create, update, delete, bundle, break-glass, ...
  std::vector<std::string> changed;  // "Type/id" the request wrote
  std::string reason;                // a break-glass or declared reason
  std::string outcome;               // "success", "refused", "failed"; "pending" for an intent
  std::string detail;                // e.g. "total 12" of a count, "intends create"
  int status = 0;                    // the HTTP status answered
  std::string method;
  std::string path;  // path and query as sent
};

class RequestAuditLog {
 public:
  virtual ~RequestAuditLog() = default;
  // Returns once the entry is durable; an error means it is not recorded.
  virtual base::Status Append(const AuditedRequest& request) = 0;
  // Queues the entry and returns; `done` runs once, on any thread, when the entry is durable
  // (ok) or could not be recorded (the error). `done` must not block. This default appends and
  // calls `done` before it returns.
  virtual void AppendThen(const AuditedRequest& request, std::function<void(base::Status)> done) {
    done(Append(request));
  }
};

// Gathers the disclosures of the gates of one request into one.
class RequestDisclosures final : public AuditSink {
 public:
  void Record(const Disclosure& disclosure) override {
    std::lock_guard lock(mutex_);
    seen_ = true;
    merged_.items += disclosure.items;
    merged_.withheld += disclosure.withheld;
    merged_.patients.insert(disclosure.patients.begin(), disclosure.patients.end());
    for (const std::string& resource : disclosure.resources) {
      if (merged_.resources.size() >= Disclosure::kAuditedResources) break;
      merged_.resources.push_back(resource);
    }
    if (!disclosure.purpose_of_use.empty() && merged_.purpose_of_use != "BTG") {
      merged_.purpose_of_use = disclosure.purpose_of_use;
    }
  }
  bool seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  Disclosure merged() const {
    std::lock_guard lock(mutex_);
    return merged_;
  }

 private:
  mutable std::mutex mutex_;
  bool seen_ = false;
  Disclosure merged_;
};

}  // namespace carerecord::access
