#!/usr/bin/env bash
# A rotor cluster on one machine, on loopback only, from a fresh Debian 12:
#   1. install what it needs (etcd included) and build rotor;
#   2. start a three-member etcd cluster on 127.0.0.1 (client ports 23791-3);
#   3. start three web servers on 127.0.0.11, .12 and .13 (port 8080);
#   4. start three rotor nodes, ns1, ns2 and ns3: DNS on 127.0.0.1:5301-5303,
#      the API on 127.0.0.1:8061-8063, each probing from its own source
#      address (127.0.0.21, .22, .23: probes.source_address);
#   5. register the web servers through ns1's API and ask all three nodes;
#   6. make web server .12 refuse ns1's probes only: one observer of three
#      sees it down, the majority still sees it up;
#   7. stop web server .13 for everyone: every node takes it out;
#   8. kill ns3 (SIGKILL): the others keep answering, its lease expires;
#   9. stop everything it started (by PID) and remove its files.
# ROTOR_CLUSTER_BASE_PORT (default 5300) moves the DNS ports to BASE+1..BASE+3.
# ROTOR_BIN=path/to/rotor skips steps 1's install and build (ctest
# examples/cluster runs the script so, and fails when a step does not show
# what it says).
set -euo pipefail
cd "$(dirname "$0")/.."

base=${ROTOR_CLUSTER_BASE_PORT:-5300}
work=$(mktemp -d)
declare -A pids=()   # what this script started, by name: etcd1..3, web-*, ns1..3
nodes=(ns1 ns2 ns3)
declare -A dns_port=([ns1]=$((base + 1)) [ns2]=$((base + 2)) [ns3]=$((base + 3)))
declare -A api_port=([ns1]=8061 [ns2]=8062 [ns3]=8063)
declare -A source=([ns1]=127.0.0.21 [ns2]=127.0.0.22 [ns3]=127.0.0.23)
endpoints="http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793"

stop() {  # NAME [SIGNAL]
  local pid=${pids[$1]:-}
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "-${2:-TERM}" "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  unset "pids[$1]"
}
cleanup() {
  for name in "${!pids[@]}"; do stop "$name"; done
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
api() { echo "http://127.0.0.1:${api_port[$1]}"; }
answers() {  # NODE: the addresses it answers for the array over four queries
  for _ in 1 2 3 4; do dig @127.0.0.1 -p "${dns_port[$1]}" +short +time=1 +tries=1 web.lb.example.test A; done |
    sort -u | paste -sd' '
}
show_all() {
  for node in "${nodes[@]}"; do
    [[ -n "${pids[$node]:-}" ]] || continue
    printf '$ dig @127.0.0.1 -p %s web.lb.example.test +short   (%s)  ->  %s\n' \
      "${dns_port[$node]}" "$node" "$(answers "$node")"
  done
}
wait_for_answers() {  # EXPECTED NODE...: waits (at most 20 s) until every NODE answers EXPECTED
  local expected=$1 node
  shift
  for node in "$@"; do
    for _ in $(seq 100); do
      [[ "$(answers "$node")" == "$expected" ]] && continue 2
      sleep 0.2
    done
    echo "$node still answers: $(answers "$node") (expected: $expected)" >&2
    return 1
  done
}
# A web server on ADDRESS:8080 that names itself; with REFUSE_FROM it closes
# every connection from that source address (a firewall that blocks one node).
start_web() {  # ADDRESS [REFUSE_FROM]
  mkdir -p "$work/www-$1"
  echo "hello from $1" >"$work/www-$1/index.html"
  python3 - "$1" "${2:-}" "$work/www-$1" >>"$work/web-$1.log" 2>&1 <<'EOF' &
import functools, http.server, sys
address, refused, root = sys.argv[1], sys.argv[2], sys.argv[3]
class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    def verify_request(self, request, client_address):
        return client_address[0] != refused
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
Server((address, 8080), handler).serve_forever()
EOF
  pids[web-$1]=$!
  for _ in $(seq 50); do curl -s --max-time 1 "http://$1:8080/" >/dev/null && return 0; sleep 0.1; done
  echo "web server $1 did not start" >&2
  return 1
}
call() {  # curl ARGS..., shown, JSON indented
  printf '$ curl %s\n' "$*"
  curl -sS "$@" | python3 -m json.tool --indent 2 || true
}
observers() {  # NODE ADDRESS: the instance's observers as NODE reports them
  curl -sS "$(api "$1")/v1/arrays/web.lb.example.test/health" | python3 -c '
import json, sys
address = sys.argv[1]
for instance in json.load(sys.stdin)["instances"]:
    if instance["address"] == address:
        views = ", ".join("%s: %s" % (o.get("node"), o.get("health")) for o in instance.get("observers", []))
        print("%s is %s (observers: %s)" % (address, instance["health"], views or "none"))' "$2"
}

rotor=${ROTOR_BIN:-}
if [[ -z "$rotor" ]]; then
  say "Step 1: install what it needs (tests/deps.sh installs etcd-server too) and build rotor"
  tests/deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target rotor
  rotor=$PWD/build/release/rotor
fi

say "Step 2: a three-member etcd cluster on 127.0.0.1 (clients on 23791-23793)"
cluster="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$work/etcd$i" \
    --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
    --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
    --initial-cluster "$cluster" --initial-cluster-token rotor-example --initial-cluster-state new \
    >"$work/etcd$i.log" 2>&1 &
  pids[etcd$i]=$!
done
ETCDCTL_API=3 etcdctl --endpoints "$endpoints" --dial-timeout 10s endpoint health 2>&1 | sed 's/^/  /'

say "Step 3: three web servers on 127.0.0.11, .12 and .13 port 8080"
for address in 127.0.0.11 127.0.0.12 127.0.0.13; do start_web "$address"; done

say "Step 4: three rotor nodes sharing etcd; each probes from its own address"
for node in "${nodes[@]}"; do
  cat >"$work/$node.json" <<EOF
{
  "listen": ["127.0.0.1:${dns_port[$node]}"],
  "api": {"listen": "127.0.0.1:${api_port[$node]}"},
  "zones": [{"name": "lb.example.test",
             "name_servers": [{"name": "ns1.lb.example.test", "addresses": ["127.0.0.21"]},
                              {"name": "ns2.lb.example.test", "addresses": ["127.0.0.22"]},
                              {"name": "ns3.lb.example.test", "addresses": ["127.0.0.23"]}]}],
  "probes": {"source_address": "${source[$node]}"},
  "arrays": [{"name": "web.lb.example.test", "ttl": 30, "degraded_ttl": 5,
              "check": {"type": "http", "port": 8080, "path": "/", "interval": "500ms",
                        "timeout": "400ms", "rise": 2, "fall": 2, "quorum": "majority"}}],
  "cluster": {"node": "$node", "etcd": {"endpoints": ["${endpoints//,/\",\"}"], "lease_ttl": "3s"}}
}
EOF
  "$rotor" serve --config "$work/$node.json" --db "$work/$node.db" >"$work/$node.out" 2>"$work/$node.err" &
  pids[$node]=$!
done
for node in "${nodes[@]}"; do
  for _ in $(seq 100); do grep -q '^api' "$work/$node.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^api' "$work/$node.out" || { cat "$work/$node.err" >&2; exit 1; }
  echo "  $node: $(head -1 "$work/$node.out")"
done

say "Step 5: register the three web servers through ns1's API only"
for address in 127.0.0.11 127.0.0.12 127.0.0.13; do
  for _ in 1 2 3; do  # a 409 means another node wrote at the same moment: retry, as a client would
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      -d "{\"address\": \"$address\"}" "$(api ns1)/v1/arrays/web.lb.example.test/instances")
    [[ $code == 409 ]] || break
  done
  echo "  POST $address through ns1: $code"
done
echo "every node answers them, and every node reports the same SOA serial:"
wait_for_answers "127.0.0.11 127.0.0.12 127.0.0.13" ns1 ns2 ns3
show_all
for node in "${nodes[@]}"; do
  printf '  %s serial %s\n' "$node" "$(dig @127.0.0.1 -p "${dns_port[$node]}" +short lb.example.test SOA | awk '{print $3}')"
done

say "Step 6: web server .12 now refuses ns1's probes (from 127.0.0.21) only"
stop web-127.0.0.12
start_web 127.0.0.12 127.0.0.21
for _ in $(seq 50); do  # ns1 sees it fail twice (fall 2), then publishes its observation
  observers ns2 127.0.0.12 | grep -q "ns1: down" && break
  sleep 0.2
done
observers ns2 127.0.0.12
observers ns2 127.0.0.12 | grep -q "ns1: down" || { echo "ns1 never observed .12 down" >&2; exit 1; }
echo "one observer of three sees it down; the majority keeps it in every node's answers:"
wait_for_answers "127.0.0.11 127.0.0.12 127.0.0.13" ns1 ns2 ns3
show_all

say "Step 7: stop web server .13 for everyone: every node takes it out"
stop web-127.0.0.13
wait_for_answers "127.0.0.11 127.0.0.12" ns1 ns2 ns3
show_all
observers ns1 127.0.0.13

say "Step 8: kill ns3 (SIGKILL): ns1 and ns2 keep answering; its lease (3 s) expires"
stop ns3 KILL
for _ in $(seq 50); do  # the lease is 3 s: its observations go with it
  observers ns1 127.0.0.11 | grep -q "ns3:" || break
  sleep 0.2
done
observers ns1 127.0.0.11
observers ns1 127.0.0.11 | grep -q "ns3:" && { echo "ns3's observations outlived its lease" >&2; exit 1; }
wait_for_answers "127.0.0.11 127.0.0.12" ns1 ns2
show_all
call "$(api ns1)/v1/explain?name=web.lb.example.test&type=A&client=127.0.0.1"

say "Step 9: stop everything (rotor nodes, web servers, etcd members) by PID"
echo "done: every step showed what it said"
