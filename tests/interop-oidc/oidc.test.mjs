// carerecord as a relying party of a real OpenID provider: oidc-provider (npm), started here on
// loopback as the regional IdP, with a client for carerecord and accounts whose ID tokens carry
// CIS2's nhsid_nrbac_roles. The browser's steps are driven with fetch (redirects followed by
// hand, cookies kept per name and path): carerecord's /auth/oidc/start -> the IdP's login and
// consent pages -> carerecord's callback (and role choice) -> the signed-in page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Provider from 'oidc-provider';

const bin = process.env.CARERECORD_BIN;
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'carerecord-oidc-'));
const clientSecret = crypto.randomBytes(24).toString('base64url');
let idpServer, carerecord, idpUrl, recordUrl;

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

before(async () => {
  assert.ok(bin, 'CARERECORD_BIN names the carerecord binary');
  // The IdP's port first (its issuer is carerecord's option); its handler once carerecord's
  // callback URL (the client's redirect_uri) is known.
  let handler = (req, res) => { res.statusCode = 503; res.end(); };
  idpServer = http.createServer((req, res) => handler(req, res));
  idpUrl = `http://127.0.0.1:${await listen(idpServer)}`;

  for (const [ods, name, kind] of [['RDZ', 'Poole Hospital', 'hospital'], ['J12345', 'Quay Surgery', 'gp']]) {
    execFileSync(bin, ['orgs', 'add', '--data', data, '--ods', ods, '--name', name, '--kind', kind]);
  }
  const secretFile = path.join(data, 'idp-secret');
  fs.writeFileSync(secretFile, clientSecret + '\n', { mode: 0o600 });
  carerecord = spawn(bin, ['serve', '--data', data, '--http', '127.0.0.1:0', '--no-fsync',
    '--oidc-issuer', idpUrl, '--oidc-client-id', 'carerecord',
    '--oidc-client-secret-file', secretFile, '--oidc-label', 'Sign in with the regional IdP'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    carerecord.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /^port (\d+)$/m.exec(out);
      if (match && /^token endpoint /m.test(out)) resolve(match[1]);
    });
    carerecord.on('exit', (code) => reject(new Error(`carerecord exited ${code}: ${out}`)));
  });
  recordUrl = `http://127.0.0.1:${port}`;

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
});

after(async () => {
  if (carerecord && carerecord.exitCode === null) {
    const exited = new Promise((resolve) => carerecord.on('exit', resolve));
    carerecord.kill('SIGTERM');
    await exited;
  }
  if (idpServer) idpServer.close();
  fs.rmSync(data, { recursive: true, force: true });
});

// A browser in miniature: one cookie jar (name -> {value, path}), redirects followed by hand.
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
  // Requests `url`, then follows redirects; the final answer and its URL.
  async go(url, init = {}) {
    for (let hops = 0; hops < 20; hops++) {
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
  async submit(page, fields) {
    const action = /<form[^>]*action="([^"]+)"/.exec(page.body)[1].replaceAll('&amp;', '&');
    return this.go(new URL(action, page.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

function hidden(body, name) {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(body)[1];
}

// Start at carerecord, sign in and consent at the IdP: the page carerecord answers with.
async function signIn(browser, login, request) {
  let page = await browser.go(`${recordUrl}/auth/oidc/start?request=${request}`);
  assert.ok(page.url.startsWith(idpUrl), `at the IdP: ${page.url} ${page.body.slice(0, 300)}`);
  assert.match(page.body, /name="login"/);
  page = await browser.submit(page, { prompt: 'login', login, password: 'any' });
  if (page.url.startsWith(idpUrl) && /name="prompt" value="consent"/.test(page.body)) {
    page = await browser.submit(page, { prompt: 'consent' });
  }
  assert.ok(page.url.startsWith(recordUrl), `back at carerecord: ${page.url} ${page.body.slice(0, 500)}`);
  return page;
}

test('a user with one CIS2 role is signed in with its organisation and role', async () => {
  const page = await signIn(new Browser(), 'ada', 'req-ada');
  assert.equal(page.response.status, 200, page.body);
  assert.match(page.body, /signed in as Dr Ada Lovelace \(fed-[0-9a-f]{24}\) organisation RDZ role clinician request req-ada/);
  assert.equal(page.response.headers.get('x-frame-options'), 'DENY');
});

test('a user with several roles picks one on a form', async () => {
  const browser = new Browser();
  const page = await signIn(browser, 'grace', 'req-grace');
  assert.equal(page.response.status, 200, page.body);
  assert.match(page.body, /Choose a role/);
  assert.match(page.body, /nurse at J12345/);
  assert.doesNotMatch(page.body, /R9999/); // an unmapped code is not offered
  const done = await browser.submit(page, {
    choice: hidden(page.body, 'choice'), csrf: hidden(page.body, 'csrf'), role: '1',
  });
  assert.equal(done.response.status, 200, done.body);
  assert.match(done.body, /signed in as Grace Hopper \(fed-[0-9a-f]{24}\) organisation J12345 role nurse/);
});

test('an organisation carerecord does not serve is refused by name', async () => {
  const page = await signIn(new Browser(), 'bob', 'req-bob');
  assert.equal(page.response.status, 403);
  assert.match(page.body, /does not serve your organisation: X99 \(unknown\)/);
});

test('the federated users are in the directory, listed as federated', () => {
  const list = execFileSync(bin, ['users', 'list', '--data', data]).toString();
  const lines = list.trim().split('\n').filter((l) => l.includes('federated'));
  assert.equal(lines.length, 2, list);
  assert.match(list, /fed-[0-9a-f]{24}\tclinician\tRDZ\tenabled,federated\tPractitioner\/\S+\tDr Ada Lovelace/);
  assert.match(list, /fed-[0-9a-f]{24}\tnurse\tJ12345\tenabled,federated\t/);
});

test('a federated user disabled with the command line cannot sign in again', async () => {
  const list = execFileSync(bin, ['users', 'list', '--data', data]).toString();
  const username = /^(fed-[0-9a-f]{24})\tclinician\tRDZ\t/m.exec(list)[1];
  execFileSync(bin, ['users', 'disable', '--data', data, '--username', username]);
  const page = await signIn(new Browser(), 'ada', 'req-ada-again');
  assert.equal(page.response.status, 403, page.body);
  assert.match(page.body, new RegExp(`user ${username} is disabled`));
  execFileSync(bin, ['users', 'enable', '--data', data, '--username', username]);
  const again = await signIn(new Browser(), 'ada', 'req-ada-enabled');
  assert.equal(again.response.status, 200, again.body);
});

test('a user who cancels at the IdP is told so by carerecord', async () => {
  const browser = new Browser();
  const page = await browser.go(`${recordUrl}/auth/oidc/start?request=req-cancel`);
  const abort = /href="([^"]*\/abort)"/.exec(page.body);
  assert.ok(abort, page.body.slice(0, 500));
  const answer = await browser.go(new URL(abort[1].replaceAll('&amp;', '&'), page.url).href);
  assert.ok(answer.url.startsWith(`${recordUrl}/auth/oidc/callback`), answer.url);
  assert.equal(answer.response.status, 403);
  assert.match(answer.body, /refused the sign-in \(access_denied: End-User aborted interaction\)/);
});

test('a callback replayed with the same state is refused', async () => {
  const browser = new Browser();
  let page = await browser.go(`${recordUrl}/auth/oidc/start?request=req-replay`);
  page = await browser.submit(page, { prompt: 'login', login: 'ada', password: 'any' });
  // Stop at the callback this time: take the IdP's redirect by hand.
  let url = page.url;
  if (/name="prompt" value="consent"/.test(page.body)) {
    const action = /<form[^>]*action="([^"]+)"/.exec(page.body)[1];
    let response = await fetch(new URL(action, url), {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: browser.cookieHeader(new URL(action, url).href) },
      body: 'prompt=consent',
    });
    browser.keep(response);
    url = new URL(response.headers.get('location'), url).href;
    while (!url.startsWith(`${recordUrl}/auth/oidc/callback`)) {
      response = await fetch(url, { redirect: 'manual', headers: { cookie: browser.cookieHeader(url) } });
      browser.keep(response);
      url = new URL(response.headers.get('location'), url).href;
    }
  } else {
    assert.fail('expected the consent page');
  }
  const first = await browser.go(url);
  assert.equal(first.response.status, 200, first.body);
  const second = await browser.go(url);
  assert.equal(second.response.status, 400);
  assert.match(second.body, /unknown, already used or expired/);
});
