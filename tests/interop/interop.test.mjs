// Interoperability: clients this project did not write against a running carerecord server.
// openid-client gets access tokens by client credentials (client_secret_basic, and
// private_key_jwt as SMART Backend Services specifies it), found through the server's OpenID
// discovery document; fhir-kit-client then creates, reads, updates, searches, pages, posts a
// transaction and asks for $everything with the token. run.sh registers the clients with the
// command line and passes the server's base URL (CARERECORD_BASE) and the clients' credentials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { Client } from 'fhir-kit-client';
import * as oidc from 'openid-client';

const baseUrl = process.env.CARERECORD_BASE;
assert.ok(baseUrl, 'CARERECORD_BASE must name the server, e.g. http://127.0.0.1:8080/fhir');
const issuer = new URL(baseUrl).origin;

// The server's metadata, from its discovery document; http is allowed for the loopback test.
async function discover(clientId, clientAuth) {
  return oidc.discovery(new URL(issuer), clientId, undefined, clientAuth, {
    execute: [oidc.allowInsecureRequests],
  });
}

const secretConfig = await discover(
  process.env.CARERECORD_CLIENT_ID,
  oidc.ClientSecretBasic(process.env.CARERECORD_CLIENT_SECRET),
);
const granted = await oidc.clientCredentialsGrant(secretConfig, { scope: 'system/*.cruds' });
const client = new Client({
  baseUrl,
  customHeaders: { Authorization: `Bearer ${granted.access_token}` },
});

test('client_secret_basic: a Bearer token with the scope asked for', () => {
  assert.equal(granted.token_type.toLowerCase(), 'bearer');
  assert.equal(granted.scope, 'system/*.cruds');
  assert.ok(granted.expires_in > 0 && granted.expires_in <= 300);
});

test('private_key_jwt: an ES384 assertion signed with a key made by Node, aud = token endpoint', async () => {
  const jwk = JSON.parse(readFileSync(process.env.CARERECORD_KEY_FILE, 'utf8'));
  const key = await webcrypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-384' },
    false, ['sign']);
  let tokenEndpoint;
  const config = await discover(
    process.env.CARERECORD_KEY_CLIENT_ID,
    oidc.PrivateKeyJwt({ key, kid: jwk.kid }, {
      // SMART Backend Services: the assertion's audience is the token endpoint's URL
      // (openid-client's default is the issuer).
      [oidc.modifyAssertion]: (header, payload) => {
        payload.aud = tokenEndpoint;
      },
    }),
  );
  tokenEndpoint = config.serverMetadata().token_endpoint;
  const keyGrant = await oidc.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
  assert.equal(keyGrant.scope, 'system/Patient.rs');
  const reader = new Client({
    baseUrl,
    customHeaders: { Authorization: `Bearer ${keyGrant.access_token}` },
  });
  const bundle = await reader.search({ resourceType: 'Patient', searchParams: { _count: 1 } });
  assert.equal(bundle.resourceType, 'Bundle');
  // Its scope reads Patients only.
  await assert.rejects(reader.search({ resourceType: 'Observation', searchParams: {} }), (error) => {
    assert.equal(error.response.status, 403);
    return true;
  });
});

test('a request without a token is 401 with a Bearer challenge', async () => {
  const response = await fetch(`${baseUrl}/Patient`);
  assert.equal(response.status, 401);
  assert.match(response.headers.get('www-authenticate'), /^Bearer realm=/);
  const outcome = await response.json();
  assert.equal(outcome.resourceType, 'OperationOutcome');
});
const nhsNumber = '9000000009';
const nhsSystem = 'https://fhir.nhs.uk/Id/nhs-number';

test('the CapabilityStatement lists what the client needs', async () => {
  const cs = await client.capabilityStatement();
  assert.equal(cs.resourceType, 'CapabilityStatement');
  assert.equal(cs.fhirVersion, '4.0.1');
  const patient = cs.rest[0].resource.find((r) => r.type === 'Patient');
  assert.ok(patient.searchParam.some((p) => p.name === 'identifier'));
  assert.ok(cs.rest[0].interaction.some((i) => i.code === 'transaction'));
});

test('create, read, vread, update, history and delete a Patient', async () => {
  const created = await client.create({
    resourceType: 'Patient',
    body: {
      resourceType: 'Patient',
      identifier: [{ system: nhsSystem, value: nhsNumber }],
      name: [{ family: 'Interop', given: ['Ada'] }],
      gender: 'female',
      birthDate: '1961-03-09',
    },
  });
  assert.equal(created.resourceType, 'Patient');
  assert.ok(created.id);
  assert.equal(created.meta.versionId, '1');

  const read = await client.read({ resourceType: 'Patient', id: created.id });
  assert.equal(read.name[0].family, 'Interop');

  const updated = await client.update({
    resourceType: 'Patient',
    id: created.id,
    body: { ...read, gender: 'other' },
  });
  assert.equal(updated.meta.versionId, '2');

  const v1 = await client.vread({ resourceType: 'Patient', id: created.id, version: '1' });
  assert.equal(v1.gender, 'female');

  const history = await client.history({ resourceType: 'Patient', id: created.id });
  assert.equal(history.type, 'history');
  assert.equal(history.total, 2);

  await client.delete({ resourceType: 'Patient', id: created.id });
  await assert.rejects(client.read({ resourceType: 'Patient', id: created.id }), (error) => {
    assert.equal(error.response.status, 410);
    return true;
  });
});

test('a transaction with urn:uuid references, then searches and $everything', async () => {
  const patientUrl = 'urn:uuid:6a3c2f9e-0d5e-4c1a-9d7e-0b1f2a3c4d5e';
  const entry = [
    {
      fullUrl: patientUrl,
      resource: {
        resourceType: 'Patient',
        identifier: [{ system: nhsSystem, value: '9000000017' }],
        name: [{ family: 'Transact', given: ['Grace'] }],
      },
      request: { method: 'POST', url: 'Patient' },
    },
  ];
  for (let i = 0; i < 7; i++) {
    entry.push({
      resource: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
        subject: { reference: patientUrl },
        effectiveDateTime: `2024-0${i + 1}-15T09:00:00Z`,
        valueQuantity: { value: 70 + i, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
      },
      request: { method: 'POST', url: 'Observation' },
    });
  }
  const result = await client.transaction({
    body: { resourceType: 'Bundle', type: 'transaction', entry },
    options: { keepalive: false },
  });
  assert.equal(result.type, 'transaction-response');
  assert.equal(result.entry.length, 8);
  for (const e of result.entry) assert.match(e.response.status, /^201/);
  const patientId = result.entry[0].response.location.split('/')[1];

  const byIdentifier = await client.search({
    resourceType: 'Patient',
    searchParams: { identifier: `${nhsSystem}|9000000017` },
  });
  assert.equal(byIdentifier.entry.length, 1);
  assert.equal(byIdentifier.entry[0].resource.id, patientId);

  // Paging with the client's own nextPage helper walks every match once.
  let bundle = await client.search({
    resourceType: 'Observation',
    searchParams: { patient: patientId, code: 'http://loinc.org|29463-7', _count: '3' },
  });
  const seen = [];
  while (bundle) {
    for (const e of bundle.entry ?? []) seen.push(e.resource.id);
    bundle = (await client.nextPage({ bundle })) ?? null;
  }
  assert.equal(seen.length, 7);
  assert.equal(new Set(seen).size, 7);

  const chained = await client.search({
    resourceType: 'Observation',
    searchParams: { 'patient.identifier': `${nhsSystem}|9000000017`, 'value-quantity': 'gt74' },
  });
  assert.equal(chained.entry.length, 2);

  const posted = await client.search({
    resourceType: 'Observation',
    searchParams: { subject: `Patient/${patientId}`, date: 'ge2024-05' },
    options: { postSearch: true },
  });
  assert.equal(posted.entry.length, 3);

  const compartment = await client.compartmentSearch({
    resourceType: 'Observation',
    compartment: { resourceType: 'Patient', id: patientId },
    searchParams: { 'value-quantity': 'lt72' },
  });
  assert.equal(compartment.entry.length, 2);

  const everything = await client.operation({
    name: 'everything',
    resourceType: 'Patient',
    id: patientId,
    method: 'GET',
  });
  assert.equal(everything.entry.length, 8);
});

test('a batch reports each entry on its own', async () => {
  const result = await client.batch({
    body: {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Patient?identifier=' + encodeURIComponent(`${nhsSystem}|9000000017`) } },
        { request: { method: 'GET', url: 'Patient/no-such-patient' } },
      ],
    },
  });
  assert.equal(result.type, 'batch-response');
  assert.match(result.entry[0].response.status, /^200/);
  assert.match(result.entry[1].response.status, /^404/);
});

test('a scope restricted by a search parameter (SMART 2) sees only what matches', async () => {
  const categories = 'http://terminology.hl7.org/CodeSystem/observation-category';
  const subject = await client.create({
    resourceType: 'Patient',
    body: { resourceType: 'Patient', name: [{ family: 'Restricted' }] },
  });
  const observation = (code) => ({
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: categories, code }] }],
    code: { text: `restricted-scope ${code}` },
    subject: { reference: `Patient/${subject.id}` },
  });
  const lab = await client.create({ resourceType: 'Observation', body: observation('laboratory') });
  const vital = await client.create({ resourceType: 'Observation', body: observation('vital-signs') });
  const scope = `system/Observation.rs?category=${categories}|laboratory`;
  const labGrant = await oidc.clientCredentialsGrant(secretConfig, { scope });
  assert.equal(labGrant.scope, scope);
  const labs = new Client({
    baseUrl,
    customHeaders: { Authorization: `Bearer ${labGrant.access_token}` },
  });
  const found = await labs.search({
    resourceType: 'Observation',
    searchParams: { subject: `Patient/${subject.id}`, _total: 'accurate' },
  });
  assert.equal(found.total, 1);
  assert.deepEqual(found.entry.map((e) => e.resource.id), [lab.id]);
  await assert.rejects(labs.read({ resourceType: 'Observation', id: vital.id }), (error) => {
    assert.equal(error.response.status, 404);
    return true;
  });
});
