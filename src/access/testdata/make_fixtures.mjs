// Makes the token test fixtures with tools no one here wrote: the keys come from the openssl
// command line (make_fixtures.sh), the JWKs, thumbprints and signatures from Node's own crypto.
// Run once; the output (fixtures.json) is checked in. Every time is fixed: the tests set their
// clock to NOW below.
//   node make_fixtures.mjs > fixtures.json
import { createHash, createHmac, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

const NOW = 2000000000;
const ISSUER = 'https://record.example.org';
const FHIR_BASE = 'https://record.example.org/fhir';
const TOKEN_ENDPOINT = 'https://record.example.org/auth/token';
const CLIENT = 'backend-client-1';

const b64url = (buffer) => Buffer.from(buffer).toString('base64url');
const pem = (name) => readFileSync(new URL(name, import.meta.url), 'utf8');

function thumbprint(jwk) {
  const canonical = jwk.kty === 'EC'
    ? JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y })
    : JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n });
  return b64url(createHash('sha256').update(canonical).digest());
}

function jws(header, payload, privatePem) {
  const input = b64url(JSON.stringify(header)) + '.' + b64url(JSON.stringify(payload));
  const alg = header.alg;
  const hash = alg.endsWith('384') ? 'sha384' : 'sha256';
  const key = createPrivateKey(privatePem);
  const signature = alg.startsWith('ES')
    ? sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    : sign(hash, Buffer.from(input), key);
  return input + '.' + b64url(signature);
}

function publicJwk(privatePem, alg, kid) {
  const jwk = createPublicKey(createPrivateKey(privatePem)).export({ format: 'jwk' });
  return { ...jwk, kid: kid ?? thumbprint(jwk), alg, use: 'sig' };
}

const server = pem('server_es256.pem');
const serverJwk = publicJwk(server, 'ES256');
const es384 = pem('client_es384.pem');
const rs384 = pem('client_rs384.pem');
const clientJwks = {
  keys: [publicJwk(es384, 'ES384', 'client-es384'), publicJwk(rs384, 'RS384', 'client-rs384')],
};

const accessClaims = {
  iss: ISSUER, aud: FHIR_BASE, sub: 'clinician-1', client_id: 'portal', scope: 'user/*.rs openid',
  iat: NOW, nbf: NOW, exp: NOW + 300, jti: 'node-jti-1', principal: 'user', org: 'A81001',
  role: 'clinician', fhirUser: 'Practitioner/p1',
};
const assertionClaims = (jti) => ({
  iss: CLIENT, sub: CLIENT, aud: TOKEN_ENDPOINT, exp: NOW + 240, iat: NOW, jti,
});
const serverPublicPem = createPublicKey(createPrivateKey(server)).export({ type: 'spki', format: 'pem' });
const unsignedInput = (header, payload) =>
  b64url(JSON.stringify(header)) + '.' + b64url(JSON.stringify(payload));
const hs256Input = unsignedInput({ alg: 'HS256', kid: serverJwk.kid, typ: 'at+jwt' }, accessClaims);

console.log(JSON.stringify({
  now: NOW,
  issuer: ISSUER,
  fhir_base: FHIR_BASE,
  token_endpoint: TOKEN_ENDPOINT,
  client_id: CLIENT,
  server_jwk: serverJwk,
  server_thumbprint: thumbprint(serverJwk),
  client_jwks: clientJwks,
  access_token: jws({ alg: 'ES256', kid: serverJwk.kid, typ: 'at+jwt' }, accessClaims, server),
  access_token_alg_none:
    unsignedInput({ alg: 'none', kid: serverJwk.kid, typ: 'at+jwt' }, accessClaims) + '.',
  access_token_alg_none_signed:
    unsignedInput({ alg: 'none', kid: serverJwk.kid, typ: 'at+jwt' }, accessClaims) + '.' +
    b64url('x'),
  access_token_hs256_public_key: hs256Input + '.' +
    b64url(createHmac('sha256', serverPublicPem).update(hs256Input).digest()),
  assertion_es384: jws({ alg: 'ES384', kid: 'client-es384', typ: 'JWT' }, assertionClaims('a-es384'), es384),
  assertion_rs384: jws({ alg: 'RS384', kid: 'client-rs384', typ: 'JWT' }, assertionClaims('a-rs384'), rs384),
  // Signed with the ES384 key but naming the RSA key's kid: the alg must match the key.
  assertion_kid_of_other_alg:
    jws({ alg: 'ES384', kid: 'client-rs384', typ: 'JWT' }, assertionClaims('a-mixed'), es384),
}, null, 2));
