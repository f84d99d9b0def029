// Sign-in events in the audit log: every sign-in through the token endpoint (client credentials
// by secret or private_key_jwt, authorization code, refresh) and the password form, successful or
// not, appends one entry (action `sign-in` or `sign-in-failed`) before its answer goes out: who
// tried (the username or client id as given when a user or client has it; a name or client id
// no one has as UnknownUserLabel/UnknownClientLabel; organisation and role when known), outcome,
// why, the caller's address, and the path without its query. Never a password, secret, assertion,
// code or token. Appends go to audit.db's own writer, never to the record's database.
// Pure functions over a thread-safe RequestAuditLog.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "access/directory.h"
#include "access/request_audit.h"
#include "http/http_message.h"

namespace carerecord::http {

struct SignInEvent {
  std::string user;    // as given (a user grant or the password form)
  std::string client;  // as given
  std::string organisation;
  std::string role;
  bool succeeded = false;
  std::string reason;  // why it failed, or how it succeeded ("client_credentials, ...")
  int status = 0;      // the HTTP status answered
};

// The name a failed password sign-in is recorded under when no user has the name given (a
// password typed into the username box must never be kept): "unknown user " and the first 12 hex
// digits of HMAC-SHA256 of the name, keyed by a secret kept in the directory's database
// (Directory::AuditLabelKey: "audit_unknown_user_key", made on first use, read once). The same
// name always gives the same label, so repeated attempts can be told apart and correlated, but
// the label does not reveal the name. Just "unknown user" when the key cannot be read.
std::string UnknownUserLabel(access::Directory& directory, std::string_view name);
// The same for a client id no client has, given at the token endpoint (a secret pasted into the
// client_id field must never be kept): "unknown client " and 12 hex digits.
std::string UnknownClientLabel(access::Directory& directory, std::string_view client_id);

// The entry of `event` for `request` (its method, path without query, caller's address).
access::AuditedRequest AuditedSignIn(const HttpRequest& request, const SignInEvent& event);

// Appends the event when there is a log; when it cannot be recorded, the answer to send instead
// (a 503: fail closed, as for every audited request).
std::optional<HttpResponse> RecordSignIn(access::RequestAuditLog* log, const HttpRequest& request,
                                         const SignInEvent& event);

}  // namespace carerecord::http
