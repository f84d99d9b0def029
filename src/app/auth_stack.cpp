#include "app/auth_stack.h"

#include "app/directory_sync.h"

namespace carerecord::app {

AuthStack::~AuthStack() = default;

base::Result<std::unique_ptr<AuthStack>> AuthStack::Open(const AuthStackOptions& options,
                                                         const http::FhirRoutes& fhir) {
  if (options.token_ttl_seconds < 1 || options.token_ttl_seconds > access::kMaxTokenTtlSeconds) {
    return base::Invalid("the token lifetime must be 1 to " +
                             std::to_string(access::kMaxTokenTtlSeconds) + " seconds",
                         "--token-ttl");
  }
  auto endpoints = http::AuthEndpoints::FromFhirBase(options.fhir_base);
  if (!endpoints.ok()) return endpoints.error();
  std::unique_ptr<AuthStack> stack(new AuthStack());
  const access::WallClock& clock = options.clock ? *options.clock : stack->system_clock_;

  auto records = store::OpenSqliteIdentityRecords(options.data_dir.string());
  if (!records.ok()) return records.error();
  stack->records_ = std::move(records).value();
  stack->directory_ = std::make_unique<access::Directory>(*stack->records_, options.directory);
  stack->status_ = std::make_unique<access::DirectoryPrincipalStatus>(*stack->directory_);

  access::SigningKeyRing::Options key_options;
  key_options.data_dir = options.data_dir;
  key_options.token_ttl_seconds = options.token_ttl_seconds;
  auto keys = access::SigningKeyRing::Open(key_options, clock);
  if (!keys.ok()) return keys.error();
  stack->keys_ = std::move(keys).value();
  stack->revoked_sign_ins_ = std::make_unique<access::RevokedSignIns>(
      clock, options.token_ttl_seconds + access::kMaxClockLeewaySeconds);
  stack->revocation_status_ =
      std::make_unique<access::SignInRevocationStatus>(*stack->status_, *stack->revoked_sign_ins_);

  access::AccessTokenOptions token_options;
  token_options.issuer = endpoints->issuer;
  token_options.audience = endpoints->fhir_base;
  token_options.status_recheck_seconds = options.status_recheck_seconds;
  stack->tokens_ = std::make_unique<access::AccessTokens>(*stack->keys_, clock, token_options,
                                                          stack->revocation_status_.get());
  stack->assertions_ = std::make_unique<access::ClientAssertionVerifier>(clock);

  access::PendingAuthorizationOptions pending;
  pending.issuer = endpoints->issuer;
  // A staff user's fhirUser is the Practitioner the directory sync writes for them.
  pending.practitioner_of = [](const store::UserRecord& user) {
    return "Practitioner/" + PractitionerIdFor(user);
  };
  stack->authorizations_ = std::make_unique<access::PendingAuthorizations>(clock, pending);
  stack->launches_ =
      std::make_unique<access::LaunchContexts>(clock, access::LaunchContexts::Options{});
  auto refresh = store::OpenSqliteRefreshTokenRecords(options.data_dir.string());
  if (!refresh.ok()) return refresh.error();
  stack->refresh_tokens_ = std::move(refresh).value();
  // Expired refresh tokens are of no use to anyone; they go at each start.
  (void)stack->refresh_tokens_->DeleteExpired(clock.NowSeconds());

  http::AuthRouteOptions route_options;
  route_options.external_idp_label = options.external_idp_label;
  stack->routes_ = std::make_unique<http::AuthRoutes>(
      fhir,
      http::AuthServices{*stack->directory_, *stack->tokens_, *stack->assertions_, *stack->keys_,
                         clock, *stack->authorizations_, *stack->launches_, *stack->refresh_tokens_,
                         *stack->revoked_sign_ins_},
      std::move(endpoints).value(), std::move(route_options));
  return stack;
}

}  // namespace carerecord::app
