// The server's RequestAuditLog over the AuditLog: each FHIR request's AuditedRequest becomes one
// durable entry. Thread-safe (as AuditLog::Append).
#pragma once

#include "access/request_audit.h"
#include "audit/audit_log.h"

namespace carerecord::audit {

// The entry a request makes: who from its AccessContext, what from its disclosures and writes.
AuditRecord RecordOfRequest(const access::AuditedRequest& request);

class AuditLogRequestSink final : public access::RequestAuditLog {
 public:
  explicit AuditLogRequestSink(AuditLog& log) : log_(log) {}
  base::Status Append(const access::AuditedRequest& request) override {
    auto appended = log_.Append(RecordOfRequest(request));
    return appended.ok() ? base::Status::Ok() : base::Status(appended.error());
  }
  void AppendThen(const access::AuditedRequest& request,
                  std::function<void(base::Status)> done) override {
    log_.AppendThen(RecordOfRequest(request),
                    [done = std::move(done)](const base::Result<int64_t>& appended) {
                      done(appended.ok() ? base::Status::Ok() : base::Status(appended.error()));
                    });
  }

 private:
  AuditLog& log_;
};

}  // namespace carerecord::audit
