#!/usr/bin/env bash
# Regenerates the pre-signed zones of the query-path unit tests
# (signed-nsec.zone, signed-nsec3.zone) from tests/data/diff/signed.zone.in
# with a fresh ECDSA P-256 key and signatures valid 2026-01-01 to 2037-12-31 (ldns compares
# times as signed 32-bit numbers, so not past 2038): the committed files
# verify for eleven years. Needs ldnsutils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
sign() {  # origin output [ldns-signzone denial flags]
  local origin=$1 output=$2
  shift 2
  { echo "\$ORIGIN $origin."; cat "$here/../diff/signed.zone.in"; } > zone
  local key
  key=$(ldns-keygen -a ECDSAP256SHA256 -k "$origin")
  ldns-signzone "$@" -i 20260101000000 -e 20371231000000 -f "$here/$output" zone "$key"
}
sign nsec.signed.test signed-nsec.zone
sign nsec3.signed.test signed-nsec3.zone -n -p -s c0ffee -t 1
