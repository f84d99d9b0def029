#!/usr/bin/env bash
# The regional IdP interoperability test: oidc-provider (npm, pinned in package-lock.json) runs
# on loopback as the IdP, build/carerecord serves with --oidc-issuer pointing at it, and the test
# drives a browser's sign-in through both with fetch (oidc.test.mjs starts and stops both).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error --engine-strict=false
CARERECORD_BIN="$root/build/carerecord" node --test --test-force-exit --test-concurrency=1 oidc.test.mjs
