// Makes the key pair of the interop test's backend client with Node's own crypto: the private
// key as a JWK for openid-client (argv[2]) and the public key as a JWK Set for
// `carerecord clients add --jwks-file` (argv[3]).
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const [privateFile, jwksFile] = process.argv.slice(2);
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const kid = 'interop-es384';
const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES384' };
const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES384', use: 'sig' };
writeFileSync(privateFile, JSON.stringify(privateJwk), { mode: 0o600 });
writeFileSync(jwksFile, JSON.stringify({ keys: [publicJwk] }));
