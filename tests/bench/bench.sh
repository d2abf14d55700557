#!/usr/bin/env bash
# Throughput and CPU cost per query of rotor against NSD on the same zone, and
# of rotor's instance arrays against static records of the same shape. rotor
# serves, beside the zone, the array web.bench.test. (8 IPv4 and 8 IPv6
# instances, 5 of each up) from a config with its registry in a temp dir.
# Runs, each BENCH_SECONDS long: rotor and NSD on the mixed query file
# (static names), then rotor and NSD on static A/AAAA (pool.bench.test., 8 A and
# 8 AAAA), then rotor on array A/AAAA (web.bench.test.); the last two give
# the array/static ratio (goal: at most 1.2). Each server runs alone, pinned to core 0 (rotor --threads 1, NSD with one
# server process); dnsperf runs on core 1. CPU cost is the server's
# utime+stime from /proc (every process of its tree) divided by answered
# queries, so a load generator that cannot saturate the server still gives a
# fair per-query number.
#
# Usage: tests/bench/bench.sh
# Environment:
#   BENCH_SECONDS   dnsperf run time per run (default 10; five runs)
#   BENCH_CLIENTS   dnsperf clients (default 4)
#   ROTOR_BIN       rotor binary (default: build/release/rotor, built if missing)
#   SERVER_CPU / CLIENT_CPU   cores for the server and dnsperf (default 0 / 1)
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${BENCH_SECONDS:-10}
clients=${BENCH_CLIENTS:-4}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
rotor_bin=${ROTOR_BIN:-build/release/rotor}
nsd_bin=${NSD_BIN:-/usr/sbin/nsd}

for tool in dnsperf taskset dig "$nsd_bin"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done

if [[ -z ${ROTOR_BIN:-} ]]; then
  # Ninja makes this a no-op when the release build is current.
  cmake --preset release >/dev/null
  cmake --build --preset release -j 2 --target rotor >/dev/null
fi
[[ -x $rotor_bin ]] || { echo "bench: $rotor_bin is not executable" >&2; exit 1; }

work=$(mktemp -d /tmp/rotor-bench-XXXXXX)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    sleep 0.5
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- zone and query mix --------------------------------------------------
zone=$work/bench.test.zone
{
  echo '$ORIGIN bench.test.'
  echo '$TTL 3600'
  echo '@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300'
  echo '  IN NS ns1'
  echo '  IN MX 10 mail'
  echo 'ns1 IN A 192.0.2.1'
  echo 'mail IN A 192.0.2.25'
  for i in $(seq 1 8); do echo "pool IN A 192.0.2.$((100 + i))"; done
  for i in $(seq 1 8); do echo "pool IN AAAA 2001:db8::$((100 + i))"; done
  for i in $(seq 1 10); do echo "host$i IN A 198.51.100.$i"; done
  echo 'txt IN TXT "v=spf1 -all"'
  echo 'alias IN CNAME pool'
} > "$zone"

# 100 lines in the wanted proportions; dnsperf loops over the file.
queries=$work/queries.txt
{
  for i in $(seq 1 60); do echo "pool.bench.test A"; done
  for i in $(seq 1 15); do echo "pool.bench.test AAAA"; done
  for i in $(seq 1 8); do echo "host$i.bench.test A"; done
  echo "bench.test MX"
  echo "txt.bench.test TXT"
  for i in $(seq 1 10); do echo "missing$i.bench.test A"; done
  for i in $(seq 1 5); do echo "alias.bench.test A"; done
} | shuf --random-source=<(yes) > "$queries"

# The same shape of question, static records against an array.
static_queries=$work/static_queries.txt
array_queries=$work/array_queries.txt
printf 'pool.bench.test A\npool.bench.test AAAA\n' > "$static_queries"
printf 'web.bench.test A\nweb.bench.test AAAA\n' > "$array_queries"

# The array: 8 IPv4 and 8 IPv6 instances, the first 5 of each family up.
config=$work/rotor.json
{
  echo '{'
  echo "  \"db\": \"$work/rotor.db\", \"publish_interval\": \"0ms\","
  echo "  \"zones\": [\"$zone\"],"
  echo '  "arrays": [{"name": "web.bench.test.", "ttl": 30, "degraded_ttl": 10,'
  echo '              "policy": "round_robin", "instances": ['
  for i in $(seq 1 8); do
    health=up; [[ $i -gt 5 ]] && health=down
    echo "    {\"address\": \"192.0.2.$((200 + i))\", \"health\": \"$health\"},"
    sep=,; [[ $i -eq 8 ]] && sep=
    echo "    {\"address\": \"2001:db8::$((200 + i))\", \"health\": \"$health\"}$sep"
  done
  echo '  ]}]'
  echo '}'
} > "$config"

# --- measurement helpers -------------------------------------------------
# utime+stime in clock ticks of a process and all its descendants.
tree_ticks() {
  local pid=$1 total=0 ticks child
  if [[ -r /proc/$pid/stat ]]; then
    # Fields after the ")" of the command name: utime and stime are 12 and 13.
    ticks=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
    total=$((total + ticks))
  fi
  for child in $(pgrep -P "$pid" || true); do
    total=$((total + $(tree_ticks "$child")))
  done
  echo "$total"
}

wait_answering() {
  local port=$1
  for _ in $(seq 1 50); do
    [[ -n $(dig +time=1 +tries=1 +short @127.0.0.1 -p "$port" bench.test SOA 2>/dev/null) ]] && return 0
    sleep 0.1
  done
  echo "bench: server on port $port does not answer" >&2
  return 1
}

declare -A qps cpu_us
hz=$(getconf CLK_TCK)

# Runs dnsperf with query file $3 against the server whose root pid is $server_pid.
measure() {
  local name=$1 port=$2 file=$3 out before after completed rate
  wait_answering "$port"
  before=$(tree_ticks "$server_pid")
  out=$(taskset -c "$client_cpu" dnsperf -s 127.0.0.1 -p "$port" -d "$file" \
          -l "$seconds" -c "$clients" -T 1 -q 200 2>&1)
  after=$(tree_ticks "$server_pid")
  completed=$(awk '/Queries completed:/ {print $3}' <<<"$out")
  rate=$(awk '/Queries per second:/ {print $4}' <<<"$out")
  if [[ -z $completed || $completed == 0 ]]; then
    echo "bench: no queries answered by $name:" >&2
    echo "$out" >&2
    exit 1
  fi
  qps[$name]=$(printf '%.0f' "$rate")
  cpu_us[$name]=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$completed" \
                    'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  echo "$name: $(awk '/Queries (sent|completed|lost):/' <<<"$out" | tr -s ' ' | paste -sd' ')"
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# --- rotor ---------------------------------------------------------------
port=$(free_port)
taskset -c "$server_cpu" "$rotor_bin" serve --config "$config" --listen "127.0.0.1:$port" \
  --threads 1 --log-level warn >"$work/rotor.out" 2>"$work/rotor.err" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening ' "$work/rotor.out" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/rotor.err" >&2; exit 1; }
  sleep 0.1
done
# The array must answer 5 A and 5 AAAA before its cost means anything.
wait_answering "$port"
for type in A AAAA; do
  count=$(dig +short @127.0.0.1 -p "$port" web.bench.test "$type" | wc -l)
  [[ $count == 5 ]] || { echo "bench: web.bench.test $type has $count answers, not 5" >&2; exit 1; }
done
measure rotor "$port" "$queries"
measure rotor-static "$port" "$static_queries"
measure rotor-array "$port" "$array_queries"
stop_server

# --- NSD -----------------------------------------------------------------
port=$(free_port)
cat >"$work/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@$port
  username: ""
  chroot: ""
  pidfile: "$work/nsd.pid"
  zonesdir: "$work"
  database: ""
  zonelistfile: "$work/zone.list"
  xfrdfile: "$work/xfrd.state"
  xfrdir: "$work"
  server-count: 1
  rrl-ratelimit: 0
  round-robin: yes
  minimal-responses: yes
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: "$zone"
EOF
taskset -c "$server_cpu" "$nsd_bin" -d -c "$work/nsd.conf" >"$work/nsd.log" 2>&1 &
server_pid=$!
measure nsd "$port" "$queries"
measure nsd-static "$port" "$static_queries"
stop_server

# --- report --------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
echo
printf '%-14s %-24s %10s %18s %14s\n' run queries qps cpu_us_per_query ratio_vs_nsd
row() {  # run, queries, reference run for the ratio
  printf '%-14s %-24s %10s %18s %14s\n' "$1" "$2" "${qps[$1]}" "${cpu_us[$1]}" \
    "$(ratio "${cpu_us[$1]}" "${cpu_us[$3]}")"
}
row rotor "mix (static)" nsd
row nsd "mix (static)" nsd
row rotor-static "static A/AAAA (8+8)" nsd-static
row nsd-static "static A/AAAA (8+8)" nsd-static
row rotor-array "array A/AAAA (5 of 8 up)" nsd-static
echo
echo "array/static cpu per query (rotor): $(ratio "${cpu_us[rotor-array]}" "${cpu_us[rotor-static]}") (goal <= 1.2)"
