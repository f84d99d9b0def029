// The HTML the authorize endpoint answers: the sign-in form (username, password, the pending
// request's id in a hidden field) and the error page shown when the app's client_id or
// redirect_uri cannot be trusted (RFC 6749 4.1.2.1: then nothing is redirected). Plain,
// accessible markup with no script, no external resources and every echoed value escaped; each
// response carries the headers that keep it out of frames and caches. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "http/http_message.h"

namespace carerecord::http {

struct SignInPage {
  std::string action;        // where the form posts: "/auth/authorize"
  std::string request_id;    // the pending authorization's id (hidden field `pending`)
  std::string client_name;   // "<name> asks you to sign in"
  std::string scope;         // what the app asked for, listed for the user
  std::string error;         // above the form, announced to screen readers; empty: none
  std::string username;      // filled in again after a failed attempt
  std::string redirect_uri;  // the form's POST ends in a redirect there (CSP form-action)
  // "Sign in with <label>" links to external_idp_url; empty label: no link.
  std::string external_idp_label;
  std::string external_idp_url;
};

// &, <, >, " and ' as character references.
std::string HtmlEscape(std::string_view text);

// The headers of every sign-in page (the form, its errors, the regional IdP's pages): HTML,
// no-store, a CSP that loads no script and lets forms post only here (and, when
// `redirect_uri` is given, hand the browser on to that app's origin), no framing, no referrer.
void SetPageHeaders(HttpResponse& response, std::string_view redirect_uri);

// 200 (or `status`) text/html with the sign-in form.
HttpResponse SignInPageResponse(const SignInPage& page, int status = 200);

// `status` text/html saying what was wrong, with no link or redirect to the app.
HttpResponse AuthorizeErrorPage(int status, std::string_view message);

}  // namespace carerecord::http
