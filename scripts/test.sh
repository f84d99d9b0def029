#!/usr/bin/env bash
# README command 2: install, build, and run every test: unit and HTTP integration tests (ctest),
# then the interoperability tests (fhir-kit-client over HTTP, node-hl7-client over MLLP, oidc-provider
# as the regional IdP) against a running server, then each libFuzzer target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "== formatting (clang-format, .clang-format)"
git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'bench/*.cpp' 'fuzz/*.cpp' | grep -v '/generated/' |
  xargs clang-format --dry-run --Werror
scripts/build.sh
echo "== unit and integration tests"
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 600)
echo "== interoperability test (fhir-kit-client)"
tests/interop/run.sh
echo "== MLLP interoperability test (node-hl7-client, the shared HL7 v2 samples)"
tests/interop-mllp/run.sh
echo "== regional IdP interoperability test (oidc-provider as the IdP, carerecord as its relying party)"
tests/interop-oidc/run.sh
echo "== fuzzing (libFuzzer, ${FUZZ_SECONDS:-60} s per target)"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}" scripts/fuzz.sh
