#!/usr/bin/env bash
# Starts build/carerecord on a free loopback port with a throwaway store, runs the fhir-kit-client
# tests against it, and stops the server with SIGTERM (which must exit cleanly).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
data="$(mktemp -d)"
log="$data/server.log"
# Starts the server on the store in $data and sets $pid and $port.
start_server() {
  "$root/build/carerecord" serve --data "$data/store" --http 127.0.0.1:0 >"$log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port="$(sed -n 's/^port \([0-9]*\)$/\1/p' "$log")"
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -z "$port" ]; then echo "server did not start:"; cat "$log"; exit 1; fi
}
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$data"; }
trap cleanup EXIT
start_server
CARERECORD_BASE="http://127.0.0.1:$port/fhir" node --test interop.test.mjs

# A write acknowledged just before SIGTERM is there after a restart.
location="$(curl -s -o /dev/null -D - -X POST -H 'Content-Type: application/fhir+json' \
  -d '{"resourceType":"Patient","name":[{"family":"Restart"}]}' \
  "http://127.0.0.1:$port/fhir/Patient" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
[ -n "$location" ] || { echo "create before shutdown failed"; exit 1; }
kill -TERM "$pid"
wait "$pid"
grep -q "stopped" "$log" || { echo "server did not stop cleanly:"; cat "$log"; exit 1; }
start_server
path="/fhir/${location#*/fhir/}"
status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port${path%/_history/*}")"
[ "$status" = 200 ] || { echo "after restart, $path answered $status"; exit 1; }
echo "ok - a write acknowledged before SIGTERM is read back after restart"
kill -TERM "$pid"
wait "$pid"
