#include "http/authorize_page.h"

#include <boost/url/parse.hpp>

namespace carerecord::http {

namespace {

// The origin ("https://app.example.org") of a URL, for CSP; empty when it has none.
std::string OriginOf(std::string_view uri) {
  auto url = boost::urls::parse_absolute_uri(uri);
  if (!url || !url->has_authority()) return {};
  return std::string(url->scheme()) + "://" + std::string(url->encoded_host_and_port());
}

constexpr std::string_view kHead = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>)";

constexpr std::string_view kStyle = R"(<style>
body{font-family:Arial,sans-serif;max-width:30em;margin:2em auto;padding:0 1em;line-height:1.5}
label{display:block;font-weight:bold;margin-top:1em}
input{font-size:1em;padding:.4em;width:100%;box-sizing:border-box}
button{font-size:1em;padding:.5em 1.5em;margin-top:1.5em}
.error{border-left:.3em solid #d5281b;padding-left:.8em;color:#d5281b}
</style>
</head>
<body>
<main>
)";

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

void SetPageHeaders(HttpResponse& response, std::string_view redirect_uri) {
  response.SetHeader("Content-Type", "text/html; charset=utf-8");
  // Nothing loads but the inline style; the form posts only here, and browsers also hold a
  // form's redirect to form-action, so the app's origin is allowed as the code's destination.
  std::string form_action = "'self'";
  if (std::string origin = OriginOf(redirect_uri); !origin.empty()) form_action += " " + origin;
  response.SetHeader("Content-Security-Policy",
                     "default-src 'none'; style-src 'unsafe-inline'; form-action " + form_action +
                         "; frame-ancestors 'none'; base-uri 'none'");
  response.SetHeader("X-Frame-Options", "DENY");
  response.SetHeader("X-Content-Type-Options", "nosniff");
  response.SetHeader("Referrer-Policy", "no-referrer");
  response.SetHeader("Cache-Control", "no-store");
  response.SetHeader("Pragma", "no-cache");
}

HttpResponse SignInPageResponse(const SignInPage& page, int status) {
  std::string html(kHead);
  html += "Sign in - carerecord</title>\n";
  html += kStyle;
  html += "<h1>Sign in to carerecord</h1>\n";
  html += "<p><strong>" + HtmlEscape(page.client_name) +
          "</strong> asks you to sign in. It will be able to use your access to the shared care "
          "record within: <code>" +
          HtmlEscape(page.scope) + "</code>.</p>\n";
  if (!page.error.empty()) {
    html += "<p class=\"error\" role=\"alert\" id=\"sign-in-error\">" + HtmlEscape(page.error) +
            "</p>\n";
  }
  html += "<form method=\"post\" action=\"" + HtmlEscape(page.action) + "\">\n";
  html +=
      "<input type=\"hidden\" name=\"pending\" value=\"" + HtmlEscape(page.request_id) + "\">\n";
  const std::string described = page.error.empty() ? "" : " aria-describedby=\"sign-in-error\"";
  html += "<label for=\"username\">Username</label>\n";
  html +=
      "<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" "
      "autocapitalize=\"none\" spellcheck=\"false\" required value=\"" +
      HtmlEscape(page.username) + "\"" + described + ">\n";
  html += "<label for=\"password\">Password</label>\n";
  html +=
      "<input id=\"password\" name=\"password\" type=\"password\" "
      "autocomplete=\"current-password\" required" +
      described + ">\n";
  html += "<button type=\"submit\">Sign in</button>\n</form>\n";
  if (!page.external_idp_label.empty()) {
    html += "<p><a href=\"" + HtmlEscape(page.external_idp_url) + "\">Sign in with " +
            HtmlEscape(page.external_idp_label) + "</a></p>\n";
  }
  html += "</main>\n</body>\n</html>\n";
  HttpResponse response;
  response.status = status;
  response.body = std::move(html);
  SetPageHeaders(response, page.redirect_uri);
  return response;
}

HttpResponse AuthorizeErrorPage(int status, std::string_view message) {
  std::string html(kHead);
  html += "Sign-in error - carerecord</title>\n";
  html += kStyle;
  html += "<h1>This app cannot sign you in</h1>\n";
  html += "<p class=\"error\" role=\"alert\">" + HtmlEscape(message) + "</p>\n";
  html += "<p>Nothing was sent back to the app. Tell whoever looks after it.</p>\n";
  html += "</main>\n</body>\n</html>\n";
  HttpResponse response;
  response.status = status;
  response.body = std::move(html);
  SetPageHeaders(response, "");
  return response;
}

}  // namespace carerecord::http
