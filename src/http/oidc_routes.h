// The relying party's pages: GET /auth/oidc/start?request=ID (to the regional IdP),
// GET /auth/oidc/callback (back from it: the code checked and exchanged, the user and their
// (organisation, role) found) and POST /auth/oidc/role (the user's pick when the IdP grants
// several). The signed-in user is handed to a FederatedSignInSink: the authorization requests of
// the sign-in page complete the flow there. Every failure is an error page; the redirects are to
// the IdP's authorization endpoint from its discovery document and, through the sink, to the
// app's registered redirect URI. Thread-safe.
#pragma once

#include <openssl/crypto.h>

#include <string>
#include <string_view>

#include "access/directory.h"
#include "access/oidc_rp.h"
#include "http/http_message.h"
#include "http/sign_in_audit.h"
#include "store/identity_records.h"

namespace carerecord::http {

struct FederatedSignInResult {
  std::string pending_request;  // the carerecord authorization request the sign-in began from
  store::UserRecord user;       // the federated user, enabled
  std::string organisation;     // ODS code
  std::string role;
};

// Where a federated sign-in ends. Implementations are thread-safe.
class FederatedSignInSink {
 public:
  virtual ~FederatedSignInSink() = default;
  // Whether `pending_request` is a sign-in request still waiting and begun by the browser whose
  // sign-in cookie (kSignInCookie, empty when it sent none) is `browser_binding`;
  // /auth/oidc/start refuses any other (a link another site made cannot start a sign-in that
  // ends in a victim's browser).
  virtual bool Knows(std::string_view pending_request, std::string_view browser_binding) = 0;
  // The answer to the browser once the user is signed in (e.g. a redirect to the client).
  virtual HttpResponse Complete(const FederatedSignInResult& result) = 0;
  // The IdP refused or the user cancelled there: the answer to the browser (e.g. a redirect to
  // the client with access_denied). `description` is plain text.
  virtual HttpResponse Deny(std::string_view pending_request, std::string_view description) = 0;
};

// A 303 to `location`, or an error page for a failure: the answer of a sink whose hand-over
// yields the client's redirect URL.
HttpResponse RedirectOrErrorPage(const base::Result<std::string>& location);

// The sink of the sign-in page's pending authorization requests: `Pending` is the class with
// `Find(id) -> std::optional<...>`, `Complete(id, user, organisation, role)` and
// `Deny(id, error, description)`, both `-> base::Result<std::string>` (the client's redirect
// URL, built from its registered redirect URI). Thread-safe when Pending is.
template <typename Pending>
class PendingAuthorizationSink final : public FederatedSignInSink {
 public:
  explicit PendingAuthorizationSink(Pending& pending) : pending_(pending) {}
  bool Knows(std::string_view pending_request, std::string_view browser_binding) override {
    auto pending = pending_.Find(pending_request);
    return pending.has_value() && !browser_binding.empty() &&
           browser_binding.size() == pending->browser_binding.size() &&
           CRYPTO_memcmp(browser_binding.data(), pending->browser_binding.data(),
                         browser_binding.size()) == 0;
  }
  HttpResponse Complete(const FederatedSignInResult& result) override {
    return RedirectOrErrorPage(
        pending_.Complete(result.pending_request, result.user, result.organisation, result.role));
  }
  HttpResponse Deny(std::string_view pending_request, std::string_view description) override {
    return RedirectOrErrorPage(pending_.Deny(pending_request, "access_denied", description));
  }

 private:
  Pending& pending_;
};

// A page of the regional IdP's flow, with the sign-in pages' headers (SetPageHeaders).
HttpResponse IdpPage(int status, std::string_view title, std::string_view body_html);

class OidcRoutes {
 public:
  // `secure_cookie`: the server's own origin is https (the browser-binding cookie gets Secure).
  OidcRoutes(access::OidcRelyingParty& relying_party, access::Directory& directory,
             FederatedSignInSink& sink, bool secure_cookie);

  // Where sign-in events go (http/sign_in_audit.h): every answer of the callback and of the
  // role form that ends a sign-in, signed in or refused, appends one entry before it goes out
  // (a 503 page when it cannot be recorded). The callback's role choice page is no outcome yet.
  // Null (the default): not recorded. Set before serving.
  void RecordSignInsIn(access::RequestAuditLog* audit) { audit_ = audit; }

  static bool Handles(const HttpRequest& request);
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  HttpResponse Start(const HttpRequest& request) const;
  // The callback and the role form fill in `event` (its reason empty: no outcome yet).
  HttpResponse Callback(const HttpRequest& request, SignInEvent& event) const;
  HttpResponse ChooseRole(const HttpRequest& request, SignInEvent& event) const;
  // Signs the identity in with its one choice and hands it to the sink.
  HttpResponse Finish(const access::OidcIdentity& identity, SignInEvent& event) const;
  // `response`, once `event` (when it has an outcome) is recorded.
  HttpResponse Recorded(const HttpRequest& request, SignInEvent& event,
                        HttpResponse response) const;

  access::OidcRelyingParty& relying_party_;
  access::Directory& directory_;
  FederatedSignInSink& sink_;
  const bool secure_cookie_;
  access::RequestAuditLog* audit_ = nullptr;
};

}  // namespace carerecord::http
