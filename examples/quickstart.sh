#!/usr/bin/env bash
# A guided tour: build rotor, serve examples/zones/lb.example.test.zone and the
# instance array of examples/rotor.json, ask them questions with dig, then
# start three web servers on 127.0.0.11-13 and watch rotor's health checks take
# one out of the answers and bring it back. Set ROTOR_PORT to use a port other
# than 5300. Everything it starts, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${ROTOR_PORT:-5300}
work=$(mktemp -d)
rotor_pid=""
declare -A backend_pids=()

stop_backend() {
  local pid=${backend_pids[$1]:-}
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  unset "backend_pids[$1]"
}
# A web server on ADDRESS:8080 (python3's http.server), serving a page that names it.
start_backend() {
  mkdir -p "$work/www-$1"
  echo "hello from $1" >"$work/www-$1/index.html"
  python3 -m http.server 8080 --bind "$1" --directory "$work/www-$1" \
    >>"$work/backend-$1.log" 2>&1 &
  backend_pids[$1]=$!
}

cleanup() {
  for address in "${!backend_pids[@]}"; do stop_backend "$address"; done
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

# Every address the array answered over four queries (rotation shows each in turn).
array_answers() {
  for _ in 1 2 3 4; do dig @127.0.0.1 -p "$port" +short web.lb.example.test A; done | sort -u | paste -sd' '
}
# Waits (at most 15 s) until the array answers exactly "$1".
wait_for_answers() {
  for _ in $(seq 75); do
    [[ "$(array_answers)" == "$1" ]] && return 0
    sleep 0.2
  done
  echo "rotor still answers: $(array_answers) (expected: $1)" >&2
  return 1
}
# Waits (at most 15 s) until rotor's log has a line matching "$1".
wait_for_log() {
  for _ in $(seq 75); do
    grep -q -- "$1" "$work/stderr" && return 0
    sleep 0.2
  done
  echo "rotor never logged: $1" >&2
  return 1
}
show_array() {
  for _ in 1 2 3; do
    printf '$ dig @127.0.0.1 -p %s web.lb.example.test A +short\n' "$port"
    dig @127.0.0.1 -p "$port" +short web.lb.example.test A | paste -sd' '
  done
}

say "Step 11: start three web servers, on 127.0.0.11, .12 and .13 port 8080 (the array's instances)"
for address in 127.0.0.11 127.0.0.12 127.0.0.13; do start_backend "$address"; done
sleep 1
for address in 127.0.0.11 127.0.0.12 127.0.0.13; do
  printf '$ curl http://%s:8080/  ->  %s\n' "$address" "$(curl -s --max-time 2 "http://$address:8080/" || echo 'no answer')"
done

say "Step 12: rotor's checks find them up (they were down while nothing listened: with every instance down the array fails open and answers them all)"
for address in 127.0.0.11 127.0.0.12 127.0.0.13; do wait_for_log "$address (instance [0-9]*) is up"; done
grep 'health: .* is up' "$work/stderr"

say "Step 13: the array web.lb.example.test rotates through every healthy instance"
wait_for_answers "127.0.0.11 127.0.0.12 127.0.0.13"
show_array

say "Step 14: point a name at the array with a CNAME, as you would www.example.com"
ask shop.lb.example.test A

say "Step 15: stop the web server on 127.0.0.12. rotor checks every second; after 2 failed checks it leaves the answers"
stop_backend 127.0.0.12
started=$SECONDS
wait_for_log "127.0.0.12 (instance [0-9]*) is down"
wait_for_answers "127.0.0.11 127.0.0.13"
echo "(gone from the answers after about $((SECONDS - started)) s)"
grep '127.0.0.12 .* is down' "$work/stderr" | tail -1
show_array

say "Step 16: while an instance is down the TTL is the short degraded_ttl (5 s), so resolvers come back soon"
ask web.lb.example.test A

say "Step 17: start it again: after 2 passed checks it is back"
start_backend 127.0.0.12
started=$SECONDS
wait_for_answers "127.0.0.11 127.0.0.12 127.0.0.13"
echo "(back in the answers after about $((SECONDS - started)) s)"
grep '127.0.0.12 .* is up' "$work/stderr" | tail -1
show_array

say "Step 18: stop rotor and the web servers (SIGTERM); its log follows"
for address in "${!backend_pids[@]}"; do stop_backend "$address"; done
kill -TERM "$rotor_pid"
wait "$rotor_pid" || true
rotor_pid=""
cat "$work/stderr"
