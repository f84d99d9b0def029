#!/usr/bin/env bash
# Starts build/carerecord on a free loopback port with a throwaway store, registers two clients
# with the command line as an operator would (one with a secret, one with a public key made by
# Node's crypto), a public SMART app and a user, runs the tests (openid-client gets the tokens,
# by client credentials and by signing the user in through the form; fhir-kit-client uses them),
# and stops the server with SIGTERM (which must exit cleanly).
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
cli() { "$root/build/carerecord" "$@" --data "$data/store"; }
cli orgs add --ods INT01 --name "Interop Test Organisation" --kind other >/dev/null
secret_client="$(cli clients add --name "interop (secret)" --org INT01 --role integration \
  --scope "system/*.cruds" --secret)"
node make-client-key.mjs "$data/client-key.json" "$data/client-jwks.json"
key_client="$(cli clients add --name "interop (private_key_jwt)" --org INT01 --role integration \
  --scope "system/*.rs" --jwks-file "$data/client-jwks.json")"
value() { sed -n "s/^$1=//p"; }
export CARERECORD_CLIENT_ID="$(echo "$secret_client" | value client_id)"
export CARERECORD_CLIENT_SECRET="$(echo "$secret_client" | value client_secret)"
export CARERECORD_KEY_CLIENT_ID="$(echo "$key_client" | value client_id)"
export CARERECORD_KEY_FILE="$data/client-key.json"
app_client="$(cli clients add --name "interop SMART app" --org INT01 --public \
  --scope "user/*.cruds openid fhirUser offline_access online_access" \
  --redirect-uri http://127.0.0.1:9/callback)"
export CARERECORD_APP_CLIENT_ID="$(echo "$app_client" | value client_id)"
export CARERECORD_USER="interop.clinician"
export CARERECORD_USER_PASSWORD="interop sign-in password $(date +%s)"
echo "$CARERECORD_USER_PASSWORD" | cli users add --username "$CARERECORD_USER" --org INT01 \
  --role clinician --name "Interop Clinician" >/dev/null
CARERECORD_BASE="http://127.0.0.1:$port/fhir" node --test interop.test.mjs signin.test.mjs

# A token the way curl users get one (README): client credentials with HTTP Basic.
token() {
  curl -s -u "$CARERECORD_CLIENT_ID:$CARERECORD_CLIENT_SECRET" -d grant_type=client_credentials \
    "http://127.0.0.1:$port/auth/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

# A write acknowledged just before SIGTERM is there after a restart.
location="$(curl -s -o /dev/null -D - -X POST -H 'Content-Type: application/fhir+json' \
  -H "Authorization: Bearer $(token)" \
  -d '{"resourceType":"Patient","name":[{"family":"Restart"}]}' \
  "http://127.0.0.1:$port/fhir/Patient" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
[ -n "$location" ] || { echo "create before shutdown failed"; exit 1; }
kill -TERM "$pid"
wait "$pid"
grep -q "stopped" "$log" || { echo "server did not stop cleanly:"; cat "$log"; exit 1; }
start_server
path="/fhir/${location#*/fhir/}"
# The new port is a new audience: a new token.
status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(token)" \
  "http://127.0.0.1:$port${path%/_history/*}")"
[ "$status" = 200 ] || { echo "after restart, $path answered $status"; exit 1; }
echo "ok - a write acknowledged before SIGTERM is read back after restart"
kill -TERM "$pid"
wait "$pid"
