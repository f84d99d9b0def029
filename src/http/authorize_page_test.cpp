// The sign-in page's markup: escaped values, the regional IdP's link only when one is named,
// and the error announced to screen readers.
#include "http/authorize_page.h"

#include <gtest/gtest.h>

namespace carerecord::http {
namespace {

SignInPage Page() {
  SignInPage page;
  page.action = "/auth/authorize";
  page.request_id = "abc_123";
  page.client_name = "Ward app";
  page.scope = "user/*.rs";
  page.redirect_uri = "https://app.example:8443/cb";
  return page;
}

TEST(AuthorizePage, TheRegionalIdpLinkAppearsOnlyWhenConfigured) {
  EXPECT_EQ(SignInPageResponse(Page()).body.find("/auth/oidc/start"), std::string::npos);
  SignInPage page = Page();
  page.external_idp_label = "NHS <CIS2>";
  page.external_idp_url = "/auth/oidc/start?request=abc_123";
  const std::string body = SignInPageResponse(page).body;
  EXPECT_NE(
      body.find("<a href=\"/auth/oidc/start?request=abc_123\">Sign in with NHS &lt;CIS2&gt;</a>"),
      std::string::npos)
      << body;
}

TEST(AuthorizePage, AnErrorIsAnnouncedAndTiedToTheFields) {
  SignInPage page = Page();
  page.error = "The username or password is wrong.";
  page.username = "dr.\"jones\"";
  HttpResponse response = SignInPageResponse(page);
  EXPECT_NE(response.body.find("role=\"alert\" id=\"sign-in-error\""), std::string::npos);
  EXPECT_NE(response.body.find("aria-describedby=\"sign-in-error\""), std::string::npos);
  EXPECT_NE(response.body.find("value=\"dr.&quot;jones&quot;\""), std::string::npos);
  EXPECT_NE(response.Header("content-security-policy")
                .find("form-action 'self' https://app.example:8443"),
            std::string::npos);
}

TEST(AuthorizePage, HtmlEscapeCoversEveryCharacterThatEndsAValueOrTag) {
  EXPECT_EQ(HtmlEscape(R"(<a href="x" onclick='y'>&</a>)"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
}

}  // namespace
}  // namespace carerecord::http
