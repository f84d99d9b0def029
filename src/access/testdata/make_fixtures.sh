#!/usr/bin/env bash
# Test keys for the token tests, made by the openssl command line (test use only: they are
# public), then the fixtures signed with Node's crypto. Run from anywhere; rewrites testdata/.
set -euo pipefail
cd "$(dirname "$0")"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server_es256.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out client_es384.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out client_rs384.pem
node make_fixtures.mjs > fixtures.json
