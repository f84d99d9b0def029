// A SMART app signs a user in to carerecord through the regional IdP, end to end, with two
// implementations no one here wrote: oidc-provider (npm), started here on loopback as the IdP
// (a client for carerecord, accounts whose ID tokens carry CIS2's nhsid_nrbac_roles), and
// openid-client as the app (a public client registered with the command line: PKCE S256, state,
// nonce; it checks the ID token and swaps the code). The browser is fetch with a cookie jar,
// redirects followed by hand: the app's /auth/authorize -> carerecord's sign-in page -> its
// "Sign in with" link (/auth/oidc/start, with the page's carerecord_signin cookie) -> the IdP's
// login and consent pages -> carerecord's callback (and role choice) -> the app's redirect URI
// with code and state. The tokens are then used on /fhir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Provider from 'oidc-provider';
import * as oidc from 'openid-client';

const bin = process.env.CARERECORD_BIN;
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'carerecord-oidc-'));
const clientSecret = crypto.randomBytes(24).toString('base64url');
const label = 'the regional IdP';
let idpServer, appServer, carerecord, idpUrl, recordUrl, fhirBase, redirectUri, appClientId, app;

const accounts = {
  ada: { name: 'Dr Ada Lovelace', roles: [['RDZ', 'S8000:G8000:R8000']] },
  grace: {
    name: 'Grace Hopper',
    roles: [['RDZ', 'S8000:G8000:R8000'], ['J12345', 'S8000:G8001:R8001'], ['RDZ', 'S8000:G8000:R9999']],
  },
  bob: { name: 'Bob Unknown', roles: [['X99', 'S8000:G8000:R8000']] },
};

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

function cli(...args) {
  return execFileSync(bin, [...args, '--data', data]).toString();
}

before(async () => {
  assert.ok(bin, 'CARERECORD_BIN names the carerecord binary');
  // The IdP's port first (its issuer is carerecord's option); its handler once carerecord's
  // callback URL (the client's redirect_uri) is known.
  let handler = (req, res) => { res.statusCode = 503; res.end(); };
  idpServer = http.createServer((req, res) => handler(req, res));
  idpUrl = `http://127.0.0.1:${await listen(idpServer)}`;
  // The app's redirect URI: a page that only says it was reached (the test reads the URL).
  appServer = http.createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end('app callback'); });
  redirectUri = `http://127.0.0.1:${await listen(appServer)}/cb`;

  for (const [ods, name, kind] of [['RDZ', 'Poole Hospital', 'hospital'], ['J12345', 'Quay Surgery', 'gp']]) {
    cli('orgs', 'add', '--ods', ods, '--name', name, '--kind', kind);
  }
  const registered = cli('clients', 'add', '--name', 'Ward app', '--org', 'RDZ', '--public',
    '--scope', 'openid fhirUser launch/patient user/*.rs offline_access', '--redirect-uri', redirectUri);
  appClientId = /^client_id=(\S+)$/m.exec(registered)[1];

  const secretFile = path.join(data, 'idp-secret');
  fs.writeFileSync(secretFile, clientSecret + '\n', { mode: 0o600 });
  carerecord = spawn(bin, ['serve', '--data', data, '--http', '127.0.0.1:0', '--no-fsync',
    '--oidc-issuer', idpUrl, '--oidc-client-id', 'carerecord',
    '--oidc-client-secret-file', secretFile, '--oidc-label', label],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    carerecord.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /^port (\d+)$/m.exec(out);
      if (match && /^sign-in through /m.test(out)) resolve(match[1]);
    });
    carerecord.on('exit', (code) => reject(new Error(`carerecord exited ${code}: ${out}`)));
  });
  recordUrl = `http://127.0.0.1:${port}`;
  fhirBase = `${recordUrl}/fhir`;

  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const provider = new Provider(idpUrl, {
    clients: [{
      client_id: 'carerecord',
      client_secret: clientSecret,
      redirect_uris: [`${recordUrl}/auth/oidc/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [{ ...rsa.export({ format: 'jwk' }), kid: 'idp-rsa-1', use: 'sig', alg: 'RS256' }] },
    claims: {
      openid: ['sub'],
      profile: ['name'],
      nhsid_nrbac_roles: ['nhsid_nrbac_roles'],
    },
    scopes: ['openid', 'profile', 'nhsid_nrbac_roles'],
    conformIdTokenClaims: false, // the role claim in the ID token, as CIS2 can put it
    pkce: { required: () => true },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    findAccount: async (ctx, id) => {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          name: account.name,
          nhsid_nrbac_roles: account.roles.map(([org_code, role_code]) => ({ org_code, role_code })),
        }),
      };
    },
  });
  handler = provider.callback();

  // The app: carerecord's discovery document, a public client (client_id and PKCE only).
  app = await oidc.discovery(new URL(recordUrl), appClientId, { id_token_signed_response_alg: 'ES256' },
    oidc.None(), { execute: [oidc.allowInsecureRequests] });
});

after(async () => {
  if (carerecord && carerecord.exitCode === null) {
    const exited = new Promise((resolve) => carerecord.on('exit', resolve));
    carerecord.kill('SIGTERM');
    await exited;
  }
  if (idpServer) idpServer.close();
  if (appServer) appServer.close();
  fs.rmSync(data, { recursive: true, force: true });
});

// A browser in miniature: one cookie jar (name -> {value, path}; like a browser's, not kept
// apart by port), redirects followed by hand.
class Browser {
  constructor() { this.cookies = new Map(); }
  cookieHeader(url) {
    const pathname = new URL(url).pathname;
    return [...this.cookies].filter(([, c]) => pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`).join('; ');
  }
  keep(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq), value = pair.slice(eq + 1);
      let cookiePath = '/';
      for (const a of attributes) if (/^path=/i.test(a)) cookiePath = a.slice(5);
      if (value === '' || attributes.some((a) => /^max-age=0$/i.test(a) || /^expires=thu, 01 jan 1970/i.test(a))) {
        this.cookies.delete(name);
      } else {
        this.cookies.set(name, { value, path: cookiePath });
      }
    }
  }
  // Requests `url`, then follows redirects; the final answer and its URL. `until`: stop, without
  // requesting it, at the first URL that starts with it.
  async go(url, init = {}, until = undefined) {
    for (let hops = 0; hops < 20; hops++) {
      if (until && url.startsWith(until)) return { url };
      const headers = { ...(init.headers || {}) };
      const cookie = this.cookieHeader(url);
      if (cookie) headers.cookie = cookie;
      const response = await fetch(url, { ...init, headers, redirect: 'manual' });
      this.keep(response);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        url = new URL(location, url).href;
        init = {};
        continue;
      }
      return { response, url, body: await response.text() };
    }
    throw new Error('too many redirects');
  }
  async submit(page, fields, until = undefined) {
    const action = /<form[^>]*action="([^"]+)"/.exec(page.body)[1].replaceAll('&amp;', '&');
    return this.go(new URL(action, page.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    }, until);
  }
}

function hidden(body, name) {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(body)[1];
}

// The app sends the browser to carerecord's authorize endpoint: the sign-in page, and what the
// app keeps to swap the code.
async function openSignInPage(browser, scope = 'openid fhirUser user/*.rs offline_access') {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(app, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    aud: fhirBase,
  });
  const page = await browser.go(url.href);
  assert.equal(page.response.status, 200, page.body);
  assert.ok(browser.cookies.has('carerecord_signin'), 'the sign-in page sets its cookie');
  const link = /<a href="([^"]*)">Sign in with ([^<]*)<\/a>/.exec(page.body);
  assert.ok(link, `the page links to the IdP: ${page.body}`);
  assert.equal(link[2], label);
  const startUrl = new URL(link[1].replaceAll('&amp;', '&'), page.url).href;
  assert.match(startUrl, new RegExp(`^${recordUrl}/auth/oidc/start\\?request=[A-Za-z0-9_-]+$`));
  return { startUrl, codeVerifier, state, nonce };
}

// Follows the page's "Sign in with" link, signs in and consents at the IdP; the answer carerecord
// ends with (followed to the app's redirect URI when it redirects there). `until` as in go().
async function signInAtTheIdp(browser, startUrl, login, until = undefined) {
  let page = await browser.go(startUrl);
  assert.ok(page.url.startsWith(idpUrl), `at the IdP: ${page.url} ${page.body.slice(0, 300)}`);
  assert.match(page.body, /name="login"/);
  page = await browser.submit(page, { prompt: 'login', login, password: 'any' }, until);
  if (page.body !== undefined && page.url.startsWith(idpUrl) && /name="prompt" value="consent"/.test(page.body)) {
    page = await browser.submit(page, { prompt: 'consent' }, until);
  }
  if (until) {
    assert.ok(page.url.startsWith(until), `stopped at ${until}: ${page.url}`);
  } else {
    assert.ok(page.url.startsWith(recordUrl) || page.url.startsWith(redirectUri),
      `back at carerecord or the app: ${page.url} ${(page.body || '').slice(0, 500)}`);
  }
  return page;
}

// The app's end: the code at its redirect URI swapped with the verifier, the ID token checked
// (signature, iss, aud, nonce) by openid-client.
async function exchange(sign, page) {
  assert.ok(page.url.startsWith(`${redirectUri}?`), `at the app: ${page.url} ${(page.body || '').slice(0, 300)}`);
  assert.equal(page.body, 'app callback');
  const tokens = await oidc.authorizationCodeGrant(app, new URL(page.url), {
    pkceCodeVerifier: sign.codeVerifier,
    expectedState: sign.state,
    expectedNonce: sign.nonce,
    idTokenExpected: true,
  });
  return tokens;
}

function payload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

async function fhirGet(token, relative) {
  const response = await fetch(`${fhirBase}/${relative}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
  });
  return { status: response.status, body: await response.json() };
}

// The directory sync writes a new user's Practitioner within about a second of the sign-in
// that made them: asks until it is there (or 10 s have gone, a failure).
async function readOnceWritten(token, relative) {
  for (let i = 0; i < 100; i++) {
    const answer = await fhirGet(token, relative);
    if (answer.status !== 404) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return fhirGet(token, relative);
}

const fedUser = /^fed-[0-9a-f]{24}$/;

test('one CIS2 role: the app gets a code, the tokens name the federated Practitioner, FHIR reads work', async () => {
  const browser = new Browser();
  const sign = await openSignInPage(browser);
  const page = await signInAtTheIdp(browser, sign.startUrl, 'ada');
  const callback = new URL(page.url);
  assert.equal(callback.searchParams.get('state'), sign.state);
  assert.equal(callback.searchParams.get('iss'), recordUrl);
  const tokens = await exchange(sign, page);

  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.scope, 'user/*.rs openid fhirUser offline_access');
  const id = tokens.claims();
  assert.equal(id.iss, recordUrl);
  assert.equal(id.aud, appClientId);
  assert.match(id.sub, fedUser);
  const practitioner = new RegExp(`^${fhirBase}/Practitioner/(carerecord-user-\\d+)$`).exec(id.fhirUser);
  assert.ok(practitioner, id.fhirUser);
  assert.equal(tokens.fhirUser, id.fhirUser);
  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');

  const access = payload(tokens.access_token);
  assert.equal(access.iss, recordUrl);
  assert.equal(access.aud, fhirBase);
  assert.equal(access.sub, id.sub);
  assert.equal(access.client_id, appClientId);
  assert.equal(access.principal, 'user');
  assert.equal(access.org, 'RDZ');
  assert.equal(access.role, 'clinician');
  assert.equal(access.fhirUser, `Practitioner/${practitioner[1]}`);
  assert.equal(access.scope, tokens.scope);
  assert.ok(access.sid, 'the access token names its sign-in');

  // The user's own Practitioner, written by the directory sync, read with the user's token.
  const read = await readOnceWritten(tokens.access_token, `Practitioner/${practitioner[1]}`);
  assert.equal(read.status, 200, JSON.stringify(read.body));
  assert.equal(read.body.name[0].text, 'Dr Ada Lovelace');
  const roles = await fhirGet(tokens.access_token, `PractitionerRole?practitioner=Practitioner/${practitioner[1]}`);
  assert.equal(roles.status, 200, JSON.stringify(roles.body));
  assert.equal(roles.body.entry.length, 1);
  assert.equal(roles.body.entry[0].resource.code[0].text, 'clinician');
  assert.equal(roles.body.entry[0].resource.organization.display, 'Poole Hospital');
  const unauthenticated = await fetch(`${fhirBase}/Practitioner/${practitioner[1]}`);
  assert.equal(unauthenticated.status, 401);

  // The refresh token works for a federated user as for anyone.
  const refreshed = await oidc.refreshTokenGrant(app, tokens.refresh_token);
  assert.equal(payload(refreshed.access_token).sub, id.sub);
  assert.equal((await fhirGet(refreshed.access_token, `Practitioner/${practitioner[1]}`)).status, 200);
});

test('several roles: the user picks one and the token carries that organisation and role', async () => {
  const browser = new Browser();
  const sign = await openSignInPage(browser);
  const page = await signInAtTheIdp(browser, sign.startUrl, 'grace');
  assert.equal(page.response.status, 200, page.body);
  assert.ok(page.url.startsWith(`${recordUrl}/auth/oidc/callback`), page.url);
  assert.match(page.body, /Choose a role/);
  assert.match(page.body, /clinician at RDZ/);
  assert.match(page.body, /nurse at J12345/);
  assert.doesNotMatch(page.body, /R9999/); // an unmapped code is not offered
  const done = await browser.submit(page, {
    choice: hidden(page.body, 'choice'), csrf: hidden(page.body, 'csrf'), role: '1',
  });
  const tokens = await exchange(sign, done);
  const access = payload(tokens.access_token);
  assert.equal(access.org, 'J12345');
  assert.equal(access.role, 'nurse');
  assert.match(access.sub, fedUser);
  assert.match(tokens.claims().fhirUser, new RegExp(`^${fhirBase}/Practitioner/carerecord-user-\\d+$`));
  assert.equal((await fhirGet(tokens.access_token, 'metadata')).status, 200);
  const search = await fhirGet(tokens.access_token, 'Organization?identifier=J12345');
  assert.equal(search.status, 200, JSON.stringify(search.body));
  assert.equal(search.body.resourceType, 'Bundle');
  assert.deepEqual(search.body.entry.map((e) => e.resource.name), ['Quay Surgery']);
});

test('an organisation carerecord does not serve is refused by name, and the app gets no code', async () => {
  const browser = new Browser();
  const sign = await openSignInPage(browser);
  const page = await signInAtTheIdp(browser, sign.startUrl, 'bob');
  assert.ok(page.url.startsWith(`${recordUrl}/auth/oidc/callback`), page.url);
  assert.equal(page.response.status, 403);
  assert.match(page.body, /does not serve your organisation: X99 \(unknown\)/);
});

test('the federated users are in the directory, listed as federated', () => {
  const list = cli('users', 'list');
  const lines = list.trim().split('\n').filter((l) => l.includes('federated'));
  assert.equal(lines.length, 2, list);
  assert.match(list, /fed-[0-9a-f]{24}\tclinician\tRDZ\tenabled,federated\tPractitioner\/\S+\tDr Ada Lovelace/);
  assert.match(list, /fed-[0-9a-f]{24}\tnurse\tJ12345\tenabled,federated\t/);
});

test('a federated user disabled with the command line cannot sign in again until enabled', async () => {
  const list = cli('users', 'list');
  const username = /^(fed-[0-9a-f]{24})\tclinician\tRDZ\t/m.exec(list)[1];
  cli('users', 'disable', '--username', username);
  let browser = new Browser();
  let sign = await openSignInPage(browser);
  const page = await signInAtTheIdp(browser, sign.startUrl, 'ada');
  assert.equal(page.response.status, 403, page.body);
  assert.ok(page.url.startsWith(`${recordUrl}/auth/oidc/callback`), page.url);
  assert.match(page.body, new RegExp(`user ${username} is disabled`));

  cli('users', 'enable', '--username', username);
  browser = new Browser();
  sign = await openSignInPage(browser);
  const tokens = await exchange(sign, await signInAtTheIdp(browser, sign.startUrl, 'ada'));
  assert.equal(payload(tokens.access_token).sub, username);
});

test('a user who cancels at the IdP goes back to the app with access_denied and its state', async () => {
  const browser = new Browser();
  const sign = await openSignInPage(browser);
  const page = await browser.go(sign.startUrl);
  assert.ok(page.url.startsWith(idpUrl), page.url);
  const abort = /href="([^"]*\/abort)"/.exec(page.body);
  assert.ok(abort, page.body.slice(0, 500));
  const answer = await browser.go(new URL(abort[1].replaceAll('&amp;', '&'), page.url).href);
  assert.ok(answer.url.startsWith(`${redirectUri}?`), answer.url);
  const back = new URL(answer.url);
  assert.equal(back.searchParams.get('error'), 'access_denied');
  assert.equal(back.searchParams.get('state'), sign.state);
  assert.equal(back.searchParams.get('iss'), recordUrl);
  assert.match(back.searchParams.get('error_description'), /End-User aborted interaction/);
  assert.equal(back.searchParams.get('code'), null);
  // openid-client, as the app, reads it as the authorization server's refusal.
  await assert.rejects(oidc.authorizationCodeGrant(app, back, {
    pkceCodeVerifier: sign.codeVerifier, expectedState: sign.state, expectedNonce: sign.nonce,
  }), (error) => {
    assert.equal(error.error, 'access_denied');
    return true;
  });
});

test('a callback replayed with the same state is refused', async () => {
  const browser = new Browser();
  const sign = await openSignInPage(browser);
  // Stop at carerecord's callback this time, to bring it twice.
  const stop = await signInAtTheIdp(browser, sign.startUrl, 'ada', `${recordUrl}/auth/oidc/callback`);
  const first = await browser.go(stop.url);
  await exchange(sign, first);
  const second = await browser.go(stop.url);
  assert.ok(second.url.startsWith(`${recordUrl}/auth/oidc/callback`), second.url);
  assert.equal(second.response.status, 400);
  assert.match(second.body, /unknown, already used or expired/);
});

test('the IdP link is refused from a browser without the sign-in page\'s cookie', async () => {
  const victim = new Browser();
  const sign = await openSignInPage(victim);
  // Another browser (no cookie, or the cookie of a sign-in page of its own) following the link.
  const stranger = new Browser();
  const refused = async () => {
    const page = await stranger.go(sign.startUrl);
    assert.equal(page.url, sign.startUrl, 'not sent to the IdP');
    assert.equal(page.response.status, 400);
    assert.match(page.body, /this sign-in request is unknown or has expired/);
    assert.ok(!stranger.cookies.has('carerecord_oidc'));
  };
  await refused();
  await openSignInPage(stranger);
  assert.ok(stranger.cookies.has('carerecord_signin'));
  assert.notEqual(stranger.cookies.get('carerecord_signin').value, victim.cookies.get('carerecord_signin').value);
  await refused();
  // The browser that opened the page still can.
  const tokens = await exchange(sign, await signInAtTheIdp(victim, sign.startUrl, 'ada'));
  assert.equal(payload(tokens.access_token).org, 'RDZ');
});
