#include "http/oidc_routes.h"

#include <boost/url/parse_query.hpp>
#include <map>
#include <optional>

#include "access/roles.h"
#include "http/authorize_page.h"
#include "http/authorize_routes.h"

namespace carerecord::http {
namespace {

constexpr std::string_view kCookie = "carerecord_oidc";

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// The parameters of a query or form body, decoded ('+' as space); nullopt when malformed or a
// name is repeated (a repeated state or code is refused rather than guessed at).
std::optional<std::map<std::string, std::string>> ParseParams(std::string_view encoded) {
  std::string text;
  for (char c : encoded) {
    if (c == '+') {
      text += "%20";
    } else {
      text.push_back(c);
    }
  }
  std::map<std::string, std::string> params;
  if (text.empty()) return params;
  auto parsed = boost::urls::parse_query(text);
  if (!parsed) return std::nullopt;
  for (const auto& param : *parsed) {
    std::string key = param.key.decode();
    std::string value = param.has_value ? param.value.decode() : std::string();
    if (!params.emplace(std::move(key), std::move(value)).second) return std::nullopt;
  }
  return params;
}

std::string QueryOf(std::string_view target) {
  size_t question = target.find('?');
  return question == std::string_view::npos ? std::string()
                                            : std::string(target.substr(question + 1));
}

std::string CookieValue(const HttpRequest& request, std::string_view name) {
  for (const auto& [header, value] : request.headers) {
    if (header != "cookie") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      size_t end = rest.find(';');
      std::string_view pair = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
          pair[name.size()] == '=') {
        return std::string(pair.substr(name.size() + 1));
      }
    }
  }
  return {};
}

HttpResponse ErrorPage(int status, std::string_view message) {
  return IdpPage(status, "Sign-in failed",
                 "<h1>Sign-in failed</h1><p>" + HtmlEscape(message) +
                     "</p><p>Go back to the application and sign in again.</p>");
}

int StatusFor(const base::Error& error) {
  switch (error.code) {
    case base::ErrorCode::kUnavailable:
      return 502;
    case base::ErrorCode::kForbidden:
    case base::ErrorCode::kNotFound:
      return 403;
    case base::ErrorCode::kTooLarge:
      return 503;
    case base::ErrorCode::kInvalid:
      return 400;
    default:
      return 500;
  }
}

}  // namespace

HttpResponse IdpPage(int status, std::string_view title, std::string_view body_html) {
  HttpResponse response;
  response.status = status;
  SetPageHeaders(response, "");
  response.body =
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
      "content=\"width=device-width, initial-scale=1\"><title>" +
      HtmlEscape(title) +
      " - carerecord</title><style>body{font-family:Arial,sans-serif;max-width:36em;margin:2em "
      "auto;padding:0 1em;color:#212b32}button{background:#007f3b;color:#fff;border:0;padding:"
      ".6em 1.2em;font-size:1em}label{display:block;margin:.5em 0}</style></head><body>" +
      std::string(body_html) + "</body></html>\n";
  return response;
}

HttpResponse RedirectOrErrorPage(const base::Result<std::string>& location) {
  if (!location.ok()) {
    return ErrorPage(location.error().code == base::ErrorCode::kNotFound ? 400 : 503,
                     location.error().code == base::ErrorCode::kNotFound
                         ? "this sign-in request has expired or was used: start again from the app"
                         : location.error().message);
  }
  HttpResponse response = IdpPage(
      303, "Signed in", "<p><a href=\"" + HtmlEscape(location.value()) + "\">Continue</a></p>");
  response.SetHeader("Location", location.value());
  return response;
}

OidcRoutes::OidcRoutes(access::OidcRelyingParty& relying_party, access::Directory& directory,
                       FederatedSignInSink& sink, bool secure_cookie)
    : relying_party_(relying_party),
      directory_(directory),
      sink_(sink),
      secure_cookie_(secure_cookie) {}

bool OidcRoutes::Handles(const HttpRequest& request) {
  return PathOf(request.target).starts_with("/auth/oidc/");
}

HttpResponse OidcRoutes::Handle(const HttpRequest& request) const {
  const std::string_view path = PathOf(request.target);
  const bool get = request.method == "GET";
  if (path == "/auth/oidc/start" || path == "/auth/oidc/callback") {
    if (!get) {
      HttpResponse response = ErrorPage(405, "this page takes GET");
      response.SetHeader("Allow", "GET");
      return response;
    }
    if (path == "/auth/oidc/start") return Start(request);
    SignInEvent event;
    HttpResponse response = Callback(request, event);
    return Recorded(request, event, std::move(response));
  }
  if (path == "/auth/oidc/role") {
    if (request.method != "POST") {
      HttpResponse response = ErrorPage(405, "this page takes the role form's POST");
      response.SetHeader("Allow", "POST");
      return response;
    }
    SignInEvent event;
    HttpResponse response = ChooseRole(request, event);
    return Recorded(request, event, std::move(response));
  }
  return ErrorPage(404, "there is no such sign-in page");
}

HttpResponse OidcRoutes::Recorded(const HttpRequest& request, SignInEvent& event,
                                  HttpResponse response) const {
  if (audit_ == nullptr || event.reason.empty()) return response;
  event.status = response.status;
  // Signed in only when the app's request took the user (a 303 to it); a request that expired
  // meanwhile is a failure, though the user exists.
  event.succeeded = event.succeeded && response.status < 400;
  if (!event.succeeded && event.reason.rfind("regional IdP: signed in", 0) == 0) {
    event.reason += "; but the app's request could not take the sign-in";
  }
  event.user = event.user.substr(0, 200);
  event.reason = event.reason.substr(0, 600);
  if (!audit_->Append(AuditedSignIn(request, event)).ok()) {
    return ErrorPage(503,
                     "this sign-in could not be recorded in the audit log, so it is not "
                     "completed; try again shortly");
  }
  return response;
}

HttpResponse OidcRoutes::Start(const HttpRequest& request) const {
  auto params = ParseParams(QueryOf(request.target));
  if (!params) return ErrorPage(400, "the sign-in link is malformed");
  auto request_id = params->find("request");
  if (request_id == params->end() ||
      !sink_.Knows(request_id->second, CookieValue(request, kSignInCookie))) {
    return ErrorPage(400, "this sign-in request is unknown or has expired");
  }
  auto started = relying_party_.Start(request_id->second);
  if (!started.ok()) return ErrorPage(StatusFor(started.error()), started.error().message);
  HttpResponse response = IdpPage(
      303, "Signing in",
      "<p><a href=\"" + HtmlEscape(started->authorization_url) + "\">Continue to sign in</a></p>");
  response.SetHeader("Location", started->authorization_url);
  // Lax: the IdP's redirect back is a top-level GET from another site, which must carry it.
  response.SetHeader("Set-Cookie", std::string(kCookie) + "=" + started->browser_binding +
                                       "; Path=/auth/oidc; Max-Age=" +
                                       std::to_string(relying_party_.settings().state_ttl_seconds) +
                                       "; HttpOnly; SameSite=Lax" +
                                       (secure_cookie_ ? "; Secure" : ""));
  return response;
}

HttpResponse OidcRoutes::Callback(const HttpRequest& request, SignInEvent& event) const {
  // The entry's reason is the page's message (never the code or the state: the entry's path
  // has no query).
  auto fail = [&](int status, const std::string& message) {
    event.reason = "regional IdP: " + message;
    return ErrorPage(status, message);
  };
  auto params = ParseParams(QueryOf(request.target));
  if (!params) return fail(400, "the IdP's answer is malformed (or repeats a parameter)");
  if (auto error = params->find("error"); error != params->end()) {
    // Anyone can make this URL: only an OAuth error code is shown without a state of this
    // browser's own, and the IdP's description only with one.
    std::string code = error->second.substr(0, 64);
    if (code.empty() ||
        code.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos) {
      code = "an unknown error";
    }
    const std::string refused = "the identity provider refused the sign-in (" + code;
    if (auto state = params->find("state"); state != params->end()) {
      if (auto pending = relying_party_.Abandon(state->second, CookieValue(request, kCookie))) {
        std::string message = refused;
        if (auto description = params->find("error_description"); description != params->end()) {
          message += ": " + description->second.substr(0, 300);
        }
        event.reason = "regional IdP: " + message + ")";
        return sink_.Deny(*pending, message + ")");  // the app that asked is told
      }
    }
    return fail(403, refused + ")");
  }
  auto state = params->find("state");
  auto code = params->find("code");
  if (state == params->end() || code == params->end()) {
    return fail(400, "the IdP's answer has no state or no code");
  }
  auto identity =
      relying_party_.Callback(state->second, code->second, CookieValue(request, kCookie));
  if (!identity.ok()) return fail(StatusFor(identity.error()), identity.error().message);
  // Who: the carerecord username this IdP's subject has (or would have).
  event.user = access::FederatedUsername(identity->issuer, identity->subject);

  // Only the pairs whose organisation carerecord knows and has enabled can be chosen.
  std::vector<access::OidcRoleChoice> usable;
  std::string refused;
  for (const access::OidcRoleChoice& choice : identity->choices) {
    auto organisation = directory_.records().FindOrganisation(choice.ods_code);
    if (!organisation.ok()) return fail(503, "the directory cannot be read; try again");
    if (organisation.value() && organisation.value()->enabled) {
      usable.push_back(choice);
    } else {
      if (!refused.empty()) refused += ", ";
      refused += choice.ods_code + (organisation.value() ? " (disabled)" : " (unknown)");
    }
  }
  if (usable.empty()) {
    return fail(403, identity->choices.empty()
                         ? "the identity provider grants you no role that carerecord maps"
                         : "carerecord does not serve your organisation: " + refused);
  }
  identity->choices = std::move(usable);
  if (identity->choices.size() == 1) return Finish(*identity, event);

  const std::string display_name = identity->display_name;
  const std::vector<access::OidcRoleChoice> choices = identity->choices;
  auto held = relying_party_.HoldChoice(std::move(identity).value(), CookieValue(request, kCookie));
  if (!held.ok()) return fail(StatusFor(held.error()), held.error().message);
  event.user.clear();  // no outcome yet: the role form ends this sign-in
  std::string form = "<h1>Choose a role</h1><p>" + HtmlEscape(display_name) +
                     ", you hold several roles. Choose the one for this session.</p>"
                     "<form method=\"post\" action=\"/auth/oidc/role\">"
                     "<input type=\"hidden\" name=\"choice\" value=\"" +
                     HtmlEscape(held->choice) + "\"><input type=\"hidden\" name=\"csrf\" value=\"" +
                     HtmlEscape(held->csrf) + "\">";
  for (size_t i = 0; i < choices.size(); ++i) {
    form += "<label><input type=\"radio\" name=\"role\" value=\"" + std::to_string(i) + "\"" +
            (i == 0 ? " checked" : "") + "> " +
            HtmlEscape(std::string(access::RoleName(choices[i].role))) + " at " +
            HtmlEscape(choices[i].ods_code) + " (" + HtmlEscape(choices[i].role_code) + ")</label>";
  }
  form += "<button type=\"submit\">Continue</button></form>";
  return IdpPage(200, "Choose a role", form);
}

HttpResponse OidcRoutes::ChooseRole(const HttpRequest& request, SignInEvent& event) const {
  auto fail = [&](int status, const std::string& message) {
    event.reason = "regional IdP, role form: " + message;
    return ErrorPage(status, message);
  };
  if (!request.Header("content-type").starts_with("application/x-www-form-urlencoded")) {
    return fail(415, "the role form is sent as application/x-www-form-urlencoded");
  }
  auto params = ParseParams(request.body);
  if (!params) return fail(400, "the role form is malformed");
  auto choice = params->find("choice"), csrf = params->find("csrf"), role = params->find("role");
  if (choice == params->end() || csrf == params->end() || role == params->end()) {
    return fail(400, "the role form lacks choice, csrf or role");
  }
  size_t index = 0;
  if (role->second.empty() || role->second.size() > 3 ||
      role->second.find_first_not_of("0123456789") != std::string::npos) {
    return fail(400, "the role chosen is not one offered");
  }
  index = std::stoul(role->second);
  auto identity =
      relying_party_.TakeChoice(choice->second, csrf->second, CookieValue(request, kCookie), index);
  if (!identity.ok()) return fail(StatusFor(identity.error()), identity.error().message);
  event.user = access::FederatedUsername(identity->issuer, identity->subject);
  return Finish(*identity, event);
}

HttpResponse OidcRoutes::Finish(const access::OidcIdentity& identity, SignInEvent& event) const {
  const access::OidcRoleChoice& choice = identity.choices.front();
  access::FederatedSignIn who{identity.issuer, identity.subject, identity.display_name,
                              choice.ods_code, std::string(access::RoleName(choice.role))};
  event.organisation = choice.ods_code;
  event.role = std::string(access::RoleName(choice.role));
  auto user = directory_.SignInFederated(who);
  if (!user.ok()) {
    event.reason = "regional IdP: " + user.error().message;
    return ErrorPage(StatusFor(user.error()), user.error().message);
  }
  event.user = user.value().username;
  event.succeeded = true;
  event.reason = "regional IdP: signed in (" + identity.issuer + ")";
  FederatedSignInResult result{identity.pending_request, std::move(user).value(), choice.ods_code,
                               std::string(access::RoleName(choice.role))};
  return sink_.Complete(result);
}

}  // namespace carerecord::http
