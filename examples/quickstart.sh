#!/usr/bin/env bash
# A guided tour: build rotor, serve examples/zones/lb.example.test.zone and the
# instance array of examples/rotor.json, and ask them questions with dig. Set ROTOR_PORT to use a port other than 5300.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${ROTOR_PORT:-5300}
work=$(mktemp -d)
rotor_pid=""

cleanup() {
  if [[ -n "$rotor_pid" ]] && kill -0 "$rotor_pid" 2>/dev/null; then
    kill -TERM "$rotor_pid"
    wait "$rotor_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
ask() {
  printf '$ dig @127.0.0.1 -p %s %s\n' "$port" "$*"
  dig @127.0.0.1 -p "$port" +norec +nocmd +noquestion +nostats "$@"
}

say "Step 1: install what the build needs (tests/deps.sh; asks for sudo only if something is missing)"
tests/deps.sh

say "Step 2: build rotor (release preset, build/release)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target rotor
rotor=build/release/rotor
"$rotor" --version

say "Step 3: check the configuration and the zone before serving them"
"$rotor" check --config examples/rotor.json

say "Step 4: start rotor on 127.0.0.1:$port (examples/rotor.json)"
listen_flags=()
[[ -n "${ROTOR_PORT:-}" ]] && listen_flags=(--listen "127.0.0.1:$port")
"$rotor" serve --config examples/rotor.json --db "$work/rotor.db" "${listen_flags[@]}" \
  >"$work/stdout" 2>"$work/stderr" &
rotor_pid=$!
# rotor prints "listening ..." on stdout once every socket is bound.
for _ in $(seq 100); do
  grep -q '^listening' "$work/stdout" 2>/dev/null && break
  if ! kill -0 "$rotor_pid" 2>/dev/null; then
    cat "$work/stderr" >&2
    if grep -qi 'in use' "$work/stderr"; then
      echo "Port $port is busy; run again with another one: ROTOR_PORT=5301 $0" >&2
    fi
    exit 1
  fi
  sleep 0.1
done
cat "$work/stdout"

say "Step 5: an A query. rotor is authoritative, so the answer carries the aa flag"
ask www.lb.example.test A

say "Step 6: the mail exchanger of the zone, with the mail host's address as additional data"
ask lb.example.test MX

say "Step 7: a CNAME: rotor follows it inside the zone and answers with the target's addresses too"
ask app.lb.example.test A

say "Step 8: a name that does not exist: NXDOMAIN, with the SOA for negative caching"
ask nope.lb.example.test A

say "Step 9: the same question over TCP"
ask www.lb.example.test AAAA +tcp

say "Step 10: a zone rotor does not serve is REFUSED"
ask example.com A

say "Step 11: an instance array: each answer rotates through the healthy instances (127.0.0.13 is down and never appears; the TTL is the short degraded one while it is)"
for _ in 1 2 3; do
  printf '$ dig @127.0.0.1 -p %s web.lb.example.test A +short\n' "$port"
  dig @127.0.0.1 -p "$port" +short web.lb.example.test A | paste -sd' '
done

say "Step 12: point a name at the array with a CNAME, as you would www.example.com"
ask shop.lb.example.test A

say "Step 13: stop rotor (SIGTERM); its log follows"
kill -TERM "$rotor_pid"
wait "$rotor_pid" || true
rotor_pid=""
cat "$work/stderr"
