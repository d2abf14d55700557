#!/usr/bin/env bash
# A guided tour of rotor on one machine, from a fresh Debian 12:
#   1. install what it needs and build rotor;
#   2. start three small web servers on 127.0.0.11, .12 and .13 (port 8080);
#   3. start rotor with examples/rotor.json: the zone lb.example.test from a
#      zone file and the array web.lb.example.test, with a health check and
#      no instances yet;
#   4. ask a few static questions with dig;
#   5. register the three web servers through rotor's HTTP API with curl,
#      watch dig rotate through them, stop one and watch it leave the
#      answers, start it again and watch it come back;
#   6. show where the web console is (http://127.0.0.1:8053/ui/);
#   7. stop everything it started.
# ROTOR_PORT (default 5300) and ROTOR_API_PORT (default 8053) move rotor's DNS
# and API ports. Web servers listen on 127.0.0.11-13:8080.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${ROTOR_PORT:-5300}
api_port=${ROTOR_API_PORT:-8053}
api="http://127.0.0.1:$api_port"
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
# Shows a curl command (quoting what needs it) and runs it; JSON replies are indented.
call() {
  local shown="" arg
  for arg in "$@"; do
    if [[ "$arg" =~ [^A-Za-z0-9_./:=-] ]]; then shown+=" '$arg'"; else shown+=" $arg"; fi
  done
  printf '$ curl%s\n' "$shown"
  curl -sS "$@" | python3 -m json.tool --indent 2 || true
}
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
# Waits (at most 15 s) until the API says instance ADDRESS has health HEALTH.
wait_for_health() {
  for _ in $(seq 75); do
    curl -sS "$api/v1/arrays/web.lb.example.test/health" |
      grep -q "\"address\":\"$1\",[^}]*\"health\":\"$2\"" && return 0
    sleep 0.2
  done
  echo "$1 never became $2" >&2
  return 1
}
show_array() {
  for _ in 1 2 3; do
    printf '$ dig @127.0.0.1 -p %s web.lb.example.test A +short\n' "$port"
    dig @127.0.0.1 -p "$port" +short web.lb.example.test A | paste -sd' '
  done
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

say "Step 4: start three web servers, on 127.0.0.11, .12 and .13 port 8080: the farm rotor will balance"
for address in 127.0.0.11 127.0.0.12 127.0.0.13; do start_backend "$address"; done
for address in 127.0.0.11 127.0.0.12 127.0.0.13; do
  for _ in $(seq 50); do curl -s --max-time 1 "http://$address:8080/" >/dev/null && break; sleep 0.1; done
  printf '$ curl http://%s:8080/  ->  %s\n' "$address" "$(curl -s --max-time 2 "http://$address:8080/" || echo 'no answer')"
done

say "Step 5: start rotor: DNS on 127.0.0.1:$port, the API on 127.0.0.1:$api_port (examples/rotor.json)"
"$rotor" serve --config examples/rotor.json --db "$work/rotor.db" \
  --listen "127.0.0.1:$port" --api "127.0.0.1:$api_port" >"$work/stdout" 2>"$work/stderr" &
rotor_pid=$!
# rotor prints "listening ..." and "api ..." on stdout once its sockets are bound.
for _ in $(seq 100); do
  grep -q '^api' "$work/stdout" 2>/dev/null && break
  if ! kill -0 "$rotor_pid" 2>/dev/null; then
    cat "$work/stderr" >&2
    if grep -qi 'in use' "$work/stderr"; then
      echo "A port is busy; run again with others: ROTOR_PORT=5301 ROTOR_API_PORT=8054 $0" >&2
    fi
    exit 1
  fi
  sleep 0.1
done
cat "$work/stdout"
echo "The web console: $api/ui/ (open it in a browser while this runs)"

say "Step 6: static records from the zone file. rotor is authoritative: the answer carries the aa flag"
ask www.lb.example.test A

say "Step 7: a name that does not exist: NXDOMAIN, with the SOA for negative caching"
ask nope.lb.example.test A

say "Step 8: the array web.lb.example.test exists (examples/rotor.json declares it, with its health check) but has no instances yet"
call "$api/v1/arrays/web.lb.example.test"
ask web.lb.example.test A

say "Step 9: register the three web servers through the API, as a deploy script would"
for address in 127.0.0.11 127.0.0.12 127.0.0.13; do
  call -X POST -H 'Content-Type: application/json' -d "{\"address\": \"$address\"}" \
    "$api/v1/arrays/web.lb.example.test/instances"
done

say "Step 10: rotor checks each one at once (GET / on port 8080, every second) and they come up"
for address in 127.0.0.11 127.0.0.12 127.0.0.13; do wait_for_health "$address" up; done
call "$api/v1/arrays/web.lb.example.test/health"

say "Step 11: each answer rotates through the healthy instances"
wait_for_answers "127.0.0.11 127.0.0.12 127.0.0.13"
show_array

say "Step 12: point a name at the array with a CNAME, as you would www.example.com"
ask shop.lb.example.test A

say "Step 13: stop the web server on 127.0.0.12. After 2 failed checks (about 2 s) it leaves every answer"
stop_backend 127.0.0.12
started=$SECONDS
wait_for_health 127.0.0.12 down
wait_for_answers "127.0.0.11 127.0.0.13"
echo "(gone from the answers after about $((SECONDS - started)) s)"
show_array
grep '127.0.0.12 .* is down' "$work/stderr" | tail -1

say "Step 14: while an instance is down the TTL is the short degraded_ttl (5 s), so resolvers come back soon"
ask web.lb.example.test A

say "Step 15: the API explains an answer: who was answered, who was left out, and why"
call "$api/v1/explain?name=web.lb.example.test&type=A&client=192.0.2.7"

say "Step 16: start it again: after 2 passed checks it is back"
start_backend 127.0.0.12
started=$SECONDS
wait_for_health 127.0.0.12 up
wait_for_answers "127.0.0.11 127.0.0.12 127.0.0.13"
echo "(back in the answers after about $((SECONDS - started)) s)"
show_array

say "Step 17: every change is in the event log (and in the database, so a restart keeps it); here the failover's events"
call "$api/v1/events?since=6&limit=4"

say "Step 18: the web console is served by the API at $api/ui/ (this loopback API needs no token; with one, the console asks for it)"
printf '$ curl -sI %s/ui/\n' "$api"
curl -sSI "$api/ui/" | grep -iE '^(HTTP|content-type|content-security-policy)' || true

say "Step 19: stop rotor and the web servers (SIGTERM); rotor's log follows"
for address in "${!backend_pids[@]}"; do stop_backend "$address"; done
kill -TERM "$rotor_pid"
wait "$rotor_pid" || true
rotor_pid=""
cat "$work/stderr"
