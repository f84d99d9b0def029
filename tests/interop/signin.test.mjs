// Interoperability of user sign-in: openid-client (a relying party no one here wrote) signs a
// user in to a public SMART app with the authorization code flow and PKCE, through the real
// sign-in form (fetched and posted as a browser would, the redirect read from its Location),
// checks the ID token, exchanges and refreshes; fhir-kit-client then reads and writes with the
// token. run.sh registers the public client and the user with the command line and passes
// CARERECORD_BASE, CARERECORD_APP_CLIENT_ID, CARERECORD_USER and CARERECORD_USER_PASSWORD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'fhir-kit-client';
import * as oidc from 'openid-client';

const baseUrl = process.env.CARERECORD_BASE;
assert.ok(baseUrl, 'CARERECORD_BASE must name the server, e.g. http://127.0.0.1:8080/fhir');
const issuer = new URL(baseUrl).origin;
const redirectUri = 'http://127.0.0.1:9/callback';  // never fetched: the Location is read

// A public client: it names itself by client_id and proves the code with PKCE.
const config = await oidc.discovery(
  new URL(issuer),
  process.env.CARERECORD_APP_CLIENT_ID,
  { id_token_signed_response_alg: 'ES256' },
  oidc.None(),
  { execute: [oidc.allowInsecureRequests] },
);

// What a browser does between the app's redirect and the app's callback: opens the sign-in
// page (keeping its cookie), fills in the form and posts it to the form's action.
async function signInThroughTheForm(authorizationUrl, username, password) {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  assert.equal(page.status, 200, await page.clone().text());
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0];
  const html = await page.text();
  const action = html.match(/<form method="post" action="([^"]*)">/)?.[1];
  assert.ok(action, 'the page has a form');
  const fields = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    fields.append(name, value);
  }
  assert.ok(html.includes('name="username"') && html.includes('name="password"'));
  fields.append('username', username);
  fields.append('password', password);
  return fetch(new URL(action, authorizationUrl), {
    method: 'POST',
    body: fields,
    headers: { cookie },
    redirect: 'manual',
  });
}

async function startSignIn(scope) {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    aud: baseUrl,
  });
  return { url, codeVerifier, state, nonce };
}

const user = process.env.CARERECORD_USER;
const password = process.env.CARERECORD_USER_PASSWORD;

test('authorization code + PKCE through the sign-in form, an ID token, a refresh, FHIR calls', async () => {
  const start = await startSignIn('openid fhirUser offline_access user/*.cruds');
  const answer = await signInThroughTheForm(start.url, user, password);
  assert.equal(answer.status, 302, await answer.text());
  const callback = new URL(answer.headers.get('location'));
  assert.equal(callback.origin + callback.pathname, redirectUri);

  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: start.codeVerifier,
    expectedState: start.state,
    expectedNonce: start.nonce,
    idTokenExpected: true,
  });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.scope, 'user/*.cruds openid fhirUser offline_access');
  const claims = tokens.claims();
  assert.equal(claims.iss, issuer);
  assert.equal(claims.sub, user);
  assert.equal(claims.aud, process.env.CARERECORD_APP_CLIENT_ID);
  assert.match(claims.fhirUser, new RegExp(`^${baseUrl}/Practitioner/`));
  assert.equal(tokens.fhirUser, claims.fhirUser);
  assert.ok(tokens.refresh_token);

  // fhir-kit-client with the user's token: write and read back.
  const fhir = new Client({ baseUrl, customHeaders: { Authorization: `Bearer ${tokens.access_token}` } });
  const created = await fhir.create({
    resourceType: 'Patient',
    // Managed by the user's organisation: the care relationship that opens the record to them.
    body: {
      resourceType: 'Patient',
      name: [{ family: 'Signin', given: ['Interop'] }],
      managingOrganization: {
        identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'INT01' },
      },
    },
  });
  const read = await fhir.read({ resourceType: 'Patient', id: created.id });
  assert.equal(read.name[0].family, 'Signin');

  // Rotation: a new refresh token each time, and the old one is refused after.
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.access_token);
  assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token);
  const reader = new Client({ baseUrl, customHeaders: { Authorization: `Bearer ${refreshed.access_token}` } });
  assert.equal((await reader.read({ resourceType: 'Patient', id: created.id })).id, created.id);
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), (error) => {
    assert.equal(error.error, 'invalid_grant');
    return true;
  });
});

test('a wrong password gets the form again; a bad redirect_uri gets a page, never a redirect', async () => {
  const start = await startSignIn('user/*.rs');
  const wrong = await signInThroughTheForm(start.url, user, 'not the password at all');
  assert.equal(wrong.status, 200);
  assert.match(await wrong.text(), /The username or password is wrong\./);

  const bad = new URL(start.url);
  bad.searchParams.set('redirect_uri', 'https://attacker.example/cb');
  const refused = await fetch(bad, { redirect: 'manual' });
  assert.equal(refused.status, 400);
  assert.equal(refused.headers.get('location'), null);
});

test('plain PKCE is refused at the app redirect URI with the state', async () => {
  const start = await startSignIn('user/*.rs');
  const plain = new URL(start.url);
  plain.searchParams.set('code_challenge_method', 'plain');
  const answer = await fetch(plain, { redirect: 'manual' });
  assert.equal(answer.status, 302);
  const location = new URL(answer.headers.get('location'));
  assert.equal(location.searchParams.get('error'), 'invalid_request');
  assert.equal(location.searchParams.get('state'), start.state);
});
