#!/usr/bin/env bash
# Starts build/carerecord with --mllp on a free loopback port and a throwaway store, adds a feed
# for each sending facility of the shared HL7 v2 samples (../shared/data/hl7v2 beside the
# checkout; skipped when absent), runs the node-hl7-client test against it, checks the inbox's
# figures, and stops the server with SIGTERM (which must exit cleanly).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
samples="$root/../shared/data/hl7v2"
if [ ! -d "$samples" ]; then
  echo "skip - no HL7 v2 samples at $samples"
  exit 0
fi
cd "$here"
npm ci --no-audit --no-fund --loglevel=error --engine-strict=false
bin="$root/build/carerecord"
data="$(mktemp -d)"
log="$data/server.log"
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$data"; }
trap cleanup EXIT

"$bin" orgs add --data "$data/store" --ods RDZ --name "Interop Hospital" --kind hospital >/dev/null
# MSH-4.1 of every sample (BOM and line ends stripped), one feed each; the samples without one
# are answered AR.
n=0
while IFS= read -r facility; do
  [ -n "$facility" ] || continue
  n=$((n + 1))
  "$bin" feeds add --data "$data/store" --name "feed-$n" --facility "$facility" --org RDZ >/dev/null
done < <(for f in "$samples"/*.hl7; do
  head -n 1 "$f" | sed 's/^\xEF\xBB\xBF//' | tr -d '\r' | awk -F'|' '{ split($4, c, "^"); print c[1] }'
done | sort -u)
echo "added $n feeds"
# The test's own messages (facility INTEROP), and a client that finds what they became through
# the FHIR API with a token from the token endpoint.
"$bin" feeds add --data "$data/store" --name interop --facility INTEROP --org RDZ >/dev/null
# The probes that end each connection of the samples (enhanced mode, both ACKs asked for).
"$bin" feeds add --data "$data/store" --name interop-probe --facility INTEROP-PROBE --org RDZ >/dev/null
client="$("$bin" clients add --data "$data/store" --name "interop-mllp" --org RDZ \
  --role integration --scope "system/*.rs" --secret)"
value() { sed -n "s/^$1=//p"; }

"$bin" serve --data "$data/store" --http 127.0.0.1:0 --mllp 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
port=""
http_port=""
for _ in $(seq 1 300); do
  port="$(sed -n 's/^mllp port \([0-9]*\)$/\1/p' "$log")"
  http_port="$(sed -n 's/^port \([0-9]*\)$/\1/p' "$log")"
  [ -n "$port" ] && [ -n "$http_port" ] && break
  sleep 0.1
done
if [ -z "$port" ] || [ -z "$http_port" ]; then echo "server did not start:"; cat "$log"; exit 1; fi

CARERECORD_MLLP_PORT="$port" CARERECORD_HL7V2_SAMPLES="$samples" \
  CARERECORD_HTTP_PORT="$http_port" \
  CARERECORD_CLIENT_ID="$(echo "$client" | value client_id)" \
  CARERECORD_CLIENT_SECRET="$(echo "$client" | value client_secret)" \
  node --test --test-force-exit mllp.test.mjs

# Every sample is in the inbox once per facility and control id (the ones sent without an ACK
# asked for may still be on their way: up to 10 s); the probes apart. No application ACK asked for
# went undelivered.
unique="$(for f in "$samples"/*.hl7; do
  head -n 1 "$f" | sed 's/^\xEF\xBB\xBF//' | tr -d '\r' |
    awk -F'|' '{ split($4, c, "^"); print c[1] "|" $10 }'
done | sort -u | wc -l)"
unique=$((unique + 2))  # and the test's own two messages
for _ in $(seq 1 100); do
  stats="$("$bin" feeds stats --data "$data/store")"
  received="$(echo "$stats" | grep -v '^interop-probe ' | sed -n 's/.* received=\([0-9]*\) .*/\1/p' | paste -sd+ | bc)"
  [ "$received" = "$unique" ] && break
  sleep 0.1
done
[ "$received" = "$unique" ] || { echo "inbox holds $received messages, expected $unique"; echo "$stats"; exit 1; }
echo "ok - the inbox holds $received messages, one per facility and control id"
undelivered="$(echo "$stats" | sed -n 's/.* app_acks_undelivered=\([0-9]*\).*/\1/p' | paste -sd+ | bc)"
[ "$undelivered" = "0" ] || { echo "application ACKs not delivered: $undelivered"; echo "$stats"; exit 1; }
kill -TERM "$pid"
wait "$pid"
pid=""
grep -q "stopped" "$log" || { echo "server did not stop cleanly:"; cat "$log"; exit 1; }
