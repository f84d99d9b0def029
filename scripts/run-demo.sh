#!/usr/bin/env bash
# README command 1: install, build, and run the server on the embedded store with a synthetic
# demo region loaded (first start only). Serves http://127.0.0.1:8080/fhir until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh carerecord
exec build/carerecord serve --data "${DATA_DIR:-data}" --http "${LISTEN:-127.0.0.1:8080}" --demo
