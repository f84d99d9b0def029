#include "app/auth_stack.h"

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

  access::AccessTokenOptions token_options;
  token_options.issuer = endpoints->issuer;
  token_options.audience = endpoints->fhir_base;
  token_options.status_recheck_seconds = options.status_recheck_seconds;
  stack->tokens_ = std::make_unique<access::AccessTokens>(*stack->keys_, clock, token_options,
                                                          stack->status_.get());
  stack->assertions_ = std::make_unique<access::ClientAssertionVerifier>(clock);
  stack->routes_ = std::make_unique<http::AuthRoutes>(
      fhir,
      http::AuthServices{*stack->directory_, *stack->tokens_, *stack->assertions_, *stack->keys_},
      std::move(endpoints).value());
  return stack;
}

}  // namespace carerecord::app
